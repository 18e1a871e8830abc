//! Literals, conversions and quantisation.
//!
//! `quantize(x, scale)` is `x / scale` computed in `f32`, rounded to the nearest value of
//! the target (`i8`, `f8e4m3`, `f8e5m2`) with ties to even, then saturated: to
//! `[-128, 127]` for `i8` (NaN becomes 0), and as `as` does for the FP8 formats (finite
//! values to ± the largest finite value; infinities stay infinite in f8e5m2 and saturate
//! in f8e4m3; NaN stays NaN). Literals (`graph.constant`) convert like NumPy weak scalars:
//! beyond a float format's range they are infinite (NaN in f8e4m3). `dequantize(q, scale)` is `q * scale`
//! computed and returned in `f32`. A scale is a scalar, or a 1-D tensor along `axis`
//! (per channel).

use super::out::{floats, from_f32, tensor};
use super::walk::axis;
use super::KResult;
use tessera_dialects::{Attr, DType};
use tessera_tensor::convert::{cast as convert_cast, f32_to_int, round_arith, round_to};
use tessera_tensor::{Data, Tensor};

/// A 0-d tensor holding the literal `value` with `dtype` (integers and booleans exact).
pub fn constant(value: &Attr, dtype: DType) -> KResult<Tensor> {
    let data = match (value, dtype) {
        // A literal converts like a NumPy weak scalar, in one rounding from its f64 value:
        // beyond the range it is infinite (NaN in f8e4m3), unlike `as`, which saturates.
        (Attr::Float(v), d) if d.is_float() => {
            Data::Float(vec![tessera_tensor::convert::round_arith_f64(d, *v)])
        }
        (Attr::Int(v), d) if d.is_float() => {
            // One rounding from the integer; only f16 and the FP8 formats can overflow from
            // an i64, and there every integer below 2^24 is exact in f32 first.
            let x = match d {
                DType::F16 | DType::F8E4M3 | DType::F8E5M2 => round_arith(d, *v as f32),
                _ => tessera_tensor::convert::int_to_float(d, *v),
            };
            Data::Float(vec![x])
        }
        (Attr::Int(v), DType::I8) => Data::Int(vec![i8::try_from(*v)
            .map_err(|_| format!("the value {v} does not fit in i8"))?
            as i32]),
        (Attr::Int(v), DType::I32) => Data::Int(vec![
            i32::try_from(*v).map_err(|_| format!("the value {v} does not fit in i32"))?
        ]),
        (Attr::Bool(b), DType::Bool) => Data::Int(vec![i32::from(*b)]),
        (v, d) => return Err(format!("the value `{v}` cannot have dtype {d}")),
    };
    tensor(dtype, Vec::new(), data)
}

/// `x as dtype` (DSL §7).
pub fn cast(x: &Tensor, dtype: DType) -> KResult<Tensor> {
    Ok(convert_cast(x, dtype))
}

/// An `f32` tensor rounded to the float `dtype` as arithmetic rounds its results
/// (`round_arith`: overflow gives inf, NaN in `f8e4m3`), not as `as` saturates: the
/// rounding of an accumulator (`tile.cast {round = "arith"}`).
pub fn round_arith_tile(x: &Tensor, dtype: DType) -> KResult<Tensor> {
    if x.dtype() != DType::F32 || !dtype.is_float() {
        return Err(format!(
            "`round = \"arith\"` rounds f32 to a float dtype, not {} to {dtype}",
            x.dtype()
        ));
    }
    // `from_f32` rounds arithmetic results to a narrow dtype.
    from_f32(
        dtype,
        x.shape().to_vec(),
        floats(x, "the operand")?.to_vec(),
    )
}

/// The scale of each element: `scale[(i / inner) % n]` for a per-channel scale.
struct Scale<'a> {
    v: &'a [f32],
    inner: usize,
    n: usize,
}

impl Scale<'_> {
    #[inline]
    fn at(&self, i: usize) -> f32 {
        self.v[(i / self.inner) % self.n]
    }
}

fn scale_of<'a>(x: &Tensor, scale: &'a Tensor, ax: Option<i64>) -> KResult<Scale<'a>> {
    let v = floats(scale, "the scale")?;
    match ax {
        None => {
            if scale.len() != 1 || scale.rank() > 1 {
                return Err(format!(
                    "without `axis` the scale must be a scalar, got shape {:?}",
                    scale.shape()
                ));
            }
            Ok(Scale { v, inner: 1, n: 1 })
        }
        Some(a) => {
            let a = axis(a, x.rank())?;
            let n = x.shape()[a];
            if scale.shape() != [n] {
                return Err(format!(
                    "a per-channel scale along axis {a} must have shape [{n}], got {:?}",
                    scale.shape()
                ));
            }
            let inner: usize = x.shape()[a + 1..].iter().product();
            Ok(Scale {
                v,
                inner: inner.max(1),
                n: n.max(1),
            })
        }
    }
}

/// `x / scale` rounded to `dtype` (ties to even) and saturated.
pub fn quantize(x: &Tensor, scale: &Tensor, dtype: DType, ax: Option<i64>) -> KResult<Tensor> {
    let v = floats(x, "the operand")?;
    let s = scale_of(x, scale, ax)?;
    let q: Vec<f32> = v.iter().enumerate().map(|(i, &e)| e / s.at(i)).collect();
    let shape = x.shape().to_vec();
    match dtype {
        DType::I8 => tensor(
            dtype,
            shape,
            Data::Int(q.into_iter().map(|e| f32_to_int(DType::I8, e)).collect()),
        ),
        // The saturation of `as` (DSL.md §7): finite values beyond the range become ± the
        // largest finite value; infinities stay infinite in f8e5m2 and saturate in f8e4m3.
        DType::F8E4M3 | DType::F8E5M2 => tensor(
            dtype,
            shape,
            Data::Float(q.into_iter().map(|e| round_to(dtype, e)).collect()),
        ),
        d => Err(format!("quantize targets i8, f8e4m3 or f8e5m2, not {d}")),
    }
}

/// `q * scale` in `f32`.
pub fn dequantize(q: &Tensor, scale: &Tensor, ax: Option<i64>) -> KResult<Tensor> {
    let s = scale_of(q, scale, ax)?;
    let vals: Vec<f32> = match q.data() {
        Data::Float(v) => v.clone(),
        Data::Int(v) if q.dtype() != DType::Bool => v.iter().map(|&e| e as f32).collect(),
        Data::Int(_) => return Err("the operand must be numeric, got bool".into()),
    };
    let out = vals
        .into_iter()
        .enumerate()
        .map(|(i, e)| e * s.at(i))
        .collect();
    from_f32(DType::F32, q.shape().to_vec(), out)
}
