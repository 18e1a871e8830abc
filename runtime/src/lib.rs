//! The Tessera runtime: what compiled code needs at run time, and nothing of the compiler.
//!
//! - [`dtype`]: the dtype codes of the C ABI,
//! - [`buffer`]: the tensor descriptor [`TsrTensor`], safe views over it, and a
//!   64-byte-aligned owned buffer,
//! - [`arena`]: one 64-byte-aligned allocation for the intermediates of a call,
//! - [`pool`]: the persistent thread pool that runs a kernel's grid,
//! - [`affinity`]: opt-in pinning of the pool's threads to CPUs,
//! - [`error`]: error codes and the thread-local last-error message,
//! - [`cancel`]: cooperative cancellation of a running call, between kernel launches,
//! - [`capi`]: the `extern "C"` entry points declared in `include/tessera_runtime.h`,
//! - [`scalar`]: exact conversions between the dtypes (shared with the compiler),
//! - [`kernel_helpers`]: the scalar functions compiled kernels call (`tsr_exp_f32`, ...),
//! - [`plan`] and [`exec`]: a compiled function's launch plan, its binary form, and
//!   running it (argument checks, sizes, the arena, each kernel's grid on the pool).
//!
//! Architecture invariant: this crate depends on no other Tessera crate (not even
//! `tessera-dialects`, whose dtypes it mirrors with its own codes), and on no external crate
//! but `half`, `libm` and `core_affinity`.

pub mod affinity;
pub mod arena;
pub mod buffer;
pub mod cancel;
pub mod capi;
pub mod check;
pub mod dtype;
pub mod error;
pub mod exec;
pub mod kernel_helpers;
pub mod plan;
pub mod pool;
pub mod scalar;

pub use arena::Arena;
pub use buffer::{
    AlignedBuf, Element, HostTensor, TensorMut, TensorRef, TsrTensor, ALIGN, MAX_RANK,
};
pub use dtype::DType;
pub use error::{Error, ErrorCode, Result};
pub use pool::ThreadPool;

/// The version of the C ABI described by `include/tessera_runtime.h`; bumped on every
/// incompatible change. Generated code checks it with `tsr_abi_version()`.
pub const ABI_VERSION: u32 = 1;
