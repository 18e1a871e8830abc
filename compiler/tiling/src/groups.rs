//! Before lowering: a grouped `conv2d` whose channel counts are not constants (the direct
//! lowering needs constant group strides) becomes one ungrouped `conv2d` per group on
//! `slice`s of the input channels and of the weight's output channels, joined by a
//! `concat` of the outputs (the last group's slices end at the last channel, so the
//! concat has exactly the original type).
//! Each per-group convolution then takes the implicit-GEMM or the direct path. A
//! graph-to-graph rewrite on a copy of the function, like [`crate::einsum`].

use crate::rewrite::{rewrite_ops, Builder};
use tessera_dialects::{Attr, Func, GraphOp, Op, Operation, SymExpr, Value};

/// The most groups split this way (each group is a kernel launch).
pub const MAX_GROUPS: i64 = 64;

/// The rewritten function; other operations are unchanged.
pub fn split_groups(func: &Func) -> Result<Func, String> {
    rewrite_ops(func, rewrite)
}

fn rewrite(b: &mut Builder<'_>, op: &Operation) -> Result<Option<Value>, String> {
    if op.op != Op::Graph(GraphOp::Conv2d) || op.results.len() != 1 || op.operands.len() != 2 {
        return Ok(None);
    }
    let groups = op.attrs.int("groups").unwrap_or(1);
    if !(2..=MAX_GROUPS).contains(&groups) {
        return Ok(None);
    }
    let (x, w) = (op.operands[0], op.operands[1]);
    let (tx, tw) = (b.ty(x)?, b.ty(w)?);
    if tx.rank() != 4 || tw.rank() != 4 {
        return Ok(None);
    }
    let out_ty =
        b.f.tensor_ty(op.results[0])
            .cloned()
            .ok_or("not a tensor")?;
    let (o, cg) = (&tw.shape[0], &tw.shape[1]);
    if o.as_const().is_some() && cg.as_const().is_some() {
        return Ok(None);
    }
    let og = o
        .floor_div(&SymExpr::lit(groups))
        .map_err(|e| e.to_string())?;
    let zero = SymExpr::lit(0);
    let mut parts = Vec::new();
    for g in 0..groups {
        let (lo, hi) = (SymExpr::lit(g), SymExpr::lit(g + 1));
        // The last group ends at the last channel, so that the concat has `O` channels.
        let last = g + 1 == groups;
        let x_end = if last {
            tx.shape[1].clone()
        } else {
            hi.mul(cg)
        };
        let w_end = if last { o.clone() } else { hi.mul(&og) };
        let xs = b.emit(
            GraphOp::Slice,
            vec![x],
            tessera_dialects::Attrs::new()
                .with(
                    "start",
                    Attr::Sizes(vec![zero.clone(), lo.mul(cg), zero.clone(), zero.clone()]),
                )
                .with(
                    "end",
                    Attr::Sizes(vec![
                        tx.shape[0].clone(),
                        x_end,
                        tx.shape[2].clone(),
                        tx.shape[3].clone(),
                    ]),
                ),
        )?;
        let ws = b.emit(
            GraphOp::Slice,
            vec![w],
            tessera_dialects::Attrs::new()
                .with(
                    "start",
                    Attr::Sizes(vec![lo.mul(&og), zero.clone(), zero.clone(), zero.clone()]),
                )
                .with(
                    "end",
                    Attr::Sizes(vec![
                        w_end,
                        cg.clone(),
                        tw.shape[2].clone(),
                        tw.shape[3].clone(),
                    ]),
                ),
        )?;
        let mut attrs = op.attrs.clone();
        attrs.set("groups", Attr::Int(1));
        parts.push(b.emit(GraphOp::Conv2d, vec![xs, ws], attrs)?);
    }
    let y = b.emit(
        GraphOp::Concat,
        parts,
        tessera_dialects::Attrs::new().with("axis", Attr::Int(1)),
    )?;
    b.reshape(y, out_ty.shape.clone()).map(Some)
}
