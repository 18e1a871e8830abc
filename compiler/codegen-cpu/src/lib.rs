//! Tessera's CPU back end (first form, JIT only): compiles one `tile.kernel` with
//! Cranelift into native code and runs its grid on the runtime's thread pool.
//!
//! ```text
//! let backend = JitBackend::new()?;                    // host ISA, has_fma, opt_level=speed
//! let kernel = backend.compile(&module, "scale_shift")?;
//! kernel.run_tensors(&mut buffers, &sizes)?;            // checks, then parallel_for
//! println!("{}", clif_text(&kernel));                   // the Cranelift IR
//! ```
//!
//! The native ABI is documented in [`abi`]; the safety argument of running it in [`run`].
//!
//! # Supported subset
//!
//! | op | supported | vectorised (`f32x4`) |
//! | --- | --- | --- |
//! | `tile.program_id` | any grid rank | - |
//! | `tile.for` | tile iteration values (any number) | - |
//! | `tile.load`/`tile.store` | rank >= 1 buffers of every dtype, masked edges, `pad`, negative indices, scratch buffers; `unit = "elements"` (negative offsets read `pad`, are not written), `strides`, `perm` (tile extents `t * stride` up to 2^24) | 16-byte copies of each row's inside part when the last tile axis walks the last buffer axis with step 1; else element by element, each checked |
//! | `tile.index` | constant or symbolic `value` (through the size table) | - |
//! | `tile.affine` | when the static bound `|offset| + sum |c_i| * B_i` of the result is at most 2^62 (else refused: no silent overflow) | - |
//! | `tile.iota` | `i32` tiles, with or without a base; values beyond `i32` are a run-time error (checked unless the base's bound proves they fit) | 16-byte fills |
//! | `tile.zeros`/`tile.splat` | every dtype | 16-byte fills |
//! | `tile.map` | `f32`, `i32`, `i8`, `bool` elements: `add sub mul max min neg abs relu`, `div` on integers (floor division, `x / 0 == 0`, `MIN / -1` wraps, as the interpreter), comparisons, `select`, `constant`, `cast` (saturating `as`); on floats also `div sqrt recip pow exp log rsqrt tanh sigmoid gelu gelu_tanh silu erf` (inline on `f32`; `pow` and narrow floats through the `f64` helpers). `f16`/`bf16`/`f8e4m3`/`f8e5m2` elements (mixed with any other dtypes) are widened exactly to `f32`, computed as `f32`, and each result rounded to its dtype as the interpreter's `round_arith` (nearest even, overflow to inf, NaN for `f8e4m3`; one helper call per rounded element) | all-`f32` maps of `add sub mul div max min neg abs relu sqrt recip constant` and of `exp log tanh erf sigmoid silu gelu gelu_tanh rsqrt` (inline `f32x4` sequences, errors in docs/numerics-cpu.md; the scalar tail runs the same sequence on one lane), `i32` `add sub mul max min neg abs relu`, comparisons of `f32` or `i32` values (lane masks) and `select`, with a scalar tail; `mul`+`add` fused to `fma` |
//! | `tile.reduce` | `f32`: sum, max, min over any axis; `f16`/`bf16`/`f8e4m3`/`f8e5m2`: sum (exact values summed in `f64` in axis order, rounded once: bit-identical to the interpreter), max, min (NaN propagates); `i32`/`i8`: sum (wrapping `i32`, `i8` wraps), max, min; `argmax` on every dtype (first maximum, NaN is the maximum) | `f32` sum/max/min when the kept inner size or the reduced last axis is a multiple of 4 (four independent accumulators when the last axis is a multiple of 16) |
//! | `tile.dot` | `f32 x f32 -> f32` (fma, f32 accumulation), `i8 x i8 -> i32`, `i32 x i32 -> i32` (wrapping); other float dots (`f16`/`bf16`/`f8` operands of one dtype into any float accumulator, `f32` operands into a narrow one): scalar, `f64` accumulation in `k` order rounded once, bit-identical to the interpreter | `f32`: register-blocked micro-kernels from the `block`/`unroll`/`pack`/`madd` schedule attributes (e.g. 4 x 3 `f32x4` accumulators held across the K loop, packed rhs panels, `fma` or `mul`+`add`; an rhs in column panels `P x K x W` or an lhs in broadcast row panels `Q x K x R x 4` read in place, `R` the block's rows), `N % 4` scalar columns; one row of 4 vectors without a schedule |
//! | `tile.broadcast` | every dtype, NumPy rules or `dims` (broadcast in dim) | row copies/fills |
//! | `tile.cast` | every pair of dtypes (`f32 <-> i32` inline, others through a helper) | - |
//!
//! Anything else (sum/max/min reductions on `bool` tiles, refused by the interpreter too, affine index
//! arithmetic whose static bound exceeds 2^62, tile extents above 2^24 elements, symbolic
//! scratch shapes, 0-d buffers, non-tile `tile.for` values) is a [`CodegenError::Unsupported`] at compile
//! time, never wrong code. Run-time checks (only `tile.iota`'s `i32` range so far) set the
//! frame's status word and make the run fail with [`CodegenError::Runtime`]. Reading scratch memory
//! not written in the same grid point gives unspecified values (the interpreter shows NaN).

pub mod abi;
mod error;
mod helpers;
mod jit;
mod lower;
pub mod object;
pub mod peak;
pub mod program;
pub mod run;
pub mod tile_layout;

pub use abi::{KernelFn, ParamKind, Signature};
pub use error::{CodegenError, Result};
pub use jit::{clif_text, CompiledKernel, JitBackend};
pub use object::{
    compile_object, entry_symbol, sizes_symbol, Baked, ObjectArtifact, ObjectEntry, ObjectFunction,
};
pub use program::{build_plan, output_name, JitProgram};
