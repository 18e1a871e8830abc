//! Kernels of `tests/tile/ops.tir`, one tile-dialect feature each (maps with broadcasting,
//! reductions, casts, loops with two iteration values, padded and negative-index loads,
//! scalar parameters, integer dots, scratch buffers), against the graph interpreter or
//! hand-computed results.

mod common;

use common::*;
use std::collections::BTreeMap;
use tessera_dialects::{parse_module, verify_module, DType, Module};
use tessera_interp::{run_func, run_kernel};
use tessera_tensor::Tensor;

fn ops() -> Module {
    let m = parse_module(include_str!("tile/ops.tir")).unwrap();
    verify_module(&m).unwrap();
    m
}

fn reference() -> Module {
    let m = parse_module(include_str!("tile/reference.tir")).unwrap();
    verify_module(&m).unwrap();
    m
}

fn sizes(pairs: &[(&str, usize)]) -> BTreeMap<String, i64> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), *v as i64))
        .collect()
}

fn graph(name: &str, inputs: Vec<Tensor>) -> Tensor {
    run_func(&reference(), name, inputs).unwrap().remove(0)
}

fn nans(shape: &[usize]) -> Tensor {
    f32t(shape, &vec![f32::NAN; shape.iter().product()])
}

#[test]
fn unary_and_binary_maps_with_a_row_broadcast() {
    let m = ops();
    let mut g = Lcg(21);
    for (rows, cols) in [(16, 32), (17, 33), (1, 1), (40, 70)] {
        let (x, row) = (g.tensor(&[rows, cols]), g.tensor(&[cols]));
        let want = graph("tanh_minus_row", vec![x.clone(), row.clone()]);
        let mut bufs = vec![x, row, nans(&[rows, cols])];
        let s = sizes(&[("M", rows), ("N", cols)]);
        run_kernel(&m, "tanh_minus_row", &mut bufs, &s).unwrap();
        assert_eq!(
            bufs[2], want,
            "{rows}x{cols}: elementwise maps are bit-exact"
        );
    }
}

#[test]
fn row_max_over_padded_column_tiles() {
    let m = ops();
    let mut g = Lcg(22);
    for (r, c) in [(8, 16), (9, 17), (1, 1), (30, 5), (3, 100)] {
        // Negative values only, so that a zero pad would show.
        let v: Vec<f32> = g.vec(r * c).iter().map(|x| -1.0 - x.abs()).collect();
        let x = f32t(&[r, c], &v);
        let want = graph("row_max", vec![x.clone()]);
        let mut bufs = vec![x, nans(&[r])];
        run_kernel(&m, "row_max", &mut bufs, &sizes(&[("R", r), ("C", c)])).unwrap();
        assert_eq!(bufs[1], want, "{r}x{c}");
    }
}

#[test]
fn cast_to_bf16_is_graph_cast() {
    let m = ops();
    let mut g = Lcg(23);
    for (r, c) in [(4, 8), (5, 9), (13, 2)] {
        let v: Vec<f32> = g.vec(r * c).iter().map(|x| x * 1000.0).collect();
        let x = f32t(&[r, c], &v);
        let want = graph("to_bf16", vec![x.clone()]);
        let mut bufs = vec![x, Tensor::zeros(DType::BF16, vec![r, c]).unwrap()];
        run_kernel(&m, "to_bf16", &mut bufs, &sizes(&[("M", r), ("N", c)])).unwrap();
        assert_eq!(bufs[1], want, "{r}x{c}");
    }
}

#[test]
fn a_loop_with_two_iteration_values() {
    let m = ops();
    let mut g = Lcg(24);
    for (r, c) in [(8, 16), (11, 40), (1, 3)] {
        let x = g.tensor(&[r, c]);
        let want_sum = graph("row_sum", vec![x.clone()]);
        let want_max = graph("row_max", vec![x.clone()]);
        let mut bufs = vec![x, nans(&[r]), nans(&[r])];
        run_kernel(&m, "sum_and_max", &mut bufs, &sizes(&[("R", r), ("C", c)])).unwrap();
        assert_eq!(bufs[2], want_max);
        let tol = 2.0 * c.div_ceil(16) as f32 * c as f32 * f32::EPSILON;
        for (x, y) in fl(&bufs[1]).iter().zip(fl(&want_sum)) {
            assert!((x - y).abs() <= tol, "{r}x{c}: {x} vs {y}");
        }
    }
}

#[test]
fn loads_past_the_edge_read_the_pad() {
    let m = ops();
    for (rows, cols) in [(5, 4), (4, 3), (1, 1)] {
        let v: Vec<i32> = (0..(rows * cols) as i32).collect();
        let x = it(DType::I32, &[rows, cols], &v);
        let (p, q) = (4 * (rows.div_ceil(4) + 1), 3 * (cols.div_ceil(3) + 1));
        let mut bufs = vec![x, it(DType::I32, &[p, q], &vec![99; p * q])];
        let s = sizes(&[("M", rows), ("N", cols), ("P", p), ("Q", q)]);
        run_kernel(&m, "pad_probe", &mut bufs, &s).unwrap();
        let got = ints(&bufs[1]);
        for i in 0..p {
            for j in 0..q {
                let want = if i < rows && j < cols {
                    (i * cols + j) as i32
                } else {
                    -7
                };
                assert_eq!(got[i * q + j], want, "({i}, {j}) of {rows}x{cols}");
            }
        }
    }
}

#[test]
fn stores_past_the_edge_are_dropped() {
    // The grid of pad_probe covers P x Q; storing into a smaller output keeps the rest out.
    let m = ops();
    let x = it(DType::I32, &[2, 2], &[1, 2, 3, 4]);
    let mut bufs = vec![x, it(DType::I32, &[3, 3], &[0; 9])];
    let s = sizes(&[("M", 2), ("N", 2), ("P", 3), ("Q", 3)]);
    run_kernel(&m, "pad_probe", &mut bufs, &s).unwrap();
    assert_eq!(ints(&bufs[1]), vec![1, 2, -7, 3, 4, -7, -7, -7, -7]);
}

#[test]
fn a_negative_tile_index_reads_only_the_pad() {
    let m = ops();
    let mut bufs = vec![f32t(&[6], &[1.0; 6]), nans(&[4])];
    run_kernel(&m, "negative_index", &mut bufs, &sizes(&[("L", 6)])).unwrap();
    assert_eq!(fl(&bufs[1]), vec![5.0; 4]);
}

#[test]
fn a_scalar_parameter_in_a_map_region() {
    let m = ops();
    let mut g = Lcg(25);
    for l in [64, 65, 3, 200] {
        let (x, y) = (g.tensor(&[l]), g.tensor(&[l]));
        let alpha = scalar(0.75);
        let want = graph("axpy", vec![alpha.clone(), x.clone(), y.clone()]);
        let mut bufs = vec![alpha, x, y, nans(&[l])];
        run_kernel(&m, "axpy", &mut bufs, &sizes(&[("L", l)])).unwrap();
        assert_eq!(bufs[3], want, "L={l}");
    }
}

#[test]
fn integer_dot_accumulates_in_i32() {
    let m = ops();
    let mut g = Lcg(26);
    for (mm, n, k) in [(8, 8, 8), (9, 10, 17), (3, 1, 30)] {
        let a = it(
            DType::I8,
            &[mm, k],
            &(0..mm * k).map(|_| g.int(-128, 127)).collect::<Vec<_>>(),
        );
        let b = it(
            DType::I8,
            &[k, n],
            &(0..k * n).map(|_| g.int(-128, 127)).collect::<Vec<_>>(),
        );
        let want = graph("imatmul", vec![a.clone(), b.clone()]);
        let mut bufs = vec![a, b, Tensor::zeros(DType::I32, vec![mm, n]).unwrap()];
        run_kernel(
            &m,
            "imatmul",
            &mut bufs,
            &sizes(&[("M", mm), ("N", n), ("K", k)]),
        )
        .unwrap();
        assert_eq!(bufs[2], want, "{mm}x{n}x{k}");
    }
}

#[test]
fn unwritten_scratch_reads_as_nan() {
    let m = ops();
    let x = f32t(&[8], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let mut bufs = vec![x, nans(&[16]), Tensor::zeros(DType::F32, vec![0]).unwrap()];
    run_kernel(&m, "scratch_poison", &mut bufs, &BTreeMap::new()).unwrap();
    let got = fl(&bufs[1]);
    assert_eq!(&got[..8], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    assert!(got[8..].iter().all(|v| v.is_nan()), "{got:?}");
}

#[test]
fn column_broadcast_compare_select_constant_and_min() {
    let m = ops();
    let mut g = Lcg(27);
    let x = g.tensor(&[4, 8]);
    let col = g.tensor(&[4, 1]);
    let mut bufs = vec![
        x.clone(),
        col.clone(),
        it(DType::Bool, &[4, 8], &[0; 32]),
        nans(&[4, 8]),
        nans(&[4, 8]),
        nans(&[8]),
    ];
    run_kernel(&m, "misc", &mut bufs, &BTreeMap::new()).unwrap();
    let (xv, cv) = (fl(&x), fl(&col));
    let mask = ints(&bufs[2]);
    let sel = fl(&bufs[3]);
    for i in 0..4 {
        for j in 0..8 {
            let (a, b) = (xv[i * 8 + j], cv[i]);
            assert_eq!(mask[i * 8 + j], i32::from(a > b));
            assert_eq!(sel[i * 8 + j], if a > b { a } else { b });
        }
    }
    assert_eq!(fl(&bufs[4]), vec![7.0; 32]);
    let mins: Vec<f32> = (0..8)
        .map(|j| (0..4).map(|i| xv[i * 8 + j]).fold(f32::INFINITY, f32::min))
        .collect();
    assert_eq!(fl(&bufs[5]), mins);
}

#[test]
fn runs_are_deterministic() {
    let m = ops();
    let mut g = Lcg(28);
    let (x, row) = (g.tensor(&[37, 45]), g.tensor(&[45]));
    let run = || {
        let mut bufs = vec![x.clone(), row.clone(), nans(&[37, 45])];
        run_kernel(
            &m,
            "tanh_minus_row",
            &mut bufs,
            &sizes(&[("M", 37), ("N", 45)]),
        )
        .unwrap();
        bufs.remove(2)
    };
    assert_eq!(run(), run());
}
