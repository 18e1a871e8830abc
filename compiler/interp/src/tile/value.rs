//! Run-time values of a kernel: indices, tiles (host tensors of static shape), 0-d
//! tensors, and buffers; plus the host storage of a bound buffer.

use super::MAX_TILE_ELEMENTS;
use tessera_dialects::{DType, TileType, Type};
use tessera_tensor::{Data, Tensor};

/// The value of one SSA value while a kernel runs.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    /// A grid or loop index.
    Index(i64),
    /// A tile: dtype, static shape and elements.
    Tile(Tensor),
    /// A graph-level tensor: a 0-d kernel parameter, or inside a `tile.map` region the
    /// elements of the whole tile at once (see `exec::map`).
    Tensor(Tensor),
    /// A bound buffer: its position in the kernel's buffer table.
    Buf(usize),
}

impl Val {
    /// What the value is, for messages.
    pub(crate) fn kind(&self) -> String {
        match self {
            Val::Index(i) => format!("the index {i}"),
            Val::Tile(t) => format!("a tile of {} {:?}", t.dtype(), t.shape()),
            Val::Tensor(t) => format!("a {} tensor", t.dtype()),
            Val::Buf(_) => "a buffer".to_string(),
        }
    }
}

/// A buffer's storage while the kernel runs.
#[derive(Clone, Debug)]
pub(crate) struct HostBuf {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Data,
    /// Whether the buffer is private to each grid point (scratch or registers).
    pub private: bool,
}

impl HostBuf {
    /// A private buffer filled with the "undefined" pattern (NaN, or 0 for integers).
    pub(crate) fn poisoned(dtype: DType, shape: Vec<usize>) -> Result<HostBuf, String> {
        let n = checked_count(&shape)?;
        let data = if dtype.is_float() {
            Data::Float(vec![f32::NAN; n])
        } else {
            Data::Int(vec![0; n])
        };
        Ok(HostBuf {
            dtype,
            shape,
            data,
            private: true,
        })
    }

    /// Refills a private buffer with the "undefined" pattern.
    pub(crate) fn poison(&mut self) {
        match &mut self.data {
            Data::Float(v) => v.iter_mut().for_each(|x| *x = f32::NAN),
            Data::Int(v) => v.iter_mut().for_each(|x| *x = 0),
        }
    }
}

/// The element count of a tile or scratch shape, within [`MAX_TILE_ELEMENTS`].
pub(crate) fn checked_count(shape: &[usize]) -> Result<usize, String> {
    match tessera_tensor::element_count(shape) {
        Some(n) if n <= MAX_TILE_ELEMENTS => Ok(n),
        _ => Err(format!(
            "shape {shape:?} has more than {MAX_TILE_ELEMENTS} elements"
        )),
    }
}

/// The shape of a tile type as `usize`, within [`MAX_TILE_ELEMENTS`].
pub(crate) fn tile_shape(t: &TileType) -> Result<Vec<usize>, String> {
    let shape = t
        .shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("tile size {d} is too large")))
        .collect::<Result<Vec<_>, _>>()?;
    checked_count(&shape)?;
    Ok(shape)
}

/// Checks a computed value against the declared type of the value it defines.
pub(crate) fn check_val(ty: &Type, v: &Val) -> Result<(), String> {
    let ok = match (ty, v) {
        (Type::Index, Val::Index(_)) => true,
        (Type::Tile(tt), Val::Tile(t)) => {
            t.dtype() == tt.dtype
                && t.rank() == tt.shape.len()
                && t.shape()
                    .iter()
                    .zip(&tt.shape)
                    .all(|(&a, &b)| a as u64 == b)
        }
        // Region values of a map hold whole tiles; only the dtype is an element property.
        (Type::Tensor(tt), Val::Tensor(t)) => tt.rank() == 0 && t.dtype() == tt.dtype,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "is declared `{ty}` but the computed value is {}",
            v.kind()
        ))
    }
}
