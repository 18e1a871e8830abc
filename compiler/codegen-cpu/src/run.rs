//! Running a compiled kernel: every argument check happens here, before any native code
//! runs, then the grid is split over the runtime's thread pool.
//!
//! # Why calling the native code is sound
//!
//! The compiled code ([`crate::lower`]) dereferences only:
//! 1. `buffers[i]` for `i < params.len()` and `sizes[j]` for `j < size_exprs.len()`: both
//!    arrays are built here with exactly those lengths;
//! 2. elements of global buffer `i` at coordinates `(c_0, .., c_{r-1})` with
//!    `0 <= c_a < dims[a]` on every axis (each row is masked on the outer axes and clipped
//!    on the last one before any access, or, with a strided or permuted last axis, each
//!    element is checked on every axis), i.e. at element offsets below `prod(dims)`. Here
//!    `dims` are the size-table values, and the run checks that the slice of buffer `i` has
//!    exactly `prod(dims) * elem_bytes` bytes (with checked arithmetic). Size-table values
//!    are limited to `|v| <= 2^36`; `tile.affine` results carry a static bound of at most
//!    2^62 (refused at compile time otherwise), index values with a bound above 2^38 are
//!    clamped to ±2^38 before addressing (such tiles lie wholly outside every buffer either
//!    way), and tile extents `t * stride` are at most 2^24, so no coordinate computation
//!    overflows `i64` and the unsigned compare `c < dim` is exact;
//! 3. the one element of a 0-d parameter (its slice must have exactly that many bytes);
//! 4. the frame, at static offsets below `frame_bytes` (slots and their loops are static),
//!    which the run allocates per task with 64-byte alignment and zeroes (the status word
//!    included, read back after the call);
//! 5. grid points `first .. last` within `0 .. prod(grid)`: the decomposition divides by
//!    grid sizes, which are all positive whenever the range is non-empty.
//!
//! The slices are borrowed mutably for the whole run, so nothing else touches them, and
//! `parallel_for` returns only after every task has returned. Grid points of one run may
//! execute on different threads: a kernel whose grid points store to the same elements
//! gives unspecified (but memory-safe) values there when run on more than one thread;
//! kernels of the tile dialect store disjoint tiles.

use crate::abi::ParamKind;
use crate::error::{CodegenError, Result};
use crate::jit::CompiledKernel;
use crate::tile_layout::elem_bytes;
use std::collections::BTreeMap;
use tessera_dialects::DType;
use tessera_runtime::pool;
use tessera_runtime::ThreadPool;
use tessera_tensor::{convert, Data, Tensor};

pub use tessera_runtime::exec::{MAX_GRID_POINTS, MAX_SIZE_VALUE};

fn arg_err<T>(m: impl Into<String>) -> Result<T> {
    Err(CodegenError::Argument(m.into()))
}

impl CompiledKernel {
    /// Evaluates the size table with `sizes` and checks it.
    fn size_values(&self, sizes: &BTreeMap<String, i64>) -> Result<Vec<i64>> {
        let sig = &self.signature;
        let mut out = Vec::with_capacity(sig.size_exprs.len());
        for e in &sig.size_exprs {
            let v = match e.eval_map(sizes) {
                Ok(v) => v,
                Err(err) => return arg_err(format!("kernel `{}`: size `{e}`: {err}", sig.name)),
            };
            if v.unsigned_abs() > MAX_SIZE_VALUE as u64 {
                return arg_err(format!(
                    "kernel `{}`: size `{e}` is {v}, beyond the supported ±{MAX_SIZE_VALUE}",
                    sig.name
                ));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// The number of grid points, checked.
    fn grid_points(&self, vals: &[i64]) -> Result<usize> {
        let sig = &self.signature;
        let mut total: i64 = 1;
        for &g in &sig.grid {
            let v = vals[g];
            if v < 0 {
                return arg_err(format!(
                    "kernel `{}`: grid size `{}` is {v}, which is negative",
                    sig.name, sig.size_exprs[g]
                ));
            }
            total = total.saturating_mul(v);
        }
        if total > MAX_GRID_POINTS {
            return arg_err(format!(
                "kernel `{}`: the grid has more than {MAX_GRID_POINTS} points",
                sig.name
            ));
        }
        Ok(total as usize)
    }

    /// The byte length parameter `i` must have (`None`: any, a private buffer).
    fn expected_bytes(&self, i: usize, vals: &[i64]) -> Result<Option<usize>> {
        let sig = &self.signature;
        let name = &sig.param_names[i];
        Ok(match &sig.params[i] {
            ParamKind::Global { dtype, dims } => {
                let mut n: usize = elem_bytes(*dtype) as usize;
                for &d in dims {
                    let v = vals[d];
                    let Ok(v) = usize::try_from(v) else {
                        return arg_err(format!(
                            "parameter {name}: dimension `{}` is {v}, which is negative",
                            sig.size_exprs[d]
                        ));
                    };
                    let Some(m) = n.checked_mul(v) else {
                        return arg_err(format!("parameter {name}: the buffer size overflows"));
                    };
                    n = m;
                }
                Some(n)
            }
            ParamKind::Scalar { dtype } => Some(elem_bytes(*dtype) as usize),
            ParamKind::Private { .. } => None,
        })
    }

    /// Runs the whole grid on the global thread pool (`TESSERA_NUM_THREADS` threads).
    pub fn run_bytes(
        &self,
        buffers: &mut [&mut [u8]],
        sizes: &BTreeMap<String, i64>,
    ) -> Result<()> {
        let pool = pool::global().map_err(|e| CodegenError::Runtime(e.to_string()))?;
        self.run_bytes_on(&pool, buffers, sizes)
    }

    /// Runs the whole grid on `pool`. `buffers[i]` is parameter `i` in the storage form of
    /// its dtype (dense, row-major; see [`crate::tile_layout::elem_bytes`]); its length must
    /// be exactly the declared shape's, evaluated with `sizes`. Private (scratch) buffers
    /// take any slice, which is neither read nor written. Byte buffers carry no dtype:
    /// [`CompiledKernel::run_tensors_on`] checks dtypes too.
    pub fn run_bytes_on(
        &self,
        pool: &ThreadPool,
        buffers: &mut [&mut [u8]],
        sizes: &BTreeMap<String, i64>,
    ) -> Result<()> {
        let sig = &self.signature;
        if buffers.len() != sig.params.len() {
            return arg_err(format!(
                "kernel `{}` takes {} buffers, got {}",
                sig.name,
                sig.params.len(),
                buffers.len()
            ));
        }
        let vals = self.size_values(sizes)?;
        let total = self.grid_points(&vals)?;
        for (i, b) in buffers.iter().enumerate() {
            if let Some(n) = self.expected_bytes(i, &vals)? {
                if b.len() != n {
                    return arg_err(format!(
                        "parameter {}: expects {n} bytes, got {}",
                        sig.param_names[i],
                        b.len()
                    ));
                }
            }
        }
        if total == 0 {
            return Ok(());
        }
        let ptrs: Vec<*mut u8> = buffers
            .iter_mut()
            .zip(&sig.params)
            .map(|(b, k)| match k {
                ParamKind::Private { .. } => std::ptr::null_mut(),
                _ => b.as_mut_ptr(),
            })
            .collect();
        let frame_bytes = sig.frame_bytes as usize;
        let status_at = sig.status_offset.map(|o| o as usize);
        // SAFETY: see the module documentation: `ptrs` and `vals` have the lengths the code
        // reads, every buffer length was checked against the size table, the status word
        // lies in the frame the lowering sized, and the grid has `total` points.
        let status = unsafe {
            tessera_runtime::exec::run_grid(
                pool,
                self.entry,
                &ptrs,
                &vals,
                total,
                frame_bytes,
                status_at,
            )
        }
        .map_err(|e| CodegenError::Runtime(e.to_string()))?;
        match status {
            0 => Ok(()),
            crate::lower::STATUS_IOTA_OVERFLOW => Err(CodegenError::Runtime(format!(
                "kernel `{}`: a tile.iota value does not fit in i32",
                sig.name
            ))),
            c => Err(CodegenError::Runtime(format!(
                "kernel `{}`: run-time check {c} failed",
                sig.name
            ))),
        }
    }

    /// Runs on host tensors on the global pool; see [`CompiledKernel::run_tensors_on`].
    pub fn run_tensors(&self, buffers: &mut [Tensor], sizes: &BTreeMap<String, i64>) -> Result<()> {
        let pool = pool::global().map_err(|e| CodegenError::Runtime(e.to_string()))?;
        self.run_tensors_on(&pool, buffers, sizes)
    }

    /// Runs on host tensors, as the tile interpreter binds them: a global buffer takes a
    /// tensor of its dtype and evaluated shape, a 0-d parameter a 0-d tensor, a private
    /// buffer a tensor of its type or an empty placeholder. Global buffers are updated in
    /// place; on error nothing ran and nothing changed.
    pub fn run_tensors_on(
        &self,
        pool: &ThreadPool,
        buffers: &mut [Tensor],
        sizes: &BTreeMap<String, i64>,
    ) -> Result<()> {
        let sig = &self.signature;
        if buffers.len() != sig.params.len() {
            return arg_err(format!(
                "kernel `{}` takes {} buffers, got {}",
                sig.name,
                sig.params.len(),
                buffers.len()
            ));
        }
        let vals = self.size_values(sizes)?;
        let mut bytes = Vec::with_capacity(buffers.len());
        for (i, (t, k)) in buffers.iter().zip(&sig.params).enumerate() {
            let name = &sig.param_names[i];
            let (dtype, shape) = match k {
                ParamKind::Global { dtype, dims } => {
                    let shape: Vec<i64> = dims.iter().map(|&d| vals[d]).collect();
                    (*dtype, shape)
                }
                ParamKind::Scalar { dtype } => (*dtype, Vec::new()),
                ParamKind::Private { dtype, shape } => {
                    let want: Vec<usize> = shape.clone();
                    if !t.is_empty() && (t.dtype() != *dtype || t.shape() != want.as_slice()) {
                        return arg_err(format!(
                            "parameter {name}: expects a {dtype} {want:?} tensor or an empty placeholder, got {} {:?}",
                            t.dtype(),
                            t.shape()
                        ));
                    }
                    bytes.push(Vec::new());
                    continue;
                }
            };
            let same = t.dtype() == dtype
                && t.shape().len() == shape.len()
                && t.shape().iter().zip(&shape).all(|(&a, &b)| a as i64 == b);
            if !same {
                return arg_err(format!(
                    "parameter {name}: expects a {dtype} tensor of shape {shape:?}, got {} {:?}",
                    t.dtype(),
                    t.shape()
                ));
            }
            bytes.push(to_bytes(t));
        }
        let mut views: Vec<&mut [u8]> = bytes.iter_mut().map(|b| b.as_mut_slice()).collect();
        self.run_bytes_on(pool, &mut views, sizes)?;
        for ((t, k), b) in buffers.iter_mut().zip(&sig.params).zip(&bytes) {
            if let ParamKind::Global { dtype, .. } = k {
                let shape = t.shape().to_vec();
                *t = Tensor::new(*dtype, shape, from_bytes(*dtype, b))
                    .map_err(|e| CodegenError::Runtime(format!("internal error: {e}")))?;
            }
        }
        Ok(())
    }
}

/// A tensor's elements in storage form (little-endian bytes).
pub fn to_bytes(t: &Tensor) -> Vec<u8> {
    let d = t.dtype();
    let mut out = Vec::with_capacity(t.len() * elem_bytes(d) as usize);
    match t.data() {
        Data::Float(v) => {
            for &x in v {
                match d {
                    DType::F32 => out.extend_from_slice(&x.to_le_bytes()),
                    DType::F16 => out.extend_from_slice(&convert::f32_to_f16_bits(x).to_le_bytes()),
                    DType::BF16 => {
                        out.extend_from_slice(&convert::f32_to_bf16_bits(x).to_le_bytes())
                    }
                    DType::F8E4M3 => out.push(convert::f32_to_f8e4m3(x)),
                    _ => out.push(convert::f32_to_f8e5m2(x)),
                }
            }
        }
        Data::Int(v) => {
            for &x in v {
                match d {
                    DType::I32 => out.extend_from_slice(&x.to_le_bytes()),
                    _ => out.push(x as i8 as u8),
                }
            }
        }
    }
    out
}

/// Elements in storage form back to tensor data.
pub fn from_bytes(d: DType, b: &[u8]) -> Data {
    match d {
        DType::F32 => Data::Float(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DType::F16 => Data::Float(
            b.chunks_exact(2)
                .map(|c| convert::f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        DType::BF16 => Data::Float(
            b.chunks_exact(2)
                .map(|c| convert::bf16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        DType::F8E4M3 => Data::Float(b.iter().map(|&c| convert::f8e4m3_to_f32(c)).collect()),
        DType::F8E5M2 => Data::Float(b.iter().map(|&c| convert::f8e5m2_to_f32(c)).collect()),
        DType::I32 => Data::Int(
            b.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DType::I8 => Data::Int(b.iter().map(|&c| i32::from(c as i8)).collect()),
        DType::Bool => Data::Int(b.iter().map(|&c| i32::from(c != 0)).collect()),
    }
}
