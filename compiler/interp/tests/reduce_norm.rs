//! Reductions (several axes, keepdims, NaN, integers), argmax, softmax / log_softmax
//! stability, layernorm and rmsnorm against direct formulas, plus property tests.

mod common;

use common::*;
use proptest::prelude::*;
use tessera_dialects::DType;
use tessera_interp::kernels::norm::{layernorm, log_softmax, rmsnorm, softmax};
use tessera_interp::kernels::reduce::{argmax, reduce, ReduceOp};

fn x234() -> tessera_tensor::Tensor {
    let v: Vec<f32> = (0..24).map(|i| i as f32).collect();
    f32t(&[2, 3, 4], &v)
}

#[test]
fn sum_over_axes_with_and_without_keepdims() {
    let x = x234();
    let r = reduce(ReduceOp::Sum, &x, &[1], false).unwrap();
    assert_eq!(r.shape(), &[2, 4]);
    // x[b, j, k] = 12b + 4j + k; sum over j = 36b + 12 + 3k
    assert_eq!(fl(&r), vec![12.0, 15.0, 18.0, 21.0, 48.0, 51.0, 54.0, 57.0]);
    let r = reduce(ReduceOp::Sum, &x, &[0, 2], true).unwrap();
    assert_eq!(r.shape(), &[1, 3, 1]);
    // sum over b, k of 12b + 4j + k = 4*12 + 8*4j + 2*(0+1+2+3) = 60 + 32j
    assert_eq!(fl(&r), vec![60.0, 92.0, 124.0]);
    let r = reduce(ReduceOp::Sum, &x, &[0, 1, 2], false).unwrap();
    assert_eq!(r.shape(), &[] as &[usize]);
    assert_eq!(fl(&r), vec![276.0]);
    // Negative axes and unsorted lists are normalised; repeats are refused.
    let r = reduce(ReduceOp::Sum, &x, &[-1, 0], false).unwrap();
    assert_eq!(fl(&r), vec![60.0, 92.0, 124.0]);
    assert!(reduce(ReduceOp::Sum, &x, &[1, 1], false).is_err());
    assert!(reduce(ReduceOp::Sum, &x, &[3], false).is_err());
    // No axes: identity.
    assert_eq!(fl(&reduce(ReduceOp::Sum, &x, &[], false).unwrap()), fl(&x));
}

#[test]
fn mean_max_min() {
    let x = x234();
    let m = reduce(ReduceOp::Mean, &x, &[2], false).unwrap();
    assert_eq!(fl(&m), vec![1.5, 5.5, 9.5, 13.5, 17.5, 21.5]);
    let mx = reduce(ReduceOp::Max, &x, &[0, 1], true).unwrap();
    assert_eq!(mx.shape(), &[1, 1, 4]);
    assert_eq!(fl(&mx), vec![20.0, 21.0, 22.0, 23.0]);
    let mn = reduce(ReduceOp::Min, &x, &[2], false).unwrap();
    assert_eq!(fl(&mn), vec![0.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
    let n = f32t(&[2, 2], &[1.0, f32::NAN, -1.0, 2.0]);
    let r = fl(&reduce(ReduceOp::Max, &n, &[1], false).unwrap());
    assert!(r[0].is_nan());
    assert_eq!(r[1], 2.0);
    assert!(reduce(ReduceOp::Max, &f32t(&[0, 2], &[]), &[0], false).is_err());
    let e = reduce(ReduceOp::Mean, &f32t(&[0], &[]), &[0], false).unwrap();
    assert!(fl(&e)[0].is_nan());
}

#[test]
fn integer_reductions_wrap_and_keep_dtype() {
    let x = it(DType::I8, &[3], &[100, 100, 100]);
    let s = reduce(ReduceOp::Sum, &x, &[0], false).unwrap();
    assert_eq!(s.dtype(), DType::I8);
    assert_eq!(ints(&s), vec![44]); // 300 wraps to 44
    let y = it(DType::I32, &[2, 2], &[i32::MAX, 1, -5, 3]);
    assert_eq!(
        ints(&reduce(ReduceOp::Sum, &y, &[1], false).unwrap()),
        vec![i32::MIN, -2]
    );
    assert_eq!(
        ints(&reduce(ReduceOp::Max, &y, &[0], false).unwrap()),
        vec![i32::MAX, 3]
    );
    assert!(reduce(ReduceOp::Mean, &y, &[0], false).is_err());
    assert!(reduce(ReduceOp::Sum, &it(DType::Bool, &[1], &[1]), &[0], false).is_err());
}

#[test]
fn argmax_first_maximum_and_nan() {
    let x = f32t(&[2, 4], &[1.0, 3.0, 3.0, 0.0, f32::NAN, 5.0, f32::NAN, 9.0]);
    let r = argmax(&x, 1, false).unwrap();
    assert_eq!(r.dtype(), DType::I32);
    assert_eq!(ints(&r), vec![1, 0]);
    let r = argmax(&x, 0, true).unwrap();
    assert_eq!(r.shape(), &[1, 4]);
    assert_eq!(ints(&r), vec![1, 1, 1, 1]);
    let i = it(DType::I32, &[3], &[-1, 7, 7]);
    assert_eq!(ints(&argmax(&i, -1, false).unwrap()), vec![1]);
    assert!(argmax(&f32t(&[0], &[]), 0, false).is_err());
}

#[test]
fn softmax_is_stable_on_large_inputs() {
    let x = f32t(&[1, 2], &[1000.0, 1001.0]);
    let s = fl(&softmax(&x, 1).unwrap());
    let e = (-1f64).exp();
    assert_close(
        &s,
        &[(e / (1.0 + e)) as f32, (1.0 / (1.0 + e)) as f32],
        1e-7,
    );
    let l = fl(&log_softmax(&x, 1).unwrap());
    let lse = (1.0 + e).ln();
    assert_close(&l, &[(-1.0 - lse) as f32, (-lse) as f32], 1e-7);
    // Along axis 0 of a [2, 2] tensor with -inf.
    let y = f32t(&[2, 2], &[0.0, f32::NEG_INFINITY, 0.0, 0.0]);
    let s = fl(&softmax(&y, 0).unwrap());
    assert_eq!(s, vec![0.5, 0.0, 0.5, 1.0]);
    assert!(softmax(&it(DType::I32, &[1], &[1]), 0).is_err());
}

#[test]
fn layernorm_and_rmsnorm_by_formula() {
    let x = f32t(&[2, 4], &[1.0, 2.0, 3.0, 4.0, -1.0, 0.0, 1.0, 8.0]);
    let g = f32t(&[4], &[1.0, 2.0, 0.5, -1.0]);
    let b = f32t(&[4], &[0.0, 0.1, 0.2, 0.3]);
    let eps = 1e-5;
    let mut want_ln = Vec::new();
    let mut want_rms = Vec::new();
    let xv = fl(&x);
    for row in xv.chunks(4) {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / 4.0;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / 4.0;
        let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 4.0;
        for (k, &xk) in row.iter().enumerate() {
            let gk = fl(&g)[k] as f64;
            let bk = fl(&b)[k] as f64;
            want_ln.push(((xk as f64 - mean) / (var + eps).sqrt() * gk + bk) as f32);
            want_rms.push((xk as f64 / (ms + eps).sqrt() * gk) as f32);
        }
    }
    assert_close(&fl(&layernorm(&x, &g, &b, 1, eps).unwrap()), &want_ln, 1e-6);
    assert_close(&fl(&rmsnorm(&x, &g, -1, eps).unwrap()), &want_rms, 1e-6);
    // Row [1, 2, 3, 4]: mean 2.5, biased var 1.25.
    let ones = f32t(&[4], &[1.0; 4]);
    let zeros = f32t(&[4], &[0.0; 4]);
    let r = fl(&layernorm(&x, &ones, &zeros, 1, 0.0).unwrap());
    let s = 1.25f64.sqrt();
    assert_close(
        &r[..4],
        &[
            (-1.5 / s) as f32,
            (-0.5 / s) as f32,
            (0.5 / s) as f32,
            (1.5 / s) as f32,
        ],
        1e-7,
    );
    assert!(layernorm(&x, &f32t(&[3], &[1.0; 3]), &b, 1, eps).is_err());
    // Along axis 0.
    let g2 = f32t(&[2], &[1.0, 1.0]);
    let r = fl(&rmsnorm(&x, &g2, 0, 0.0).unwrap());
    // Column 0: [1, -1] -> rms 1 -> [1, -1].
    assert_close(&[r[0], r[4]], &[1.0, -1.0], 1e-7);
}

fn arb_tensor() -> impl Strategy<Value = tessera_tensor::Tensor> {
    prop::collection::vec(1usize..4, 1..4).prop_flat_map(|shape| {
        let n: usize = shape.iter().product();
        prop::collection::vec(-100.0f32..100.0, n).prop_map(move |v| f32t(&shape, &v))
    })
}

proptest! {
    #[test]
    fn sum_all_equals_sum_in_steps(x in arb_tensor()) {
        let rank = x.rank() as i64;
        let all: Vec<i64> = (0..rank).collect();
        let total = fl(&reduce(ReduceOp::Sum, &x, &all, false).unwrap())[0];
        let first = reduce(ReduceOp::Sum, &x, &[0], false).unwrap();
        let rest: Vec<i64> = (0..rank - 1).collect();
        let stepped = fl(&reduce(ReduceOp::Sum, &first, &rest, false).unwrap())[0];
        prop_assert!((total - stepped).abs() <= 1e-4 * (1.0 + total.abs()), "{} vs {}", total, stepped);
    }

    #[test]
    fn softmax_rows_sum_to_one(x in arb_tensor(), shift in -1000.0f32..1000.0) {
        let v: Vec<f32> = fl(&x).iter().map(|e| e + shift).collect();
        let x = f32t(x.shape(), &v);
        let last = x.shape()[x.rank() - 1];
        let s = fl(&softmax(&x, -1).unwrap());
        for row in s.chunks(last) {
            let t: f32 = row.iter().sum();
            prop_assert!((t - 1.0).abs() < 1e-5, "row sums to {}", t);
            prop_assert!(row.iter().all(|e| e.is_finite() && *e >= 0.0));
        }
        let l = fl(&log_softmax(&x, -1).unwrap());
        for (a, b) in l.iter().zip(&s) {
            prop_assert!((a.exp() - b).abs() < 1e-5);
        }
    }
}
