//! The addressing and index extensions of the tile dialect (docs/tiling.md), each kernel of
//! `dialects/tests/ir/addressing.tir` (also a round-trip corpus file) against the graph interpreter on ragged sizes: transposed
//! reads (`perm`), strided element-offset windows with zero padding (a stride-2 conv2d),
//! index arithmetic (`tile.index`, `tile.affine`), iota masks, `broadcast {dims}`, argmax.

mod common;

use common::*;
use std::collections::BTreeMap;
use tessera_dialects::{parse_module, verify_module, DType, Module};
use tessera_interp::{run_func, run_kernel};
use tessera_tensor::Tensor;

fn kernels() -> Module {
    let m = parse_module(include_str!("../../../dialects/tests/ir/addressing.tir")).unwrap();
    verify_module(&m).unwrap();
    m
}

fn reference(name: &str, inputs: Vec<Tensor>) -> Tensor {
    let m = parse_module(include_str!("tile/extensions_reference.tir")).unwrap();
    verify_module(&m).unwrap();
    run_func(&m, name, inputs).unwrap().remove(0)
}

fn sizes(pairs: &[(&str, usize)]) -> BTreeMap<String, i64> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), *v as i64))
        .collect()
}

fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
    Tensor::zeros(dtype, shape.to_vec()).unwrap()
}

#[test]
fn transposed_reads_give_a_at_b_transposed() {
    let m = kernels();
    let mut g = Lcg(5);
    for (mm, n, k) in [(16, 8, 32), (17, 9, 33), (1, 1, 1), (40, 21, 70)] {
        let (a, b) = (g.tensor(&[mm, k]), g.tensor(&[n, k]));
        let want = reference("matmul_bt", vec![a.clone(), b.clone()]);
        let mut bufs = vec![a, b, zeros(DType::F32, &[mm, n])];
        run_kernel(
            &m,
            "matmul_bt",
            &mut bufs,
            &sizes(&[("M", mm), ("N", n), ("K", k)]),
        )
        .unwrap();
        // One rounding per K-tile of 32 versus one in all: within a few ulps of the sum.
        assert_close(&fl(&bufs[2]), &fl(&want), 1e-5 * k as f32);
    }
}

#[test]
fn strided_padded_windows_compute_a_convolution() {
    let m = kernels();
    let mut g = Lcg(9);
    for (n, c, o, h, w) in [
        (1, 1, 1, 7, 7),
        (2, 3, 4, 9, 15),
        (1, 2, 2, 8, 6),
        (1, 1, 3, 1, 1),
    ] {
        let (x, wt) = (g.tensor(&[n, c, h, w]), g.tensor(&[o, c, 3, 3]));
        let want = reference("conv_s2p1", vec![x.clone(), wt.clone()]);
        let (oh, ow) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
        let mut bufs = vec![x, wt, zeros(DType::F32, &[n, o, oh, ow])];
        let s = sizes(&[("N", n), ("C", c), ("O", o), ("H", h), ("W", w)]);
        run_kernel(&m, "conv_s2p1", &mut bufs, &s).unwrap();
        assert_eq!(bufs[2].shape(), want.shape());
        assert_close(&fl(&bufs[2]), &fl(&want), 1e-5 * (9 * c) as f32);
    }
}

#[test]
fn iota_masks_give_means_over_ragged_rows() {
    let m = kernels();
    let mut g = Lcg(13);
    for (rows, cols) in [(8, 64), (9, 5), (1, 1), (20, 63)] {
        let x = g.tensor(&[rows, cols]);
        let want = reference("center_rows", vec![x.clone()]);
        let mut bufs = vec![x, zeros(DType::F32, &[rows, cols])];
        run_kernel(
            &m,
            "center_rows",
            &mut bufs,
            &sizes(&[("M", rows), ("N", cols)]),
        )
        .unwrap();
        assert_close(&fl(&bufs[1]), &fl(&want), 1e-5);
    }
}

#[test]
fn argmax_and_element_offset_slices() {
    let m = kernels();
    let mut g = Lcg(17);
    for rows in [4, 5, 1, 13] {
        let mut x = g.tensor(&[rows, 16]);
        // A tie in the first row: the first maximum wins.
        if let tessera_tensor::Data::Float(_) = x.data() {
            let mut v = fl(&x);
            v[3] = 9.0;
            v[7] = 9.0;
            x = f32t(&[rows, 16], &v);
        }
        let want = reference("argmax_rows", vec![x.clone()]);
        let mut bufs = vec![x, zeros(DType::I32, &[rows])];
        run_kernel(&m, "argmax_rows", &mut bufs, &sizes(&[("M", rows)])).unwrap();
        assert_eq!(bufs[1], want);
        assert_eq!(ints(&bufs[1])[0], 3);

        let x = g.tensor(&[rows, 8]);
        let want = reference("slice_cols", vec![x.clone()]);
        let mut bufs = vec![x, zeros(DType::F32, &[rows, 3])];
        run_kernel(&m, "slice_cols", &mut bufs, &sizes(&[("M", rows)])).unwrap();
        assert_eq!(bufs[1], want, "slices are exact");
    }
}

#[test]
fn malformed_addressing_is_an_error() {
    let src = r#"
tile.kernel @bad(%x: buf<f32[M]>, %y: buf<f32[M]>) attributes {grid = sizes[1]} {
  %i = tile.program_id {axis = 0} : () -> index
  %t = tile.load %x, %i {perm = [1]} : (buf<f32[M]>, index) -> tile<4xf32>
  tile.store %t, %y, %i : (tile<4xf32>, buf<f32[M]>, index) -> ()
}
"#;
    let m = parse_module(src).unwrap();
    let errs = verify_module(&m).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.message.contains("`perm` must be a permutation")),
        "{errs:?}"
    );
    let mut bufs = vec![zeros(DType::F32, &[4]), zeros(DType::F32, &[4])];
    let e = run_kernel(&m, "bad", &mut bufs, &sizes(&[("M", 4)])).unwrap_err();
    assert!(e.message.contains("perm"), "{e}");
}
