//! Types of IR values: tensors (graph level), tiles and buffers (tile level), indices.

use crate::dtype::DType;
use crate::sym::SymExpr;
use std::fmt;

/// A tensor type `f32[B, 784]`; a rank-0 tensor prints as its bare dtype (`f32`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<SymExpr>,
}

impl TensorType {
    pub fn new(dtype: DType, shape: Vec<SymExpr>) -> TensorType {
        TensorType { dtype, shape }
    }

    pub fn scalar(dtype: DType) -> TensorType {
        TensorType {
            dtype,
            shape: Vec::new(),
        }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn with_dtype(&self, dtype: DType) -> TensorType {
        TensorType {
            dtype,
            shape: self.shape.clone(),
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dtype)?;
        if self.shape.is_empty() {
            return Ok(());
        }
        f.write_str("[")?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// Where a tile-level buffer lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemSpace {
    /// Main memory (CPU) or global memory (GPU).
    Global,
    /// An L1/L2-sized scratch tile (CPU) or shared memory (GPU).
    Scratch,
    /// Registers.
    Registers,
}

impl MemSpace {
    pub fn name(self) -> &'static str {
        match self {
            MemSpace::Global => "global",
            MemSpace::Scratch => "scratch",
            MemSpace::Registers => "registers",
        }
    }

    pub fn from_name(s: &str) -> Option<MemSpace> {
        [MemSpace::Global, MemSpace::Scratch, MemSpace::Registers]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// A tile: a small statically shaped block of elements, `tile<64x128xf32>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileType {
    pub dtype: DType,
    pub shape: Vec<u64>,
}

/// A buffer in memory holding a tensor, `buf<f32[M, K]>` (global) or `buf<f32[64, 64], scratch>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferType {
    pub elem: TensorType,
    pub space: MemSpace,
}

/// The type of an SSA value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    Tensor(TensorType),
    Tile(TileType),
    Buffer(BufferType),
    /// A grid or loop index.
    Index,
}

impl Type {
    pub fn as_tensor(&self) -> Option<&TensorType> {
        match self {
            Type::Tensor(t) => Some(t),
            _ => None,
        }
    }
}

impl From<TensorType> for Type {
    fn from(t: TensorType) -> Self {
        Type::Tensor(t)
    }
}

impl fmt::Display for TileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tile<")?;
        for d in &self.shape {
            write!(f, "{d}x")?;
        }
        write!(f, "{}>", self.dtype)
    }
}

impl fmt::Display for BufferType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.space {
            MemSpace::Global => write!(f, "buf<{}>", self.elem),
            s => write!(f, "buf<{}, {}>", self.elem, s.name()),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Tensor(t) => write!(f, "{t}"),
            Type::Tile(t) => write!(f, "{t}"),
            Type::Buffer(b) => write!(f, "{b}"),
            Type::Index => f.write_str("index"),
        }
    }
}
