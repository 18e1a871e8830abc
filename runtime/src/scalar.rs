//! Exact scalar conversions between the dtypes (DSL.md §7 "Conversions with `as`"), shared
//! by the compiler (`tessera-tensor` builds on these) and by compiled kernels, which call
//! them through [`crate::kernel_helpers`].
//!
//! Float targets round to nearest, ties to even, in a single rounding step from the exact
//! source value. Finite values beyond the target's range (including values that would round
//! up past the largest finite value) saturate to ±max finite; infinities stay infinite where
//! the format has them (`f32`, `f16`, `bf16`, `f8e5m2`) and saturate otherwise (`f8e4m3`);
//! NaN stays NaN. Integer targets round half to even, saturate, and map NaN to 0.
//! `as bool` is "not zero" (NaN is not zero); `bool` converts to 1 or 0.

use crate::dtype::DType;

/// A binary float format with a sign bit, `exp_bits` exponent bits and `man_bits` mantissa
/// bits, described by what the generic rounding needs.
#[derive(Clone, Copy, Debug)]
struct Format {
    man_bits: u32,
    /// The exponent of the smallest normal value (`1 - bias`).
    emin: i32,
    /// The magnitude bits of the largest finite value.
    max_code: u32,
    /// The position of the sign bit.
    sign_shift: u32,
}

const E4M3: Format = Format {
    man_bits: 3,
    emin: -6,
    max_code: 0x7E,
    sign_shift: 7,
};
const E5M2: Format = Format {
    man_bits: 2,
    emin: -14,
    max_code: 0x7B,
    sign_shift: 7,
};
const F16: Format = Format {
    man_bits: 10,
    emin: -14,
    max_code: 0x7BFF,
    sign_shift: 15,
};
const BF16: Format = Format {
    man_bits: 7,
    emin: -126,
    max_code: 0x7F7F,
    sign_shift: 15,
};

/// Rounds the finite value `(-1)^neg * sig * 2^exp` to `fmt`, nearest with ties to even,
/// saturating to the largest finite magnitude. Returns the code with the sign bit.
fn encode_finite(neg: bool, sig: u64, exp: i32, fmt: Format) -> u32 {
    let sign = u32::from(neg) << fmt.sign_shift;
    if sig == 0 {
        return sign;
    }
    let m = fmt.man_bits as i32;
    // floor(log2(value))
    let e = (63 - sig.leading_zeros() as i32) + exp;
    // The largest finite exponent of any of our formats is below 128; anything at or above
    // twice the top binade saturates.
    let max_exp = ((fmt.max_code >> fmt.man_bits) as i32) + fmt.emin - 1;
    if e > max_exp + 1 {
        return sign | fmt.max_code;
    }
    let eff = e.max(fmt.emin);
    // The exponent of one unit in the last place at this magnitude.
    let ulp_exp = eff - m;
    let shift = ulp_exp - exp;
    let q: u64 = if shift <= 0 {
        // Exact: the value is a multiple of the ulp (and has at most man_bits + 1 bits).
        sig << (-shift) as u32
    } else if shift >= 64 {
        // sig < 2^64, so the value is below half an ulp... unless shift == 64 and sig is
        // large; sig < 2^63 by construction of every caller, so it is below half an ulp.
        0
    } else {
        let shift = shift as u32;
        let q = sig >> shift;
        let rem = sig & ((1u64 << shift) - 1);
        let half = 1u64 << (shift - 1);
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    // Subnormals: exponent field 0 and mantissa q (q == 2^M carries into the smallest
    // normal). Normals: q in [2^M, 2^(M+1)], the implicit bit adds one to the field.
    let code = (((eff - fmt.emin) as u64) << fmt.man_bits) + q;
    let code = code.min(u64::from(fmt.max_code)) as u32;
    sign | code
}

/// Splits a finite f32 into (negative, significand, exponent) with value = sig * 2^exp.
fn split_f32(x: f32) -> (bool, u64, i32) {
    let bits = x.to_bits();
    let neg = bits >> 31 == 1;
    let e = ((bits >> 23) & 0xFF) as i32;
    let man = u64::from(bits & 0x7F_FFFF);
    if e == 0 {
        (neg, man, -149)
    } else {
        (neg, man | 0x80_0000, e - 150)
    }
}

/// Splits an i64 into (negative, magnitude, 0).
fn split_int(v: i64) -> (bool, u64, i32) {
    (v < 0, v.unsigned_abs(), 0)
}

/// 2^k as f32 for k in [-149, 127].
fn pow2(k: i32) -> f32 {
    if k >= -126 {
        f32::from_bits(((k + 127) as u32) << 23)
    } else {
        f32::from_bits(1u32 << (k + 149))
    }
}

/// Decodes the finite magnitude bits `code` of `fmt`.
fn decode_finite(code: u32, fmt: Format) -> f32 {
    let field = (code >> fmt.man_bits) as i32;
    let man = code & ((1 << fmt.man_bits) - 1);
    let m = fmt.man_bits as i32;
    if field == 0 {
        man as f32 * pow2(fmt.emin - m)
    } else {
        (man | (1 << fmt.man_bits)) as f32 * pow2(field - 1 + fmt.emin - m)
    }
}

fn with_sign(neg: bool, v: f32) -> f32 {
    if neg {
        -v
    } else {
        v
    }
}

/// OCP FP8 E4M3 (`f8e4m3`): the nearest code, ties to even, saturating; ±inf → ±448;
/// NaN → 0x7F (0xFF for a NaN with the sign bit set).
pub fn f32_to_f8e4m3(x: f32) -> u8 {
    let neg = x.is_sign_negative();
    if x.is_nan() {
        return if neg { 0xFF } else { 0x7F };
    }
    if x.is_infinite() {
        return if neg { 0xFE } else { 0x7E };
    }
    let (neg, sig, exp) = split_f32(x);
    encode_finite(neg, sig, exp, E4M3) as u8
}

/// Decodes an OCP FP8 E4M3 code; S.1111.111 is NaN.
pub fn f8e4m3_to_f32(code: u8) -> f32 {
    let neg = code & 0x80 != 0;
    let mag = u32::from(code & 0x7F);
    if mag == 0x7F {
        return with_sign(neg, f32::NAN);
    }
    with_sign(neg, decode_finite(mag, E4M3))
}

/// OCP FP8 E5M2 (`f8e5m2`): the nearest code, ties to even, saturating finite values to
/// ±57344; ±inf stays ±inf (0x7C/0xFC); NaN → 0x7E (0xFE with the sign bit set).
pub fn f32_to_f8e5m2(x: f32) -> u8 {
    let neg = x.is_sign_negative();
    if x.is_nan() {
        return if neg { 0xFE } else { 0x7E };
    }
    if x.is_infinite() {
        return if neg { 0xFC } else { 0x7C };
    }
    let (neg, sig, exp) = split_f32(x);
    encode_finite(neg, sig, exp, E5M2) as u8
}

/// Decodes an OCP FP8 E5M2 code (IEEE-like: exponent field 31 is inf or NaN).
pub fn f8e5m2_to_f32(code: u8) -> f32 {
    let neg = code & 0x80 != 0;
    let mag = u32::from(code & 0x7F);
    if mag == 0x7C {
        return with_sign(neg, f32::INFINITY);
    }
    if mag > 0x7C {
        return with_sign(neg, f32::NAN);
    }
    with_sign(neg, decode_finite(mag, E5M2))
}

/// `f32` → `f16` bits with `half`'s round-to-nearest-even and DSL saturation: finite values
/// that `half` would round to infinity become ±65504.
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let h = half::f16::from_f32(x);
    if h.is_infinite() && x.is_finite() {
        if x < 0.0 {
            0xFBFF
        } else {
            0x7BFF
        }
    } else {
        h.to_bits()
    }
}

/// `f16` bits → `f32` (exact).
pub fn f16_bits_to_f32(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}

/// `f32` → `bf16` bits with `half`'s round-to-nearest-even and DSL saturation: finite
/// values that would round to infinity become ±max finite (0x7F7F).
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let h = half::bf16::from_f32(x);
    if h.is_infinite() && x.is_finite() {
        if x < 0.0 {
            0xFF7F
        } else {
            0x7F7F
        }
    } else {
        h.to_bits()
    }
}

/// `bf16` bits → `f32` (exact).
pub fn bf16_bits_to_f32(bits: u16) -> f32 {
    half::bf16::from_bits(bits).to_f32()
}

/// The value of `x` rounded to `dtype`, as an `f32`.
///
/// For float dtypes this is the nearest representable value (ties to even, saturating per
/// DSL §7; `f32` is the identity). For `i8`/`i32` it is the integer conversion (half to
/// even, saturating, NaN → 0) and for `bool` it is 1 or 0, so the function is total.
pub fn round_to(dtype: DType, x: f32) -> f32 {
    match dtype {
        DType::F32 => x,
        DType::F16 => f16_bits_to_f32(f32_to_f16_bits(x)),
        DType::BF16 => bf16_bits_to_f32(f32_to_bf16_bits(x)),
        DType::F8E4M3 => f8e4m3_to_f32(f32_to_f8e4m3(x)),
        DType::F8E5M2 => f8e5m2_to_f32(f32_to_f8e5m2(x)),
        DType::I8 | DType::I32 | DType::Bool => f32_to_int(dtype, x) as f32,
    }
}

/// Rounds the result of arithmetic to a float dtype, IEEE style: round to nearest even,
/// and a value beyond the largest finite one becomes infinite (`f16`, `bf16`, `f8e5m2`) or
/// NaN (`f8e4m3`, which has no infinities), as NumPy with ml_dtypes does. Conversions with
/// `as` saturate instead: see [`round_to`]. Integer dtypes behave as in [`round_to`].
pub fn round_arith(dtype: DType, x: f32) -> f32 {
    match dtype {
        DType::F16 => half::f16::from_f32(x).to_f32(),
        DType::BF16 => half::bf16::from_f32(x).to_f32(),
        // Halfway between the largest finite value and the next power of two rounds up
        // (to even), so it overflows.
        DType::F8E5M2 if x.is_finite() && x.abs() >= 61440.0 => f32::INFINITY.copysign(x),
        // Above the midpoint of 448 and 480 (a NaN code), ties going to 448 (even).
        DType::F8E4M3 if x.is_infinite() || x.abs() > 464.0 => f32::NAN,
        _ => round_to(dtype, x),
    }
}

/// Rounds an integer to a float dtype in one step (no double rounding through `f32`).
/// Integer dtypes saturate; `bool` is "not zero". The result is an `f32` holding the
/// dtype's value (for `i32`, the `i32` value rounded to `f32`; use [`int_to_int`] to keep it
/// exact).
pub fn int_to_float(dtype: DType, v: i64) -> f32 {
    let (neg, sig, exp) = split_int(v);
    match dtype {
        DType::F32 => v as f32,
        DType::F16 => f16_bits_to_f32(encode_finite(neg, sig, exp, F16) as u16),
        DType::BF16 => bf16_bits_to_f32(encode_finite(neg, sig, exp, BF16) as u16),
        DType::F8E4M3 => f8e4m3_to_f32(encode_finite(neg, sig, exp, E4M3) as u8),
        DType::F8E5M2 => f8e5m2_to_f32(encode_finite(neg, sig, exp, E5M2) as u8),
        DType::I8 | DType::I32 | DType::Bool => int_to_int(dtype, v) as f32,
    }
}

/// Converts a float to an integer dtype: round half to even, saturate to the range,
/// NaN → 0, ±inf → the range's ends. `bool` gives 1 for anything not zero (NaN included).
/// For a float `dtype` this returns the rounded integer saturated to the `i32` range.
pub fn f32_to_int(dtype: DType, x: f32) -> i32 {
    match dtype {
        DType::Bool => i32::from(x != 0.0),
        DType::I8 => {
            if x.is_nan() {
                0
            } else {
                x.round_ties_even().clamp(-128.0, 127.0) as i32
            }
        }
        // `as` saturates and maps NaN to 0.
        _ => x.round_ties_even() as i32,
    }
}

/// Converts an integer to an integer dtype: saturate (`i8`, `i32`) or "not zero" (`bool`).
/// For a float `dtype` the value is saturated to the `i32` range.
pub fn int_to_int(dtype: DType, v: i64) -> i32 {
    match dtype {
        DType::Bool => i32::from(v != 0),
        DType::I8 => v.clamp(-128, 127) as i32,
        _ => v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Independent decode of an FP8 code with f64 math from its fields.
    fn fp8_expected(code: u8, exp_bits: u32, man_bits: u32, bias: i32, ieee: bool) -> f64 {
        let sign = if code & 0x80 != 0 { -1.0 } else { 1.0 };
        let e = ((code >> man_bits) & ((1 << exp_bits) - 1)) as i32;
        let m = (code & ((1 << man_bits) - 1)) as f64;
        let emax_field = (1 << exp_bits) - 1;
        if ieee && e == emax_field {
            return if m == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            };
        }
        if !ieee && e == emax_field && m as u32 == (1 << man_bits) - 1 {
            return f64::NAN;
        }
        let frac = m / f64::from(1u32 << man_bits);
        if e == 0 {
            sign * frac * 2f64.powi(1 - bias)
        } else {
            sign * (1.0 + frac) * 2f64.powi(e - bias)
        }
    }

    type Enc = fn(f32) -> u8;
    type Dec = fn(u8) -> f32;

    fn check_table(enc: Enc, dec: Dec, exp_bits: u32, man_bits: u32, bias: i32, ieee: bool) {
        for code in 0..=255u8 {
            let want = fp8_expected(code, exp_bits, man_bits, bias, ieee);
            let got = dec(code);
            if want.is_nan() {
                assert!(got.is_nan(), "code {code:#04x}: {got} is not NaN");
                assert!(is_nan_code(enc(got), ieee), "NaN re-encodes to NaN");
                continue;
            }
            assert_eq!(f64::from(got), want, "code {code:#04x}");
            // -0 keeps its sign bit.
            assert_eq!(
                got.is_sign_negative(),
                code & 0x80 != 0,
                "sign of {code:#04x}"
            );
            if got.is_infinite() {
                assert_eq!(enc(got), code);
                continue;
            }
            assert_eq!(enc(got), code, "round trip of code {code:#04x} ({got})");
        }
    }

    fn is_nan_code(code: u8, ieee: bool) -> bool {
        if ieee {
            code & 0x7F > 0x7C
        } else {
            code & 0x7F == 0x7F
        }
    }

    #[test]
    fn e4m3_table_and_round_trip() {
        check_table(f32_to_f8e4m3, f8e4m3_to_f32, 4, 3, 7, false);
        assert_eq!(f8e4m3_to_f32(0x7E), 448.0);
        assert_eq!(f8e4m3_to_f32(0x01), 2f32.powi(-9));
        assert_eq!(f8e4m3_to_f32(0x08), 2f32.powi(-6));
    }

    #[test]
    fn e5m2_table_and_round_trip() {
        check_table(f32_to_f8e5m2, f8e5m2_to_f32, 5, 2, 15, true);
        assert_eq!(f8e5m2_to_f32(0x7B), 57344.0);
        assert_eq!(f8e5m2_to_f32(0x01), 2f32.powi(-16));
        assert_eq!(f8e5m2_to_f32(0x7C), f32::INFINITY);
        assert_eq!(f8e5m2_to_f32(0xFC), f32::NEG_INFINITY);
    }

    fn finite_codes(dec: Dec) -> Vec<(u8, f32)> {
        (0..=0x7Fu8)
            .map(|c| (c, dec(c)))
            .filter(|(_, v)| v.is_finite())
            .collect()
    }

    /// Midpoints between consecutive positive codes round to the even code, points just
    /// off the midpoint round to the nearer one.
    fn check_ties(enc: Enc, dec: Dec) {
        let codes = finite_codes(dec);
        for w in codes.windows(2) {
            let (c0, v0) = w[0];
            let (c1, v1) = w[1];
            let mid = (f64::from(v0) + f64::from(v1)) / 2.0;
            let mid32 = mid as f32;
            assert_eq!(f64::from(mid32), mid, "midpoint exact in f32");
            let even = if c0 % 2 == 0 { c0 } else { c1 };
            assert_eq!(enc(mid32), even, "tie between {v0} and {v1}");
            assert_eq!(
                enc(-mid32),
                even | 0x80,
                "negative tie between {v0} and {v1}"
            );
            let below = f32::from_bits(mid32.to_bits() - 1);
            let above = f32::from_bits(mid32.to_bits() + 1);
            assert_eq!(enc(below), c0);
            assert_eq!(enc(above), c1);
        }
    }

    #[test]
    fn e4m3_ties_to_even() {
        check_ties(f32_to_f8e4m3, f8e4m3_to_f32);
    }

    #[test]
    fn e5m2_ties_to_even() {
        check_ties(f32_to_f8e5m2, f8e5m2_to_f32);
    }

    #[test]
    fn fp8_saturation_and_specials() {
        // E4M3: no infinities.
        assert_eq!(f32_to_f8e4m3(448.0), 0x7E);
        assert_eq!(f32_to_f8e4m3(460.0), 0x7E);
        assert_eq!(f32_to_f8e4m3(464.0), 0x7E); // would round up past max
        assert_eq!(f32_to_f8e4m3(500.0), 0x7E);
        assert_eq!(f32_to_f8e4m3(1e30), 0x7E);
        assert_eq!(f32_to_f8e4m3(f32::MAX), 0x7E);
        assert_eq!(f32_to_f8e4m3(-1e30), 0xFE);
        assert_eq!(f32_to_f8e4m3(f32::INFINITY), 0x7E);
        assert_eq!(f32_to_f8e4m3(f32::NEG_INFINITY), 0xFE);
        assert!(f8e4m3_to_f32(f32_to_f8e4m3(f32::NAN)).is_nan());
        assert_eq!(f32_to_f8e4m3(-0.0), 0x80);
        assert_eq!(f32_to_f8e4m3(0.0), 0x00);
        assert_eq!(f32_to_f8e4m3(-1e-30), 0x80);
        assert_eq!(f32_to_f8e4m3(f32::from_bits(1)), 0x00);
        // Half the smallest subnormal is a tie with 0 → 0; just above → smallest.
        assert_eq!(f32_to_f8e4m3(2f32.powi(-10)), 0x00);
        assert_eq!(f32_to_f8e4m3(2f32.powi(-10) * 1.0001), 0x01);
        assert_eq!(f32_to_f8e4m3(3.0 * 2f32.powi(-10)), 0x02);
        // E5M2: IEEE-like.
        assert_eq!(f32_to_f8e5m2(57344.0), 0x7B);
        assert_eq!(f32_to_f8e5m2(61440.0), 0x7B); // tie that would go to inf
        assert_eq!(f32_to_f8e5m2(1e9), 0x7B);
        assert_eq!(f32_to_f8e5m2(-f32::MAX), 0xFB);
        assert_eq!(f32_to_f8e5m2(f32::INFINITY), 0x7C);
        assert_eq!(f32_to_f8e5m2(f32::NEG_INFINITY), 0xFC);
        assert!(f8e5m2_to_f32(f32_to_f8e5m2(f32::NAN)).is_nan());
        assert!(f8e5m2_to_f32(f32_to_f8e5m2(-f32::NAN)).is_nan());
        assert_eq!(f32_to_f8e5m2(-0.0), 0x80);
        assert_eq!(f32_to_f8e5m2(2f32.powi(-17)), 0x00);
        assert_eq!(f32_to_f8e5m2(2f32.powi(-17) * 1.5), 0x01);
    }

    /// Brute-force nearest code over all finite codes, ties to the even code.
    fn brute(dec: Dec, x: f32) -> u8 {
        let ax = f64::from(x.abs());
        let codes = finite_codes(dec);
        let mut best: Option<(u8, f64)> = None;
        // Beyond the largest finite value the nearest is that value (saturation); checking
        // it first also avoids f64 distances losing precision at huge magnitudes.
        if let Some(&(c, v)) = codes.last() {
            if ax >= f64::from(v) {
                best = Some((c, 0.0));
            }
        }
        for (c, v) in codes {
            let d = (f64::from(v) - ax).abs();
            best = match best {
                None => Some((c, d)),
                Some((bc, bd)) => {
                    if d < bd || (d == bd && c % 2 == 0 && bc % 2 == 1) {
                        Some((c, d))
                    } else {
                        Some((bc, bd))
                    }
                }
            };
        }
        let c = best.map(|b| b.0).unwrap_or(0);
        if x.is_sign_negative() {
            c | 0x80
        } else {
            c
        }
    }

    fn interesting_f32() -> impl Strategy<Value = f32> {
        prop_oneof![
            any::<u32>().prop_map(f32::from_bits),
            // Magnitudes around the FP8 ranges, subnormals included.
            (any::<bool>(), -24i32..20, any::<u32>()).prop_map(|(s, e, m)| {
                let v = (1.0 + f64::from(m) / 4294967296.0) * 2f64.powi(e);
                (if s { -v } else { v }) as f32
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn fp8_encode_is_nearest(x in interesting_f32()) {
            if x.is_finite() {
                prop_assert_eq!(f32_to_f8e4m3(x), brute(f8e4m3_to_f32, x));
                prop_assert_eq!(f32_to_f8e5m2(x), brute(f8e5m2_to_f32, x));
            }
        }

        #[test]
        fn half_formats_match_generic_rounding(x in interesting_f32()) {
            if x.is_finite() {
                let (neg, sig, exp) = split_f32(x);
                prop_assert_eq!(u32::from(f32_to_f16_bits(x)), encode_finite(neg, sig, exp, F16));
                prop_assert_eq!(u32::from(f32_to_bf16_bits(x)), encode_finite(neg, sig, exp, BF16));
            }
        }

        #[test]
        fn int_to_float_is_single_rounding(v in any::<i32>()) {
            // Compare against an f64 brute-force: the result is one of the two neighbours
            // of v in the format and the nearer one (ties even).
            for dt in [DType::F16, DType::BF16, DType::F8E4M3, DType::F8E5M2] {
                let got = f64::from(int_to_float(dt, i64::from(v)));
                let (neg, sig, exp) = split_int(i64::from(v));
                let fmt = match dt {
                    DType::F16 => F16,
                    DType::BF16 => BF16,
                    DType::F8E4M3 => E4M3,
                    _ => E5M2,
                };
                let want = f64::from(decode_finite(encode_finite(false, sig, exp, fmt), fmt));
                let want = if neg { -want } else { want };
                prop_assert_eq!(got, want);
                // Never further than the format's neighbours: |got - v| <= |round_to(v as f32)-v|
                // when v is exact in f32.
                if (v as f32) as i64 == i64::from(v) {
                    prop_assert_eq!(got, f64::from(round_to(dt, v as f32)));
                }
            }
        }
    }

    #[test]
    fn int_to_bf16_avoids_double_rounding() {
        // 2^24 + 2^16 + 1 is just above the bf16 midpoint; through f32 it would become the
        // midpoint and round down to even.
        let v = (1i64 << 24) + (1 << 16) + 1;
        assert_eq!(
            int_to_float(DType::BF16, v),
            (1u32 << 24) as f32 + (1u32 << 17) as f32
        );
    }

    /// Sweeps every 97th f32 bit pattern (and all of them near the overflow threshold) and
    /// checks `half` against the integer rounding: this verifies half is round-to-nearest-even.
    #[test]
    fn half_is_round_to_nearest_even_sweep() {
        let mut bits = 0u32;
        loop {
            let x = f32::from_bits(bits);
            if x.is_finite() {
                let (neg, sig, exp) = split_f32(x);
                assert_eq!(
                    u32::from(f32_to_f16_bits(x)),
                    encode_finite(neg, sig, exp, F16)
                );
                assert_eq!(
                    u32::from(f32_to_bf16_bits(x)),
                    encode_finite(neg, sig, exp, BF16)
                );
            }
            match bits.checked_add(9973) {
                Some(b) => bits = b,
                None => break,
            }
        }
    }

    #[test]
    fn half_saturation() {
        assert_eq!(round_to(DType::F16, 65504.0), 65504.0);
        assert_eq!(round_to(DType::F16, 65519.0), 65504.0);
        assert_eq!(round_to(DType::F16, 65520.0), 65504.0); // would round to inf
        assert_eq!(round_to(DType::F16, 1e10), 65504.0);
        assert_eq!(round_to(DType::F16, -1e10), -65504.0);
        assert_eq!(round_to(DType::F16, f32::INFINITY), f32::INFINITY);
        assert_eq!(round_to(DType::F16, f32::NEG_INFINITY), f32::NEG_INFINITY);
        assert!(round_to(DType::F16, f32::NAN).is_nan());
        assert!(round_to(DType::F16, -0.0).is_sign_negative());
        let bf_max = bf16_bits_to_f32(0x7F7F);
        assert_eq!(round_to(DType::BF16, f32::MAX), bf_max);
        assert_eq!(round_to(DType::BF16, -f32::MAX), -bf_max);
        assert_eq!(round_to(DType::BF16, f32::INFINITY), f32::INFINITY);
        assert!(round_to(DType::BF16, f32::NAN).is_nan());
        // Ties to even in bf16: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
        assert_eq!(round_to(DType::BF16, 1.0 + 2f32.powi(-8)), 1.0);
        assert_eq!(
            round_to(DType::BF16, 1.0 + 3.0 * 2f32.powi(-8)),
            1.0 + 2.0 * 2f32.powi(-7)
        );
        assert_eq!(round_to(DType::F16, 1.0 + 2f32.powi(-11)), 1.0);
        assert_eq!(
            round_to(DType::F16, 1.0 + 3.0 * 2f32.powi(-11)),
            1.0 + 2.0 * 2f32.powi(-10)
        );
        // f16 subnormals.
        assert_eq!(round_to(DType::F16, 2f32.powi(-24)), 2f32.powi(-24));
        assert_eq!(round_to(DType::F16, 2f32.powi(-25)), 0.0);
        assert_eq!(round_to(DType::F16, 2f32.powi(-25) * 1.01), 2f32.powi(-24));
        assert_eq!(round_to(DType::F32, 0.1), 0.1);
    }

    #[test]
    fn float_to_int() {
        for (x, want) in [
            (2.5f32, 2),
            (3.5, 4),
            (-2.5, -2),
            (-3.5, -4),
            (0.5, 0),
            (1.5, 2),
            (-0.5, 0),
            (2.4999, 2),
            (100.0, 100),
        ] {
            assert_eq!(f32_to_int(DType::I32, x), want, "{x}");
            assert_eq!(f32_to_int(DType::I8, x), want, "{x}");
        }
        assert_eq!(f32_to_int(DType::I8, 127.5), 127);
        assert_eq!(f32_to_int(DType::I8, 126.5), 126);
        assert_eq!(f32_to_int(DType::I8, 1000.0), 127);
        assert_eq!(f32_to_int(DType::I8, -1000.0), -128);
        assert_eq!(f32_to_int(DType::I8, -128.5), -128);
        assert_eq!(f32_to_int(DType::I8, f32::INFINITY), 127);
        assert_eq!(f32_to_int(DType::I8, f32::NEG_INFINITY), -128);
        assert_eq!(f32_to_int(DType::I8, f32::NAN), 0);
        assert_eq!(f32_to_int(DType::I32, f32::NAN), 0);
        assert_eq!(f32_to_int(DType::I32, 3e9), i32::MAX);
        assert_eq!(f32_to_int(DType::I32, -3e9), i32::MIN);
        assert_eq!(f32_to_int(DType::I32, f32::INFINITY), i32::MAX);
        assert_eq!(f32_to_int(DType::I32, f32::NEG_INFINITY), i32::MIN);
        assert_eq!(f32_to_int(DType::Bool, f32::NAN), 1);
        assert_eq!(f32_to_int(DType::Bool, -0.0), 0);
        assert_eq!(f32_to_int(DType::Bool, 1e-45), 1);
        assert_eq!(int_to_int(DType::I8, 300), 127);
        assert_eq!(int_to_int(DType::I8, -300), -128);
        assert_eq!(int_to_int(DType::Bool, -3), 1);
        assert_eq!(int_to_int(DType::I32, 5), 5);
    }
}
