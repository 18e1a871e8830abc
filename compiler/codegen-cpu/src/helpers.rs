//! Rust `extern "C"` functions that compiled kernels call for what is not lowered inline:
//! transcendental functions (computed in `f64` and rounded once, exactly as the reference
//! interpreter does) and dtype conversions through storage bits. Registered with the JIT
//! under their names; none of them panics.

use tessera_dialects::DType;
use tessera_tensor::convert;

/// The unary float helpers: graph op name, symbol, function.
pub(crate) const UNARY: &[(&str, &str, extern "C" fn(f32) -> f32)] = &[
    ("exp", "tsr_exp_f32", exp_f32),
    ("log", "tsr_log_f32", log_f32),
    ("rsqrt", "tsr_rsqrt_f32", rsqrt_f32),
    ("tanh", "tsr_tanh_f32", tanh_f32),
    ("sigmoid", "tsr_sigmoid_f32", sigmoid_f32),
    ("gelu", "tsr_gelu_f32", gelu_f32),
    ("gelu_tanh", "tsr_gelu_tanh_f32", gelu_tanh_f32),
    ("silu", "tsr_silu_f32", silu_f32),
    ("erf", "tsr_erf_f32", erf_f32),
];

/// The symbol of `pow`.
pub(crate) const POW: &str = "tsr_pow_f32";

/// The symbol of the generic element conversion.
pub(crate) const CAST: &str = "tsr_cast_bits";

/// The symbol of [`widen_bits`]: narrow float storage bits to their exact `f32` value.
pub(crate) const WIDEN: &str = "tsr_widen_bits";

/// The symbol of [`round_arith`]: IEEE rounding of an arithmetic result to a narrow float.
pub(crate) const ROUND: &str = "tsr_round_arith";

/// The symbol of [`narrow_bits`]: a value representable in a narrow float to its bits.
pub(crate) const NARROW: &str = "tsr_narrow_bits";

/// Every helper: symbol and address, for `JITBuilder::symbol`.
pub(crate) fn symbols() -> Vec<(&'static str, *const u8)> {
    let mut v: Vec<(&'static str, *const u8)> = UNARY
        .iter()
        .map(|(_, s, f)| (*s, *f as *const u8))
        .collect();
    v.push((POW, pow_f32 as *const u8));
    v.push((CAST, cast_bits as *const u8));
    v.push((WIDEN, widen_bits as *const u8));
    v.push((ROUND, round_arith as *const u8));
    v.push((NARROW, narrow_bits as *const u8));
    v
}

extern "C" fn exp_f32(x: f32) -> f32 {
    (x as f64).exp() as f32
}

extern "C" fn log_f32(x: f32) -> f32 {
    (x as f64).ln() as f32
}

extern "C" fn rsqrt_f32(x: f32) -> f32 {
    (1.0 / (x as f64).sqrt()) as f32
}

extern "C" fn tanh_f32(x: f32) -> f32 {
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

extern "C" fn sigmoid_f32(x: f32) -> f32 {
    sigmoid(x as f64) as f32
}

extern "C" fn gelu_f32(x: f32) -> f32 {
    let d = x as f64;
    (0.5 * d * (1.0 + libm::erf(d / std::f64::consts::SQRT_2))) as f32
}

extern "C" fn gelu_tanh_f32(x: f32) -> f32 {
    let d = x as f64;
    let k = (2.0 / std::f64::consts::PI).sqrt();
    (0.5 * d * (1.0 + (k * (d + 0.044715 * d * d * d)).tanh())) as f32
}

extern "C" fn silu_f32(x: f32) -> f32 {
    let d = x as f64;
    (d * sigmoid(d)) as f32
}

extern "C" fn erf_f32(x: f32) -> f32 {
    libm::erf(x as f64) as f32
}

extern "C" fn pow_f32(a: f32, b: f32) -> f32 {
    (a as f64).powf(b as f64) as f32
}

/// The dtype code used by [`cast_bits`]: the position in [`DType::ALL`].
pub(crate) fn dtype_code(d: DType) -> u32 {
    DType::ALL.iter().position(|x| *x == d).unwrap_or(0) as u32
}

fn dtype_of(code: u32) -> DType {
    DType::ALL.get(code as usize).copied().unwrap_or(DType::F32)
}

/// An element as the interpreter holds it: a float value or an integer value.
enum Elem {
    Float(f32),
    Int(i64),
}

fn decode(bits: u32, d: DType) -> Elem {
    match d {
        DType::F32 => Elem::Float(f32::from_bits(bits)),
        DType::F16 => Elem::Float(convert::f16_bits_to_f32(bits as u16)),
        DType::BF16 => Elem::Float(convert::bf16_bits_to_f32(bits as u16)),
        DType::F8E4M3 => Elem::Float(convert::f8e4m3_to_f32(bits as u8)),
        DType::F8E5M2 => Elem::Float(convert::f8e5m2_to_f32(bits as u8)),
        DType::I8 => Elem::Int(i64::from(bits as u8 as i8)),
        DType::I32 => Elem::Int(i64::from(bits as i32)),
        DType::Bool => Elem::Int(i64::from(bits as u8 != 0)),
    }
}

/// The storage bits of a float value already representable in `d` (or of an integer).
pub(crate) fn encode_float(x: f32, d: DType) -> u32 {
    match d {
        DType::F32 => x.to_bits(),
        DType::F16 => u32::from(convert::f32_to_f16_bits(x)),
        DType::BF16 => u32::from(convert::f32_to_bf16_bits(x)),
        DType::F8E4M3 => u32::from(convert::f32_to_f8e4m3(x)),
        DType::F8E5M2 => u32::from(convert::f32_to_f8e5m2(x)),
        DType::I8 => u32::from(x as i32 as i8 as u8),
        DType::I32 => x as i32 as u32,
        DType::Bool => u32::from(x != 0.0),
    }
}

/// Converts one element from dtype `from` to dtype `to` (codes of [`dtype_code`]), storage
/// bits in and out, as `graph.cast` does (DSL §7).
pub(crate) extern "C" fn cast_bits(bits: u32, from: u32, to: u32) -> u32 {
    let (from, to) = (dtype_of(from), dtype_of(to));
    match decode(bits, from) {
        Elem::Float(x) => {
            if to.is_float() {
                encode_float(convert::round_to(to, x), to)
            } else {
                int_bits(convert::f32_to_int(to, x), to)
            }
        }
        Elem::Int(v) => {
            if to.is_float() {
                encode_float(convert::int_to_float(to, v), to)
            } else {
                int_bits(convert::int_to_int(to, v), to)
            }
        }
    }
}

fn int_bits(v: i32, to: DType) -> u32 {
    match to {
        DType::I8 | DType::Bool => u32::from(v as i8 as u8),
        _ => v as u32,
    }
}

/// The exact `f32` value of the storage bits of a float of dtype `code` (a narrow float is
/// widened exactly; NaN codes give NaN). Integer codes give their value as `f32`.
pub(crate) extern "C" fn widen_bits(bits: u32, code: u32) -> f32 {
    match decode(bits, dtype_of(code)) {
        Elem::Float(x) => x,
        Elem::Int(v) => v as f32,
    }
}

/// Rounds the `f32` result of arithmetic to the float dtype `code` as the interpreter does
/// ([`convert::round_arith`]: nearest even, overflow to ±inf, or NaN for `f8e4m3`; NaN
/// stays NaN). The result is an `f32` holding a value of that dtype.
pub(crate) extern "C" fn round_arith(x: f32, code: u32) -> f32 {
    convert::round_arith(dtype_of(code), x)
}

/// The storage bits (in the low bits) of `x`, a value representable in the float dtype
/// `code` (as produced by [`round_arith`] or [`widen_bits`]), so the conversion is exact.
pub(crate) extern "C" fn narrow_bits(x: f32, code: u32) -> u32 {
    encode_float(x, dtype_of(code))
}
