//! Where tiles live: every tile value (and every scratch buffer) gets a 64-byte-aligned
//! slot of static size in the kernel's *frame*, a per-thread block of memory passed to the
//! compiled function. Elements are dense and row-major, in the storage form of their dtype.

use crate::error::{invalid, unsupported, Result};
use cranelift_codegen::ir::types;
use cranelift_codegen::ir::Type as ClType;
use tessera_dialects::{DType, TileType};

/// The alignment of every slot and of the frame itself.
pub const SLOT_ALIGN: u32 = 64;

/// The largest frame a kernel may use (256 MiB): tiles are meant to fit in caches.
pub const MAX_FRAME_BYTES: u64 = 1 << 28;

/// Bytes per element in buffers and tiles: `f32`/`i32` 4, `f16`/`bf16` 2 (their bits),
/// `f8e4m3`/`f8e5m2`/`i8` 1, `bool` 1 (0 or 1).
pub fn elem_bytes(d: DType) -> u32 {
    match d {
        DType::F32 | DType::I32 => 4,
        DType::F16 | DType::BF16 => 2,
        DType::F8E4M3 | DType::F8E5M2 | DType::I8 | DType::Bool => 1,
    }
}

/// The integer type that holds one element's storage bits.
pub(crate) fn storage_type(d: DType) -> ClType {
    match elem_bytes(d) {
        4 => types::I32,
        2 => types::I16,
        _ => types::I8,
    }
}

/// The Cranelift type of an element value in arithmetic (`tile.map` regions), if this
/// back end computes on that dtype: `f32`, `i32`, and `i8`/`bool` as `i8`.
pub(crate) fn value_type(d: DType) -> Option<ClType> {
    match d {
        DType::F32 => Some(types::F32),
        DType::I32 => Some(types::I32),
        DType::I8 | DType::Bool => Some(types::I8),
        _ => None,
    }
}

/// The Cranelift type an element value is computed in: [`value_type`], and `f32` for the
/// narrow floats (`f16`, `bf16`, `f8e4m3`, `f8e5m2`), which are widened exactly on load and
/// rounded back to their dtype after each operation.
pub(crate) fn arith_type(d: DType) -> ClType {
    value_type(d).unwrap_or(types::F32)
}

/// Whether `d` is a float narrower than `f32` (held as `f32` in arithmetic).
pub(crate) fn is_narrow_float(d: DType) -> bool {
    d.is_float() && d != DType::F32
}

/// A tile's place in the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileSlot {
    /// Byte offset from the frame's start (a multiple of [`SLOT_ALIGN`]).
    pub offset: u32,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TileSlot {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tile has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per element.
    pub fn esz(&self) -> u32 {
        elem_bytes(self.dtype)
    }
}

/// The frame being laid out: slots are never reused in this first form.
#[derive(Debug, Default)]
pub struct Frame {
    size: u64,
}

impl Frame {
    /// The frame's total size in bytes (a multiple of [`SLOT_ALIGN`]).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A new slot for a tile of `dtype` and static `shape`.
    pub fn alloc(&mut self, dtype: DType, shape: &[usize]) -> Result<TileSlot> {
        let n = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
            .unwrap_or(u64::MAX);
        let bytes = n.saturating_mul(u64::from(elem_bytes(dtype)));
        let padded = bytes.div_ceil(u64::from(SLOT_ALIGN)) * u64::from(SLOT_ALIGN);
        let end = self.size.saturating_add(padded);
        if end > MAX_FRAME_BYTES {
            return unsupported(format!(
                "the kernel's tiles need more than {MAX_FRAME_BYTES} bytes of frame (a tile of {dtype} {shape:?})"
            ));
        }
        let slot = TileSlot {
            offset: self.size as u32,
            dtype,
            shape: shape.to_vec(),
        };
        self.size = end;
        Ok(slot)
    }

    /// A slot for a value of tile type `t`.
    pub fn alloc_tile(&mut self, t: &TileType) -> Result<TileSlot> {
        let shape = t
            .shape
            .iter()
            .map(|&d| {
                usize::try_from(d).or_else(|_| invalid(format!("tile size {d} is too large")))
            })
            .collect::<Result<Vec<_>>>()?;
        self.alloc(t.dtype, &shape)
    }
}
