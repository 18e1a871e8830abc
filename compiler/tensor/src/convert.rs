//! Exact scalar conversions between the DSL dtypes (DSL.md §7 "Conversions with `as`").
//!
//! Float targets round to nearest, ties to even, in a single rounding step from the exact
//! source value. Finite values beyond the target's range (including values that would round
//! up past the largest finite value) saturate to ±max finite; infinities stay infinite where
//! the format has them (`f32`, `f16`, `bf16`, `f8e5m2`) and saturate otherwise (`f8e4m3`);
//! NaN stays NaN. Integer targets round half to even, saturate, and map NaN to 0.
//! `as bool` is "not zero" (NaN is not zero); `bool` converts to 1 or 0.

use crate::tensor::{Data, Tensor};
use tessera_dialects::DType;

pub use tessera_runtime::scalar::{
    bf16_bits_to_f32, f16_bits_to_f32, f32_to_bf16_bits, f32_to_f16_bits, f32_to_f8e4m3,
    f32_to_f8e5m2, f8e4m3_to_f32, f8e5m2_to_f32,
};

/// The runtime's dtype code of a dialect dtype (the two enums list the same dtypes).
pub fn runtime_dtype(d: DType) -> tessera_runtime::DType {
    match d {
        DType::F32 => tessera_runtime::DType::F32,
        DType::F16 => tessera_runtime::DType::F16,
        DType::BF16 => tessera_runtime::DType::BF16,
        DType::F8E4M3 => tessera_runtime::DType::F8E4M3,
        DType::F8E5M2 => tessera_runtime::DType::F8E5M2,
        DType::I8 => tessera_runtime::DType::I8,
        DType::I32 => tessera_runtime::DType::I32,
        DType::Bool => tessera_runtime::DType::Bool,
    }
}

/// The value of `x` rounded to `dtype`, as an `f32` ([`tessera_runtime::scalar::round_to`]).
pub fn round_to(dtype: DType, x: f32) -> f32 {
    tessera_runtime::scalar::round_to(runtime_dtype(dtype), x)
}

/// IEEE rounding of an arithmetic result ([`tessera_runtime::scalar::round_arith`]).
pub fn round_arith(dtype: DType, x: f32) -> f32 {
    tessera_runtime::scalar::round_arith(runtime_dtype(dtype), x)
}

/// An integer to a dtype in one rounding ([`tessera_runtime::scalar::int_to_float`]).
pub fn int_to_float(dtype: DType, v: i64) -> f32 {
    tessera_runtime::scalar::int_to_float(runtime_dtype(dtype), v)
}

/// A float to an integer dtype ([`tessera_runtime::scalar::f32_to_int`]).
pub fn f32_to_int(dtype: DType, x: f32) -> i32 {
    tessera_runtime::scalar::f32_to_int(runtime_dtype(dtype), x)
}

/// An integer to an integer dtype ([`tessera_runtime::scalar::int_to_int`]).
pub fn int_to_int(dtype: DType, v: i64) -> i32 {
    tessera_runtime::scalar::int_to_int(runtime_dtype(dtype), v)
}

/// Converts a value from `from` (held as in [`Data`]: floats as `f32`, integers as `i32`)
/// to `to`, per DSL §7.
fn convert_data(data: &Data, from: DType, to: DType) -> Data {
    match data {
        Data::Float(v) => {
            if to.is_float() {
                Data::Float(v.iter().map(|&x| round_to(to, x)).collect())
            } else {
                Data::Int(v.iter().map(|&x| f32_to_int(to, x)).collect())
            }
        }
        Data::Int(v) => {
            // bool sources are 0/1 and i8 sources are in range: every int source converts
            // from its exact integer value.
            let _ = from;
            if to.is_float() {
                Data::Float(v.iter().map(|&x| int_to_float(to, i64::from(x))).collect())
            } else {
                Data::Int(v.iter().map(|&x| int_to_int(to, i64::from(x))).collect())
            }
        }
    }
}

/// `t as to` (DSL §7) for every pair of dtypes.
pub fn cast(t: &Tensor, to: DType) -> Tensor {
    if t.dtype() == to {
        return t.clone();
    }
    let data = convert_data(t.data(), t.dtype(), to);
    Tensor::from_parts_unchecked(to, t.shape().to_vec(), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_every_pair() {
        let src = [0.0f32, -0.0, 1.0, -2.5, 3.5, 300.0, -1e6, 1e-3, 70000.0];
        for from in DType::ALL {
            let t = Tensor::from_f32(from, vec![src.len()], src.to_vec()).unwrap();
            for to in DType::ALL {
                let c = cast(&t, to);
                assert_eq!(c.dtype(), to);
                assert_eq!(c.shape(), t.shape());
                // The result keeps the invariant: casting again to the same dtype is a no-op.
                let again = Tensor::from_f32(to, c.shape().to_vec(), c.to_f32_vec()).unwrap();
                if to != DType::I32 {
                    assert_eq!(again, c, "{from} -> {to}");
                }
                // Compare with the scalar definition.
                let vals = t.to_f32_vec();
                let got = c.to_f32_vec();
                for (v, g) in vals.iter().zip(&got) {
                    let want = round_to(to, *v);
                    assert_eq!(want.to_bits(), g.to_bits(), "{from} -> {to} of {v}");
                }
            }
        }
        let t = Tensor::from_f32(DType::F32, vec![3], vec![f32::NAN, f32::INFINITY, -0.5]).unwrap();
        assert_eq!(t.cast(DType::Bool).ints().unwrap(), &[1, 1, 1]);
        assert_eq!(t.cast(DType::I8).ints().unwrap(), &[0, 127, 0]);
        assert_eq!(t.cast(DType::I32).ints().unwrap(), &[0, i32::MAX, 0]);
        let e = t.cast(DType::F8E4M3);
        assert!(e.floats().unwrap()[0].is_nan());
        assert_eq!(e.floats().unwrap()[1], 448.0);
        assert_eq!(t.cast(DType::F8E5M2).floats().unwrap()[1], f32::INFINITY);
        let b = Tensor::from_i32(DType::Bool, vec![2], vec![1, 0]).unwrap();
        assert_eq!(b.cast(DType::F16).floats().unwrap(), &[1.0, 0.0]);
        let i = Tensor::from_i32(DType::I32, vec![2], vec![1000, i32::MIN]).unwrap();
        assert_eq!(i.cast(DType::I8).ints().unwrap(), &[127, -128]);
        assert_eq!(i.cast(DType::F8E4M3).floats().unwrap(), &[448.0, -448.0]);
        assert_eq!(i.cast(DType::F16).floats().unwrap(), &[1000.0, -65504.0]);
        assert_eq!(
            i.cast(DType::F32).floats().unwrap(),
            &[1000.0, -2147483648.0]
        );
    }
}
