//! Four-lane casts between `f32`, `i32` and `i8` in maps (`lower/lane_cast.rs`), bit for
//! bit against the tile interpreter on the values where conversions go wrong: ties (0.5,
//! 2.5, -2.5, 126.5, -127.5), the `i8` and `i32` range ends and beyond, infinities, NaN,
//! -0, subnormals, `i32` values that `f32` cannot hold exactly; on tiles whose length
//! leaves both the four-lane loop and the scalar tail work to do. The quantisation forms
//! (`x / s as i8`, `q as f32 * s`) are checked too, and that their maps run on lanes.

mod common;

use common::*;
use std::collections::BTreeMap;
use tessera_codegen_cpu::JitBackend;
use tessera_dialects::DType;
use tessera_tensor::{Data, Tensor};

/// A 1-D map kernel over tiles of `t` elements: `out = region(x, s)`, `s` a second
/// operand of `sd` (`f32`) elements.
fn kernel(t: u64, xd: DType, od: DType, region: &str) -> String {
    format!(
        "tile.kernel @k(%x: buf<{xd}[N]>, %s: buf<f32[N]>, %out: buf<{od}[N]>) attributes {{grid = sizes[(N + {t1}) / {t}], parallel = [0], vector = 4}} {{
  %p = tile.program_id {{axis = 0}} : () -> index
  %tx = tile.load %x, %p : (buf<{xd}[N]>, index) -> tile<{t}x{xd}>
  %ts = tile.load %s, %p : (buf<f32[N]>, index) -> tile<{t}xf32>
  %r = tile.map %tx, %ts : (tile<{t}x{xd}>, tile<{t}xf32>) -> tile<{t}x{od}> (%e: {xd}, %f: f32) {{
{region}
  }}
  tile.store %r, %out, %p : (tile<{t}x{od}>, buf<{od}[N]>, index) -> ()
}}
",
        t1 = t - 1
    )
}

const FLOATS: &[f32] = &[
    0.0,
    -0.0,
    0.5,
    -0.5,
    1.5,
    2.5,
    -2.5,
    126.5,
    -127.5,
    127.49,
    127.5,
    128.0,
    -128.5,
    -129.0,
    1e10,
    -1e10,
    2147483520.0,
    2147483648.0,
    -2147483904.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    1e-45,
    -1e-40,
    3.7,
    -3.7,
    99.99,
];

const INTS: &[i32] = &[
    0,
    1,
    -1,
    127,
    -128,
    16_777_217,
    -16_777_219,
    i32::MAX,
    i32::MIN,
    123_456_789,
    -987_654_321,
];

/// Runs kernel `k` on `x` (and `s`) in the interpreter and compiled; every buffer must be
/// bit-identical. Returns the CLIF.
fn check(text: &str, x: Tensor, s: Vec<f32>, od: DType) -> String {
    let m = module(text);
    let n = x.shape()[0];
    let k = JitBackend::new().unwrap().compile(&m, "k").unwrap();
    let sizes: BTreeMap<String, i64> = sizes(&[("N", n as i64)]);
    let args = vec![
        x,
        Tensor::from_f32(DType::F32, vec![n], s).unwrap(),
        Tensor::zeros(od, vec![n]).unwrap(),
    ];
    let mut want = args.clone();
    tessera_interp::run_kernel(&m, "k", &mut want, &sizes).unwrap();
    let mut got = args;
    k.run_tensors(&mut got, &sizes).unwrap();
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert_tensors(a, b, Tol::Exact, &format!("buffer {i} of\n{text}"));
    }
    tessera_codegen_cpu::clif_text(&k)
}

fn floats(n: usize) -> Vec<f32> {
    (0..n).map(|i| FLOATS[i % FLOATS.len()]).collect()
}

fn cast(xd: DType, od: DType) -> String {
    format!("    %c = graph.cast %e {{dtype = {od}}} : ({xd}) -> {od}\n    tile.yield %c : {od}")
}

#[test]
fn float_to_integer_rounds_ties_to_even_saturates_and_maps_nan_to_zero() {
    for od in [DType::I8, DType::I32] {
        for (t, n) in [(61, 200), (8, 27), (4, 4), (64, 64)] {
            let x = Tensor::from_f32(DType::F32, vec![n], floats(n)).unwrap();
            let clif = check(
                &kernel(t, DType::F32, od, &cast(DType::F32, od)),
                x,
                vec![1.0; n],
                od,
            );
            if t >= 4 {
                assert!(clif.contains("fcvt_to_sint_sat.i32x4"), "{clif}");
            }
        }
    }
}

#[test]
fn integers_to_float_round_to_nearest_even_and_i8_widens_exactly() {
    for (t, n) in [(61, 150), (9, 30)] {
        let v: Vec<i32> = (0..n).map(|i| INTS[i % INTS.len()]).collect();
        let x = Tensor::new(DType::I32, vec![n], Data::Int(v)).unwrap();
        let clif = check(
            &kernel(t, DType::I32, DType::F32, &cast(DType::I32, DType::F32)),
            x,
            vec![1.0; n],
            DType::F32,
        );
        assert!(clif.contains("fcvt_from_sint.f32x4"), "{clif}");
        let v: Vec<i32> = (0..n).map(|i| (i as i32 * 37) % 256 - 128).collect();
        for od in [DType::F32, DType::I32] {
            let x = Tensor::new(DType::I8, vec![n], Data::Int(v.clone())).unwrap();
            let clif = check(
                &kernel(t, DType::I8, od, &cast(DType::I8, od)),
                x,
                vec![1.0; n],
                od,
            );
            assert!(clif.contains("swiden_low"), "{clif}");
        }
    }
}

#[test]
fn quantise_and_dequantise_maps_run_on_lanes() {
    let n = 203;
    let x = floats(n)
        .into_iter()
        .enumerate()
        .map(|(i, v)| v * (i as f32 - 100.0))
        .collect::<Vec<_>>();
    let s: Vec<f32> = (0..n).map(|i| 0.01 + (i % 7) as f32 * 0.37).collect();
    let q = "    %v = graph.div %e, %f : (f32, f32) -> f32\n    %c = graph.cast %v {dtype = i8} : (f32) -> i8\n    tile.yield %c : i8";
    let x = Tensor::from_f32(DType::F32, vec![n], x).unwrap();
    let clif = check(
        &kernel(32, DType::F32, DType::I8, q),
        x,
        s.clone(),
        DType::I8,
    );
    assert!(clif.contains("snarrow"), "{clif}");
    assert!(!clif.contains("call "), "{clif}");
    let d = "    %w = graph.cast %e {dtype = f32} : (i32) -> f32\n    %v = graph.mul %w, %f : (f32, f32) -> f32\n    tile.yield %v : f32";
    let v: Vec<i32> = (0..n).map(|i| INTS[i % INTS.len()] / 3).collect();
    let x = Tensor::new(DType::I32, vec![n], Data::Int(v)).unwrap();
    let clif = check(&kernel(32, DType::I32, DType::F32, d), x, s, DType::F32);
    assert!(clif.contains("fcvt_from_sint.f32x4"), "{clif}");
    assert!(!clif.contains("call "), "{clif}");
}

/// `x as bf16 as f32` (`--precision bf16`'s rounding of activations) inline on lanes and
/// on the scalar tail, bit for bit: ties to even in both directions, values that round up
/// into the next binade, finite values that would round to infinity (saturated to
/// +-max finite), infinities, NaNs with payloads (kept quiet), -0, subnormals.
#[test]
fn f32_to_bf16_rounds_inline_on_lanes() {
    let mut v: Vec<f32> = FLOATS.to_vec();
    v.extend(
        [
            0x3f80_8000u32, // a tie, even below: stays
            0x3f81_8000,    // a tie, odd below: rounds up
            0x3f80_8001,    // just above a tie
            0x3f80_7fff,    // just below a tie
            0x3fff_ffff,    // rounds up into the next binade
            0x7f7f_7fff,    // the largest that stays finite
            0x7f7f_8000,    // rounds to infinity: saturates
            0xff7f_ffff,    // -f32::MAX: saturates to -max
            0x7f80_0000,
            0xff80_0000,
            0x7f80_0001, // a signalling NaN with a low payload
            0xffc1_2345,
            0x0000_0001, // the smallest subnormal
            0x8000_8000, // a negative subnormal tie
            0x0001_8000,
        ]
        .map(f32::from_bits),
    );
    rounds_inline(&v, DType::BF16);
}

/// `x as NARROW as f32` on `v`, repeated, in tiles of 61 (lanes and a scalar tail), 8 and
/// 4 elements: bit for bit against the interpreter, with no helper call.
fn rounds_inline(v: &[f32], narrow: DType) {
    let region = format!(
        "    %c = graph.cast %e {{dtype = {narrow}}} : (f32) -> {narrow}\n    %w = graph.cast %c {{dtype = f32}} : ({narrow}) -> f32\n    tile.yield %w : f32"
    );
    for (t, n) in [(61, v.len() * 3), (8, v.len()), (4, 4)] {
        let x: Vec<f32> = (0..n).map(|i| v[i % v.len()]).collect();
        let x = Tensor::from_f32(DType::F32, vec![n], x).unwrap();
        let clif = check(
            &kernel(t as u64, DType::F32, DType::F32, &region),
            x,
            vec![1.0; n],
            DType::F32,
        );
        assert!(!clif.contains("call "), "{clif}");
        assert!(clif.contains("bitselect"), "{clif}");
    }
}

/// `x as f16 as f32` (`--precision f16`'s rounding of activations) inline on lanes and
/// on the scalar tail, bit for bit against the interpreter: ties to even on 10 mantissa
/// bits, values that round up into the next binade, the f16 subnormals (multiples of
/// 2^-24, ties to even) and the boundary with the normals, finite values that round past
/// 65504 (saturated), infinities, NaNs with payloads (kept quiet), -0.
#[test]
fn f32_to_f16_rounds_inline_on_lanes() {
    let mut v: Vec<f32> = FLOATS.to_vec();
    v.extend(
        [
            0x3f80_1000u32, // a tie, even below: stays
            0x3f80_3000,    // a tie, odd below: rounds up
            0x3f80_1001,    // just above a tie
            0x3f80_0fff,    // just below a tie
            0x3fff_f000,    // rounds up into the next binade
            0x477f_e000,    // 65504, the largest f16
            0x477f_efff,    // rounds down to 65504
            0x477f_f000,    // a tie past 65504: saturates
            0x4780_0000,    // 65536: saturates
            0xc780_0000,    // -65536: saturates to -65504
            0x5f00_0000,    // far beyond: saturates
            0x7f80_0000,
            0xff80_0000,
            0x7f80_0001, // a signalling NaN with a low payload
            0xffc1_2345,
            0x3880_0000, // 2^-14, the smallest f16 normal
            0x387f_ffff, // just below: rounds up to 2^-14
            0x387f_c000, // a subnormal
            0x3380_0000, // 2^-24, the smallest f16 subnormal
            0x3300_0000, // 2^-25: a tie with 0, rounds to even (0)
            0x3300_0001, // just above: rounds to 2^-24
            0x33c0_0000, // 1.5 * 2^-24: a tie, rounds to 2 * 2^-24
            0xb3c0_0000, // its negative
            0x0000_0001, // an f32 subnormal: rounds to 0
            0x8000_0000, // -0
            0x3555_5555,
            0xb8ff_ffff,
        ]
        .map(f32::from_bits),
    );
    rounds_inline(&v, DType::F16);
}

/// Every f16 value, and the midpoints between neighbours, round as the interpreter does:
/// the f16 grid itself stays, each midpoint goes to the even neighbour.
#[test]
fn f32_to_f16_keeps_the_f16_grid_and_rounds_its_midpoints_to_even() {
    let mut v = Vec::new();
    for bits in 0u16..=0x7bff {
        let x = tessera_runtime::scalar::f16_bits_to_f32(bits);
        let next = tessera_runtime::scalar::f16_bits_to_f32(bits + 1);
        for s in [1.0f32, -1.0] {
            v.push(s * x);
            v.push(s * (x + (next - x) / 2.0));
        }
    }
    let region = "    %c = graph.cast %e {dtype = f16} : (f32) -> f16\n    %w = graph.cast %c {dtype = f32} : (f16) -> f32\n    tile.yield %w : f32";
    let n = v.len();
    let x = Tensor::from_f32(DType::F32, vec![n], v).unwrap();
    check(
        &kernel(1024, DType::F32, DType::F32, region),
        x,
        vec![1.0; n],
        DType::F32,
    );
}
