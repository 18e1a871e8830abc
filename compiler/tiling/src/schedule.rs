//! The default schedule: tile sizes from an analytic rule on the host's cache sizes, and
//! the scheduling pass ([`apply`]) that writes the decisions code generation reads as
//! attributes on the kernels (the `scheduled` IR level of `tessera dump`).
//!
//! Rule (second form, for a CPU with 16 128-bit vector registers):
//! - elementwise kernels process `elementwise` elements of the last axis per grid point (a
//!   quarter of L1 in f32 values, at least 64); reductions take `rows` rows per grid point
//!   and `elementwise` columns per step;
//! - contractions (`matmul`, `einsum`, convolution as implicit GEMM) use the register
//!   block [`DOT_BLOCK`] (4 rows x 2 `f32x4` = 8 accumulators, plus 2 rhs vectors, one
//!   broadcast lhs element and one product), so the micro-kernel's rhs panel is 8 columns
//!   wide;
//! - the K step `mk` is the largest power of two (16 to 512) such that one micro-kernel's
//!   operands, its packed lhs block (`4 x mk` elements broadcast to vectors: 64 bytes per
//!   k) and its packed rhs panel (`mk x 8` f32: 32 bytes per k), fill at most three
//!   quarters of L1: they stay in L1 across the whole K step;
//! - the M and N tile `mm` is the largest power of two (16 to 128) such that the lhs tile
//!   (`mm x mk`) and the packed rhs tile (`mk x mm`) fill at most half of L2, so the
//!   output tile, the accumulator and the unpacked rhs tile share the other half;
//! - a constant K is cut into balanced steps of at most `mk` ([`Schedule::k_tile`]); a
//!   symbolic M gets `mm` rows or a quarter of them, by what it looks like
//!   ([`Schedule::rows_tile`]).
//!
//! The cache sizes are read at run time from `/sys/devices/system/cpu/cpu0/cache`, with a
//! fallback of 32 KiB L1 and 512 KiB L2 when they cannot be read.

mod int8;

pub use int8::{DOT_I8_BLOCK, DOT_I8_UNROLL};

use crate::plan::Tiled;
use std::fmt;
use tessera_dialects::{Attr, DType, Op, Operation, Region, SymExpr, TileOp, Type, ValueData};

/// Tile sizes for one compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub elementwise: u64,
    /// The M and N tile of contractions.
    pub mm: u64,
    /// The K step of contractions.
    pub mk: u64,
    pub rows: u64,
}

/// The register block of `f32` dots: `[rows, f32x4 vectors]`. With `mul_add` each `k`
/// step loads the `vecs` rhs vectors and the `rows` broadcast lhs elements once (6 vector
/// loads for 8 products; the fma form's 4 x 3 block needed 15 for 12, its broadcasts
/// fresh per product) and keeps 8 accumulators, 2 rhs vectors, a broadcast and a product
/// in registers. Measured (sgemm 1024, one core, `madd = "mul_add"`, `pack = "both"`):
/// 4 x 2 52.8 GFLOP/s, 6 x 2 51.9, 5 x 2 51.4, 3 x 3 51.1; 4 x 3 `fma` 47.5.
pub const DOT_BLOCK: [i64; 2] = [4, 2];

/// The unroll factor of the micro-kernel's K loop: 1. Cranelift's e-graph places the
/// operations of an unrolled body accumulator by accumulator, so with `fma` every step's
/// rhs vectors would be live at once and a 4 x 3 block would spill (sgemm 1024 on one
/// core: 29 GFLOP/s unrolled twice, 35 not unrolled).
pub const DOT_UNROLL: i64 = 1;

/// The unroll factor of the K loop of a dot whose lhs is in broadcast row panels (the
/// `f32` convolution's taps): 2. Its loop reloads fewer spilled integers per step than the
/// matmul's (the panels are addressed from a buffer, not the frame), and twice unrolled it
/// runs 26 instructions per `k` instead of 32 (conv3x3 `N=8, H=56, W=56`: conv kernel 990 M
/// to 819 M instructions per run; 2 threads, interleaved: 18.77 to 18.33 ms). The matmul's
/// stays at [`DOT_UNROLL`].
pub const PANEL_DOT_UNROLL: i64 = 2;

/// How products are accumulated: `mul_add` (`vmulps` of a broadcast lhs element by an
/// rhs vector, both in registers, then `vaddps` into the accumulator's own register: no
/// register is tied, and multiplies and adds run on separate FP pipes) or `fma` (one
/// `vfmadd` per product; Cranelift ties an `fma`'s result to its first factor, so each
/// product needs a fresh `vbroadcastss` from memory, and the accumulators rotate through
/// the registers: one `movdqa` per accumulator and iteration, 45 instructions and 15 vector
/// loads per 12 products). With the lhs block packed as broadcast vectors (`pack =
/// "both"`), `mul_add` is about 11% faster (sgemm 1024 on one core: 52.8 against 47.5
/// GFLOP/s, 77% against 69% of the f32x4 peak); it rounds each product before adding it
/// (docs/numerics-cpu.md).
pub const DOT_MADD: &str = "mul_add";

/// The vector width (in `f32` lanes) of the CPU back end (Cranelift emits 128-bit vectors).
pub const VECTOR: i64 = 4;

impl Schedule {
    /// The rule above for given L1 and L2 sizes in bytes.
    pub fn for_caches(l1: u64, l2: u64) -> Schedule {
        let elementwise = prev_pow2((l1 / 4 / 4).max(64)).min(4096);
        let (rows, vecs) = (DOT_BLOCK[0] as u64, DOT_BLOCK[1] as u64);
        // mk * (16 rows + 16 vecs) bytes <= 3/4 l1
        let mut mk = 16;
        while 2 * mk * 16 * (rows + vecs) <= l1 / 4 * 3 && mk < 512 {
            mk *= 2;
        }
        // 2 * mm * mk * 4 bytes <= l2 / 2
        let mut mm = 16;
        while 2 * (2 * mm) * mk * 4 <= l2 / 2 && mm < 128 {
            mm *= 2;
        }
        Schedule {
            elementwise,
            mm,
            mk,
            rows: 8,
        }
    }

    /// The M tile of a contraction with `m` rows, `k` deep and `n` wide: `mm`, or `m` when
    /// it is a smaller constant. A symbolic row count is unknown until run time:
    /// - a single size that is neither `k` nor `n` is taken for a batch size and gets
    ///   `mm / 4` rows (at least the register block's rows): its rows past the end are
    ///   padding that the dot skips (`rows = "live"`), but the loads still fill them and
    ///   the epilogue still maps them, which cost batch 32 of `examples/mlp.tsr` 15% more
    ///   instructions with 128-row tiles;
    /// - a product of sizes (`B * S` rows of a sequence model) or a size that is also `k`
    ///   or `n` (a square `N x N` product) is taken for a large one and gets `mm`: each
    ///   packed rhs tile then serves four times as many rows (sgemm 1024: 5% fewer
    ///   instructions than with 32 rows).
    pub fn rows_tile(&self, m: &SymExpr, k: &SymExpr, n: &SymExpr) -> u64 {
        match (m.as_const(), m.as_name()) {
            (Some(_), _) => crate::template::fit(m, self.mm),
            (None, Some(_)) if m != k && m != n => {
                (self.mm / 4).max(DOT_BLOCK[0] as u64).min(self.mm)
            }
            (None, _) => self.mm,
        }
    }

    /// The K step of a contraction over `k`: `mk`, or for a constant `k` the multiple of
    /// [`VECTOR`] closest above `k / steps`, where `steps` is the number of `mk` steps
    /// `k` needs: the steps are balanced instead of the last one being mostly padding
    /// (K = 784: four steps of 196 instead of three of 256 and one of 16 padded to 256,
    /// which did 31% more multiply-adds than the product has).
    pub fn k_tile(&self, k: &SymExpr) -> u64 {
        match k.as_const() {
            Some(c) if c >= 1 && (c as u64) > self.mk => {
                let steps = (c as u64).div_ceil(self.mk);
                (c as u64).div_ceil(steps).next_multiple_of(VECTOR as u64)
            }
            _ => crate::template::fit(k, self.mk),
        }
    }

    /// The rule for this host's caches.
    pub fn host() -> Schedule {
        let (l1, l2) = host_caches();
        Schedule::for_caches(l1, l2)
    }
}

/// The scheduling pass: returns `tiled` with the schedule's decisions written as the
/// attributes the Cranelift back end reads (`tessera dump --ir scheduled` prints them):
/// - every kernel: `vector` (the vector width of its inner loops; its `grid` and
///   `parallel` axes come from the lowering);
/// - every `f32 x f32 -> f32` `tile.dot`: `block` (the register block, [`DOT_BLOCK`],
///   narrowed to the tile: no more rows than the tile has, no more vectors than its
///   columns fill), `unroll` (of the K loop, at most K), `pack`: `"rhs"` when the
///   right operand is reused by more than one row block (packing copies it once, every
///   row block then streams a contiguous panel), `"lhs"` when the left one is reused by
///   more than one column panel (each block of rows is copied once as broadcast vectors,
///   read by every panel from L1), `"both"` or `"none"`, and `madd` ([`DOT_MADD`]); an
///   lhs already in broadcast row panels (`Q x K x R x L`, the convolution's weight
///   taps) takes `R` rows per block, is never packed, and is unrolled
///   [`PANEL_DOT_UNROLL`] times;
/// - every `i8 x i8 -> i32` `tile.dot`: `block`, `unroll` and `pack = "both"` by the rule
///   of [`int8`].
///
/// Attributes already present are kept: a hand-written schedule in a `.tir` file wins.
pub fn apply(tiled: &Tiled) -> Tiled {
    let mut out = tiled.clone();
    for f in &mut out.kernels.funcs {
        if f.attrs.get("vector").is_none() {
            f.attrs.set("vector", Attr::Int(VECTOR));
        }
        schedule_region(&mut f.body, &f.values);
    }
    out
}

fn schedule_region(r: &mut Region, values: &[ValueData]) {
    for op in &mut r.ops {
        if op.op == Op::Tile(TileOp::Dot) {
            schedule_dot(op, values);
        }
        for inner in &mut op.regions {
            schedule_region(inner, values);
        }
    }
}

/// The 2-D tile type of value `v`, if it is one.
fn tile2(values: &[ValueData], v: tessera_dialects::Value) -> Option<(DType, u64, u64)> {
    match &values.get(v.index())?.ty {
        Type::Tile(t) if t.shape.len() == 2 => Some((t.dtype, t.shape[0], t.shape[1])),
        _ => None,
    }
}

/// `(dtype, M, K, R)` of a value that is an lhs in broadcast row panels (a `Q x K x R x
/// L` tile, `M = Q * R`), if it is one.
fn lhs_panels(values: &[ValueData], v: tessera_dialects::Value) -> Option<(DType, u64, u64, u64)> {
    match &values.get(v.index())?.ty {
        Type::Tile(t) if t.shape.len() == 4 && t.shape[2] > 0 => {
            Some((t.dtype, t.shape[0] * t.shape[2], t.shape[1], t.shape[2]))
        }
        _ => None,
    }
}

fn schedule_dot(op: &mut Operation, values: &[ValueData]) {
    let [a, b, c] = match op.operands.as_slice() {
        [a, b, c] | [a, b, c, _] => [*a, *b, *c],
        _ => return,
    };
    // An lhs in broadcast row panels (`Q x K x R x L`): blocks of `R` rows, read in place.
    let lhs_panels = lhs_panels(values, a);
    let lhs = tile2(values, a).or(lhs_panels.map(|(d, m, k, _)| (d, m, k)));
    let (Some((da, m, k)), Some((db, _, n)), Some((dc, _, _))) =
        (lhs, tile2(values, b), tile2(values, c))
    else {
        return;
    };
    if op.attrs.get("block").is_some() {
        return;
    }
    if let Some((_, _, _, r)) = lhs_panels {
        if (da, db, dc) != (DType::F32, DType::F32, DType::F32) {
            return;
        }
        let vecs = DOT_BLOCK[1].min(n as i64 / VECTOR).max(1);
        op.attrs.set("block", Attr::Ints(vec![r as i64, vecs]));
        op.attrs
            .set("unroll", Attr::Int(PANEL_DOT_UNROLL.min(k as i64).max(1)));
        let pack = if m > r && n as i64 >= VECTOR {
            "rhs"
        } else {
            "none"
        };
        op.attrs.set("pack", Attr::Str(pack.to_string()));
        op.attrs.set("madd", Attr::Str(DOT_MADD.to_string()));
        return;
    }
    if (da, db, dc) == (DType::I8, DType::I8, DType::I32) {
        return int8::schedule_i8_dot(op, m, k, n);
    }
    if (da, db, dc) != (DType::F32, DType::F32, DType::F32) {
        return;
    }
    let rows = DOT_BLOCK[0].min(m as i64).max(1);
    let vecs = DOT_BLOCK[1].min(n as i64 / VECTOR).max(1);
    op.attrs.set("block", Attr::Ints(vec![rows, vecs]));
    op.attrs
        .set("unroll", Attr::Int(DOT_UNROLL.min(k as i64).max(1)));
    // The rhs is packed when more than one row block reuses it, the lhs (broadcast) when
    // more than one column panel does.
    let rhs = m as i64 > rows && n as i64 >= VECTOR;
    let lhs = n as i64 >= 2 * VECTOR * vecs;
    let pack = match (lhs, rhs) {
        (true, true) => "both",
        (true, false) => "lhs",
        (false, true) => "rhs",
        (false, false) => "none",
    };
    op.attrs.set("pack", Attr::Str(pack.to_string()));
    op.attrs.set("madd", Attr::Str(DOT_MADD.to_string()));
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "elementwise {} / matmul {}x{}, k step {} / reduction rows {}",
            self.elementwise, self.mm, self.mm, self.mk, self.rows
        )
    }
}

fn prev_pow2(x: u64) -> u64 {
    1u64 << (63 - x.max(1).leading_zeros())
}

/// (L1 data, L2) in bytes for cpu0, or the fallback.
pub fn host_caches() -> (u64, u64) {
    let mut l1 = None;
    let mut l2 = None;
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let read = |f: &str| {
            std::fs::read_to_string(format!("{dir}/{f}"))
                .ok()
                .map(|s| s.trim().to_string())
        };
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            continue;
        };
        let bytes = parse_size(&size);
        match (level.as_str(), kind.as_str()) {
            ("1", "Data") => l1 = bytes,
            ("2", _) => l2 = bytes,
            _ => {}
        }
    }
    (l1.unwrap_or(32 * 1024), l2.unwrap_or(512 * 1024))
}

/// `32K`, `512K`, `1M` or a plain byte count.
fn parse_size(s: &str) -> Option<u64> {
    let (num, mul) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1024),
        'M' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_follows_the_caches() {
        let s = Schedule::for_caches(32 * 1024, 512 * 1024);
        assert_eq!(s.elementwise, 2048);
        assert_eq!(s.mm, 128);
        let small = Schedule::for_caches(4 * 1024, 16 * 1024);
        assert_eq!(small.elementwise, 256);
        assert_eq!(small.mm, 32);
        assert_eq!(small.mk, 32);
        assert_eq!(s.mk, 256);
        assert_eq!(parse_size("32K"), Some(32768));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("x"), None);
        let (l1, l2) = host_caches();
        assert!(l1 >= 1024 && l2 >= l1);
    }

    #[test]
    fn k_steps_are_balanced_for_a_constant_k() {
        let s = Schedule::for_caches(32 * 1024, 512 * 1024);
        let k = |c: i64| s.k_tile(&SymExpr::lit(c));
        assert_eq!(
            (k(784), k(1024), k(256), k(100), k(257)),
            (196, 256, 256, 100, 132)
        );
        assert_eq!(k(3), 3);
        assert_eq!(s.k_tile(&SymExpr::name("K")), 256);
    }

    #[test]
    fn the_rows_of_a_symbolic_m_follow_its_role() {
        let s = Schedule::for_caches(32 * 1024, 512 * 1024);
        let (b, n, k) = (SymExpr::name("B"), SymExpr::name("N"), SymExpr::lit(784));
        // A batch size alone: a quarter of the tile; a square product or a product of
        // sizes: the whole tile; constants: fitted.
        assert_eq!(s.rows_tile(&b, &k, &SymExpr::lit(1024)), 32);
        assert_eq!(s.rows_tile(&n, &n, &n), 128);
        assert_eq!(s.rows_tile(&b.mul(&SymExpr::name("S")), &k, &k), 128);
        assert_eq!(s.rows_tile(&SymExpr::lit(10), &k, &k), 10);
        assert_eq!(s.rows_tile(&SymExpr::lit(1000), &k, &k), 128);
    }
}
