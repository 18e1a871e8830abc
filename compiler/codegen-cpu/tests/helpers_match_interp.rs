//! The runtime's scalar transcendental helpers (`tsr_exp_f32` ... `tsr_erf_f32`, which
//! the CPU back end calls for narrow floats and scalar code) compute exactly what the
//! interpreter, the oracle, computes: bit for bit (NaN equals NaN) over a sweep of every
//! binade and the edges (signed zeros, infinities, NaN, tails where a naive form cancels).

use tessera_interp::kernels::unary::{apply_f32, UnaryOp};
use tessera_runtime::kernel_helpers as h;

fn sweep() -> Vec<f32> {
    let mut xs = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        1e-45,
    ];
    // Every binade from 2^-30 to 2^8, both signs, a few mantissas each; and the gelu tails.
    for e in -30..=8 {
        for m in [1.0f32, 1.1, 1.5, 1.9] {
            let x = m * 2f32.powi(e);
            xs.extend([x, -x]);
        }
    }
    xs.extend((0..400).map(|i| -2.0 - i as f32 * 0.02));
    xs
}

#[test]
fn runtime_helpers_match_the_interpreter_bit_for_bit() {
    let ops: [(UnaryOp, extern "C" fn(f32) -> f32, &str); 9] = [
        (UnaryOp::Exp, h::tsr_exp_f32, "exp"),
        (UnaryOp::Log, h::tsr_log_f32, "log"),
        (UnaryOp::Rsqrt, h::tsr_rsqrt_f32, "rsqrt"),
        (UnaryOp::Tanh, h::tsr_tanh_f32, "tanh"),
        (UnaryOp::Sigmoid, h::tsr_sigmoid_f32, "sigmoid"),
        (UnaryOp::Gelu, h::tsr_gelu_f32, "gelu"),
        (UnaryOp::GeluTanh, h::tsr_gelu_tanh_f32, "gelu_tanh"),
        (UnaryOp::Silu, h::tsr_silu_f32, "silu"),
        (UnaryOp::Erf, h::tsr_erf_f32, "erf"),
    ];
    for (op, helper, name) in ops {
        for x in sweep() {
            let (want, got) = (apply_f32(op, x), helper(x));
            let same = (want.is_nan() && got.is_nan()) || want.to_bits() == got.to_bits();
            assert!(same, "{name}({x:e}): helper {got:e}, interpreter {want:e}");
        }
    }
}
