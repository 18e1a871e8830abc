//! The host tensor: a dtype, a shape and C-order elements.

use tessera_dialects::DType;

/// Element storage. Float dtypes (`f32`, `f16`, `bf16`, `f8e4m3`, `f8e5m2`) are held as
/// `f32` values that are exactly representable in the dtype; `i8`, `i32` and `bool` are
/// held as `i32` values in the dtype's range (`bool` as 0 or 1).
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Float(Vec<f32>),
    Int(Vec<i32>),
}

/// A tensor on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    data: Data,
}

/// Errors of tensor construction and I/O.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TensorError {
    #[error("shape {shape:?} holds {expected} elements but {actual} were given")]
    ElementCount {
        shape: Vec<usize>,
        expected: usize,
        actual: usize,
    },
    #[error("a {dtype} tensor cannot hold {kind} data")]
    StorageKind { dtype: DType, kind: &'static str },
    #[error("{0}")]
    Format(String),
}

impl Tensor {
    /// Builds a tensor; `data` must match the dtype's storage class and hold one value per element.
    /// Values are not rounded: use [`Tensor::from_f32`] for that.
    pub fn new(dtype: DType, shape: Vec<usize>, data: Data) -> Result<Tensor, TensorError> {
        let expected: usize = shape.iter().product();
        let (actual, ok, kind) = match &data {
            Data::Float(v) => (v.len(), dtype.is_float(), "float"),
            Data::Int(v) => (v.len(), !dtype.is_float(), "integer"),
        };
        if !ok {
            return Err(TensorError::StorageKind { dtype, kind });
        }
        if actual != expected {
            return Err(TensorError::ElementCount {
                shape,
                expected,
                actual,
            });
        }
        Ok(Tensor { dtype, shape, data })
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn into_data(self) -> Data {
        self.data
    }

    /// The float elements, for float dtypes.
    pub fn floats(&self) -> Option<&[f32]> {
        match &self.data {
            Data::Float(v) => Some(v),
            Data::Int(_) => None,
        }
    }

    /// The integer elements, for `i8`, `i32` and `bool`.
    pub fn ints(&self) -> Option<&[i32]> {
        match &self.data {
            Data::Int(v) => Some(v),
            Data::Float(_) => None,
        }
    }
}
