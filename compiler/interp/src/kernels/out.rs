//! Building result tensors: rounding computed values into the result dtype once, wrapping
//! integers into `i8`, and reading operands by storage class.

use super::walk::numel;
use super::KResult;
use tessera_dialects::DType;
use tessera_tensor::convert::round_arith;
use tessera_tensor::{Data, Tensor};

/// A tensor's elements by storage class.
pub enum Elems<'a> {
    Float(&'a [f32]),
    Int(&'a [i32]),
}

/// The elements of `t`.
pub fn elems(t: &Tensor) -> Elems<'_> {
    match t.data() {
        Data::Float(v) => Elems::Float(v),
        Data::Int(v) => Elems::Int(v),
    }
}

/// The float elements of `t`, or an error naming `what` when `t` is not a float tensor.
pub fn floats<'a>(t: &'a Tensor, what: &str) -> KResult<&'a [f32]> {
    match t.data() {
        Data::Float(v) if t.dtype().is_float() => Ok(v),
        _ => Err(format!("{what} must have a float dtype, got {}", t.dtype())),
    }
}

/// Builds a tensor; the element count must match.
pub fn tensor(dtype: DType, shape: Vec<usize>, data: Data) -> KResult<Tensor> {
    numel(&shape)?;
    Tensor::new(dtype, shape, data).map_err(|e| format!("internal error: {e}"))
}

/// A float tensor from values computed in `f32`, each rounded to `dtype` once, IEEE style
/// (overflow gives inf, or NaN for f8e4m3; only `as` conversions saturate).
pub fn from_f32(dtype: DType, shape: Vec<usize>, mut v: Vec<f32>) -> KResult<Tensor> {
    if !dtype.is_float() {
        return Err(format!("internal error: {dtype} is not a float dtype"));
    }
    if dtype != DType::F32 {
        for x in v.iter_mut() {
            *x = round_arith(dtype, *x);
        }
    }
    tensor(dtype, shape, Data::Float(v))
}

/// A float tensor from values computed in `f64`: rounded to `f32`, then to `dtype`.
pub fn from_f64(dtype: DType, shape: Vec<usize>, v: Vec<f64>) -> KResult<Tensor> {
    from_f32(dtype, shape, v.into_iter().map(|x| x as f32).collect())
}

/// Wraps an `i32` result into `dtype`: `i8` wraps (NumPy), `bool` is "not zero".
#[inline]
pub fn wrap_int(dtype: DType, v: i32) -> i32 {
    match dtype {
        DType::I8 => v as i8 as i32,
        DType::Bool => i32::from(v != 0),
        _ => v,
    }
}

/// An integer tensor from wrapping `i32` results, wrapped into `dtype`.
pub fn from_i32(dtype: DType, shape: Vec<usize>, mut v: Vec<i32>) -> KResult<Tensor> {
    if dtype.is_float() {
        return Err(format!("internal error: {dtype} is not an integer dtype"));
    }
    if dtype != DType::I32 {
        for x in v.iter_mut() {
            *x = wrap_int(dtype, *x);
        }
    }
    tensor(dtype, shape, Data::Int(v))
}

/// Checks that two operands have the same dtype (DSL §7).
pub fn same_dtype(a: &Tensor, b: &Tensor) -> KResult<()> {
    if a.dtype() == b.dtype() {
        Ok(())
    } else {
        Err(format!(
            "operand dtypes differ: {} vs {}",
            a.dtype(),
            b.dtype()
        ))
    }
}
