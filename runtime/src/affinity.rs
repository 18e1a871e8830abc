//! Opt-in pinning of the pool's threads to CPUs (`TESSERA_PIN_THREADS=1`).
//!
//! By default the operating system places Tessera's threads. On a small VM it may run the
//! calling thread and a worker on one core for the first tens of milliseconds of a process
//! (measured here: the first 5 to 30 calls of a compiled function take up to twice as
//! long), which is what a one-shot `tessera run` sees. With pinning, the thread that calls
//! into a pool is bound to the first CPU the process may use and worker `w` to the
//! `w`-th (modulo their number): logical CPUs, like `OMP_PROC_BIND=true` with
//! `OMP_PLACES=threads`. The list of CPUs is read once, at the first pinning.
//!
//! Pinning is not the default:
//! - two pinned processes on one machine share the same CPUs while others stay idle, and a
//!   pinned thread cannot move away from a CPU something else keeps busy (on this 2-CPU
//!   VM: `bench sgemm N=256` halves its median, 0.62 to 0.31 ms, but its slowest runs go
//!   from 0.7 to 4-16 ms);
//! - a calling thread stays pinned after the call, for all its work, and threads it
//!   starts later inherit that CPU: every thread of an application that calls into
//!   Tessera from several threads ends up on the first CPU.

use std::cell::Cell;
use std::sync::OnceLock;

use core_affinity::CoreId;

/// The environment variable that turns pinning on (`1`, `true`, `yes` or `on`).
pub const PIN_THREADS_ENV: &str = "TESSERA_PIN_THREADS";

thread_local! {
    /// Whether this thread has been pinned already (callers are pinned once).
    static PINNED: Cell<bool> = const { Cell::new(false) };
}

/// Whether `TESSERA_PIN_THREADS=value` asks for pinning.
pub fn pinning_from_env_value(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes" | "on")
    )
}

/// Whether the environment asks for pinning.
pub fn pinning_from_env() -> bool {
    pinning_from_env_value(std::env::var(PIN_THREADS_ENV).ok().as_deref())
}

/// The CPUs this process may run on, read once, at the first pinning (a thread pinned
/// later, or a worker spawned by a pinned thread, would see only its own CPU).
pub(crate) fn process_cpus() -> &'static [CoreId] {
    static CPUS: OnceLock<Vec<CoreId>> = OnceLock::new();
    CPUS.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default())
}

/// Binds the current thread to the `slot`-th CPU (modulo their number) of those this
/// process may run on, once per thread; returns whether the thread is pinned. A platform
/// without affinity support, or a refused request, leaves the thread where it is.
pub fn pin_current_thread(slot: usize) -> bool {
    if PINNED.with(Cell::get) {
        return true;
    }
    let cores = process_cpus();
    if cores.is_empty() {
        return false;
    }
    let pinned = core_affinity::set_for_current(cores[slot % cores.len()]);
    PINNED.with(|p| p.set(pinned));
    pinned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values() {
        for on in ["1", "true", "YES", " on "] {
            assert!(pinning_from_env_value(Some(on)), "{on}");
        }
        for off in [
            None,
            Some(""),
            Some("0"),
            Some("false"),
            Some("2"),
            Some("pin"),
        ] {
            assert!(!pinning_from_env_value(off), "{off:?}");
        }
    }

    /// The CPUs this thread may run on, from `/proc/thread-self/status`.
    #[cfg(all(target_os = "linux", not(miri)))]
    fn allowed_cpus() -> String {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap();
        line.split(':').nth(1).unwrap().trim().to_string()
    }

    // Miri runs neither `sched_setaffinity` nor reads of `/proc`.
    #[cfg(all(target_os = "linux", not(miri)))]
    #[test]
    fn a_pinned_thread_may_run_on_one_cpu_only() {
        let cores = process_cpus();
        for slot in [0, 1, cores.len() + 1] {
            let (pinned, cpus) = std::thread::spawn(move || {
                let first = pin_current_thread(slot);
                // A second call keeps the first binding.
                let again = pin_current_thread(slot + 1);
                (first && again, allowed_cpus())
            })
            .join()
            .unwrap();
            assert!(pinned);
            assert_eq!(
                cpus,
                cores[slot % cores.len()].id.to_string(),
                "slot {slot}"
            );
        }
    }
}
