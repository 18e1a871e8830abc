//! Trivially safe elementwise fusion (docs/tiling.md, decision 7): an elementwise operation
//! whose result is used by exactly one operation, itself elementwise with a result of the
//! same shape, and is not returned, is computed inside that consumer's kernel (in its
//! `tile.map` region) instead of being materialised. Chains and trees of such operations
//! become one kernel, one pass over memory; their other operands are the kernel's inputs,
//! broadcast as for a single operation. A value used by a non-elementwise operation, by two
//! operations or returned is always materialised.

use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::{Func, GraphOp, Value};

/// The graph operations lowered as one elementwise kernel (`elementwise::single`).
pub(crate) fn is_elementwise(g: GraphOp) -> bool {
    use GraphOp as G;
    matches!(
        g,
        G::Cast
            | G::Neg
            | G::Abs
            | G::Exp
            | G::Log
            | G::Sqrt
            | G::Rsqrt
            | G::Recip
            | G::Tanh
            | G::Sigmoid
            | G::Relu
            | G::Gelu
            | G::GeluTanh
            | G::Silu
            | G::Erf
            | G::Add
            | G::Sub
            | G::Mul
            | G::Div
            | G::Max
            | G::Min
            | G::Pow
            | G::Lt
            | G::Le
            | G::Gt
            | G::Ge
            | G::Eq
            | G::Ne
            | G::Select
    )
}

/// The fusion decisions for one function body (operations by index).
#[derive(Debug, Default)]
pub(crate) struct Fusion {
    /// Operations computed inside a later operation's kernel.
    pub absorbed: BTreeSet<usize>,
    /// For each operation that absorbs others: the operations of its kernel in program
    /// order, itself last.
    pub groups: BTreeMap<usize, Vec<usize>>,
}

/// Decides the fusion groups of `func`'s body.
pub(crate) fn plan(func: &Func) -> Fusion {
    let ops = &func.body.ops;
    let mut users: BTreeMap<Value, BTreeSet<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        for v in &op.operands {
            users.entry(*v).or_default().insert(i);
        }
    }
    let elementwise = |i: usize| {
        let op = &ops[i];
        op.results.len() == 1 && op.op.as_graph().is_some_and(is_elementwise)
    };
    let shape = |v: Value| func.tensor_ty(v).map(|t| t.shape.clone());
    // The kernel each operation is computed in, decided from the last operation back (a
    // consumer comes after its producers).
    let mut root: Vec<usize> = (0..ops.len()).collect();
    for i in (0..ops.len()).rev() {
        if !elementwise(i) {
            continue;
        }
        let r = ops[i].results[0];
        let Some(us) = users.get(&r) else { continue };
        let [c] = us.iter().copied().collect::<Vec<_>>()[..] else {
            continue;
        };
        if c <= i || !elementwise(c) {
            continue;
        }
        let same = shape(r).is_some() && shape(r) == shape(ops[c].results[0]);
        if same {
            root[i] = root[c];
        }
    }
    let mut out = Fusion::default();
    for (i, r) in root.iter().enumerate() {
        if *r != i {
            out.absorbed.insert(i);
            out.groups.entry(*r).or_default().push(i);
        }
    }
    for (r, members) in out.groups.iter_mut() {
        members.push(*r);
    }
    out
}
