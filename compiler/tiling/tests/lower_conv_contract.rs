//! Convolutions, pooling, batched matmul and einsum lowered to tile IR and run in the tile
//! interpreter give the graph interpreter's results (random inputs, ragged symbolic sizes,
//! small and host-sized tiles); contractions are compared within 1e-5 of the sum of the
//! absolute products (the graph interpreter run on |inputs|), max pooling exactly; forms
//! not lowered are clear errors.

mod common;

use common::{close, graph, inputs, run_tiled};

use std::collections::BTreeMap;
use tessera_tensor::Tensor;
use tessera_tiling::{lower_func, Schedule};

/// How results are compared.
#[derive(Clone, Copy, Debug)]
enum Tol {
    /// Equal (NaN equal to NaN).
    Exact,
    /// Within `rtol * (1 + |want|)`.
    Rel(f64),
    /// Within `rtol` times the sum of the absolute products (the graph interpreter run on
    /// the absolute values of the inputs), plus a tiny floor.
    Sum(f64),
}

fn abs_all(xs: &[Tensor]) -> Vec<Tensor> {
    xs.iter()
        .map(|t| {
            let v: Vec<f32> = t.to_f64_vec().iter().map(|x| x.abs() as f32).collect();
            Tensor::from_f32(t.dtype(), t.shape().to_vec(), v).expect("abs")
        })
        .collect()
}

fn within_sum(got: &[Tensor], want: &[Tensor], scale: &[Tensor], rtol: f64) -> Result<(), String> {
    for ((g, w), s) in got.iter().zip(want).zip(scale) {
        if g.dtype() != w.dtype() || g.shape() != w.shape() {
            return Err(format!(
                "{:?}{:?} vs {:?}{:?}",
                g.dtype(),
                g.shape(),
                w.dtype(),
                w.shape()
            ));
        }
        for ((a, b), m) in g
            .to_f64_vec()
            .iter()
            .zip(w.to_f64_vec())
            .zip(s.to_f64_vec())
        {
            if !(a == &b || (a - b).abs() <= rtol * m.abs() + 1e-30) {
                return Err(format!("{a} vs {b} (sum of |products| {m})"));
            }
        }
    }
    Ok(())
}

fn small() -> Schedule {
    Schedule {
        elementwise: 8,
        mm: 4,
        mk: 4,
        rows: 2,
    }
}

/// Lowers `src`'s `main` with two schedules and compares with the graph interpreter.
fn check(src: &str, bindings: &[&[(&str, i64)]], tol: Tol) {
    let m = graph(src);
    for schedule in [small(), Schedule::host()] {
        let tiled = lower_func(&m, "main", &schedule).unwrap_or_else(|e| panic!("{e}"));
        for (n, b) in bindings.iter().enumerate() {
            let sizes: BTreeMap<String, i64> = b.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            let xs = inputs(&m, &sizes, 40 + n as u64);
            let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
            let got = run_tiled(&tiled, xs.clone());
            let r = match tol {
                Tol::Exact => close(&got, &want, 0.0),
                Tol::Rel(rtol) => close(&got, &want, rtol),
                Tol::Sum(rtol) => {
                    let scale = tessera_interp::run_func(&m, "main", abs_all(&xs))
                        .expect("graph interpreter on |inputs|");
                    within_sum(&got, &want, &scale, rtol)
                }
            };
            r.unwrap_or_else(|e| panic!("{schedule} {b:?}: {e}\n{tiled}"));
        }
    }
}

#[test]
fn conv2d_with_stride_padding_and_dilation() {
    check(
        "fn main(x: f32[N, 3, H, W], w: f32[4, 3, 3, 3], v: f32[2, 3, 2, 3]) -> (f32[N, 4, H - 2, W - 2], f32[N, 4, (H - 1) / 2 + 1, (W - 1) / 2 + 1], f32[N, 2, H - 2, (W + 1) / 2 + 1]) {
            (conv2d(x, w),
             conv2d(x, w, stride: [2, 2], padding: [1, 1]),
             conv2d(x, v, stride: [1, 2], padding: [0, 2], dilation: [2, 1]))
        }",
        &[&[("N", 1), ("H", 5), ("W", 7)], &[("N", 2), ("H", 9), ("W", 12)], &[("N", 1), ("H", 6), ("W", 41)]],
        Tol::Sum(1e-5),
    );
}

#[test]
fn grouped_and_depthwise_conv2d() {
    check(
        "fn main(x: f32[N, 4, H, W], w: f32[6, 2, 3, 3], d: f32[4, 1, 3, 3], e: f32[8, 1, 2, 2]) -> (f32[N, 6, H, W], f32[N, 4, (H - 1) / 2 + 1, (W - 1) / 2 + 1], f32[N, 8, H - 1, W - 1]) {
            (conv2d(x, w, padding: [1, 1], groups: 2),
             conv2d(x, d, stride: [2, 2], padding: [1, 1], groups: 4),
             conv2d(x, e, groups: 4))
        }",
        &[&[("N", 1), ("H", 4), ("W", 5)], &[("N", 2), ("H", 7), ("W", 11)]],
        Tol::Sum(1e-5),
    );
}

#[test]
fn int8_conv2d_accumulates_in_i32() {
    check(
        "fn main(x: i8[N, 2, H, W], w: i8[3, 2, 2, 2], p: i8[2, 2, 1, 1]) -> (i32[N, 3, H + 1, W + 1], i32[N, 2, H, W]) {
            (conv2d(x, w, padding: [1, 1]), conv2d(x, p))
        }",
        &[&[("N", 2), ("H", 3), ("W", 10)]],
        Tol::Exact,
    );
}

#[test]
fn pools_with_padding() {
    check(
        "fn main(x: f32[N, C, H, W], q: i8[N, C, H, W]) -> (f32[N, C, (H - 1) / 2 + 1, (W - 1) / 2 + 1], f32[N, C, H / 2, W / 2], i8[N, C, H + 1, W + 1]) {
            (maxpool2d(x, kernel: [3, 3], stride: [2, 2], padding: [1, 1]),
             maxpool2d(x, kernel: [2, 2]),
             maxpool2d(q, kernel: [2, 2], stride: [1, 1], padding: [1, 1]))
        }",
        &[&[("N", 1), ("C", 2), ("H", 5), ("W", 6)], &[("N", 2), ("C", 3), ("H", 8), ("W", 19)]],
        Tol::Exact,
    );
    check(
        "fn main(x: f32[N, C, H, W]) -> (f32[N, C, (H - 1) / 2 + 1, W], f32[N, C, H + 1, (W - 1) / 2 + 1], f32[N, C, H / 2, W / 2]) {
            (avgpool2d(x, kernel: [3, 3], stride: [2, 1], padding: [1, 1]),
             avgpool2d(x, kernel: [2, 3], stride: [1, 2], padding: [1, 1]),
             avgpool2d(x, kernel: [2, 2]))
        }",
        &[&[("N", 1), ("C", 2), ("H", 5), ("W", 6)], &[("N", 2), ("C", 1), ("H", 8), ("W", 19)]],
        Tol::Rel(1e-5),
    );
}

#[test]
fn batched_matmul_with_broadcasting() {
    check(
        "fn main(x: f32[B, 3, M, 5], w: f32[5, 4], a: f32[B, 1, M, 5], b: f32[2, 5, N], p: f32[B, M, 6], q: f32[B, 6, N]) -> (f32[B, 3, M, 4], f32[B, 2, M, N], f32[B, M, N]) {
            (x @ w, a @ b, p @ q)
        }",
        &[&[("B", 1), ("M", 1), ("N", 3)], &[("B", 2), ("M", 7), ("N", 9)]],
        Tol::Sum(1e-5),
    );
    check(
        "fn main(x: i8[B, M, 7], y: i8[B, 7, 3]) -> i32[B, M, 3] { x @ y }",
        &[&[("B", 2), ("M", 5)]],
        Tol::Exact,
    );
}

#[test]
fn einsum_contractions_in_matmul_form() {
    check(
        "fn main(a: f32[M, K], b: f32[K, N], c: f32[N, K], x: f32[B, M, K], y: f32[B, K, N], q: f32[B, 2, S, 8], k: f32[B, 2, T, 8]) -> (f32[M, N], f32[M, N], f32[B, M, N], f32[B, 2, S, T], f32[B, M, N], f32[B, N, M]) {
            (einsum(\"ij,jk->ik\", a, b), einsum(\"ik,jk->ij\", a, c), einsum(\"bij,bjk->bik\", x, y),
             einsum(\"bhqd,bhkd->bhqk\", q, k), einsum(\"bij,jk->bik\", x, b), einsum(\"bij,bjk->bki\", x, y))
        }",
        &[
            &[("M", 1), ("K", 1), ("N", 2), ("B", 1), ("S", 1), ("T", 3)],
            &[("M", 6), ("K", 9), ("N", 5), ("B", 2), ("S", 5), ("T", 7)],
        ],
        Tol::Sum(1e-5),
    );
    check(
        "fn main(a: i8[M, 6], b: i8[3, 6]) -> i32[3, M] { einsum(\"ik,jk->ji\", a, b) }",
        &[&[("M", 5)]],
        Tol::Exact,
    );
}

#[test]
fn the_conv_kernel_is_deterministic_and_covers_every_column() {
    // The direct form (f32 convolutions, and i8 ones into i32, are implicit GEMMs:
    // tests/schedule.rs and below).
    let m = graph("fn main(x: bf16[N, 2, H, W], w: bf16[3, 2, 3, 3]) -> bf16[N, 3, (H - 1) / 2 + 1, (W - 1) / 2 + 1] { conv2d(x, w, stride: [2, 2], padding: [1, 1]) }");
    let t = lower_func(&m, "main", &small()).expect("lowers");
    let text = t.to_string();
    assert!(
        text.contains("grid = sizes[N, 3, ((H - 1) / 2) / 2 + 1, ((W - 1) / 2) / 8 + 1]"),
        "{text}"
    );
    assert!(text.contains("strides = [1, 1, 2, 2]"), "{text}");
    let again = lower_func(&m, "main", &small()).expect("lowers");
    assert_eq!(again.to_string(), text);
}

#[test]
fn int8_convolutions_are_implicit_gemms_on_i8_tiles() {
    let src = "fn main(x: i8[N, 2, H, W], w: i8[3, 2, 3, 3]) -> i32[N, 3, (H - 1) / 2 + 1, (W - 1) / 2 + 1] { conv2d(x, w, stride: [2, 2], padding: [1, 1]) }";
    let t = lower_func(&graph(src), "main", &small()).expect("lowers");
    let text = t.to_string();
    // The weight re-laid out tap-major in i8, dots of i8 tiles into an i32 accumulator.
    assert!(
        text.contains("-> buf<i8[3, 3, 3, 2]>") || text.contains("%out: buf<i8[3, 3, 3, 2]>"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("tile.dot") && l.contains("xi8>") && l.contains("xi32>")),
        "{text}"
    );
    check(
        src,
        &[
            &[("N", 1), ("H", 1), ("W", 3)],
            &[("N", 2), ("H", 7), ("W", 9)],
        ],
        Tol::Exact,
    );
    // With groups: the direct convolution, accumulated in i32.
    check(
        "fn main(x: i8[N, 4, H, W], w: i8[6, 2, 3, 3]) -> i32[N, 6, H, W] { conv2d(x, w, padding: [1, 1], groups: 2) }",
        &[&[("N", 2), ("H", 5), ("W", 6)]],
        Tol::Exact,
    );
}

/// Forms `lower/contract.rs` does not take directly on narrow floats and integers are
/// widened and decomposed (`tessera_tiling::einsum`; values: tests/einsum.rs): they were
/// refused with "not lowered to tile IR yet".
#[test]
fn narrow_and_integer_forms_are_widened_and_lowered() {
    for src in [
        "fn main(x: bf16[2, 3, 4], y: bf16[3, 4]) -> bf16[2] { einsum(\"ijk,jk->i\", x, y) }",
        "fn main(x: bf16[2, 3], y: bf16[3]) -> bf16[2] { einsum(\"ij,j->i\", x, y) }",
        "fn main(x: bf16[2, 3]) -> bf16[3, 2] { einsum(\"ij->ji\", x) }",
        "fn main(x: i8[2, 3], y: i8[3, 4]) -> i32[4] { einsum(\"ij,jk->k\", x, y) }",
    ] {
        let m = graph(src);
        let tiled =
            lower_func(&m, "main", &Schedule::host()).unwrap_or_else(|e| panic!("{src}: {e}"));
        let sizes = BTreeMap::new();
        let xs = inputs(&m, &sizes, 5);
        let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
        close(&run_tiled(&tiled, xs), &want, 8e-3).unwrap_or_else(|e| panic!("{src}: {e}"));
    }
}
