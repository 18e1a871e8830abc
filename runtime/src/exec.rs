//! Running a [`Plan`]: check the arguments and bind the symbolic sizes, place the
//! intermediates in an arena, then run each kernel's grid on the thread pool.
//!
//! # The kernel ABI
//!
//! ```c
//! void kernel(uint8_t *const *buffers, const int64_t *sizes, uint8_t *frame,
//!             uint64_t first, uint64_t last);
//! ```
//! `buffers[i]` is the data of kernel parameter `i` (null for a private buffer, which lives
//! in the frame); `sizes` the launch's size table; `frame` [`LaunchSpec::frame_bytes`]
//! bytes, 64-byte aligned and zeroed, private to the call (one per thread), with an `i64`
//! status word at [`LaunchSpec::status_offset`] that the kernel sets to a non-zero
//! `STATUS_*` code when a run-time check fails; the call runs grid points `first .. last`
//! of the row-major flattened grid.
//!
//! # What the runner guarantees to the compiled code
//!
//! Compiled kernels trust their arguments; the runner establishes what they rely on:
//! every argument descriptor is well formed and matches the plan's dtype and shape (with
//! the symbolic sizes bound consistently); every size-table value is within
//! ±[`MAX_SIZE_VALUE`]; every buffer a kernel receives has exactly the bytes of the
//! dimensions the kernel sees it with; the grid has at most [`MAX_GRID_POINTS`] points; the
//! frame has the bytes the kernel asked for. That the plan and the kernels belong together
//! is the compiler's promise, which is why [`run_plan`] is `unsafe`.
//!
//! Intermediates live in a per-thread arena that grows as needed and is reused across
//! calls; two intermediates share memory when no launch uses both (first fit over their
//! live ranges). In debug builds intermediates and outputs are filled with `0xFF` bytes
//! (NaN for floats) before the launches, so a kernel that reads memory it did not write
//! shows up in tests.

use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::arena::Arena;
use crate::buffer::{TensorMut, TensorRef, TsrTensor, ALIGN};
use crate::error::{Error, ErrorCode, Result};
use crate::plan::{slice_bounds_error, BufSpec, KernelArg, LaunchSpec, Plan, SizeExpr, SizeOp};
use crate::pool::{self, part_range};

/// The native type of a compiled kernel.
pub type KernelFn = unsafe extern "C" fn(*const *mut u8, *const i64, *mut u8, u64, u64);

/// The largest magnitude of a size-table value.
pub const MAX_SIZE_VALUE: i64 = 1 << 36;

/// The most grid points one launch may have.
pub const MAX_GRID_POINTS: i64 = 1 << 31;

/// Status code: a `tile.iota` value does not fit in `i32`.
pub const STATUS_IOTA_OVERFLOW: i64 = 1;

thread_local! {
    /// The arena of the calls made on this thread.
    static ARENA: RefCell<Option<Arena>> = const { RefCell::new(None) };
}

/// Where a buffer's bytes are.
#[derive(Clone, Copy)]
struct Placed {
    ptr: *mut u8,
    bytes: usize,
}

/// Runs `plan` with `kernels` (the plan's kernel table) on `args` (inputs, then outputs, in
/// the plan's order).
///
/// # Safety
/// `kernels` must be the code the plan was compiled with (kernel `i` of the plan is
/// `kernels[i]`, with the size tables, frames and parameters the plan describes). Each
/// `args[i]` must be null or point to a descriptor valid as [`TensorRef::from_raw`] says;
/// the data of outputs must be writable. An output whose data overlaps another argument's
/// is refused.
pub unsafe fn run_plan(plan: &Plan, kernels: &[KernelFn], args: &[*const TsrTensor]) -> Result<()> {
    // SAFETY: forwarded.
    unsafe { run_plan_timed(plan, kernels, args, None) }
}

/// [`run_plan`], adding each launch's wall time in seconds to `timings[i]` (one entry per
/// launch of the plan) when given: the per-kernel profile of `tessera bench --profile`.
///
/// # Safety
/// As [`run_plan`].
pub unsafe fn run_plan_timed(
    plan: &Plan,
    kernels: &[KernelFn],
    args: &[*const TsrTensor],
    mut timings: Option<&mut [f64]>,
) -> Result<()> {
    if let Some(t) = &timings {
        if t.len() != plan.launches.len() {
            return Err(Error::bad_argument(format!(
                "{} timing slots for {} launches",
                t.len(),
                plan.launches.len()
            )));
        }
    }
    if kernels.len() != plan.n_kernels as usize {
        return Err(Error::new(
            ErrorCode::Internal,
            format!(
                "`{}` has {} kernels, {} were given",
                plan.name,
                plan.n_kernels,
                kernels.len()
            ),
        ));
    }
    if args.len() != plan.args.len() {
        return Err(Error::bad_argument(format!(
            "`{}` takes {} arguments ({} inputs and {} outputs), {} were given",
            plan.name,
            plan.args.len(),
            plan.args.iter().filter(|a| !a.output).count(),
            plan.args.iter().filter(|a| a.output).count(),
            args.len()
        )));
    }
    // SAFETY: forwarded from the caller's contract on `args`.
    let (arg_ptrs, values) = unsafe { bind_args(plan, args)? };
    let value = |e: u32| values[e as usize];
    let temp_bytes = |dims: &[u32], elem: usize| -> Result<usize> {
        let mut n = elem;
        for &d in dims {
            let v = usize::try_from(value(d)).map_err(|_| {
                Error::bad_argument(format!("a size of `{}` is negative", plan.name))
            })?;
            n = n
                .checked_mul(v)
                .ok_or_else(|| Error::out_of_memory("an intermediate's size overflows"))?;
        }
        Ok(n)
    };
    // Sizes of every buffer, then arena offsets of the temporaries.
    let mut sizes = Vec::with_capacity(plan.buffers.len());
    for b in &plan.buffers {
        sizes.push(match b {
            BufSpec::Arg(i) => arg_ptrs[*i as usize].bytes,
            BufSpec::Temp { dtype, dims } => temp_bytes(dims, dtype.size_bytes())?,
        });
    }
    let (offsets, arena_bytes) = place_temps(plan, &sizes)?;
    for l in &plan.launches {
        grid_points(plan, l, &values)?;
    }
    ARENA.with(|cell| {
        let mut slot = cell.borrow_mut();
        let arena = match &mut *slot {
            Some(a) => a,
            None => slot.insert(Arena::new(0)?),
        };
        arena.reserve(arena_bytes)?;
        let base = arena.base_ptr();
        let placed: Vec<Placed> = plan
            .buffers
            .iter()
            .enumerate()
            .map(|(i, b)| match b {
                BufSpec::Arg(a) => arg_ptrs[*a as usize],
                // SAFETY: `offsets[i] + sizes[i] <= arena_bytes`, the arena's size.
                BufSpec::Temp { .. } => Placed {
                    ptr: unsafe { base.add(offsets[i]) },
                    bytes: sizes[i],
                },
            })
            .collect();
        if cfg!(debug_assertions) {
            for (i, (b, p)) in plan.buffers.iter().zip(&placed).enumerate() {
                let is_output = match b {
                    BufSpec::Arg(a) => plan.args[*a as usize].output,
                    BufSpec::Temp { .. } => true,
                };
                if is_output && p.bytes > 0 && !plan.copies.iter().any(|(_, to)| *to as usize == i)
                {
                    // SAFETY: an output's or a temporary's own bytes, written by nobody else.
                    unsafe { std::ptr::write_bytes(p.ptr, 0xFF, p.bytes) };
                }
            }
        }
        for (i, l) in plan.launches.iter().enumerate() {
            if crate::cancel::requested() {
                return Err(Error::new(
                    ErrorCode::Cancelled,
                    "cancelled before kernel launch",
                ));
            }
            let start = timings.is_some().then(std::time::Instant::now);
            // SAFETY: the caller promises `kernels` match the plan; `launch` checks the rest.
            unsafe { launch(plan, l, kernels[l.kernel as usize], &placed, &values)? };
            if let (Some(t), Some(start)) = (timings.as_deref_mut(), start) {
                t[i] += start.elapsed().as_secs_f64();
            }
        }
        for (from, to) in &plan.copies {
            let (a, b) = (placed[*from as usize], placed[*to as usize]);
            if a.bytes != b.bytes {
                return Err(Error::new(
                    ErrorCode::Internal,
                    "a result copy's sizes differ",
                ));
            }
            // SAFETY: both ranges are buffers of the plan of `bytes` bytes; distinct buffers
            // do not overlap (arguments by the caller's contract, temporaries by placement).
            unsafe { std::ptr::copy(a.ptr, b.ptr, a.bytes) };
        }
        Ok(())
    })
}

/// Refuses an output whose data overlaps another argument's (an input's or another
/// output's): kernels read inputs after writing outputs, so an output in place of an
/// input, even partly, would give wrong results. Checked from the descriptors' headers,
/// before any view of the data exists; a descriptor whose header is bad is left to
/// [`bind_args`], which names the parameter.
///
/// # Safety
/// Each `args[i]` must be null or point to a descriptor whose header is readable, as
/// [`crate::buffer::descriptor_extent`] says.
unsafe fn check_no_overlap(plan: &Plan, args: &[*const TsrTensor]) -> Result<()> {
    let extents: Vec<Option<(usize, usize)>> = args
        .iter()
        // SAFETY: forwarded.
        .map(|&d| unsafe { crate::buffer::descriptor_extent(d) }.ok())
        .collect();
    for (i, (spec, e)) in plan.args.iter().zip(&extents).enumerate() {
        let Some((a, n)) = *e else { continue };
        if !spec.output || n == 0 {
            continue;
        }
        for (j, (other, f)) in plan.args.iter().zip(&extents).enumerate() {
            let Some((b, m)) = *f else { continue };
            if j == i || m == 0 || (other.output && j < i) {
                continue;
            }
            if a < b.saturating_add(m) && b < a.saturating_add(n) {
                let kind = if other.output { "output" } else { "input" };
                return Err(Error::bad_argument(format!(
                    "output `{}` overlaps {kind} `{}`: an output may not share memory with \
                     another argument",
                    spec.name, other.name
                )));
            }
        }
    }
    Ok(())
}

/// Binds the symbols from the shapes of the inputs (in the plan's order; the outputs are
/// not needed) and evaluates every size expression of the plan. Each input's rank and every
/// dimension are checked against the plan, naming the parameter.
pub fn size_values(plan: &Plan, input_shapes: &[&[i64]]) -> Result<Vec<i64>> {
    let inputs: Vec<&crate::plan::ArgSpec> = plan.args.iter().filter(|a| !a.output).collect();
    if input_shapes.len() != inputs.len() {
        return Err(Error::bad_argument(format!(
            "`{}` takes {} inputs, {} were given",
            plan.name,
            inputs.len(),
            input_shapes.len()
        )));
    }
    let mut syms: Vec<Option<i64>> = vec![None; plan.symbols.len()];
    let ty = |spec: &crate::plan::ArgSpec| render_type(plan, spec, None);
    for (spec, shape) in inputs.iter().zip(input_shapes) {
        if shape.len() != spec.dims.len() {
            return Err(Error::new(
                ErrorCode::ShapeMismatch,
                format!(
                    "parameter `{}`: expected {}, got a tensor of rank {}",
                    spec.name,
                    ty(spec),
                    shape.len()
                ),
            ));
        }
        for (d, (&e, &actual)) in spec.dims.iter().zip(shape.iter()).enumerate() {
            let e = &plan.exprs[e as usize];
            let mismatch = |want: i64| {
                Error::new(
                    ErrorCode::ShapeMismatch,
                    format!(
                        "parameter `{}`: dimension {d} is {actual}, expected {want} (the parameter is {})",
                        spec.name,
                        ty(spec)
                    ),
                )
            };
            if let Some(c) = e.as_const() {
                if c != actual {
                    return Err(mismatch(c));
                }
            } else if let Some(k) = e.as_sym() {
                match syms[k as usize] {
                    Some(v) if v != actual => {
                        return Err(Error::new(
                            ErrorCode::ShapeMismatch,
                            format!(
                                "parameter `{}`: dimension {d} is {actual}, but size `{}` is already {v}",
                                spec.name, plan.symbols[k as usize]
                            ),
                        ))
                    }
                    _ => syms[k as usize] = Some(actual),
                }
            }
        }
    }
    // Sizes are at least 1 (DSL.md): an input with an empty dimension is refused first;
    // inputs so small that an output or an intermediate would be empty (a window larger
    // than its input) below, before anything runs.
    for (spec, shape) in inputs.iter().zip(input_shapes) {
        if let Some(d) = shape.iter().position(|&v| v < 1) {
            return Err(Error::new(
                ErrorCode::ShapeMismatch,
                format!(
                    "parameter `{}`: dimension {d} is {}; sizes must be at least 1",
                    spec.name, shape[d]
                ),
            ));
        }
    }
    solve_dims(plan, &inputs, input_shapes, &mut syms);
    for (spec, shape) in inputs.iter().zip(input_shapes) {
        for (d, (&e, &actual)) in spec.dims.iter().zip(shape.iter()).enumerate() {
            let x = &plan.exprs[e as usize];
            if unbound_symbols(x, &syms).next().is_some() {
                return Err(Error::new(
                    ErrorCode::ShapeMismatch,
                    format!(
                        "parameter `{}`: dimension {d} is {actual}, and no size solves `{}` = {actual} (sizes are solved from dimensions of the form a*N + b; the parameter is {})",
                        spec.name,
                        x.render(&plan.symbols),
                        ty(spec)
                    ),
                ));
            }
        }
    }
    let values = plan
        .exprs
        .iter()
        .map(|e| e.eval(&syms, &plan.symbols))
        .collect::<Result<Vec<i64>>>()?;
    // Every input dimension against its expression, now that all sizes are known.
    for (spec, shape) in inputs.iter().zip(input_shapes) {
        for (d, (&e, &actual)) in spec.dims.iter().zip(shape.iter()).enumerate() {
            let want = values[e as usize];
            if want != actual {
                return Err(Error::new(
                    ErrorCode::ShapeMismatch,
                    format!(
                        "parameter `{}`: dimension {d} is {actual}, expected {want} (the parameter is {})",
                        spec.name,
                        ty(spec)
                    ),
                ));
            }
        }
    }
    // Slices over symbolic sizes, before the sizes they give are checked: the slice is
    // the reason, and its message says where it is.
    for c in &plan.slice_checks {
        let v = |e: u32| values[e as usize];
        if let Some(m) = slice_bounds_error(v(c.dim), v(c.start), v(c.end), c.axis as usize) {
            return Err(Error::new(
                ErrorCode::ShapeMismatch,
                format!("{}: {m}", c.what),
            ));
        }
    }
    let empty = |what: &str, dims: &[u32]| -> Result<()> {
        match dims.iter().position(|&e| values[e as usize] < 1) {
            Some(d) => Err(Error::new(
                ErrorCode::ShapeMismatch,
                format!(
                    "`{}`: with these inputs {what} would have size {} in dimension {d}; the inputs are too small for the function (sizes must be at least 1)",
                    plan.name,
                    values[dims[d] as usize]
                ),
            )),
            None => Ok(()),
        }
    };
    for a in plan.args.iter().filter(|a| a.output) {
        empty(&format!("output `{}`", a.name), &a.dims)?;
    }
    for b in &plan.buffers {
        if let BufSpec::Temp { dims, .. } = b {
            empty("an intermediate value", dims)?;
        }
    }
    Ok(values)
}

/// Binds the symbols that only input dimensions of the form `a * N + b` name (`f32[N + 1]`,
/// `f32[2 * N]`): each such dimension with one unbound symbol is solved for it, until no
/// more can be (a dimension no value of `N` gives stays unbound, and every dimension is
/// checked against its evaluated size afterwards).
fn solve_dims(
    plan: &Plan,
    inputs: &[&crate::plan::ArgSpec],
    input_shapes: &[&[i64]],
    syms: &mut [Option<i64>],
) {
    loop {
        let mut progress = false;
        for (spec, shape) in inputs.iter().zip(input_shapes) {
            for (&e, &actual) in spec.dims.iter().zip(shape.iter()) {
                let e = &plan.exprs[e as usize];
                let (k, more) = {
                    let mut unbound = unbound_symbols(e, syms);
                    let Some(k) = unbound.next() else { continue };
                    (k, unbound.any(|j| j != k))
                };
                if more {
                    continue;
                }
                if let Some(v) = solve_linear(e, k, actual, syms, &plan.symbols) {
                    syms[k] = Some(v);
                    progress = true;
                }
            }
        }
        if !progress {
            return;
        }
    }
}

/// The symbols of `e` that `syms` leaves unbound (with repeats).
fn unbound_symbols<'e>(
    e: &'e SizeExpr,
    syms: &'e [Option<i64>],
) -> impl Iterator<Item = usize> + 'e {
    e.0.iter().filter_map(|op| match op {
        SizeOp::Sym(k) if syms[*k as usize].is_none() => Some(*k as usize),
        _ => None,
    })
}

/// The non-negative `v` for which `e` (linear in symbol `k`, the others bound) equals
/// `target`, if there is one.
fn solve_linear(
    e: &SizeExpr,
    k: usize,
    target: i64,
    syms: &[Option<i64>],
    names: &[String],
) -> Option<i64> {
    let at = |v: i64| {
        let mut s = syms.to_vec();
        s[k] = Some(v);
        e.eval(&s, names).ok()
    };
    let (e0, e1, e2) = (at(0)?, at(1)?, at(2)?);
    let c = e1.checked_sub(e0)?;
    if c == 0 || e2.checked_sub(e1)? != c {
        return None;
    }
    let diff = target.checked_sub(e0)?;
    let v = diff.checked_div(c)?;
    if diff.checked_rem(c)? != 0 || v < 0 {
        return None;
    }
    (at(v)? == target).then_some(v)
}

/// The shapes of the outputs for inputs of these shapes.
pub fn output_shapes(plan: &Plan, input_shapes: &[&[i64]]) -> Result<Vec<Vec<i64>>> {
    let values = size_values(plan, input_shapes)?;
    Ok(plan
        .args
        .iter()
        .filter(|a| a.output)
        .map(|a| a.dims.iter().map(|&e| values[e as usize]).collect())
        .collect())
}

/// `f32[B, 784]`, with symbols by name (or their values, when given).
fn render_type(plan: &Plan, spec: &crate::plan::ArgSpec, values: Option<&[i64]>) -> String {
    let dims: Vec<String> = spec
        .dims
        .iter()
        .map(|&e| {
            let x = &plan.exprs[e as usize];
            match values {
                Some(v) => v[e as usize].to_string(),
                None => x.render(&plan.symbols),
            }
        })
        .collect();
    if dims.is_empty() {
        spec.dtype.name().to_string()
    } else {
        format!("{}[{}]", spec.dtype.name(), dims.join(", "))
    }
}

/// Checks every argument (descriptor, dtype, shape) and evaluates every size expression.
///
/// # Safety
/// As [`run_plan`] for `args`.
unsafe fn bind_args(plan: &Plan, args: &[*const TsrTensor]) -> Result<(Vec<Placed>, Vec<i64>)> {
    // SAFETY: forwarded; only the descriptors' headers are read.
    unsafe { check_no_overlap(plan, args) }?;
    let mut placed = Vec::with_capacity(args.len());
    let mut shapes: Vec<&[i64]> = Vec::with_capacity(args.len());
    for (spec, &desc) in plan.args.iter().zip(args) {
        let (ptr, dtype, sizes, bytes) = if spec.output {
            // SAFETY: the caller's contract.
            let mut t =
                unsafe { TensorMut::from_raw(desc) }.map_err(|e| with_param(e, &spec.name))?;
            let (dtype, sizes) = (t.dtype(), t.sizes());
            let bytes = t.as_bytes_mut();
            (bytes.as_mut_ptr(), dtype, sizes, bytes.len())
        } else {
            // SAFETY: the caller's contract.
            let t = unsafe { TensorRef::from_raw(desc) }.map_err(|e| with_param(e, &spec.name))?;
            let bytes = t.as_bytes();
            (bytes.as_ptr() as *mut u8, t.dtype(), t.sizes(), bytes.len())
        };
        if dtype != spec.dtype {
            return Err(Error::new(
                ErrorCode::DtypeMismatch,
                format!(
                    "parameter `{}`: expected {}, got a {} tensor",
                    spec.name,
                    render_type(plan, spec, None),
                    dtype.name()
                ),
            ));
        }
        placed.push(Placed { ptr, bytes });
        shapes.push(sizes);
    }
    let n_inputs = plan.args.iter().filter(|a| !a.output).count();
    let inputs: Vec<&[i64]> = plan
        .args
        .iter()
        .zip(&shapes)
        .filter(|(a, _)| !a.output)
        .map(|(_, s)| *s)
        .collect();
    debug_assert_eq!(inputs.len(), n_inputs);
    let values = size_values(plan, &inputs)?;
    for (spec, shape) in plan.args.iter().zip(&shapes).filter(|(a, _)| a.output) {
        let want: Vec<i64> = spec.dims.iter().map(|&e| values[e as usize]).collect();
        if want.as_slice() != *shape {
            return Err(Error::new(
                ErrorCode::ShapeMismatch,
                format!(
                    "output `{}`: expected {}, got shape {:?}",
                    spec.name,
                    render_type(plan, spec, Some(&values)),
                    shape
                ),
            ));
        }
    }
    Ok((placed, values))
}

fn with_param(e: Error, param: &str) -> Error {
    Error::new(e.code, format!("parameter `{param}`: {}", e.message))
}

/// Arena offsets of the temporaries (first fit over live ranges) and the arena's size.
fn place_temps(plan: &Plan, sizes: &[usize]) -> Result<(Vec<usize>, usize)> {
    let n = plan.buffers.len();
    let (mut first, mut last) = (vec![usize::MAX; n], vec![0usize; n]);
    let mut touch = |b: usize, at: usize| {
        first[b] = first[b].min(at);
        last[b] = last[b].max(at);
    };
    for (i, l) in plan.launches.iter().enumerate() {
        for a in &l.args {
            if let KernelArg::Buffer { buf, .. } = a {
                touch(*buf as usize, i);
            }
        }
    }
    for (a, b) in &plan.copies {
        touch(*a as usize, plan.launches.len());
        touch(*b as usize, plan.launches.len());
    }
    let mut order: Vec<usize> = (0..n)
        .filter(|&b| matches!(plan.buffers[b], BufSpec::Temp { .. }))
        .collect();
    order.sort_by_key(|&b| (first[b], b));
    let mut offsets = vec![0usize; n];
    let mut placed: Vec<usize> = Vec::new();
    let mut total = 0usize;
    let round = |x: usize| x.checked_next_multiple_of(ALIGN);
    for b in order {
        let need = round(sizes[b]).ok_or_else(|| Error::out_of_memory("arena too large"))?;
        // The ranges of placed buffers alive at the same time, by offset.
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&p| first[p] <= last[b] && first[b] <= last[p])
            .map(|&p| {
                (
                    offsets[p],
                    offsets[p] + round(sizes[p]).unwrap_or(usize::MAX),
                )
            })
            .collect();
        busy.sort_unstable();
        let mut at = 0usize;
        for (s, e) in busy {
            if at.saturating_add(need) <= s {
                break;
            }
            at = at.max(e);
        }
        offsets[b] = at;
        total = total.max(
            at.checked_add(need)
                .ok_or_else(|| Error::out_of_memory("arena too large"))?,
        );
        placed.push(b);
    }
    Ok((offsets, total))
}

/// The arrays every grid task of a launch passes to the kernel.
struct CallArgs {
    buffers: *const *mut u8,
    sizes: *const i64,
}

// SAFETY: the arrays are only read, by the kernel, while the launch that owns them waits
// for every task (`parallel_for` returns after all of them); the buffers they point to are
// written at disjoint tiles by the kernel's grid points (see the module documentation).
unsafe impl Sync for CallArgs {}

/// Runs grid points `0 .. total` of `kernel` over `pool`, in one contiguous range per
/// thread, each with its own zeroed, 64-byte-aligned frame of `frame_bytes` bytes. Returns
/// the non-zero status word some range left at `status_at` (0 if none did).
///
/// # Safety
/// `kernel` must read at most `buffers.len()` buffer pointers and `sizes.len()` sizes, only
/// touch memory those buffers own (as their sizes describe), and use at most `frame_bytes`
/// of its frame; `status_at + 8 <= frame_bytes`.
pub unsafe fn run_grid(
    pool: &crate::ThreadPool,
    kernel: KernelFn,
    buffers: &[*mut u8],
    sizes: &[i64],
    total: usize,
    frame_bytes: usize,
    status_at: Option<usize>,
) -> Result<i64> {
    if total == 0 {
        return Ok(0);
    }
    let parts = pool.num_threads().min(total);
    let failed = AtomicI64::new(0);
    let call = CallArgs {
        buffers: buffers.as_ptr(),
        sizes: sizes.as_ptr(),
    };
    let call = &call;
    pool.parallel_for(parts, |part| {
        let range = part_range(total, parts, part);
        let mut frame = vec![0u8; frame_bytes + ALIGN];
        let skip = frame.as_ptr().align_offset(ALIGN);
        let fp = frame[skip..].as_mut_ptr();
        // SAFETY: the caller's contract: the arrays have the lengths the code reads and
        // outlive the grid (`parallel_for` returns after every task), the frame has
        // `frame_bytes` zeroed bytes from a 64-byte-aligned `fp`, and `range` lies within
        // the grid.
        unsafe {
            kernel(
                call.buffers,
                call.sizes,
                fp,
                range.start as u64,
                range.end as u64,
            )
        };
        if let Some(at) = status_at {
            let w = &frame[skip + at..skip + at + 8];
            let code = i64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            if code != 0 {
                failed.store(code, Ordering::Relaxed);
            }
        }
    })?;
    Ok(failed.load(Ordering::Relaxed))
}

/// The grid points of launch `l` with these size values, after checking its sizes against
/// what kernels support: [`run_plan`] checks every launch so before the first runs, so that
/// sizes only a later kernel refuses do not leave outputs half written.
fn grid_points(plan: &Plan, l: &LaunchSpec, values: &[i64]) -> Result<i64> {
    if let Some(v) = l
        .sizes
        .iter()
        .map(|&e| values[e as usize])
        .find(|v| v.unsigned_abs() > MAX_SIZE_VALUE as u64)
    {
        return Err(Error::bad_argument(format!(
            "`{}`: size {v} is beyond the supported ±{MAX_SIZE_VALUE}",
            plan.name
        )));
    }
    let mut total: i64 = 1;
    for &g in &l.grid {
        let v = values[g as usize];
        if v < 0 {
            return Err(Error::new(
                ErrorCode::Internal,
                format!("kernel `{}`: grid size {v} is negative", l.name),
            ));
        }
        total = total.saturating_mul(v);
    }
    if total > MAX_GRID_POINTS {
        return Err(Error::bad_argument(format!(
            "`{}`: kernel `{}` has more than {MAX_GRID_POINTS} grid points",
            plan.name, l.name
        )));
    }
    Ok(total)
}

/// Runs one launch's grid over the pool.
///
/// # Safety
/// `kernel` must be the code of launch `l` of `plan`; `placed` the plan's buffers.
unsafe fn launch(
    plan: &Plan,
    l: &LaunchSpec,
    kernel: KernelFn,
    placed: &[Placed],
    values: &[i64],
) -> Result<()> {
    let fail = |m: String| Error::new(ErrorCode::Internal, format!("kernel `{}`: {m}", l.name));
    let table: Vec<i64> = l.sizes.iter().map(|&e| values[e as usize]).collect();
    let total = grid_points(plan, l, values)?;
    let mut ptrs: Vec<*mut u8> = Vec::with_capacity(l.args.len());
    for a in &l.args {
        match a {
            KernelArg::Private => ptrs.push(std::ptr::null_mut()),
            KernelArg::Buffer { buf, dims } => {
                let p = placed[*buf as usize];
                let elem = match &plan.buffers[*buf as usize] {
                    BufSpec::Arg(i) => plan.args[*i as usize].dtype.size_bytes(),
                    BufSpec::Temp { dtype, .. } => dtype.size_bytes(),
                };
                let mut n = elem as i64;
                for &d in dims {
                    n = n.saturating_mul(values[d as usize].max(-1));
                }
                if n != p.bytes as i64 {
                    return Err(fail(format!(
                        "a buffer of {} bytes is seen as {n} bytes",
                        p.bytes
                    )));
                }
                ptrs.push(p.ptr);
            }
        }
    }
    if total == 0 {
        return Ok(());
    }
    let frame_bytes = usize::try_from(l.frame_bytes).map_err(|_| fail("frame too large".into()))?;
    let status_at = l.status_offset.map(|o| o as usize);
    if let Some(at) = status_at {
        if at.checked_add(8).is_none_or(|e| e > frame_bytes) {
            return Err(fail("the status word lies outside the frame".into()));
        }
    }
    let pool = pool::global()?;
    // SAFETY: the caller's contract for `kernel`; `ptrs` and `table` were built above with
    // the lengths the kernel reads, every buffer checked against the view it is seen as,
    // and the frame and status offset checked just now.
    let status = unsafe {
        run_grid(
            &pool,
            kernel,
            &ptrs,
            &table,
            total as usize,
            frame_bytes,
            status_at,
        )?
    };
    match status {
        0 => Ok(()),
        STATUS_IOTA_OVERFLOW => Err(Error::bad_argument(format!(
            "`{}`: kernel `{}`: an index does not fit in i32",
            plan.name, l.name
        ))),
        c => Err(fail(format!("run-time check {c} failed"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::HostTensor;
    use crate::dtype::DType;
    use crate::plan::{ArgSpec, SizeExpr, SizeOp};

    /// out[i] = 2 * x[i] over a grid of ceil(n / 4) points of 4 elements.
    unsafe extern "C" fn double(
        bufs: *const *mut u8,
        sizes: *const i64,
        _frame: *mut u8,
        first: u64,
        last: u64,
    ) {
        // SAFETY: the runner passes two buffers of `sizes[0]` f32 values.
        unsafe {
            let n = *sizes as u64;
            let x = *bufs as *const f32;
            let y = *bufs.add(1) as *mut f32;
            for p in first..last {
                for i in p * 4..((p + 1) * 4).min(n) {
                    *y.add(i as usize) = 2.0 * *x.add(i as usize);
                }
            }
        }
    }

    /// `f(x: f32[N]) -> f32[N]` as `t = double(x); out = double(t)`.
    fn plan() -> Plan {
        let sym_n = SizeExpr(vec![SizeOp::Sym(0)]);
        let grid = SizeExpr(vec![
            SizeOp::Sym(0),
            SizeOp::Const(3),
            SizeOp::Add,
            SizeOp::Const(4),
            SizeOp::FloorDiv,
        ]);
        let arg = |name: &str, output| ArgSpec {
            name: name.into(),
            dtype: DType::F32,
            dims: vec![0],
            output,
        };
        let launch = |from: u32, to: u32| LaunchSpec {
            name: "double".into(),
            kernel: 0,
            args: vec![
                KernelArg::Buffer {
                    buf: from,
                    dims: vec![0],
                },
                KernelArg::Buffer {
                    buf: to,
                    dims: vec![0],
                },
            ],
            sizes: vec![0],
            grid: vec![1],
            frame_bytes: 0,
            status_offset: None,
        };
        Plan {
            name: "f".into(),
            n_kernels: 1,
            symbols: vec!["N".into()],
            exprs: vec![sym_n, grid],
            args: vec![arg("x", false), arg("out", true)],
            buffers: vec![
                BufSpec::Arg(0),
                BufSpec::Arg(1),
                BufSpec::Temp {
                    dtype: DType::F32,
                    dims: vec![0],
                },
            ],
            launches: vec![launch(0, 2), launch(2, 1)],
            copies: vec![],
            slice_checks: vec![],
        }
    }

    fn run(p: &Plan, x: &mut HostTensor, out: &mut HostTensor) -> Result<()> {
        let (dx, dout) = (x.descriptor(), out.descriptor());
        // SAFETY: `double` is the plan's kernel; the descriptors describe live tensors.
        unsafe { run_plan(p, &[double], &[&dx, &dout]) }
    }

    #[test]
    fn runs_launches_through_an_intermediate() {
        let xs: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let mut x = HostTensor::from_slice(DType::F32, &[10], &xs).unwrap();
        let mut out = HostTensor::zeros(DType::F32, &[10]).unwrap();
        run(&plan(), &mut x, &mut out).unwrap();
        let want: Vec<f32> = xs.iter().map(|v| 4.0 * v).collect();
        assert_eq!(out.as_slice::<f32>().unwrap(), want.as_slice());
    }

    #[test]
    fn arguments_are_checked_before_anything_runs() {
        let mut x = HostTensor::zeros(DType::F32, &[10]).unwrap();
        let mut short = HostTensor::zeros(DType::F32, &[9]).unwrap();
        let e = run(&plan(), &mut x, &mut short).unwrap_err();
        assert_eq!(e.code, ErrorCode::ShapeMismatch);
        assert!(e.message.contains("`out`"), "{}", e.message);
        let mut ints = HostTensor::zeros(DType::I32, &[10]).unwrap();
        let e = run(&plan(), &mut x, &mut ints).unwrap_err();
        assert_eq!(e.code, ErrorCode::DtypeMismatch);
        let dx = x.descriptor();
        // SAFETY: the plan's kernel; the one descriptor is live. Too few arguments.
        let e = unsafe { run_plan(&plan(), &[double], &[&dx]) }.unwrap_err();
        assert!(e.message.contains("takes 2 arguments"), "{}", e.message);
        // A view whose element count differs from its buffer is refused.
        let mut p = plan();
        p.launches[0].args[0] = KernelArg::Buffer {
            buf: 0,
            dims: vec![1],
        };
        let mut out = HostTensor::zeros(DType::F32, &[10]).unwrap();
        let e = run(&p, &mut x, &mut out).unwrap_err();
        assert_eq!(e.code, ErrorCode::Internal);
        // Sizes are at least 1: an empty input, or an output that would be empty.
        let mut empty = HostTensor::zeros(DType::F32, &[0]).unwrap();
        let mut out0 = HostTensor::zeros(DType::F32, &[0]).unwrap();
        let e = run(&plan(), &mut empty, &mut out0).unwrap_err();
        assert!(e.message.contains("at least 1"), "{}", e.message);
        let mut p = plan();
        p.exprs.push(SizeExpr(vec![
            SizeOp::Sym(0),
            SizeOp::Const(-10),
            SizeOp::Add,
        ]));
        p.args[1].dims = vec![2];
        let mut out = HostTensor::zeros(DType::F32, &[1]).unwrap();
        let e = run(&p, &mut x, &mut out).unwrap_err();
        assert_eq!(e.code, ErrorCode::ShapeMismatch);
        assert!(
            e.message.contains("output `out` would have size 0"),
            "{}",
            e.message
        );
    }

    /// An output that overlaps an input (in place, or by one element) or another output is
    /// refused before anything runs; inputs may share memory.
    #[test]
    fn outputs_overlapping_other_arguments_are_refused() {
        let mut x = HostTensor::zeros(DType::F32, &[10]).unwrap();
        let dx = x.descriptor();
        let mut tail = dx;
        // SAFETY: one element into `x`'s ten; nine elements remain.
        tail.data = unsafe { (dx.data as *mut f32).add(1) } as *mut _;
        let nine = [9i64];
        tail.sizes = nine.as_ptr();
        for (out, what) in [(dx, "in place"), (tail, "by nine elements")] {
            // SAFETY: the plan's kernel; the descriptors describe live memory.
            let e = unsafe { run_plan(&plan(), &[double], &[&dx, &out]) }.unwrap_err();
            assert_eq!(e.code, ErrorCode::BadArgument, "{what}");
            assert!(
                e.message.contains("output `out` overlaps input `x`"),
                "{what}: {}",
                e.message
            );
        }
        assert!(x.as_slice::<f32>().unwrap().iter().all(|&v| v == 0.0));
        // Two outputs sharing memory.
        let mut two = plan();
        two.args.push(ArgSpec {
            name: "out2".into(),
            dtype: DType::F32,
            dims: vec![0],
            output: true,
        });
        two.buffers.push(BufSpec::Arg(2));
        let mut out = HostTensor::zeros(DType::F32, &[10]).unwrap();
        let dout = out.descriptor();
        // SAFETY: as above.
        let e = unsafe { run_plan(&two, &[double], &[&dx, &dout, &dout]) }.unwrap_err();
        assert!(
            e.message.contains("output `out` overlaps output `out2`"),
            "{}",
            e.message
        );
        // Inputs may alias each other: `g(x, y) = x` with x and y the same tensor.
        let mut shared = plan();
        shared.args.insert(
            1,
            ArgSpec {
                name: "y".into(),
                dtype: DType::F32,
                dims: vec![0],
                output: false,
            },
        );
        shared.buffers = vec![
            BufSpec::Arg(0),
            BufSpec::Arg(2),
            BufSpec::Temp {
                dtype: DType::F32,
                dims: vec![0],
            },
        ];
        // SAFETY: as above.
        unsafe { run_plan(&shared, &[double], &[&dx, &dx, &dout]) }.unwrap();
    }

    /// Sizes that a later launch refuses are refused before the first launch writes
    /// anything.
    #[test]
    fn every_launch_is_checked_before_the_first_runs() {
        let mut p = plan();
        // The second launch's grid: N * 2^31 points.
        p.exprs.push(SizeExpr(vec![
            SizeOp::Sym(0),
            SizeOp::Const(MAX_GRID_POINTS),
            SizeOp::Mul,
        ]));
        p.launches[1].grid = vec![2];
        p.launches[0].args[1] = KernelArg::Buffer {
            buf: 1,
            dims: vec![0],
        };
        let xs: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let mut x = HostTensor::from_slice(DType::F32, &[10], &xs).unwrap();
        let mut out = HostTensor::zeros(DType::F32, &[10]).unwrap();
        let e = run(&p, &mut x, &mut out).unwrap_err();
        assert!(e.message.contains("grid points"), "{}", e.message);
        assert!(out.as_slice::<f32>().unwrap().iter().all(|&v| v == 0.0));
    }

    /// `x: f32[4*N + 1]` binds `N` from `x`; a size no `N` gives names the parameter and
    /// the expression; a slice check refuses bounds past the bound size, with its location.
    #[test]
    fn sizes_are_solved_from_expression_dimensions_and_slices_checked() {
        let mut p = plan();
        p.exprs.push(SizeExpr(vec![
            SizeOp::Const(4),
            SizeOp::Sym(0),
            SizeOp::Mul,
            SizeOp::Const(1),
            SizeOp::Add,
        ]));
        p.args[0].dims = vec![2];
        assert_eq!(size_values(&p, &[&[9]]).unwrap()[0], 2);
        let err = size_values(&p, &[&[8]]).unwrap_err();
        assert_eq!(err.code, ErrorCode::ShapeMismatch);
        assert!(
            err.message
                .contains("parameter `x`: dimension 0 is 8, and no size solves `4*N + 1` = 8"),
            "{}",
            err.message
        );
        p.exprs.push(SizeExpr(vec![SizeOp::Const(3)]));
        p.exprs.push(SizeExpr(vec![SizeOp::Const(0)]));
        p.slice_checks.push(crate::plan::SliceSpec {
            dim: 0,
            start: 4,
            end: 3,
            axis: 0,
            what: "graph.slice at f.tsr:2:5".into(),
        });
        assert!(size_values(&p, &[&[13]]).is_ok());
        let err = size_values(&p, &[&[9]]).unwrap_err();
        assert_eq!(
            err.message,
            "graph.slice at f.tsr:2:5: slice 0:3 is out of range for axis 0 of size 2"
        );
    }

    #[test]
    fn temporaries_share_memory_only_when_not_live_together() {
        let mut p = plan();
        // Three temporaries in a chain x -> t1 -> t2 -> t3 -> out: t1 and t3 can share.
        let temp = BufSpec::Temp {
            dtype: DType::F32,
            dims: vec![0],
        };
        p.buffers = vec![
            BufSpec::Arg(0),
            BufSpec::Arg(1),
            temp.clone(),
            temp.clone(),
            temp,
        ];
        let l = p.launches[0].clone();
        let chain = [(0, 2), (2, 3), (3, 4), (4, 1)];
        p.launches = chain
            .iter()
            .map(|&(a, b)| {
                let mut x = l.clone();
                x.args = vec![
                    KernelArg::Buffer {
                        buf: a,
                        dims: vec![0],
                    },
                    KernelArg::Buffer {
                        buf: b,
                        dims: vec![0],
                    },
                ];
                x
            })
            .collect();
        let sizes = vec![40, 40, 40, 40, 40];
        let (off, total) = place_temps(&p, &sizes).unwrap();
        assert_eq!(total, 128);
        assert_ne!(off[2], off[3]);
        assert_ne!(off[3], off[4]);
        assert_eq!(off[2], off[4]);
        let xs: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let mut x = HostTensor::from_slice(DType::F32, &[10], &xs).unwrap();
        let mut out = HostTensor::zeros(DType::F32, &[10]).unwrap();
        run(&p, &mut x, &mut out).unwrap();
        assert_eq!(out.as_slice::<f32>().unwrap()[3], 48.0);
    }
}
