//! Reductions over axes (`sum mean max min`, with `keepdims`) and `argmax`.
//!
//! Floats: `sum`/`mean` accumulate in `f64` in C order of the input and round once; the
//! mean of an empty set is NaN. `max`/`min` propagate NaN and refuse empty reductions.
//! Integers (`i8`, `i32`): `sum` wraps in `i32`, then into the dtype (an `i8` sum is `i8`,
//! like the graph's type rules); `max`/`min` keep the dtype; `mean` needs floats; `bool`
//! is refused. `argmax` gives the first maximum as `i32`; a NaN counts as the maximum
//! (its first occurrence wins, like NumPy).

use super::out::{elems, from_f64, from_i32, Elems};
use super::walk::{axis, numel, strides, Walker};
use super::KResult;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

/// A reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
}

/// Normalises `axes` (negative counts from the end), refusing repeats; sorted.
pub fn norm_axes(axes: &[i64], rank: usize) -> KResult<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let v = axis(a, rank)?;
        if out.contains(&v) {
            return Err(format!("axis {a} is repeated in {axes:?}"));
        }
        out.push(v);
    }
    out.sort_unstable();
    Ok(out)
}

/// Reduces `x` over `axes`.
pub fn reduce(op: ReduceOp, x: &Tensor, axes: &[i64], keepdims: bool) -> KResult<Tensor> {
    let axes = norm_axes(axes, x.rank())?;
    let shape = x.shape();
    let kept: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let n_out = numel(&kept)?;
    let count: usize = axes.iter().map(|&a| shape[a]).product();
    let out_shape: Vec<usize> = if keepdims {
        kept.clone()
    } else {
        shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect()
    };
    if count == 0 && n_out > 0 && matches!(op, ReduceOp::Max | ReduceOp::Min) {
        return Err(format!(
            "cannot take the {} of an empty set (axes {axes:?} of shape {shape:?})",
            if op == ReduceOp::Max {
                "maximum"
            } else {
                "minimum"
            }
        ));
    }
    // Walk the input in C order; the walker tracks the output offset.
    let ostr: Vec<usize> = strides(&kept)
        .into_iter()
        .enumerate()
        .map(|(i, s)| if axes.contains(&i) { 0 } else { s })
        .collect();
    let n_in = x.len();
    let mut w = Walker::new(shape, vec![ostr]);
    let dtype = x.dtype();
    if dtype == DType::Bool {
        return Err("the operand must be numeric, got bool".into());
    }
    if op == ReduceOp::Mean && !dtype.is_float() {
        return Err(format!("the operand must have a float dtype, got {dtype}"));
    }
    let rdt = dtype;
    let bad = || "internal error: reduction out of bounds".to_string();
    match (elems(x), op) {
        (Elems::Float(v), ReduceOp::Sum | ReduceOp::Mean) => {
            let mut acc = vec![0f64; n_out];
            for &e in v.iter().take(n_in) {
                *acc.get_mut(w.off[0]).ok_or_else(bad)? += e as f64;
                w.step();
            }
            if op == ReduceOp::Mean {
                acc.iter_mut().for_each(|a| *a /= count as f64);
            }
            from_f64(rdt, out_shape, acc)
        }
        (Elems::Float(v), ReduceOp::Max | ReduceOp::Min) => {
            let init = if op == ReduceOp::Max {
                f32::NEG_INFINITY
            } else {
                f32::INFINITY
            };
            let mut acc = vec![init; n_out];
            for &e in v.iter().take(n_in) {
                let a = acc.get_mut(w.off[0]).ok_or_else(bad)?;
                *a = if op == ReduceOp::Max {
                    super::binary::ieee_max(*a, e)
                } else {
                    super::binary::ieee_min(*a, e)
                };
                w.step();
            }
            from_f64(rdt, out_shape, acc.into_iter().map(f64::from).collect())
        }
        (Elems::Int(v), ReduceOp::Sum | ReduceOp::Mean) => {
            let mut acc = vec![0i32; n_out];
            for &e in v.iter().take(n_in) {
                let a = acc.get_mut(w.off[0]).ok_or_else(bad)?;
                *a = a.wrapping_add(e);
                w.step();
            }
            from_i32(rdt, out_shape, acc)
        }
        (Elems::Int(v), ReduceOp::Max | ReduceOp::Min) => {
            let init = if op == ReduceOp::Max {
                i32::MIN
            } else {
                i32::MAX
            };
            let mut acc = vec![init; n_out];
            for &e in v.iter().take(n_in) {
                let a = acc.get_mut(w.off[0]).ok_or_else(bad)?;
                *a = if op == ReduceOp::Max {
                    (*a).max(e)
                } else {
                    (*a).min(e)
                };
                w.step();
            }
            from_i32(rdt, out_shape, acc)
        }
    }
}

/// The index of the first maximum along `axis`, as `i32`.
pub fn argmax(x: &Tensor, ax: i64, keepdims: bool) -> KResult<Tensor> {
    let a = axis(ax, x.rank())?;
    let shape = x.shape();
    let n = shape[a];
    let outer: usize = shape[..a].iter().product();
    let inner: usize = shape[a + 1..].iter().product();
    let mut out_shape = shape.to_vec();
    if keepdims {
        out_shape[a] = 1;
    } else {
        out_shape.remove(a);
    }
    let n_out = numel(&out_shape)?;
    if n == 0 && n_out > 0 {
        return Err(format!(
            "cannot take the argmax of an empty axis {a} of shape {shape:?}"
        ));
    }
    if i32::try_from(n).is_err() {
        return Err(format!(
            "axis {a} has {n} elements, more than an i32 index can hold"
        ));
    }
    let mut out = Vec::with_capacity(n_out);
    match elems(x) {
        Elems::Float(v) => {
            for o in 0..outer {
                for i in 0..inner {
                    let base = o * n * inner + i;
                    let mut best = 0usize;
                    let mut bv = v[base];
                    for k in 1..n {
                        if bv.is_nan() {
                            break;
                        }
                        let e = v[base + k * inner];
                        if e.is_nan() || e > bv {
                            best = k;
                            bv = e;
                        }
                    }
                    out.push(best as i32);
                }
            }
        }
        Elems::Int(v) => {
            for o in 0..outer {
                for i in 0..inner {
                    let base = o * n * inner + i;
                    let mut best = 0usize;
                    let mut bv = v[base];
                    for k in 1..n {
                        let e = v[base + k * inner];
                        if e > bv {
                            best = k;
                            bv = e;
                        }
                    }
                    out.push(best as i32);
                }
            }
        }
    }
    from_i32(DType::I32, out_shape, out)
}
