//! Inference for shape operations: `reshape transpose broadcast_to concat slice`.

use super::{maybe_hint, shape_str, size_hint, Cx, InferError};
use crate::attr::Attr;
use crate::sym::SymExpr;
use crate::types::TensorType;

/// Rejects constant negative sizes in a target shape attribute.
fn check_target(cx: &Cx, name: &str, shape: &[SymExpr]) -> Result<(), InferError> {
    if let Some(d) = shape.iter().find(|d| d.as_const().is_some_and(|c| c < 0)) {
        return Err(cx
            .err(format!(
                "the target shape {} has a negative size {d}",
                shape_str(shape)
            ))
            .with_hint(format!("`{name}` sizes must be resolved and non-negative")));
    }
    Ok(())
}

/// The number of elements: a canonical product, or `None` when constant sizes overflow.
fn element_count(shape: &[SymExpr]) -> Option<SymExpr> {
    if let Some(consts) = shape
        .iter()
        .map(|d| d.as_const())
        .collect::<Option<Vec<_>>>()
    {
        let mut n: i64 = 1;
        for c in consts {
            n = n.checked_mul(c)?;
        }
        return Some(SymExpr::lit(n));
    }
    Some(shape.iter().fold(SymExpr::lit(1), |acc, d| acc.mul(d)))
}

pub(crate) fn reshape(cx: &Cx) -> Result<TensorType, InferError> {
    let x = cx.operand(0)?;
    let shape = cx.sizes("shape")?;
    check_target(cx, "shape", &shape)?;
    let overflow = || cx.err("the element count overflows");
    let have = element_count(&x.shape).ok_or_else(overflow)?;
    let want = element_count(&shape).ok_or_else(overflow)?;
    if have != want {
        let e = cx.err_at(
            0,
            format!(
                "cannot reshape {x} to {}: element counts differ: {have} vs {want}",
                shape_str(&shape)
            ),
        );
        return Err(maybe_hint(e, size_hint(&have, &want)));
    }
    Ok(TensorType::new(x.dtype, shape))
}

pub(crate) fn transpose(cx: &Cx) -> Result<TensorType, InferError> {
    let x = cx.operand(0)?;
    let perm = cx.ints("perm")?;
    let bad = || {
        cx.err(format!(
            "{} is not a permutation of the {} axes of {x}",
            Attr::Ints(perm.to_vec()),
            x.rank()
        ))
        .with_hint(format!(
            "list each axis from 0 to {} exactly once",
            x.rank().saturating_sub(1)
        ))
    };
    if perm.len() != x.rank() {
        return Err(bad());
    }
    let mut seen = vec![false; x.rank()];
    let mut shape = Vec::with_capacity(x.rank());
    for &p in perm {
        let i = usize::try_from(p).map_err(|_| bad())?;
        match (seen.get_mut(i), x.shape.get(i)) {
            (Some(s), Some(d)) if !*s => {
                *s = true;
                shape.push(d.clone());
            }
            _ => return Err(bad()),
        }
    }
    Ok(TensorType::new(x.dtype, shape))
}

pub(crate) fn broadcast_to(cx: &Cx) -> Result<TensorType, InferError> {
    let x = cx.operand(0)?;
    let shape = cx.sizes("shape")?;
    check_target(cx, "shape", &shape)?;
    let target = shape_str(&shape);
    let Some(offset) = shape.len().checked_sub(x.rank()) else {
        return Err(cx.err_at(
            0,
            format!(
                "cannot broadcast {x} to {target}: the operand has more dimensions than the target"
            ),
        ));
    };
    let one = SymExpr::lit(1);
    for (i, d) in x.shape.iter().enumerate() {
        let Some(t) = shape.get(i + offset) else {
            return Err(cx.err_at(0, format!("cannot broadcast {x} to {target}")));
        };
        if d != t && *d != one {
            let e = cx.err_at(
                0,
                format!("cannot broadcast {x} to {target}: size {d} vs {t} (operand axis {i})"),
            );
            let hint = size_hint(d, t)
                .unwrap_or_else(|| "each size must equal the target's or be 1".to_string());
            return Err(e.with_hint(hint));
        }
    }
    Ok(TensorType::new(x.dtype, shape))
}

pub(crate) fn concat(cx: &Cx) -> Result<TensorType, InferError> {
    let first = cx.operand(0)?;
    let axis = cx.int("axis")?;
    let a = cx.check_axis("axis", axis, first)?;
    let mut shape = first.shape.clone();
    let mut total = SymExpr::lit(0);
    for (i, t) in cx.operands.iter().enumerate() {
        if t.rank() != first.rank() {
            return Err(cx.err_at(
                i,
                format!(
                    "inputs must have the same rank: {t} has rank {} but the first input {first} has rank {}",
                    t.rank(),
                    first.rank()
                ),
            ));
        }
        cx.same_dtype(0, i)?;
        for (j, (d, f)) in t.shape.iter().zip(&first.shape).enumerate() {
            if j == a {
                total = total.add(d);
            } else if d != f {
                let e = cx.err_at(
                    i,
                    format!(
                        "sizes differ at axis {j}: {d} in {t} vs {f} in the first input {first} (only axis {a} may differ)"
                    ),
                );
                return Err(maybe_hint(e, size_hint(d, f)));
            }
        }
    }
    if let Some(s) = shape.get_mut(a) {
        *s = total;
    }
    Ok(TensorType::new(first.dtype, shape))
}

pub(crate) fn slice(cx: &Cx) -> Result<TensorType, InferError> {
    let x = cx.operand(0)?;
    let start = cx.sizes("start")?;
    let end = cx.sizes("end")?;
    for (name, v) in [("start", &start), ("end", &end)] {
        if v.len() != x.rank() {
            return Err(cx.err(format!(
                "`{name}` has {} value{} but {x} has rank {}",
                v.len(),
                super::plural(v.len()),
                x.rank()
            )));
        }
    }
    let mut shape = Vec::with_capacity(x.rank());
    for (axis, ((s, e), d)) in start.iter().zip(&end).zip(&x.shape).enumerate() {
        let len = e.sub(s);
        let out_of_bounds = || {
            cx.err_at(
                0,
                format!("{s}:{e} is out of bounds for axis {axis} of {x} (size {d})"),
            )
        };
        if s.as_const().is_some_and(|c| c < 0) || e.as_const().is_some_and(|c| c < 0) {
            return Err(out_of_bounds());
        }
        // `end <= size` and `start < size`, when provable either way.
        if e.sub(d).as_const().is_some_and(|c| c > 0) || s.sub(d).as_const().is_some_and(|c| c >= 0)
        {
            return Err(out_of_bounds());
        }
        if len.as_const().is_some_and(|c| c < 1) {
            return Err(cx
                .err_at(0, format!("{s}:{e} of axis {axis} is empty"))
                .with_hint("slices must not be empty: the end must be past the start"));
        }
        shape.push(len);
    }
    Ok(TensorType::new(x.dtype, shape))
}
