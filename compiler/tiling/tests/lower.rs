//! Graph functions lowered to tile IR and run in the tile interpreter give the graph
//! interpreter's results (random inputs, ragged sizes, small and host-sized tiles), and
//! operations not lowered yet are clear errors.

mod common;

use common::{close, graph, inputs, run_tiled};

use std::collections::BTreeMap;
use tessera_tiling::{lower_func, Schedule};

/// Lowers `src`'s `main` with two schedules and compares with the graph interpreter.
fn check(src: &str, bindings: &[&[(&str, i64)]], rtol: f64) {
    let m = graph(src);
    for schedule in [
        Schedule {
            elementwise: 8,
            mm: 4,
            mk: 4,
            rows: 2,
        },
        Schedule::host(),
    ] {
        let tiled = lower_func(&m, "main", &schedule).unwrap_or_else(|e| panic!("{e}"));
        for (n, b) in bindings.iter().enumerate() {
            let sizes: BTreeMap<String, i64> = b.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            let xs = inputs(&m, &sizes, 40 + n as u64);
            let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
            let got = run_tiled(&tiled, xs);
            close(&got, &want, rtol).unwrap_or_else(|e| panic!("{schedule} {b:?}: {e}\n{tiled}"));
        }
    }
}

#[test]
fn elementwise_with_broadcasting() {
    check(
        "fn main(x: f32[B, 5], b: f32[5], y: f32[B, 1], s: f32) -> (f32[B, 5], bf16[B, 5], bool[B, 5]) {
            let h = relu(x * 2.0 + b) - y * s;
            let l = where(x > 0.0, x, x * 0.1) as bf16;
            (tanh(h), l, x < y)
        }",
        &[&[("B", 1)], &[("B", 3)], &[("B", 17)]],
        1e-6,
    );
}

#[test]
fn rank_three_broadcasts_and_constants() {
    check(
        "fn main(x: f32[B, S, 4], g: f32[B, 1, 4], c: f32[S, 1]) -> (f32[B, S, 4], f32) {
            (exp(x - g) * c + 1, 2.5)
        }",
        &[&[("B", 2), ("S", 3)], &[("B", 1), ("S", 9)]],
        1e-6,
    );
}

#[test]
fn elementwise_kernels_merge_the_axes_every_operand_walks_alike() {
    // The int8 convolution's quantise and dequantise forms: a per-image scale (axes 1-3
    // merge), a per-channel one (axes 2-3 merge), a row broadcast along H (no merge past
    // W), a scalar, and a lower-rank operand.
    let src = "fn main(x: f32[N, C, H, W], s: f32[N, 1, 1, 1], c: f32[1, C, 1, 1], r: f32[N, C, 1, W], w: f32[W]) -> (f32[N, C, H, W], f32[N, C, H, W], f32[N, C, H, W]) {
            (x / s * 0.5, (x * c) * s, x + r - w)
        }";
    check(
        src,
        &[
            &[("N", 2), ("C", 3), ("H", 4), ("W", 5)],
            &[("N", 1), ("C", 1), ("H", 1), ("W", 1)],
            &[("N", 3), ("C", 2), ("H", 7), ("W", 56)],
        ],
        1e-6,
    );
    let t = lower_func(&graph(src), "main", &Schedule::host()).expect("lowers");
    let text = t.to_string();
    for view in [
        "as [N, C*H*W]",
        "as [N, 1]",
        "as [N, C, H*W]",
        "as [1, C, 1]",
    ] {
        assert!(text.contains(view), "{view}\n{text}");
    }
}

#[test]
fn a_small_mlp_with_softmax() {
    check(
        "fn main(x: f32[B, 12], w1: f32[12, 20], b1: f32[20], w2: f32[20, 7], b2: f32[7]) -> f32[B, 7] {
            let h = relu(x @ w1 + b1);
            softmax(h @ w2 + b2, axis: -1)
        }",
        &[&[("B", 1)], &[("B", 5)], &[("B", 33)]],
        1e-5,
    );
}

#[test]
fn reductions_and_reshape() {
    check(
        "fn main(x: f32[B, 6], q: i32[B, 6]) -> (f32[B], f32[B, 1], f32[B], f32, f32, i32[B], f32[B, 6]) {
            let r = reshape(x, [B * 2, 3]);
            (sum(x, axis: -1), mean(x, axis: 1, keepdims: true), max(x, axis: 1), min(x), mean(x),
             sum(q, axis: 1), log_softmax(reshape(r, [B, 6]), axis: -1))
        }",
        &[&[("B", 1)], &[("B", 4)], &[("B", 11)]],
        1e-5,
    );
}

/// A reshape is a view of its input's buffer (no kernel, no buffer of its own), except one
/// the function returns, which is copied into its output.
#[test]
fn a_reshape_is_a_view_unless_returned() {
    let src = "fn main(x: f32[B, 6]) -> (f32[B, 2, 3], f32[B, 6]) {
        let e = exp(x);
        let r = reshape(e, [B, 2, 3]);
        let s = reshape(reshape(e, [B * 3, 2]), [B * 2, 3]);
        (r, reshape(softmax(s, axis: -1), [B, 6]))
    }";
    check(src, &[&[("B", 1)], &[("B", 5)]], 1e-6);
    let t = lower_func(&graph(src), "main", &Schedule::host()).expect("lowers");
    let text = t.to_string();
    let launches: Vec<&str> = text.lines().filter(|l| l.contains("launch @")).collect();
    // exp, the two returned reshapes' copies, softmax; the inner reshapes are views.
    assert_eq!(launches.len(), 4, "{text}");
    assert_eq!(
        launches.iter().filter(|l| l.contains("_reshape")).count(),
        2,
        "{text}"
    );
    // softmax reads exp's buffer (#1) seen as [B*2, 3]; no buffer for the views.
    let sm = launches.iter().find(|l| l.contains("softmax")).unwrap();
    assert!(sm.contains("(#1 as [2*B, 3]"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("buffer #")).count(),
        5,
        "{text}"
    );
}

#[test]
fn the_plan_prints_kernels_buffers_and_launches() {
    let m = graph("fn main(x: f32[B, 4], w: f32[4, 3]) -> f32[B, 3] { relu(x @ w) }");
    let t = lower_func(
        &m,
        "main",
        &Schedule {
            elementwise: 8,
            mm: 4,
            mk: 4,
            rows: 2,
        },
    )
    .expect("lowers");
    let text = t.to_string();
    assert!(
        text.contains(
            "tile.kernel @k0_matmul(%a: buf<f32[B, 4]>, %b: buf<f32[4, 3]>, %out: buf<f32[B, 3]>)"
        ),
        "{text}"
    );
    assert!(text.contains("tile.dot"), "{text}");
    // The relu's rows (3 elements, below the 8-element tile) are one run: flat views.
    assert!(
        text.contains("//   launch @k1_relu(#2 as [3*B], #3 as [3*B])  // graph.relu"),
        "{text}"
    );
    assert!(text.contains("//   return #3"), "{text}");
    // Deterministic.
    let again = lower_func(
        &m,
        "main",
        &Schedule {
            elementwise: 8,
            mm: 4,
            mk: 4,
            rows: 2,
        },
    )
    .expect("lowers");
    assert_eq!(again.to_string(), text);
}

/// Narrow float einsums in forms other than one matmul-form contraction were refused ("not
/// lowered to tile IR yet"): they are widened to `f32` and rounded once at the end.
#[test]
fn narrow_float_einsums_of_any_form_lower() {
    check(
        "fn main(x: bf16[M, 3], y: bf16[3]) -> bf16[M] { einsum(\"ij,j->i\", x, y) }",
        &[&[("M", 2)], &[("M", 9)]],
        8e-3,
    );
    check(
        "fn main(x: f16[M, 3, 4], y: f16[3, 4]) -> f16[M] { einsum(\"ijk,jk->i\", x, y) }",
        &[&[("M", 2)], &[("M", 9)]],
        1e-3,
    );
}

/// f16 and bf16 matmuls accumulate in f32 over all K tiles and round once (DSL.md §4): with
/// ten K tiles, rounding per tile would be off by several half-ulps.
#[test]
fn narrow_float_matmuls_round_once() {
    check(
        "fn main(a: f16[M, 37], b: f16[37, 5]) -> f16[M, 5] { a @ b }",
        &[&[("M", 3)], &[("M", 9)]],
        6e-4,
    );
    check(
        "fn main(a: bf16[M, 37], b: bf16[37, 5]) -> bf16[M, 5] { a @ b }",
        &[&[("M", 3)], &[("M", 9)]],
        5e-3,
    );
}
