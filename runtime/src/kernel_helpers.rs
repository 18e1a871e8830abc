//! The scalar functions compiled kernels call for what the code generator does not emit
//! inline: transcendental functions (computed in `f64` and rounded once, exactly as the
//! reference interpreter does) and conversions between dtypes through storage bits.
//!
//! They are `#[no_mangle] extern "C"`, so an ahead-of-time artifact resolves them when it is
//! linked with this library, and the JIT registers their addresses ([`symbols`]). Dtype
//! arguments are the ABI codes of [`DType`] (`TSR_F32` = 1, ...). None of them panics: an
//! unknown dtype code is read as `f32`.

use crate::dtype::DType;
use crate::scalar;

/// `e^x`.
#[no_mangle]
pub extern "C" fn tsr_exp_f32(x: f32) -> f32 {
    (x as f64).exp() as f32
}

/// The natural logarithm.
#[no_mangle]
pub extern "C" fn tsr_log_f32(x: f32) -> f32 {
    (x as f64).ln() as f32
}

/// `1 / sqrt(x)`.
#[no_mangle]
pub extern "C" fn tsr_rsqrt_f32(x: f32) -> f32 {
    (1.0 / (x as f64).sqrt()) as f32
}

/// `tanh(x)`.
#[no_mangle]
pub extern "C" fn tsr_tanh_f32(x: f32) -> f32 {
    (x as f64).tanh() as f32
}

/// `1 / (1 + e^-x)` without overflow for large negative `x`.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The logistic function.
#[no_mangle]
pub extern "C" fn tsr_sigmoid_f32(x: f32) -> f32 {
    sigmoid(x as f64) as f32
}

/// `x * Φ(x)` with the exact `erf` form, as `x/2 erfc(-x / sqrt 2)` (no cancellation in
/// the negative tail), `-0` at `-inf` (its limit, not `-inf * 0`): the interpreter's form.
#[no_mangle]
pub extern "C" fn tsr_gelu_f32(x: f32) -> f32 {
    let d = x as f64;
    if d == f64::NEG_INFINITY {
        return -0.0;
    }
    (0.5 * d * libm::erfc(-d / std::f64::consts::SQRT_2)) as f32
}

/// The `tanh` approximation of GELU, `x/2 (1 + tanh(u)) = x sigmoid(2u)` (the first form
/// cancels completely below `x = -7.1`), `-0` at `-inf`: the interpreter's form.
#[no_mangle]
pub extern "C" fn tsr_gelu_tanh_f32(x: f32) -> f32 {
    let d = x as f64;
    if d == f64::NEG_INFINITY {
        return -0.0;
    }
    let k = (2.0 / std::f64::consts::PI).sqrt();
    (d * sigmoid(2.0 * k * (d + 0.044715 * d * d * d))) as f32
}

/// `x * sigmoid(x)`, `-0` at `-inf` (its limit).
#[no_mangle]
pub extern "C" fn tsr_silu_f32(x: f32) -> f32 {
    let d = x as f64;
    if d == f64::NEG_INFINITY {
        return -0.0;
    }
    (d * sigmoid(d)) as f32
}

/// The error function.
#[no_mangle]
pub extern "C" fn tsr_erf_f32(x: f32) -> f32 {
    libm::erf(x as f64) as f32
}

/// `a^b`.
#[no_mangle]
pub extern "C" fn tsr_pow_f32(a: f32, b: f32) -> f32 {
    (a as f64).powf(b as f64) as f32
}

fn dtype_of(code: u32) -> DType {
    DType::from_code(code).unwrap_or(DType::F32)
}

/// An element as the interpreter holds it: a float value or an integer value.
enum Elem {
    Float(f32),
    Int(i64),
}

fn decode(bits: u32, d: DType) -> Elem {
    match d {
        DType::F32 => Elem::Float(f32::from_bits(bits)),
        DType::F16 => Elem::Float(scalar::f16_bits_to_f32(bits as u16)),
        DType::BF16 => Elem::Float(scalar::bf16_bits_to_f32(bits as u16)),
        DType::F8E4M3 => Elem::Float(scalar::f8e4m3_to_f32(bits as u8)),
        DType::F8E5M2 => Elem::Float(scalar::f8e5m2_to_f32(bits as u8)),
        DType::I8 => Elem::Int(i64::from(bits as u8 as i8)),
        DType::I32 => Elem::Int(i64::from(bits as i32)),
        DType::Bool => Elem::Int(i64::from(bits as u8 != 0)),
    }
}

/// The storage bits of a float value already representable in `d` (or of an integer).
pub fn encode_float(x: f32, d: DType) -> u32 {
    match d {
        DType::F32 => x.to_bits(),
        DType::F16 => u32::from(scalar::f32_to_f16_bits(x)),
        DType::BF16 => u32::from(scalar::f32_to_bf16_bits(x)),
        DType::F8E4M3 => u32::from(scalar::f32_to_f8e4m3(x)),
        DType::F8E5M2 => u32::from(scalar::f32_to_f8e5m2(x)),
        DType::I8 => u32::from(x as i32 as i8 as u8),
        DType::I32 => x as i32 as u32,
        DType::Bool => u32::from(x != 0.0),
    }
}

fn int_bits(v: i32, to: DType) -> u32 {
    match to {
        DType::I8 | DType::Bool => u32::from(v as i8 as u8),
        _ => v as u32,
    }
}

/// Converts one element from dtype `from` to dtype `to` (ABI codes), storage bits in and
/// out, as `graph.cast` does (DSL §7).
#[no_mangle]
pub extern "C" fn tsr_cast_bits(bits: u32, from: u32, to: u32) -> u32 {
    let (from, to) = (dtype_of(from), dtype_of(to));
    match decode(bits, from) {
        Elem::Float(x) => {
            if to.is_float() {
                encode_float(scalar::round_to(to, x), to)
            } else {
                int_bits(scalar::f32_to_int(to, x), to)
            }
        }
        Elem::Int(v) => {
            if to.is_float() {
                encode_float(scalar::int_to_float(to, v), to)
            } else {
                int_bits(scalar::int_to_int(to, v), to)
            }
        }
    }
}

/// The exact `f32` value of the storage bits of a float of dtype `code` (a narrow float is
/// widened exactly; NaN codes give NaN). Integer codes give their value as `f32`.
#[no_mangle]
pub extern "C" fn tsr_widen_bits(bits: u32, code: u32) -> f32 {
    match decode(bits, dtype_of(code)) {
        Elem::Float(x) => x,
        Elem::Int(v) => v as f32,
    }
}

/// Rounds the `f32` result of arithmetic to the float dtype `code` as the interpreter does
/// ([`scalar::round_arith`]: nearest even, overflow to ±inf, or NaN for `f8e4m3`; NaN stays
/// NaN). The result is an `f32` holding a value of that dtype.
#[no_mangle]
pub extern "C" fn tsr_round_arith(x: f32, code: u32) -> f32 {
    scalar::round_arith(dtype_of(code), x)
}

/// The storage bits (in the low bits) of `x`, a value representable in the float dtype
/// `code` (as produced by [`tsr_round_arith`] or [`tsr_widen_bits`]), so the conversion is
/// exact.
#[no_mangle]
pub extern "C" fn tsr_narrow_bits(x: f32, code: u32) -> u32 {
    encode_float(x, dtype_of(code))
}

/// Widens the `n` `f16` values (storage bits) at `src` exactly to `f32` at `dst` (a weight
/// held in `f16` panels, widened once per tile by the matmul kernel): `vcvtph2ps` eight at
/// a time where the CPU has F16C, else `half`'s conversion; both exact, a NaN quieted.
/// Returns 0.
///
/// # Safety
///
/// `src` must be valid for reading `n` `u16` values and `dst` for writing `n` `f32`
/// values; the two must not overlap.
#[no_mangle]
pub unsafe extern "C" fn tsr_widen_f16_run(src: *const u16, dst: *mut f32, n: u64) -> u32 {
    let n = n as usize;
    // SAFETY: the caller guarantees both ranges (see above).
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts(src, n),
            std::slice::from_raw_parts_mut(dst, n),
        )
    };
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        if std::arch::is_x86_feature_detected!("f16c") && std::arch::is_x86_feature_detected!("avx")
        {
            // SAFETY: the CPU has F16C and AVX (checked just above).
            unsafe { widen_f16_f16c(src, dst) };
            return 0;
        }
    }
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = half::f16::from_bits(s).to_f32();
    }
    0
}

/// [`tsr_widen_f16_run`] with `vcvtph2ps`: eight values per instruction, the last `n % 8`
/// through `half`.
///
/// # Safety
///
/// The CPU must support F16C and AVX; `src` and `dst` have the same length.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[target_feature(enable = "f16c,avx")]
unsafe fn widen_f16_f16c(src: &[u16], dst: &mut [f32]) {
    use std::arch::x86_64::{__m128i, _mm256_cvtph_ps, _mm256_storeu_ps, _mm_loadu_si128};
    let whole = src.len().min(dst.len()) / 8 * 8;
    for i in (0..whole).step_by(8) {
        // SAFETY: `i + 8 <= whole` elements of both slices; unaligned loads and stores.
        unsafe {
            let h = _mm_loadu_si128(src.as_ptr().add(i).cast::<__m128i>());
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        }
    }
    for (d, &s) in dst[whole..].iter_mut().zip(&src[whole..]) {
        *d = half::f16::from_bits(s).to_f32();
    }
}

/// Every helper: its symbol and address, for a JIT to resolve calls of compiled code.
pub fn symbols() -> Vec<(&'static str, *const u8)> {
    let unary: [(&'static str, extern "C" fn(f32) -> f32); 9] = [
        ("tsr_exp_f32", tsr_exp_f32),
        ("tsr_log_f32", tsr_log_f32),
        ("tsr_rsqrt_f32", tsr_rsqrt_f32),
        ("tsr_tanh_f32", tsr_tanh_f32),
        ("tsr_sigmoid_f32", tsr_sigmoid_f32),
        ("tsr_gelu_f32", tsr_gelu_f32),
        ("tsr_gelu_tanh_f32", tsr_gelu_tanh_f32),
        ("tsr_silu_f32", tsr_silu_f32),
        ("tsr_erf_f32", tsr_erf_f32),
    ];
    let mut v: Vec<(&'static str, *const u8)> =
        unary.iter().map(|(s, f)| (*s, *f as *const u8)).collect();
    v.push(("tsr_pow_f32", tsr_pow_f32 as *const u8));
    v.push(("tsr_cast_bits", tsr_cast_bits as *const u8));
    v.push(("tsr_widen_bits", tsr_widen_bits as *const u8));
    v.push(("tsr_round_arith", tsr_round_arith as *const u8));
    v.push(("tsr_narrow_bits", tsr_narrow_bits as *const u8));
    v.push(("tsr_widen_f16_run", tsr_widen_f16_run as *const u8));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_f16_run_widening_is_exact_on_every_input() {
        // Every f16 bit pattern, from an odd offset so the run is not a multiple of 8 and
        // its start is not aligned (Miri: a short run through the fallback).
        let all: Vec<u16> = if cfg!(miri) {
            (0..64u16).map(|i| i.wrapping_mul(1031)).collect()
        } else {
            (0..=u16::MAX).collect()
        };
        let src = &all[3..];
        let mut dst = vec![0f32; src.len()];
        // SAFETY: both slices hold `src.len()` elements and do not overlap.
        let r = unsafe { tsr_widen_f16_run(src.as_ptr(), dst.as_mut_ptr(), src.len() as u64) };
        assert_eq!(r, 0);
        for (&h, &x) in src.iter().zip(&dst) {
            let want = half::f16::from_bits(h).to_f32();
            assert!(
                x.to_bits() == want.to_bits() || (x.is_nan() && want.is_nan()),
                "{h:#06x}: {x} vs {want}"
            );
        }
    }

    #[test]
    fn casts_follow_the_language_rules() {
        let f32c = DType::F32.code();
        let i8c = DType::I8.code();
        let e4 = DType::F8E4M3.code();
        // 300.0 as i8 saturates; as f8e4m3 rounds to 288.
        assert_eq!(tsr_cast_bits(300f32.to_bits(), f32c, i8c), 127);
        assert_eq!(
            tsr_widen_bits(tsr_cast_bits(300f32.to_bits(), f32c, e4), e4),
            288.0
        );
        // Arithmetic overflow of f8e4m3 is NaN, `as` saturates.
        assert!(tsr_round_arith(1000.0, e4).is_nan());
        assert_eq!(tsr_narrow_bits(448.0, e4), 0x7E);
        assert_eq!(tsr_widen_bits(0xFF, i8c), -1.0);
        // An unknown code is read as f32.
        assert_eq!(tsr_widen_bits(1.5f32.to_bits(), 99), 1.5);
    }

    #[test]
    fn every_helper_is_listed_once() {
        let s = symbols();
        let mut names: Vec<&str> = s.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 15);
        assert!(s.iter().all(|(_, p)| !p.is_null()));
    }
}
