//! The thread pool that runs a kernel's grid.
//!
//! A [`ThreadPool`] of `n` threads keeps `n - 1` persistent workers; the calling thread is
//! the `n`-th. [`ThreadPool::parallel_for`]`(n_tasks, f)` calls `f(i)` once for every
//! `i < n_tasks` and returns when all calls have returned. Partitioning is static and
//! deterministic: the grid is cut into `p = min(n, n_tasks)` contiguous ranges
//! ([`part_range`]), range 0 runs on the caller and range `w` on worker `w`, each in
//! increasing index order.
//!
//! A panic in a task is caught, stops the grid (tasks above the failing index that have not
//! started are skipped) and is returned as [`ErrorCode::TaskPanicked`]; so is an `Err`
//! returned by a task through [`ThreadPool::try_parallel_for`]. Tasks below a failing index
//! still run, so when several tasks fail the lowest failing index is reported, whatever the
//! timing. A `parallel_for` called from inside a task (of any pool) runs its grid
//! serially on the calling thread, so nesting neither deadlocks nor oversubscribes. Calls
//! from several outside threads at once are serialised.
//!
//! Only std is used (threads, one mutex, two condition variables, atomics), so the pool
//! can be linked into C programs. Waits spin briefly ([`SPIN_LIMIT`] polls of an atomic
//! mirror of the state) before they sleep on a condition variable: a compiled function
//! launches its kernels back to back, and waking a sleeping worker costs several
//! microseconds per launch, as much as a small kernel's whole grid. The number of threads of the global pool comes from
//! `TESSERA_NUM_THREADS`, else `std::thread::available_parallelism`; `TESSERA_PIN_THREADS=1`
//! pins its threads to CPUs ([`crate::affinity`]).

use std::cell::Cell;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::affinity::{pin_current_thread, pinning_from_env};
use crate::error::{panic_message, Error, ErrorCode, Result};

/// The environment variable that sets the number of threads of the global pool.
pub const NUM_THREADS_ENV: &str = "TESSERA_NUM_THREADS";

/// The most threads a pool may have (a larger request is an error, not a fork bomb).
pub const MAX_THREADS: usize = 1024;

/// How many times a waiting thread polls before it sleeps (about 10 to 50 microseconds
/// here): long enough to cover the gap between two launches of one function, short
/// enough that an idle pool costs nothing.
pub const SPIN_LIMIT: u32 = 1 << 12;

thread_local! {
    /// Whether this thread is running a task (always true on workers).
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
}

/// The tasks of part `part` when `n_tasks` tasks are cut into `n_parts` contiguous ranges
/// whose lengths differ by at most one (longer ones last).
pub fn part_range(n_tasks: usize, n_parts: usize, part: usize) -> Range<usize> {
    assert!(n_parts > 0 && part < n_parts, "part {part} of {n_parts}");
    let at = |p: usize| (p as u128 * n_tasks as u128 / n_parts as u128) as usize;
    at(part)..at(part + 1)
}

/// The thread count that `TESSERA_NUM_THREADS=value` asks for: a positive integer, at
/// most [`MAX_THREADS`] (a larger one, however many digits it has, is read as
/// `MAX_THREADS`), else `default` (unset, empty, zero or unparsable).
pub fn threads_from_env_value(value: Option<&str>, default: usize) -> usize {
    let Some(v) = value.map(str::trim) else {
        return default;
    };
    match v.parse::<usize>() {
        Ok(n) if n > 0 => n.min(MAX_THREADS),
        // Digits alone that overflow `usize`: a very large count.
        Err(_) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => MAX_THREADS,
        _ => default,
    }
}

/// The default thread count: `TESSERA_NUM_THREADS`, else the available parallelism.
pub fn default_num_threads() -> usize {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    threads_from_env_value(std::env::var(NUM_THREADS_ENV).ok().as_deref(), available)
}

/// One grid being run: lives on the dispatching thread's stack while workers use it.
struct Job<'a> {
    task: &'a (dyn Fn(usize) -> Result<()> + Sync + 'a),
    n_tasks: usize,
    n_parts: usize,
    /// The lowest failing task index so far (`usize::MAX`: none). Tasks above it are
    /// skipped, tasks below it still run, so the lowest failing index of the whole grid is
    /// the one reported, whatever the timing.
    first_failure: AtomicUsize,
    /// The failure with the lowest task index so far.
    failure: Mutex<Option<(usize, Error)>>,
}

impl Job<'_> {
    fn run_part(&self, part: usize) {
        let was_in_task = IN_TASK.with(|f| f.replace(true));
        for i in part_range(self.n_tasks, self.n_parts, part) {
            if i > self.first_failure.load(Ordering::Relaxed) {
                break;
            }
            let outcome = match catch_unwind(AssertUnwindSafe(|| (self.task)(i))) {
                Ok(r) => r,
                Err(payload) => Err(Error::new(
                    ErrorCode::TaskPanicked,
                    format!("task {i} panicked: {}", panic_message(&*payload)),
                )),
            };
            if let Err(e) = outcome {
                self.first_failure.fetch_min(i, Ordering::Relaxed);
                let mut failure = lock(&self.failure);
                if failure.as_ref().is_none_or(|(j, _)| i < *j) {
                    *failure = Some((i, e));
                }
                break;
            }
        }
        IN_TASK.with(|f| f.set(was_in_task));
    }

    fn into_result(self) -> Result<()> {
        match self
            .failure
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
        {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

/// A `Job` pointer handed to workers, its lifetime erased.
#[derive(Clone, Copy)]
struct JobPtr(*const Job<'static>);
// SAFETY: a Job is Sync (its task is `Sync`, the rest are atomics and a mutex), and the
// dispatcher keeps it alive until every worker holding the pointer has finished with it
// (see `ThreadPool::try_parallel_for`).
unsafe impl Send for JobPtr {}

struct State {
    /// Incremented for every grid that uses workers.
    generation: u64,
    job: Option<JobPtr>,
    /// Parts of the current job (workers `1..n_parts` take part).
    n_parts: usize,
    /// Workers that have not finished their part of the current job.
    pending: usize,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    /// `state.generation`, readable without the lock (for spinning workers).
    generation: AtomicU64,
    /// `state.pending`, readable without the lock (for a spinning dispatcher).
    pending: AtomicUsize,
    /// Signalled when a job is published or on shutdown.
    wake: Condvar,
    /// Signalled when `pending` drops to zero.
    done: Condvar,
}

/// Locks ignoring poisoning: no code of this module panics while holding a lock, and
/// tasks run outside every lock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pool of persistent worker threads; see the module documentation.
pub struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    n_threads: usize,
    /// Whether threads are pinned to CPUs ([`crate::affinity`]).
    pin: bool,
    /// Serialises dispatches from different outside threads.
    dispatch: Mutex<()>,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("n_threads", &self.n_threads)
            .field("pin", &self.pin)
            .finish()
    }
}

impl ThreadPool {
    /// A pool running grids on `n_threads` threads (the caller and `n_threads - 1`
    /// workers). `n_threads` must be in `1..=MAX_THREADS`.
    pub fn new(n_threads: usize) -> Result<ThreadPool> {
        ThreadPool::with_pinning(n_threads, false)
    }

    /// As [`ThreadPool::new`]; with `pin`, worker `w` is bound to the `w`-th CPU the
    /// process may use and each thread that calls [`ThreadPool::parallel_for`] to the
    /// first ([`crate::affinity`]).
    pub fn with_pinning(n_threads: usize, pin: bool) -> Result<ThreadPool> {
        if n_threads == 0 || n_threads > MAX_THREADS {
            return Err(Error::bad_argument(format!(
                "thread count {n_threads} is not in 1..={MAX_THREADS}"
            )));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                generation: 0,
                job: None,
                n_parts: 0,
                pending: 0,
                shutdown: false,
            }),
            generation: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            wake: Condvar::new(),
            done: Condvar::new(),
        });
        let mut pool = ThreadPool {
            shared,
            workers: Vec::new(),
            n_threads,
            pin,
            dispatch: Mutex::new(()),
        };
        for w in 1..n_threads {
            let shared = Arc::clone(&pool.shared);
            let spawned = std::thread::Builder::new()
                .name(format!("tessera-worker-{w}"))
                .spawn(move || {
                    if pin {
                        pin_current_thread(w);
                    }
                    worker_loop(&shared, w)
                });
            match spawned {
                Ok(h) => pool.workers.push(h),
                // Dropping `pool` shuts down the workers spawned so far.
                Err(e) => {
                    return Err(Error::new(
                        ErrorCode::OutOfMemory,
                        format!("cannot start worker thread {w}: {e}"),
                    ))
                }
            }
        }
        Ok(pool)
    }

    /// The number of threads grids run on (workers plus the caller).
    pub fn num_threads(&self) -> usize {
        self.n_threads
    }

    /// Calls `f(i)` for every `i < n_tasks`, split over the pool; a panic in `f` is
    /// returned as [`ErrorCode::TaskPanicked`].
    pub fn parallel_for<F>(&self, n_tasks: usize, f: F) -> Result<()>
    where
        F: Fn(usize) + Sync,
    {
        self.try_parallel_for(n_tasks, |i| {
            f(i);
            Ok(())
        })
    }

    /// Calls `f(i, j)` for every `i < rows`, `j < cols`: the 2-D grid flattened row-major
    /// (so each thread gets a contiguous band of rows and columns).
    pub fn parallel_for_2d<F>(&self, rows: usize, cols: usize, f: F) -> Result<()>
    where
        F: Fn(usize, usize) + Sync,
    {
        let n = rows.checked_mul(cols).ok_or_else(|| {
            Error::bad_argument(format!("grid {rows} x {cols} has too many tasks"))
        })?;
        self.parallel_for(n, |t| f(t / cols, t % cols))
    }

    /// As [`ThreadPool::parallel_for`], for tasks that can fail: the first failure (lowest
    /// index) stops the grid and is returned.
    pub fn try_parallel_for<F>(&self, n_tasks: usize, f: F) -> Result<()>
    where
        F: Fn(usize) -> Result<()> + Sync,
    {
        if n_tasks == 0 {
            return Ok(());
        }
        let nested = IN_TASK.with(Cell::get);
        if self.pin && !nested {
            pin_current_thread(0);
        }
        let n_parts = if nested {
            1
        } else {
            self.n_threads.min(n_tasks)
        };
        let job = Job {
            task: &f,
            n_tasks,
            n_parts,
            first_failure: AtomicUsize::new(usize::MAX),
            failure: Mutex::new(None),
        };
        if n_parts == 1 {
            job.run_part(0);
            return job.into_result();
        }
        {
            let _one_grid_at_a_time = lock(&self.dispatch);
            {
                let mut st = lock(&self.shared.state);
                st.generation += 1;
                let ptr: *const Job<'_> = &job;
                // Erases the lifetime; see the SAFETY note on `JobPtr`.
                st.job = Some(JobPtr(ptr.cast::<Job<'static>>()));
                st.n_parts = n_parts;
                st.pending = n_parts - 1;
                self.shared.pending.store(n_parts - 1, Ordering::Release);
                self.shared
                    .generation
                    .store(st.generation, Ordering::Release);
            }
            // From here until `wait` has returned, workers may hold pointers to `job`; the
            // guard waits for them even if this thread unwinds, so `job` outlives them.
            let wait = WaitForWorkers(&self.shared);
            self.shared.wake.notify_all();
            job.run_part(0);
            drop(wait);
        }
        job.into_result()
    }
}

/// Waits (on drop) until no worker uses the current job, then unpublishes it.
struct WaitForWorkers<'a>(&'a Shared);

impl Drop for WaitForWorkers<'_> {
    fn drop(&mut self) {
        // The lock-protected count decides; the spin only saves the sleep.
        spin_until(|| self.0.pending.load(Ordering::Acquire) == 0);
        let mut st = lock(&self.0.state);
        while st.pending > 0 {
            st = self.0.done.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.job = None;
    }
}

/// Polls `ready` up to [`SPIN_LIMIT`] times, yielding the core every 64 polls (so that a
/// spinning thread gives way to another process on a busy machine); returns whether it
/// became true.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    for i in 0..SPIN_LIMIT {
        if ready() {
            return true;
        }
        if i % 64 == 63 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    false
}

fn worker_loop(shared: &Shared, index: usize) {
    IN_TASK.with(|f| f.set(true));
    let mut seen = 0u64;
    loop {
        // A new job (or shutdown, which bumps nothing: the lock-protected loop below
        // sees it after the spin) usually follows the last one within microseconds.
        spin_until(|| shared.generation.load(Ordering::Acquire) != seen);
        let job = {
            let mut st = lock(&shared.state);
            loop {
                if st.shutdown {
                    return;
                }
                if st.generation != seen {
                    seen = st.generation;
                    if index < st.n_parts {
                        if let Some(job) = st.job {
                            break job;
                        }
                    }
                }
                st = shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
        };
        // SAFETY: this worker is counted in `pending`, and the dispatcher keeps the Job
        // alive (WaitForWorkers) until `pending` is zero, which happens only after the
        // decrement below, after the last use of `job`.
        unsafe { &*job.0 }.run_part(index);
        let mut st = lock(&shared.state);
        st.pending -= 1;
        shared.pending.store(st.pending, Ordering::Release);
        if st.pending == 0 {
            shared.done.notify_all();
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.wake.notify_all();
        for h in self.workers.drain(..) {
            // Workers catch task panics, so a join error cannot carry anything useful.
            let _ = h.join();
        }
    }
}

/// The global pool and the process that created it.
struct Global {
    pool: Arc<ThreadPool>,
    pid: u32,
}

static GLOBAL: Mutex<Option<Global>> = Mutex::new(None);

/// The global pool of this process: one created before a `fork` belongs to the parent (the
/// child has none of its worker threads, so a grid on it would wait forever, and its
/// threads cannot be joined) and is let go without dropping it.
fn ours(g: &mut Option<Global>) -> Option<Arc<ThreadPool>> {
    match g.take() {
        Some(gl) if gl.pid == std::process::id() => {
            let p = Arc::clone(&gl.pool);
            *g = Some(gl);
            Some(p)
        }
        Some(inherited) => {
            std::mem::forget(inherited);
            None
        }
        None => None,
    }
}

/// Held by every test that resizes or counts on the global pool (tests run in parallel).
#[cfg(test)]
pub(crate) static GLOBAL_TEST_LOCK: Mutex<()> = Mutex::new(());

/// The process-wide pool that compiled code uses, created on first use with
/// [`default_num_threads`] threads.
pub fn global() -> Result<Arc<ThreadPool>> {
    let mut g = lock(&GLOBAL);
    if let Some(p) = ours(&mut g) {
        return Ok(p);
    }
    let p = Arc::new(ThreadPool::with_pinning(
        default_num_threads(),
        pinning_from_env(),
    )?);
    *g = Some(Global {
        pool: Arc::clone(&p),
        pid: std::process::id(),
    });
    Ok(p)
}

/// Replaces the global pool by one of `n` threads (`0`: [`default_num_threads`]). Grids
/// already running finish on the old pool, which is dropped after them.
pub fn set_global_num_threads(n: usize) -> Result<()> {
    let n = if n == 0 { default_num_threads() } else { n };
    let mut g = lock(&GLOBAL);
    if ours(&mut g).is_some_and(|p| p.num_threads() == n) {
        return Ok(());
    }
    let new = Arc::new(ThreadPool::with_pinning(n, pinning_from_env())?);
    let old = g.replace(Global {
        pool: new,
        pid: std::process::id(),
    });
    drop(g);
    // Joins the old workers (if no grid still holds the pool) outside the lock.
    drop(old);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// Small sizes under Miri, which is slow.
    const N: usize = if cfg!(miri) { 50 } else { 10_000 };

    #[test]
    fn partition_is_contiguous_balanced_and_deterministic() {
        for n_tasks in [0usize, 1, 2, 7, 64, 1000] {
            for n_parts in 1..=9 {
                let ranges: Vec<_> = (0..n_parts)
                    .map(|p| part_range(n_tasks, n_parts, p))
                    .collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[n_parts - 1].end, n_tasks);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let lens: Vec<_> = ranges.iter().map(|r| r.len()).collect();
                let (lo, hi) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(hi - lo <= 1, "{lens:?}");
            }
        }
        assert_eq!(part_range(10, 3, 0), 0..3);
        assert_eq!(part_range(10, 3, 1), 3..6);
        assert_eq!(part_range(10, 3, 2), 6..10);
        assert_eq!(part_range(usize::MAX, 2, 1).end, usize::MAX);
    }

    #[test]
    fn env_value_parsing() {
        assert_eq!(threads_from_env_value(None, 3), 3);
        assert_eq!(threads_from_env_value(Some(""), 3), 3);
        assert_eq!(threads_from_env_value(Some("0"), 3), 3);
        assert_eq!(threads_from_env_value(Some("-2"), 3), 3);
        assert_eq!(threads_from_env_value(Some("four"), 3), 3);
        assert_eq!(threads_from_env_value(Some(" 5 "), 3), 5);
        assert_eq!(threads_from_env_value(Some("100000"), 3), MAX_THREADS);
        // Beyond u64: still a very large count, not an unparsable one.
        assert_eq!(
            threads_from_env_value(Some("99999999999999999999"), 3),
            MAX_THREADS
        );
        assert_eq!(threads_from_env_value(Some("000"), 3), 3);
        assert!(default_num_threads() >= 1);
    }

    #[test]
    fn every_index_exactly_once_and_sum() {
        for threads in [1, 2, 3, 8] {
            let pool = ThreadPool::new(threads).unwrap();
            assert_eq!(pool.num_threads(), threads);
            let hits: Vec<AtomicUsize> = (0..N).map(|_| AtomicUsize::new(0)).collect();
            let sum = AtomicU64::new(0);
            pool.parallel_for(N, |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
                sum.fetch_add(i as u64, Ordering::Relaxed);
            })
            .unwrap();
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            assert_eq!(sum.load(Ordering::Relaxed), (N as u64 - 1) * N as u64 / 2);
        }
    }

    /// With pinning, part `p` of a grid runs on the `p`-th CPU the process may use (the
    /// caller's part on the first), each thread bound to that CPU alone.
    // Miri runs neither `sched_setaffinity` nor reads of `/proc`.
    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn pinned_pool_binds_each_part_to_its_cpu() {
        let cores = crate::affinity::process_cpus();
        let threads = 3;
        // A fresh caller thread, so that this test thread is not pinned.
        let cpus = std::thread::spawn(move || {
            let pool = ThreadPool::with_pinning(threads, true).unwrap();
            let cpus: Vec<Mutex<String>> =
                (0..threads).map(|_| Mutex::new(String::new())).collect();
            pool.parallel_for(threads, |i| {
                let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
                let line = status.lines().find(|l| l.starts_with("Cpus_allowed_list:"));
                *lock(&cpus[i]) = line.unwrap().split(':').nth(1).unwrap().trim().to_string();
            })
            .unwrap();
            cpus.into_iter()
                .map(|m| m.into_inner().unwrap())
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        for (part, got) in cpus.iter().enumerate() {
            assert_eq!(
                *got,
                cores[part % cores.len()].id.to_string(),
                "part {part}"
            );
        }
    }

    #[test]
    fn tasks_really_run_on_several_threads_by_part() {
        let pool = ThreadPool::new(4).unwrap();
        let caller = std::thread::current().id();
        let owner: Vec<Mutex<Option<std::thread::ThreadId>>> =
            (0..8).map(|_| Mutex::new(None)).collect();
        pool.parallel_for(8, |i| *lock(&owner[i]) = Some(std::thread::current().id()))
            .unwrap();
        let ids: Vec<_> = owner.iter().map(|m| lock(m).unwrap()).collect();
        // Parts are 0..2, 2..4, 4..6, 6..8; part 0 runs on the caller.
        assert_eq!(ids[0], caller);
        assert_eq!(ids[1], caller);
        for p in 1..4 {
            assert_eq!(ids[2 * p], ids[2 * p + 1]);
            assert_ne!(ids[2 * p], caller);
        }
    }

    #[test]
    fn grid_2d_covers_every_cell() {
        let pool = ThreadPool::new(3).unwrap();
        let (rows, cols) = (7, 13);
        let hits: Vec<AtomicUsize> = (0..rows * cols).map(|_| AtomicUsize::new(0)).collect();
        pool.parallel_for_2d(rows, cols, |i, j| {
            assert!(i < rows && j < cols);
            hits[i * cols + j].fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        pool.parallel_for_2d(0, 5, |_, _| panic!("no cells"))
            .unwrap();
        pool.parallel_for_2d(5, 0, |_, _| panic!("no cells"))
            .unwrap();
        let e = pool.parallel_for_2d(usize::MAX, 2, |_, _| ()).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
    }

    #[test]
    fn zero_size_grid_runs_nothing() {
        let pool = ThreadPool::new(2).unwrap();
        pool.parallel_for(0, |_| panic!("no task")).unwrap();
    }

    #[test]
    fn many_tiny_grids() {
        let pool = ThreadPool::new(4).unwrap();
        let total = AtomicUsize::new(0);
        let grids = if cfg!(miri) { 20 } else { 2000 };
        for g in 0..grids {
            pool.parallel_for(g % 6, |_| {
                total.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        let expected: usize = (0..grids).map(|g| g % 6).sum();
        assert_eq!(total.load(Ordering::Relaxed), expected);
    }

    #[test]
    fn panics_are_errors_and_the_pool_survives() {
        let pool = ThreadPool::new(3).unwrap();
        let e = pool
            .parallel_for(30, |i| {
                if i == 17 {
                    panic!("bad index {i}");
                }
            })
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::TaskPanicked);
        assert_eq!(e.message, "task 17 panicked: bad index 17");
        // Two failing parts: the lowest index is reported, whatever the timing.
        for _ in 0..if cfg!(miri) { 2 } else { 200 } {
            let e = pool
                .parallel_for(30, |i| assert!(i != 5 && i != 25, "at {i}"))
                .unwrap_err();
            assert_eq!(e.message, "task 5 panicked: at 5");
        }
        let count = AtomicUsize::new(0);
        pool.parallel_for(30, |_| {
            count.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(count.load(Ordering::Relaxed), 30);
        // Single-threaded and serial paths catch panics too.
        let one = ThreadPool::new(1).unwrap();
        assert_eq!(
            one.parallel_for(3, |_| panic!("x")).unwrap_err().code,
            ErrorCode::TaskPanicked
        );
    }

    #[test]
    fn failing_tasks_stop_the_grid() {
        let pool = ThreadPool::new(1).unwrap();
        let ran = AtomicUsize::new(0);
        let e = pool
            .try_parallel_for(100, |i| {
                ran.fetch_add(1, Ordering::Relaxed);
                if i == 3 {
                    Err(Error::new(ErrorCode::ShapeMismatch, "tile 3"))
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        assert_eq!(e, Error::new(ErrorCode::ShapeMismatch, "tile 3"));
        assert_eq!(
            ran.load(Ordering::Relaxed),
            4,
            "tasks after the failure are skipped"
        );
    }

    #[test]
    fn nested_use_runs_serially() {
        let pool = ThreadPool::new(3).unwrap();
        let inner_total = AtomicUsize::new(0);
        pool.parallel_for(6, |_| {
            let me = std::thread::current().id();
            pool.parallel_for(10, |_| {
                assert_eq!(
                    std::thread::current().id(),
                    me,
                    "nested grids stay on this thread"
                );
                inner_total.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        })
        .unwrap();
        assert_eq!(inner_total.load(Ordering::Relaxed), 60);
        // After a nested grid the caller is no longer "in a task": grids use workers again.
        let caller = std::thread::current().id();
        let other = AtomicUsize::new(0);
        pool.parallel_for(3, |_| {
            if std::thread::current().id() != caller {
                other.fetch_add(1, Ordering::Relaxed);
            }
        })
        .unwrap();
        assert_eq!(other.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn concurrent_callers_are_serialised() {
        let pool = ThreadPool::new(3).unwrap();
        let total = AtomicUsize::new(0);
        let rounds = if cfg!(miri) { 3 } else { 200 };
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..rounds {
                        pool.parallel_for(9, |_| {
                            total.fetch_add(1, Ordering::Relaxed);
                        })
                        .unwrap();
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * rounds * 9);
    }

    #[test]
    fn bad_thread_counts() {
        assert_eq!(ThreadPool::new(0).unwrap_err().code, ErrorCode::BadArgument);
        assert!(ThreadPool::new(MAX_THREADS + 1).is_err());
    }

    #[test]
    fn global_pool_can_be_resized() {
        let _serial = lock(&GLOBAL_TEST_LOCK);
        set_global_num_threads(3).unwrap();
        let g = global().unwrap();
        assert_eq!(g.num_threads(), 3);
        set_global_num_threads(2).unwrap();
        assert_eq!(global().unwrap().num_threads(), 2);
        // The old pool still works for whoever holds it.
        g.parallel_for(5, |_| ()).unwrap();
        set_global_num_threads(0).unwrap();
        assert_eq!(global().unwrap().num_threads(), default_num_threads());
    }
}
