//! Narrow floats (`f16`, `bf16`, `f8e4m3`, `f8e5m2`) in `tile.map`, `tile.reduce` and
//! `tile.dot` (narrow operands, `f32` or narrow accumulators), and integer reductions, compiled with Cranelift and compared *bit for bit* with the
//! tile interpreter (NaN equals NaN) on random inputs and on hand-picked edge values
//! (signed zeros, the largest finite values, sums that overflow each format, ties to
//! even, NaN, infinities, the smallest subnormals), on 1 and 2 threads, with ragged
//! size bindings.

mod common;

use common::*;
use std::collections::BTreeMap;
use tessera_codegen_cpu::JitBackend;
use tessera_dialects::{DType, Module};
use tessera_runtime::ThreadPool;
use tessera_tensor::{Data, Tensor};

/// Maps on tiles of `DT`: arithmetic with ties and overflow, transcendental helpers,
/// compare and select, saturating casts both ways, a mix with `f32` operands, exact ops.
const MAP_TIR: &str = r#"
tile.kernel @nmap(%x: buf<DT[L]>, %y: buf<DT[L]>, %s: buf<f32[L]>, %o1: buf<DT[L]>, %o2: buf<DT[L]>, %o3: buf<i8[L]>, %o4: buf<DT[L]>, %o5: buf<f32[L]>, %o6: buf<bool[L]>, %o7: buf<DT[L]>) attributes {grid = sizes[(L + 15) / 16]} {
  %i = tile.program_id {axis = 0} : () -> index
  %a = tile.load %x, %i : (buf<DT[L]>, index) -> tile<16xDT>
  %b = tile.load %y, %i : (buf<DT[L]>, index) -> tile<16xDT>
  %c = tile.load %s, %i : (buf<f32[L]>, index) -> tile<16xf32>
  %r1 = tile.map %a, %b : (tile<16xDT>, tile<16xDT>) -> tile<16xDT> (%p_r1: DT, %q_r1: DT) {
    %ad_r1 = graph.add %p_r1, %q_r1 : (DT, DT) -> DT
    tile.yield %ad_r1 : DT
  }
  tile.store %r1, %o1, %i : (tile<16xDT>, buf<DT[L]>, index) -> ()
  %r2 = tile.map %a, %b : (tile<16xDT>, tile<16xDT>) -> tile<16xDT> (%p_r2: DT, %q_r2: DT) {
    %k_r2 = graph.constant {value = BIG, dtype = DT} : () -> DT
    %m_r2 = graph.mul %p_r2, %q_r2 : (DT, DT) -> DT
    %mk_r2 = graph.mul %m_r2, %k_r2 : (DT, DT) -> DT
    %t_r2 = graph.add %mk_r2, %p_r2 : (DT, DT) -> DT
    %f_r2 = graph.constant {value = 6.0, dtype = DT} : () -> DT
    %pf_r2 = graph.mul %p_r2, %f_r2 : (DT, DT) -> DT
    %e_r2 = graph.exp %pf_r2 : (DT) -> DT
    %th_r2 = graph.tanh %q_r2 : (DT) -> DT
    %et_r2 = graph.sub %e_r2, %th_r2 : (DT, DT) -> DT
    %lt_r2 = graph.lt %p_r2, %q_r2 : (DT, DT) -> bool
    %sel_r2 = graph.select %lt_r2, %t_r2, %et_r2 : (bool, DT, DT) -> DT
    tile.yield %sel_r2 : DT
  }
  tile.store %r2, %o2, %i : (tile<16xDT>, buf<DT[L]>, index) -> ()
  %r3 = tile.map %a : (tile<16xDT>) -> tile<16xi8> (%p_r3: DT) {
    %k_r3 = graph.constant {value = 200.0, dtype = DT} : () -> DT
    %m_r3 = graph.mul %p_r3, %k_r3 : (DT, DT) -> DT
    %n_r3 = graph.cast %m_r3 {dtype = i8} : (DT) -> i8
    tile.yield %n_r3 : i8
  }
  tile.store %r3, %o3, %i : (tile<16xi8>, buf<i8[L]>, index) -> ()
  %r4 = tile.map %a, %c : (tile<16xDT>, tile<16xf32>) -> tile<16xDT> (%p_r4: DT, %r_r4: f32) {
    %k_r4 = graph.constant {value = BIGF, dtype = f32} : () -> f32
    %m_r4 = graph.mul %r_r4, %k_r4 : (f32, f32) -> f32
    %n_r4 = graph.cast %m_r4 {dtype = DT} : (f32) -> DT
    %z_r4 = graph.constant {value = 0.0, dtype = DT} : () -> DT
    %g_r4 = graph.gt %p_r4, %z_r4 : (DT, DT) -> bool
    %sel_r4 = graph.select %g_r4, %n_r4, %p_r4 : (bool, DT, DT) -> DT
    tile.yield %sel_r4 : DT
  }
  tile.store %r4, %o4, %i : (tile<16xDT>, buf<DT[L]>, index) -> ()
  %r5 = tile.map %a, %b, %c : (tile<16xDT>, tile<16xDT>, tile<16xf32>) -> tile<16xf32> (%p_r5: DT, %q_r5: DT, %r_r5: f32) {
    %ab_r5 = graph.abs %p_r5 : (DT) -> DT
    %sq_r5 = graph.sqrt %ab_r5 : (DT) -> DT
    %rc_r5 = graph.recip %q_r5 : (DT) -> DT
    %d_r5 = graph.div %sq_r5, %rc_r5 : (DT, DT) -> DT
    %f_r5 = graph.cast %d_r5 {dtype = f32} : (DT) -> f32
    %u_r5 = graph.add %f_r5, %r_r5 : (f32, f32) -> f32
    tile.yield %u_r5 : f32
  }
  tile.store %r5, %o5, %i : (tile<16xf32>, buf<f32[L]>, index) -> ()
  %r6 = tile.map %a, %b : (tile<16xDT>, tile<16xDT>) -> tile<16xbool> (%p_r6: DT, %q_r6: DT) {
    %ge_r6 = graph.ge %p_r6, %q_r6 : (DT, DT) -> bool
    %ne_r6 = graph.ne %p_r6, %q_r6 : (DT, DT) -> bool
    %eq_r6 = graph.eq %p_r6, %p_r6 : (DT, DT) -> bool
    %x1_r6 = graph.select %ge_r6, %ne_r6, %eq_r6 : (bool, bool, bool) -> bool
    tile.yield %x1_r6 : bool
  }
  tile.store %r6, %o6, %i : (tile<16xbool>, buf<bool[L]>, index) -> ()
  %r7 = tile.map %a, %b : (tile<16xDT>, tile<16xDT>) -> tile<16xDT> (%p_r7: DT, %q_r7: DT) {
    %h_r7 = graph.constant {value = 0.5, dtype = DT} : () -> DT
    %mh_r7 = graph.constant {value = -0.25, dtype = DT} : () -> DT
    %mx_r7 = graph.max %p_r7, %h_r7 : (DT, DT) -> DT
    %mn_r7 = graph.min %q_r7, %mh_r7 : (DT, DT) -> DT
    %rl_r7 = graph.relu %q_r7 : (DT) -> DT
    %ng_r7 = graph.neg %rl_r7 : (DT) -> DT
    %s1_r7 = graph.sub %mx_r7, %mn_r7 : (DT, DT) -> DT
    %s2_r7 = graph.add %s1_r7, %ng_r7 : (DT, DT) -> DT
    %pw_r7 = graph.pow %s2_r7, %h_r7 : (DT, DT) -> DT
    %sg_r7 = graph.sigmoid %pw_r7 : (DT) -> DT
    tile.yield %sg_r7 : DT
  }
  tile.store %r7, %o7, %i : (tile<16xDT>, buf<DT[L]>, index) -> ()
}
"#;

/// Reductions of `DT` tiles: column and row sums, row maxima, column minima, row argmax.
const REDUCE_TIR: &str = r#"
tile.kernel @nred(%x: buf<DT[R, C]>, %cols: buf<DT[(R + 7) / 8, C]>, %rows: buf<DT[R]>, %rmax: buf<DT[R]>, %cmin: buf<DT[(R + 7) / 8, C]>, %am: buf<i32[R]>) attributes {grid = sizes[(R + 7) / 8, 1]} {
  %i = tile.program_id {axis = 0} : () -> index
  %z = tile.program_id {axis = 1} : () -> index
  %t = tile.load %x, %i, %z : (buf<DT[R, C]>, index, index) -> tile<8x8xDT>
  %cs = tile.reduce %t {axis = 0, kind = "sum"} : (tile<8x8xDT>) -> tile<8xDT>
  %cb = tile.broadcast %cs : (tile<8xDT>) -> tile<1x8xDT>
  tile.store %cb, %cols, %i, %z : (tile<1x8xDT>, buf<DT[(R + 7) / 8, C]>, index, index) -> ()
  %rs = tile.reduce %t {axis = 1, kind = "sum"} : (tile<8x8xDT>) -> tile<8xDT>
  tile.store %rs, %rows, %i : (tile<8xDT>, buf<DT[R]>, index) -> ()
  %rm = tile.reduce %t {axis = 1, kind = "max"} : (tile<8x8xDT>) -> tile<8xDT>
  tile.store %rm, %rmax, %i : (tile<8xDT>, buf<DT[R]>, index) -> ()
  %cm = tile.reduce %t {axis = 0, kind = "min"} : (tile<8x8xDT>) -> tile<8xDT>
  %cmb = tile.broadcast %cm : (tile<8xDT>) -> tile<1x8xDT>
  tile.store %cmb, %cmin, %i, %z : (tile<1x8xDT>, buf<DT[(R + 7) / 8, C]>, index, index) -> ()
  %ax = tile.reduce %t {axis = 1, kind = "argmax"} : (tile<8x8xDT>) -> tile<8xi32>
  tile.store %ax, %am, %i : (tile<8xi32>, buf<i32[R]>, index) -> ()
}
"#;

/// A tiled matmul with `AB` operands and a `CT` accumulator (ragged edges, a loop over K).
const DOT_TIR: &str = r#"
tile.kernel @ndot(%a: buf<AB[M, K]>, %b: buf<AB[K, N]>, %out: buf<CT[M, N]>) attributes {grid = sizes[(M + 4) / 5, (N + 5) / 6]} {
  %i = tile.program_id {axis = 0} : () -> index
  %j = tile.program_id {axis = 1} : () -> index
  %zero = tile.zeros : () -> tile<5x6xCT>
  %acc = tile.for %zero {bounds = sizes[0, (K + 6) / 7]} : (tile<5x6xCT>) -> tile<5x6xCT> (%k: index, %c: tile<5x6xCT>) {
    %ta = tile.load %a, %i, %k : (buf<AB[M, K]>, index, index) -> tile<5x7xAB>
    %tb = tile.load %b, %k, %j : (buf<AB[K, N]>, index, index) -> tile<7x6xAB>
    %d = tile.dot %ta, %tb, %c : (tile<5x7xAB>, tile<7x6xAB>, tile<5x6xCT>) -> tile<5x6xCT>
    tile.yield %d : tile<5x6xCT>
  }
  tile.store %acc, %out, %i, %j : (tile<5x6xCT>, buf<CT[M, N]>, index, index) -> ()
}
"#;

const NARROW: [DType; 4] = [DType::F16, DType::BF16, DType::F8E4M3, DType::F8E5M2];

/// The largest finite value and the number of mantissa bits of a narrow float.
fn format(d: DType) -> (f32, i32) {
    match d {
        DType::F16 => (65504.0, 10),
        DType::BF16 => (3.3895314e38, 7),
        DType::F8E4M3 => (448.0, 3),
        DType::F8E5M2 => (57344.0, 2),
        _ => panic!("{d} is not a narrow float"),
    }
}

fn map_module(d: DType) -> Module {
    let (max, _) = format(d);
    // `BIG` makes products of inputs in [-1, 1) overflow; `BIGF` makes half the f32
    // inputs saturate in the cast.
    let big = match d {
        DType::BF16 => "1.0e38".to_string(),
        _ => format!("{:.1}", max / 2.0),
    };
    let text = MAP_TIR
        .replace("BIGF", &format!("{:.1e}", 2.0 * max))
        .replace("BIG", &big)
        .replace("DT", &d.to_string());
    module(&text)
}

fn reduce_module(d: DType) -> Module {
    module(&REDUCE_TIR.replace("DT", &d.to_string()))
}

/// Edge values of float dtype `d` in pairs `(x, y)`: `x + y` ties to even (down and up)
/// and overflows; signed zeros, NaN, infinities, subnormals.
fn float_edges(d: DType) -> (Vec<f32>, Vec<f32>) {
    let (max, m) = format(d);
    let half_ulp = 2f32.powi(-(m + 1));
    let ulp = 2f32.powi(-m);
    let top_half_ulp = max * 2f32.powi(-(m + 1)) / (1.0 - 2f32.powi(-(m + 1)));
    let tiny = match d {
        DType::F16 => 2f32.powi(-24),
        DType::BF16 => 2f32.powi(-133),
        DType::F8E4M3 => 2f32.powi(-9),
        _ => 2f32.powi(-16),
    };
    let x = vec![
        1.0,
        1.0 + ulp,
        -1.0,
        max,
        max,
        -max,
        max,
        0.0,
        -0.0,
        -0.0,
        f32::NAN,
        1.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        tiny,
        -tiny,
        0.75,
        2.0,
    ];
    let y = vec![
        half_ulp,
        half_ulp,
        -half_ulp,
        max,
        top_half_ulp,
        -top_half_ulp,
        -max,
        -0.0,
        -0.0,
        0.0,
        1.0,
        f32::NAN,
        1.0,
        f32::INFINITY,
        tiny,
        tiny,
        -0.75,
        -3.0,
    ];
    (x, y)
}

/// Replaces the first elements of `t` (a float or int tensor) with `vals` (rounded to the
/// dtype as `Tensor::from_f32` does).
fn overwrite(t: &mut Tensor, vals: &[f32]) {
    let mut v = t.to_f32_vec();
    for (a, b) in v.iter_mut().zip(vals) {
        *a = *b;
    }
    *t = if t.dtype().is_float() {
        Tensor::from_f32(t.dtype(), t.shape().to_vec(), v).unwrap()
    } else {
        let ints = v.iter().map(|&x| x as i32).collect();
        Tensor::new(t.dtype(), t.shape().to_vec(), Data::Int(ints)).unwrap()
    };
}

/// Bit-exact comparison (NaN equals NaN).
fn exact(got: &[Tensor], want: &[Tensor], what: &str) {
    for (i, (x, y)) in got.iter().zip(want).enumerate() {
        assert_tensors(x, y, Tol::Exact, &format!("{what} buffer {i}"));
    }
}

/// Runs `name` on the interpreter and on 1 and 2 threads for each binding, with random
/// arguments whose first elements `edit` may replace; compares bit for bit.
fn check(
    m: &Module,
    name: &str,
    what: &str,
    bindings: &[BTreeMap<String, i64>],
    edit: &dyn Fn(&mut [Tensor]),
) {
    let k = JitBackend::new()
        .unwrap()
        .compile(m, name)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let (p1, p2) = (ThreadPool::new(1).unwrap(), ThreadPool::new(2).unwrap());
    let mut g = Lcg(0x0bf16 ^ what.len() as u64);
    for s in bindings {
        for with_edges in [false, true] {
            let mut args = random_args(m, name, s, &mut g);
            if with_edges {
                edit(&mut args);
            }
            let mut want = args.clone();
            tessera_interp::run_kernel(m, name, &mut want, s)
                .unwrap_or_else(|e| panic!("{what}: interpreter: {e}"));
            let one = run_on(&k, &p1, &args, s);
            let two = run_on(&k, &p2, &args, s);
            let tag = format!("{what} {s:?} edges={with_edges}");
            exact(&one, &want, &format!("{tag} 1 thread"));
            exact(&two, &want, &format!("{tag} 2 threads"));
        }
    }
}

#[test]
fn maps_on_narrow_floats_match_the_interpreter_bit_for_bit() {
    let l = |v: i64| sizes(&[("L", v)]);
    for d in NARROW {
        let m = map_module(d);
        let (ex, ey) = float_edges(d);
        let edit = |a: &mut [Tensor]| {
            overwrite(&mut a[0], &ex);
            overwrite(&mut a[1], &ey);
            let s: Vec<f32> = ex.iter().map(|v| v * 0.3).collect();
            overwrite(&mut a[2], &s);
        };
        check(
            &m,
            "nmap",
            &format!("nmap {d}"),
            &[l(16), l(18), l(37), l(1), l(200)],
            &edit,
        );
    }
}

#[test]
fn reductions_on_narrow_floats_match_the_interpreter_bit_for_bit() {
    let rc = |a: i64, b: i64| sizes(&[("R", a), ("C", b)]);
    for d in NARROW {
        let m = reduce_module(d);
        let (ex, ey) = float_edges(d);
        let (max, _) = format(d);
        // Rows of max values (the sum overflows), then the pairs of edge values.
        let mut vals = vec![max; 8];
        vals.extend(vec![-max; 3]);
        vals.extend(ex.iter().zip(&ey).flat_map(|(a, b)| [*a, *b]));
        let edit = |a: &mut [Tensor]| overwrite(&mut a[0], &vals);
        check(
            &m,
            "nred",
            &format!("nred {d}"),
            &[rc(8, 8), rc(13, 5), rc(1, 1), rc(30, 8), rc(9, 7)],
            &edit,
        );
    }
}

#[test]
fn integer_reductions_wrap_as_the_interpreter() {
    let rc = |a: i64, b: i64| sizes(&[("R", a), ("C", b)]);
    for (d, vals) in [
        (
            DType::I32,
            vec![
                2147483647.0,
                2147483647.0,
                5.0,
                -2147483648.0,
                -1.0,
                0.0,
                7.0,
                3.0,
            ],
        ),
        (
            DType::I8,
            vec![127.0, 127.0, 127.0, -128.0, -128.0, 1.0, 100.0, 100.0],
        ),
    ] {
        let m = reduce_module(d);
        let edit = |a: &mut [Tensor]| overwrite(&mut a[0], &vals);
        check(
            &m,
            "nred",
            &format!("nred {d}"),
            &[rc(8, 8), rc(13, 5), rc(1, 1), rc(30, 8)],
            &edit,
        );
    }
}

#[test]
fn dots_with_narrow_floats_match_the_interpreter_bit_for_bit() {
    let mnk = |a: i64, b: i64, c: i64| sizes(&[("M", a), ("N", b), ("K", c)]);
    let mut cases: Vec<(DType, DType)> = NARROW.iter().map(|&d| (d, DType::F32)).collect();
    cases.extend(NARROW.iter().map(|&d| (d, d)));
    cases.push((DType::F32, DType::BF16));
    for (ab, ct) in cases {
        let text = DOT_TIR
            .replace("AB", &ab.to_string())
            .replace("CT", &ct.to_string());
        let m = module(&text);
        let (max, _) = format(if ab == DType::F32 { ct } else { ab });
        // Products of the largest values overflow a narrow accumulator.
        let vals = vec![max, max, -max, f32::NAN, 0.5, -0.0];
        let edit = |a: &mut [Tensor]| {
            overwrite(&mut a[0], &vals);
            overwrite(&mut a[1], &vals);
        };
        check(
            &m,
            "ndot",
            &format!("ndot {ab} x {ab} -> {ct}"),
            &[mnk(5, 6, 7), mnk(9, 13, 20), mnk(1, 1, 1), mnk(11, 7, 15)],
            &edit,
        );
    }
}

/// `tile.cast` between `f32` and the narrow floats: 16-element tiles (`bf16 -> f32`, `f16
/// -> f32` and `f32 -> bf16` four lanes at a time) and 6-element ones (the scalar loop),
/// bit for bit on random values and on edges: ties to even, values that round past the
/// largest finite (saturating), subnormals, signed zeros, infinities and NaN.
#[test]
fn tile_casts_match_the_interpreter_bit_for_bit() {
    let l = |v: i64| sizes(&[("L", v)]);
    let edges = vec![
        1.0 + 1.0 / 256.0,
        1.0 + 3.0 / 256.0,
        3.4e38,
        -3.4e38,
        65519.0,
        65520.0,
        1e-40,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        6e-8,
        -1.0009766,
        448.0,
        460.0,
        0.1,
        // fp8 subnormals (f8e4m3: multiples of 2^-9 below 2^-6; f8e5m2: of 2^-16 below
        // 2^-14) and smallest normals.
        0.001953125,
        -0.005859375,
        0.013671875,
        0.015625,
        1.5258789e-5,
        -4.5776367e-5,
        6.1035156e-5,
    ];
    let mut pairs: Vec<(DType, DType, &str)> =
        NARROW.iter().map(|&d| (d, DType::F32, "")).collect();
    pairs.extend(NARROW.iter().map(|&d| (DType::F32, d, "")));
    // The rounding of an accumulator: overflow to inf (NaN in f8e4m3), never saturated.
    pairs.extend(
        NARROW
            .iter()
            .map(|&d| (DType::F32, d, ", round = \"arith\"")),
    );
    for (from, to, round) in pairs {
        for width in [16, 6] {
            let text = format!(
                "tile.kernel @ncast(%x: buf<{from}[L]>, %o: buf<{to}[L]>) attributes {{grid = sizes[(L + {w1}) / {width}]}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %a = tile.load %x, %i : (buf<{from}[L]>, index) -> tile<{width}x{from}>
  %c = tile.cast %a {{dtype = {to}{round}}} : (tile<{width}x{from}>) -> tile<{width}x{to}>
  tile.store %c, %o, %i : (tile<{width}x{to}>, buf<{to}[L]>, index) -> ()
}}",
                w1 = width - 1
            );
            let m = module(&text);
            let edit = |a: &mut [Tensor]| overwrite(&mut a[0], &edges);
            check(
                &m,
                "ncast",
                &format!("ncast {from} -> {to}{round} by {width}"),
                &[l(16), l(19), l(1), l(48)],
                &edit,
            );
            // The same conversion as a `graph.cast` in a map (four lanes for bf16).
            let text = format!(
                "tile.kernel @nmcast(%x: buf<{from}[L]>, %o: buf<{to}[L]>) attributes {{grid = sizes[(L + {w1}) / {width}]}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %a = tile.load %x, %i : (buf<{from}[L]>, index) -> tile<{width}x{from}>
  %c = tile.map %a : (tile<{width}x{from}>) -> tile<{width}x{to}> (%e: {from}) {{
    %r = graph.cast %e {{dtype = {to}{round}}} : ({from}) -> {to}
    tile.yield %r : {to}
  }}
  tile.store %c, %o, %i : (tile<{width}x{to}>, buf<{to}[L]>, index) -> ()
}}",
                w1 = width - 1
            );
            check(
                &module(&text),
                "nmcast",
                &format!("nmcast {from} -> {to}{round} by {width}"),
                &[l(16), l(19), l(1), l(48)],
                &edit,
            );
            if from != DType::F32 {
                continue;
            }
            // Rounded and widened back in one f32 map: on four lanes (`x as bf16 as f32`).
            let text = format!(
                "tile.kernel @nmround(%x: buf<f32[L]>, %o: buf<f32[L]>) attributes {{grid = sizes[(L + {w1}) / {width}]}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %a = tile.load %x, %i : (buf<f32[L]>, index) -> tile<{width}xf32>
  %c = tile.map %a : (tile<{width}xf32>) -> tile<{width}xf32> (%e: f32) {{
    %r = graph.cast %e {{dtype = {to}{round}}} : (f32) -> {to}
    %w = graph.cast %r {{dtype = f32}} : ({to}) -> f32
    tile.yield %w : f32
  }}
  tile.store %c, %o, %i : (tile<{width}xf32>, buf<f32[L]>, index) -> ()
}}",
                w1 = width - 1
            );
            check(
                &module(&text),
                "nmround",
                &format!("nmround {to}{round} by {width}"),
                &[l(16), l(19), l(1), l(48)],
                &edit,
            );
        }
    }
}
