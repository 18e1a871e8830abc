//! Host tensors of every DSL dtype, exact dtype conversions, and tensor file I/O.

pub mod convert;
pub mod format;
mod json_keys;
pub mod npy;
pub mod random;
mod raw;
pub mod read;
pub mod safetensors_io;
pub mod staged;
mod tensor;

pub use convert::{cast, round_to};
pub use format::{describe, format_tensor};
pub use npy::{read_npy, read_npy_file, write_npy, write_npy_file, NpyError};
pub use safetensors_io::{
    read_safetensors, read_safetensors_file, write_safetensors, write_safetensors_file,
    SafetensorsError,
};
pub use tensor::{element_count, Data, Tensor, TensorError};
