//! Passes over graph IR and the pass manager that runs, prints and verifies them.
//!
//! Every pass is declared once in [`registry::PASSES`]; `tessera opt --passes a,b` and
//! the default pipeline look passes up there.

pub mod canonicalize;
pub mod cse;
pub mod dce;
pub mod hoist;
pub mod inline;
pub mod manager;
pub mod registry;
pub mod rewrite;

pub use manager::{PassError, PassManager};
pub use registry::{lookup, Pass, DEFAULT_PIPELINE, PASSES};
