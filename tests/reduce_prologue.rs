//! Reductions that compute their elementwise producer (`fuse-reduce-prologue`, kind
//! `reduce`): the e-graph forms one kernel, tiling computes the producer's map on each
//! tile of the reduction's loop (masking the columns past a ragged row's end), and the tile
//! interpreter and the CPU back end give the graph interpreter's values on symbolic and
//! ragged sizes. Then the int8 encoder: each activation scale is one reduction reading
//! the activation, and the FFN's `gelu` is computed once, in the first matmul's epilogue.

mod common;

use common::{check_backends, column_inputs, mismatch, top_level};
use std::collections::BTreeMap;
use tessera::Program;

/// Checks that `src`'s function `f` optimises into exactly one kernel, a `reduce` one
/// whose reduction is `red`, then the tile interpreter and the CPU back end against the
/// graph interpreter on every size binding.
fn check(src: &str, red: &str, bindings: &[&[(&str, i64)]]) {
    let prog = Program::from_source("reduce.tsr", src).expect("compiles");
    let text = prog.graph_opt_text("f", false).expect("optimises");
    let top = top_level(&text);
    assert_eq!(top.len(), 1, "{text}");
    assert!(top[0].contains("kind = \"reduce\""), "{text}");
    assert!(text.contains(&format!("graph.{red} ")), "{text}");
    let plan = prog.tiled("f").expect("tiles").to_string();
    assert_eq!(plan.matches("tile.kernel @").count(), 1, "{plan}");
    check_backends(&prog, bindings, 7, &format!("{text}\n{plan}"));
}

/// Ragged sizes: a row of one element, rows shorter and longer than a 128-wide chunk (the
/// symbolic row's chunk) and not multiples of 4 lanes.
const RAGGED: &[&[(&str, i64)]] = &[
    &[("M", 1), ("N", 1)],
    &[("M", 3), ("N", 5)],
    &[("M", 37), ("N", 130)],
    &[("M", 9), ("N", 257)],
];

#[test]
fn max_and_min_of_elementwise_chains() {
    // The int8 activation scale's row maximum, negative values everywhere (the masked
    // columns must not count as 0).
    check(
        "fn f(x: f32[M, N]) -> f32[M, 1] { max(abs(x * 2.0) - 5.0, axis: 1, keepdims: true) }",
        "reduce_max",
        RAGGED,
    );
    check(
        "fn f(x: f32[M, N], y: f32[M, N]) -> f32[M] { min(relu(x - y) + 3.0, axis: -1) }",
        "reduce_min",
        RAGGED,
    );
}

#[test]
fn sums_and_means_read_rows_columns_and_scalars() {
    // A row `[N]`, a column `[M, 1]` and a literal.
    check(
        "fn f(x: f32[M, N], b: f32[N], s: f32[M, 1]) -> f32[M] { sum(exp(x * s - b) * 0.5, axis: -1) }",
        "reduce_sum",
        RAGGED,
    );
    // Three axes, rows of the two leading ones; keepdims.
    check(
        "fn f(x: f32[2, M, N], g: f32[N]) -> f32[2, M, 1] { mean(x * x * g, axis: 2, keepdims: true) }",
        "reduce_mean",
        RAGGED,
    );
    // A constant row length: whole 4-lane chunks (no mask) and a ragged one.
    check(
        "fn f(x: f32[M, 16]) -> f32[M] { sum(tanh(x), axis: -1) }",
        "reduce_sum",
        &[&[("M", 5)], &[("M", 1)]],
    );
    // One axis: a single row, reduced to a 0-d result.
    check(
        "fn f(x: f32[N]) -> f32 { sum(x * x + 1.0, axis: 0) }",
        "reduce_sum",
        RAGGED,
    );
    check(
        "fn f(x: f32[M, 7]) -> f32[M] { max(-x, axis: -1) }",
        "reduce_max",
        &[&[("M", 5)], &[("M", 33)]],
    );
}

#[test]
fn narrow_floats_and_integers() {
    // An f16 prologue rounded to f16, summed in f32 and rounded once.
    check(
        "fn f(x: f16[M, N]) -> f16[M] { sum(x * 0.5 + 1.0, axis: -1) }",
        "reduce_sum",
        RAGGED,
    );
    // i32: the identity of max is the smallest i32.
    check(
        "fn f(x: i32[M, N]) -> i32[M] { max(x * 3 - 7, axis: -1) }",
        "reduce_max",
        RAGGED,
    );
}

/// `--precision int8` on the encoder block: the four activation quantisations each take
/// their row maximum in a `reduce` kernel that reads the activation (no `[B, S, D]` of
/// absolute values is written), and the FFN's `gelu_tanh` is computed once, in the epilogue
/// of the first int8 matmul (it was computed twice: for the row maximum and for the
/// quantisation, both from the matmul's `i32` result). Values on a ragged size on the CPU
/// back end against the graph interpreter.
#[test]
fn int8_encoder_activation_scales_read_the_activation_once() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/transformer_block.tsr"
    );
    let mut prog = Program::load(std::path::Path::new(path)).expect("loads");
    prog.precision = tessera_egraph::Precision::Int8;
    let text = prog
        .graph_opt_text("encoder_block", false)
        .expect("optimises");
    let top = top_level(&text);
    let reduce = top
        .iter()
        .filter(|l| l.contains("kind = \"reduce\""))
        .count();
    assert_eq!(reduce, 4, "{text}");
    assert_eq!(text.matches("graph.gelu_tanh").count(), 1, "{text}");
    // The gelu is inside a matmul kernel.
    let gelu_kernel = text
        .split("\n  %")
        .find(|k| k.contains("graph.gelu_tanh"))
        .expect("a gelu");
    assert!(gelu_kernel.contains("kind = \"matmul\""), "{text}");
    // No activation's absolute value is materialised: the top-level `abs` are the
    // weights' (their scales are computed once, when weights are bound).
    for l in &top {
        if l.contains("graph.abs") {
            assert!(l.contains("graph.abs %w"), "{l}\n{text}");
        }
    }
    let sizes: BTreeMap<String, i64> = [("B".to_string(), 2), ("S".to_string(), 5)].into();
    let xs = column_inputs(&prog, "encoder_block", &sizes, 3);
    let want = prog
        .run_interp("encoder_block", xs.clone())
        .expect("interp");
    let cpu = prog
        .cpu_executable("encoder_block")
        .expect("compiles")
        .run(xs)
        .expect("runs");
    assert_eq!(mismatch(&cpu, &want), None);
}
