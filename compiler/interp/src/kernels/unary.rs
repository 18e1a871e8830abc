//! Elementwise unary functions. Floats: computed in `f32` (`neg abs relu recip sqrt`) or in
//! `f64` rounded once (`exp log rsqrt tanh sigmoid gelu gelu_tanh silu erf`), then rounded
//! to the dtype. Integers (`neg abs relu` only): wrapping, `i8` wraps to `i8`.

use super::out::{elems, from_f32, from_i32, Elems};
use super::KResult;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

/// An elementwise unary function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Recip,
    Tanh,
    Sigmoid,
    Relu,
    Gelu,
    GeluTanh,
    Silu,
    Erf,
}

impl UnaryOp {
    /// Whether the function is defined on integers.
    pub fn accepts_int(self) -> bool {
        matches!(self, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu)
    }
}

/// The function on one `f32` value (before rounding to a narrower dtype).
pub fn apply_f32(op: UnaryOp, x: f32) -> f32 {
    let d = x as f64;
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Exp => d.exp() as f32,
        UnaryOp::Log => d.ln() as f32,
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => (1.0 / d.sqrt()) as f32,
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Tanh => d.tanh() as f32,
        UnaryOp::Sigmoid => sigmoid(d) as f32,
        UnaryOp::Relu => {
            if x.is_nan() || x > 0.0 {
                x
            } else {
                0.0
            }
        }
        // x Phi(x) = x/2 erfc(-x / sqrt 2): no cancellation in the negative tail, where
        // 1 + erf(x / sqrt 2) loses every digit below x = -5.9 (and gave 0).
        // Both gelus take their limit `-0` at `-inf` (not `-inf * 0`), as `silu` does.
        UnaryOp::Gelu | UnaryOp::GeluTanh if d == f64::NEG_INFINITY => -0.0,
        UnaryOp::Gelu => (0.5 * d * libm::erfc(-d / std::f64::consts::SQRT_2)) as f32,
        // x/2 (1 + tanh(u)) = x sigmoid(2u): `1 + tanh(u)` cancels completely once tanh
        // rounds to -1 (every result below x = -7.1 was -0, and 0.7% off at -7).
        UnaryOp::GeluTanh => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            (d * sigmoid(2.0 * k * (d + 0.044715 * d * d * d))) as f32
        }
        UnaryOp::Silu => silu(d) as f32,
        UnaryOp::Erf => libm::erf(d) as f32,
    }
}

/// `1 / (1 + e^-x)`, without overflow for large negative `x`.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `x sigmoid(x)`, with its limit `-0` at `-inf` (not `-inf * 0`).
fn silu(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        -0.0
    } else {
        x * sigmoid(x)
    }
}

/// The function on one integer (wrapping), for `neg`, `abs` and `relu`.
pub fn apply_i32(op: UnaryOp, x: i32) -> Option<i32> {
    match op {
        UnaryOp::Neg => Some(x.wrapping_neg()),
        UnaryOp::Abs => Some(x.wrapping_abs()),
        UnaryOp::Relu => Some(x.max(0)),
        _ => None,
    }
}

/// Applies `op` to every element of `x`; the result has `x`'s dtype and shape.
pub fn unary(op: UnaryOp, x: &Tensor) -> KResult<Tensor> {
    let dtype = x.dtype();
    let shape = x.shape().to_vec();
    match elems(x) {
        Elems::Float(v) => from_f32(dtype, shape, v.iter().map(|&a| apply_f32(op, a)).collect()),
        Elems::Int(v) => {
            if dtype == DType::Bool || !op.accepts_int() {
                let need = if op.accepts_int() { "numeric" } else { "float" };
                return Err(format!("the operand must be {need}, got {dtype}"));
            }
            let r = v.iter().map(|&a| apply_i32(op, a).unwrap_or(0)).collect();
            from_i32(dtype, shape, r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_functions() {
        assert_eq!(apply_f32(UnaryOp::Relu, -2.0), 0.0);
        assert!(apply_f32(UnaryOp::Relu, f32::NAN).is_nan());
        assert_eq!(apply_f32(UnaryOp::Sigmoid, 0.0), 0.5);
        assert_eq!(apply_f32(UnaryOp::Sigmoid, -1000.0), 0.0);
        assert_eq!(apply_f32(UnaryOp::Sigmoid, 1000.0), 1.0);
        assert_eq!(apply_f32(UnaryOp::Gelu, 0.0), 0.0);
        // The negative tail: -6 Phi(-6) = -5.91953e-9, not 0.
        let g = apply_f32(UnaryOp::Gelu, -6.0);
        assert!((g / -5.919_526e-9 - 1.0).abs() < 1e-6, "{g:e}");
        // gelu_tanh's tail (mpmath): no cancellation down to the smallest normal results.
        for (x, want) in [
            (-6.0, -8.439_647e-11),
            (-7.0, -2.315_442_3e-15),
            (-8.0, -3.107_783e-21),
            (-10.0, -1.204_092_3e-37),
        ] {
            let g = apply_f32(UnaryOp::GeluTanh, x);
            assert!(
                (g / want - 1.0).abs() < 1e-6,
                "gelu_tanh({x}) = {g:e}, want {want:e}"
            );
        }
        for op in [UnaryOp::Gelu, UnaryOp::GeluTanh] {
            let g = apply_f32(op, f32::NEG_INFINITY);
            assert!(g == 0.0 && g.is_sign_negative(), "{op:?}(-inf) = {g}");
            assert_eq!(apply_f32(op, f32::INFINITY), f32::INFINITY);
            assert!(apply_f32(op, f32::NAN).is_nan());
        }
        let s = apply_f32(UnaryOp::Silu, f32::NEG_INFINITY);
        assert!(s == 0.0 && s.is_sign_negative());
        assert!(apply_f32(UnaryOp::Silu, f32::NAN).is_nan());
        assert_eq!(apply_i32(UnaryOp::Abs, i32::MIN), Some(i32::MIN));
    }
}
