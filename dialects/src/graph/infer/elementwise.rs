//! Inference for constants, casts and elementwise operations (unary, binary, `where`).

use super::{broadcast_shapes, maybe_hint, size_hint, Cx, InferError};
use crate::attr::Attr;
use crate::dtype::DType;
use crate::types::TensorType;

/// Which dtypes a unary function accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnaryKind {
    /// Floats and integers (`neg`, `abs`, `relu`).
    Numeric,
    /// Floats only (`exp`, `log`, ...).
    Float,
}

/// Which dtypes a binary operation accepts, and whether it compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryKind {
    /// `add sub mul div max min`: numeric, same dtype.
    Arith,
    /// `pow`: floats only.
    Pow,
    /// `lt le gt ge`: numeric, result bool.
    Order,
    /// `eq ne`: any dtype, result bool.
    Equality,
}

pub(crate) fn constant(cx: &Cx) -> Result<TensorType, InferError> {
    let dtype = cx.dtype("dtype")?;
    let value = cx.attr("value")?;
    let ok = match value {
        Attr::Float(_) => dtype.is_float(),
        Attr::Bool(_) => dtype == DType::Bool,
        Attr::Int(v) => match dtype {
            DType::Bool => false,
            DType::I8 => i8::try_from(*v).is_ok(),
            DType::I32 => i32::try_from(*v).is_ok(),
            _ => true,
        },
        a => {
            return Err(cx.err(format!(
                "attribute `value` must be an integer, float or bool, got `{a}`"
            )))
        }
    };
    if ok {
        return Ok(TensorType::scalar(dtype));
    }
    let e = match (value, dtype) {
        (Attr::Int(v), d) if d.is_int() => {
            cx.err(format!("the value {v} does not fit in {d}"))
        }
        (Attr::Float(_), d) if d.is_int() => cx
            .err(format!("a float value cannot have dtype {d}"))
            .with_hint("a float literal never meets an integer tensor: convert the tensor first with `as f32`"),
        (v, d) => cx.err(format!("the value `{v}` cannot have dtype {d}")),
    };
    Err(e)
}

pub(crate) fn cast(cx: &Cx) -> Result<TensorType, InferError> {
    let x = cx.operand(0)?;
    let dtype = cx.dtype("dtype")?;
    Ok(x.with_dtype(dtype))
}

pub(crate) fn unary(cx: &Cx, kind: UnaryKind) -> Result<TensorType, InferError> {
    let x = match kind {
        UnaryKind::Numeric => cx.need_numeric(0, "the operand")?,
        UnaryKind::Float => cx.need_float(0, "the operand")?,
    };
    Ok(x.clone())
}

pub(crate) fn binary(cx: &Cx, kind: BinaryKind) -> Result<TensorType, InferError> {
    let a = cx.operand(0)?;
    let b = cx.operand(1)?;
    cx.same_dtype(0, 1)?;
    match kind {
        BinaryKind::Arith | BinaryKind::Order => {
            cx.need_numeric(0, "the operands")?;
        }
        BinaryKind::Pow => {
            cx.need_float(0, "the operands")?;
        }
        BinaryKind::Equality => {}
    }
    let shape = broadcast_shapes(&a.shape, &b.shape).map_err(|(x, y)| {
        maybe_hint(
            cx.err_at(
                1,
                format!("cannot broadcast {a} with {b}: sizes {x} and {y} differ"),
            ),
            size_hint(&x, &y),
        )
    })?;
    let dtype = match kind {
        BinaryKind::Order | BinaryKind::Equality => DType::Bool,
        BinaryKind::Arith | BinaryKind::Pow => a.dtype,
    };
    Ok(TensorType::new(dtype, shape))
}

pub(crate) fn select(cx: &Cx) -> Result<TensorType, InferError> {
    let c = cx.operand(0)?;
    let a = cx.operand(1)?;
    let b = cx.operand(2)?;
    if c.dtype != DType::Bool {
        return Err(cx
            .err_at(0, format!("the condition must be bool, got {c}"))
            .with_hint("compare first (e.g. `x > 0`), or convert with `as bool`"));
    }
    cx.same_dtype(1, 2)?;
    let s = broadcast_shapes(&c.shape, &a.shape).map_err(|(x, y)| {
        maybe_hint(
            cx.err_at(
                1,
                format!("cannot broadcast the condition {c} with {a}: sizes {x} and {y} differ"),
            ),
            size_hint(&x, &y),
        )
    })?;
    let s = broadcast_shapes(&s, &b.shape).map_err(|(x, y)| {
        maybe_hint(
            cx.err_at(
                2,
                format!(
                    "cannot broadcast {b} with the shape {} of the other operands: sizes {y} and {x} differ",
                    super::shape_str(&s)
                ),
            ),
            size_hint(&x, &y),
        )
    })?;
    Ok(TensorType::new(a.dtype, s))
}
