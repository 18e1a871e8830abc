//! Dead-code elimination: removes pure operations whose results are never used.

use crate::rewrite::use_counts;
use tessera_dialects::dialect::Trait;
use tessera_dialects::{Module, Operation};

/// Removes dead pure operations in every function; returns how many were removed.
///
/// One backward pass per function: uses follow definitions, so when an operation is
/// reached every user of its results has been seen, and removing it releases its operands
/// (the fixpoint of "remove the unused", in linear time).
pub fn run(module: &mut Module) -> usize {
    let mut removed = 0;
    for func in &mut module.funcs {
        let mut counts = use_counts(func);
        let mut dead = vec![false; func.body.ops.len()];
        for (i, op) in func.body.ops.iter().enumerate().rev() {
            let def = op.op.def();
            if def.has_trait(Trait::Pure)
                && !def.has_trait(Trait::Terminator)
                && op
                    .results
                    .iter()
                    .all(|r| counts.get(r.index()).copied().unwrap_or(0) == 0)
            {
                dead[i] = true;
                release(std::slice::from_ref(op), &mut counts);
            }
        }
        let mut i = 0;
        func.body.ops.retain(|_| {
            i += 1;
            !dead[i - 1]
        });
        removed += dead.iter().filter(|d| **d).count();
    }
    removed
}

/// Takes the uses of `ops` (and of their regions) off `counts`.
fn release(ops: &[Operation], counts: &mut [usize]) {
    for op in ops {
        for v in &op.operands {
            if let Some(c) = counts.get_mut(v.index()) {
                *c = c.saturating_sub(1);
            }
        }
        for r in &op.regions {
            release(&r.ops, counts);
        }
    }
}
