//! The reference interpreter: runs graph IR on host tensors with NumPy semantics.
//!
//! It is the numerical oracle every backend is tested against, so it favours exactness
//! and clear semantics over speed (while keeping contiguous loops and precomputed strides).
//! [`run_func`] checks the inputs against the signature, binds symbolic sizes, evaluates the
//! body in order and checks every result against its declared type. The kernels are public
//! in [`kernels`]; their module documentation states the numerics (`f64` accumulation,
//! one rounding per result, wrapping integers, floor division).
//!
//! [`run_kernel`] runs a `tile.kernel` on host buffers with the same numerics; its
//! semantics (binding, scratch buffers, masking, `tile.dot` rounding) are in [`tile`].

mod attrs;
mod bind;
mod error;
mod exec;
pub mod kernels;
pub mod tile;

pub use error::InterpError;
pub use exec::{run_func, MAX_CALL_DEPTH};
pub use tile::run_kernel;

/// Checks `inputs` against `func`'s signature (count, dtypes, ranks, symbolic sizes)
/// without running it: the same checks, and errors, as [`run_func`].
pub fn check_inputs(
    func: &tessera_dialects::Func,
    inputs: &[tessera_tensor::Tensor],
) -> Result<(), InterpError> {
    bind::bind_inputs(func, inputs).map(|_| ())
}
