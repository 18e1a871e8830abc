//! Elementwise kernels against hand-computed values: unary functions, broadcasting binary
//! arithmetic, integer wrapping and floor division, comparisons, select and casts.

mod common;

use common::*;
use tessera_dialects::DType;
use tessera_interp::kernels::binary::{binary, compare, select, BinaryOp, CompareOp};
use tessera_interp::kernels::quant::cast;
use tessera_interp::kernels::unary::{unary, UnaryOp};

#[test]
fn unary_functions_match_formulas() {
    let x = f32t(&[5], &[-2.0, -0.5, 0.0, 0.5, 3.0]);
    let xs = [-2.0f64, -0.5, 0.0, 0.5, 3.0];
    let map = |f: &dyn Fn(f64) -> f64| xs.iter().map(|&v| f(v) as f32).collect::<Vec<f32>>();
    assert_eq!(
        fl(&unary(UnaryOp::Neg, &x).unwrap()),
        vec![2.0, 0.5, -0.0, -0.5, -3.0]
    );
    assert_eq!(
        fl(&unary(UnaryOp::Abs, &x).unwrap()),
        vec![2.0, 0.5, 0.0, 0.5, 3.0]
    );
    assert_eq!(
        fl(&unary(UnaryOp::Relu, &x).unwrap()),
        vec![0.0, 0.0, 0.0, 0.5, 3.0]
    );
    assert_close(
        &fl(&unary(UnaryOp::Exp, &x).unwrap()),
        &map(&|v| v.exp()),
        1e-7,
    );
    assert_close(
        &fl(&unary(UnaryOp::Tanh, &x).unwrap()),
        &map(&|v| v.tanh()),
        1e-7,
    );
    assert_close(
        &fl(&unary(UnaryOp::Sigmoid, &x).unwrap()),
        &map(&|v| 1.0 / (1.0 + (-v).exp())),
        1e-7,
    );
    assert_close(
        &fl(&unary(UnaryOp::Silu, &x).unwrap()),
        &map(&|v| v / (1.0 + (-v).exp())),
        1e-7,
    );
    // erf(0.5) = 0.5204998778, erf(3) = 0.9999779095, erf(-2) = -0.9953222650
    assert_close(
        &fl(&unary(UnaryOp::Erf, &x).unwrap()),
        &[-0.995_322_3, -0.520_499_9, 0.0, 0.520_499_9, 0.999_977_9],
        1e-6,
    );
    // gelu(x) = x/2 (1 + erf(x / sqrt 2)); gelu(0.5) = 0.3457312306, gelu(-2) = -0.0455002639
    let g = fl(&unary(UnaryOp::Gelu, &x).unwrap());
    assert_close(&[g[0], g[3]], &[-0.045_500_26, 0.345_731_23], 1e-6);
    // gelu_tanh(0.5) = 0.3457140, gelu_tanh(3) = 2.9963627
    let gt = fl(&unary(UnaryOp::GeluTanh, &x).unwrap());
    assert_close(&[gt[3], gt[4]], &[0.345_714, 2.996_362_7], 1e-6);

    let p = f32t(&[4], &[0.25, 1.0, 4.0, 0.0]);
    assert_eq!(
        fl(&unary(UnaryOp::Sqrt, &p).unwrap()),
        vec![0.5, 1.0, 2.0, 0.0]
    );
    assert_eq!(
        fl(&unary(UnaryOp::Rsqrt, &p).unwrap()),
        vec![2.0, 1.0, 0.5, f32::INFINITY]
    );
    assert_eq!(
        fl(&unary(UnaryOp::Recip, &p).unwrap()),
        vec![4.0, 1.0, 0.25, f32::INFINITY]
    );
    let l = fl(&unary(UnaryOp::Log, &p).unwrap());
    assert_close(&l[..3], &[-(4f32.ln()), 0.0, 4f32.ln()], 1e-7);
    assert_eq!(l[3], f32::NEG_INFINITY);
}

#[test]
fn nan_propagates_through_relu_max_min() {
    let x = f32t(&[2], &[f32::NAN, -1.0]);
    let r = fl(&unary(UnaryOp::Relu, &x).unwrap());
    assert!(r[0].is_nan());
    assert_eq!(r[1], 0.0);
    let y = f32t(&[2], &[0.0, f32::NAN]);
    for op in [BinaryOp::Max, BinaryOp::Min] {
        let v = fl(&binary(op, &x, &y).unwrap());
        assert!(v[0].is_nan() && v[1].is_nan());
    }
}

#[test]
fn unary_refuses_integers_where_undefined() {
    let i = it(DType::I32, &[2], &[1, -2]);
    assert!(unary(UnaryOp::Exp, &i).is_err());
    assert_eq!(ints(&unary(UnaryOp::Neg, &i).unwrap()), vec![-1, 2]);
    assert_eq!(ints(&unary(UnaryOp::Relu, &i).unwrap()), vec![1, 0]);
    let b = it(DType::Bool, &[1], &[1]);
    assert!(unary(UnaryOp::Neg, &b).is_err());
    // i8: -(-128) wraps to -128 like NumPy.
    let i8t = it(DType::I8, &[2], &[-128, 5]);
    assert_eq!(ints(&unary(UnaryOp::Neg, &i8t).unwrap()), vec![-128, -5]);
    assert_eq!(ints(&unary(UnaryOp::Abs, &i8t).unwrap()), vec![-128, 5]);
}

#[test]
fn binary_broadcasting() {
    // [2, 3] + [3]
    let a = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = f32t(&[3], &[10.0, 20.0, 30.0]);
    let r = binary(BinaryOp::Add, &a, &b).unwrap();
    assert_eq!(r.shape(), &[2, 3]);
    assert_eq!(fl(&r), vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
    // [2, 1] * [1, 3] -> [2, 3] outer product
    let c = f32t(&[2, 1], &[2.0, 3.0]);
    let d = f32t(&[1, 3], &[1.0, 10.0, 100.0]);
    let r = binary(BinaryOp::Mul, &c, &d).unwrap();
    assert_eq!(r.shape(), &[2, 3]);
    assert_eq!(fl(&r), vec![2.0, 20.0, 200.0, 3.0, 30.0, 300.0]);
    // scalar - tensor
    let r = binary(BinaryOp::Sub, &scalar(1.0), &b).unwrap();
    assert_eq!(fl(&r), vec![-9.0, -19.0, -29.0]);
    // [3, 1, 2] / [2, 1] -> [3, 2, 2]
    let e = f32t(&[3, 1, 2], &[2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
    let f = f32t(&[2, 1], &[1.0, 2.0]);
    let r = binary(BinaryOp::Div, &e, &f).unwrap();
    assert_eq!(r.shape(), &[3, 2, 2]);
    assert_eq!(
        fl(&r),
        vec![2.0, 4.0, 1.0, 2.0, 6.0, 8.0, 3.0, 4.0, 10.0, 12.0, 5.0, 6.0]
    );
    // Mismatch and dtype errors.
    assert!(binary(BinaryOp::Add, &a, &f32t(&[2], &[1.0, 2.0])).is_err());
    assert!(binary(BinaryOp::Add, &a, &it(DType::I32, &[3], &[1, 2, 3])).is_err());
}

#[test]
fn pow_max_min() {
    let a = f32t(&[4], &[2.0, -8.0, 0.0, 9.0]);
    let b = f32t(&[4], &[3.0, 0.5, 0.0, 0.5]);
    let r = fl(&binary(BinaryOp::Pow, &a, &b).unwrap());
    assert_eq!(r[0], 8.0);
    assert!(r[1].is_nan());
    assert_eq!(r[2], 1.0);
    assert_eq!(r[3], 3.0);
    assert_eq!(
        fl(&binary(BinaryOp::Max, &a, &b).unwrap()),
        vec![3.0, 0.5, 0.0, 9.0]
    );
    assert_eq!(
        fl(&binary(BinaryOp::Min, &a, &b).unwrap()),
        vec![2.0, -8.0, 0.0, 0.5]
    );
    let i = it(DType::I32, &[1], &[2]);
    assert!(binary(BinaryOp::Pow, &i, &i).is_err());
}

#[test]
fn integer_arithmetic_wraps_and_floor_divides() {
    let a = it(DType::I32, &[4], &[i32::MAX, -7, 7, 5]);
    let b = it(DType::I32, &[4], &[1, 2, -2, 0]);
    assert_eq!(
        ints(&binary(BinaryOp::Add, &a, &b).unwrap()),
        vec![i32::MIN, -5, 5, 5]
    );
    assert_eq!(
        ints(&binary(BinaryOp::Div, &a, &b).unwrap()),
        vec![i32::MAX, -4, -4, 0]
    );
    let x = it(DType::I8, &[3], &[100, -100, 127]);
    let y = it(DType::I8, &[3], &[100, -100, 1]);
    let r = binary(BinaryOp::Add, &x, &y).unwrap();
    assert_eq!(r.dtype(), DType::I8);
    // 200 -> -56, -200 -> 56, 128 -> -128
    assert_eq!(ints(&r), vec![-56, 56, -128]);
    assert_eq!(
        ints(&binary(BinaryOp::Mul, &x, &y).unwrap()),
        vec![16, 16, 127]
    );
    let b1 = it(DType::Bool, &[1], &[1]);
    assert!(binary(BinaryOp::Add, &b1, &b1).is_err());
}

#[test]
fn narrow_float_results_are_rounded_to_the_dtype() {
    // bf16 has 8 significant bits: 1 + 2^-8 is not representable, ties to even gives 1.
    let a = ft(DType::BF16, &[2], &[1.0, 256.0]);
    let b = ft(DType::BF16, &[2], &[0.00390625, 1.0]);
    let r = binary(BinaryOp::Add, &a, &b).unwrap();
    assert_eq!(r.dtype(), DType::BF16);
    assert_eq!(fl(&r), vec![1.0, 256.0]);
    // f16 exp(1) = 2.71875 (nearest f16 to e).
    let e = unary(UnaryOp::Exp, &ft(DType::F16, &[1], &[1.0])).unwrap();
    assert_eq!(fl(&e), vec![2.71875]);
}

#[test]
fn comparisons_give_bool() {
    let a = f32t(&[4], &[1.0, 2.0, f32::NAN, 4.0]);
    let b = f32t(&[], &[2.0]);
    let run = |op| ints(&compare(op, &a, &b).unwrap());
    assert_eq!(run(CompareOp::Lt), vec![1, 0, 0, 0]);
    assert_eq!(run(CompareOp::Le), vec![1, 1, 0, 0]);
    assert_eq!(run(CompareOp::Gt), vec![0, 0, 0, 1]);
    assert_eq!(run(CompareOp::Ge), vec![0, 1, 0, 1]);
    assert_eq!(run(CompareOp::Eq), vec![0, 1, 0, 0]);
    assert_eq!(run(CompareOp::Ne), vec![1, 0, 1, 1]);
    assert_eq!(compare(CompareOp::Lt, &a, &b).unwrap().dtype(), DType::Bool);
    let i = it(DType::I8, &[2], &[-1, 3]);
    let j = it(DType::I8, &[2, 1], &[0, 3]);
    let r = compare(CompareOp::Eq, &i, &j).unwrap();
    assert_eq!(r.shape(), &[2, 2]);
    assert_eq!(ints(&r), vec![0, 0, 0, 1]);
}

#[test]
fn select_broadcasts_three_ways() {
    let c = it(DType::Bool, &[2, 1], &[1, 0]);
    let t = f32t(&[3], &[1.0, 2.0, 3.0]);
    let f = scalar(-1.0);
    let r = select(&c, &t, &f).unwrap();
    assert_eq!(r.shape(), &[2, 3]);
    assert_eq!(fl(&r), vec![1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
    assert!(select(&t, &t, &f).is_err());
    assert!(select(&c, &t, &it(DType::I32, &[], &[0])).is_err());
}

#[test]
fn casts_follow_the_conversion_rules() {
    let x = f32t(&[6], &[2.5, 3.5, -2.5, 300.0, f32::NAN, -1000.0]);
    let r = cast(&x, DType::I8).unwrap();
    assert_eq!(ints(&r), vec![2, 4, -2, 127, 0, -128]);
    let b = cast(&f32t(&[3], &[0.0, -0.5, f32::NAN]), DType::Bool).unwrap();
    assert_eq!(ints(&b), vec![0, 1, 1]);
    let h = cast(&f32t(&[2], &[1e6, 1.0 + 1.0 / 4096.0]), DType::F16).unwrap();
    assert_eq!(fl(&h), vec![65504.0, 1.0]);
}
