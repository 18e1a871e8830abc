//! The host tensor: a dtype, a shape and C-order elements.

use crate::convert;
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
    #[error("cannot reshape a tensor of shape {from:?} ({from_count} elements) to {to:?} ({to_count} elements)")]
    Reshape {
        from: Vec<usize>,
        from_count: usize,
        to: Vec<usize>,
        to_count: usize,
    },
    #[error("shape {shape:?} has too many elements")]
    TooLarge { shape: Vec<usize> },
    #[error("a tensor of shape {shape:?} needs {bytes} bytes, more than can be allocated")]
    Alloc { shape: Vec<usize>, bytes: u128 },
    #[error("{0}")]
    Format(String),
}

/// The number of elements of `shape`, or `None` when it overflows `usize`.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl Tensor {
    /// Builds a tensor; `data` must match the dtype's storage class and hold one value per element.
    /// To keep the invariant, values are normalised with `as` semantics: floats are rounded to
    /// the dtype (a no-op for values already representable, and for `f32`), `i8` saturates and
    /// `bool` becomes 0 or 1.
    pub fn new(dtype: DType, shape: Vec<usize>, data: Data) -> Result<Tensor, TensorError> {
        let expected = element_count(&shape).ok_or(TensorError::TooLarge {
            shape: shape.clone(),
        })?;
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
        let data = match data {
            Data::Float(mut v) => {
                if dtype != DType::F32 {
                    for x in v.iter_mut() {
                        *x = convert::round_to(dtype, *x);
                    }
                }
                Data::Float(v)
            }
            Data::Int(mut v) => {
                if dtype != DType::I32 {
                    for x in v.iter_mut() {
                        *x = convert::int_to_int(dtype, i64::from(*x));
                    }
                }
                Data::Int(v)
            }
        };
        Ok(Tensor { dtype, shape, data })
    }

    /// Builds a tensor whose data is known to satisfy the invariant (crate-internal).
    pub(crate) fn from_parts_unchecked(dtype: DType, shape: Vec<usize>, data: Data) -> Tensor {
        debug_assert_eq!(
            match &data {
                Data::Float(v) => v.len(),
                Data::Int(v) => v.len(),
            },
            shape.iter().product::<usize>()
        );
        Tensor { dtype, shape, data }
    }

    /// Builds a tensor of any dtype from `f32` values, converting each with `as` semantics
    /// (DSL §7: round to nearest even, saturate; integers round half to even, NaN → 0;
    /// `bool` is "not zero").
    pub fn from_f32(
        dtype: DType,
        shape: Vec<usize>,
        values: Vec<f32>,
    ) -> Result<Tensor, TensorError> {
        let data = if dtype.is_float() {
            let mut values = values;
            if dtype != DType::F32 {
                for v in values.iter_mut() {
                    *v = convert::round_to(dtype, *v);
                }
            }
            Data::Float(values)
        } else {
            Data::Int(
                values
                    .iter()
                    .map(|&x| convert::f32_to_int(dtype, x))
                    .collect(),
            )
        };
        Tensor::new(dtype, shape, data)
    }

    /// Builds a tensor of any dtype from `i32` values, converting each with `as` semantics
    /// (one rounding to float dtypes; `i8` saturates; `bool` is "not zero").
    pub fn from_i32(
        dtype: DType,
        shape: Vec<usize>,
        values: Vec<i32>,
    ) -> Result<Tensor, TensorError> {
        let data = if dtype.is_float() {
            Data::Float(
                values
                    .iter()
                    .map(|&x| convert::int_to_float(dtype, i64::from(x)))
                    .collect(),
            )
        } else {
            let mut values = values;
            if dtype != DType::I32 {
                for v in values.iter_mut() {
                    *v = convert::int_to_int(dtype, i64::from(*v));
                }
            }
            Data::Int(values)
        };
        Tensor::new(dtype, shape, data)
    }

    /// A 0-d tensor holding `value` converted to `dtype` with `as` semantics.
    pub fn scalar_f32(dtype: DType, value: f32) -> Tensor {
        let data = if dtype.is_float() {
            Data::Float(vec![convert::round_to(dtype, value)])
        } else {
            Data::Int(vec![convert::f32_to_int(dtype, value)])
        };
        Tensor {
            dtype,
            shape: Vec::new(),
            data,
        }
    }

    /// A 0-d tensor holding `value` converted to `dtype` with `as` semantics.
    pub fn scalar_i32(dtype: DType, value: i32) -> Tensor {
        let data = if dtype.is_float() {
            Data::Float(vec![convert::int_to_float(dtype, i64::from(value))])
        } else {
            Data::Int(vec![convert::int_to_int(dtype, i64::from(value))])
        };
        Tensor {
            dtype,
            shape: Vec::new(),
            data,
        }
    }

    /// A tensor of zeros (`false` for `bool`).
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Tensor, TensorError> {
        let n = element_count(&shape).ok_or(TensorError::TooLarge {
            shape: shape.clone(),
        })?;
        // Allocated fallibly: a size no allocator can give is an error, not an abort.
        fn zeroed<T: Clone>(n: usize, zero: T) -> Option<Vec<T>> {
            let mut v = Vec::new();
            v.try_reserve_exact(n).ok()?;
            v.resize(n, zero);
            Some(v)
        }
        let alloc = |elem: usize| TensorError::Alloc {
            shape: shape.clone(),
            bytes: n as u128 * elem as u128,
        };
        let data = if dtype.is_float() {
            Data::Float(zeroed(n, 0.0).ok_or_else(|| alloc(std::mem::size_of::<f32>()))?)
        } else {
            Data::Int(zeroed(n, 0).ok_or_else(|| alloc(std::mem::size_of::<i32>()))?)
        };
        Ok(Tensor { dtype, shape, data })
    }

    /// `self as to` (DSL §7); see [`convert::cast`].
    pub fn cast(&self, to: DType) -> Tensor {
        convert::cast(self, to)
    }

    /// Every element as `f32`: float dtypes exactly, integers rounded to nearest even
    /// (exact for `i8`, `bool` and `i32` up to 2^24 in magnitude).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            Data::Float(v) => v.clone(),
            Data::Int(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// Every element as `f64` (exact for every dtype).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            Data::Float(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::Int(v) => v.iter().map(|&x| f64::from(x)).collect(),
        }
    }

    /// Every element as `i32` with `as i32` semantics: floats round half to even, saturate,
    /// NaN → 0; integers and `bool` exactly.
    pub fn to_i32_vec(&self) -> Vec<i32> {
        match &self.data {
            Data::Float(v) => v
                .iter()
                .map(|&x| convert::f32_to_int(DType::I32, x))
                .collect(),
            Data::Int(v) => v.clone(),
        }
    }

    /// Every element as `i64`: integers and `bool` exactly; floats round half to even,
    /// saturate to the `i64` range, NaN → 0.
    pub fn to_i64_vec(&self) -> Vec<i64> {
        match &self.data {
            Data::Float(v) => v.iter().map(|&x| x.round_ties_even() as i64).collect(),
            Data::Int(v) => v.iter().map(|&x| i64::from(x)).collect(),
        }
    }

    /// The same elements with another shape of the same element count.
    /// The same elements with another shape of the same element count, without copying.
    pub fn into_shape(self, shape: &[usize]) -> Result<Tensor, TensorError> {
        match element_count(shape) {
            Some(n) if n == self.len() => Ok(Tensor {
                dtype: self.dtype,
                shape: shape.to_vec(),
                data: self.data,
            }),
            Some(to_count) => Err(TensorError::Reshape {
                from: self.shape.clone(),
                from_count: self.len(),
                to: shape.to_vec(),
                to_count,
            }),
            None => Err(TensorError::TooLarge {
                shape: shape.to_vec(),
            }),
        }
    }

    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor, TensorError> {
        let to_count = element_count(shape).ok_or(TensorError::TooLarge {
            shape: shape.to_vec(),
        })?;
        if to_count != self.len() {
            return Err(TensorError::Reshape {
                from: self.shape.clone(),
                from_count: self.len(),
                to: shape.to_vec(),
                to_count,
            });
        }
        Ok(Tensor {
            dtype: self.dtype,
            shape: shape.to_vec(),
            data: self.data.clone(),
        })
    }

    /// C-order strides in elements (the last axis has stride 1; 0-d tensors have none).
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1usize; self.shape.len()];
        for i in (0..self.shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].saturating_mul(self.shape[i + 1]);
        }
        strides
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_f32_rounds_into_every_dtype() {
        let t = Tensor::from_f32(DType::F8E4M3, vec![3], vec![1000.0, 0.3, -0.0]).unwrap();
        assert_eq!(t.floats().unwrap(), &[448.0, 0.3125, -0.0]);
        let t = Tensor::from_f32(DType::I8, vec![4], vec![2.5, 3.5, -200.0, f32::NAN]).unwrap();
        assert_eq!(t.ints().unwrap(), &[2, 4, -128, 0]);
        let t = Tensor::from_f32(DType::Bool, vec![3], vec![0.0, f32::NAN, -2.0]).unwrap();
        assert_eq!(t.ints().unwrap(), &[0, 1, 1]);
        assert!(matches!(
            Tensor::from_f32(DType::F32, vec![2, 2], vec![1.0]),
            Err(TensorError::ElementCount {
                expected: 4,
                actual: 1,
                ..
            })
        ));
        assert!(matches!(
            Tensor::from_f32(DType::F32, vec![usize::MAX, 3], vec![]),
            Err(TensorError::TooLarge { .. })
        ));
    }

    #[test]
    fn new_keeps_the_invariant() {
        let t = Tensor::new(DType::F16, vec![2], Data::Float(vec![1e6, 0.1])).unwrap();
        assert_eq!(
            t.floats().unwrap(),
            &[65504.0, convert::round_to(DType::F16, 0.1)]
        );
        let t = Tensor::new(DType::Bool, vec![2], Data::Int(vec![5, 0])).unwrap();
        assert_eq!(t.ints().unwrap(), &[1, 0]);
        let t = Tensor::new(DType::I8, vec![1], Data::Int(vec![-999])).unwrap();
        assert_eq!(t.ints().unwrap(), &[-128]);
        assert!(matches!(
            Tensor::new(DType::I8, vec![1], Data::Float(vec![1.0])),
            Err(TensorError::StorageKind { .. })
        ));
    }

    #[test]
    fn from_i32_and_scalars() {
        let t = Tensor::from_i32(DType::I8, vec![3], vec![300, -5, -300]).unwrap();
        assert_eq!(t.ints().unwrap(), &[127, -5, -128]);
        let t = Tensor::from_i32(DType::F16, vec![2], vec![70000, 3]).unwrap();
        assert_eq!(t.floats().unwrap(), &[65504.0, 3.0]);
        let t = Tensor::from_i32(DType::Bool, vec![2], vec![7, 0]).unwrap();
        assert_eq!(t.ints().unwrap(), &[1, 0]);
        let s = Tensor::scalar_f32(DType::BF16, 1.0 + 2f32.powi(-8));
        assert_eq!(s.shape(), &[] as &[usize]);
        assert_eq!(s.floats().unwrap(), &[1.0]);
        assert_eq!(Tensor::scalar_i32(DType::I8, 1000).ints().unwrap(), &[127]);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn views_and_shapes() {
        let t = Tensor::from_f32(
            DType::F32,
            vec![2, 3],
            vec![0.5, 1.5, 2.5, -0.5, 1e10, f32::NAN],
        )
        .unwrap();
        assert_eq!(t.strides(), vec![3, 1]);
        assert_eq!(t.to_i32_vec(), vec![0, 2, 2, 0, i32::MAX, 0]);
        assert_eq!(t.to_i64_vec(), vec![0, 2, 2, 0, 10_000_000_000, 0]);
        let r = t.reshape(&[3, 2]).unwrap();
        assert_eq!(r.shape(), &[3, 2]);
        assert_eq!(r.strides(), vec![2, 1]);
        assert!(matches!(t.reshape(&[4]), Err(TensorError::Reshape { .. })));
        assert_eq!(
            Tensor::scalar_f32(DType::F32, 1.0).strides(),
            Vec::<usize>::new()
        );
        let z = Tensor::zeros(DType::I32, vec![2, 0, 3]).unwrap();
        assert!(z.is_empty());
        assert_eq!(z.strides(), vec![0, 3, 1]);
        let z = Tensor::zeros(DType::F16, vec![2]).unwrap();
        assert_eq!(z.to_f32_vec(), vec![0.0, 0.0]);
        let i = Tensor::from_i32(DType::I32, vec![2], vec![-7, 16777217]).unwrap();
        assert_eq!(i.to_f32_vec(), vec![-7.0, 16777216.0]);
        assert_eq!(i.to_f64_vec(), vec![-7.0, 16777217.0]);
        assert_eq!(i.to_i64_vec(), vec![-7, 16777217]);
    }
}
