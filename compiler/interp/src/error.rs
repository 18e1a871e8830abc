//! The interpreter's error: a message, the location of the operation (or function) at
//! fault, and the parameter for input problems.

use std::fmt;
use tessera_dialects::Loc;

/// Why a function could not be run. Library code never panics: malformed IR, bad inputs
/// and runtime shape problems all end here.
#[derive(Clone, Debug, PartialEq)]
pub struct InterpError {
    /// What went wrong, starting with the operation's name where one is at fault
    /// (`graph.matmul: contracted sizes differ: 784 vs 785`).
    pub message: String,
    /// The operation's location, or the function's for input problems.
    pub loc: Loc,
    /// The parameter at fault, for input problems (wrong dtype, rank or size).
    pub param: Option<String>,
}

impl InterpError {
    pub fn new(message: impl Into<String>, loc: Loc) -> InterpError {
        InterpError {
            message: message.into(),
            loc,
            param: None,
        }
    }

    /// An input problem of parameter `param`.
    pub fn input(message: impl Into<String>, loc: Loc, param: &str) -> InterpError {
        InterpError {
            message: message.into(),
            loc,
            param: Some(param.to_string()),
        }
    }
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InterpError {}
