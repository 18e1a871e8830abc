//! Trivially safe elementwise fusion (docs/tiling.md, decision 7): an elementwise operation
//! whose result is used by exactly one operation, itself elementwise with a result of the
//! same shape, and is not returned, is computed inside that consumer's kernel (in its
//! `tile.map` region) instead of being materialised. Chains and trees of such operations
//! become one kernel, one pass over memory; their other operands are the kernel's inputs,
//! broadcast as for a single operation. A 0-d constant used by one elementwise operation
//! only is a `graph.constant` line of its region. A value used by a non-elementwise
//! operation, by two operations or returned is always materialised.

use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::{Func, GraphOp, SymExpr, Value};

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
    /// For each `layernorm`/`rmsnorm`/`softmax`/`log_softmax` over the last axis whose
    /// input is an elementwise group used by it alone (with its shape and dtype): the
    /// group's operations in program order, its root last. The row kernel computes the
    /// group in its first loop (a prologue, [`super::prologue`]), so the group's result is
    /// never a separate pass over memory.
    pub prologue: BTreeMap<usize, Vec<usize>>,
    /// For the last operation of a matmul kernel chosen by the e-graph optimiser
    /// ([`super::chosen`]): the `matmul` and the epilogue's operations in program order,
    /// the kernel's result last. The matmul kernel applies the epilogue to each
    /// accumulated tile before storing it.
    pub epilogue: BTreeMap<usize, (usize, Vec<usize>)>,
    /// For the final `matmul` of an attention kernel chosen by the e-graph optimiser
    /// ([`super::chosen`]): its q, k, v and scale ([`super::attention`]).
    pub attention: BTreeMap<usize, super::attention::Attention>,
}

/// How a value from outside a norm prologue or a matmul epilogue is seen by its kernel
/// (rows of `n`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Leaf {
    /// The kernel's shape: `[rows, n]`.
    Full,
    /// Ones then `n`: one row for every row, `[1, n]`.
    Row,
    /// The leading axes then 1: one value for each row (a per-row scale), `[rows, 1]`.
    Column,
    /// One element: `[1, 1]`.
    Scalar,
}

/// How `shape` broadcasts against the kernel shape `full`, if a row kernel or a matmul
/// epilogue can read it: whole, a row, a column (leading ones added to `full`'s rank, the
/// leading axes `full`'s, the last 1) or a scalar.
pub(crate) fn leaf(shape: &[SymExpr], full: &[SymExpr]) -> Option<Leaf> {
    let one = |d: &SymExpr| d.as_const() == Some(1);
    if shape == full {
        return Some(Leaf::Full);
    }
    if shape.iter().all(one) {
        return Some(Leaf::Scalar);
    }
    match shape.split_last() {
        Some((last, lead)) if Some(last) == full.last() && lead.iter().all(one) => {
            return Some(Leaf::Row)
        }
        _ => {}
    }
    let (r, rk) = (full.len(), shape.len());
    if r == 0 || rk > r || !shape.last().is_some_and(one) {
        return None;
    }
    // `shape` with ones added in front, against `full`'s leading axes.
    let lead_ok = (0..r - 1).all(|a| match (a + rk).checked_sub(r) {
        Some(b) => shape[b] == full[a],
        None => one(&full[a]),
    });
    lead_ok.then_some(Leaf::Column)
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
    // A 0-d constant used by one elementwise operation only is a line of its region.
    let constant = |i: usize| {
        let op = &ops[i];
        op.results.len() == 1
            && op.op.as_graph() == Some(GraphOp::Constant)
            && func.tensor_ty(op.results[0]).is_some_and(|t| t.rank() == 0)
    };
    // The kernel each operation is computed in, decided from the last operation back (a
    // consumer comes after its producers).
    let mut root: Vec<usize> = (0..ops.len()).collect();
    for i in (0..ops.len()).rev() {
        if !elementwise(i) && !constant(i) {
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
        let same = constant(i) || (shape(r).is_some() && shape(r) == shape(ops[c].results[0]));
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
    // Norm prologues.
    for (j, op) in ops.iter().enumerate() {
        let Some(g) = op.op.as_graph() else { continue };
        let row_kernel = matches!(
            g,
            GraphOp::LayerNorm | GraphOp::RmsNorm | GraphOp::Softmax | GraphOp::LogSoftmax
        );
        if !row_kernel || op.results.len() != 1 {
            continue;
        }
        let Some(ty) = func.tensor_ty(op.results[0]) else {
            continue;
        };
        let last = op.attrs.int("axis").is_some_and(|a| {
            let r = ty.rank() as i64;
            r >= 1 && (a == r - 1 || a == -1)
        });
        let Some(&v) = op.operands.first() else {
            continue;
        };
        let Some(p) = ops.iter().position(|o| o.results.contains(&v)) else {
            continue;
        };
        let used_once = users.get(&v).is_some_and(|u| u.len() == 1)
            && op.operands.iter().filter(|x| **x == v).count() == 1;
        let same = func.tensor_ty(v) == Some(ty);
        if !last || !used_once || !same || !elementwise(p) || root[p] != p {
            continue;
        }
        let members = out.groups.remove(&p).unwrap_or_else(|| vec![p]);
        let inside: Vec<Value> = members.iter().map(|m| ops[*m].results[0]).collect();
        let readable = members.iter().all(|m| {
            ops[*m].operands.iter().all(|x| {
                inside.contains(x)
                    || func
                        .tensor_ty(*x)
                        .is_some_and(|t| leaf(&t.shape, &ty.shape).is_some())
            })
        });
        if !readable {
            if members.len() > 1 {
                out.groups.insert(p, members);
            }
            continue;
        }
        out.absorbed.extend(members.iter().copied());
        out.prologue.insert(j, members);
    }
    out
}
