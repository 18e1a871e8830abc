//! Result-type inference for every `graph` operation (symbolic shapes, NumPy rules).
//!
//! Used by the front end's type checker (which turns [`InferError`] into a diagnostic on
//! the offending operand) and by the verifier (which checks printed result types).

use crate::attr::Attrs;
use crate::graph::GraphOp;
use crate::types::TensorType;

/// Why an operation's operands or attributes do not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferError {
    /// The operand at fault, when one is.
    pub operand: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

/// Computes the result types of `op` from its operand types and attributes.
pub fn infer(op: GraphOp, attrs: &Attrs, operands: &[TensorType]) -> Result<Vec<TensorType>, InferError> {
    let _ = (op, attrs, operands);
    Err(InferError {
        operand: None,
        message: "type inference is not written yet".into(),
        hint: None,
    })
}
