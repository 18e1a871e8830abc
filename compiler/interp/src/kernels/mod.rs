//! Reference kernels on host tensors, one module per topic. Every kernel checks its
//! operands (dtypes, ranks, sizes) and returns a message instead of panicking; the
//! evaluator adds the operation's name and location.
//!
//! Numerics (the contract every backend is compared against):
//! - Float inputs of any float dtype are read as `f32` values; each result is computed in
//!   `f32` (`+ - * /`, comparisons, `max`/`min`) or in `f64` rounded once to `f32`
//!   (transcendentals, `pow`, `rsqrt`), then rounded to the result dtype with
//!   [`tessera_tensor::convert::round_arith`] (IEEE: overflow gives inf, or NaN for
//!   f8e4m3; only `cast` and `quantize` saturate).
//! - Accumulations (sums, means, contractions, convolutions, normalisation statistics,
//!   softmax denominators, average pooling) run in `f64` and are rounded once at the end:
//!   more accurate than NumPy's `f32` pairwise sums.
//! - Integers: `i32` arithmetic wraps; `i8` results wrap to `i8`; `i8` contractions
//!   accumulate in wrapping `i32` and give `i32`; integer division is floor division with
//!   `x / 0 == 0`.

pub mod binary;
pub mod conv;
pub mod einsum;
pub mod elementwise;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod out;
pub mod pool;
pub mod quant;
pub mod reduce;
pub mod unary;
pub mod walk;

/// A kernel's result: the tensor, or a message.
pub type KResult<T> = Result<T, String>;
