//! The `f32` `tile.dot` whose rhs is a `bf16` tile widened by `tile.cast` (the matmul of a
//! weight held in `bf16`, `--precision bf16`): the load and the cast are left to the dot,
//! which widens the `bf16` tile while packing it (`lower/dot_widen.rs`). Compared with
//! the tile interpreter on random buffers with ragged sizes: tiles that lie wholly inside
//! the buffer (packed straight from it) and tiles past its edges (loaded with padding,
//! then packed), every pack form and block shape, `N % 4` columns (not deferred: the
//! plain load and cast), symbolic sizes that are not multiples of the tiles.

mod common;

use tessera_dialects::DType;

use common::*;
use tessera_codegen_cpu::{clif_text, JitBackend};

/// A matmul kernel with `tm x tk` and `tk x tn` tiles and the given dot attributes.
fn kernel(tm: u64, tk: u64, tn: u64, attrs: &str) -> String {
    matmul_kernel(tm, tk, tn, attrs, DType::BF16)
}

fn run(tiles: (u64, u64, u64), attrs: &str, bindings: &[(i64, i64, i64)]) {
    check_matmul(tiles, attrs, DType::BF16, bindings);
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
    // Without packing, the bf16 tile is loaded and cast as written: `tile.cast` widens
    // four lanes at a time too, with no call of the scalar cast helper.
    let m = module(&kernel(
        8,
        16,
        32,
        "{block = [4, 2], unroll = 1, pack = \"none\"}",
    ));
    let clif = clif_text(&b.compile(&m, "mm").expect("compiles"));
    assert!(
        clif.contains("uload16x4") && !clif.contains("call "),
        "{clif}"
    );
}
