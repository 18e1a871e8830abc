//! Per-row ("column", `[.., M, 1]`) inputs inside fused kernels: the e-graph forms
//! elementwise kernels, matmul epilogues (f32 and i8) and row-kernel prologues that read
//! them, tiling loads them as `[rows, 1]` tiles broadcast along the columns, and the tile
//! interpreter and the CPU back end give the graph interpreter's values on ragged sizes.
//! The int8 MLP's per-row activation scales fuse: a kernel count.

mod common;

use common::{check_backends, column_inputs, mismatch, top_level};
use std::collections::BTreeMap;
use tessera::Program;

/// Checks that `src`'s function `f` optimises into kernels of `kind` that read a column
/// input (no operation left outside a kernel but those in `outside`), then that the tile
/// interpreter and the CPU back end match the graph interpreter on every size binding.
fn check(src: &str, kind: &str, outside: &[&str], bindings: &[&[(&str, i64)]]) {
    let prog = Program::from_source("column.tsr", src).expect("compiles");
    let text = prog.graph_opt_text("f", false).expect("optimises");
    let top = top_level(&text);
    let fused: Vec<&&str> = top
        .iter()
        .filter(|l| l.contains("graph.fused") && l.contains(&format!("kind = \"{kind}\"")))
        .collect();
    assert!(
        fused.iter().any(|l| l.contains(", 1]")),
        "no {kind} kernel reads a column input:\n{text}"
    );
    for l in &top {
        let op = l.split(" = ").nth(1).unwrap_or("");
        let ok = op.starts_with("graph.fused")
            || outside
                .iter()
                .any(|o| op.starts_with(&format!("graph.{o} ")));
        assert!(ok, "an operation outside the kernels: {l}\n{text}");
    }
    check_backends(&prog, bindings, 11, &text);
}

const RAGGED: &[&[(&str, i64)]] = &[
    &[("M", 1), ("N", 3), ("K", 5)],
    &[("M", 37), ("N", 19), ("K", 33)],
    &[("M", 70), ("N", 130), ("K", 9)],
];

#[test]
fn elementwise_kernels_read_columns() {
    // The int8 activation quantisation: `x / s_a as i8`, with a row bias before it.
    check(
        "fn f(x: f32[M, N], b: f32[N], s: f32[M, 1]) -> i8[M, N] { (relu(x + b) / s) as i8 }",
        "elementwise",
        &[],
        RAGGED,
    );
    // A column with a leading axis, next to a row.
    check(
        "fn f(x: f32[2, M, N], s: f32[2, M, 1], t: f32[N]) -> f32[2, M, N] { exp(x * s) - t }",
        "elementwise",
        &[],
        RAGGED,
    );
}

#[test]
fn matmul_epilogues_read_columns() {
    // f32: the scale by rows after a bias.
    check(
        "fn f(x: f32[M, K], w: f32[K, N], b: f32[N], s: f32[M, 1]) -> f32[M, N] {
             relu((x @ w + b) * s)
         }",
        "matmul",
        &[],
        RAGGED,
    );
    // A batched left operand, seen as [B * M, K]; its column scale as [B * M, 1].
    check(
        "fn f(x: f32[3, M, K], w: f32[K, N], s: f32[3, M, 1]) -> f32[3, M, N] { (x @ w) / s }",
        "matmul",
        &[],
        RAGGED,
    );
    // i8: the int8 dequantisation `(qa @ qw) as f32 * s_w * s_a` in the epilogue of the
    // `i8 x i8 -> i32` micro-kernel.
    check(
        "fn f(a: i8[M, K], w: i8[K, N], sw: f32[N], sa: f32[M, 1]) -> f32[M, N] {
             (a @ w) as f32 * sw * sa
         }",
        "matmul",
        &[],
        RAGGED,
    );
}

#[test]
fn row_kernel_prologues_read_columns() {
    check(
        "fn f(x: f32[M, N], s: f32[M, 1], g: f32[N], b: f32[N]) -> f32[M, N] {
             layernorm(x / s, g, b, axis: -1)
         }",
        "row",
        &[],
        RAGGED,
    );
    check(
        "fn f(x: f32[M, N], s: f32[M, 1]) -> f32[M, N] { softmax(x * s, axis: -1) }",
        "row",
        &[],
        RAGGED,
    );
}

/// `--precision int8` on the MLP (`B=256`): the per-row activation scale (`[B, 1]`) is
/// read inside kernels, so each activation quantisation is one kernel with its producers
/// (the previous layer's dequantisation, bias and relu) and no `[B, 1024]` intermediate
/// is materialised between the layers. 39 kernels before column inputs were readable,
/// 28 after, 25 since each row maximum computes its producers (`fuse-reduce-prologue`:
/// the absolute value of the first layer's input, the dequantisation, bias, relu and
/// absolute value of the hidden layers' `i32` products) instead of reading a
/// materialised `[B, N]` of absolute values.
#[test]
fn int8_mlp_activation_scales_fuse() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mlp.tsr");
    let mut prog = Program::load(std::path::Path::new(path)).expect("loads");
    prog.precision = tessera_egraph::Precision::Int8;
    prog.sizes.insert("B".into(), 256);
    let tiled = prog.tiled("mlp").expect("tiles");
    let plan = tiled.to_string();
    let kernels = plan.matches("tile.kernel @").count();
    assert_eq!(kernels, 25, "{plan}");
    let text = prog.graph_opt_text("mlp", false).expect("optimises");
    // Every division and multiplication by a scale is inside a kernel.
    for l in top_level(&text) {
        let op = l.split(" = ").nth(1).unwrap_or("");
        assert!(
            !op.starts_with("graph.div") && !op.starts_with("graph.mul"),
            "unfused: {l}\n{text}"
        );
    }
    // The quantisations of the hidden activations read the i32 products, the weight
    // scales, the previous activation scale and the row maximum: dequantisation, bias,
    // relu and quantisation in one kernel whose result is i8.
    let quant = top_level(&text)
        .into_iter()
        .filter(|l| {
            l.contains("(i32[B, 1024], f32[1024], f32[B, 1], f32[1024], f32[B, 1]) -> i8[B, 1024]")
        })
        .count();
    assert_eq!(quant, 2, "{text}");
    // And the last layer's dequantisation is the softmax's prologue.
    assert!(
        top_level(&text)
            .iter()
            .any(|l| l.contains("kind = \"row\"") && l.contains("f32[B, 1]")),
        "{text}"
    );
    // Values on a ragged batch: the tile interpreter and the CPU back end against the
    // graph interpreter.
    let sizes: BTreeMap<String, i64> = [("B".to_string(), 13)].into();
    let xs = column_inputs(&prog, "mlp", &sizes, 5);
    let want = prog.run_interp("mlp", xs.clone()).expect("interpreter");
    let tile = prog.run_tiled("mlp", xs.clone()).expect("tile backend");
    assert_eq!(mismatch(&tile, &want), None);
    let cpu = prog
        .cpu_executable("mlp")
        .expect("compiles")
        .run(xs)
        .expect("runs");
    assert_eq!(mismatch(&cpu, &want), None);
}
