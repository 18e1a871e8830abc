//! Quantisation: ties to even, saturation for i8 and FP8, per-channel scales, and
//! dequantisation; constants.

mod common;

use common::*;
use tessera_dialects::{Attr, DType};
use tessera_interp::kernels::quant::{constant, dequantize, quantize};

#[test]
fn quantize_i8_ties_to_even_and_saturates() {
    let x = f32t(
        &[8],
        &[0.5, 1.5, 2.5, -0.5, -1.5, 1000.0, -1000.0, f32::NAN],
    );
    let q = quantize(&x, &scalar(1.0), DType::I8, None).unwrap();
    assert_eq!(q.dtype(), DType::I8);
    assert_eq!(ints(&q), vec![0, 2, 2, 0, -2, 127, -128, 0]);
    // x / scale first: 5 / 2 = 2.5 -> 2, 7 / 2 = 3.5 -> 4
    let q = quantize(&f32t(&[2], &[5.0, 7.0]), &scalar(2.0), DType::I8, None).unwrap();
    assert_eq!(ints(&q), vec![2, 4]);
    let inf = quantize(&f32t(&[1], &[f32::INFINITY]), &scalar(1.0), DType::I8, None).unwrap();
    assert_eq!(ints(&inf), vec![127]);
}

#[test]
fn quantize_fp8_saturates_like_as() {
    let x = f32t(&[5], &[500.0, -1e9, f32::INFINITY, 17.0, f32::NAN]);
    let q = fl(&quantize(&x, &scalar(1.0), DType::F8E4M3, None).unwrap());
    // E4M3 near 16 has spacing 2: 17 is a tie between 16 and 18, even mantissa is 16.
    assert_eq!(&q[..4], &[448.0, -448.0, 448.0, 16.0]);
    assert!(q[4].is_nan());
    let q = fl(&quantize(&x, &scalar(1.0), DType::F8E5M2, None).unwrap());
    // E5M2 near 16 has spacing 4: 17 rounds to 16. As with `as`, a finite value beyond the
    // range saturates and an infinity stays infinite (E5M2 has infinities; E4M3 has none).
    assert_eq!(&q[..4], &[512.0, -57344.0, f32::INFINITY, 16.0]);
    assert!(quantize(&x, &scalar(1.0), DType::F16, None).is_err());
}

#[test]
fn per_channel_scales() {
    // x: [2, 3], scales along axis 1 and along axis 0.
    let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let s1 = f32t(&[3], &[1.0, 2.0, 4.0]);
    let q = quantize(&x, &s1, DType::I8, Some(1)).unwrap();
    // [1, 1, 0.75 -> 1, 4, 2.5 -> 2, 1.5 -> 2]
    assert_eq!(ints(&q), vec![1, 1, 1, 4, 2, 2]);
    let s0 = f32t(&[2], &[0.5, 2.0]);
    let q = quantize(&x, &s0, DType::I8, Some(0)).unwrap();
    assert_eq!(ints(&q), vec![2, 4, 6, 2, 2, 3]);
    let d = dequantize(&q, &s0, Some(0)).unwrap();
    assert_eq!(d.dtype(), DType::F32);
    assert_eq!(fl(&d), vec![1.0, 2.0, 3.0, 4.0, 4.0, 6.0]);
    assert!(quantize(&x, &s1, DType::I8, Some(0)).is_err());
    assert!(quantize(&x, &s1, DType::I8, None).is_err());
}

#[test]
fn dequantize_scalar_and_fp8() {
    let q = it(DType::I8, &[3], &[-128, 0, 127]);
    assert_eq!(
        fl(&dequantize(&q, &scalar(0.5), None).unwrap()),
        vec![-64.0, 0.0, 63.5]
    );
    let f = ft(DType::F8E4M3, &[2], &[448.0, -0.5]);
    assert_eq!(
        fl(&dequantize(&f, &scalar(2.0), None).unwrap()),
        vec![896.0, -1.0]
    );
}

#[test]
fn constants() {
    assert_eq!(
        fl(&constant(&Attr::Float(0.1), DType::F32).unwrap()),
        vec![0.1f32]
    );
    assert_eq!(
        fl(&constant(&Attr::Float(0.1), DType::BF16).unwrap()),
        vec![205.0 / 2048.0]
    );
    assert_eq!(fl(&constant(&Attr::Int(3), DType::F16).unwrap()), vec![3.0]);
    assert_eq!(
        ints(&constant(&Attr::Int(-5), DType::I8).unwrap()),
        vec![-5]
    );
    assert_eq!(
        ints(&constant(&Attr::Bool(true), DType::Bool).unwrap()),
        vec![1]
    );
    assert!(constant(&Attr::Int(300), DType::I8).is_err());
    assert!(constant(&Attr::Float(0.5), DType::I32).is_err());
    assert!(constant(&Attr::Str("x".into()), DType::F32).is_err());
}

#[test]
fn literals_overflow_like_numpy_weak_scalars() {
    let f16_big = fl(&constant(&Attr::Float(70000.0), DType::F16).unwrap());
    assert_eq!(f16_big, vec![f32::INFINITY]);
    let f16_tie = fl(&constant(&Attr::Float(65520.0), DType::F16).unwrap());
    assert_eq!(f16_tie, vec![f32::INFINITY]);
    let f16_int = fl(&constant(&Attr::Int(100000), DType::F16).unwrap());
    assert_eq!(f16_int, vec![f32::INFINITY]);
    assert!(fl(&constant(&Attr::Float(1000.0), DType::F8E4M3).unwrap())[0].is_nan());
    assert_eq!(
        fl(&constant(&Attr::Int(-100000), DType::F8E5M2).unwrap()),
        vec![f32::NEG_INFINITY]
    );
    // In range, one rounding to nearest even.
    assert_eq!(
        fl(&constant(&Attr::Float(65519.0), DType::F16).unwrap()),
        vec![65504.0]
    );
    assert_eq!(
        fl(&constant(&Attr::Int(16_842_753), DType::BF16).unwrap()),
        vec![16_908_288.0]
    );
}
