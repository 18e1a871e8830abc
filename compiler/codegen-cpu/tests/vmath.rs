//! The inline `f32x4` transcendental functions (`src/lower/vmath.rs`) against `f64`
//! references rounded once, over a sweep of `f32` inputs: every 4099th bit pattern of the
//! whole `f32` range (both signs, denormals, infinities, NaNs), a dense uniform sampling of
//! `[-20, 20]` and edge values. Each function must stay within the maximum error documented
//! in `docs/numerics-cpu.md` (in ulp of the correctly rounded result, on the stated domain;
//! an absolute bound outside it), so a regression fails here.

mod common;

use common::module;
use std::collections::BTreeMap;
use tessera_codegen_cpu::JitBackend;
use tessera_tensor::Tensor;

/// The inputs of the sweep.
fn inputs() -> Vec<f32> {
    let mut xs: Vec<f32> = (0..=u32::MAX / 4099)
        .map(|k| f32::from_bits(k * 4099))
        .collect();
    let n = 1 << 20;
    xs.extend((0..n).map(|i| -20.0 + 40.0 * (i as f32 + 0.5) / n as f32));
    // silu's and gelu's negative tails: denormal results, underflow, clamps.
    xs.extend((0..=50_000).map(|i| -125.0 + i as f32 * 0.001));
    xs.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        f32::MAX,
        f32::MIN,
        88.72283,
        88.72284,
        89.0,
        -87.33655,
        -103.97208,
        -103.97209,
        -104.0,
        -88.7,
        -91.8,
        -108.8,
        -120.0,
        -120.001,
        1e30,
        -1e30,
        0.9,
        -0.9,
        1.0,
        -1.0,
        6.0,
        -6.0,
        8.485281,
        -8.485281,
        1.0e-20,
        -1.0e-20,
    ]);
    // A multiple of 4 plus 3: the scalar tail runs too.
    while xs.len() % 4 != 3 {
        xs.push(0.5);
    }
    xs
}

/// Runs `graph.<op>` over `xs` through a compiled map kernel.
fn run(op: &str, xs: &[f32]) -> Vec<f32> {
    let text = format!(
        "tile.kernel @f(%x: buf<f32[L]>, %out: buf<f32[L]>) attributes {{grid = sizes[(L + 1023) / 1024]}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %a = tile.load %x, %i : (buf<f32[L]>, index) -> tile<1024xf32>
  %r = tile.map %a : (tile<1024xf32>) -> tile<1024xf32> (%p: f32) {{
    %v = graph.{op} %p : (f32) -> f32
    tile.yield %v : f32
  }}
  tile.store %r, %out, %i : (tile<1024xf32>, buf<f32[L]>, index) -> ()
}}"
    );
    let m = module(&text);
    let k = JitBackend::new().unwrap().compile(&m, "f").unwrap();
    let l = xs.len();
    let x = Tensor::from_f32(tessera_dialects::DType::F32, vec![l], xs.to_vec()).unwrap();
    let out = Tensor::from_f32(tessera_dialects::DType::F32, vec![l], vec![0.0; l]).unwrap();
    let mut bufs = vec![x, out];
    let sizes: BTreeMap<String, i64> = [("L".to_string(), l as i64)].into();
    k.run_tensors(&mut bufs, &sizes).unwrap();
    bufs[1].to_f64_vec().iter().map(|v| *v as f32).collect()
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The exact value (in `f64`) of each function.
fn reference(op: &str, x: f64) -> f64 {
    match op {
        "exp" => x.exp(),
        "log" => x.ln(),
        "tanh" => x.tanh(),
        "erf" => libm::erf(x),
        "sigmoid" => sigmoid(x),
        // The limit at -inf.
        "silu" | "gelu" | "gelu_tanh" if x == f64::NEG_INFINITY => -0.0,
        "silu" => x * sigmoid(x),
        // 0.5 x erfc(-x / sqrt 2): no cancellation in the negative tail.
        "gelu" => 0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2),
        // 0.5 x (1 + tanh(u)) = x sigmoid(2u)
        "gelu_tanh" => {
            let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
            if x.is_infinite() {
                0.5 * x * (1.0 + u.tanh())
            } else {
                x * sigmoid(2.0 * u)
            }
        }
        "rsqrt" => 1.0 / x.sqrt(),
        _ => unreachable!(),
    }
}

/// The distance between adjacent `f32` values around `y` (a finite `f32` value).
fn ulp(y: f32) -> f64 {
    let a = y.abs();
    if a < f32::MIN_POSITIVE {
        return 2f64.powi(-149);
    }
    let e = ((a.to_bits() >> 23) as i32) - 127;
    2f64.powi(e - 23)
}

/// The worst error of `op` in ulp on `domain`, and in absolute terms elsewhere; asserts
/// that special values (NaN, infinities, overflow) match exactly.
fn errors(op: &str, domain: impl Fn(f64) -> bool) -> (f64, f32, f64, f32) {
    let xs = inputs();
    let got = run(op, &xs);
    let (mut worst_ulp, mut at_ulp, mut worst_abs, mut at_abs) = (0f64, 0f32, 0f64, 0f32);
    for (x, g) in xs.iter().zip(&got) {
        let r = reference(op, f64::from(*x));
        let rf = r as f32;
        if rf.is_nan() || !rf.is_finite() {
            assert!(
                g.to_bits() == rf.to_bits() || (g.is_nan() && rf.is_nan()),
                "{op}({x:e}) = {g:e}, want {rf:e}"
            );
            continue;
        }
        assert!(g.is_finite(), "{op}({x:e}) = {g:e}, want {rf:e}");
        let d = (f64::from(*g) - r).abs();
        if domain(f64::from(*x)) {
            let e = d / ulp(rf);
            if e > worst_ulp {
                (worst_ulp, at_ulp) = (e, *x);
            }
        } else if d > worst_abs {
            (worst_abs, at_abs) = (d, *x);
        }
    }
    println!("{op}: {worst_ulp:.3} ulp at {at_ulp:e}; {worst_abs:e} absolute at {at_abs:e}");
    (worst_ulp, at_ulp, worst_abs, at_abs)
}

/// Asserts the documented bounds: `ulp` on `domain`, `abs` elsewhere.
fn check(op: &str, domain: impl Fn(f64) -> bool, ulp_bound: f64, abs_bound: f64) {
    let (u, ux, a, ax) = errors(op, domain);
    assert!(
        u <= ulp_bound,
        "{op}: {u} ulp at {ux:e} (documented: {ulp_bound})"
    );
    assert!(
        a <= abs_bound,
        "{op}: {a:e} absolute at {ax:e} (documented: {abs_bound:e})"
    );
}

#[test]
fn exp_within_bound() {
    check("exp", |_| true, 1.0, 0.0);
}

#[test]
fn log_within_bound() {
    check("log", |_| true, 1.0, 0.0);
}

#[test]
fn tanh_within_bound() {
    check("tanh", |_| true, 2.0, 0.0);
}

#[test]
fn erf_within_bound() {
    check("erf", |_| true, 2.5, 0.0);
}

#[test]
fn sigmoid_within_bound() {
    check("sigmoid", |_| true, 2.5, 0.0);
}

/// Every input, denormal results included (`exp(-|x|)` is a denormal below -87.3, but its
/// last power-of-two factor is applied after the product and the division).
#[test]
fn silu_within_bound() {
    check("silu", |_| true, 3.0, 0.0);
}

/// The negative tail loses relative accuracy (the argument of `exp` grows as `x^2 / 2`).
#[test]
fn gelu_within_bound() {
    check("gelu", |x| x >= -3.0, 7.0, 2e-9);
    check("gelu", |x| x >= -5.0, 11.0, 1e-12);
}

/// The negative tail loses relative accuracy (the `f32` argument `v` grows as `x^3`).
#[test]
fn gelu_tanh_within_bound() {
    check("gelu_tanh", |x| x >= -1.0, 3.5, 5e-8);
}

#[test]
fn rsqrt_within_bound() {
    check("rsqrt", |_| true, 1.5, 0.0);
}

/// A row map whose sum is fused into its loop, as the gelu+layernorm kernel's prologue.
fn row_kernel(op: &str) -> String {
    format!(
        "tile.kernel @g(%x: buf<f32[R, 128]>, %out: buf<f32[R, 128]>, %s: buf<f32[R]>) attributes {{grid = sizes[R]}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %z = tile.index {{value = sizes[0]}} : () -> index
  %a = tile.load %x, %i, %z : (buf<f32[R, 128]>, index, index) -> tile<1x128xf32>
  %r = tile.map %a : (tile<1x128xf32>) -> tile<1x128xf32> (%p: f32) {{
    %v = graph.{op} %p : (f32) -> f32
    tile.yield %v : f32
  }}
  tile.store %r, %out, %i, %z : (tile<1x128xf32>, buf<f32[R, 128]>, index, index) -> ()
  %t = tile.reduce %r {{axis = 1, kind = \"sum\"}} : (tile<1x128xf32>) -> tile<1xf32>
  tile.store %t, %s, %i : (tile<1xf32>, buf<f32[R]>, index) -> ()
}}"
    )
}

/// `gelu_tanh`'s eleven constants and the running sum of a fused reduction fit in the
/// registers: the loop reads no constant table (its constants are `vconst`s, hoisted by
/// Cranelift), gives the same bits as the plain map and sums them. `exp`'s constants do
/// not fit and stay in the frame's table, read next to each use.
#[test]
fn few_constants_stay_in_registers() {
    let b = JitBackend::new().unwrap();
    let g = b.compile(&module(&row_kernel("gelu_tanh")), "g").unwrap();
    let clif = tessera_codegen_cpu::clif_text(&g);
    assert!(!clif.contains("readonly can_move"), "{clif}");
    assert!(clif.matches(" = vconst.f32x4 ").count() >= 11, "{clif}");
    let e = b.compile(&module(&row_kernel("exp")), "g").unwrap();
    let clif = tessera_codegen_cpu::clif_text(&e);
    assert!(clif.matches("readonly can_move").count() >= 12, "{clif}");
    // Values: the plain map's bits, and their sum within the f32 accumulation bound.
    let rows = 5;
    let xs: Vec<f32> = (0..rows * 128)
        .map(|k| -12.0 + 24.0 * ((k * 7919) % 1021) as f32 / 1021.0)
        .collect();
    let want = run("gelu_tanh", &xs);
    let t =
        |v: Vec<f32>, s: Vec<usize>| Tensor::from_f32(tessera_dialects::DType::F32, s, v).unwrap();
    let mut bufs = vec![
        t(xs.clone(), vec![rows, 128]),
        t(vec![0.0; rows * 128], vec![rows, 128]),
        t(vec![0.0; rows], vec![rows]),
    ];
    let sizes: BTreeMap<String, i64> = [("R".to_string(), rows as i64)].into();
    g.run_tensors(&mut bufs, &sizes).unwrap();
    let got = bufs[1].to_f64_vec();
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!((*g as f32).to_bits(), w.to_bits(), "element {k}");
    }
    for (r, s) in bufs[2].to_f64_vec().iter().enumerate() {
        let row = &got[r * 128..(r + 1) * 128];
        let exact: f64 = row.iter().sum();
        let bound = 128.0 * f64::from(f32::EPSILON) * row.iter().map(|v| v.abs()).sum::<f64>();
        assert!((s - exact).abs() <= bound, "row {r}: {s} against {exact}");
    }
}
