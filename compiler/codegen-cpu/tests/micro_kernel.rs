//! The register-blocked `f32` `tile.dot` (schedule attributes `block`, `unroll`, `pack`)
//! compiled with Cranelift and compared with the tile interpreter on random buffers
//! (inputs in [-1, 1]): every block shape from 1 x 1 to 8 x 4 vectors, K unrolled 1 to 4
//! times, with and without a packed rhs, fused or separate multiply-adds, on tiles whose sizes are not multiples of the
//! block (ragged row blocks, a narrower last column panel, `N % 4` scalar columns, K = 1,
//! N = 1), with symbolic buffer sizes that are not multiples of the tiles.
//!
//! Tolerance: the back end accumulates in `f32` in `k` order where the interpreter sums
//! in `f64`: `atol 1e-4 * K` (an upper bound of `sum |products|`), `rtol 1e-5`.

mod common;

use tessera_dialects::DType;

use common::*;

/// A matmul kernel with `tm x tk` and `tk x tn` tiles and the given dot attributes.
fn kernel(tm: u64, tk: u64, tn: u64, attrs: &str) -> String {
    matmul_kernel(tm, tk, tn, attrs, DType::F32)
}

fn run(tiles: (u64, u64, u64), attrs: &str, bindings: &[(i64, i64, i64)]) {
    check_matmul(tiles, attrs, DType::F32, bindings);
}

const SIZES: &[(i64, i64, i64)] = &[(1, 1, 1), (13, 7, 29), (40, 33, 50), (9, 1, 1), (2, 70, 3)];

#[test]
fn every_block_shape_on_ragged_tiles() {
    for (tm, tk, tn) in [
        (8, 16, 32),
        (7, 5, 13),
        (13, 1, 6),
        (5, 3, 1),
        (16, 9, 27),
        (12, 33, 24),
    ] {
        for (r, v) in [(4, 3), (6, 2), (1, 4), (3, 1), (8, 1), (2, 2)] {
            for pack in ["rhs", "none"] {
                let attrs = format!("{{block = [{r}, {v}], unroll = 2, pack = \"{pack}\"}}");
                run((tm, tk, tn), &attrs, SIZES);
            }
        }
    }
}

#[test]
fn separate_multiplies_and_adds() {
    for (tm, tk, tn) in [(8, 16, 32), (7, 5, 13), (13, 1, 6), (12, 33, 24)] {
        for (r, v, u) in [(4, 3, 1), (6, 2, 2), (5, 2, 3), (1, 1, 1)] {
            let attrs =
                format!("{{block = [{r}, {v}], unroll = {u}, pack = \"rhs\", madd = \"mul_add\"}}");
            run((tm, tk, tn), &attrs, SIZES);
        }
    }
}

#[test]
fn lhs_packed_as_broadcast_vectors() {
    // Row blocks outside and column panels inside, ragged rows and columns, both product
    // forms, with and without the rhs panels.
    for (tm, tk, tn) in [(8, 16, 32), (7, 5, 13), (13, 1, 6), (12, 33, 24), (5, 3, 1)] {
        for (r, v, u) in [(4, 2, 1), (4, 3, 2), (6, 2, 1), (1, 1, 3), (3, 4, 1)] {
            for pack in ["lhs", "both"] {
                for madd in ["mul_add", "fma"] {
                    let attrs = format!(
                        "{{block = [{r}, {v}], unroll = {u}, pack = \"{pack}\", madd = \"{madd}\"}}"
                    );
                    run((tm, tk, tn), &attrs, SIZES);
                }
            }
        }
    }
}

#[test]
fn live_rows_skip_the_padding_of_the_last_row_tile() {
    // `rows = "live"`: row blocks past the end of `a` are skipped. M = 13 with 8-row tiles
    // (5 live rows: one 4-row block and one row of the next), M = 40 with 16-row tiles
    // (8 live rows of the last tile), ragged last blocks (tm = 13, 7), every pack form.
    for (tm, tk, tn) in [(8, 16, 32), (16, 9, 27), (13, 5, 24), (7, 33, 13)] {
        for (r, v) in [(4, 2), (6, 2), (3, 3)] {
            for pack in ["none", "rhs", "lhs", "both"] {
                let attrs = format!(
                    "{{block = [{r}, {v}], unroll = 1, pack = \"{pack}\", madd = \"mul_add\", rows = \"live\"}}"
                );
                run((tm, tk, tn), &attrs, SIZES);
            }
        }
    }
    let b = tessera_codegen_cpu::JitBackend::new().unwrap();
    let live = "{block = [4, 2], unroll = 1, pack = \"both\", madd = \"mul_add\", rows = \"live\"}";
    let clif = tessera_codegen_cpu::clif_text(
        &b.compile(&module(&kernel(8, 16, 24, live)), "mm").unwrap(),
    );
    assert!(
        clif.contains(" = umin "),
        "the row loop is bounded by the live rows: {clif}"
    );
    let all = "{block = [4, 2], unroll = 1, pack = \"both\", madd = \"mul_add\"}";
    let clif =
        tessera_codegen_cpu::clif_text(&b.compile(&module(&kernel(8, 16, 24, all)), "mm").unwrap());
    assert!(!clif.contains(" = umin "), "{clif}");
}

#[test]
fn wide_rhs_tiles_are_packed_in_several_passes() {
    // 300 columns: 37 panels of 8 and one of 4 (one pass of 32 panels, then 5 and the
    // narrow one); 3-vector panels: 25 of 12 (passes of 21); N % 4 scalar columns.
    for (r, v) in [(4, 2), (4, 3)] {
        for pack in ["rhs", "both"] {
            let attrs = format!(
                "{{block = [{r}, {v}], unroll = 1, pack = \"{pack}\", madd = \"mul_add\"}}"
            );
            run(
                (8, 7, 300),
                &attrs,
                &[(9, 7, 300), (20, 9, 611), (3, 2, 45)],
            );
        }
    }
}

#[test]
fn a_store_between_the_rhs_load_and_the_dot_keeps_the_loaded_values() {
    // The rhs tile is packed straight from the buffer only when nothing writes a buffer
    // between its load and the dot: here the tile is overwritten with zeros in between,
    // and the dot must still see the values loaded before.
    let text = "tile.kernel @mm(%a: buf<f32[M, K]>, %b: buf<f32[K, N]>, %out: buf<f32[M, N]>) attributes {grid = sizes[(M + 7) / 8, (N + 15) / 16], parallel = [0], vector = 4} {
  %i = tile.program_id {axis = 0} : () -> index
  %j = tile.program_id {axis = 1} : () -> index
  %zero = tile.zeros : () -> tile<8x16xf32>
  %z2 = tile.zeros : () -> tile<16x16xf32>
  %acc = tile.for %zero {bounds = sizes[0, (K + 15) / 16]} : (tile<8x16xf32>) -> tile<8x16xf32> (%k: index, %c: tile<8x16xf32>) {
    %ta = tile.load %a, %i, %k : (buf<f32[M, K]>, index, index) -> tile<8x16xf32>
    %tb = tile.load %b, %k, %j : (buf<f32[K, N]>, index, index) -> tile<16x16xf32>
    tile.store %z2, %b, %k, %j : (tile<16x16xf32>, buf<f32[K, N]>, index, index) -> ()
    %d = tile.dot %ta, %tb, %c {block = [4, 2], unroll = 1, pack = \"both\", madd = \"mul_add\"} : (tile<8x16xf32>, tile<16x16xf32>, tile<8x16xf32>) -> tile<8x16xf32>
    tile.yield %d : tile<8x16xf32>
  }
  tile.store %acc, %out, %i, %j : (tile<8x16xf32>, buf<f32[M, N]>, index, index) -> ()
}
";
    // One grid point (M <= 8, N <= 16), so no grid point reads a tile another one zeroed.
    let b: Vec<_> = [(8, 16, 16), (5, 40, 16), (3, 7, 9)]
        .iter()
        .map(|&(m, k, n)| sizes(&[("M", m), ("K", k), ("N", n)]))
        .collect();
    check_kernel(
        &module(text),
        "mm",
        &b,
        Tol::Close {
            rtol: 1e-5,
            atol: 4e-3,
        },
    );
}

#[test]
fn every_unroll_factor_with_k_remainders() {
    for u in 1..=4 {
        for tk in [1, 2, 3, 5, 8, 11] {
            let attrs = format!("{{block = [4, 3], unroll = {u}, pack = \"rhs\"}}");
            run((9, tk, 28), &attrs, SIZES);
        }
    }
}

#[test]
fn unscheduled_dots_still_compile_one_row_at_a_time() {
    run((8, 16, 32), "", SIZES);
    run((7, 5, 13), "", SIZES);
}

#[test]
fn the_block_is_what_the_clif_shows() {
    let b = tessera_codegen_cpu::JitBackend::new().unwrap();
    let m = module(&kernel(
        8,
        16,
        24,
        "{block = [4, 3], unroll = 1, pack = \"rhs\"}",
    ));
    let clif = tessera_codegen_cpu::clif_text(&b.compile(&m, "mm").unwrap());
    // One k step of a 4 x 3 block: 12 broadcasts and 12 fmas in one loop body.
    assert!(clif.matches("splat.f32x4").count() >= 12, "{clif}");
    assert!(clif.matches(" = fma ").count() >= 12, "{clif}");
    assert!(clif.contains("readonly can_move"), "{clif}");
    // The default schedule's form: the lhs block read as broadcast vectors (no splat in
    // the k loop), one multiply and one add per product.
    let m = module(&kernel(
        8,
        16,
        24,
        "{block = [4, 2], unroll = 1, pack = \"both\", madd = \"mul_add\"}",
    ));
    let clif = tessera_codegen_cpu::clif_text(&b.compile(&m, "mm").unwrap());
    assert!(
        clif.matches("load.f32x4 notrap aligned readonly can_move")
            .count()
            >= 6,
        "{clif}"
    );
    assert!(clif.matches(" = fmul ").count() >= 8, "{clif}");
    assert!(!clif.contains(" = fma "), "{clif}");
    let bad = module(&kernel(8, 16, 24, "{block = [4, 3], unroll = 99}"));
    let e = b.compile(&bad, "mm").expect_err("unroll 99 is refused");
    assert!(e.to_string().contains("unroll"), "{e}");
}

/// A dot whose lhs is in broadcast row panels (`Q x K x 4 x 4`, the convolution's weight
/// taps), read in place when the tile lies inside the buffer and loaded with its padding
/// when it does not (ragged `Q` and `K`), with and without live columns.
fn lhs_panel_kernel(attrs: &str, live: bool) -> String {
    let (nl, nl_ty) = if live { (", %nl", ", index") } else { ("", "") };
    format!(
        "tile.kernel @mm(%a: buf<f32[Q, K, 4, 4]>, %b: buf<f32[K, N]>, %out: buf<f32[4*Q, N]>) attributes {{grid = sizes[(Q + 3) / 4, (N + 15) / 16], parallel = [0], vector = 4}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %j = tile.program_id {{axis = 1}} : () -> index
  %z0 = tile.index {{value = sizes[0]}} : () -> index
  %nl = tile.affine %j {{coeffs = [-16], offset = sizes[N]}} : (index) -> index
  %zero = tile.zeros : () -> tile<16x16xf32>
  %acc = tile.for %zero {{bounds = sizes[0, (K + 7) / 8]}} : (tile<16x16xf32>) -> tile<16x16xf32> (%k: index, %c: tile<16x16xf32>) {{
    %ta = tile.load %a, %i, %k, %z0, %z0 : (buf<f32[Q, K, 4, 4]>, index, index, index, index) -> tile<4x8x4x4xf32>
    %tb = tile.load %b, %k, %j : (buf<f32[K, N]>, index, index) -> tile<8x16xf32>
    %d = tile.dot %ta, %tb, %c{nl} {attrs} : (tile<4x8x4x4xf32>, tile<8x16xf32>, tile<16x16xf32>{nl_ty}) -> tile<16x16xf32>
    tile.yield %d : tile<16x16xf32>
  }}
  tile.store %acc, %out, %i, %j : (tile<16x16xf32>, buf<f32[4*Q, N]>, index, index) -> ()
}}
"
    )
}

#[test]
fn lhs_in_broadcast_row_panels() {
    // The four lanes of each element differ here: result column `n` reads lane `n % 4`,
    // in the interpreter as in the micro-kernel.
    let b: Vec<_> = [(4, 8, 16), (5, 13, 29), (8, 16, 32), (1, 1, 3), (9, 20, 40)]
        .iter()
        .map(|&(q, k, n)| sizes(&[("Q", q), ("K", k), ("N", n)]))
        .collect();
    for madd in ["mul_add", "fma"] {
        for (v, u, pack) in [(2, 1, "rhs"), (1, 2, "none"), (2, 3, "rhs")] {
            for live in [false, true] {
                let attrs = format!(
                    "{{block = [4, {v}], unroll = {u}, pack = \"{pack}\", madd = \"{madd}\"}}"
                );
                check_kernel(
                    &module(&lhs_panel_kernel(&attrs, live)),
                    "mm",
                    &b,
                    Tol::Close {
                        rtol: 1e-5,
                        atol: 4e-3,
                    },
                );
            }
        }
    }
}

#[test]
fn lhs_panels_need_blocks_of_their_rows() {
    // A register block of another height than the panels' rows is refused, not miscompiled.
    let text = lhs_panel_kernel(
        "{block = [2, 2], unroll = 1, pack = \"rhs\", madd = \"mul_add\"}",
        false,
    );
    let backend = tessera_codegen_cpu::JitBackend::new().unwrap();
    let Err(err) = backend.compile(&module(&text), "mm") else {
        panic!("a 2-row block on 4-row lhs panels compiled");
    };
    assert!(err.to_string().contains("row panels"), "{err}");
}
