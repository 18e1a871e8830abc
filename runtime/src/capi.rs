//! The C entry points, declared in `include/tessera_runtime.h`.
//!
//! Rules for every function here: it never unwinds into C (every body runs under
//! `catch_unwind`, and a caught panic becomes [`ErrorCode::Internal`] or the documented
//! failure value); it never
//! dereferences a null pointer (null is an error code, or a no-op for `free`); fallible
//! functions return an `int32_t` error code (0 is `TSR_OK`) and set the thread's last error
//! message, which `tsr_last_error()` returns.

use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::arena::Arena;
use crate::buffer::{TensorRef, TsrTensor, MAX_RANK};
use crate::check::check_tensor;
use crate::dtype::DType;
use crate::error::{last_error_ptr, panic_message, set_last_error, Error, ErrorCode, Result};
use crate::exec::{run_plan, KernelFn};
use crate::plan::Plan;
use crate::pool;

/// Runs `f`, turning an error or a panic into a code and the last error message.
fn guard(f: impl FnOnce() -> Result<()>) -> i32 {
    guard_value(|code| code, || f().map(|()| ErrorCode::Ok.code()))
}

/// Runs `f`; on an error or a panic sets the last error and returns `on_error(code)`.
fn guard_value<T>(on_error: impl FnOnce(i32) -> T, f: impl FnOnce() -> Result<T>) -> T {
    let err = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(payload) => Error::new(
            ErrorCode::Internal,
            format!("panic in the Tessera runtime: {}", panic_message(&*payload)),
        ),
    };
    // Setting the message allocates; if even that panics, the code is still returned.
    let code = catch_unwind(AssertUnwindSafe(|| set_last_error(&err))).unwrap_or(err.code.code());
    on_error(code)
}

/// Reads a nullable C string for messages (`default` when null; lossy UTF-8).
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string.
unsafe fn c_str_or(p: *const c_char, default: &str) -> String {
    if p.is_null() {
        default.to_string()
    } else {
        // SAFETY: non-null and NUL-terminated by the caller's contract.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// `const char *tsr_version(void)`: the runtime's version, a static string.
#[no_mangle]
pub extern "C" fn tsr_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    guard_value(|_| c"unknown".as_ptr(), || Ok(VERSION.as_ptr()))
}

/// `uint32_t tsr_abi_version(void)`: [`crate::ABI_VERSION`]; generated code compares it
/// with `TSR_ABI_VERSION` from the header it was built against.
#[no_mangle]
pub extern "C" fn tsr_abi_version() -> u32 {
    guard_value(|_| 0, || Ok(crate::ABI_VERSION))
}

/// `const char *tsr_last_error(void)`: this thread's last error message (`""` if none),
/// valid until the next runtime call on this thread.
#[no_mangle]
pub extern "C" fn tsr_last_error() -> *const c_char {
    catch_unwind(last_error_ptr).unwrap_or(c"".as_ptr())
}

/// `const char *tsr_error_name(int32_t code)`: `"OK"`, `"BAD_ARGUMENT"`, ..., or
/// `"UNKNOWN"`; a static string.
#[no_mangle]
pub extern "C" fn tsr_error_name(code: i32) -> *const c_char {
    guard_value(|_| c"UNKNOWN".as_ptr(), || Ok(error_name(code).as_ptr()))
}

fn error_name(code: i32) -> &'static CStr {
    let name: &'static CStr = match ErrorCode::from_code(code) {
        Some(ErrorCode::Ok) => c"OK",
        Some(ErrorCode::BadArgument) => c"BAD_ARGUMENT",
        Some(ErrorCode::ShapeMismatch) => c"SHAPE_MISMATCH",
        Some(ErrorCode::DtypeMismatch) => c"DTYPE_MISMATCH",
        Some(ErrorCode::OutOfMemory) => c"OUT_OF_MEMORY",
        Some(ErrorCode::Internal) => c"INTERNAL",
        Some(ErrorCode::TaskPanicked) => c"TASK_PANICKED",
        Some(ErrorCode::Cancelled) => c"CANCELLED",
        None => c"UNKNOWN",
    };
    name
}

/// `int32_t tsr_set_error(int32_t code, const char *message)`: for generated code that
/// detects a failure itself; stores `message` (may be null) as the last error and returns
/// `code` (an unknown or zero code becomes `TSR_INTERNAL`).
///
/// # Safety
/// `message` must be null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tsr_set_error(code: i32, message: *const c_char) -> i32 {
    guard(|| {
        let code = match ErrorCode::from_code(code) {
            Some(ErrorCode::Ok) | None => ErrorCode::Internal,
            Some(c) => c,
        };
        // SAFETY: forwarded from this function's contract.
        Err(Error::new(code, unsafe { c_str_or(message, "") }))
    })
}

/// The opaque arena handle of the C ABI (`TsrArena *`).
#[derive(Debug)]
pub struct TsrArena(Arena);

/// `TsrArena *tsr_arena_new(uint64_t size)`: an arena of `size` bytes (0 is allowed), or
/// null with the last error set. Free it with `tsr_arena_free`.
#[no_mangle]
pub extern "C" fn tsr_arena_new(size: u64) -> *mut TsrArena {
    guard_value(
        |_| std::ptr::null_mut(),
        || {
            let size = usize::try_from(size)
                .map_err(|_| Error::out_of_memory(format!("arena of {size} bytes")))?;
            Ok(Box::into_raw(Box::new(TsrArena(Arena::new(size)?))))
        },
    )
}

/// `void tsr_arena_free(TsrArena *arena)`: frees an arena; null is a no-op.
///
/// # Safety
/// `arena` must be null or come from `tsr_arena_new` and not have been freed.
#[no_mangle]
pub unsafe extern "C" fn tsr_arena_free(arena: *mut TsrArena) {
    guard_value(
        |_| (),
        || {
            if !arena.is_null() {
                // SAFETY: by the contract, `arena` is a live pointer from Box::into_raw in
                // `tsr_arena_new`; ownership returns to the Box, which is dropped.
                drop(unsafe { Box::from_raw(arena) });
            }
            Ok(())
        },
    )
}

/// `int32_t tsr_arena_reserve(TsrArena *arena, uint64_t size)`: grows the arena to at least
/// `size` bytes (a no-op when it is already that large; growing invalidates
/// `tsr_arena_data`).
///
/// # Safety
/// `arena` must be null or a live arena not used by another thread during the call.
#[no_mangle]
pub unsafe extern "C" fn tsr_arena_reserve(arena: *mut TsrArena, size: u64) -> i32 {
    guard(|| {
        // SAFETY: null or live and unshared by the contract; `as_mut` handles null.
        let a = unsafe { arena.as_mut() }.ok_or_else(|| Error::bad_argument("arena is null"))?;
        let size = usize::try_from(size)
            .map_err(|_| Error::out_of_memory(format!("arena of {size} bytes")))?;
        a.0.reserve(size)
    })
}

/// `void *tsr_arena_data(TsrArena *arena)`: the arena's 64-byte-aligned base (never null
/// for a live arena, even of size 0), or null for a null arena.
///
/// # Safety
/// `arena` must be null or a live arena.
#[no_mangle]
pub unsafe extern "C" fn tsr_arena_data(arena: *mut TsrArena) -> *mut c_void {
    guard_value(
        |_| std::ptr::null_mut(),
        || {
            // SAFETY: null or live by the contract; `as_mut` handles null.
            Ok(match unsafe { arena.as_mut() } {
                Some(a) => a.0.base_ptr() as *mut c_void,
                None => std::ptr::null_mut(),
            })
        },
    )
}

/// `uint64_t tsr_arena_size(const TsrArena *arena)`: the size in bytes (0 for null).
///
/// # Safety
/// `arena` must be null or a live arena.
#[no_mangle]
pub unsafe extern "C" fn tsr_arena_size(arena: *const TsrArena) -> u64 {
    guard_value(
        |_| 0,
        || {
            // SAFETY: null or live by the contract; `as_ref` handles null.
            Ok(unsafe { arena.as_ref() }.map_or(0, |a| a.0.size() as u64))
        },
    )
}

/// `int32_t tsr_set_num_threads(uint32_t n)`: the number of threads grids run on from now
/// on; 0 restores the default (`TESSERA_NUM_THREADS`, else the available parallelism).
#[no_mangle]
pub extern "C" fn tsr_set_num_threads(n: u32) -> i32 {
    guard(|| pool::set_global_num_threads(n as usize))
}

/// `uint32_t tsr_get_num_threads(void)`: the number of threads grids run on (starting the
/// pool if needed); 0 with the last error set if it cannot start.
#[no_mangle]
pub extern "C" fn tsr_get_num_threads() -> u32 {
    guard_value(|_| 0, || Ok(pool::global()?.num_threads() as u32))
}

/// A task function of `tsr_parallel_for`: returns 0, or an error code to stop the grid.
pub type TsrTaskFn = unsafe extern "C" fn(ctx: *mut c_void, task: u64) -> i32;

/// The `ctx` of a grid, shared by the threads running it.
struct SharedCtx(*mut c_void);
// SAFETY: `tsr_parallel_for`'s contract makes the task function safe to call concurrently
// with the same `ctx`; the runtime itself never dereferences it.
unsafe impl Sync for SharedCtx {}

/// `int32_t tsr_parallel_for(uint64_t n_tasks, TsrTaskFn task, void *ctx)`: calls
/// `task(ctx, i)` for every `i < n_tasks` on the global pool (see [`crate::pool`] for the
/// partitioning) and returns when all have returned. A task returning non-zero stops the
/// grid; the lowest failing index's code is returned, with the message the task set with
/// `tsr_set_error` (on whichever thread it ran) or a generic one.
///
/// # Safety
/// `task` must be null or a function safe to call from any thread, concurrently, with
/// `ctx` and every index below `n_tasks`; it must not unwind.
#[no_mangle]
pub unsafe extern "C" fn tsr_parallel_for(
    n_tasks: u64,
    task: Option<TsrTaskFn>,
    ctx: *mut c_void,
) -> i32 {
    guard(|| {
        let task =
            task.ok_or_else(|| Error::bad_argument("tsr_parallel_for: task function is null"))?;
        let n = usize::try_from(n_tasks)
            .map_err(|_| Error::bad_argument(format!("tsr_parallel_for: {n_tasks} tasks")))?;
        let ctx = SharedCtx(ctx);
        pool::global()?.try_parallel_for(n, |i| {
            let ctx = &ctx;
            // SAFETY: by this function's contract `task` may be called from any thread with
            // `ctx` and any index below n_tasks.
            let code = unsafe { task(ctx.0, i as u64) };
            if code == ErrorCode::Ok.code() {
                return Ok(());
            }
            let kind = match ErrorCode::from_code(code) {
                Some(ErrorCode::Ok) | None => ErrorCode::Internal,
                Some(c) => c,
            };
            let set = crate::error::last_error_message();
            crate::error::clear_last_error();
            let message = if set.is_empty() {
                format!("task {i} failed with code {code}")
            } else {
                set
            };
            Err(Error::new(kind, message))
        })
    })
}

/// A decoded plan, by the address of its bytes (an artifact's static data) and a copy of
/// them: a library unloaded with `dlclose` and another loaded at the same address must not
/// find the first one's plan.
struct CachedPlan {
    at: usize,
    bytes: Vec<u8>,
    plan: std::sync::Arc<Plan>,
}

/// The decoded plans of the artifacts this process has run, one per address.
static PLANS: std::sync::Mutex<Vec<CachedPlan>> = std::sync::Mutex::new(Vec::new());

/// The plan of `bytes`, decoded once per process and address while the bytes there stay
/// the same (a plan is a few kilobytes: comparing them costs far less than a call).
fn cached_plan(bytes: &[u8]) -> Result<std::sync::Arc<Plan>> {
    let at = bytes.as_ptr() as usize;
    let mut plans = PLANS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let found = plans.iter().position(|c| c.at == at);
    if let Some(i) = found {
        if plans[i].bytes == bytes {
            return Ok(std::sync::Arc::clone(&plans[i].plan));
        }
    }
    let plan = std::sync::Arc::new(Plan::decode(bytes)?);
    let entry = CachedPlan {
        at,
        bytes: bytes.to_vec(),
        plan: std::sync::Arc::clone(&plan),
    };
    match found {
        Some(i) => plans[i] = entry,
        None => plans.push(entry),
    }
    Ok(plan)
}

/// `int32_t tsr_plan_run(const uint8_t *plan, uint64_t plan_len, const TsrKernelFn
/// *kernels, uint32_t n_kernels, const TsrTensor *const *args, uint32_t n_args)`.
///
/// Runs a compiled function: the entry points of an artifact call it with their plan (see
/// [`crate::plan`]), their kernel table and their arguments (inputs, then outputs). Checks
/// every argument against the plan (dtype, rank, sizes, symbolic sizes bound consistently),
/// then runs the kernels ([`crate::exec::run_plan`]).
///
/// # Safety
/// `plan` must point to `plan_len` readable bytes (an artifact's static data), `kernels` to
/// `n_kernels` kernels compiled with that plan, and `args` to `n_args` pointers, each null
/// or a valid descriptor (outputs writable; an output overlapping another argument is
/// refused).
#[no_mangle]
pub unsafe extern "C" fn tsr_plan_run(
    plan: *const u8,
    plan_len: u64,
    kernels: *const Option<KernelFn>,
    n_kernels: u32,
    args: *const *const TsrTensor,
    n_args: u32,
) -> i32 {
    guard(|| {
        if plan.is_null() || (n_kernels > 0 && kernels.is_null()) || (n_args > 0 && args.is_null())
        {
            return Err(Error::bad_argument("tsr_plan_run: a null pointer"));
        }
        let len = usize::try_from(plan_len)
            .map_err(|_| Error::bad_argument("tsr_plan_run: plan too large"))?;
        // SAFETY: `plan_len` readable bytes by the contract.
        let bytes: &[u8] = unsafe { std::slice::from_raw_parts(plan, len) };
        let plan = cached_plan(bytes)?;
        // SAFETY: `n_kernels` entries by the contract (non-null checked above when needed).
        let table: &[Option<KernelFn>] = if n_kernels == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(kernels, n_kernels as usize) }
        };
        let table: Vec<KernelFn> = table
            .iter()
            .map(|k| k.ok_or_else(|| Error::bad_argument("tsr_plan_run: a null kernel")))
            .collect::<Result<_>>()?;
        // SAFETY: `n_args` entries by the contract.
        let args: &[*const TsrTensor] = if n_args == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(args, n_args as usize) }
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { run_plan(&plan, &table, args) }
    })
}

/// `int32_t tsr_plan_output_sizes(const uint8_t *plan, uint64_t plan_len, const TsrTensor
/// *const *inputs, uint32_t n_inputs, int64_t *sizes, uint32_t n_sizes)`.
///
/// The shapes of a compiled function's outputs for these inputs (only their descriptors'
/// dtypes and sizes are read, not their data): the sizes of output 0, then output 1, ...,
/// written to `sizes[0..n_sizes]`, where `n_sizes` must be the sum of the outputs' ranks.
/// Checks the inputs as `tsr_plan_run` does. What the `tessera_F_output_sizes` entry points
/// of an artifact call, so a caller can allocate outputs whose sizes are symbolic.
///
/// # Safety
/// As [`tsr_plan_run`] for `plan` and `inputs`; `sizes` must have `n_sizes` writable
/// entries.
#[no_mangle]
pub unsafe extern "C" fn tsr_plan_output_sizes(
    plan: *const u8,
    plan_len: u64,
    inputs: *const *const TsrTensor,
    n_inputs: u32,
    sizes: *mut i64,
    n_sizes: u32,
) -> i32 {
    guard(|| {
        if plan.is_null() || (n_inputs > 0 && inputs.is_null()) || (n_sizes > 0 && sizes.is_null())
        {
            return Err(Error::bad_argument("tsr_plan_output_sizes: a null pointer"));
        }
        let len = usize::try_from(plan_len)
            .map_err(|_| Error::bad_argument("tsr_plan_output_sizes: plan too large"))?;
        // SAFETY: `plan_len` readable bytes by the contract.
        let bytes: &[u8] = unsafe { std::slice::from_raw_parts(plan, len) };
        let plan = cached_plan(bytes)?;
        // SAFETY: `n_inputs` entries by the contract.
        let descs: &[*const TsrTensor] = if n_inputs == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(inputs, n_inputs as usize) }
        };
        let specs: Vec<_> = plan.args.iter().filter(|a| !a.output).collect();
        if descs.len() != specs.len() {
            return Err(Error::bad_argument(format!(
                "`{}` takes {} inputs, {} were given",
                plan.name,
                specs.len(),
                descs.len()
            )));
        }
        let mut shapes = Vec::with_capacity(descs.len());
        for (spec, &d) in specs.iter().zip(descs) {
            // SAFETY: each descriptor is valid by the contract; only its header is read
            // (its data may be null).
            let (dtype, sizes) = unsafe { crate::buffer::descriptor_shape(d) }.map_err(|e| {
                Error::new(e.code, format!("parameter `{}`: {}", spec.name, e.message))
            })?;
            if dtype != spec.dtype {
                return Err(Error::new(
                    ErrorCode::DtypeMismatch,
                    format!(
                        "parameter `{}`: expected {}, got a {} tensor",
                        spec.name,
                        spec.dtype.name(),
                        dtype.name()
                    ),
                ));
            }
            shapes.push(sizes);
        }
        let out = crate::exec::output_shapes(&plan, &shapes)?;
        let flat: Vec<i64> = out.into_iter().flatten().collect();
        if flat.len() != n_sizes as usize {
            return Err(Error::bad_argument(format!(
                "`{}`: its outputs have {} sizes in all, the array has {n_sizes}",
                plan.name,
                flat.len()
            )));
        }
        // SAFETY: `n_sizes` writable entries by the contract.
        let dst = unsafe { std::slice::from_raw_parts_mut(sizes, flat.len()) };
        dst.copy_from_slice(&flat);
        Ok(())
    })
}

/// `int32_t tsr_check_tensor(const TsrTensor *tensor, const char *param,
/// uint32_t expected_dtype, uint32_t expected_rank, const int64_t *expected_sizes,
/// int64_t *symbols, uint32_t n_symbols, const char *const *symbol_names)`.
///
/// Checks the argument `tensor` of parameter `param` (its name, for messages; may be null)
/// on entry to a compiled function: the descriptor is well-formed, its dtype is
/// `expected_dtype` and its sizes match `expected_sizes[0..expected_rank]`, where a size
/// `>= 0` is fixed and `TSR_SYM(k) = -1 - k` is symbol slot `k` of the table
/// `symbols[0..n_symbols]` (initialised by the entry point to `TSR_UNBOUND`): an unbound slot
/// is bound to the actual size, a bound one must equal it. On failure nothing is bound, the
/// code is returned and the message names the parameter, the dimension and the expected type
/// (symbols named by `symbol_names[k]` when that array is non-null).
///
/// # Safety
/// Each pointer must be null or valid for what it describes: `tensor` a readable descriptor
/// whose `sizes` has `rank` entries; `expected_sizes` `expected_rank` entries; `symbols`
/// `n_symbols` writable entries; `symbol_names` `n_symbols` entries, each null or a C string.
#[no_mangle]
pub unsafe extern "C" fn tsr_check_tensor(
    tensor: *const TsrTensor,
    param: *const c_char,
    expected_dtype: u32,
    expected_rank: u32,
    expected_sizes: *const i64,
    symbols: *mut i64,
    n_symbols: u32,
    symbol_names: *const *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: `param` is null or a C string by the contract.
        let param = unsafe { c_str_or(param, "?") };
        let want = DType::from_code(expected_dtype).ok_or_else(|| {
            Error::bad_argument(format!(
                "parameter `{param}`: expected dtype code {expected_dtype} is not a dtype"
            ))
        })?;
        if expected_rank > MAX_RANK || (expected_rank > 0 && expected_sizes.is_null()) {
            return Err(Error::bad_argument(format!(
                "parameter `{param}`: bad expected shape (rank {expected_rank}, sizes {expected_sizes:p})"
            )));
        }
        if n_symbols > 0 && symbols.is_null() {
            return Err(Error::bad_argument(format!(
                "parameter `{param}`: symbol table of {n_symbols} slots is null"
            )));
        }
        let expected: &[i64] = if expected_rank == 0 {
            &[]
        } else {
            // SAFETY: non-null (checked) and `expected_rank` readable entries by the
            // contract; rank <= MAX_RANK.
            unsafe { std::slice::from_raw_parts(expected_sizes, expected_rank as usize) }
        };
        let table: &mut [i64] = if n_symbols == 0 {
            &mut []
        } else {
            // SAFETY: non-null (checked) and `n_symbols` writable entries, not otherwise
            // accessed during the call, by the contract.
            unsafe { std::slice::from_raw_parts_mut(symbols, n_symbols as usize) }
        };
        let name = |k: usize| -> String {
            if symbol_names.is_null() {
                return format!("sym{k}");
            }
            // SAFETY: k < n_symbols (check_tensor only names valid slots) and the array has
            // n_symbols entries, each null or a C string, by the contract.
            unsafe { c_str_or(*symbol_names.add(k), &format!("sym{k}")) }
        };
        // SAFETY: `tensor` is null or a readable descriptor with live data by the contract.
        let view = unsafe { TensorRef::from_raw(tensor) }
            .map_err(|e| Error::new(e.code, format!("parameter `{param}`: {}", e.message)))?;
        check_tensor(&view, &param, want, expected, table, &name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::HostTensor;
    use crate::check::{sym, UNBOUND};
    use crate::error::last_error_message;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn s(p: *const c_char) -> String {
        // SAFETY: the runtime returns valid C strings.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
    }

    #[test]
    fn versions_and_names() {
        assert_eq!(s(tsr_version()), env!("CARGO_PKG_VERSION"));
        assert_eq!(tsr_abi_version(), crate::ABI_VERSION);
        for c in ErrorCode::ALL {
            assert_eq!(s(tsr_error_name(c.code())), c.name());
        }
        assert_eq!(s(tsr_error_name(99)), "UNKNOWN");
    }

    #[test]
    fn set_error_and_last_error() {
        // SAFETY: a static C string.
        let code =
            unsafe { tsr_set_error(ErrorCode::ShapeMismatch.code(), c"kernel said no".as_ptr()) };
        assert_eq!(code, 2);
        assert_eq!(s(tsr_last_error()), "kernel said no");
        // SAFETY: null is allowed.
        assert_eq!(
            unsafe { tsr_set_error(0, std::ptr::null()) },
            ErrorCode::Internal.code()
        );
        assert_eq!(s(tsr_last_error()), "");
        // SAFETY: null is allowed.
        assert_eq!(
            unsafe { tsr_set_error(1234, std::ptr::null()) },
            ErrorCode::Internal.code()
        );
    }

    /// A plan is looked up by its address and checked by its bytes: other bytes at the
    /// same address (a library unloaded and another loaded there) are decoded afresh, and
    /// replace the entry.
    #[test]
    fn plans_are_cached_by_address_and_contents() {
        let plan = |name: &str| Plan {
            name: name.into(),
            n_kernels: 0,
            symbols: vec![],
            exprs: vec![],
            args: vec![],
            buffers: vec![],
            launches: vec![],
            copies: vec![],
            slice_checks: vec![],
        };
        let mut bytes = plan("first").encode();
        let a = cached_plan(&bytes).unwrap();
        assert_eq!(a.name, "first");
        assert!(std::sync::Arc::ptr_eq(&a, &cached_plan(&bytes).unwrap()));
        let other = plan("other").encode();
        assert_eq!(other.len(), bytes.len());
        bytes.copy_from_slice(&other);
        assert_eq!(cached_plan(&bytes).unwrap().name, "other");
        let at = bytes.as_ptr() as usize;
        let entries = PLANS.lock().unwrap().iter().filter(|c| c.at == at).count();
        assert_eq!(entries, 1);
    }

    #[test]
    fn guard_turns_panics_into_internal() {
        let code = guard(|| panic!("oops"));
        assert_eq!(code, ErrorCode::Internal.code());
        assert_eq!(last_error_message(), "panic in the Tessera runtime: oops");
    }

    #[test]
    fn arena_lifecycle_and_nulls() {
        let a = tsr_arena_new(100);
        assert!(!a.is_null());
        // SAFETY: `a` is live until freed below; null pointers are allowed everywhere.
        unsafe {
            assert_eq!(tsr_arena_size(a), 100);
            let p = tsr_arena_data(a);
            assert_eq!(p as usize % 64, 0);
            *(p as *mut u8).add(99) = 1;
            assert_eq!(tsr_arena_reserve(a, 50), 0);
            assert_eq!(tsr_arena_data(a), p, "no reallocation when large enough");
            assert_eq!(tsr_arena_reserve(a, 1000), 0);
            assert_eq!(tsr_arena_size(a), 1000);
            assert_eq!(
                tsr_arena_reserve(a, u64::MAX),
                ErrorCode::OutOfMemory.code()
            );
            assert_eq!(tsr_arena_size(a), 1000);
            tsr_arena_free(a);

            assert_eq!(
                tsr_arena_reserve(std::ptr::null_mut(), 1),
                ErrorCode::BadArgument.code()
            );
            assert_eq!(s(tsr_last_error()), "arena is null");
            assert!(tsr_arena_data(std::ptr::null_mut()).is_null());
            assert_eq!(tsr_arena_size(std::ptr::null()), 0);
            tsr_arena_free(std::ptr::null_mut());

            let z = tsr_arena_new(0);
            assert!(!z.is_null() && !tsr_arena_data(z).is_null());
            assert_eq!(tsr_arena_size(z), 0);
            tsr_arena_free(z);
        }
        assert!(tsr_arena_new(u64::MAX).is_null());
        assert!(s(tsr_last_error()).contains("bytes"));
    }

    unsafe extern "C" fn add_index(ctx: *mut c_void, i: u64) -> i32 {
        // SAFETY: ctx is the &AtomicU64 passed by the test.
        let sum = unsafe { &*(ctx as *const AtomicU64) };
        sum.fetch_add(i, Ordering::Relaxed);
        0
    }

    unsafe extern "C" fn fail_at_7(_ctx: *mut c_void, i: u64) -> i32 {
        if i == 7 {
            // SAFETY: a static C string.
            unsafe { tsr_set_error(ErrorCode::ShapeMismatch.code(), c"tile 7 is bad".as_ptr()) }
        } else if i == 9 {
            42
        } else {
            0
        }
    }

    #[test]
    fn parallel_for_from_c() {
        let _serial = crate::pool::GLOBAL_TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        assert_eq!(tsr_set_num_threads(3), 0);
        assert_eq!(tsr_get_num_threads(), 3);
        let sum = AtomicU64::new(0);
        let ctx = &sum as *const AtomicU64 as *mut c_void;
        // SAFETY: add_index is thread-safe with this ctx.
        assert_eq!(unsafe { tsr_parallel_for(1000, Some(add_index), ctx) }, 0);
        assert_eq!(sum.load(Ordering::Relaxed), 999 * 1000 / 2);
        // SAFETY: as above; zero tasks call nothing.
        assert_eq!(unsafe { tsr_parallel_for(0, Some(add_index), ctx) }, 0);
        // SAFETY: null task is reported, not called.
        assert_eq!(
            unsafe { tsr_parallel_for(4, None, ctx) },
            ErrorCode::BadArgument.code()
        );
        // SAFETY: fail_at_7 ignores ctx. Index 7 is the lowest failure in every partition.
        let code = unsafe { tsr_parallel_for(20, Some(fail_at_7), std::ptr::null_mut()) };
        assert_eq!(code, ErrorCode::ShapeMismatch.code());
        assert_eq!(s(tsr_last_error()), "tile 7 is bad");
        // SAFETY: as above, grid of 10 on one thread: 7 fails first.
        assert_eq!(tsr_set_num_threads(1), 0);
        let code = unsafe { tsr_parallel_for(10, Some(fail_at_7), std::ptr::null_mut()) };
        assert_eq!(code, ErrorCode::ShapeMismatch.code());
        assert_eq!(tsr_set_num_threads(0), 0);
        assert!(tsr_get_num_threads() >= 1);
    }

    #[test]
    fn check_tensor_from_c() {
        let mut x = HostTensor::zeros(DType::F32, &[4, 784]).unwrap();
        let xd = x.descriptor();
        let mut syms = [UNBOUND; 1];
        let names = [c"B".as_ptr()];
        let expected = [sym(0), 784];
        let check = |d: *const TsrTensor, dtype: u32, exp: &[i64], syms: &mut [i64]| {
            // SAFETY: every pointer is null or valid for the lengths passed.
            unsafe {
                tsr_check_tensor(
                    d,
                    c"x".as_ptr(),
                    dtype,
                    exp.len() as u32,
                    exp.as_ptr(),
                    syms.as_mut_ptr(),
                    syms.len() as u32,
                    names.as_ptr(),
                )
            }
        };
        assert_eq!(check(&xd, 1, &expected, &mut syms), 0);
        assert_eq!(syms, [4]);
        assert_eq!(
            check(&xd, 7, &expected, &mut syms),
            ErrorCode::DtypeMismatch.code()
        );
        assert_eq!(
            s(tsr_last_error()),
            "parameter `x` has dtype f32, expected i32[B, 784]"
        );
        let mut other = [5i64];
        assert_eq!(
            check(&xd, 1, &expected, &mut other),
            ErrorCode::ShapeMismatch.code()
        );
        assert_eq!(
            s(tsr_last_error()),
            "parameter `x` has size 4 in dimension 0, but B is already 5 (f32[B, 784])"
        );
        assert_eq!(
            check(std::ptr::null(), 1, &expected, &mut syms),
            ErrorCode::BadArgument.code()
        );
        assert_eq!(
            s(tsr_last_error()),
            "parameter `x`: tensor descriptor is null"
        );
        let bad = TsrTensor {
            rank: 2,
            sizes: std::ptr::null(),
            ..xd
        };
        assert_eq!(
            check(&bad, 1, &expected, &mut syms),
            ErrorCode::BadArgument.code()
        );
        assert_eq!(
            s(tsr_last_error()),
            "parameter `x`: descriptor of rank 2 has null sizes"
        );
        assert_eq!(
            check(&xd, 0, &expected, &mut syms),
            ErrorCode::BadArgument.code()
        );
        assert_eq!(
            check(&xd, 1, &[sym(3), 784], &mut syms),
            ErrorCode::BadArgument.code()
        );

        // Null arrays where they are needed are errors; null names and param are fine.
        // SAFETY: null pointers are allowed and checked.
        unsafe {
            let r = tsr_check_tensor(
                &xd,
                std::ptr::null(),
                1,
                2,
                std::ptr::null(),
                syms.as_mut_ptr(),
                1,
                names.as_ptr(),
            );
            assert_eq!(r, ErrorCode::BadArgument.code());
            let r = tsr_check_tensor(
                &xd,
                c"x".as_ptr(),
                1,
                2,
                expected.as_ptr(),
                std::ptr::null_mut(),
                1,
                names.as_ptr(),
            );
            assert_eq!(r, ErrorCode::BadArgument.code());
            let mut t = [7i64];
            let r = tsr_check_tensor(
                &xd,
                std::ptr::null(),
                1,
                2,
                expected.as_ptr(),
                t.as_mut_ptr(),
                1,
                std::ptr::null(),
            );
            assert_eq!(r, ErrorCode::ShapeMismatch.code());
            assert_eq!(
                s(tsr_last_error()),
                "parameter `?` has size 4 in dimension 0, but sym0 is already 7 (f32[sym0, 784])"
            );
        }
    }
}
