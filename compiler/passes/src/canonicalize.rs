//! Canonicalisation: local simplifications applied to a fixpoint. Each pattern is named
//! data in [`PATTERNS`], with the identity it relies on.

use crate::rewrite::replace_uses;
use tessera_dialects::{
    Attr, Attrs, DType, Func, GraphOp, Module, Op, Operation, TensorType, Value,
};

/// What a pattern does to the operation it matched.
pub enum Rewrite {
    /// Every use of the op's (single) result becomes this value; the op dies (DCE removes it).
    Forward(Value),
    /// The op is replaced in place by another computing the same result.
    Replace(Operation),
}

/// A named local simplification.
pub struct Pattern {
    pub name: &'static str,
    /// The identity it relies on.
    pub identity: &'static str,
    pub apply: fn(&Cx, &Operation) -> Option<Rewrite>,
}

/// What a pattern sees: the function (`Cx` dereferences to it) and, for each value, the
/// index of the body operation defining it (so finding a definition is not a scan).
pub struct Cx<'f> {
    func: &'f Func,
    defs: &'f [Option<usize>],
}

impl std::ops::Deref for Cx<'_> {
    type Target = Func;
    fn deref(&self) -> &Func {
        self.func
    }
}

/// For each value of `func`, the first body operation that defines it.
fn definitions(func: &Func) -> Vec<Option<usize>> {
    let mut defs = vec![None; func.values.len()];
    for (i, op) in func.body.ops.iter().enumerate() {
        for r in &op.results {
            if let Some(d) = defs.get_mut(r.index()) {
                d.get_or_insert(i);
            }
        }
    }
    defs
}

/// The patterns, in the order they are tried.
pub const PATTERNS: &[Pattern] = &[
    Pattern {
        name: "cast-same-dtype",
        identity: "x as T == x when x: T",
        apply: cast_same,
    },
    Pattern {
        name: "reshape-same-shape",
        identity: "reshape(x, shape(x)) == x",
        apply: reshape_same,
    },
    Pattern {
        name: "reshape-reshape",
        identity: "reshape(reshape(x, s1), s2) == reshape(x, s2)",
        apply: reshape_reshape,
    },
    Pattern {
        name: "broadcast-same-shape",
        identity: "broadcast_to(x, shape(x)) == x",
        apply: broadcast_same,
    },
    Pattern {
        name: "transpose-identity",
        identity: "transpose(x, [0, 1, ..]) == x",
        apply: transpose_identity,
    },
    Pattern {
        name: "transpose-transpose",
        identity: "transpose(transpose(x, p), q) == transpose(x, p∘q)",
        apply: transpose_transpose,
    },
    Pattern {
        name: "slice-full",
        identity: "x[0:d0, 0:d1, ..] == x",
        apply: slice_full,
    },
    Pattern {
        name: "reduce-no-axes",
        identity: "sum|mean|max|min(x, axis: []) == x (a reduction over no axis)",
        apply: reduce_no_axes,
    },
    Pattern {
        name: "neg-neg",
        identity: "-(-x) == x",
        apply: neg_neg,
    },
    Pattern {
        name: "mul-one",
        identity: "x * 1 == x (exact in IEEE arithmetic, NaN included)",
        apply: mul_one,
    },
    Pattern {
        name: "div-one",
        identity: "x / 1 == x",
        apply: div_one,
    },
    Pattern {
        name: "fold-scalar-arith",
        identity: "c1 op c2 == c3, computed in the dtype's own arithmetic (f32 or wrapping i32)",
        apply: fold_scalar,
    },
];

/// Applies the patterns to a fixpoint; returns how often each fired (by name, in table order).
pub fn run(module: &mut Module) -> Vec<(&'static str, usize)> {
    let mut stats: Vec<(&'static str, usize)> = PATTERNS.iter().map(|p| (p.name, 0)).collect();
    for func in &mut module.funcs {
        // Each rewrite strictly shrinks the live graph or replaces an op by a simpler one,
        // so this terminates; the bound is a guard against a pattern bug.
        for _round in 0..1000 {
            let mut changed = false;
            // Forwarding and in-place replacement keep every operation where it is.
            let mut defs = definitions(func);
            for i in 0..func.body.ops.len() {
                for (k, p) in PATTERNS.iter().enumerate() {
                    let op = &func.body.ops[i];
                    let cx = Cx { func, defs: &defs };
                    let Some(rw) = (p.apply)(&cx, op) else {
                        continue;
                    };
                    match rw {
                        Rewrite::Forward(v) => {
                            let r = op.results[0];
                            if r == v {
                                continue;
                            }
                            replace_uses(&mut func.body.ops, r, v);
                            // The op stays, now unused, for DCE; forward only once.
                            if !func.body.ops.iter().any(|o| o.operands.contains(&r)) {
                                stats[k].1 += 1;
                                changed = true;
                            }
                        }
                        Rewrite::Replace(new) => {
                            if &new != op {
                                let moved = new.results != op.results;
                                func.body.ops[i] = new;
                                if moved {
                                    defs = definitions(func);
                                }
                                stats[k].1 += 1;
                                changed = true;
                            }
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }
    crate::dce::run(module);
    stats
}

fn graph(op: &Operation) -> Option<GraphOp> {
    op.op.as_graph()
}

fn result_ty<'f>(f: &'f Func, op: &Operation) -> Option<&'f TensorType> {
    f.tensor_ty(*op.results.first()?)
}

fn operand_ty<'f>(f: &'f Func, op: &Operation, i: usize) -> Option<&'f TensorType> {
    f.tensor_ty(*op.operands.get(i)?)
}

/// The operation defining `v`, if it is an operation result of the body.
fn def_of<'f>(f: &Cx<'f>, v: Value) -> Option<&'f Operation> {
    let i = (*f.defs.get(v.index())?)?;
    f.func.body.ops.get(i)
}

/// Forwards the first operand when the result has exactly its type.
fn forward_if_same_type(f: &Cx, op: &Operation) -> Option<Rewrite> {
    let x = *op.operands.first()?;
    (result_ty(f, op)? == f.tensor_ty(x)?).then_some(Rewrite::Forward(x))
}

fn cast_same(f: &Cx, op: &Operation) -> Option<Rewrite> {
    (graph(op)? == GraphOp::Cast)
        .then(|| forward_if_same_type(f, op))
        .flatten()
}

fn reshape_same(f: &Cx, op: &Operation) -> Option<Rewrite> {
    (graph(op)? == GraphOp::Reshape)
        .then(|| forward_if_same_type(f, op))
        .flatten()
}

fn broadcast_same(f: &Cx, op: &Operation) -> Option<Rewrite> {
    (graph(op)? == GraphOp::BroadcastTo)
        .then(|| forward_if_same_type(f, op))
        .flatten()
}

fn slice_full(f: &Cx, op: &Operation) -> Option<Rewrite> {
    (graph(op)? == GraphOp::Slice)
        .then(|| forward_if_same_type(f, op))
        .flatten()
}

fn reduce_no_axes(f: &Cx, op: &Operation) -> Option<Rewrite> {
    let reduction = matches!(
        graph(op)?,
        GraphOp::ReduceSum | GraphOp::ReduceMean | GraphOp::ReduceMax | GraphOp::ReduceMin
    );
    let no_axes = matches!(op.attrs.get("axes"), Some(Attr::Ints(a)) if a.is_empty());
    (reduction && no_axes)
        .then(|| forward_if_same_type(f, op))
        .flatten()
}

fn reshape_reshape(f: &Cx, op: &Operation) -> Option<Rewrite> {
    if graph(op)? != GraphOp::Reshape {
        return None;
    }
    let inner = def_of(f, *op.operands.first()?)?;
    if graph(inner)? != GraphOp::Reshape {
        return None;
    }
    let mut new = op.clone();
    new.operands = vec![*inner.operands.first()?];
    Some(Rewrite::Replace(new))
}

fn transpose_identity(_f: &Cx, op: &Operation) -> Option<Rewrite> {
    if graph(op)? != GraphOp::Transpose {
        return None;
    }
    let perm = op.attrs.ints("perm")?;
    perm.iter()
        .enumerate()
        .all(|(i, p)| *p == i as i64)
        .then(|| Rewrite::Forward(op.operands[0]))
}

fn transpose_transpose(f: &Cx, op: &Operation) -> Option<Rewrite> {
    if graph(op)? != GraphOp::Transpose {
        return None;
    }
    let inner = def_of(f, *op.operands.first()?)?;
    if graph(inner)? != GraphOp::Transpose {
        return None;
    }
    let outer_p = op.attrs.ints("perm")?;
    let inner_p = inner.attrs.ints("perm")?;
    // result axis i = inner axis outer_p[i] = x axis inner_p[outer_p[i]]
    let composed: Option<Vec<i64>> = outer_p
        .iter()
        .map(|&o| {
            usize::try_from(o)
                .ok()
                .and_then(|o| inner_p.get(o).copied())
        })
        .collect();
    let mut new = op.clone();
    new.operands = vec![*inner.operands.first()?];
    new.attrs = Attrs::new().with("perm", Attr::Ints(composed?));
    Some(Rewrite::Replace(new))
}

fn neg_neg(f: &Cx, op: &Operation) -> Option<Rewrite> {
    if graph(op)? != GraphOp::Neg {
        return None;
    }
    let inner = def_of(f, *op.operands.first()?)?;
    if graph(inner)? != GraphOp::Neg {
        return None;
    }
    let x = *inner.operands.first()?;
    (f.tensor_ty(x)? == result_ty(f, op)?).then_some(Rewrite::Forward(x))
}

/// The scalar value of a `graph.constant`.
fn constant_value(f: &Cx, v: Value) -> Option<(DType, Attr)> {
    let d = def_of(f, v)?;
    if graph(d)? != GraphOp::Constant {
        return None;
    }
    Some((d.attrs.dtype("dtype")?, d.attrs.get("value")?.clone()))
}

fn is_one(f: &Cx, v: Value) -> bool {
    match constant_value(f, v) {
        Some((_, Attr::Float(x))) => x == 1.0,
        Some((_, Attr::Int(x))) => x == 1,
        _ => false,
    }
}

fn mul_one(f: &Cx, op: &Operation) -> Option<Rewrite> {
    if graph(op)? != GraphOp::Mul {
        return None;
    }
    let out = result_ty(f, op)?;
    for (x, c) in [(0, 1), (1, 0)] {
        if is_one(f, op.operands[c]) && operand_ty(f, op, x)? == out {
            return Some(Rewrite::Forward(op.operands[x]));
        }
    }
    None
}

fn div_one(f: &Cx, op: &Operation) -> Option<Rewrite> {
    if graph(op)? != GraphOp::Div {
        return None;
    }
    (is_one(f, *op.operands.get(1)?) && operand_ty(f, op, 0)? == result_ty(f, op)?)
        .then(|| Rewrite::Forward(op.operands[0]))
}

/// Folds `c1 op c2` on scalar f32 or i32 constants, exactly as the interpreter computes it.
fn fold_scalar(f: &Cx, op: &Operation) -> Option<Rewrite> {
    let g = graph(op)?;
    if !matches!(g, GraphOp::Add | GraphOp::Sub | GraphOp::Mul | GraphOp::Div)
        || op.operands.len() != 2
    {
        return None;
    }
    let (da, a) = constant_value(f, op.operands[0])?;
    let (db, b) = constant_value(f, op.operands[1])?;
    let out = result_ty(f, op)?;
    if da != db || out.rank() != 0 {
        return None;
    }
    let value = match (da, a, b) {
        (DType::F32, Attr::Float(a), Attr::Float(b)) => {
            let (a, b) = (a as f32, b as f32);
            let r = match g {
                GraphOp::Add => a + b,
                GraphOp::Sub => a - b,
                GraphOp::Mul => a * b,
                _ => a / b,
            };
            Attr::Float(f64::from(r))
        }
        (DType::I32, Attr::Int(a), Attr::Int(b)) => {
            let (a, b) = (i32::try_from(a).ok()?, i32::try_from(b).ok()?);
            let r = match g {
                GraphOp::Add => a.wrapping_add(b),
                GraphOp::Sub => a.wrapping_sub(b),
                GraphOp::Mul => a.wrapping_mul(b),
                _ if b == 0 => 0,
                _ => a.wrapping_div_euclid(b) - i32::from(b < 0 && a.wrapping_rem_euclid(b) != 0),
            };
            Attr::Int(i64::from(r))
        }
        _ => return None,
    };
    let mut new = Operation::new(
        Op::Graph(GraphOp::Constant),
        Vec::new(),
        op.results.clone(),
        Attrs::new()
            .with("value", value)
            .with("dtype", Attr::DType(da)),
    );
    new.loc = op.loc;
    Some(Rewrite::Replace(new))
}
