//! Layout operations (`transpose`, `slice`, `concat`), `argmax`, `layernorm`/`rmsnorm` and
//! `quantize`/`dequantize` lowered to tile IR and run in the tile interpreter give the graph
//! interpreter's results (random and hand-picked inputs, ragged and symbolic sizes, small and
//! host-sized tiles); cases not lowered are clear errors.

mod common;

use common::{close, graph, inputs, run_tiled};

use std::collections::BTreeMap;
use tessera_dialects::{DType, Module};
use tessera_tensor::Tensor;
use tessera_tiling::{lower_func, Schedule};

fn schedules() -> [Schedule; 2] {
    [
        Schedule {
            elementwise: 8,
            mm: 4,
            mk: 4,
            rows: 2,
        },
        Schedule::host(),
    ]
}

/// Lowers `src`'s `main` with two schedules and compares with the graph interpreter on
/// random inputs for each binding of the sizes (`rtol = 0`: exact).
fn check(src: &str, bindings: &[&[(&str, i64)]], rtol: f64) {
    let m = graph(src);
    for (n, b) in bindings.iter().enumerate() {
        let sizes: BTreeMap<String, i64> = b.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        check_on(
            &m,
            inputs(&m, &sizes, 40 + n as u64),
            rtol,
            &format!("{b:?}"),
        );
    }
}

/// Compares the tiled and graph interpretations of `m`'s `main` on `xs`, for both schedules.
fn check_on(m: &Module, xs: Vec<Tensor>, rtol: f64, what: &str) {
    let want = tessera_interp::run_func(m, "main", xs.clone()).expect("graph interpreter");
    for schedule in schedules() {
        let tiled = lower_func(m, "main", &schedule).unwrap_or_else(|e| panic!("{e}"));
        let got = run_tiled(&tiled, xs.clone());
        close(&got, &want, rtol).unwrap_or_else(|e| panic!("{schedule} {what}: {e}\n{tiled}"));
    }
}

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_f32(DType::F32, shape.to_vec(), v.to_vec()).expect("tensor")
}

#[test]
fn transposes_of_rank_two_three_and_four() {
    check(
        "fn main(x: f32[B, 7], y: f32[B, 5, 3], z: i32[2, B, 3, 6]) -> (f32[7, B], f32[5, B, 3], f32[3, 5, B], i32[6, 3, 2, B], i32[B, 2, 3, 6], i32[2, 3, 6, B]) {
            (transpose(x, [1, 0]), transpose(y, [1, 0, 2]), transpose(y, [2, 1, 0]),
             transpose(z, [3, 2, 0, 1]), transpose(z, [1, 0, 2, 3]), transpose(z, [0, 2, 3, 1]))
        }",
        &[&[("B", 1)], &[("B", 6)], &[("B", 13)]],
        0.0,
    );
}

#[test]
fn slices_with_constant_and_symbolic_bounds() {
    check(
        "fn main(x: f32[B, 11], y: i32[3, B, 9]) -> (f32[B, 7], f32[B - 1, 2], i32[2, B - 2, 8], i32[3, 9], i32[B - 1, 9]) {
            (x[:, 2:9], x[1:, -3:-1], y[1:, 1:-1, :8], y[:, 0, :], y[1, 1:, :])
        }",
        &[&[("B", 3)], &[("B", 10)], &[("B", 19)]],
        0.0,
    );
}

#[test]
fn concats_along_every_axis() {
    check(
        "fn main(a: f32[B, 5], b: f32[3, 5], c: f32[B, 11], d: i32[2, B, 3], e: i32[2, 1, 3]) -> (f32[B + 3, 5], f32[B, 21], i32[2, B + 1, 3], i32[2, B, 9], f32[B, 5]) {
            (concat([a, b], axis: 0), concat([a, c, a], axis: 1), concat([d, e], axis: 1),
             concat([d, d, d], axis: -1), concat([a]))
        }",
        &[&[("B", 1)], &[("B", 4)], &[("B", 17)]],
        0.0,
    );
}

#[test]
fn argmax_over_the_last_axis() {
    check(
        "fn main(x: f32[B, 21], y: i32[B, 3, 19], z: f32[N], w: i8[B, 9]) -> (i32[B], i32[B, 1], i32[B, 3], i32, i32[B]) {
            (argmax(x, axis: -1), argmax(x, axis: 1, keepdims: true), argmax(y, axis: 2),
             argmax(z, axis: 0), argmax(w, axis: 1))
        }",
        &[
            &[("B", 1), ("N", 1)],
            &[("B", 5), ("N", 8)],
            &[("B", 13), ("N", 77)],
        ],
        0.0,
    );
}

#[test]
fn argmax_ties_nan_and_infinities_across_column_tiles() {
    let m = graph("fn main(x: f32[R, 20]) -> i32[R] { argmax(x, axis: -1) }");
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    let mut rows: Vec<Vec<f32>> = Vec::new();
    let base: Vec<f32> = (0..20).map(|i| (i % 7) as f32 * 0.1 - 1.0).collect();
    let with = |edits: &[(usize, f32)]| {
        let mut r = base.clone();
        for &(i, v) in edits {
            r[i] = v;
        }
        r
    };
    // the same maximum in two column tiles (8 wide in the small schedule): the first wins
    rows.push(with(&[(3, 5.0), (11, 5.0)]));
    rows.push(with(&[(11, 5.0), (19, 5.0)]));
    rows.push(with(&[(7, 5.0), (8, 5.0)]));
    // NaN counts as the maximum; the first NaN wins, even after a larger value
    rows.push(with(&[(2, 9.0), (12, nan), (17, nan)]));
    rows.push(with(&[(5, inf), (15, nan)]));
    rows.push(with(&[(0, nan), (1, inf)]));
    rows.push(with(&[(19, nan)]));
    // all -inf: index 0; -inf then a NaN
    rows.push(vec![-inf; 20]);
    let mut r = vec![-inf; 20];
    r[9] = nan;
    rows.push(r);
    // infinities tie: the first one
    rows.push(with(&[(4, inf), (13, inf)]));
    // the maximum only in the last (ragged) tile, and -0.0 vs 0.0
    rows.push(with(&[(18, 3.0)]));
    let mut r = vec![-1.0; 20];
    r[6] = -0.0;
    r[14] = 0.0;
    rows.push(r);
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    check_on(
        &m,
        vec![f32s(&[rows.len(), 20], &flat)],
        0.0,
        "hand-picked rows",
    );
}

#[test]
fn layernorm_and_rmsnorm_over_the_last_axis() {
    check(
        "fn main(x: f32[B, 37], g: f32[37], b: f32[37], y: f32[B, S, 10], g2: f32[10], b2: f32[10], z: f32[N], gz: f32[N], bz: f32[N]) -> (f32[B, 37], f32[B, S, 10], f32[B, 37], f32[B, S, 10], f32[N]) {
            (layernorm(x, g, b), layernorm(y, g2, b2, axis: 2, eps: 1e-3), rmsnorm(x, g),
             rmsnorm(y, g2, eps: 0.01), layernorm(z, gz, bz))
        }",
        &[
            &[("B", 1), ("S", 1), ("N", 1)],
            &[("B", 3), ("S", 5), ("N", 9)],
            &[("B", 11), ("S", 2), ("N", 130)],
        ],
        1e-5,
    );
}

/// A norm kernel reads ahead the next row tile of its row-indexed input (not gamma and
/// beta): one `tile.prefetch` with the kernel's rows per grid point.
#[test]
fn norms_prefetch_their_next_row_tile() {
    let m = graph(
        "fn main(x: f32[B, 37], g: f32[37], b: f32[37]) -> (f32[B, 37], f32[B, 37]) {
            (layernorm(x, g, b), rmsnorm(x, g))
        }",
    );
    let schedule = schedules()[0];
    let tiled = lower_func(&m, "main", &schedule).unwrap_or_else(|e| panic!("{e}"));
    let text = tiled.to_string();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("tile.prefetch"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in lines {
        assert!(
            l.trim() == "tile.prefetch %x, %inext {rows = 1} : (buf<f32[B, 37]>, index) -> ()",
            "{l}"
        );
    }
}

#[test]
fn quantize_and_dequantize_per_tensor_and_per_channel() {
    check(
        "fn main(x: f32[B, 13], s: f32, c: f32[13], r: f32[B], y: f32[2, B, 5], q: i8[B, 13]) -> (i8[B, 13], i8[B, 13], f8e4m3[B, 13], f8e5m2[B, 13], i8[2, B, 5], f32[B, 13], f32[B, 13], f32[B, 13]) {
            (quantize(x, dtype: i8, scale: s), quantize(x * 100.0, dtype: i8, scale: c, axis: 1),
             quantize(x * 300.0, dtype: f8e4m3, scale: r, axis: 0),
             quantize(x * 40000.0, dtype: f8e5m2, scale: c, axis: 1),
             quantize(y * 90.0, dtype: i8, scale: r, axis: 1),
             dequantize(q, scale: s), dequantize(q, scale: c, axis: 1),
             dequantize(quantize(x, dtype: f8e4m3, scale: s), scale: r, axis: 0))
        }",
        &[&[("B", 1)], &[("B", 4)], &[("B", 17)]],
        0.0,
    );
}

#[test]
fn quantize_ties_saturation_nan_and_infinities() {
    let m = graph(
        "fn main(x: f32[N], s: f32) -> (i8[N], f8e4m3[N], f8e5m2[N]) {
            (quantize(x, dtype: i8, scale: s), quantize(x, dtype: f8e4m3, scale: s),
             quantize(x, dtype: f8e5m2, scale: s))
        }",
    );
    let v = [
        0.5,
        1.5,
        2.5,
        -0.5,
        -1.5,
        -2.5,
        126.5,
        127.5,
        128.5,
        -127.5,
        -128.5,
        -129.0,
        1e9,
        -1e9,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1.0625,
        1.1875,
        -1.0625,
        448.0,
        464.0,
        470.0,
        480.0,
        500.0,
        57344.0,
        61440.0,
        65536.0,
        1e-9,
        -0.0,
        0.0,
        3.0e38,
    ];
    for scale in [1.0, 0.5, -2.0, 0.0] {
        check_on(
            &m,
            vec![f32s(&[v.len()], &v), f32s(&[], &[scale])],
            0.0,
            &format!("scale {scale}"),
        );
    }
}

/// Norms of narrow floats compute in f32 and round once to the dtype: within one ulp of
/// the f64 reference rounded once (bf16: 2^-8 relative; f16: 2^-11).
#[test]
fn norms_of_narrow_floats() {
    check(
        "fn main(x: f16[R, C], g: f16[C], b: f16[C], y: bf16[R, C], h: bf16[C]) -> (f16[R, C], f16[R, C], bf16[R, C]) {
             (rmsnorm(x, g), layernorm(x, g, b), layernorm(y, h, h, eps: 0.01))
         }",
        &[&[("R", 3), ("C", 11)], &[("R", 2), ("C", 20)]],
        8e-3,
    );
}

/// Softmax and log_softmax as one kernel per row: infinities, NaN, an all `-inf` row, huge
/// values and ragged column tiles give the interpreter's values.
#[test]
fn softmax_rows_with_special_values() {
    let m = graph(
        "fn main(x: f32[6, 5]) -> (f32[6, 5], f32[6, 5]) { (softmax(x, axis: -1), log_softmax(x, axis: 1)) }",
    );
    let inf = f32::INFINITY;
    let v = [
        1.0,
        2.0,
        3.0,
        4.0,
        5.0, //
        -inf,
        0.5,
        -inf,
        1.0,
        2.0, //
        -inf,
        -inf,
        -inf,
        -inf,
        -inf, //
        inf,
        1.0,
        2.0,
        3.0,
        4.0, //
        f32::NAN,
        1.0,
        2.0,
        3.0,
        4.0, //
        1e30,
        -1e30,
        0.0,
        -0.0,
        88.0,
    ];
    check_on(&m, vec![f32s(&[6, 5], &v)], 1e-5, "special values");
}
