//! `tessera repl`: every entry is compiled by the same pipeline as `tessera run` (front
//! end, passes, tiling, Cranelift) and run at once; every IR level is one command away.
//!
//! - [`session`]: [`Session`], the state and the evaluation of one entry (no terminal).
//! - [`input`]: what an entry is (command, `fn`, `let`, expression) and when it is complete.
//! - [`synth`]: the `.tsr` source written for an entry, and the map that sends diagnostics
//!   back into the user's text.
//! - [`host`]: the REPL's built-ins (`randn`, `zeros`, `load`, ...), run on the host.
//! - [`cache`]: compiled functions by synthesized source, so nothing compiles twice.
//! - [`commands`]: `:load`, `:weights`, `:ir`, `:explain`, `:time`, `:save`, `:help`, ...
//! - [`complete`]: tab completion.
//! - [`words`]: the arguments of the commands that take words, and their usage errors.
//! - [`worker`]: evaluation on a thread of its own, so Ctrl-C can interrupt it.
//!
//! The line editor (history, prompts, Ctrl-C) is the binary's (`src/cli/repl.rs`); see
//! `docs/repl.md` for the design.

pub mod cache;
pub mod commands;
pub mod complete;
pub mod host;
pub mod input;
pub mod session;
pub mod synth;
pub mod words;
pub mod worker;

pub use cache::Stats;
pub use session::{format_results, EvalError, Reply, Session};
