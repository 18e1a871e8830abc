//! The hand-written kernels of `dialects/tests/ir/kernels.tir` run by the tile interpreter
//! on random buffers, with ragged edges, against the graph interpreter on the equivalent
//! graph programs of `tests/tile/reference.tir`.

mod common;

use common::*;
use std::collections::BTreeMap;
use tessera_dialects::{parse_module, verify_module, DType, Module};
use tessera_interp::{run_func, run_kernel};
use tessera_tensor::Tensor;

fn kernels() -> Module {
    let m = parse_module(include_str!("../../../dialects/tests/ir/kernels.tir")).unwrap();
    verify_module(&m).unwrap();
    m
}

fn reference() -> Module {
    let m = parse_module(include_str!("tile/reference.tir")).unwrap();
    verify_module(&m).unwrap();
    m
}

fn sizes(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

/// The largest difference between tiled and graph results allowed for a matmul whose
/// contraction of length `k` is split into tiles of 256: one f32 rounding per k-tile of a
/// value bounded by `k` (elements in [-1, 1]).
fn matmul_tol(k: usize) -> f32 {
    let tiles = k.div_ceil(256).max(1) as f32;
    tiles * k as f32 * f32::EPSILON
}

#[test]
fn matmul_bias_relu_matches_the_graph() {
    let (km, rm) = (kernels(), reference());
    let mut g = Lcg(11);
    // (M, N, K): exact multiples, ragged edges everywhere, a single short K tile, tiny sizes.
    for (m, n, k) in [
        (64, 128, 256),
        (130, 200, 300),
        (1, 1, 1),
        (65, 129, 257),
        (7, 300, 600),
        (128, 5, 40),
    ] {
        let (a, b, bias) = (g.tensor(&[m, k]), g.tensor(&[k, n]), g.tensor(&[n]));
        let want = run_func(
            &rm,
            "matmul_bias_relu",
            vec![a.clone(), b.clone(), bias.clone()],
        )
        .unwrap()
        .remove(0);
        let sentinel = f32t(&[m, n], &vec![f32::NAN; m * n]);
        let mut bufs = vec![a, b, bias, sentinel];
        let s = sizes(&[("M", m as i64), ("N", n as i64), ("K", k as i64)]);
        run_kernel(&km, "matmul_bias_relu", &mut bufs, &s).unwrap();
        let got = fl(&bufs[3]);
        assert!(got.iter().all(|x| !x.is_nan()), "every element is written");
        if k <= 256 {
            // One K tile: the dot rounds once, exactly as graph.matmul.
            assert_eq!(got, fl(&want), "M={m} N={n} K={k}");
        } else {
            let tol = matmul_tol(k);
            for (x, y) in got.iter().zip(fl(&want)) {
                assert!(
                    (x - y).abs() <= tol,
                    "M={m} N={n} K={k}: {x} vs {y} (tol {tol})"
                );
            }
        }
    }
}

#[test]
fn scale_shift_matches_the_graph() {
    let (km, rm) = (kernels(), reference());
    let mut g = Lcg(12);
    for l in [1usize, 1023, 1024, 1025, 3000] {
        let x = g.tensor(&[l]);
        let want = run_func(&rm, "scale_shift", vec![x.clone()])
            .unwrap()
            .remove(0);
        let mut bufs = vec![x, Tensor::zeros(DType::BF16, vec![l]).unwrap()];
        run_kernel(&km, "scale_shift", &mut bufs, &sizes(&[("L", l as i64)])).unwrap();
        assert_eq!(bufs[1], want, "L={l}: elementwise results are bit-exact");
    }
}

#[test]
fn row_sum_matches_the_graph() {
    let (km, rm) = (kernels(), reference());
    let mut g = Lcg(13);
    for (r, c) in [(64usize, 64usize), (100, 130), (1, 1), (65, 3), (3, 200)] {
        let x = g.tensor(&[r, c]);
        let want = run_func(&rm, "row_sum", vec![x.clone()]).unwrap().remove(0);
        // The scratch parameter is allocated by the interpreter: an empty placeholder.
        let placeholder = Tensor::zeros(DType::F32, vec![0]).unwrap();
        let mut bufs = vec![x, f32t(&[r], &vec![0.0; r]), placeholder.clone()];
        run_kernel(
            &km,
            "row_sum",
            &mut bufs,
            &sizes(&[("R", r as i64), ("C", c as i64)]),
        )
        .unwrap();
        assert_eq!(bufs[2], placeholder, "scratch buffers are not written back");
        // Each 64-column tile is summed in f64 and rounded, then added in f32: one rounding
        // per column tile and one per addition, against one rounding in the graph.
        let tol = 2.0 * c.div_ceil(64) as f32 * c as f32 * f32::EPSILON;
        let got = fl(&bufs[1]);
        for (x, y) in got.iter().zip(fl(&want)) {
            assert!((x - y).abs() <= tol, "R={r} C={c}: {x} vs {y}");
        }
        if c <= 64 {
            assert_eq!(got, fl(&want), "one column tile: exact");
        }
    }
}

#[test]
fn a_correctly_shaped_scratch_tensor_is_accepted_and_left_alone() {
    let km = kernels();
    let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let scratch = f32t(&[64, 64], &vec![9.0; 64 * 64]);
    let mut bufs = vec![x, f32t(&[2], &[0.0, 0.0]), scratch.clone()];
    run_kernel(&km, "row_sum", &mut bufs, &sizes(&[("R", 2), ("C", 3)])).unwrap();
    assert_eq!(fl(&bufs[1]), vec![6.0, 15.0]);
    assert_eq!(bufs[2], scratch);
}

#[test]
fn an_empty_grid_runs_nothing() {
    let km = kernels();
    let mut bufs = vec![
        f32t(&[0], &[]),
        Tensor::zeros(DType::BF16, vec![0]).unwrap(),
    ];
    run_kernel(&km, "scale_shift", &mut bufs, &sizes(&[("L", 0)])).unwrap();
}
