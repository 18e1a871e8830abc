//! The `f32` `tile.dot` whose rhs is a `bf16` tile widened by `tile.cast` (the matmul of a
//! weight held in `bf16`, `--precision bf16`): the load and the cast are left to the dot,
//! which widens the `bf16` tile while packing it (`lower/dot_widen.rs`). Compared with
//! the tile interpreter on random buffers with ragged sizes: tiles that lie wholly inside
//! the buffer (packed straight from it) and tiles past its edges (loaded with padding,
//! then packed), every pack form and block shape, `N % 4` columns (not deferred: the
//! plain load and cast), symbolic sizes that are not multiples of the tiles.

mod common;

use common::*;
use tessera_codegen_cpu::{clif_text, JitBackend};

/// A matmul kernel over a `bf16` rhs with `tm x tk` and `tk x tn` tiles.
fn kernel(tm: u64, tk: u64, tn: u64, attrs: &str) -> String {
    format!(
        "tile.kernel @mm(%a: buf<f32[M, K]>, %b: buf<bf16[K, N]>, %out: buf<f32[M, N]>) attributes {{grid = sizes[(M + {m1}) / {tm}, (N + {n1}) / {tn}], parallel = [0, 1], vector = 4}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %j = tile.program_id {{axis = 1}} : () -> index
  %zero = tile.zeros : () -> tile<{tm}x{tn}xf32>
  %acc = tile.for %zero {{bounds = sizes[0, (K + {k1}) / {tk}]}} : (tile<{tm}x{tn}xf32>) -> tile<{tm}x{tn}xf32> (%k: index, %c: tile<{tm}x{tn}xf32>) {{
    %ta = tile.load %a, %i, %k : (buf<f32[M, K]>, index, index) -> tile<{tm}x{tk}xf32>
    %tn = tile.load %b, %k, %j : (buf<bf16[K, N]>, index, index) -> tile<{tk}x{tn}xbf16>
    %tb = tile.cast %tn {{dtype = f32}} : (tile<{tk}x{tn}xbf16>) -> tile<{tk}x{tn}xf32>
    %d = tile.dot %ta, %tb, %c {attrs} : (tile<{tm}x{tk}xf32>, tile<{tk}x{tn}xf32>, tile<{tm}x{tn}xf32>) -> tile<{tm}x{tn}xf32>
    tile.yield %d : tile<{tm}x{tn}xf32>
  }}
  tile.store %acc, %out, %i, %j : (tile<{tm}x{tn}xf32>, buf<f32[M, N]>, index, index) -> ()
}}
",
        m1 = tm - 1,
        n1 = tn - 1,
        k1 = tk - 1,
    )
}

fn run(tiles: (u64, u64, u64), attrs: &str, bindings: &[(i64, i64, i64)]) {
    let (tm, tk, tn) = tiles;
    let m = module(&kernel(tm, tk, tn, attrs));
    let b: Vec<_> = bindings
        .iter()
        .map(|&(mm, k, n)| sizes(&[("M", mm), ("K", k), ("N", n)]))
        .collect();
    let kmax = bindings.iter().map(|b| b.1).max().unwrap_or(1);
    check_kernel(
        &m,
        "mm",
        &b,
        Tol::Close {
            rtol: 1e-5,
            atol: 1e-4 * kmax as f32,
        },
    );
}

/// Sizes inside one tile, exact multiples, and ragged edges on every axis.
const SIZES: &[(i64, i64, i64)] = &[
    (1, 1, 4),
    (13, 7, 29),
    (40, 33, 50),
    (16, 32, 64),
    (9, 1, 1),
    (2, 70, 3),
];

#[test]
fn a_bf16_rhs_widened_while_packed_on_ragged_tiles() {
    for (tm, tk, tn) in [
        (8, 16, 32),
        (7, 5, 12),
        (13, 1, 8),
        (16, 32, 64),
        (12, 33, 24),
    ] {
        for (r, v) in [(4, 2), (6, 2), (1, 4), (3, 1), (4, 3)] {
            for pack in ["rhs", "both"] {
                for madd in ["fma", "mul_add"] {
                    let attrs = format!(
                        "{{block = [{r}, {v}], unroll = 2, pack = \"{pack}\", madd = \"{madd}\", rows = \"live\"}}"
                    );
                    run((tm, tk, tn), &attrs, SIZES);
                }
            }
        }
    }
}

#[test]
fn a_bf16_rhs_not_packed_or_with_scalar_columns_is_loaded_then_cast() {
    // No packing, or `N % 4` columns: the load and cast run as written.
    for (tm, tk, tn) in [(8, 16, 32), (7, 5, 13), (5, 3, 1), (16, 9, 10)] {
        for pack in ["none", "rhs", "lhs"] {
            let attrs = format!("{{block = [4, 2], unroll = 1, pack = \"{pack}\"}}");
            run((tm, tk, tn), &attrs, SIZES);
        }
    }
}

#[test]
fn the_widening_pack_is_vectorised() {
    let attrs = "{block = [4, 2], unroll = 1, pack = \"rhs\"}";
    let m = module(&kernel(8, 16, 32, attrs));
    let b = JitBackend::new().expect("jit");
    let clif = clif_text(&b.compile(&m, "mm").expect("compiles"));
    assert!(clif.contains("uload16x4"), "{clif}");
    // Without packing, the bf16 tile is loaded and cast as written: no widening pack.
    let m = module(&kernel(
        8,
        16,
        32,
        "{block = [4, 2], unroll = 1, pack = \"none\"}",
    ));
    let clif = clif_text(&b.compile(&m, "mm").expect("compiles"));
    assert!(!clif.contains("uload16x4"), "{clif}");
}
