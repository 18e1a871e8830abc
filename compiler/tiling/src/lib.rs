//! Tiling: a graph-IR function becomes tile-IR kernels and a plan that launches them.
//!
//! Every graph value gets a buffer; each graph operation becomes one or more kernels
//! (`lower/`), written as IR text from readable templates and checked by the IR parser
//! and verifier; the plan (`plan.rs`) lists the buffers and the launches in order, and
//! runs on any kernel executor (the tile interpreter, the Cranelift back end).
//! See `docs/tiling.md` for the design and what is lowered so far.

pub mod axes;
pub mod checks;
pub mod einsum;
pub mod groups;
mod lower;
pub mod plan;
pub mod prepack;
mod rewrite;
pub mod schedule;
mod template;

pub use checks::SliceCheck;
pub use lower::{lower_func, lower_func_with, FusionPolicy, TilingError};
pub use plan::{BufId, BufKind, BufferInfo, Launch, Tiled};
pub use schedule::Schedule;
