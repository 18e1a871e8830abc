//! Every supported kernel of `dialects/tests/ir/kernels.tir`, of the tile interpreter's
//! `tests/tile/ops.tir` and of `tests/kernels/cpu.tir`, compiled with Cranelift and run
//! on random buffers with several size bindings (ragged edges included), compared with
//! the tile interpreter.
//!
//! Tolerances: maps `rtol 1e-5` (plus `atol 1e-6`: `mul`+`add` become one `fma`, which
//! differs from two roundings by at most one ulp of the product, below 1.2e-7 for inputs
//! in [-1, 1]); casts, copies, integer kernels and max/min reductions exact; sums and dots,
//! which accumulate in `f32` where the interpreter accumulates in `f64`,
//! `atol 1e-4 * K`, with `K` the reduced length, an upper bound of `sum |products|` for
//! inputs in [-1, 1].

mod common;

use common::*;
use tessera_tensor::Tensor;

const MAP: Tol = Tol::Close {
    rtol: 1e-5,
    atol: 1e-6,
};

fn sums(k: usize) -> Tol {
    Tol::Close {
        rtol: 1e-5,
        atol: 1e-4 * k as f32,
    }
}

#[test]
fn matmul_bias_relu() {
    let m = kernels_tir();
    for (mm, n, k) in [
        (64, 128, 256),
        (130, 200, 300),
        (1, 1, 1),
        (65, 129, 257),
        (7, 300, 600),
    ] {
        check_kernel(
            &m,
            "matmul_bias_relu",
            &[sizes(&[("M", mm), ("N", n), ("K", k)])],
            sums(k as usize),
        );
    }
}

#[test]
fn scale_shift_to_bf16() {
    let m = kernels_tir();
    let b: Vec<_> = [1, 1000, 1024, 2049, 3000]
        .iter()
        .map(|&l| sizes(&[("L", l)]))
        .collect();
    check_kernel(&m, "scale_shift", &b, Tol::Exact);
}

#[test]
fn row_sum_with_scratch_parameter() {
    let m = kernels_tir();
    let b: Vec<_> = [(64, 64), (1, 1), (130, 70), (65, 200)]
        .iter()
        .map(|&(r, c)| sizes(&[("R", r), ("C", c)]))
        .collect();
    check_kernel(&m, "row_sum", &b, sums(200));
}

#[test]
fn interpreter_op_kernels() {
    let m = interp_ops_tir();
    let mn = |a: i64, b: i64| sizes(&[("M", a), ("N", b)]);
    let rc = |a: i64, b: i64| sizes(&[("R", a), ("C", b)]);
    check_kernel(
        &m,
        "tanh_minus_row",
        &[mn(16, 32), mn(17, 33), mn(40, 5), mn(1, 1)],
        MAP,
    );
    check_kernel(
        &m,
        "row_max",
        &[rc(8, 16), rc(9, 17), rc(30, 3), rc(1, 40)],
        Tol::Exact,
    );
    check_kernel(&m, "to_bf16", &[mn(4, 8), mn(5, 9), mn(13, 30)], Tol::Exact);
    check_kernel(
        &m,
        "sum_and_max",
        &[rc(8, 16), rc(9, 17), rc(30, 3), rc(1, 40)],
        sums(40),
    );
    let pq = |a: i64, b: i64, p: i64, q: i64| sizes(&[("M", a), ("N", b), ("P", p), ("Q", q)]);
    check_kernel(
        &m,
        "pad_probe",
        &[pq(4, 3, 8, 6), pq(5, 4, 9, 10), pq(1, 1, 2, 4)],
        Tol::Exact,
    );
    check_kernel(
        &m,
        "negative_index",
        &[sizes(&[("L", 3)]), sizes(&[("L", 9)])],
        Tol::Exact,
    );
    let l = |v: i64| sizes(&[("L", v)]);
    check_kernel(&m, "axpy", &[l(64), l(65), l(1), l(300)], MAP);
    let mnk = |a: i64, b: i64, c: i64| sizes(&[("M", a), ("N", b), ("K", c)]);
    check_kernel(
        &m,
        "imatmul",
        &[mnk(8, 8, 8), mnk(9, 10, 17), mnk(1, 1, 1), mnk(20, 3, 30)],
        Tol::Exact,
    );
    check_kernel(&m, "misc", &[sizes(&[])], Tol::Exact);
}

#[test]
fn scratch_poison_matches_on_written_elements() {
    // The second half of the scratch buffer is never written: undefined (NaN in the
    // interpreter), so only the written half is compared.
    let m = interp_ops_tir();
    let k = tessera_codegen_cpu::JitBackend::new()
        .unwrap()
        .compile(&m, "scratch_poison")
        .unwrap();
    let mut g = Lcg(3);
    let s = sizes(&[]);
    let args = random_args(&m, "scratch_poison", &s, &mut g);
    let mut want = args.clone();
    tessera_interp::run_kernel(&m, "scratch_poison", &mut want, &s).unwrap();
    let mut got = args;
    k.run_tensors(&mut got, &s).unwrap();
    let (x, y) = (got[1].to_f32_vec(), want[1].to_f32_vec());
    assert_eq!(x[..8], y[..8]);
    assert!(y[8..].iter().all(|v| v.is_nan()));
}

#[test]
fn vectorised_map_with_tail_and_ragged_edge() {
    let m = cpu_tir();
    let b: Vec<_> = [1000, 1002, 1003, 2500, 1, 4]
        .iter()
        .map(|&l| sizes(&[("L", l)]))
        .collect();
    let out = check_kernel(&m, "vmap", &b, MAP);
    assert_eq!(out[2].len(), 4);
}

#[test]
fn transcendental_helpers() {
    let m = cpu_tir();
    let mn = |a: i64, b: i64| sizes(&[("M", a), ("N", b)]);
    check_kernel(&m, "transcend", &[mn(4, 8), mn(7, 19), mn(1, 1)], MAP);
}

#[test]
fn reductions_on_every_path() {
    let m = cpu_tir();
    let rc = |a: i64, b: i64| sizes(&[("R", a), ("C", b)]);
    check_kernel(
        &m,
        "reductions",
        &[rc(6, 8), rc(13, 5), rc(1, 1), rc(30, 8)],
        sums(6),
    );
    let ab = |a: i64, b: i64| sizes(&[("A", a), ("B", b)]);
    check_kernel(
        &m,
        "min3d",
        &[ab(3, 5), ab(7, 2), ab(1, 1), ab(10, 5)],
        Tol::Exact,
    );
}

#[test]
fn loop_with_two_swapped_iteration_values() {
    let m = cpu_tir();
    let ls = |l: i64, s: i64| sizes(&[("L", l), ("S", s)]);
    check_kernel(
        &m,
        "fib",
        &[ls(16, 0), ls(16, 1), ls(33, 7), ls(5, 20)],
        MAP,
    );
}

#[test]
fn dots_vector_and_scalar() {
    let m = cpu_tir();
    let mnk = |a: i64, b: i64, c: i64| sizes(&[("M", a), ("N", b), ("K", c)]);
    for s in [
        mnk(8, 32, 16),
        mnk(17, 70, 33),
        mnk(1, 1, 1),
        mnk(30, 64, 100),
    ] {
        let k = s["K"] as usize;
        check_kernel(&m, "mm32", std::slice::from_ref(&s), sums(k));
        check_kernel(&m, "mm6", std::slice::from_ref(&s), sums(k));
    }
}

#[test]
fn casts_and_integer_maps() {
    let m = cpu_tir();
    let b: Vec<_> = [10, 1, 23, 100]
        .iter()
        .map(|&l| sizes(&[("L", l)]))
        .collect();
    let out: Vec<Tensor> = check_kernel(&m, "casts", &b, Tol::Exact);
    assert_eq!(out.len(), 6);
}

#[test]
fn chunks_read_and_written_in_place() {
    let m = cpu_tir();
    let rc = |a: i64, b: i64| sizes(&[("R", a), ("C", b)]);
    check_kernel(
        &m,
        "inplace",
        &[rc(3, 24), rc(5, 29), rc(1, 1), rc(2, 13), rc(4, 120)],
        sums(120),
    );
    let l = |n: i64| sizes(&[("L", n)]);
    check_kernel(&m, "shifted", &[l(7), l(50), l(1), l(64)], MAP);
}

#[test]
fn reductions_folded_into_their_maps() {
    let m = cpu_tir();
    let rc = |a: i64, b: i64| sizes(&[("R", a), ("C", b)]);
    check_kernel(
        &m,
        "folded",
        &[rc(3, 28), rc(2, 29), rc(1, 1), rc(4, 13), rc(2, 130)],
        sums(130),
    );
}
