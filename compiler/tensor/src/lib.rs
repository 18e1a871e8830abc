//! Host tensors of every DSL dtype, exact dtype conversions, and tensor file I/O.

mod tensor;

pub use tensor::{Data, Tensor, TensorError};
