//! Inference for reductions (`sum mean max min argmax`) and normalisations
//! (`softmax log_softmax layernorm rmsnorm`).

use super::{maybe_hint, size_hint, Cx, InferError};
use crate::attr::Attr;
use crate::dtype::DType;
use crate::sym::SymExpr;
use crate::types::TensorType;

/// `reduce_sum`, `reduce_max`, `reduce_min` (numeric) and `reduce_mean` (floats only).
pub(crate) fn reduce(cx: &Cx, float_only: bool) -> Result<TensorType, InferError> {
    let x = if float_only {
        cx.need_float(0, "the operand")?
    } else {
        cx.need_numeric(0, "the operand")?
    };
    let axes = cx.ints("axes")?;
    let keepdims = cx.bool("keepdims")?;
    let mut reduced = vec![false; x.rank()];
    let mut prev: Option<i64> = None;
    for &a in axes {
        let i = cx.check_axis("axis", a, x)?;
        if prev.is_some_and(|p| p >= a) {
            return Err(cx.err(format!(
                "axes {} must be sorted and without repetition",
                Attr::Ints(axes.to_vec())
            )));
        }
        prev = Some(a);
        if let Some(r) = reduced.get_mut(i) {
            *r = true;
        }
    }
    let mut shape = Vec::with_capacity(x.rank());
    for (d, r) in x.shape.iter().zip(&reduced) {
        if !*r {
            shape.push(d.clone());
        } else if keepdims {
            shape.push(SymExpr::lit(1));
        }
    }
    Ok(TensorType::new(x.dtype, shape))
}

pub(crate) fn argmax(cx: &Cx) -> Result<TensorType, InferError> {
    let x = cx.need_numeric(0, "the operand")?;
    let axis = cx.int("axis")?;
    let keepdims = cx.bool("keepdims")?;
    let a = cx.check_axis("axis", axis, x)?;
    let mut shape = Vec::with_capacity(x.rank());
    for (i, d) in x.shape.iter().enumerate() {
        if i != a {
            shape.push(d.clone());
        } else if keepdims {
            shape.push(SymExpr::lit(1));
        }
    }
    Ok(TensorType::new(DType::I32, shape))
}

pub(crate) fn softmax(cx: &Cx) -> Result<TensorType, InferError> {
    let x = cx.need_float(0, "the operand")?;
    let axis = cx.int("axis")?;
    cx.check_axis("axis", axis, x)?;
    Ok(x.clone())
}

/// `layernorm(x, gamma, beta)` when `with_beta`, else `rmsnorm(x, gamma)`.
pub(crate) fn norm(cx: &Cx, with_beta: bool) -> Result<TensorType, InferError> {
    let x = cx.need_float(0, "the input")?;
    let axis = cx.int("axis")?;
    let a = cx.check_axis("axis", axis, x)?;
    let eps = cx.float("eps")?;
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(cx.err(format!(
            "`eps` must be a finite non-negative number, got {eps}"
        )));
    }
    let Some(size) = x.shape.get(a) else {
        return Err(cx.err(format!("axis {axis} is out of range for {x}")));
    };
    let params: &[(usize, &str)] = if with_beta {
        &[(1, "gamma"), (2, "beta")]
    } else {
        &[(1, "gamma")]
    };
    for &(i, role) in params {
        let p = cx.operand(i)?;
        let [d] = p.shape.as_slice() else {
            return Err(cx
                .err_at(i, format!("{role} must be 1-D, got {p}"))
                .with_hint(format!(
                    "{role} has one value per element of axis {a} ({size})"
                )));
        };
        if d != size {
            let e = cx.err_at(
                i,
                format!("{role} has size {d} but axis {a} of {x} has size {size}"),
            );
            return Err(maybe_hint(e, size_hint(d, size)));
        }
        cx.same_dtype(0, i)?;
    }
    Ok(x.clone())
}
