//! The reference interpreter: runs graph IR on host tensors with NumPy semantics.
//!
//! It is the numerical oracle every backend is tested against, so it favours exactness
//! and clear semantics over speed (while keeping contiguous loops and precomputed strides).
//! [`run_func`] checks the inputs against the signature, binds symbolic sizes, evaluates the
//! body in order and checks every result against its declared type. The kernels are public
//! in [`kernels`]; their module documentation states the numerics (`f64` accumulation,
//! one rounding per result, wrapping integers, floor division).

mod attrs;
mod bind;
mod error;
mod exec;
pub mod kernels;

pub use error::InterpError;
pub use exec::{run_func, MAX_CALL_DEPTH};
