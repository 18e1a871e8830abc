//! Dead-code elimination: removes pure operations whose results are never used.

use crate::rewrite::use_counts;
use tessera_dialects::dialect::Trait;
use tessera_dialects::Module;

/// Removes dead pure operations in every function; returns how many were removed.
pub fn run(module: &mut Module) -> usize {
    let mut removed = 0;
    for func in &mut module.funcs {
        loop {
            let counts = use_counts(func);
            let before = func.body.ops.len();
            func.body.ops.retain(|op| {
                let def = op.op.def();
                let dead = def.has_trait(Trait::Pure)
                    && !def.has_trait(Trait::Terminator)
                    && op
                        .results
                        .iter()
                        .all(|r| counts.get(r.index()).copied().unwrap_or(0) == 0);
                !dead
            });
            let n = before - func.body.ops.len();
            removed += n;
            if n == 0 {
                break;
            }
        }
    }
    removed
}
