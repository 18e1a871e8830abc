//! The `f32` `tile.dot` whose rhs is in column panels (`P x K x W`, a weight packed when
//! bound, `tessera_tiling::prepack`) held in `f32`, `bf16` or `f16`: the load (and the
//! widening `tile.cast` of a narrow one) are left to the dot, which reads the panels in
//! place when the tile lies wholly inside the buffer, else loads them with padding, and
//! widens narrow panels once per tile (`lower/dot_widen.rs`). Compared with the tile
//! interpreter on random buffers: ragged M, K and P (tiles past every edge), every pack
//! form (ignored for panels), both product forms, live rows, and a dot whose rhs cast is
//! also used elsewhere (not deferred: loaded and cast as written).

mod common;

use common::*;
use tessera_codegen_cpu::{clif_text, JitBackend};
use tessera_dialects::DType;

/// A matmul kernel over `a: f32[M, K]` and `b: D[P, K, 8]` (`N = 8 P` columns, in panels
/// of 8) with `tm x tk` lhs tiles and `tp x tk x 8` rhs tiles, the rhs widened by
/// `tile.cast` when `d` is narrow; with `twice` (and `tp = 1`), the column sums of the
/// widened tile are also added to the result (a second use, so nothing is deferred).
fn kernel(tm: u64, tk: u64, tp: u64, d: DType, attrs: &str, twice: bool) -> String {
    let tn = tp * 8;
    let rhs = if d == DType::F32 {
        format!("    %tb = tile.load %b, %j, %k, %z0 : (buf<f32[P, K, 8]>, index, index, index) -> tile<{tp}x{tk}x8xf32>")
    } else {
        format!(
            "    %tn = tile.load %b, %j, %k, %z0 : (buf<{d}[P, K, 8]>, index, index, index) -> tile<{tp}x{tk}x8x{d}>\n    %tb = tile.cast %tn {{dtype = f32}} : (tile<{tp}x{tk}x8x{d}>) -> tile<{tp}x{tk}x8xf32>"
        )
    };
    let (yield_, extra) = if twice {
        (
            "%e".to_string(),
            format!(
                "    %r = tile.reduce %tb {{axis = 1, kind = \"sum\"}} : (tile<{tp}x{tk}x8xf32>) -> tile<{tp}x8xf32>\n    %s = tile.reduce %r {{axis = 0, kind = \"sum\"}} : (tile<{tp}x8xf32>) -> tile<8xf32>\n    %bs = tile.broadcast %s : (tile<8xf32>) -> tile<{tm}x{tn}xf32>\n    %e = tile.map %d, %bs : (tile<{tm}x{tn}xf32>, tile<{tm}x{tn}xf32>) -> tile<{tm}x{tn}xf32> (%x: f32, %y: f32) {{\n      %v = graph.add %x, %y : (f32, f32) -> f32\n      tile.yield %v : f32\n    }}\n"
            ),
        )
    } else {
        ("%d".to_string(), String::new())
    };
    format!(
        "tile.kernel @mm(%a: buf<f32[M, K]>, %b: buf<{d}[P, K, 8]>, %out: buf<f32[M, N]>) attributes {{grid = sizes[(M + {m1}) / {tm}, (N + {n1}) / {tn}], parallel = [0, 1], vector = 4}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %j = tile.program_id {{axis = 1}} : () -> index
  %z0 = tile.index {{value = sizes[0]}} : () -> index
  %zero = tile.zeros : () -> tile<{tm}x{tn}xf32>
  %acc = tile.for %zero {{bounds = sizes[0, (K + {k1}) / {tk}]}} : (tile<{tm}x{tn}xf32>) -> tile<{tm}x{tn}xf32> (%k: index, %c: tile<{tm}x{tn}xf32>) {{
    %ta = tile.load %a, %i, %k : (buf<f32[M, K]>, index, index) -> tile<{tm}x{tk}xf32>
{rhs}
    %d = tile.dot %ta, %tb, %c {attrs} : (tile<{tm}x{tk}xf32>, tile<{tp}x{tk}x8xf32>, tile<{tm}x{tn}xf32>) -> tile<{tm}x{tn}xf32>
{extra}    tile.yield {yield_} : tile<{tm}x{tn}xf32>
  }}
  tile.store %acc, %out, %i, %j : (tile<{tm}x{tn}xf32>, buf<f32[M, N]>, index, index) -> ()
}}
",
        m1 = tm - 1,
        n1 = tn - 1,
        k1 = tk - 1,
    )
}

/// Runs [`kernel`] at every `(M, K, P)` of `bindings` (`N = 8 P`) against the tile
/// interpreter, within f32 reassociation of `K` products.
fn run(tiles: (u64, u64, u64), d: DType, attrs: &str, twice: bool, bindings: &[(i64, i64, i64)]) {
    let (tm, tk, tp) = tiles;
    let m = module(&kernel(tm, tk, tp, d, attrs, twice));
    let b: Vec<_> = bindings
        .iter()
        .map(|&(mm, k, p)| sizes(&[("M", mm), ("K", k), ("P", p), ("N", 8 * p)]))
        .collect();
    check_dot(&m, &b, bindings.iter().map(|b| b.1).max().unwrap_or(1));
}

/// Sizes inside one tile, exact multiples, and ragged edges on every axis.
const SIZES: &[(i64, i64, i64)] = &[
    (1, 1, 1),
    (13, 7, 3),
    (40, 33, 5),
    (16, 32, 4),
    (9, 1, 2),
    (2, 70, 7),
];

#[test]
fn narrow_and_f32_panels_on_ragged_tiles() {
    for d in [DType::F32, DType::BF16, DType::F16] {
        for (tm, tk, tp) in [(8, 16, 4), (7, 5, 2), (13, 1, 1), (12, 33, 3)] {
            for (r, pack, madd, rows) in [
                (4, "both", "mul_add", "live"),
                (6, "rhs", "fma", "all"),
                (1, "none", "mul_add", "all"),
                (3, "lhs", "fma", "live"),
            ] {
                let attrs = format!(
                    "{{block = [{r}, 2], unroll = 1, pack = \"{pack}\", madd = \"{madd}\", rows = \"{rows}\"}}"
                );
                run((tm, tk, tp), d, &attrs, false, SIZES);
            }
        }
    }
}

#[test]
fn a_widened_panel_tile_used_twice_is_loaded_and_cast_as_written() {
    let attrs = "{block = [4, 2], unroll = 1, pack = \"both\", madd = \"mul_add\"}";
    // One panel (8 columns), so that the column sums of the tile broadcast over the result.
    for d in [DType::BF16, DType::F16] {
        run((8, 16, 1), d, attrs, true, SIZES);
    }
}

#[test]
fn narrow_panels_are_widened_by_vectors_or_by_the_runtime() {
    let attrs = "{block = [4, 2], unroll = 1, pack = \"both\", madd = \"mul_add\"}";
    let b = JitBackend::new().expect("jit");
    let clif = |d: DType| {
        let m = module(&kernel(8, 16, 4, d, attrs, false));
        clif_text(&b.compile(&m, "mm").expect("compiles"))
    };
    // bf16: four narrow elements per load, widened to an f32x4 inline.
    let text = clif(DType::BF16);
    assert!(text.contains("uload16x4"), "{text}");
    assert!(!text.contains(" call "), "{text}");
    // f16: one call of the runtime's run widening per panel, no inline lanes.
    let text = clif(DType::F16);
    assert!(text.contains(" call fn0("), "{text}");
    assert!(!text.contains("uload16x4"), "{text}");
}
