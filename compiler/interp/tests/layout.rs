//! Shape kernels: reshape (with -1), transpose, broadcast_to, concat and slice against
//! hand-written results, and the transpose-inverse property.

mod common;

use common::*;
use proptest::prelude::*;
use tessera_dialects::DType;
use tessera_interp::kernels::layout::{broadcast_to, concat, reshape, slice, transpose};

fn iota(shape: &[usize]) -> tessera_tensor::Tensor {
    let n: usize = shape.iter().product();
    f32t(shape, &(0..n).map(|i| i as f32).collect::<Vec<_>>())
}

#[test]
fn reshape_keeps_c_order() {
    let x = iota(&[2, 3]);
    let r = reshape(&x, &[3, -1]).unwrap();
    assert_eq!(r.shape(), &[3, 2]);
    assert_eq!(fl(&r), fl(&x));
    assert!(reshape(&x, &[4, -1]).is_err());
    assert!(reshape(&x, &[-1, -1]).is_err());
    assert!(reshape(&x, &[7]).is_err());
    assert!(reshape(&x, &[-2, 3]).is_err());
    assert_eq!(reshape(&x, &[6]).unwrap().shape(), &[6]);
}

#[test]
fn transpose_permutes() {
    let x = iota(&[2, 3]);
    let t = transpose(&x, &[1, 0]).unwrap();
    assert_eq!(t.shape(), &[3, 2]);
    assert_eq!(fl(&t), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    let y = iota(&[2, 3, 4]);
    let t = transpose(&y, &[2, 0, 1]).unwrap();
    assert_eq!(t.shape(), &[4, 2, 3]);
    // t[k, i, j] = y[i, j, k] = 12i + 4j + k
    let tv = fl(&t);
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(tv[k * 6 + i * 3 + j], (12 * i + 4 * j + k) as f32);
            }
        }
    }
    assert!(transpose(&x, &[0, 0]).is_err());
    assert!(transpose(&x, &[0]).is_err());
    let b = it(DType::Bool, &[2, 1], &[1, 0]);
    assert_eq!(ints(&transpose(&b, &[1, 0]).unwrap()), vec![1, 0]);
}

#[test]
fn broadcast_to_repeats() {
    let x = f32t(&[3, 1], &[1.0, 2.0, 3.0]);
    let r = broadcast_to(&x, &[2, 3, 2]).unwrap();
    assert_eq!(
        fl(&r),
        vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    );
    assert!(broadcast_to(&x, &[3, 2, 2]).is_err());
    assert!(broadcast_to(&x, &[1]).is_err());
}

#[test]
fn concat_along_axes() {
    let a = iota(&[2, 2]);
    let b = f32t(&[2, 1], &[10.0, 11.0]);
    let r = concat(&[&a, &b], 1).unwrap();
    assert_eq!(r.shape(), &[2, 3]);
    assert_eq!(fl(&r), vec![0.0, 1.0, 10.0, 2.0, 3.0, 11.0]);
    let r = concat(&[&a, &a, &a], 0).unwrap();
    assert_eq!(r.shape(), &[6, 2]);
    assert_eq!(&fl(&r)[4..8], &[0.0, 1.0, 2.0, 3.0]);
    assert!(concat(&[&a, &b], 0).is_err());
    assert!(concat(&[&a, &it(DType::I32, &[2, 2], &[0; 4])], 0).is_err());
}

#[test]
fn slice_blocks() {
    let x = iota(&[3, 4]);
    let r = slice(&x, &[1, 1], &[3, 3]).unwrap();
    assert_eq!(r.shape(), &[2, 2]);
    assert_eq!(fl(&r), vec![5.0, 6.0, 9.0, 10.0]);
    let r = slice(&x, &[2, 0], &[3, 4]).unwrap();
    assert_eq!(fl(&r), vec![8.0, 9.0, 10.0, 11.0]);
    // Bounds in graph IR are never wrapped (the frontend wrote `x[-1]` as `d - 1`): a
    // negative one is out of range.
    assert!(slice(&x, &[-1, 0], &[3, 4]).is_err());
    assert!(slice(&x, &[0, 0], &[4, 4]).is_err());
    assert!(slice(&x, &[2, 0], &[1, 4]).is_err());
    assert!(slice(&x, &[0], &[1]).is_err());
}

proptest! {
    #[test]
    fn transpose_twice_with_inverse_is_identity(
        (shape, perm) in prop::collection::vec(1usize..4, 1..5).prop_flat_map(|s| {
            let n = s.len();
            (Just(s), Just((0..n as i64).collect::<Vec<_>>()).prop_shuffle())
        })
    ) {
        let x = iota(&shape);
        let mut inv = vec![0i64; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inv[p as usize] = i as i64;
        }
        let y = transpose(&transpose(&x, &perm).unwrap(), &inv).unwrap();
        prop_assert_eq!(y, x);
    }
}
