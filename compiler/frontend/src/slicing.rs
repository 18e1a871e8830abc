//! Static slicing `x[0:16, :, 3]`: bounds as sizes (negative ones count from the end),
//! checked where they are constant, lowered to `graph.slice` plus a `graph.reshape` when
//! integer indices drop axes.

use crate::ast::{Expr, IndexItem};
use crate::diag::Diagnostic;
use crate::lower::{FnLowerer, Reported, Val, R};
use crate::sizes::expr_to_sym;
use tessera_dialects::{Attr, Attrs, GraphOp, Span, SymExpr};

impl FnLowerer<'_> {
    /// `x[...]`: a `graph.slice`, then a `graph.reshape` when integer indices drop axes.
    pub(crate) fn index(&mut self, base: &Expr, items: &[IndexItem], span: Span) -> R<Val> {
        let v = self.expr(base)?;
        let t = self.require_tensor(v, base.span, "slicing")?;
        let ty = self.ty(t);
        if items.len() > ty.rank() {
            return self.err(
                Diagnostic::error(format!(
                    "too many indices: {} for a tensor of rank {}",
                    items.len(),
                    ty.rank()
                ))
                .primary(span, format!("the tensor is {ty}")),
            );
        }
        let mut start = Vec::new();
        let mut end = Vec::new();
        let mut keep = Vec::new();
        for (axis, dim) in ty.shape.iter().enumerate() {
            let Some(item) = items.get(axis) else {
                start.push(SymExpr::lit(0));
                end.push(dim.clone());
                keep.push(dim.clone());
                continue;
            };
            match item {
                IndexItem::Index(e) => {
                    let i = self.bound(e, dim)?;
                    self.check_in_range(&i, dim, e.span, false)?;
                    end.push(i.add(&SymExpr::lit(1)));
                    start.push(i);
                }
                IndexItem::Range {
                    start: s,
                    end: en,
                    span: rspan,
                } => {
                    let a = match s {
                        Some(e) => {
                            let a = self.bound(e, dim)?;
                            self.check_in_range(&a, dim, e.span, false)?;
                            a
                        }
                        None => SymExpr::lit(0),
                    };
                    let b = match en {
                        Some(e) => {
                            let b = self.bound(e, dim)?;
                            self.check_in_range(&b, dim, e.span, true)?;
                            b
                        }
                        None => dim.clone(),
                    };
                    let len = b.sub(&a);
                    if let Some(c) = len.as_const() {
                        if c <= 0 {
                            return self.err(
                                Diagnostic::error(format!("empty slice: {a}:{b}"))
                                    .primary(*rspan, "this slice selects nothing")
                                    .hint("slices must not be empty"),
                            );
                        }
                    }
                    keep.push(len);
                    start.push(a);
                    end.push(b);
                }
            }
        }
        let attrs = Attrs::new()
            .with("start", Attr::Sizes(start))
            .with("end", Attr::Sizes(end));
        let sliced = match self.emit1(GraphOp::Slice, vec![t], attrs, span, &[base.span])? {
            Val::Tensor(v) => v,
            _ => return Err(Reported),
        };
        if keep.len() == ty.rank() {
            return Ok(Val::Tensor(sliced));
        }
        let attrs = Attrs::new().with("shape", Attr::Sizes(keep));
        self.emit1(GraphOp::Reshape, vec![sliced], attrs, span, &[span])
    }

    /// A slice bound: negative constants count from the end.
    fn bound(&mut self, e: &Expr, dim: &SymExpr) -> R<SymExpr> {
        let s = match expr_to_sym(e, &self.sizes) {
            Ok(s) => s,
            Err(d) => return self.err(d),
        };
        match (s.as_const(), dim.as_const()) {
            // Report the index as written, not as wrapped.
            (Some(c), Some(d)) if c < -d => self.err(
                Diagnostic::error(format!(
                    "index {c} is out of range for a dimension of size {d}"
                ))
                .primary(e.span, format!("expected {} to {}", -d, d - 1)),
            ),
            (Some(c), _) if c < 0 => Ok(dim.add(&s)),
            _ => Ok(s),
        }
    }

    fn check_in_range(&mut self, i: &SymExpr, dim: &SymExpr, span: Span, is_end: bool) -> R<()> {
        if let (Some(i), Some(d)) = (i.as_const(), dim.as_const()) {
            let ok = if is_end {
                (0..=d).contains(&i)
            } else {
                (0..d).contains(&i)
            };
            if !ok {
                return self.err(
                    Diagnostic::error(format!(
                        "index {i} is out of range for a dimension of size {d}"
                    ))
                    .primary(span, "out of range"),
                );
            }
        } else if let Some(c) = i.as_const() {
            if c < 0 {
                return self.err(
                    Diagnostic::error(format!("index {c} is out of range"))
                        .primary(span, "out of range"),
                );
            }
        }
        Ok(())
    }
}
