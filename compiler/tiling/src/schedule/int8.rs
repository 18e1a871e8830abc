//! The schedule of `i8 x i8 -> i32` dots (the Cranelift back end's `pmaddwd` micro-kernel,
//! `codegen-cpu/src/lower/dot_int.rs`, and its `vpdpbusd` form on VNNI hosts,
//! `lower/dot_vnni.rs`, which takes the same block over quads of `k`).
//!
//! Rule: the register block is [`DOT_I8_BLOCK`] (4 rows x 2 `i32x4` vectors, 8 output
//! columns), narrowed to the tile (no more rows than it has, no more vectors than its
//! columns need, a partial vector counting as one); both operands are always packed
//! (`pack = "both"`: the lhs widened to `i16` pairs, the rhs interleaved by pairs of rows),
//! and the loop over pairs of `k` is unrolled [`DOT_I8_UNROLL`] times.

use tessera_dialects::{Attr, Operation};

/// The register block of `i8` dots: `[rows, i32x4 vectors]`. Per pair of `k`: `vecs`
/// rhs loads, `rows` loads of broadcast lhs pairs, `rows * vecs` `pmaddwd` + `paddd`
/// (8 products each); 8 accumulators, 2 rhs vectors, one lhs vector and one product take
/// 12 of the 16 vector registers.
pub const DOT_I8_BLOCK: [i64; 2] = [4, 2];

/// The unroll factor of the loop over pairs of `k` in `i8` dots: 2 (the loop's pointer
/// increments, compare and branch paid once per two pairs, no spills). Measured
/// (`i8[256, 1024] @ i8[1024, 1024]` with a symbolic batch, one core, callgrind
/// instructions per run): 4 x 2 unrolled once 140.5 M, twice 128.4 M, four times 135.7 M;
/// 6 x 2 unrolled twice 133.0 M (it spills, and 32-row tiles leave a 2-row block).
pub const DOT_I8_UNROLL: i64 = 2;

/// Writes the `i8` dot schedule on `op`, a dot of an `m x k` and a `k x n` tile.
pub(super) fn schedule_i8_dot(op: &mut Operation, m: u64, k: u64, n: u64) {
    let rows = DOT_I8_BLOCK[0].min(m as i64).max(1);
    let vecs = DOT_I8_BLOCK[1].min((n as i64 + 3) / 4).max(1);
    op.attrs.set("block", Attr::Ints(vec![rows, vecs]));
    let pairs = k.div_ceil(2) as i64;
    op.attrs
        .set("unroll", Attr::Int(DOT_I8_UNROLL.min(pairs).max(1)));
    op.attrs.set("pack", Attr::Str("both".to_string()));
}
