//! Slices over symbolic sizes, found in a graph function so that they are checked when a
//! call binds its sizes (the frontend checks every slice whose sizes are constants).
//!
//! A slice `x[0:3]` of an `f32[B]` needs `B >= 3`, which only a call can tell. The
//! interpreter finds out when it computes the slice; the tile plan ([`Tiled::execute`])
//! and compiled code ([`tessera_runtime::plan::SliceCheck`]) check every [`SliceCheck`]
//! before anything runs, with the rule of [`tessera_runtime::plan::slice_bounds_error`].
//!
//! [`Tiled::execute`]: crate::Tiled::execute

use std::collections::BTreeMap;

use tessera_dialects::{Attr, Func, GraphOp, Loc, Op, Operation, SymExpr};

/// One axis of a slice whose operand size or bounds are symbolic.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceCheck {
    /// The operand's size along `axis`, and the bounds as written (negative: from the end).
    pub dim: SymExpr,
    pub start: SymExpr,
    pub end: SymExpr,
    pub axis: usize,
    /// The operation and where it is (`graph.slice at FILE:LINE:COL`), for the message.
    pub what: String,
}

impl SliceCheck {
    /// Why the slice is out of range with these sizes, or `None`.
    pub fn violation(&self, sizes: &BTreeMap<String, i64>) -> Result<Option<String>, String> {
        let eval = |e: &SymExpr| e.eval_map(sizes).map_err(|err| err.to_string());
        let (d, s, e) = (eval(&self.dim)?, eval(&self.start)?, eval(&self.end)?);
        Ok(
            tessera_runtime::plan::slice_bounds_error(d, s, e, self.axis)
                .map(|m| format!("{}: {m}", self.what)),
        )
    }
}

/// The slice checks of `func` (nested regions included) in program order, each once;
/// `locate` renders an operation's location (`None`: unknown).
pub fn slice_checks(func: &Func, locate: &dyn Fn(Loc) -> Option<String>) -> Vec<SliceCheck> {
    let mut all = Vec::new();
    walk(&func.body.ops, func, locate, &mut all);
    // The same bounds of the same size are checked once (the first slice names them).
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|c| {
        seen.insert((
            c.dim.to_string(),
            c.start.to_string(),
            c.end.to_string(),
            c.axis,
        ))
    });
    all
}

fn walk(
    ops: &[Operation],
    func: &Func,
    locate: &dyn Fn(Loc) -> Option<String>,
    out: &mut Vec<SliceCheck>,
) {
    for op in ops {
        if op.op == Op::Graph(GraphOp::Slice) {
            slice(op, func, locate, out);
        }
        for r in &op.regions {
            walk(&r.ops, func, locate, out);
        }
    }
}

fn bounds(op: &Operation, name: &str) -> Option<Vec<SymExpr>> {
    match op.attrs.get(name)? {
        Attr::Sizes(v) => Some(v.clone()),
        Attr::Ints(v) => Some(v.iter().map(|&c| SymExpr::lit(c)).collect()),
        _ => None,
    }
}

fn slice(
    op: &Operation,
    func: &Func,
    locate: &dyn Fn(Loc) -> Option<String>,
    out: &mut Vec<SliceCheck>,
) {
    let Some(ty) = op.operands.first().and_then(|&v| func.tensor_ty(v)) else {
        return;
    };
    let (Some(start), Some(end)) = (bounds(op, "start"), bounds(op, "end")) else {
        return;
    };
    let at = match locate(op.loc) {
        Some(at) => format!("{} at {at}", op.op.full_name()),
        None => op.op.full_name(),
    };
    for (axis, ((dim, s), e)) in ty.shape.iter().zip(&start).zip(&end).enumerate() {
        // Constant ones were checked by the frontend; the whole axis always fits.
        let constant = [dim, s, e].iter().all(|x| x.as_const().is_some());
        if constant || (s.as_const() == Some(0) && e == dim) {
            continue;
        }
        let what = if s.as_const().is_some() && e.as_const().is_some() {
            at.clone()
        } else {
            format!("{at}, bounds {s}:{e}")
        };
        out.push(SliceCheck {
            dim: dim.clone(),
            start: s.clone(),
            end: e.clone(),
            axis,
            what,
        });
    }
}
