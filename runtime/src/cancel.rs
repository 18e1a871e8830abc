//! Cooperative cancellation: a caller that may want to stop a call (the REPL on Ctrl-C)
//! runs it under a [`CancelToken`] with [`with_token`]; the executor checks the token of
//! its thread before every kernel launch and stops with [`crate::ErrorCode::Cancelled`].
//! A launch already running finishes first, so the latency is one kernel. Calls made
//! without a token (the C ABI, the tests) are never cancelled.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag shared between the thread that runs a call and the one that may cancel it.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks every call running under this token to stop at its next kernel launch.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<CancelToken>> = const { RefCell::new(None) };
}

/// Runs `f` with `token` as this thread's cancellation token (the previous one is
/// restored afterwards).
pub fn with_token<T>(token: &CancelToken, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<CancelToken>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT.with(|c| c.borrow_mut().replace(token.clone()));
    let _restore = Restore(prev);
    f()
}

/// Whether this thread's call was cancelled.
pub fn requested() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(CancelToken::is_cancelled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_applies_to_its_thread_for_the_duration() {
        let t = CancelToken::new();
        assert!(!requested());
        with_token(&t, || {
            assert!(!requested());
            t.cancel();
            assert!(requested());
        });
        assert!(!requested(), "the token is gone after the call");
        let other = std::thread::spawn(requested).join().unwrap();
        assert!(!other, "another thread has no token");
    }
}
