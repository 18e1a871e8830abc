//! Before lowering: operations along an axis other than the last become the same operation
//! along the last axis, between transposes (and reshapes for several reduced axes), so the
//! last-axis kernels serve every axis. A graph-to-graph rewrite on a copy of the function.

use crate::rewrite::{rewrite_ops, Builder};
use tessera_dialects::{Attr, Attrs, Func, GraphOp, Operation, SymExpr, Value};

/// The rewritten function; operations already along the last axis are unchanged.
pub fn move_axes_last(func: &Func) -> Result<Func, String> {
    rewrite_ops(func, rewrite)
}

/// The permutation moving `axes` (sorted) to the end, keeping the other axes in order.
fn to_end(rank: usize, axes: &[usize]) -> Vec<usize> {
    let mut p: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
    p.extend_from_slice(axes);
    p
}

fn inverse(p: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; p.len()];
    for (i, &a) in p.iter().enumerate() {
        inv[a] = i;
    }
    inv
}

fn rewrite(b: &mut Builder<'_>, op: &Operation) -> Result<Option<Value>, String> {
    let Some(g) = op.op.as_graph() else {
        return Ok(None);
    };
    if op.results.len() != 1 {
        return Ok(None);
    }
    let Some(x) = op.operands.first().copied() else {
        return Ok(None);
    };
    let Some(xt) = b.f.tensor_ty(x).cloned() else {
        return Ok(None);
    };
    let r = xt.rank();
    let out_ty =
        b.f.tensor_ty(op.results[0])
            .cloned()
            .ok_or("not a tensor")?;
    use GraphOp as G;
    match g {
        G::Softmax | G::LogSoftmax | G::LayerNorm | G::RmsNorm | G::Argmax => {
            let Some(axis) = op.attrs.int("axis").and_then(|a| usize::try_from(a).ok()) else {
                return Ok(None);
            };
            if r < 2 || axis + 1 == r {
                return Ok(None);
            }
            let perm = to_end(r, &[axis]);
            let t = b.transpose(x, &perm)?;
            let mut attrs = op.attrs.clone();
            attrs.set("axis", Attr::Int(r as i64 - 1));
            let mut operands = op.operands.clone();
            operands[0] = t;
            if g == G::Argmax {
                // Without the axis, the other axes keep their order: no transpose back.
                attrs.set("keepdims", Attr::Bool(false));
                let y = b.emit(g, operands, attrs)?;
                let y = b.reshape(y, out_ty.shape.clone())?;
                return Ok(Some(y));
            }
            let y = b.emit(g, operands, attrs)?;
            let y = b.transpose(y, &inverse(&perm))?;
            Ok(Some(y))
        }
        G::ReduceSum | G::ReduceMean | G::ReduceMax | G::ReduceMin => {
            let axes: Vec<usize> = op
                .attrs
                .ints("axes")
                .unwrap_or(&[])
                .iter()
                .filter_map(|a| usize::try_from(*a).ok())
                .collect();
            let all = axes.len() == r;
            let last_only = axes.len() == 1 && axes[0] + 1 == r;
            if all || last_only || axes.is_empty() {
                return Ok(None);
            }
            if crate::lower::column_reduction(g, xt.dtype, &axes) {
                return Ok(None);
            }
            let perm = to_end(r, &axes);
            let t = b.transpose(x, &perm)?;
            let kept: Vec<SymExpr> = (0..r)
                .filter(|a| !axes.contains(a))
                .map(|a| xt.shape[a].clone())
                .collect();
            let reduced = axes
                .iter()
                .fold(SymExpr::lit(1), |acc, a| acc.mul(&xt.shape[*a]));
            let mut flat = kept.clone();
            flat.push(reduced);
            let t = b.reshape(t, flat)?;
            let attrs = Attrs::new()
                .with("axes", Attr::Ints(vec![kept.len() as i64]))
                .with("keepdims", Attr::Bool(false));
            let y = b.emit(g, vec![t], attrs)?;
            let y = b.reshape(y, out_ty.shape.clone())?;
            Ok(Some(y))
        }
        _ => Ok(None),
    }
}
