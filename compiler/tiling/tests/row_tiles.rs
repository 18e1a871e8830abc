//! Row tiles of the row kernels (`softmax`, `log_softmax`, `layernorm`, `rmsnorm`; the rule
//! is `template::row_tile`): the printed tile IR shows `[tr, tn]` tiles (a symbolic row
//! length gets 128-wide chunks, one row per grid point; short constant rows several rows per
//! grid point), and the kernels give the graph interpreter's results on ragged row lengths
//! (1, 3, 127, 128, 129, 4097, symbolic and constant) and row counts that do not fill the
//! last row tile, with and without an elementwise prologue.

mod common;

use common::{close, graph, inputs, run_tiled};

use std::collections::BTreeMap;
use tessera_tiling::{lower_func, Schedule};

/// The schedule of a 32 KiB L1 / 512 KiB L2 host (`elementwise = 2048`), whatever the host.
fn fixed() -> Schedule {
    Schedule::for_caches(32 * 1024, 512 * 1024)
}

/// The printed tile IR of `src`'s `main` under [`fixed`].
fn tile_ir(src: &str) -> String {
    lower_func(&graph(src), "main", &fixed())
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string()
}

/// The header line of the kernel named `@k{i}_{what}`.
fn header<'a>(ir: &'a str, what: &str) -> &'a str {
    ir.lines()
        .find(|l| l.starts_with("tile.kernel @") && l.contains(&format!("_{what}(")))
        .unwrap_or_else(|| panic!("no {what} kernel in\n{ir}"))
}

const ROWS: &str = "(softmax(x, axis: -1), log_softmax(x - 1.0, axis: -1), layernorm(gelu(x * a) + 0.5, g, b), rmsnorm(x, g, eps: 0.001))";

fn source(n: &str) -> String {
    format!(
        "fn main(x: f32[R, {n}], a: f32[{n}], g: f32[{n}], b: f32[{n}]) -> (f32[R, {n}], f32[R, {n}], f32[R, {n}], f32[R, {n}]) {{ {ROWS} }}"
    )
}

#[test]
fn symbolic_rows_are_128_wide_chunks_one_row_per_grid_point() {
    let ir = tile_ir(&source("N"));
    for what in ["softmax", "log_softmax", "layernorm", "rmsnorm"] {
        let h = header(&ir, what);
        assert!(h.contains("grid = sizes[R]"), "{h}");
    }
    assert!(ir.contains("-> tile<1x128xf32>"), "{ir}");
    assert!(ir.contains("bounds = sizes[0, (N + 127) / 128]"), "{ir}");
    assert!(!ir.contains("x2048xf32>"), "{ir}");
    // gamma and beta are used as loaded, without a broadcast to more rows.
    assert!(!ir.contains("%gmb = tile.broadcast"), "{ir}");
}

/// A norm's row of symbolic length is first taken in 512-wide chunks, then in the 128-wide
/// chunks left and the ragged one; softmax keeps 128-wide chunks only.
#[test]
fn symbolic_norm_rows_take_wide_chunks_first() {
    let ir = tile_ir(&source("N"));
    for what in ["layernorm", "rmsnorm"] {
        let h = header(&ir, what);
        let body = &ir[ir.find(h).unwrap()..];
        let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
        assert!(body.contains("-> tile<1x512xf32>"), "{body}");
        assert!(body.contains("bounds = sizes[0, N / 512]"), "{body}");
        assert!(body.contains("bounds = sizes[4*(N / 512), "), "{body}");
    }
    let h = header(&ir, "softmax");
    let body = &ir[ir.find(h).unwrap()..];
    let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
    assert!(!body.contains("x512xf32>"), "{body}");
}

#[test]
fn short_constant_rows_are_several_per_grid_point() {
    // 37 elements: 8 rows of 37 fill at most 512 elements.
    let ir = tile_ir(&source("37"));
    for what in ["softmax", "log_softmax", "layernorm", "rmsnorm"] {
        let h = header(&ir, what);
        assert!(h.contains("grid = sizes[(R + 7) / 8]"), "{h}");
    }
    assert!(ir.contains("-> tile<8x37xf32>"), "{ir}");
    assert!(ir.contains("bounds = sizes[0, 1]"), "{ir}");
    // Row operands (gamma, beta, the prologue's `a`) are broadcast to the tile's 8 rows;
    // the row length is splat over the rows, not counted up by an iota.
    assert!(
        ir.contains("%gmb = tile.broadcast %gmr : (tile<1x37xf32>) -> tile<8x37xf32>"),
        "{ir}"
    );
    assert!(
        ir.contains("%pr1 = tile.broadcast %pl1 : (tile<1x37xf32>) -> tile<8x37xf32>")
            || ir.contains("%pr0 = tile.broadcast %pl0 : (tile<1x37xf32>) -> tile<8x37xf32>"),
        "{ir}"
    );
    assert!(
        ir.contains("%cnt = tile.broadcast %c1 : (tile<1xi32>) -> tile<8xi32>"),
        "{ir}"
    );
    // Rows of a few hundred: two per grid point; 16 rows at most.
    let ir = tile_ir(&source("200"));
    assert!(ir.contains("-> tile<2x200xf32>"), "{ir}");
    let ir = tile_ir(&source("3"));
    assert!(ir.contains("-> tile<16x3xf32>"), "{ir}");
    // A constant row count below the row tile bounds it.
    let ir = tile_ir(&source("3").replace("R,", "5,").replace("[R", "[5"));
    assert!(ir.contains("-> tile<5x3xf32>"), "{ir}");
}

#[test]
fn long_constant_rows_are_one_per_grid_point_in_host_sized_chunks() {
    let ir = tile_ir(&source("4097"));
    for what in ["softmax", "layernorm"] {
        assert!(header(&ir, what).contains("grid = sizes[R]"), "{ir}");
    }
    assert!(ir.contains("-> tile<1x2048xf32>"), "{ir}");
    assert!(ir.contains("bounds = sizes[0, 3]"), "{ir}");
}

/// Tile interpreter against the graph interpreter, with the fixed schedule and a tiny one
/// (`elementwise = 16`: chunks of 1 symbolic element, rows of up to 4 per grid point).
fn check(src: &str, bindings: &[(i64, i64)]) {
    let m = graph(src);
    let tiny = Schedule {
        elementwise: 16,
        mm: 4,
        mk: 4,
        rows: 2,
    };
    for (k, &(r, n)) in bindings.iter().enumerate() {
        let sizes: BTreeMap<String, i64> = [("R".to_string(), r), ("N".to_string(), n)].into();
        let xs = inputs(&m, &sizes, 7 + k as u64);
        let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
        for schedule in [fixed(), tiny] {
            if n > 200 && schedule == tiny {
                continue; // one-element chunks of long rows: slow in the interpreter
            }
            let tiled = lower_func(&m, "main", &schedule).unwrap_or_else(|e| panic!("{e}"));
            let got = run_tiled(&tiled, xs.clone());
            close(&got, &want, 1e-5)
                .unwrap_or_else(|e| panic!("{schedule} R={r} N={n}: {e}\n{tiled}"));
        }
    }
}

#[test]
fn ragged_symbolic_row_lengths() {
    let src = source("N");
    let mut b = Vec::new();
    for n in [1, 3, 127, 128, 129, 512, 700, 4097] {
        for r in [1, 3, 17] {
            if n * r <= 4097 * 3 {
                b.push((r, n));
            }
        }
    }
    check(&src, &b);
}

#[test]
fn ragged_constant_row_lengths() {
    for n in [1, 3, 127, 128, 129, 4097] {
        let rows: &[i64] = if n > 200 { &[1, 3] } else { &[1, 3, 17, 33] };
        let b: Vec<(i64, i64)> = rows.iter().map(|r| (*r, n)).collect();
        check(&source(&n.to_string()), &b);
    }
}
