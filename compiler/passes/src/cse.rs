//! Common-subexpression elimination: a pure operation identical to an earlier one (same
//! operation, operands, attributes and result types) is replaced by it.

use std::collections::HashMap;
use tessera_dialects::dialect::Trait;
use tessera_dialects::{Func, Module, Op, Operation, Value};

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
///
/// One pass in program order: an operation's operands are first forwarded through the
/// replacements made so far, then it is looked up among the earlier kept operations with
/// the same operation and operands (hashed), and the earliest identical one replaces it.
pub fn run_func(func: &mut Func) -> usize {
    let ops = std::mem::take(&mut func.body.ops);
    let mut out: Vec<Operation> = Vec::with_capacity(ops.len());
    let mut seen: HashMap<(Op, Vec<Value>), Vec<usize>> = HashMap::new();
    let mut forward: HashMap<Value, Value> = HashMap::new();
    let mut replaced = 0;
    for mut op in ops {
        if !forward.is_empty() {
            forward_uses(std::slice::from_mut(&mut op), &forward);
        }
        let candidate =
            op.op.def().has_trait(Trait::Pure) && op.regions.is_empty() && !op.results.is_empty();
        if candidate {
            let bucket = seen.entry((op.op, op.operands.clone())).or_default();
            if let Some(&j) = bucket.iter().find(|&&j| same(func, &out[j], &op)) {
                for (keep, gone) in out[j].results.iter().zip(&op.results) {
                    forward.insert(*gone, *keep);
                }
                replaced += 1;
                continue;
            }
            bucket.push(out.len());
        }
        out.push(op);
    }
    func.body.ops = out;
    replaced
}

/// Rewrites the operands of `ops` (and of their regions) through `forward`.
fn forward_uses(ops: &mut [Operation], forward: &HashMap<Value, Value>) {
    for op in ops {
        for v in &mut op.operands {
            if let Some(f) = forward.get(v) {
                *v = *f;
            }
        }
        for r in &mut op.regions {
            forward_uses(&mut r.ops, forward);
        }
    }
}
