//! Small mutation helpers shared by the passes: use replacement and use counting.

use tessera_dialects::{Func, Operation, Value};

/// Replaces every use of `from` by `to` in `ops` and nested regions.
pub fn replace_uses(ops: &mut [Operation], from: Value, to: Value) {
    for op in ops {
        for v in &mut op.operands {
            if *v == from {
                *v = to;
            }
        }
        for r in &mut op.regions {
            replace_uses(&mut r.ops, from, to);
        }
    }
}

/// How many times each value of `func` is used as an operand.
pub fn use_counts(func: &Func) -> Vec<usize> {
    fn walk(ops: &[Operation], counts: &mut [usize]) {
        for op in ops {
            for v in &op.operands {
                if let Some(c) = counts.get_mut(v.index()) {
                    *c += 1;
                }
            }
            for r in &op.regions {
                walk(&r.ops, counts);
            }
        }
    }
    let mut counts = vec![0; func.values.len()];
    walk(&func.body.ops, &mut counts);
    counts
}
