//! Sizes and types written in the source: `DimExpr`s and size-valued expressions to
//! [`SymExpr`], and `TypeExpr`s to [`TensorType`].

use crate::ast::{BinOp, DimExpr, DimOp, Expr, ExprKind, TypeExpr};
use crate::diag::Diagnostic;
use std::collections::BTreeSet;
use tessera_dialects::{SymExpr, TensorType};

/// Converts a size written in a type. Names must be in `allowed` when it is given
/// (a `let` annotation or a result type may only use the parameters' names).
pub fn dim_to_sym(d: &DimExpr, allowed: Option<&BTreeSet<String>>) -> Result<SymExpr, Diagnostic> {
    match d {
        DimExpr::Int(v, _) => Ok(SymExpr::lit(*v)),
        DimExpr::Name(id) => {
            if let Some(allowed) = allowed {
                if !allowed.contains(&id.name) {
                    return Err(Diagnostic::error(format!(
                        "size `{}` does not appear in the parameters",
                        id.name
                    ))
                    .primary(id.span, "unknown size name")
                    .hint("a size name in a `let` annotation or in the result type must appear in a parameter's type"));
                }
            }
            Ok(SymExpr::name(&id.name))
        }
        DimExpr::Neg(inner, span) => dim_to_sym(inner, allowed)?
            .checked_neg()
            .map_err(|e| Diagnostic::error(e.to_string()).primary(*span, "in this size")),
        DimExpr::Bin(a, op, b, span) => {
            let a = dim_to_sym(a, allowed)?;
            let b = dim_to_sym(b, allowed)?;
            combine(&a, *op, &b).map_err(|m| Diagnostic::error(m).primary(*span, "in this size"))
        }
    }
}

fn combine(a: &SymExpr, op: DimOp, b: &SymExpr) -> Result<SymExpr, String> {
    match op {
        DimOp::Add => a.checked_add(b),
        DimOp::Sub => a.checked_sub(b),
        DimOp::Mul => a.checked_mul(b),
        DimOp::Div => a.floor_div(b),
    }
    .map_err(|e| e.to_string())
}

/// Converts a type written in the source, checking every constant size is at least 1.
pub fn type_to_tensor(
    t: &TypeExpr,
    allowed: Option<&BTreeSet<String>>,
) -> Result<TensorType, Diagnostic> {
    let mut shape = Vec::new();
    for d in t.dims.iter().flatten() {
        let s = dim_to_sym(d, allowed)?;
        if let Some(c) = s.as_const() {
            if c < 1 {
                return Err(Diagnostic::error(format!("size {c} is not positive"))
                    .primary(d.span(), "sizes must be at least 1"));
            }
        }
        shape.push(s);
    }
    // The constant part of the size must be addressable: no tensor of it could exist, and
    // the element counts of the kernels would wrap.
    let ty = TensorType::new(t.dtype, shape);
    if !addressable(&ty) {
        return Err(too_large().primary(t.span, "this type"));
    }
    Ok(ty)
}

/// Whether the constant sizes of `t` multiply to at most [`MAX_TENSOR_BYTES`] bytes.
pub(crate) fn addressable(t: &TensorType) -> bool {
    t.shape
        .iter()
        .filter_map(SymExpr::as_const)
        .try_fold(t.dtype.size_bytes() as i64, |acc, c| acc.checked_mul(c))
        .is_some_and(|b| b <= MAX_TENSOR_BYTES)
}

/// The error of a tensor too large to exist (label it).
pub(crate) fn too_large() -> Diagnostic {
    Diagnostic::error(format!(
        "a tensor of this type would hold more than 2^{} bytes",
        MAX_TENSOR_BYTES.ilog2()
    ))
}

/// The most bytes the constant sizes of a type may multiply to (2^62: every element count
/// and byte offset of the compiled code fits in 64-bit arithmetic).
const MAX_TENSOR_BYTES: i64 = 1 << 62;

/// Every size name a type mentions, in order of first appearance.
pub fn names_in_type(t: &TypeExpr, out: &mut Vec<(String, tessera_dialects::Span)>) {
    fn walk(d: &DimExpr, out: &mut Vec<(String, tessera_dialects::Span)>) {
        match d {
            DimExpr::Int(..) => {}
            DimExpr::Name(id) => out.push((id.name.clone(), id.span)),
            DimExpr::Neg(i, _) => walk(i, out),
            DimExpr::Bin(a, _, b, _) => {
                walk(a, out);
                walk(b, out);
            }
        }
    }
    for d in t.dims.iter().flatten() {
        walk(d, out);
    }
}

/// Converts an expression in a size position (`reshape(x, [B, S, -1])`, slice bounds):
/// integer literals, size names, unary minus and `+ - * /`.
pub fn expr_to_sym(e: &Expr, sizes: &BTreeSet<String>) -> Result<SymExpr, Diagnostic> {
    match &e.kind {
        ExprKind::Int(v) => Ok(SymExpr::lit(*v)),
        ExprKind::Var(n) if sizes.contains(n) => Ok(SymExpr::name(n)),
        ExprKind::Var(n) => Err(Diagnostic::error(format!("`{n}` is not a size"))
            .primary(e.span, "expected an integer or a size name")
            .hint("sizes are integers, the size names of the parameters' types, and `+ - * /` of them")),
        ExprKind::Neg(inner) => expr_to_sym(inner, sizes)?
            .checked_neg()
            .map_err(|m| Diagnostic::error(m.to_string()).primary(e.span, "in this size")),
        ExprKind::Binary(op, a, b) => {
            let dop = match op {
                BinOp::Add => DimOp::Add,
                BinOp::Sub => DimOp::Sub,
                BinOp::Mul => DimOp::Mul,
                BinOp::Div => DimOp::Div,
                _ => {
                    return Err(Diagnostic::error(format!("`{}` cannot be used in a size", op.symbol()))
                        .primary(e.span, "not a size expression"))
                }
            };
            let a = expr_to_sym(a, sizes)?;
            let b = expr_to_sym(b, sizes)?;
            combine(&a, dop, &b).map_err(|m| Diagnostic::error(m).primary(e.span, "in this size"))
        }
        _ => Err(Diagnostic::error("expected a size")
            .primary(e.span, "expected an integer or a size name")),
    }
}

/// A constant integer in a size position (axes, strides, ...), allowing unary minus.
pub fn expr_to_int(e: &Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Int(v) => Some(*v),
        ExprKind::Neg(inner) => expr_to_int(inner).and_then(i64::checked_neg),
        _ => None,
    }
}
