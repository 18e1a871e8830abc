//! The tile-IR interpreter: runs a `tile.kernel` on host buffers, so that every lowering
//! step from graph IR can be checked against the graph interpreter before machine code.
//!
//! [`run_kernel`] binds the kernel's parameters to host tensors, walks the grid and runs the
//! body once per grid point. The semantics it fixes (the contract the back ends follow):
//!
//! - **Binding.** `buffers` holds one tensor per kernel parameter, in order. A global
//!   `buf<T[S...]>` must have dtype `T` and the shape `S` evaluated with `sizes` (every name
//!   a size expression uses must be bound there; nothing is inferred from the buffers). A
//!   0-d tensor parameter (`%alpha: f32`) takes a 0-d tensor and may be used by graph
//!   operations, including inside `tile.map` regions. Global buffers are updated in place
//!   by `tile.store`, and only when the whole kernel succeeds: on error they are unchanged.
//! - **Scratch.** A `scratch` or `registers` buffer is private to each grid point and is
//!   allocated by the interpreter. The caller passes either a tensor of the declared type
//!   (checked, never read nor written) or an empty placeholder (any tensor with no
//!   elements). At the start of every grid point its contents are undefined: the
//!   interpreter fills it with NaN (float dtypes) or 0 (integers, bool), so that a kernel
//!   reading scratch it has not written shows up in float results.
//! - **Grid.** `grid` sizes are evaluated with `sizes` (a negative size is an error, 0 runs
//!   nothing); the points run sequentially in row-major order (last axis fastest). The
//!   `parallel`/`order`/`vector`/`unroll`/`place` attributes are schedule hints and do not
//!   change results. Values never carry over from one grid point to the next.
//! - **Loops.** `tile.for` with `bounds = sizes[lo, hi]` runs `k = lo .. hi - 1` (none when
//!   `hi <= lo`); its region takes `(k, iter...)` and yields the next iteration values.
//! - **Loads and stores** address buffers in tile coordinates: index `i` along an axis of
//!   tile size `t` covers elements `i*t .. (i+1)*t`. Elements outside the buffer (past the
//!   end, or before 0 for negative indices) read as `pad` (default 0; converted to the
//!   buffer's dtype as `graph.constant` does) and are never written.
//! - **Arithmetic** follows the graph interpreter's numerics ([`crate::kernels`]):
//!   `tile.map` evaluates its region with the graph kernels, `tile.reduce` is
//!   `graph.reduce_{sum,max,min}` over one axis (sums in `f64`, rounded once), `tile.cast`
//!   is `graph.cast`, `tile.broadcast` is `graph.broadcast_to`.
//! - **`tile.dot`** computes `acc + lhs @ rhs` per element in `f64` (products of float
//!   elements are exact there) and rounds once per dot to the accumulator's dtype; integer
//!   operands accumulate in wrapping `i32`. A tiled matmul that splits `K` into `n` tiles
//!   therefore rounds `n` times where `graph.matmul` rounds once: identical for `n == 1`,
//!   otherwise within `n` ulps of the result's magnitude bound `sum |a||b|`.
//! - **Limits.** Grids and loops of more than [`MAX_ITERATIONS`] points, tiles and scratch
//!   buffers of more than [`MAX_TILE_ELEMENTS`] elements are errors, not allocations.
//!   Malformed IR is an [`InterpError`](crate::InterpError) at the operation's location,
//!   never a panic.

mod bind;
mod dot;
mod exec;
mod memory;
mod scalar;
mod value;

pub use exec::run_kernel;

/// The most points a grid, or iterations a `tile.for`, may have.
pub const MAX_ITERATIONS: i64 = 1 << 31;

/// The most elements a tile or a scratch buffer may have.
pub const MAX_TILE_ELEMENTS: usize = 1 << 26;
