//! Host tensors of every DSL dtype, exact dtype conversions, and tensor file I/O.

pub mod convert;
pub mod npy;
pub mod random;
mod raw;
mod tensor;

pub use convert::{cast, round_to};
pub use npy::{read_npy, read_npy_file, write_npy, write_npy_file, NpyError};
pub use tensor::{element_count, Data, Tensor, TensorError};
