//! Interruptible evaluation: a job (compiling, running) runs on its own thread while the
//! caller waits for it or for the interrupt flag (set by Ctrl-C). An interrupted job is
//! cancelled through the runtime's cancellation token: a native computation stops before
//! its next kernel launch (one kernel's latency); compilation, or a computation in the
//! interpreter, finishes in the background and its result is dropped.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Why a job gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// The interrupt flag was set while it ran.
    Interrupted,
    /// The job panicked (a bug in the compiler): its message.
    Panicked(String),
}

/// The stack of a job's thread: deep expressions recurse in the front end and passes.
const STACK_BYTES: usize = 64 << 20;

/// How often the flag is polled while a job runs.
const POLL: Duration = Duration::from_millis(10);

/// Interrupted jobs of this process that are still running.
static ABANDONED: AtomicUsize = AtomicUsize::new(0);

/// How many interrupted computations still run in the background (they hold the runtime's
/// kernel pool, so a new computation waits for them).
pub fn abandoned() -> usize {
    ABANDONED.load(Ordering::SeqCst)
}

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const LEFT: u8 = 2;

/// Runs `job` on a new thread and waits for its result, or until `flag` is set.
pub fn run<T: Send + 'static>(
    flag: &AtomicBool,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Stopped> {
    let (tx, rx) = mpsc::channel();
    let state = Arc::new(AtomicU8::new(RUNNING));
    let job_state = state.clone();
    let token = tessera_runtime::cancel::CancelToken::new();
    let job_token = token.clone();
    let spawned = std::thread::Builder::new()
        .name("tessera-repl-eval".to_string())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tessera_runtime::cancel::with_token(&job_token, job)
            }));
            if job_state.swap(DONE, Ordering::SeqCst) == LEFT {
                ABANDONED.fetch_sub(1, Ordering::SeqCst);
            }
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        return Err(Stopped::Panicked(format!("cannot start a thread: {e}")));
    }
    loop {
        match rx.recv_timeout(POLL) {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(p)) => return Err(Stopped::Panicked(panic_text(&*p))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if flag.load(Ordering::SeqCst) {
                    token.cancel();
                    // Counted before the job can see it left, so the count never underflows.
                    ABANDONED.fetch_add(1, Ordering::SeqCst);
                    let left = state
                        .compare_exchange(RUNNING, LEFT, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok();
                    if !left {
                        ABANDONED.fetch_sub(1, Ordering::SeqCst);
                    }
                    return Err(Stopped::Interrupted);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Stopped::Panicked("the evaluation thread ended".to_string()))
            }
        }
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_or_stops() {
        let flag = AtomicBool::new(false);
        assert_eq!(run(&flag, || 41 + 1), Ok(42));
        let flag = AtomicBool::new(true);
        let r = run(&flag, || std::thread::sleep(Duration::from_millis(300)));
        assert_eq!(r, Err(Stopped::Interrupted));
        assert!(abandoned() >= 1);
        // The abandoned job ends on its own and leaves the count.
        let t = std::time::Instant::now();
        while abandoned() > 0 && t.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(abandoned(), 0);
        let calm = AtomicBool::new(false);
        let r = run(&calm, || panic!("boom"));
        assert_eq!(r, Err(Stopped::Panicked("boom".to_string())));
    }
}
