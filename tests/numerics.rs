//! `log_softmax`, `silu` and `gelu` on both back ends (the interpreter and the CPU back end)
//! against `f64` references that have no cancellation of their own, with the bounds of
//! docs/numerics-cpu.md. The differential tests (`tests/common/mod.rs`, `mismatch`) allow
//! `1e-4` relative, far too loose to see these: a dominant logit's `log_softmax` of 0
//! instead of `-5e-14`, a `silu` computed from a denormal `exp`, a `gelu` tail of 0.

mod common;

use common::mismatch;
use tessera::Program;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

const SRC: &str = "
fn lsm(x: f32[R, C]) -> f32[R, C] {
    log_softmax(x, axis: -1)
}
fn lsm_prologue(x: f32[R, C]) -> f32[R, C] {
    log_softmax(x * 2.0, axis: -1)
}
fn lsm_axis0(x: f32[R, C]) -> f32[R, C] {
    log_softmax(x, axis: 0)
}
fn acts(x: f32[N]) -> (f32[N], f32[N]) {
    (silu(x), gelu(x))
}
fn f8_rows(x: f8e4m3[R, C]) -> (f8e4m3[R, C], f8e4m3[R, C]) {
    (softmax(x, axis: -1), log_softmax(x, axis: -1))
}
fn f8_rows_prologue(x: f32[R, C]) -> (f8e4m3[R, C], f8e4m3[R, C]) {
    (softmax(x as f8e4m3, axis: -1), log_softmax(x as f8e4m3, axis: -1))
}
";

fn program() -> Program {
    Program::from_source("numerics.tsr", SRC).unwrap()
}

/// The distance between adjacent `f32` values around `y` (`2^-149` for denormals).
fn ulp(y: f64) -> f64 {
    let a = (y as f32).abs();
    if a < f32::MIN_POSITIVE {
        return 2f64.powi(-149);
    }
    let e = ((a.to_bits() >> 23) as i32) - 127;
    2f64.powi(e - 23)
}

/// Both back ends' results of `f` on one input.
fn both(prog: &Program, f: &str, x: &Tensor) -> [Vec<Tensor>; 2] {
    let interp = prog.run_interp(f, vec![x.clone()]).expect("interpreter");
    let cpu = prog
        .cpu_executable(f)
        .expect("compiles")
        .run(vec![x.clone()])
        .expect("cpu");
    if let Some(m) = mismatch(&cpu, &interp) {
        panic!("{f}: the back ends disagree: {m}");
    }
    [interp, cpu]
}

/// A small deterministic generator (a linear congruence), uniform in `[lo, hi)`.
fn uniform(n: usize, lo: f32, hi: f32, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            lo + (hi - lo) * ((s >> 8) as f32 / (1u32 << 24) as f32)
        })
        .collect()
}

/// `x - max - log(sum(exp(x - max)))` of one row in `f64`, with the sum split into its
/// maxima (exact ones) and the rest, so that `log` of a sum within `f64`'s eps of 1 keeps
/// its digits; and for each element the CPU back end's bound (docs/numerics-cpu.md):
/// `ulp(r) + 2^-24 (|x - max| + (n + 6) |log sum|) + n 2^-149`.
fn log_softmax_row(x: &[f64]) -> Vec<(f64, f64)> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let c = x.iter().filter(|&&v| v == m).count() as f64;
    let t: f64 = x.iter().filter(|&&v| v != m).map(|&v| (v - m).exp()).sum();
    let ls = ((c - 1.0) + t).ln_1p();
    let n = x.len() as f64;
    let eps = 2f64.powi(-24);
    x.iter()
        .map(|&v| {
            let w = (v - m) - ls;
            let b = ulp(w) + eps * ((v - m).abs() + (n + 6.0) * ls) + n * 2f64.powi(-149);
            (w, b)
        })
        .collect()
}

/// Checks both back ends' `got` (flat) against `want` (flat): the interpreter (in `f64`,
/// rounded once) within one ulp, the CPU back end within the documented bound.
fn check_flat(f: &str, [interp, cpu]: &[Vec<Tensor>; 2], want: &[(f64, f64)]) {
    let (gi, gc) = (interp[0].to_f64_vec(), cpu[0].to_f64_vec());
    for (k, &(w, b)) in want.iter().enumerate() {
        assert!(
            (gi[k] - w).abs() <= ulp(w),
            "{f} interpreter, element {k}: {:e}, want {w:e}",
            gi[k]
        );
        assert!(
            (gc[k] - w).abs() <= b,
            "{f} cpu, element {k}: {:e}, want {w:e} (bound {b:e})",
            gc[k]
        );
    }
}

/// `log_softmax` of each row (times `scale`, which `f` applies first) on both back ends.
fn check_log_softmax(f: &str, rows: &[Vec<f32>], scale: f64) {
    let prog = program();
    let (r, c) = (rows.len(), rows[0].len());
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let x = Tensor::from_f32(DType::F32, vec![r, c], flat).unwrap();
    let got = both(&prog, f, &x);
    let want: Vec<(f64, f64)> = rows
        .iter()
        .flat_map(|row| {
            let xr: Vec<f64> = row.iter().map(|&v| v as f64 * scale).collect();
            log_softmax_row(&xr)
        })
        .collect();
    check_flat(f, &got, &want);
}

/// Rows with one dominant logit (the sum of the others' `exp` far below `f32`'s and
/// `f64`'s eps), near-ties, several maxima, and random rows of several scales.
fn rows(c: usize) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    let mut dominant = vec![-50.0f32; c];
    dominant[0] = 100.0;
    dominant[1 % c] = 0.0;
    out.push(dominant);
    let mut close = uniform(c, -40.0, -20.0, 3);
    close[c / 2] = 0.0;
    out.push(close);
    let mut tie = uniform(c, -30.0, -10.0, 5);
    tie[0] = 5.0;
    tie[c - 1] = 5.0;
    out.push(tie);
    let mut moderate = uniform(c, -12.0, -8.0, 9);
    moderate[1 % c] = 0.0;
    out.push(moderate);
    for (k, s) in [1.0f32, 10.0, 100.0].iter().enumerate() {
        out.push(uniform(c, -*s, *s, 11 + k as u32));
    }
    out
}

#[test]
fn log_softmax_with_a_dominant_logit() {
    for c in [1, 3, 8, 37, 300, 1000] {
        let rs = rows(c);
        check_log_softmax("lsm", &rs, 1.0);
        check_log_softmax("lsm_prologue", &rs, 2.0);
    }
    // The first example of the defect, exactly.
    let r = vec![vec![100.0, 0.0, -50.0, -50.0, -50.0, -50.0, -50.0, -50.0]];
    check_log_softmax("lsm", &r, 1.0);
    let prog = program();
    let x = Tensor::from_f32(DType::F32, vec![1, 8], r[0].clone()).unwrap();
    // -log(1 + e^-100) = -3.72e-44, a denormal: within one step of it.
    for got in both(&prog, "lsm", &x) {
        let v = got[0].to_f64_vec()[0];
        assert!((v - -(-100f64).exp()).abs() <= 2f64.powi(-149), "{v:e}");
    }
}

#[test]
fn log_softmax_over_the_first_axis() {
    // Columns with a dominant entry: the transposed lowering.
    let (r, c) = (40, 6);
    let mut v = uniform(r * c, -60.0, -20.0, 17);
    for j in 0..c {
        v[(j * 7 % r) * c + j] = 30.0;
    }
    let x = Tensor::from_f32(DType::F32, vec![r, c], v.clone()).unwrap();
    let prog = program();
    let got = both(&prog, "lsm_axis0", &x);
    let mut want = vec![(0.0, 0.0); r * c];
    for j in 0..c {
        let col: Vec<f64> = (0..r).map(|i| v[i * c + j] as f64).collect();
        for (i, wb) in log_softmax_row(&col).into_iter().enumerate() {
            want[i * c + j] = wb;
        }
    }
    check_flat("lsm_axis0", &got, &want);
}

/// `erf(z)` for `|z| <= 2.2` by its Taylor series (terms below `e^{z^2} < 130`, so no
/// more than 3 digits lost of `f64`'s 16).
fn erf_series(z: f64) -> f64 {
    let (mut term, mut sum) = (z, z);
    for n in 1..200 {
        term *= -z * z / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// `erfc(a)` for `a >= 2` by its continued fraction
/// `e^{-a^2} / sqrt(pi) / (a + (1/2) / (a + 1 / (a + (3/2) / (a + ...))))`, evaluated
/// from the bottom.
fn erfc_cf(a: f64) -> f64 {
    let mut f = a;
    for k in (1..400).rev() {
        f = a + (k as f64 / 2.0) / f;
    }
    (-a * a).exp() / std::f64::consts::PI.sqrt() / f
}

/// `x Phi(x)` without `libm` and without cancellation.
fn gelu_ref(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    let z = x / std::f64::consts::SQRT_2;
    let phi = if x.is_nan() {
        f64::NAN
    } else if z.abs() <= 2.2 {
        0.5 * (1.0 + erf_series(z))
    } else if z < 0.0 {
        0.5 * erfc_cf(-z)
    } else {
        1.0 - 0.5 * erfc_cf(z)
    };
    x * phi
}

fn silu_ref(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    let s = if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    };
    x * s
}

/// f8e4m3 has no infinity, so its row kernels pad with -448: a row whose maximum is -448
/// must not count that padding in its sum (a column mask after the widening cast).
#[test]
fn f8e4m3_softmax_ignores_its_padding() {
    let prog = program();
    // Rows of 3 (one tile, padded to the tile width): all -448; -448 and one larger value.
    let vals = vec![-448.0, -448.0, -448.0, -448.0, -448.0, -416.0];
    let x = Tensor::from_f32(DType::F8E4M3, vec![2, 3], vals.clone()).unwrap();
    let [interp, cpu] = both(&prog, "f8_rows", &x);
    let xf = Tensor::from_f32(DType::F32, vec![2, 3], vals).unwrap();
    let [interp_p, cpu_p] = both(&prog, "f8_rows_prologue", &xf);
    for (what, r) in [
        ("interp", &interp),
        ("cpu", &cpu),
        ("interp prologue", &interp_p),
        ("cpu prologue", &cpu_p),
    ] {
        let sm = r[0].to_f64_vec();
        let lsm = r[1].to_f64_vec();
        // 1/3 and log(1/3) rounded to E4M3; exp(-32) vanishes next to 1.
        for c in 0..3 {
            assert_eq!(sm[c], 0.34375, "{what} softmax {sm:?}");
            assert_eq!(lsm[c], -1.125, "{what} log_softmax {lsm:?}");
        }
        assert_eq!(&sm[3..], &[0.0, 0.0, 1.0], "{what} softmax {sm:?}");
    }
}

/// The sweep: `[-125, 10]` densely, then edges.
fn sweep() -> Vec<f32> {
    let mut xs: Vec<f32> = (0..=27_000).map(|i| -125.0 + i as f32 * 0.005).collect();
    xs.extend([
        -88.7,
        -88.72284,
        -87.33655,
        -91.8,
        -103.97,
        -108.8,
        -5.5,
        -5.6,
        -6.0,
        -8.485281,
        -10.0,
        -14.0,
        -38.5,
        0.0,
        -0.0,
        88.8,
        100.0,
        1e10,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e-45,
        -1e-45,
    ]);
    xs
}

/// Checks one activation's results: NaN and infinities exactly, finite values within
/// `ulp_bound` ulp where `domain` holds and `abs_bound` elsewhere.
fn check_act(what: &str, xs: &[f32], got: &[f64], want: impl Fn(f64) -> f64, bounds: &[Bound]) {
    for (x, g) in xs.iter().zip(got) {
        let w = want(*x as f64);
        let wf = w as f32 as f64;
        if !wf.is_finite() {
            assert!(
                g.to_bits() == wf.to_bits() || (g.is_nan() && wf.is_nan()),
                "{what}({x:e}) = {g:e}, want {wf:e}"
            );
            continue;
        }
        assert!(g.is_finite(), "{what}({x:e}) = {g:e}, want {w:e}");
        let b = bounds
            .iter()
            .find(|b| *x as f64 >= b.from)
            .expect("a bound for every input");
        let lim = b.ulp * ulp(w) + b.abs;
        assert!(
            (g - w).abs() <= lim,
            "{what}({x:e}) = {g:e}, want {w:e} (bound {lim:e})"
        );
    }
}

/// `ulp` ulp plus `abs` for the inputs `x >= from` (the first that matches applies).
struct Bound {
    from: f64,
    ulp: f64,
    abs: f64,
}

const fn bound(from: f64, ulp: f64, abs: f64) -> Bound {
    Bound { from, ulp, abs }
}

#[test]
fn silu_and_gelu_tails() {
    let xs = sweep();
    let prog = program();
    let x = Tensor::from_f32(DType::F32, vec![xs.len()], xs.clone()).unwrap();
    let [interp, cpu] = both(&prog, "acts", &x);
    let all = f64::NEG_INFINITY;
    // The interpreter computes in f64 and rounds once: within one ulp everywhere.
    check_act(
        "interp silu",
        &xs,
        &interp[0].to_f64_vec(),
        silu_ref,
        &[bound(all, 1.0, 0.0)],
    );
    check_act(
        "interp gelu",
        &xs,
        &interp[1].to_f64_vec(),
        gelu_ref,
        &[bound(all, 1.0, 0.0)],
    );
    // The CPU back end: docs/numerics-cpu.md.
    check_act(
        "cpu silu",
        &xs,
        &cpu[0].to_f64_vec(),
        silu_ref,
        &[bound(all, 3.0, 0.0)],
    );
    check_act(
        "cpu gelu",
        &xs,
        &cpu[1].to_f64_vec(),
        gelu_ref,
        &[
            bound(-3.0, 7.0, 0.0),
            bound(-5.0, 11.0, 0.0),
            bound(all, 0.0, 1e-12),
        ],
    );
    // The tail itself: the interpreter's gelu(-6) is -6 Phi(-6), not 0.
    let i6 = xs.iter().position(|&v| v == -6.0).unwrap();
    let g = interp[1].to_f64_vec()[i6];
    assert!((g / -5.919_526e-9 - 1.0).abs() < 1e-6, "{g:e}");
}
