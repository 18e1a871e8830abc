//! Operations along an axis other than the last (reductions over any set of axes, softmax,
//! log_softmax, layernorm, rmsnorm, argmax) are rewritten to last-axis ones between
//! transposes: the rewrite keeps the graph interpreter's values, and the lowered kernels
//! give them too.

mod common;

use common::{close, graph, inputs, run_tiled};
use std::collections::BTreeMap;
use tessera_tiling::{lower_func, Schedule};

const PROGRAM: &str = "fn main(x: f32[B, 5, 3], g: f32[5], b: f32[5]) -> (f32[5], f32[B, 1, 3], f32[B, 5, 3], f32[B, 5, 3], f32[B, 5, 3], i32[B, 3], i32[B, 1, 3], f32[3], f32[B, 5, 3]) {
    let t = transpose(x, [0, 2, 1]);
    (sum(x, axis: [0, 2]), max(x, axis: 1, keepdims: true), softmax(x, axis: 1), log_softmax(x, axis: 0),
     transpose(layernorm(t, g, b), [0, 2, 1]), argmax(x, axis: 1), argmax(x, axis: 1, keepdims: true),
     mean(x, axis: [0, 1]), transpose(rmsnorm(t, g), [0, 2, 1]) + rmsnorm(x, g, axis: 1) * 0.0 + x)
}";

#[test]
fn the_rewrite_keeps_the_values() {
    let m = graph(PROGRAM);
    let f = m.func("main").expect("main");
    let rewritten = tessera_tiling::axes::move_axes_last(f).expect("rewrites");
    assert!(
        rewritten.body.ops.len() > f.body.ops.len(),
        "nothing was rewritten"
    );
    let mut m2 = m.clone();
    m2.funcs[0] = rewritten;
    tessera_dialects::verify::verify_module(&m2).expect("the rewritten function verifies");
    for batch in [1, 4] {
        let sizes: BTreeMap<String, i64> = [("B".to_string(), batch)].into();
        let xs = inputs(&m, &sizes, 3);
        let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("original");
        let got = tessera_interp::run_func(&m2, "main", xs).expect("rewritten");
        close(&got, &want, 1e-6).unwrap_or_else(|e| panic!("B={batch}: {e}"));
    }
}

#[test]
fn every_axis_lowers_and_matches() {
    let m = graph(PROGRAM);
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
        for batch in [1, 3, 6] {
            let sizes: BTreeMap<String, i64> = [("B".to_string(), batch)].into();
            let xs = inputs(&m, &sizes, 11);
            let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
            let got = run_tiled(&tiled, xs);
            close(&got, &want, 1e-5).unwrap_or_else(|e| panic!("{schedule} B={batch}: {e}"));
        }
    }
}

#[test]
fn max_and_min_over_leading_axes_are_column_reductions_without_a_transpose() {
    let m = graph(
        "fn main(x: f32[B, 5, 3], q: i32[B, 7]) -> (f32[5, 3], f32[3], i32[7], f32[1, 5, 3], f32[B, 3]) {
            (max(x, axis: 0), min(x, axis: [0, 1]), max(q, axis: 0), max(x, axis: 0, keepdims: true), max(x, axis: 1))
        }",
    );
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
        let text = tiled.to_string();
        // Only `max(x, axis: 1)` (a middle axis) goes through a transpose.
        assert_eq!(text.matches("graph.transpose").count(), 1, "{text}");
        assert!(text.contains("-> tile<1x"), "{text}");
        for batch in [1, 3, 6] {
            let sizes: BTreeMap<String, i64> = [("B".to_string(), batch)].into();
            let xs = inputs(&m, &sizes, 17);
            let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
            let got = run_tiled(&tiled, xs);
            close(&got, &want, 0.0).unwrap_or_else(|e| panic!("{schedule} B={batch}: {e}"));
        }
    }
}
