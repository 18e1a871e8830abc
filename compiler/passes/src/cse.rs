//! Common-subexpression elimination: a pure operation identical to an earlier one (same
//! operation, operands, attributes and result types) is replaced by it.

use crate::rewrite::replace_uses;
use tessera_dialects::dialect::Trait;
use tessera_dialects::{Func, Module, Operation};

/// Runs CSE on every function; returns how many operations were replaced.
pub fn run(module: &mut Module) -> usize {
    module.funcs.iter_mut().map(run_func).sum()
}

fn same(func: &Func, a: &Operation, b: &Operation) -> bool {
    a.op == b.op
        && a.operands == b.operands
        && a.attrs == b.attrs
        && a.regions.is_empty()
        && b.regions.is_empty()
        && a.results.len() == b.results.len()
        && a.results
            .iter()
            .zip(&b.results)
            .all(|(x, y)| func.ty(*x) == func.ty(*y))
}

/// Runs CSE on one function; returns how many operations were replaced.
pub fn run_func(func: &mut Func) -> usize {
    let mut replaced = 0;
    let mut i = 0;
    while i < func.body.ops.len() {
        let op = &func.body.ops[i];
        let candidate =
            op.op.def().has_trait(Trait::Pure) && op.regions.is_empty() && !op.results.is_empty();
        let earlier = if candidate {
            (0..i).find(|&j| same(func, &func.body.ops[j], op))
        } else {
            None
        };
        match earlier {
            Some(j) => {
                let pairs: Vec<_> = func.body.ops[j]
                    .results
                    .iter()
                    .copied()
                    .zip(func.body.ops[i].results.iter().copied())
                    .collect();
                func.body.ops.remove(i);
                for (keep, gone) in pairs {
                    replace_uses(&mut func.body.ops, gone, keep);
                }
                replaced += 1;
            }
            None => i += 1,
        }
    }
    replaced
}
