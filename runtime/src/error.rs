//! Error codes of the C ABI, the Rust error type, and the thread-local last-error message.
//!
//! Every fallible entry point returns an [`ErrorCode`] (0 is success) and, on failure,
//! stores a message that `tsr_last_error()` returns on the same thread. A success does not
//! clear the message (as with `errno`): read it only after a failure.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::fmt;

/// A status code returned across the C ABI (`TSR_OK`, ... in the header).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Success.
    Ok = 0,
    /// A null pointer, a malformed descriptor, an out-of-range argument.
    BadArgument = 1,
    /// A tensor's rank or a dimension differs from the signature, or a symbolic size is
    /// bound to two different values.
    ShapeMismatch = 2,
    /// A tensor's dtype differs from the signature.
    DtypeMismatch = 3,
    /// An allocation failed or a size does not fit in memory.
    OutOfMemory = 4,
    /// A bug in the runtime or in generated code (including a panic caught at the C ABI).
    Internal = 5,
    /// A task of a parallel grid panicked; the grid was stopped.
    TaskPanicked = 6,
    /// The caller cancelled the call (see [`crate::cancel`]) between two kernel launches;
    /// the outputs hold no result.
    Cancelled = 7,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::Ok,
        ErrorCode::BadArgument,
        ErrorCode::ShapeMismatch,
        ErrorCode::DtypeMismatch,
        ErrorCode::OutOfMemory,
        ErrorCode::Internal,
        ErrorCode::TaskPanicked,
        ErrorCode::Cancelled,
    ];

    /// The code as returned across the ABI.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code with this number, if any.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The header's name without the `TSR_` prefix (`OK`, `BAD_ARGUMENT`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Ok => "OK",
            ErrorCode::BadArgument => "BAD_ARGUMENT",
            ErrorCode::ShapeMismatch => "SHAPE_MISMATCH",
            ErrorCode::DtypeMismatch => "DTYPE_MISMATCH",
            ErrorCode::OutOfMemory => "OUT_OF_MEMORY",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::TaskPanicked => "TASK_PANICKED",
            ErrorCode::Cancelled => "CANCELLED",
        }
    }
}

/// A runtime error: a code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure; never [`ErrorCode::Ok`].
    pub code: ErrorCode,
    /// What went wrong, naming the parameter, dimension or size involved.
    pub message: String,
}

/// The runtime's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        debug_assert_ne!(code, ErrorCode::Ok, "an error needs a failure code");
        Error {
            code,
            message: message.into(),
        }
    }

    /// [`ErrorCode::BadArgument`].
    pub fn bad_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::BadArgument, message)
    }

    /// [`ErrorCode::OutOfMemory`].
    pub fn out_of_memory(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::OutOfMemory, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Stores `err`'s message as this thread's last error and returns its code.
pub fn set_last_error(err: &Error) -> i32 {
    // A message with an interior NUL would be cut short in C; replace the NULs instead.
    let text = err.message.replace('\0', "\\0");
    let c = CString::new(text).unwrap_or_default();
    // `try_with` fails only while the thread is being torn down; the code is still returned.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = c);
    err.code.code()
}

/// This thread's last error message (empty when none was set).
pub fn last_error_message() -> String {
    LAST_ERROR
        .try_with(|slot| slot.borrow().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Forgets this thread's last error.
pub fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = CString::default());
}

/// A pointer to this thread's last error message as a C string, valid until the next call
/// into the runtime on this thread (which may replace the message).
pub(crate) fn last_error_ptr() -> *const c_char {
    const EMPTY: &std::ffi::CStr = c"";
    LAST_ERROR
        // The CString lives in the thread-local until replaced; its heap buffer does not
        // move when the RefCell is borrowed, so the pointer stays valid until then.
        .try_with(|slot| slot.borrow().as_ptr())
        .unwrap_or(EMPTY.as_ptr())
}

/// The message of a panic payload (`&str` or `String`; anything else is "unknown").
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_pinned() {
        let pinned: Vec<(i32, &str)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.code(), c.name()))
            .collect();
        assert_eq!(
            pinned,
            vec![
                (0, "OK"),
                (1, "BAD_ARGUMENT"),
                (2, "SHAPE_MISMATCH"),
                (3, "DTYPE_MISMATCH"),
                (4, "OUT_OF_MEMORY"),
                (5, "INTERNAL"),
                (6, "TASK_PANICKED"),
                (7, "CANCELLED"),
            ]
        );
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ErrorCode::from_code(-1), None);
    }

    #[test]
    fn last_error_is_per_thread() {
        clear_last_error();
        assert_eq!(last_error_message(), "");
        let code = set_last_error(&Error::bad_argument("parameter `x` is null"));
        assert_eq!(code, 1);
        assert_eq!(last_error_message(), "parameter `x` is null");
        std::thread::spawn(|| assert_eq!(last_error_message(), ""))
            .join()
            .unwrap();
        assert_eq!(last_error_message(), "parameter `x` is null");
        clear_last_error();
        assert_eq!(last_error_message(), "");
    }

    #[test]
    fn interior_nul_is_escaped() {
        set_last_error(&Error::new(ErrorCode::Internal, "a\0b"));
        assert_eq!(last_error_message(), "a\\0b");
    }

    #[test]
    fn display_names_the_code() {
        let e = Error::new(ErrorCode::ShapeMismatch, "dim 0");
        assert_eq!(e.to_string(), "SHAPE_MISMATCH: dim 0");
    }

    #[test]
    fn panic_messages() {
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(&*p), "boom 1");
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(&*p), "static");
        let p = std::panic::catch_unwind(|| std::panic::panic_any(3u8)).unwrap_err();
        assert_eq!(panic_message(&*p), "unknown panic payload");
    }
}
