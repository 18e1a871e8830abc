//! Text pieces for writing kernels as IR: types, sizes and a kernel-text builder that
//! numbers SSA names so that every name is defined once.

use std::fmt::Write as _;
use tessera_dialects::{DType, SymExpr};

/// `buf<f32[B, 784]>`.
pub fn buf(dtype: DType, shape: &[SymExpr]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("buf<{dtype}[{}]>", dims.join(", "))
}

/// `tile<1x256xf32>`.
pub fn tile(dtype: DType, shape: &[u64]) -> String {
    let mut s = String::from("tile<");
    for d in shape {
        let _ = write!(s, "{d}x");
    }
    let _ = write!(s, "{dtype}>");
    s
}

/// `(E + t - 1) / t`: the number of tiles of size `t` covering `E`.
pub fn cdiv(e: &SymExpr, t: u64) -> SymExpr {
    let t = t as i64;
    e.add(&SymExpr::lit(t - 1))
        .floor_div(&SymExpr::lit(t))
        .unwrap_or_else(|_| e.clone())
}

/// `sizes[a, b]`.
pub fn sizes(v: &[SymExpr]) -> String {
    let d: Vec<String> = v.iter().map(|d| d.to_string()).collect();
    format!("sizes[{}]", d.join(", "))
}

/// The lowest value of float dtype `dt` as an attribute value (identity of `max`, padding
/// of masked loads): `-inf`, or `-448.0` for `f8e4m3`, which has no infinities (an infinite
/// value would become NaN there, and NaN propagates through `max`).
pub fn float_lowest(dt: DType) -> &'static str {
    if dt == DType::F8E4M3 {
        "-448.0"
    } else {
        "-inf"
    }
}

/// The largest value of float dtype `dt` as an attribute value: `inf`, or `448.0` for
/// `f8e4m3` (see [`float_lowest`]).
pub fn float_highest(dt: DType) -> &'static str {
    if dt == DType::F8E4M3 {
        "448.0"
    } else {
        "inf"
    }
}

/// The tile size along an axis of extent `e`: `max_tile`, or the extent when it is a
/// smaller constant.
pub fn fit(e: &SymExpr, max_tile: u64) -> u64 {
    match e.as_const() {
        Some(c) if c >= 1 && (c as u64) < max_tile => c as u64,
        _ => max_tile,
    }
}

/// The tile `[tr, tn]` of a row kernel (softmax, log_softmax, layernorm, rmsnorm: one
/// grid point per `tr` rows, three loops over column chunks of `tn`) for `rows` rows of `n`
/// elements, with `max_tile` the elementwise tile size (`Schedule::elementwise`, a quarter
/// of L1 in `f32`: 2048 on a 32 KiB L1).
///
/// - `tn`: the whole row when `n` is a constant below `max_tile` (one chunk per loop),
///   `max_tile` for a longer constant row. A symbolic row length (a sequence length or a
///   hidden size, unknown until run time) gets `max_tile / 16` (128): every tile op works
///   on the whole tile, padding included, so a 2048-wide chunk did 16x the work on a
///   128-long attention row (a third of the encoder block's time); a chunk of 32 `f32x4`
///   vectors wastes at most 127 elements per row and still amortises each op's loop on
///   long rows (measured the same as 2048-wide chunks on `gelu_layernorm` with D = 4096).
/// - `tr`: rows known to fit one chunk (a constant `n <= tn`) are taken several per grid
///   point, as many as fill `max_tile / 4` elements (a power of two, at most 16, at most
///   `rows` when that is a constant), so short rows still give each grid point a few
///   hundred elements per op. Other rows are one per grid point: a long row stays in L1
///   across the kernel's loops, and its `[1, n]` operands (gamma, beta, a prologue's row
///   vectors) are used as loaded, without a broadcast to `tr` rows.
pub fn row_tile(rows: &SymExpr, n: &SymExpr, max_tile: u64) -> (u64, u64) {
    let (tn, one_chunk) = match n.as_const() {
        Some(c) => (fit(n, max_tile), (c as u64) <= max_tile),
        None => ((max_tile / 16).max(1), false),
    };
    let mut tr = 1;
    while one_chunk && tr < 16 && 2 * tr * tn <= (max_tile / 4).max(1) {
        tr *= 2;
    }
    (fit(rows, tr), tn)
}

/// Builds one kernel's text: a header, then body lines at one indentation.
pub struct KernelText {
    head: String,
    lines: Vec<String>,
    next: usize,
}

impl KernelText {
    /// `tile.kernel @name(params) attributes {grid = ..., parallel = ...}`.
    pub fn new(name: &str, params: &[(String, String)], grid: &[SymExpr]) -> KernelText {
        let ps: Vec<String> = params.iter().map(|(n, t)| format!("%{n}: {t}")).collect();
        let parallel: Vec<String> = (0..grid.len()).map(|i| i.to_string()).collect();
        KernelText {
            head: format!(
                "tile.kernel @{name}({}) attributes {{grid = {}, parallel = [{}]}} {{",
                ps.join(", "),
                sizes(grid),
                parallel.join(", ")
            ),
            lines: Vec::new(),
            next: 0,
        }
    }

    /// A fresh SSA name with a readable prefix.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    pub fn line(&mut self, l: impl Into<String>) {
        self.lines.push(l.into());
    }

    /// The counter of fresh names, to continue numbering in another builder.
    pub fn counter(&self) -> usize {
        self.next
    }

    pub fn set_counter(&mut self, n: usize) {
        self.next = n;
    }

    /// The body lines written so far (for regions nested in another kernel's text).
    pub fn body_lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().flat_map(|l| l.lines())
    }

    pub fn finish(self) -> String {
        let mut s = self.head;
        s.push('\n');
        for l in self.lines {
            for part in l.lines() {
                s.push_str("  ");
                s.push_str(part);
                s.push('\n');
            }
        }
        s.push_str("}\n");
        s
    }
}
