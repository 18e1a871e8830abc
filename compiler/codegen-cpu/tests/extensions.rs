//! The tile dialect's addressing and index extensions compiled with Cranelift: every
//! kernel of `dialects/tests/ir/addressing.tir` (transposed reads, a stride-2 padded
//! convolution, iota masks with broadcast dims, argmax, element-offset slices) and kernels
//! of this file (negative element offsets with `pad`, a store with `perm`, strides on the
//! last axis, clamped huge indices) run on random inputs with several size bindings,
//! ragged ones included, on 1 and 2 threads, and compared with the tile interpreter.
//! Also: argmax ties and NaNs, the run-time `i32` check of `tile.iota`, and affine index
//! arithmetic that could overflow refused at compile time.

mod common;

use common::*;
use std::collections::BTreeMap;
use tessera_codegen_cpu::{CodegenError, JitBackend};
use tessera_dialects::{DType, Module};
use tessera_runtime::ThreadPool;
use tessera_tensor::Tensor;

fn addressing_tir() -> Module {
    module(include_str!("../../../dialects/tests/ir/addressing.tir"))
}

fn sums(k: usize) -> Tol {
    Tol::Close {
        rtol: 1e-5,
        atol: 1e-4 * k as f32,
    }
}

/// Compiles `name`, runs it on 1 and 2 threads and the interpreter on the same random
/// arguments for each binding; compares every buffer (1 vs 2 threads exactly).
fn check(m: &Module, name: &str, bindings: &[BTreeMap<String, i64>], tol: Tol) {
    let k = JitBackend::new()
        .unwrap()
        .compile(m, name)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (p1, p2) = (ThreadPool::new(1).unwrap(), ThreadPool::new(2).unwrap());
    let mut g = Lcg(0xadd ^ name.len() as u64);
    for s in bindings {
        let args = random_args(m, name, s, &mut g);
        let mut want = args.clone();
        tessera_interp::run_kernel(m, name, &mut want, s)
            .unwrap_or_else(|e| panic!("{name}: interpreter: {e}"));
        let one = run_on(&k, &p1, &args, s);
        let two = run_on(&k, &p2, &args, s);
        for (i, ((x, y), w)) in one.iter().zip(&two).zip(&want).enumerate() {
            let what = format!("{name} {s:?} buffer {i}");
            assert_tensors(x, w, tol, &what);
            assert_tensors(y, x, Tol::Exact, &what);
        }
    }
}

#[test]
fn transposed_operand_matmul() {
    let m = addressing_tir();
    for (mm, n, k) in [(16, 8, 32), (17, 9, 33), (1, 1, 1), (40, 21, 70)] {
        check(
            &m,
            "matmul_bt",
            &[sizes(&[("M", mm), ("N", n), ("K", k)])],
            sums(k as usize),
        );
    }
}

#[test]
fn strided_padded_convolution() {
    let m = addressing_tir();
    for (n, c, o, h, w) in [
        (1, 1, 1, 7, 7),
        (2, 3, 4, 9, 15),
        (1, 2, 2, 8, 6),
        (1, 1, 3, 1, 1),
        (1, 2, 1, 13, 16),
    ] {
        let s = sizes(&[("N", n), ("C", c), ("O", o), ("H", h), ("W", w)]);
        check(&m, "conv_s2p1", &[s], sums(9 * c as usize));
    }
}

#[test]
fn iota_masked_means_over_ragged_rows() {
    let m = addressing_tir();
    let b: Vec<_> = [(8, 64), (9, 5), (1, 1), (20, 63), (17, 64)]
        .iter()
        .map(|&(r, c)| sizes(&[("M", r), ("N", c)]))
        .collect();
    check(&m, "center_rows", &b, sums(64));
}

#[test]
fn argmax_and_element_offset_slice() {
    let m = addressing_tir();
    let b: Vec<_> = [4, 5, 1, 13].iter().map(|&r| sizes(&[("M", r)])).collect();
    check(&m, "argmax_rows", &b, Tol::Exact);
    check(&m, "slice_cols", &b, Tol::Exact);
}

/// Ties pick the first maximum; a NaN is the maximum and the first NaN wins; -inf rows.
#[test]
fn argmax_ties_and_nans_match_the_interpreter() {
    let m = addressing_tir();
    let k = JitBackend::new()
        .unwrap()
        .compile(&m, "argmax_rows")
        .unwrap();
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    let mut x = vec![0f32; 5 * 16];
    x[3] = 9.0;
    x[7] = 9.0; // row 0: tie -> 3
    x[16 + 2] = 1.0;
    x[16 + 5] = nan;
    x[16 + 9] = nan;
    x[16 + 11] = inf; // row 1: first NaN -> 5
    x[32] = nan; // row 2: NaN first -> 0
    for v in &mut x[48..64] {
        *v = -inf; // row 3: all -inf -> 0
    }
    x[64 + 15] = inf; // row 4: last -> 15
    let xt = Tensor::from_f32(DType::F32, vec![5, 16], x).unwrap();
    let s = sizes(&[("M", 5)]);
    let args = vec![xt, Tensor::zeros(DType::I32, vec![5]).unwrap()];
    let mut want = args.clone();
    tessera_interp::run_kernel(&m, "argmax_rows", &mut want, &s).unwrap();
    let mut got = args;
    k.run_tensors(&mut got, &s).unwrap();
    assert_tensors(&got[1], &want[1], Tol::Exact, "argmax");
    assert_eq!(
        Tensor::new(
            DType::I32,
            vec![5],
            tessera_tensor::Data::Int(vec![3, 5, 0, 0, 15])
        )
        .unwrap(),
        got[1]
    );
}

const OWN: &str = r#"
// Element offsets (4i - 2, -3): negative coordinates read the pad.
tile.kernel @neg_pad(%x: buf<f32[M, N]>, %y: buf<f32[M, 8]>) attributes {grid = sizes[(M + 3) / 4]} {
  %i = tile.program_id {axis = 0} : () -> index
  %r = tile.affine %i {coeffs = [4], offset = sizes[-2]} : (index) -> index
  %c = tile.index {value = sizes[-3]} : () -> index
  %zero = tile.index {value = sizes[0]} : () -> index
  %t = tile.load %x, %r, %c {unit = "elements", pad = -7.0} : (buf<f32[M, N]>, index, index) -> tile<4x8xf32>
  tile.store %t, %y, %i, %zero : (tile<4x8xf32>, buf<f32[M, 8]>, index, index) -> ()
}

// A transpose through a store with perm: tile axis 0 walks y's axis 1.
tile.kernel @store_perm(%x: buf<i32[M, N]>, %y: buf<i32[N, M]>) attributes {grid = sizes[(M + 3) / 4, (N + 7) / 8]} {
  %i = tile.program_id {axis = 0} : () -> index
  %j = tile.program_id {axis = 1} : () -> index
  %t = tile.load %x, %i, %j : (buf<i32[M, N]>, index, index) -> tile<4x8xi32>
  tile.store %t, %y, %j, %i {perm = [1, 0]} : (tile<4x8xi32>, buf<i32[N, M]>, index, index) -> ()
}

// Strides on the last axis: every other column of a 16-column band, read and written.
tile.kernel @stride_last(%x: buf<f32[M, N]>, %y: buf<f32[M, N]>) attributes {grid = sizes[(M + 3) / 4, (N + 15) / 16]} {
  %i = tile.program_id {axis = 0} : () -> index
  %j = tile.program_id {axis = 1} : () -> index
  %t = tile.load %x, %i, %j {strides = [1, 2], pad = 5.0} : (buf<f32[M, N]>, index, index) -> tile<4x8xf32>
  tile.store %t, %y, %i, %j {strides = [1, 2]} : (tile<4x8xf32>, buf<f32[M, N]>, index, index) -> ()
}

// Element offsets with strides on both axes, a permuted i8 read, stored at element offsets
// that start before the buffer (negative rows are not written).
tile.kernel @mixed(%x: buf<i8[M, N]>, %y: buf<i8[N, M]>) attributes {grid = sizes[(M + 3) / 4]} {
  %i = tile.program_id {axis = 0} : () -> index
  %r = tile.affine %i {coeffs = [4], offset = sizes[-1]} : (index) -> index
  %zero = tile.index {value = sizes[0]} : () -> index
  %one = tile.index {value = sizes[1]} : () -> index
  %t = tile.load %x, %r, %one {unit = "elements", perm = [1, 0], strides = [2, 1], pad = 3} : (buf<i8[M, N]>, index, index) -> tile<4x4xi8>
  %rr = tile.affine %r {coeffs = [1], offset = sizes[N - 4]} : (index) -> index
  tile.store %t, %y, %zero, %rr {unit = "elements", strides = [1, 1]} : (tile<4x4xi8>, buf<i8[N, M]>, index, index) -> ()
}

// Huge tile indices (clamped before addressing) read only the pad.
tile.kernel @far(%x: buf<f32[L]>, %y: buf<f32[L]>) attributes {grid = sizes[(L + 3) / 4]} {
  %i = tile.program_id {axis = 0} : () -> index
  %far = tile.affine %i, %i {coeffs = [33554432, 1], offset = sizes[L]} : (index, index) -> index
  %t = tile.load %x, %far {pad = 2.0} : (buf<f32[L]>, index) -> tile<4xf32>
  tile.store %t, %y, %i : (tile<4xf32>, buf<f32[L]>, index) -> ()
}

// iota from a size: the values must fit in i32.
tile.kernel @iota_from(%y: buf<i32[2, 4]>) attributes {grid = sizes[1]} {
  %zero = tile.index {value = sizes[0]} : () -> index
  %b = tile.index {value = sizes[B]} : () -> index
  %t = tile.iota %b {axis = 1} : (index) -> tile<2x4xi32>
  tile.store %t, %y, %zero, %zero : (tile<2x4xi32>, buf<i32[2, 4]>, index, index) -> ()
}

// Prefetches of the next row tile (past the end for the last ones), far past the end,
// far before the start and of the previous tile (before the start for the first) around
// a copy: no effect on the result, no fault.
tile.kernel @prefetch_copy(%x: buf<f32[M, N]>, %y: buf<f32[M, N]>) attributes {grid = sizes[(M + 1) / 2], parallel = [0]} {
  %i = tile.program_id {axis = 0} : () -> index
  %zero = tile.index {value = sizes[0]} : () -> index
  %next = tile.affine %i {coeffs = [1], offset = sizes[1]} : (index) -> index
  %far = tile.affine %i {coeffs = [1], offset = sizes[M + 1000]} : (index) -> index
  %back = tile.affine %i {coeffs = [1], offset = sizes[-1073741824]} : (index) -> index
  %prev = tile.affine %i {coeffs = [1], offset = sizes[-1]} : (index) -> index
  tile.prefetch %x, %next {rows = 2} : (buf<f32[M, N]>, index) -> ()
  tile.prefetch %y, %far {rows = 3} : (buf<f32[M, N]>, index) -> ()
  tile.prefetch %x, %back {rows = 4} : (buf<f32[M, N]>, index) -> ()
  tile.prefetch %y, %prev {rows = 2} : (buf<f32[M, N]>, index) -> ()
  %t = tile.load %x, %i, %zero : (buf<f32[M, N]>, index, index) -> tile<2x64xf32>
  tile.store %t, %y, %i, %zero : (tile<2x64xf32>, buf<f32[M, N]>, index, index) -> ()
}

// argmax over axis 0 of an i32 tile, and broadcast dims into the middle axis.
tile.kernel @argmax_cols(%x: buf<i32[M, 8]>, %y: buf<i32[2, 8, 3]>) attributes {grid = sizes[1]} {
  %zero = tile.index {value = sizes[0]} : () -> index
  %t = tile.load %x, %zero, %zero {pad = -1000} : (buf<i32[M, 8]>, index, index) -> tile<16x8xi32>
  %a = tile.reduce %t {axis = 0, kind = "argmax"} : (tile<16x8xi32>) -> tile<8xi32>
  %b = tile.broadcast %a {dims = [1]} : (tile<8xi32>) -> tile<2x8x3xi32>
  tile.store %b, %y, %zero, %zero, %zero : (tile<2x8x3xi32>, buf<i32[2, 8, 3]>, index, index, index) -> ()
}
"#;

fn own() -> Module {
    module(OWN)
}

#[test]
fn negative_element_offsets_read_the_pad() {
    let b: Vec<_> = [(4, 8), (5, 3), (1, 1), (13, 12), (9, 20)]
        .iter()
        .map(|&(r, c)| sizes(&[("M", r), ("N", c)]))
        .collect();
    check(&own(), "neg_pad", &b, Tol::Exact);
}

#[test]
fn store_with_perm_transposes() {
    let b: Vec<_> = [(4, 8), (5, 3), (1, 1), (13, 17), (30, 9)]
        .iter()
        .map(|&(r, c)| sizes(&[("M", r), ("N", c)]))
        .collect();
    check(&own(), "store_perm", &b, Tol::Exact);
}

#[test]
fn strides_on_the_last_axis() {
    let b: Vec<_> = [(4, 16), (5, 3), (1, 1), (13, 17), (9, 40)]
        .iter()
        .map(|&(r, c)| sizes(&[("M", r), ("N", c)]))
        .collect();
    check(&own(), "stride_last", &b, Tol::Exact);
}

#[test]
fn permuted_strided_element_offsets_and_negative_store_offsets() {
    let b: Vec<_> = [(4, 8), (5, 3), (1, 1), (13, 12), (9, 2), (16, 9)]
        .iter()
        .map(|&(r, c)| sizes(&[("M", r), ("N", c)]))
        .collect();
    check(&own(), "mixed", &b, Tol::Exact);
}

#[test]
fn huge_indices_are_clamped_and_read_the_pad() {
    let b: Vec<_> = [4, 5, 1, 64].iter().map(|&l| sizes(&[("L", l)])).collect();
    check(&own(), "far", &b, Tol::Exact);
}

#[test]
fn prefetch_reads_nothing_observable_and_stays_in_bounds() {
    let b: Vec<_> = [(4, 64), (5, 60), (1, 1), (13, 64), (200, 64)]
        .iter()
        .map(|&(r, c)| sizes(&[("M", r), ("N", c)]))
        .collect();
    check(&own(), "prefetch_copy", &b, Tol::Exact);
    // The reads are kept though their values are unused: trapping `i8` loads.
    let clif = JitBackend::new()
        .unwrap()
        .compile(&own(), "prefetch_copy")
        .unwrap()
        .clif()
        .to_string();
    let touches = clif.lines().filter(|l| l.contains("= load.i8 ")).count();
    assert_eq!(touches, 16, "{clif}");
}

#[test]
fn argmax_on_axis_0_and_broadcast_dims() {
    let b: Vec<_> = [16, 5, 1, 40].iter().map(|&r| sizes(&[("M", r)])).collect();
    check(&own(), "argmax_cols", &b, Tol::Exact);
}

#[test]
fn iota_values_beyond_i32_are_a_run_time_error() {
    let m = own();
    let k = JitBackend::new().unwrap().compile(&m, "iota_from").unwrap();
    let max = i64::from(i32::MAX);
    let min = i64::from(i32::MIN);
    for (base, fits) in [
        (5, true),
        (-7, true),
        (max - 3, true),
        (max - 2, false),
        (min, true),
        (min - 1, false),
    ] {
        let s = sizes(&[("B", base)]);
        let args = vec![Tensor::zeros(DType::I32, vec![2, 4]).unwrap()];
        let mut want = args.clone();
        let w = tessera_interp::run_kernel(&m, "iota_from", &mut want, &s);
        let mut got = args;
        let r = k.run_tensors(&mut got, &s);
        assert_eq!(w.is_ok(), fits, "interpreter, base {base}");
        match r {
            Ok(()) => {
                assert!(fits, "base {base}: expected an error");
                assert_tensors(&got[0], &want[0], Tol::Exact, "iota");
            }
            Err(e) => {
                assert!(!fits, "base {base}: {e}");
                assert!(matches!(e, CodegenError::Runtime(_)), "{e}");
                assert!(e.to_string().contains("does not fit in i32"), "{e}");
                // Nothing is written back on error.
                assert_eq!(got[0], Tensor::zeros(DType::I32, vec![2, 4]).unwrap());
            }
        }
    }
}

#[test]
fn affine_arithmetic_that_could_overflow_is_refused() {
    let m = module(
        r#"
tile.kernel @big(%x: buf<f32[L]>, %y: buf<f32[L]>) attributes {grid = sizes[(L + 3) / 4]} {
  %i = tile.program_id {axis = 0} : () -> index
  %far = tile.affine %i {coeffs = [1099511627776]} : (index) -> index
  %t = tile.load %x, %far : (buf<f32[L]>, index) -> tile<4xf32>
  tile.store %t, %y, %i : (tile<4xf32>, buf<f32[L]>, index) -> ()
}
"#,
    );
    match JitBackend::new().unwrap().compile(&m, "big") {
        Err(e @ CodegenError::Unsupported(_)) => {
            assert!(e.to_string().contains("tile.affine"), "{e}")
        }
        other => panic!("expected an unsupported error, got {other:?}"),
    }
}

#[test]
fn clif_of_extensions_is_deterministic() {
    let m = addressing_tir();
    let b = JitBackend::new().unwrap();
    for name in [
        "matmul_bt",
        "conv_s2p1",
        "center_rows",
        "argmax_rows",
        "slice_cols",
    ] {
        let t1 = b.compile(&m, name).unwrap().clif().to_string();
        let t2 = b.compile(&m, name).unwrap().clif().to_string();
        assert_eq!(t1, t2, "{name}");
    }
}
