//! The native calling convention of a compiled kernel, and the kernel's *signature* as the
//! runner checks it.
//!
//! # The kernel ABI
//!
//! ```c
//! void kernel(uint8_t *const *buffers, const int64_t *sizes, uint8_t *frame,
//!             uint64_t first, uint64_t last);
//! ```
//! (`extern "C"`, the platform's C calling convention.)
//!
//! - `buffers[i]` is the data of parameter `i`: a dense row-major buffer in the storage
//!   form of its dtype (see [`crate::tile_layout::elem_bytes`]) for a global `buf<...>`, a
//!   pointer to the one element of a 0-d parameter (`%alpha: f32`), and ignored (may be
//!   null) for a `scratch`/`registers` buffer, which lives in the frame.
//! - `sizes` is the kernel's *size table* ([`Signature::size_exprs`]): first the value of
//!   every size name the kernel uses, in sorted order, then every other size expression
//!   (grid sizes, buffer dimensions, loop bounds) in the order of first use. The caller
//!   evaluates them; compiled code never divides.
//! - `frame` points to [`Signature::frame_bytes`] bytes, 64-byte aligned, private to the
//!   call (one per thread): the tiles live there. Its contents need not be initialised,
//!   except the `i64` *status word* at [`Signature::status_offset`] (when there is one),
//!   which must be 0 before the call; the code stores a non-zero error code there when a
//!   run-time check fails (an `tile.iota` value beyond `i32`) and the call's results are
//!   then not to be used.
//! - The call runs the grid points `first .. last` of the row-major flattened grid (last
//!   axis fastest), so a thread pool can split the grid into contiguous ranges.
//!
//! The compiled code trusts every pointer and size: the checks are the runner's
//! ([`crate::CompiledKernel::run_bytes`]).

use crate::error::{invalid, unsupported, Result};
use std::collections::BTreeSet;
use tessera_dialects::{Attr, DType, Func, MemSpace, Operation, SymExpr, TileOp, Type};

/// The native type of a compiled kernel.
pub type KernelFn = unsafe extern "C" fn(*const *mut u8, *const i64, *mut u8, u64, u64);

/// What one kernel parameter is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A global buffer: its dtype and the size-table entries of its dimensions.
    Global { dtype: DType, dims: Vec<usize> },
    /// A scratch or registers buffer, private to each grid point; lives in the frame.
    Private { dtype: DType, shape: Vec<usize> },
    /// A 0-d tensor parameter: one element.
    Scalar { dtype: DType },
}

/// A kernel's parameters and size table, as the caller must provide them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The kernel's name.
    pub name: String,
    /// The printed name of each parameter (`%x`), for messages.
    pub param_names: Vec<String>,
    pub params: Vec<ParamKind>,
    /// The size table: names (sorted) first, then other expressions in first-use order.
    pub size_exprs: Vec<SymExpr>,
    /// The number of leading entries of `size_exprs` that are plain names.
    pub n_names: usize,
    /// The size-table entries of the grid's axes.
    pub grid: Vec<usize>,
    /// Bytes of frame one call needs.
    pub frame_bytes: u64,
    /// The frame offset of the status word, if the kernel checks anything at run time.
    pub status_offset: Option<u64>,
}

/// Collects the size table of a kernel: every size name, sorted, then every expression.
pub(crate) struct SizeTable {
    pub exprs: Vec<SymExpr>,
    pub n_names: usize,
}

impl SizeTable {
    /// Builds the table of `func`: names of all expressions, then the expressions.
    pub fn of(func: &Func) -> Result<SizeTable> {
        let mut all = Vec::new();
        collect_exprs(func, &mut all)?;
        let names: BTreeSet<String> = all.iter().flat_map(|e| e.names()).collect();
        let mut exprs: Vec<SymExpr> = names.iter().map(|n| SymExpr::name(n)).collect();
        let n_names = exprs.len();
        for e in all {
            if !exprs.contains(&e) {
                exprs.push(e);
            }
        }
        Ok(SizeTable { exprs, n_names })
    }

    /// The entry of `e` (which [`SizeTable::of`] collected).
    pub fn index(&self, e: &SymExpr) -> Result<usize> {
        match self.exprs.iter().position(|x| x == e) {
            Some(i) => Ok(i),
            None => invalid(format!("size `{e}` is not in the kernel's size table")),
        }
    }
}

/// The grid attribute's expressions.
pub(crate) fn grid_exprs(func: &Func) -> Result<Vec<SymExpr>> {
    sizes_attr(func.attrs.get("grid"), "grid")
}

/// A size list attribute (`Ints` count as constants).
pub(crate) fn sizes_attr(a: Option<&Attr>, name: &str) -> Result<Vec<SymExpr>> {
    match a {
        Some(Attr::Sizes(v)) => Ok(v.clone()),
        Some(Attr::Ints(v)) => Ok(v.iter().map(|&c| SymExpr::lit(c)).collect()),
        Some(x) => invalid(format!("attribute `{name}` must be a size list, got `{x}`")),
        None => invalid(format!("missing attribute `{name}`")),
    }
}

/// Every size expression of the kernel in first-use order: grid, global buffer dims, loop
/// bounds, and the non-constant `value` of `tile.index` and `offset` of `tile.affine`
/// (depth-first, program order).
fn collect_exprs(func: &Func, out: &mut Vec<SymExpr>) -> Result<()> {
    out.extend(grid_exprs(func)?);
    for p in &func.params {
        if let Some(Type::Buffer(bt)) = func.values.get(p.index()).map(|d| &d.ty) {
            if bt.space == MemSpace::Global {
                out.extend(bt.elem.shape.iter().cloned());
            }
        }
    }
    fn walk(ops: &[Operation], out: &mut Vec<SymExpr>) -> Result<()> {
        for op in ops {
            match op.op {
                tessera_dialects::Op::Tile(TileOp::For) => {
                    out.extend(sizes_attr(op.attrs.get("bounds"), "bounds")?);
                }
                tessera_dialects::Op::Tile(TileOp::Index) => {
                    if let Some(v) = op.attrs.sizes("value") {
                        out.extend(v.iter().filter(|e| e.as_const().is_none()).cloned());
                    }
                }
                tessera_dialects::Op::Tile(TileOp::Affine) => {
                    if let Some(v) = op.attrs.sizes("offset") {
                        out.extend(v.iter().filter(|e| e.as_const().is_none()).cloned());
                    }
                }
                _ => {}
            }
            for r in &op.regions {
                walk(&r.ops, out)?;
            }
        }
        Ok(())
    }
    walk(&func.body.ops, out)
}

/// The printed name of parameter `i`.
pub(crate) fn param_name(func: &Func, i: usize) -> String {
    func.params
        .get(i)
        .and_then(|p| func.values.get(p.index()))
        .and_then(|d| d.name.clone())
        .map_or_else(|| format!("#{i}"), |n| format!("%{n}"))
}

/// Classifies the parameters of `func`.
pub(crate) fn param_kinds(func: &Func, table: &SizeTable) -> Result<Vec<ParamKind>> {
    let mut out = Vec::new();
    for (i, p) in func.params.iter().enumerate() {
        let ty = match func.values.get(p.index()) {
            Some(d) => &d.ty,
            None => return invalid(format!("parameter {i} is not in the value table")),
        };
        out.push(match ty {
            Type::Buffer(bt) if bt.space == MemSpace::Global => {
                if bt.elem.shape.is_empty() {
                    return unsupported(format!(
                        "parameter {}: 0-d buffers (use a 0-d tensor parameter)",
                        param_name(func, i)
                    ));
                }
                ParamKind::Global {
                    dtype: bt.elem.dtype,
                    dims: bt
                        .elem
                        .shape
                        .iter()
                        .map(|e| table.index(e))
                        .collect::<Result<_>>()?,
                }
            }
            Type::Buffer(bt) => {
                let shape = bt
                    .elem
                    .shape
                    .iter()
                    .map(|e| match e.as_const() {
                        Some(c) if c >= 0 => Ok(c as usize),
                        _ => unsupported(format!(
                            "parameter {}: a {} buffer of symbolic or negative size `{e}`",
                            param_name(func, i),
                            bt.space.name()
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?;
                if shape.is_empty() {
                    return unsupported(format!(
                        "parameter {}: 0-d {} buffers",
                        param_name(func, i),
                        bt.space.name()
                    ));
                }
                ParamKind::Private {
                    dtype: bt.elem.dtype,
                    shape,
                }
            }
            Type::Tensor(tt) if tt.rank() == 0 => ParamKind::Scalar { dtype: tt.dtype },
            other => {
                return invalid(format!(
                    "parameter {} has type `{other}`; a kernel parameter must be a buffer or a 0-d tensor",
                    param_name(func, i)
                ))
            }
        });
    }
    Ok(out)
}
