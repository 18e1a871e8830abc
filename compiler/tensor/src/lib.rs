//! Host tensors of every DSL dtype, exact dtype conversions, and tensor file I/O.

pub mod convert;
mod tensor;

pub use convert::{cast, round_to};
pub use tensor::{element_count, Data, Tensor, TensorError};
