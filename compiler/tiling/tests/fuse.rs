//! Trivially safe elementwise fusion (docs/tiling.md, decision 7), IR in and IR out: how
//! many kernels a function becomes and which operations share a `tile.map` region, then the
//! values against the graph interpreter through the tile interpreter.

mod common;

use common::{close, graph, inputs, run_tiled};
use std::collections::BTreeMap;
use tessera_tiling::{lower_func, Schedule, Tiled};

fn small() -> Schedule {
    Schedule {
        elementwise: 8,
        mm: 4,
        mk: 4,
        rows: 2,
    }
}

/// Lowers `main` with a small and the host's schedule, checks values on each binding and
/// returns the small schedule's plan.
fn lower_and_check(src: &str, bindings: &[&[(&str, i64)]]) -> Tiled {
    let m = graph(src);
    for schedule in [Schedule::host(), small()] {
        let tiled = lower_func(&m, "main", &schedule).unwrap_or_else(|e| panic!("{e}"));
        for (n, b) in bindings.iter().enumerate() {
            let sizes: BTreeMap<String, i64> = b.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            let xs = inputs(&m, &sizes, 70 + n as u64);
            let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("interpreter");
            let got = run_tiled(&tiled, xs);
            close(&got, &want, 1e-5).unwrap_or_else(|e| panic!("{schedule} {b:?}: {e}\n{tiled}"));
        }
    }
    lower_func(&m, "main", &small()).expect("lowers")
}

/// The kernels of a plan: name and text.
fn kernels(t: &Tiled) -> Vec<(String, String)> {
    let text = t.to_string();
    text.split("tile.kernel @")
        .skip(1)
        .map(|k| {
            let name = k.split('(').next().unwrap_or("").to_string();
            (name, k.to_string())
        })
        .collect()
}

/// The graph ops of the `tile.map` regions of a kernel, in order.
fn region_ops(kernel: &str) -> Vec<String> {
    kernel
        .lines()
        .filter_map(|l| l.split(" = graph.").nth(1))
        .map(|r| r.split(' ').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn gelu_layernorm_is_one_kernel() {
    let t = lower_and_check(
        "fn main(x: f32[N, D], a: f32[D], b: f32[D], g: f32[D], beta: f32[D]) -> f32[N, D] {
             layernorm(gelu_tanh(x * a + b), g, beta, axis: -1, eps: 1e-5)
         }",
        &[
            &[("N", 3), ("D", 11)],
            &[("N", 5), ("D", 16)],
            &[("N", 2), ("D", 3)],
        ],
    );
    let ks = kernels(&t);
    assert_eq!(ks.len(), 1, "{t}");
    let (name, text) = &ks[0];
    assert_eq!(name, "k0_layernorm", "{t}");
    // x, a and b (a and b seen as [1, D]), gamma and beta (as [1, D]), the output.
    assert!(
        text.starts_with("k0_layernorm(%l0: buf<f32[N, D]>, %l1: buf<f32[1, D]>, %l2: buf<f32[1, D]>, %gm: buf<f32[1, D]>, %bt: buf<f32[1, D]>, %out: buf<f32[N, D]>)"),
        "{t}"
    );
    // The prologue's map computes the chain; the first loop stores it into the output and
    // the next loops read the output back (no other buffer).
    let ops = region_ops(text);
    assert_eq!(&ops[..3], ["mul", "add", "gelu_tanh"], "{t}");
    assert!(text.contains("tile.store %pt, %out, %i, %ka"), "{t}");
    assert!(text.contains("tile.load %out, %i, %kb {pad = nan}"), "{t}");
    assert!(!text.contains("tile.broadcast %pl"), "{t}");
    // Whole chunks: the first loop sums the prologue's tile as computed, the second
    // needs no mask; the ragged chunk (a loop of its own after each) reads the row back
    // with the padding (0 for the sum, NaN masked for the squares).
    assert!(text.contains("%ap = tile.reduce %pt {axis = 1"), "{t}");
    assert!(text.contains("%s1 = tile.for %s1f"), "{t}");
    assert!(text.contains("tile.load %out, %i, %kat {pad = 0.0}"), "{t}");
    assert!(text.contains("%s2 = tile.for %s2f"), "{t}");
    let whole = &text
        [text.find("%s2f = tile.for").expect("loop")..text.find("%s2 = tile.for").expect("tail")];
    assert!(
        !whole.contains("graph.select") && !whole.contains("pad = nan"),
        "{t}"
    );
}

#[test]
fn gelu_layernorm_whole_chunks_need_no_tail() {
    let src = |d: u32| {
        format!(
            "fn main(x: f32[N, {d}], a: f32[{d}], b: f32[{d}], g: f32[{d}], beta: f32[{d}]) -> f32[N, {d}] {{
                 layernorm(gelu_tanh(x * a + b), g, beta, axis: -1, eps: 1e-5)
             }}"
        )
    };
    // 24 = 3 chunks of 8 (the small schedule): no ragged chunk, no tail loops, no mask.
    let t = lower_and_check(&src(24), &[&[("N", 3)], &[("N", 1)]]);
    let text = t.to_string();
    assert!(text.contains("%ap = tile.reduce %pt {axis = 1"), "{t}");
    assert!(!text.contains("%s1f") && !text.contains("%s2f"), "{t}");
    assert!(
        !text.contains("pad = nan") && !text.contains("graph.select"),
        "{t}"
    );
    // 20 = 2 chunks of 8 and a ragged one of 4.
    let t = lower_and_check(&src(20), &[&[("N", 3)], &[("N", 2)]]);
    let text = t.to_string();
    assert!(
        text.contains("%s1 = tile.for %s1f {bounds = sizes[2, 3]}"),
        "{t}"
    );
    assert!(
        text.contains("%s2 = tile.for %s2f {bounds = sizes[2, 3]}"),
        "{t}"
    );
}

#[test]
fn norm_prologues_with_scalars_narrow_floats_and_shared_inputs() {
    // rmsnorm of an f16 chain with a 0-d scale: one kernel.
    let t = lower_and_check(
        "fn main(x: f16[R, C], s: f16, g: f16[C]) -> f16[R, C] { rmsnorm(exp(x) * s, g) }",
        &[&[("R", 3), ("C", 9)]],
    );
    assert_eq!(kernels(&t).len(), 1, "{t}");
    // The chain is also returned: it is materialised and the norm reads it.
    let t = lower_and_check(
        "fn main(x: f32[R, C], g: f32[C], b: f32[C]) -> (f32[R, C], f32[R, C]) {
             let h = tanh(x) + 1.0;
             (layernorm(h, g, b), h)
         }",
        &[&[("R", 2), ("C", 7)]],
    );
    let ks = kernels(&t);
    let names: Vec<&str> = ks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["k0_tanh_constant_add", "k1_layernorm"], "{t}");
    // A column operand ([R, 1], one value per row) is read as a [tr, 1] tile before the
    // row loops and broadcast along the columns: one kernel.
    let t = lower_and_check(
        "fn main(x: f32[R, C], c: f32[R, 1], g: f32[C], b: f32[C]) -> f32[R, C] {
             layernorm(x * c, g, b)
         }",
        &[
            &[("R", 4), ("C", 5)],
            &[("R", 37), ("C", 19)],
            &[("R", 1), ("C", 3)],
        ],
    );
    let ks = kernels(&t);
    assert_eq!(ks.len(), 1, "{t}");
    assert!(ks[0].1.contains("%l1: buf<f32[R, 1]>"), "{t}");
    assert!(ks[0].1.contains("tile.load %l1, %i, %zero"), "{t}");
    assert!(ks[0].1.contains("%pb1 = tile.broadcast %pl1"), "{t}");
    // Also with leading axes ([B, S, 1] against [B, S, D]) and in a softmax.
    let t = lower_and_check(
        "fn main(x: f32[B, S, D], c: f32[B, S, 1]) -> f32[B, S, D] {
             softmax(x / c + 1.0, axis: -1)
         }",
        &[
            &[("B", 2), ("S", 3), ("D", 5)],
            &[("B", 3), ("S", 7), ("D", 33)],
        ],
    );
    assert_eq!(kernels(&t).len(), 1, "{t}");
}

#[test]
fn shared_returned_and_reduced_values_are_materialised() {
    // `s` is used twice, `u` is returned, `w` feeds a reduction: each is a kernel's result.
    let t = lower_and_check(
        "fn main(x: f32[B, N], y: f32[N]) -> (f32[B, N], f32[B, N], f32[B]) {
             let s = exp(x) + y;
             let u = s * s;
             let v = relu(s - 1.0) * 2.0;
             let w = abs(x);
             (u, v + u, sum(w, axis: -1))
         }",
        &[&[("B", 2), ("N", 9)], &[("B", 4), ("N", 3)]],
    );
    let ks = kernels(&t);
    let names: Vec<&str> = ks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "k0_exp_add",
            "k1_mul",
            "k2_abs",
            "k3_constant_etc_add",
            "k4_sum"
        ],
        "{t}"
    );
    // The literals 1.0 and 2.0 are lines of the fused region, not kernels.
    let ops = region_ops(&ks[3].1);
    assert_eq!(
        ops,
        ["constant", "sub", "relu", "constant", "mul", "add"],
        "{t}"
    );
}

#[test]
fn chains_with_casts_and_broadcast_scalars() {
    let t = lower_and_check(
        "fn main(x: f32[B, N], k: f32) -> i32[B, N] {
             (tanh(x * k) * 10.0 + 0.5) as i32
         }",
        &[&[("B", 3), ("N", 7)]],
    );
    let ks = kernels(&t);
    // The literals are region lines: one kernel.
    assert_eq!(ks.len(), 1, "{t}");
    let last = ks.last().expect("a kernel");
    let ops = region_ops(&last.1);
    assert!(
        ops.contains(&"tanh".to_string()) && ops.contains(&"cast".to_string()),
        "{t}"
    );
}

#[test]
fn softmax_prologues() {
    let t = lower_and_check(
        "fn main(x: f32[R, C], k: f32[C]) -> (f32[R, C], f32[R, C]) {
             (softmax(x * 0.125, axis: -1), log_softmax(exp(x) - k, axis: 1))
         }",
        &[&[("R", 3), ("C", 9)], &[("R", 2), ("C", 16)]],
    );
    let ks = kernels(&t);
    let names: Vec<&str> = ks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["k0_softmax", "k1_log_softmax"], "{t}");
    assert_eq!(&region_ops(&ks[0].1)[..2], ["constant", "mul"], "{t}");
    assert_eq!(&region_ops(&ks[1].1)[..2], ["exp", "sub"], "{t}");
    // Narrow floats: the prologue's result is rounded to f16 (stored), then computed in f32.
    let t = lower_and_check(
        "fn main(h: f16[R, C], g: f16[C]) -> f16[R, C] { softmax(h * g, axis: -1) }",
        &[&[("R", 3), ("C", 5)]],
    );
    assert_eq!(kernels(&t).len(), 1, "{t}");
}
