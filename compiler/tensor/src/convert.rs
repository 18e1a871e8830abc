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

/// [`round_arith`] of an `f64` value (a float literal meeting a tensor), in one rounding:
/// `x` is first rounded to `f32` *to odd* (toward zero, the last bit set when inexact),
/// which keeps enough to round once more correctly to any format of at most 22 fraction
/// bits; rounding to nearest `f32` first would round twice (`1.00048828125 + 1e-12` as
/// `f16` was `1`, NumPy gives `1.0009765625`).
pub fn round_arith_f64(dtype: DType, x: f64) -> f32 {
    let f = x as f32;
    if dtype == DType::F32 || !f.is_finite() || f64::from(f) == x {
        return round_arith(dtype, f);
    }
    let mut bits = f.to_bits();
    if f64::from(f).abs() > x.abs() {
        // One step toward zero (sign and magnitude: the magnitude's bits less one).
        bits -= 1;
    }
    round_arith(dtype, f32::from_bits(bits | 1))
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
    fn f64_values_round_once() {
        let two = |e: i32| 2f64.powi(e);
        // Just above a tie of the narrow format: the f32 rounding alone would make it a tie.
        assert_eq!(
            round_arith_f64(DType::F16, 1.0 + two(-11) + 1e-12),
            (1.0 + two(-10)) as f32
        );
        assert_eq!(
            round_arith_f64(DType::F16, -(1.0 + two(-11) + 1e-12)),
            -(1.0 + two(-10)) as f32
        );
        assert_eq!(
            round_arith_f64(DType::BF16, 1.0 + two(-8) + two(-30)),
            1.0078125
        );
        // Exact ties still go to even, exact values stay.
        assert_eq!(round_arith_f64(DType::F16, 1.0 + two(-11)), 1.0);
        assert_eq!(round_arith_f64(DType::BF16, 0.5), 0.5);
        // Overflow as arithmetic: inf (NaN in f8e4m3); f32 itself.
        assert_eq!(round_arith_f64(DType::F16, 70000.0), f32::INFINITY);
        assert!(round_arith_f64(DType::F8E4M3, 1e6).is_nan());
        assert_eq!(round_arith_f64(DType::F32, 1e39), f32::INFINITY);
        assert_eq!(round_arith_f64(DType::F32, 0.1), 0.1f32);
        // Subnormal f16 results, and zeros keep their sign.
        assert_eq!(
            round_arith_f64(DType::F16, two(-25) + two(-60)),
            two(-24) as f32
        );
        assert!(round_arith_f64(DType::F16, -1e-30).is_sign_negative());
    }

    proptest::proptest! {
        /// Against `half`'s direct (one rounding) conversions from `f64`.
        #[test]
        fn f64_rounding_matches_a_direct_conversion(bits in proptest::prelude::any::<u64>()) {
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.is_finite());
            let h = half::f16::from_f64(x).to_f32();
            let b = half::bf16::from_f64(x).to_f32();
            proptest::prop_assert_eq!(round_arith_f64(DType::F16, x).to_bits(), h.to_bits());
            proptest::prop_assert_eq!(round_arith_f64(DType::BF16, x).to_bits(), b.to_bits());
        }
    }

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
