//! Layout operations (`transpose`, `slice`, `concat`), `argmax`, `layernorm`/`rmsnorm` and
//! `quantize`/`dequantize` lowered to tile IR and run in the tile interpreter give the graph
//! interpreter's results (random and hand-picked inputs, ragged and symbolic sizes, small and
//! host-sized tiles); cases not lowered are clear errors.

use std::collections::BTreeMap;
use tessera_dialects::{DType, Module};
use tessera_tensor::Tensor;
use tessera_tiling::{lower_func, Schedule, Tiled};

/// Parses, checks, lowers and inlines a program.
fn graph(src: &str) -> Module {
    let mut m = tessera_frontend::compile(src).expect("the program compiles");
    tessera_passes::PassManager::new(&["inline", "canonicalize", "cse", "dce"])
        .expect("passes")
        .run(&mut m)
        .expect("pipeline");
    m
}

fn inputs(m: &Module, sizes: &BTreeMap<String, i64>, seed: u64) -> Vec<Tensor> {
    let f = m.func("main").expect("main");
    f.params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = f.tensor_ty(*p).expect("tensor");
            let shape: Vec<usize> = t
                .shape
                .iter()
                .map(|d| d.eval_map(sizes).expect("bound") as usize)
                .collect();
            tessera_tensor::random::uniform(t.dtype, &shape, -2.0, 2.0, seed + i as u64)
                .expect("random")
        })
        .collect()
}

fn run_tiled(t: &Tiled, xs: Vec<Tensor>) -> Vec<Tensor> {
    t.execute(xs, &mut |m, k, bufs, sizes| {
        tessera_interp::run_kernel(m, k, bufs, sizes).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|e| panic!("{e}\n{t}"))
}

fn close(got: &[Tensor], want: &[Tensor], rtol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} results vs {}", got.len(), want.len()));
    }
    for (g, w) in got.iter().zip(want) {
        if g.dtype() != w.dtype() || g.shape() != w.shape() {
            return Err(format!(
                "{:?}{:?} vs {:?}{:?}",
                g.dtype(),
                g.shape(),
                w.dtype(),
                w.shape()
            ));
        }
        for (i, (a, b)) in g.to_f64_vec().iter().zip(w.to_f64_vec()).enumerate() {
            let ok = (a.is_nan() && b.is_nan())
                || (a == &b && a.is_sign_negative() == b.is_sign_negative())
                || (rtol > 0.0 && (a - b).abs() <= rtol * (1.0 + b.abs()));
            if !ok {
                return Err(format!("element {i}: {a} vs {b}"));
            }
        }
    }
    Ok(())
}

fn schedules() -> [Schedule; 2] {
    [
        Schedule {
            elementwise: 8,
            mm: 4,
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
        check_on(&m, inputs(&m, &sizes, 40 + n as u64), rtol, &format!("{b:?}"));
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
