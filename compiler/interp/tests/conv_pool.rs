//! conv2d against an independent direct-formula implementation on seeded random inputs
//! (stride, padding, dilation, groups), hand-checked cases, and pooling with padding.

mod common;

use common::*;
use tessera_dialects::DType;
use tessera_interp::kernels::conv::conv2d;
use tessera_interp::kernels::pool::{avgpool2d, maxpool2d};

/// out[n, o, y, x] = sum_{c, i, j} x[n, g*C/G + c, y*s - p + i*d, x*s - p + j*d] * w[o, c, i, j]
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    ws: [usize; 4],
    s: [i64; 2],
    p: [i64; 2],
    d: [i64; 2],
    groups: usize,
) -> (Vec<usize>, Vec<f32>) {
    let [n, c, h, wd] = xs;
    let [o, cg, kh, kw] = ws;
    let oh = ((h as i64 + 2 * p[0] - d[0] * (kh as i64 - 1) - 1) / s[0] + 1) as usize;
    let ow = ((wd as i64 + 2 * p[1] - d[1] * (kw as i64 - 1) - 1) / s[1] + 1) as usize;
    let opg = o / groups;
    let mut out = Vec::new();
    for b in 0..n {
        for oc in 0..o {
            let g = oc / opg;
            for y in 0..oh as i64 {
                for xx in 0..ow as i64 {
                    let mut acc = 0f64;
                    for ci in 0..cg {
                        let ic = g * cg + ci;
                        for i in 0..kh as i64 {
                            for j in 0..kw as i64 {
                                let iy = y * s[0] - p[0] + i * d[0];
                                let ix = xx * s[1] - p[1] + j * d[1];
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= wd as i64 {
                                    continue;
                                }
                                let xv = x[((b * c + ic) * h + iy as usize) * wd + ix as usize];
                                let wv = w[((oc * cg + ci) * kh + i as usize) * kw + j as usize];
                                acc += xv as f64 * wv as f64;
                            }
                        }
                    }
                    out.push(acc as f32);
                }
            }
        }
    }
    let _ = c;
    (vec![n, o, oh, ow], out)
}

/// (x shape, w shape, stride, padding, dilation, groups)
type Case = ([usize; 4], [usize; 4], [i64; 2], [i64; 2], [i64; 2], usize);

#[test]
fn conv2d_matches_direct_formula() {
    let mut g = Lcg(11);
    let cases: &[Case] = &[
        ([1, 1, 5, 5], [1, 1, 3, 3], [1, 1], [0, 0], [1, 1], 1),
        ([2, 3, 7, 6], [4, 3, 3, 3], [1, 1], [1, 1], [1, 1], 1),
        ([1, 2, 9, 8], [3, 2, 3, 2], [2, 3], [1, 0], [1, 1], 1),
        ([1, 2, 9, 9], [2, 2, 3, 3], [1, 1], [2, 2], [2, 2], 1),
        ([2, 4, 6, 6], [6, 2, 3, 3], [2, 1], [1, 2], [1, 2], 2),
        ([1, 4, 5, 5], [4, 1, 3, 3], [1, 1], [1, 1], [1, 1], 4), // depthwise
        ([1, 3, 4, 4], [2, 3, 1, 1], [1, 1], [0, 0], [1, 1], 1), // 1x1
    ];
    for &(xs, ws, s, p, d, groups) in cases {
        let x = g.tensor(&xs);
        let w = g.tensor(&ws);
        let r = conv2d(&x, &w, s, p, d, groups as i64).unwrap();
        let (shape, want) = naive_conv(&fl(&x), xs, &fl(&w), ws, s, p, d, groups);
        assert_eq!(r.shape(), shape.as_slice(), "case {xs:?} {ws:?}");
        assert_close(&fl(&r), &want, 1e-6);
    }
}

#[test]
fn conv2d_by_hand_and_errors() {
    // 3x3 input of ones, 2x2 kernel [1, 2; 3, 4], padding 1: corners see one tap.
    let x = f32t(&[1, 1, 3, 3], &[1.0; 9]);
    let w = f32t(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let r = conv2d(&x, &w, [1, 1], [1, 1], [1, 1], 1).unwrap();
    assert_eq!(r.shape(), &[1, 1, 4, 4]);
    assert_eq!(
        fl(&r),
        vec![4.0, 7.0, 7.0, 3.0, 6.0, 10.0, 10.0, 4.0, 6.0, 10.0, 10.0, 4.0, 2.0, 3.0, 3.0, 1.0]
    );
    assert!(conv2d(&x, &w, [0, 1], [0, 0], [1, 1], 1).is_err());
    assert!(conv2d(&x, &w, [1, 1], [-1, 0], [1, 1], 1).is_err());
    assert!(conv2d(&x, &w, [1, 1], [0, 0], [1, 1], 2).is_err());
    assert!(conv2d(
        &x,
        &f32t(&[1, 1, 5, 5], &[0.0; 25]),
        [1, 1],
        [0, 0],
        [1, 1],
        1
    )
    .is_err());
    assert!(conv2d(&f32t(&[3, 3], &[0.0; 9]), &w, [1, 1], [0, 0], [1, 1], 1).is_err());
}

#[test]
fn conv2d_int8_gives_i32() {
    let x = it(DType::I8, &[1, 1, 1, 2], &[127, -128]);
    let w = it(DType::I8, &[1, 1, 1, 2], &[127, -128]);
    let r = conv2d(&x, &w, [1, 1], [0, 0], [1, 1], 1).unwrap();
    assert_eq!(r.dtype(), DType::I32);
    assert_eq!(ints(&r), vec![127 * 127 + 128 * 128]);
}

#[test]
fn maxpool_ignores_padding() {
    // 4x4 iota, kernel 3, stride 2, padding 1 -> 2x2.
    let x = f32t(
        &[1, 1, 4, 4],
        &(0..16).map(|i| i as f32 - 20.0).collect::<Vec<_>>(),
    );
    let r = maxpool2d(&x, [3, 3], [2, 2], [1, 1]).unwrap();
    assert_eq!(r.shape(), &[1, 1, 2, 2]);
    // windows rows {-1,0,1} x cols {-1,0,1}: max at (1,1) = 5 - 20; etc. All values are
    // negative, so counting padding as 0 would give 0.
    assert_eq!(fl(&r), vec![-15.0, -13.0, -7.0, -5.0]);
    let n = f32t(&[1, 1, 2, 2], &[1.0, f32::NAN, 3.0, 4.0]);
    assert!(fl(&maxpool2d(&n, [2, 2], [2, 2], [0, 0]).unwrap())[0].is_nan());
    let i = it(DType::I8, &[1, 1, 2, 2], &[-3, -1, -2, -4]);
    assert_eq!(
        ints(&maxpool2d(&i, [2, 2], [1, 1], [0, 0]).unwrap()),
        vec![-1]
    );
    assert!(maxpool2d(&x, [2, 2], [2, 2], [2, 2]).is_err());
}

#[test]
fn avgpool_divides_by_in_bounds_count() {
    let x = f32t(
        &[1, 1, 3, 3],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    );
    let r = avgpool2d(&x, [2, 2], [2, 2], [1, 1]).unwrap();
    assert_eq!(r.shape(), &[1, 1, 2, 2]);
    // windows: {1}, {2,3}, {4,7}, {5,6,8,9}
    assert_eq!(fl(&r), vec![1.0, 2.5, 5.5, 7.0]);
    let r = avgpool2d(&x, [2, 2], [1, 1], [0, 0]).unwrap();
    assert_eq!(fl(&r), vec![3.0, 4.0, 6.0, 7.0]);
    assert!(avgpool2d(
        &it(DType::I32, &[1, 1, 2, 2], &[0; 4]),
        [2, 2],
        [2, 2],
        [0, 0]
    )
    .is_err());
}
