//! Before lowering: every `f32` `einsum` that is not one matmul-form contraction (which
//! `lower/contract.rs` lowers directly) becomes a graph of `reduce_sum`, `transpose`,
//! `reshape` and (batched) `matmul`, each lowered by its own kernel. A graph-to-graph
//! rewrite on a copy of the function, like [`crate::axes`].
//!
//! 1. A label in one operand only and not in the output is summed first (`reduce_sum`).
//! 2. The operands are contracted left to right. A step contracts the running result
//!    with the next operand: its labels are batch labels (in both, needed later), row
//!    labels (only in the left), column labels (only in the right) and contracted labels
//!    (in both, needed neither by a later operand nor by the output). Each side is
//!    transposed to `[batch.., rows.., contracted..]` / `[batch.., contracted.., cols..]`
//!    and reshaped to one row, one contracted and one column axis (an empty group is an
//!    axis of size 1: an outer product is a matmul with K = 1, a matrix-vector product one
//!    with N = 1), multiplied, and reshaped back to `[batch.., rows.., cols..]`.
//! 3. The result is transposed to the output's label order.
//!
//! Two `i8` operands with no label summed within one are rewritten the same way: the one
//! step is an `i8 x i8 -> i32` matmul, exact (the int8 einsum of `--precision int8`).
//! Other einsums whose operands share one dtype are widened first (DSL.md "Numerics"):
//! narrow float operands (`bf16`, `f16`, `f8*`) are converted exactly to `f32`, the
//! steps run in `f32` and the result is rounded once to the operands' dtype; `i8` and
//! `i32` operands are converted to `i32` and the steps run in `i32`, whose wrapping
//! arithmetic is a ring, so every order of sums and products gives the interpreter's
//! result exactly. Left unchanged (and refused by the lowering with a clear error):
//! repeated labels in one operand (diagonals), `...`, and operands of mixed dtypes.

use crate::rewrite::{rewrite_ops, Builder};
use tessera_dialects::{Attr, Attrs, DType, Func, GraphOp, Op, Operation, SymExpr, Value};

/// The rewritten function; other operations are unchanged.
pub fn decompose_einsums(func: &Func) -> Result<Func, String> {
    rewrite_ops(func, rewrite)
}

/// `(operand terms, output term)` of a spec without `...` and repeated labels in a term.
pub(crate) fn parse_spec(spec: &str) -> Option<(Vec<Vec<char>>, Vec<char>)> {
    let spec = spec.replace(' ', "");
    let (lhs, out) = spec.split_once("->")?;
    let terms: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
    let out: Vec<char> = out.chars().collect();
    let ok = |t: &[char]| {
        t.iter().all(|c| c.is_ascii_alphabetic())
            && t.iter().enumerate().all(|(i, c)| !t[..i].contains(c))
    };
    (terms.iter().all(|t| ok(t)) && ok(&out)).then_some((terms, out))
}

/// Whether `lower/contract.rs` lowers the spec directly: two operands, one contracted
/// label, every other label in the output, and a label of its own per operand.
fn direct(terms: &[Vec<char>], out: &[char]) -> bool {
    let [a, b] = terms else { return false };
    let contracted = a
        .iter()
        .filter(|l| b.contains(l) && !out.contains(l))
        .count();
    let all_kept = a
        .iter()
        .chain(b)
        .all(|l| out.contains(l) || (a.contains(l) && b.contains(l)));
    let own = |x: &[char], y: &[char]| out.iter().any(|l| x.contains(l) && !y.contains(l));
    contracted == 1 && all_kept && own(a, b) && own(b, a)
}

/// Emits graph operations with inferred result types (shared with [`crate::groups`]).
impl Builder<'_> {
    /// `x` with its labels in the order `to` (a transpose unless already so).
    fn arrange(&mut self, x: Value, from: &[char], to: &[char]) -> Result<Value, String> {
        let perm: Vec<i64> = to
            .iter()
            .map(|l| from.iter().position(|m| m == l).map(|p| p as i64))
            .collect::<Option<_>>()
            .ok_or("internal error: a label is missing")?;
        if perm.iter().enumerate().all(|(i, p)| i as i64 == *p) {
            return Ok(x);
        }
        self.emit(
            GraphOp::Transpose,
            vec![x],
            Attrs::new().with("perm", Attr::Ints(perm)),
        )
    }

    /// `x as d`.
    fn convert(&mut self, x: Value, d: DType) -> Result<Value, String> {
        self.emit(
            GraphOp::Cast,
            vec![x],
            Attrs::new().with("dtype", Attr::DType(d)),
        )
    }

    /// Sums the labels of `x` not in `keep`.
    fn sum_out(
        &mut self,
        x: Value,
        labels: &mut Vec<char>,
        keep: &dyn Fn(char) -> bool,
    ) -> Result<Value, String> {
        let axes: Vec<i64> = (0..labels.len())
            .filter(|&i| !keep(labels[i]))
            .map(|i| i as i64)
            .collect();
        if axes.is_empty() {
            return Ok(x);
        }
        labels.retain(|l| keep(*l));
        self.emit(
            GraphOp::ReduceSum,
            vec![x],
            Attrs::new()
                .with("axes", Attr::Ints(axes))
                .with("keepdims", Attr::Bool(false)),
        )
    }
}

fn rewrite(b: &mut Builder<'_>, op: &Operation) -> Result<Option<Value>, String> {
    if op.op != Op::Graph(GraphOp::Einsum) || op.results.len() != 1 {
        return Ok(None);
    }
    let Some((terms, out)) = op.attrs.str("spec").and_then(parse_spec) else {
        return Ok(None);
    };
    if terms.len() != op.operands.len() || direct(&terms, &out) {
        return Ok(None);
    }
    let mut tys = Vec::new();
    for (v, t) in op.operands.iter().zip(&terms) {
        let ty = b.ty(*v)?;
        if ty.rank() != t.len() {
            return Ok(None);
        }
        tys.push(ty);
    }
    // `f32`, or two `i8` operands with no label summed within one (one exact `i8 x i8 ->
    // i32` matmul, the int8 einsum of `--precision int8`).
    let all = |d: DType| tys.iter().all(|t| t.dtype == d);
    let int8 = all(DType::I8)
        && terms.len() == 2
        && terms
            .iter()
            .flatten()
            .all(|l| out.contains(l) || terms.iter().filter(|t| t.contains(l)).count() == 2);
    let d0 = tys[0].dtype;
    let wide = if all(DType::F32) || int8 {
        None
    } else if all(d0) && d0.is_float() {
        Some(DType::F32)
    } else if all(d0) && matches!(d0, DType::I8 | DType::I32) {
        Some(DType::I32)
    } else {
        return Ok(None);
    };
    let mut operands = op.operands.clone();
    if let Some(w) = wide {
        for v in operands.iter_mut() {
            if b.ty(*v)?.dtype != w {
                *v = b.convert(*v, w)?;
            }
        }
    }
    let size = |l: char| -> SymExpr {
        terms
            .iter()
            .zip(&tys)
            .find_map(|(t, ty)| t.iter().position(|m| *m == l).map(|p| ty.shape[p].clone()))
            .unwrap_or_else(|| SymExpr::lit(1))
    };
    if out.iter().any(|l| !terms.iter().any(|t| t.contains(l))) {
        return Ok(None);
    }
    // 1. Labels of one operand only, not in the output.
    let mut cur: Vec<(Value, Vec<char>)> = Vec::new();
    for (i, (v, t)) in operands.iter().zip(&terms).enumerate() {
        let mut labels = t.clone();
        let elsewhere = |l: char| {
            out.contains(&l)
                || terms
                    .iter()
                    .enumerate()
                    .any(|(j, u)| j != i && u.contains(&l))
        };
        let x = b.sum_out(*v, &mut labels, &elsewhere)?;
        cur.push((x, labels));
    }
    // 2. Left to right.
    let (mut acc, mut la) = cur[0].clone();
    for i in 1..cur.len() {
        let (x, lb) = cur[i].clone();
        let later = |l: char| out.contains(&l) || cur[i + 1..].iter().any(|(_, t)| t.contains(&l));
        let keep_a = |l: char| later(l) || lb.contains(&l);
        acc = b.sum_out(acc, &mut la, &keep_a)?;
        let batch: Vec<char> = la
            .iter()
            .filter(|l| lb.contains(l) && later(**l))
            .copied()
            .collect();
        let k: Vec<char> = la
            .iter()
            .filter(|l| lb.contains(l) && !later(**l))
            .copied()
            .collect();
        let rows: Vec<char> = la.iter().filter(|l| !lb.contains(l)).copied().collect();
        let cols: Vec<char> = lb.iter().filter(|l| !la.contains(l)).copied().collect();
        let prod = |ls: &[char]| ls.iter().fold(SymExpr::lit(1), |p, l| p.mul(&size(*l)));
        let sizes_of = |ls: &[char]| ls.iter().map(|l| size(*l)).collect::<Vec<_>>();
        let order_a: Vec<char> = [batch.clone(), rows.clone(), k.clone()].concat();
        let order_b: Vec<char> = [batch.clone(), k.clone(), cols.clone()].concat();
        let a2 = b.arrange(acc, &la, &order_a)?;
        let a2 = b.reshape(a2, [sizes_of(&batch), vec![prod(&rows), prod(&k)]].concat())?;
        let b2 = b.arrange(x, &lb, &order_b)?;
        let b2 = b.reshape(b2, [sizes_of(&batch), vec![prod(&k), prod(&cols)]].concat())?;
        let c = b.emit(GraphOp::MatMul, vec![a2, b2], Attrs::new())?;
        let shape = [sizes_of(&batch), sizes_of(&rows), sizes_of(&cols)].concat();
        acc = b.reshape(c, shape)?;
        la = [batch, rows, cols].concat();
    }
    // 3. The output's order, and the result's dtype (a widened narrow float rounded once).
    let y = b.arrange(acc, &la, &out)?;
    let want = b.ty(op.results[0])?.dtype;
    if b.ty(y)?.dtype != want {
        // The f32 result rounded once to the narrow dtype, as arithmetic rounds.
        return b
            .emit(
                GraphOp::Cast,
                vec![y],
                Attrs::new()
                    .with("dtype", Attr::DType(want))
                    .with("round", Attr::Str("arith".into())),
            )
            .map(Some);
    }
    if y == op.operands[0] {
        // `einsum("ij->ij", x)`: a copy, so that the result has a value of its own.
        let perm: Vec<i64> = (0..out.len() as i64).collect();
        return b
            .emit(
                GraphOp::Transpose,
                vec![y],
                Attrs::new().with("perm", Attr::Ints(perm)),
            )
            .map(Some);
    }
    Ok(Some(y))
}
