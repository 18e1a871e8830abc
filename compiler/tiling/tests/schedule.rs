//! The scheduling pass (`tessera_tiling::schedule::apply`) and the contraction lowerings
//! it schedules, checked on the printed tile IR: the tile IR as lowered carries no schedule
//! attributes; after the pass every kernel has its vector width and every `f32` dot its
//! register block, K unroll and packing decision (narrowed to small tiles), other dots are
//! left alone, and the scheduled IR parses back to itself. Numerics of the same lowerings
//! are checked against the graph interpreter in `lower_conv_contract.rs` and `lower.rs`.

mod common;

use common::graph;
use tessera_dialects::{parse_module, print_module};
use tessera_tiling::schedule::{apply, DOT_BLOCK};
use tessera_tiling::{lower_func, Schedule};

fn small() -> Schedule {
    Schedule {
        elementwise: 8,
        mm: 4,
        mk: 4,
        rows: 2,
    }
}

fn lowered(src: &str, s: &Schedule) -> (String, String) {
    let tiled = lower_func(&graph(src), "main", s).unwrap_or_else(|e| panic!("{e}"));
    let scheduled = apply(&tiled);
    let text = print_module(&scheduled.kernels);
    let back = parse_module(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(print_module(&back), text, "the scheduled IR round-trips");
    (print_module(&tiled.kernels), text)
}

#[test]
fn matmul_dots_get_a_register_block_unroll_and_packing() {
    let src = "fn main(a: f32[M, K], b: f32[K, N]) -> f32[M, N] { a @ b }";
    let (before, after) = lowered(src, &Schedule::for_caches(32 * 1024, 512 * 1024));
    assert!(!before.contains("block ="), "{before}");
    assert!(!before.contains("vector ="), "{before}");
    assert!(after.contains("parallel = [0, 1], vector = 4}"), "{after}");
    assert!(
        after.contains(&format!(
            "tile.dot %ta, %tb, %c {{rows = \"live\", block = [{}, {}], unroll = 1, pack = \"both\", madd = \"mul_add\"}} : (tile<32x256xf32>, tile<256x128xf32>, tile<32x128xf32>)",
            DOT_BLOCK[0], DOT_BLOCK[1]
        )),
        "{after}"
    );
    // A symbolic M alone (a batch size) gets a quarter of the tile (a batch of 32 fills
    // it); a constant M its own size up to the tile. The dot skips the row blocks past
    // the end of `a` (`rows = "live"`).
    let (_, after) = lowered(
        "fn main(a: f32[1000, K], b: f32[K, N]) -> f32[1000, N] { a @ b }",
        &Schedule::for_caches(32 * 1024, 512 * 1024),
    );
    assert!(
        after.contains("(tile<128x256xf32>, tile<256x128xf32>, tile<128x128xf32>)"),
        "{after}"
    );
    // Small tiles narrow the block; one row block does not pay for packing.
    let (_, after) = lowered(src, &small());
    assert!(
        after.contains("{rows = \"live\", block = [4, 1], unroll = 1, pack = \"none\", madd = \"mul_add\"} : (tile<4x4xf32>, tile<4x4xf32>, tile<4x4xf32>)"),
        "{after}"
    );
    let (_, after) = lowered(
        "fn main(a: f32[2, 1], b: f32[1, 3]) -> f32[2, 3] { a @ b }",
        &Schedule::host(),
    );
    assert!(
        after.contains("{rows = \"live\", block = [2, 1], unroll = 1, pack = \"none\", madd = \"mul_add\"} : (tile<2x1xf32>, tile<1x3xf32>, tile<2x3xf32>)"),
        "{after}"
    );
}

#[test]
fn i8_dots_get_the_int8_block_and_narrow_float_dots_the_f32_one_on_widened_tiles() {
    let (_, after) = lowered(
        "fn main(a: i8[M, K], b: i8[K, N], c: bf16[M, K], d: bf16[K, N]) -> (i32[M, N], bf16[M, N]) { (a @ b, c @ d) }",
        &Schedule::host(),
    );
    assert_eq!(after.matches("tile.dot").count(), 2, "{after}");
    assert_eq!(after.matches("block =").count(), 2, "{after}");
    // The bf16 matmul's operands are widened exactly, its dot is an f32 one.
    assert!(
        after.contains("%ta = tile.cast %tan {dtype = f32} : (tile<")
            && after.contains("%tb = tile.cast %tn {dtype = f32} : (tile<")
            && after.contains("madd = \"mul_add\"} : (tile<"),
        "{after}"
    );
    assert!(
        after.contains("{rows = \"live\", block = [4, 2], unroll = 2, pack = \"both\"} : (tile<"),
        "{after}"
    );
    assert!(after.contains("xi8>, tile<"), "{after}");
    assert!(after.contains("vector = 4"), "{after}");
    // Narrowed to a small tile: 3 rows, one (partial) vector of 3 columns, one pair of k.
    let (_, after) = lowered(
        "fn main(a: i8[3, 2], b: i8[2, 3]) -> i32[3, 3] { a @ b }",
        &Schedule::host(),
    );
    assert!(
        after.contains("{rows = \"live\", block = [3, 1], unroll = 1, pack = \"both\"} : (tile<3x2xi8>, tile<2x3xi8>, tile<3x3xi32>)"),
        "{after}"
    );
}

#[test]
fn batched_matmul_and_einsum_are_scheduled_like_matmul() {
    let (_, after) = lowered(
        "fn main(q: f32[B, H, S, D], k: f32[B, H, S, D]) -> f32[B, H, S, S] { einsum(\"bhqd,bhkd->bhqk\", q, k) }",
        &Schedule::host(),
    );
    assert!(
        after.contains("tile.dot %ta1, %tb1, %c {rows = \"live\", block = [4, 2]"),
        "{after}"
    );
    // S is both the rows and the columns: taken for a large size, the whole tile.
    assert!(
        after.contains("(tile<128x256xf32>, tile<256x128xf32>, tile<128x128xf32>)"),
        "{after}"
    );
}

#[test]
fn f32_conv2d_is_an_implicit_gemm_of_taps() {
    let (before, after) = lowered(
        "fn main(x: f32[N, 64, H, W], w: f32[64, 64, 3, 3]) -> f32[N, 64, H, W] { conv2d(x, w, padding: [1, 1]) }",
        &Schedule::host(),
    );
    // The weight becomes tap-major broadcast row panels of 4 output channels (each weight
    // in four lanes), then each tap is a dot of [O, C] (read from its panels in place) by
    // [C, pixels]: with constant channel counts the taps are unrolled and read through
    // views.
    assert!(before.contains("tile.kernel @k0_conv2d_weight(%w: buf<f32[16, 4, 64, 3, 3]>, %out: buf<f32[3, 3, 16, 64, 4, 4]>)"), "{before}");
    assert!(before.contains("{perm = [3, 4, 0, 2, 1]}"), "{before}");
    assert!(
        before.contains(
            "tile.kernel @k1_conv2d(%x: buf<f32[64*N, H, W]>, %w: buf<f32[144, 64, 4, 4]>"
        ),
        "{before}"
    );
    assert!(
        before.contains("%tap8 = tile.load %w, %wr8, %wc, %z0, %z0 {unit = \"elements\"} : (buf<f32[144, 64, 4, 4]>, index, index, index, index) -> tile<16x64x4x4xf32>"),
        "{before}"
    );
    assert!(
        before.contains(
            "%win0 = tile.load %x, %xc, %h0, %w0 {unit = \"elements\", strides = [1, 1, 1]}"
        ),
        "{before}"
    );
    assert_eq!(before.matches("tile.dot").count(), 9, "{before}");
    // Every dot is given the output columns that lie inside the image (`W - 64 * pc`): the
    // column panels past them (8 of 64 columns when W = 56) cost no multiply-adds.
    assert!(
        before.contains(
            "%nl = tile.affine %pc {coeffs = [-64], offset = sizes[W]} : (index) -> index"
        ),
        "{before}"
    );
    assert_eq!(before.matches(", %nl : (").count(), 9, "{before}");
    assert!(
        after.contains("%d8 = tile.dot %tap8, %wn8, %d7, %nl {block = [4, 2], unroll = 2, pack = \"rhs\", madd = \"mul_add\"} : (tile<16x64x4x4xf32>, tile<64x64xf32>, tile<64x64xf32>, index)"),
        "{after}"
    );
    // A few small output rows per call (one 7 x 7 image): the broadcast panels would cost
    // more to write than they save, so the taps stay `[KH * KW * O, C]`.
    let (before, _) = lowered(
        "fn main(x: f32[1, 64, 7, 7], w: f32[64, 64, 3, 3]) -> f32[1, 64, 7, 7] { conv2d(x, w, padding: [1, 1]) }",
        &Schedule::host(),
    );
    assert!(before.contains("%w: buf<f32[576, 64]>"), "{before}");
    assert!(!before.contains("tile.broadcast %t"), "{before}");
    // Channel counts the tiles do not divide: one dot per tap in loops over the taps.
    let (before, _) = lowered(
        "fn main(x: f32[N, 3, H, W], w: f32[130, 3, 3, 3]) -> f32[N, 130, H, W] { conv2d(x, w, padding: [1, 1]) }",
        &Schedule::host(),
    );
    assert!(
        before.contains("%d = tile.dot %tap2, %win2, %u, %nl"),
        "{before}"
    );
    // Grouped and narrow-float convolutions stay direct (no dot).
    let (before, _) = lowered(
        "fn main(x: f32[N, 4, H, W], w: f32[6, 2, 3, 3], q: bf16[N, 2, H, W], p: bf16[3, 2, 2, 2]) -> (f32[N, 6, H, W], bf16[N, 3, H - 1, W - 1]) { (conv2d(x, w, padding: [1, 1], groups: 2), conv2d(q, p)) }",
        &Schedule::host(),
    );
    assert!(!before.contains("tile.dot"), "{before}");
    // i8 into i32 (`--precision int8`): the implicit GEMM on i8 tiles, whose dots get the
    // i8 micro-kernel's schedule.
    let (before, after) = lowered(
        "fn main(q: i8[N, 16, H, W], p: i8[16, 16, 3, 3]) -> i32[N, 16, H, W] { conv2d(q, p, padding: [1, 1]) }",
        &Schedule::host(),
    );
    assert_eq!(before.matches("tile.dot").count(), 9, "{before}");
    assert!(
        after.contains("%d8 = tile.dot %tap8, %wn8, %d7, %nl {block = [4, 2], unroll = 2, pack = \"both\"} : (tile<16x16xi8>, tile<16x64xi8>, tile<16x64xi32>, index)"),
        "{after}"
    );
}

/// Both implicit-GEMM forms against the graph interpreter (f32 within 1e-4 of
/// `1 + |want|`, inputs in [-2, 2], at most 27 products per output).
#[test]
fn both_conv2d_gemm_forms_match_the_interpreter() {
    use std::collections::BTreeMap;
    let src = "fn main(x: f32[N, 3, H, W], w: f32[6, 3, 3, 3], v: f32[5, 3, 2, 3]) -> (f32[N, 6, H, W], f32[N, 5, (H - 1) / 2 + 1, W / 3]) {
        (conv2d(x, w, padding: [1, 1]), conv2d(x, v, stride: [2, 3], padding: [1, 0], dilation: [2, 1]))
    }";
    let m = graph(src);
    // mm = 4 does not divide 6 or 5 (loops over taps); the host's tiles do (unrolled taps).
    for s in [small(), Schedule::host()] {
        let tiled = lower_func(&m, "main", &s).unwrap_or_else(|e| panic!("{e}"));
        for (i, (n, h, w)) in [(1, 1, 3), (2, 7, 9), (1, 5, 70)].into_iter().enumerate() {
            let sizes: BTreeMap<String, i64> = [("N", n), ("H", h), ("W", w)]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            let xs = common::inputs(&m, &sizes, 90 + i as u64);
            let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
            let got = common::run_tiled(&tiled, xs);
            common::close(&got, &want, 1e-4)
                .unwrap_or_else(|e| panic!("{s} {sizes:?}: {e}\n{tiled}"));
        }
    }
}
