//! The scalar helper functions compiled kernels call (transcendentals in `f64` rounded once,
//! conversions through storage bits): their symbols and dtype codes. The functions live in
//! the runtime ([`tessera_runtime::kernel_helpers`]) so that ahead-of-time artifacts link
//! them from the runtime library; the JIT resolves the same symbols to the same code.

use tessera_dialects::DType;
use tessera_runtime::kernel_helpers as rt;

/// The unary float helpers: graph op name, symbol, function.
pub(crate) const UNARY: &[(&str, &str, extern "C" fn(f32) -> f32)] = &[
    ("exp", "tsr_exp_f32", rt::tsr_exp_f32),
    ("log", "tsr_log_f32", rt::tsr_log_f32),
    ("rsqrt", "tsr_rsqrt_f32", rt::tsr_rsqrt_f32),
    ("tanh", "tsr_tanh_f32", rt::tsr_tanh_f32),
    ("sigmoid", "tsr_sigmoid_f32", rt::tsr_sigmoid_f32),
    ("gelu", "tsr_gelu_f32", rt::tsr_gelu_f32),
    ("gelu_tanh", "tsr_gelu_tanh_f32", rt::tsr_gelu_tanh_f32),
    ("silu", "tsr_silu_f32", rt::tsr_silu_f32),
    ("erf", "tsr_erf_f32", rt::tsr_erf_f32),
];

/// The symbol of `pow`.
pub(crate) const POW: &str = "tsr_pow_f32";

/// The symbol of the generic element conversion ([`rt::tsr_cast_bits`]).
pub(crate) const CAST: &str = "tsr_cast_bits";

/// The symbol of [`widen_bits`]: narrow float storage bits to their exact `f32` value.
pub(crate) const WIDEN: &str = "tsr_widen_bits";

/// The symbol of [`rt::tsr_round_arith`]: IEEE rounding of an arithmetic result to a
/// narrow float.
pub(crate) const ROUND: &str = "tsr_round_arith";

/// The symbol of [`rt::tsr_narrow_bits`]: a value representable in a narrow float to its
/// bits.
pub(crate) const NARROW: &str = "tsr_narrow_bits";

/// The symbol of [`rt::tsr_widen_f16_run`]: a run of `f16` values widened to `f32`
/// (`vcvtph2ps` where the CPU has F16C).
pub(crate) const WIDEN_F16_RUN: &str = "tsr_widen_f16_run";

/// Every helper: symbol and address, for `JITBuilder::symbol`.
pub(crate) fn symbols() -> Vec<(&'static str, *const u8)> {
    rt::symbols()
}

/// The dtype code the helpers take: the runtime's ABI code.
pub(crate) fn dtype_code(d: DType) -> u32 {
    tessera_tensor::convert::runtime_dtype(d).code()
}

/// The exact `f32` value of storage bits (see [`rt::tsr_widen_bits`]), for constant folding.
pub(crate) fn widen_bits(bits: u32, code: u32) -> f32 {
    rt::tsr_widen_bits(bits, code)
}

/// The storage bits of a float value already representable in `d` (or of an integer).
pub(crate) fn encode_float(x: f32, d: DType) -> u32 {
    rt::encode_float(x, tessera_tensor::convert::runtime_dtype(d))
}
