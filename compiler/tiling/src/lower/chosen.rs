//! Kernel boundaries chosen by the e-graph optimiser: each `graph.fused` operation is one
//! kernel. Its region is spliced into the function body ([`flatten`]), so the rewrites
//! before lowering and the per-family lowerings see plain graph operations, and its
//! members become a [`Fusion`] group of the kind it names ([`fusion`]): an elementwise
//! group, a row kernel's or a reduction's prologue, or a matmul's epilogue. A function without `graph.fused`
//! keeps the trivially safe fusion of [`super::fuse::plan`].

use super::fuse::Fusion;
use std::collections::BTreeMap;
use tessera_dialects::{DType, Func, GraphOp, Op, Operation, Value};

/// One fused kernel after flattening: its kind and the results of its operations, in
/// program order, the kernel's result last.
#[derive(Clone, Debug)]
pub(crate) struct Chosen {
    pub kind: String,
    pub members: Vec<Value>,
}

/// Splices every `graph.fused` region into `func`'s body; returns the flat function and
/// the kernels (`None` if the function has no `graph.fused`).
pub(crate) fn flatten(func: &Func) -> (Func, Option<Vec<Chosen>>) {
    if !func
        .body
        .ops
        .iter()
        .any(|o| o.op == Op::Graph(GraphOp::Fused))
    {
        return (func.clone(), None);
    }
    let mut f = func.clone();
    let ops = std::mem::take(&mut f.body.ops);
    let mut forward: BTreeMap<Value, Value> = BTreeMap::new();
    let mut out: Vec<Operation> = Vec::with_capacity(ops.len());
    let mut chosen = Vec::new();
    let fwd = |forward: &BTreeMap<Value, Value>, v: Value| *forward.get(&v).unwrap_or(&v);
    for mut op in ops {
        for v in op.operands.iter_mut() {
            *v = fwd(&forward, *v);
        }
        if op.op != Op::Graph(GraphOp::Fused) {
            out.push(op);
            continue;
        }
        let Some(region) = op.regions.pop() else {
            out.push(op);
            continue;
        };
        for (a, v) in region.args.iter().zip(&op.operands) {
            forward.insert(*a, *v);
        }
        let mut members = Vec::new();
        for mut inner in region.ops {
            for v in inner.operands.iter_mut() {
                *v = fwd(&forward, *v);
            }
            // The optimiser writes the kernel's location on `graph.fused` only: its
            // operations take it, so errors about them (and their buffers) are located.
            if inner.loc.0.is_none() {
                inner.loc = op.loc;
            }
            if inner.op == Op::Graph(GraphOp::Yield) {
                if let (Some(r), Some(y)) = (op.results.first(), inner.operands.first()) {
                    forward.insert(*r, *y);
                }
                continue;
            }
            members.extend(inner.results.iter().copied());
            out.push(inner);
        }
        chosen.push(Chosen {
            kind: op.attrs.str("kind").unwrap_or("").to_string(),
            members,
        });
    }
    f.body.ops = out;
    (f, Some(chosen))
}

/// The fusion groups of the flat (and rewritten) `func` for the chosen kernels. A kernel
/// whose operations a rewrite replaced, or whose form the lowering does not take, is
/// left unfused (each operation its own kernel): never a wrong kernel.
pub(crate) fn fusion(func: &Func, chosen: &[Chosen]) -> Fusion {
    let ops = &func.body.ops;
    let index: BTreeMap<Value, usize> = ops
        .iter()
        .enumerate()
        .flat_map(|(i, o)| o.results.iter().map(move |r| (*r, i)))
        .collect();
    let mut out = Fusion::default();
    for c in chosen {
        let Some(idx) = c
            .members
            .iter()
            .map(|v| index.get(v).copied())
            .collect::<Option<Vec<usize>>>()
        else {
            continue;
        };
        let Some((&root, rest)) = idx.split_last() else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        let op_of = |i: usize| ops[i].op.as_graph();
        match c.kind.as_str() {
            "elementwise" => {
                out.absorbed.extend(rest.iter().copied());
                out.groups.insert(root, idx.clone());
            }
            // A reduction's prologue (`reduce`) is chosen like a row kernel's.
            "row" | "reduce" => {
                let x = ops[root].operands.first().and_then(|v| index.get(v));
                if x != rest.last() {
                    continue;
                }
                out.absorbed.extend(rest.iter().copied());
                out.prologue.insert(root, rest.to_vec());
            }
            "matmul" => {
                let mm: Vec<usize> = idx
                    .iter()
                    .copied()
                    .filter(|i| op_of(*i) == Some(GraphOp::MatMul))
                    .collect();
                let [mm] = mm[..] else { continue };
                out.absorbed.extend(rest.iter().copied());
                out.epilogue.insert(
                    root,
                    (mm, idx.iter().copied().filter(|i| *i != mm).collect()),
                );
            }
            "conv" => {
                let cv: Vec<usize> = idx
                    .iter()
                    .copied()
                    .filter(|i| op_of(*i) == Some(GraphOp::Conv2d))
                    .collect();
                let [cv] = cv[..] else { continue };
                // The implicit GEMM's form only: f32, one group.
                let f32s = ops[cv]
                    .operands
                    .iter()
                    .all(|v| func.tensor_ty(*v).is_some_and(|t| t.dtype == DType::F32));
                if !f32s || ops[cv].attrs.int("groups").unwrap_or(1) != 1 {
                    continue;
                }
                out.absorbed.extend(rest.iter().copied());
                out.epilogue.insert(
                    root,
                    (cv, idx.iter().copied().filter(|i| *i != cv).collect()),
                );
            }
            "attention" => {
                let Some(at) = attention(func, &idx) else {
                    continue;
                };
                out.absorbed.extend(rest.iter().copied());
                out.attention.insert(root, at);
            }
            _ => {}
        }
    }
    out
}

/// The q, k, v, scale and mask of an attention kernel whose operations are `idx` (program
/// order, the final `matmul` last), when the attention lowering takes its form:
/// `matmul(softmax(s [* c] [+ m]), v)` with `s` an `einsum` of q and k or `matmul(q,
/// transpose(k))`, f32 operands of one rank with constant head sizes, and `m` an f32 mask
/// read from outside the kernel that broadcasts to the scores.
fn attention(func: &Func, idx: &[usize]) -> Option<super::attention::Attention> {
    let ops = &func.body.ops;
    let by_result = |v: Value| {
        idx.iter()
            .copied()
            .find(|i| ops[*i].results.first() == Some(&v))
    };
    let root = &ops[*idx.last()?];
    if root.op.as_graph() != Some(GraphOp::MatMul) {
        return None;
    }
    let sm = &ops[by_result(root.operands[0])?];
    if sm.op.as_graph() != Some(GraphOp::Softmax) {
        return None;
    }
    let v = root.operands[1];
    let mut x = &ops[by_result(sm.operands[0])?];
    // An additive mask: the operand of an `add` that the kernel reads from outside; a bool
    // mask: the condition of a `select` of the scores and a literal.
    let mut mask = None;
    let mut fill = None;
    if x.op.as_graph() == Some(GraphOp::Select) {
        let inner: Vec<Option<usize>> = x.operands.iter().map(|o| by_result(*o)).collect();
        let [None, Some(y), Some(f)] = inner[..] else {
            return None;
        };
        if ops[f].op.as_graph() != Some(GraphOp::Constant) {
            return None;
        }
        mask = Some(x.operands[0]);
        fill = Some(tessera_dialects::print::attr_dict(&ops[f].attrs));
        x = &ops[y];
    } else if x.op.as_graph() == Some(GraphOp::Add) {
        let inner: Vec<Option<usize>> = x.operands.iter().map(|o| by_result(*o)).collect();
        let (y, m) = match inner[..] {
            [Some(y), None] => (y, x.operands[1]),
            [None, Some(y)] => (y, x.operands[0]),
            _ => return None,
        };
        mask = Some(m);
        x = &ops[y];
    }
    let mut scale = None;
    if x.op.as_graph() == Some(GraphOp::Mul) {
        let (mut s, mut c) = (None, None);
        for o in &x.operands {
            match by_result(*o).map(|i| &ops[i]) {
                Some(m) if m.op.as_graph() == Some(GraphOp::Constant) => c = Some(m),
                Some(m) => s = Some(m),
                None => return None,
            }
        }
        scale = Some(tessera_dialects::print::attr_dict(&c?.attrs));
        x = s?;
    }
    let (q, k) = match x.op.as_graph()? {
        GraphOp::Einsum => (x.operands[0], x.operands[1]),
        GraphOp::MatMul => {
            let t = &ops[by_result(x.operands[1])?];
            if t.op.as_graph() != Some(GraphOp::Transpose) {
                return None;
            }
            (x.operands[0], t.operands[0])
        }
        _ => return None,
    };
    let tys: Vec<_> = [q, k, v, root.results[0]]
        .iter()
        .map(|v| func.tensor_ty(*v))
        .collect::<Option<_>>()?;
    let r = tys[3].rank();
    let ok = r >= 3
        && tys.iter().all(|t| t.rank() == r && t.dtype == DType::F32)
        && tys[0].shape[r - 1]
            .as_const()
            .is_some_and(|d| (1..=256).contains(&d))
        && tys[2].shape[r - 1]
            .as_const()
            .is_some_and(|d| (1..=256).contains(&d));
    let mask_ok = mask.is_none_or(|m| {
        func.tensor_ty(m).is_some_and(|tm| {
            let mut scores = tys[3].shape[..r - 1].to_vec();
            scores.push(tys[1].shape[r - 2].clone());
            let dtype = if fill.is_some() {
                DType::Bool
            } else {
                DType::F32
            };
            tm.dtype == dtype
                && tm.rank() <= r
                && tm
                    .shape
                    .iter()
                    .enumerate()
                    .all(|(i, d)| *d == scores[r - tm.rank() + i] || d.as_const() == Some(1))
        })
    });
    (ok && mask_ok).then_some(super::attention::Attention {
        q,
        k,
        v,
        scale,
        mask,
        fill,
    })
}
