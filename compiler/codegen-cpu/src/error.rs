//! The errors of the CPU back end: unsupported IR, malformed IR, Cranelift failures and
//! run-time argument checks. Library code returns them; it never panics.

use thiserror::Error;

/// An error of compiling or running a kernel on the CPU.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodegenError {
    /// Valid tile IR outside the subset this back end compiles (see the crate docs).
    #[error("unsupported in the CPU back end: {0}")]
    Unsupported(String),
    /// IR that breaks the tile dialect's rules (the verifier should have caught it).
    #[error("invalid tile IR: {0}")]
    Invalid(String),
    /// Cranelift rejected the generated function or could not be set up.
    #[error("cranelift: {0}")]
    Cranelift(String),
    /// The arguments of a run do not match the kernel's signature; nothing ran.
    #[error("bad kernel arguments: {0}")]
    Argument(String),
    /// The runtime (thread pool) failed, or a run-time check of the compiled code failed
    /// (a `tile.iota` value beyond `i32`); the outputs of that run are not to be used
    /// (`run_tensors` leaves its tensors unchanged).
    #[error("runtime: {0}")]
    Runtime(String),
    /// The run could not allocate memory for its intermediate values (or their sizes
    /// overflow); nothing ran. Callers that know the operations say which value is largest.
    #[error("runtime: {0}")]
    OutOfMemory(String),
}

/// The result type of this crate.
pub type Result<T, E = CodegenError> = std::result::Result<T, E>;

/// Shorthand for an [`CodegenError::Unsupported`] error.
pub(crate) fn unsupported<T>(what: impl Into<String>) -> Result<T> {
    Err(CodegenError::Unsupported(what.into()))
}

/// Shorthand for an [`CodegenError::Invalid`] error.
pub(crate) fn invalid<T>(what: impl Into<String>) -> Result<T> {
    Err(CodegenError::Invalid(what.into()))
}

impl CodegenError {
    /// The same error with `context` (`kernel `k` (from ...)`) before its message.
    pub fn in_kernel(self, context: &str) -> CodegenError {
        match self {
            CodegenError::Unsupported(m) => CodegenError::Unsupported(format!("{context}: {m}")),
            CodegenError::Invalid(m) => CodegenError::Invalid(format!("{context}: {m}")),
            CodegenError::Cranelift(m) => CodegenError::Cranelift(format!("{context}: {m}")),
            CodegenError::Argument(m) => CodegenError::Argument(format!("{context}: {m}")),
            CodegenError::Runtime(m) => CodegenError::Runtime(format!("{context}: {m}")),
            CodegenError::OutOfMemory(m) => CodegenError::OutOfMemory(format!("{context}: {m}")),
        }
    }
}
