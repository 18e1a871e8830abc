//! `--precision auto` (`tessera_egraph::auto`): the accuracy loop on calibration data
//! measured in the interpreter, IR in and IR out: the budget decides which contractions
//! are lowered, an offending lowering is rejected and extraction repeats, and the result
//! is deterministic.

mod common;

use common::*;
use tessera_dialects::{DType, Func, Module};
use tessera_egraph::auto::{choose, Auto};
use tessera_egraph::{OptError, Options};
use tessera_tensor::Tensor;

const TWO_LAYERS: &str =
    "fn main(x: f32[N, 256], w1: f32[256, 256], w2: f32[256, 256]) -> f32[N, 256] {
    relu(x @ w1) @ w2
}";

/// Two independent contractions, two results.
const SIDE_BY_SIDE: &str =
    "fn main(x: f32[N, 256], w1: f32[256, 256], y: f32[N, 256], w2: f32[256, 256])
    -> (f32[N, 256], f32[N, 256]) {
    (x @ w1, y @ w2)
}";

fn module(src: &str) -> Module {
    let mut m = tessera_frontend::compile(src).expect("the program compiles");
    tessera_passes::PassManager::default_pipeline()
        .run(&mut m)
        .expect("pipeline");
    m
}

/// Calibration data: random operands; with `outlier`, column 0 of the first parameter is
/// 1000 and row 0 of the second is 0: the outlier does not reach the result, but it
/// takes the whole range of any i8 scale it shares with the other values, which then
/// quantise to 0.
fn calibration(f: &Func, rows: i64, outlier: bool) -> Vec<Tensor> {
    let mut sizes = all_sizes(f, rows);
    sizes.insert("N".into(), rows);
    let mut xs = inputs(f, &sizes, 7);
    if outlier {
        let x = &xs[0];
        let mut v = x.to_f32_vec();
        for r in 0..rows as usize {
            v[r * 256] = 1000.0;
        }
        xs[0] = Tensor::from_f32(DType::F32, x.shape().to_vec(), v).expect("tensor");
        let w = &xs[1];
        let mut v = w.to_f32_vec();
        for x in v.iter_mut().take(256) {
            *x = 0.0;
        }
        xs[1] = Tensor::from_f32(DType::F32, w.shape().to_vec(), v).expect("tensor");
    }
    xs
}

/// The normwise error of `candidate` against `m`'s `main` on `data`, counting the calls.
fn measurer<'a>(
    m: &'a Module,
    data: &'a [Tensor],
    calls: &'a mut usize,
) -> impl FnMut(&Func) -> Result<f64, OptError> + 'a {
    let want = tessera_interp::run_func(m, "main", data.to_vec()).expect("reference");
    move |candidate: &Func| {
        *calls += 1;
        let got = tessera_interp::run_func(&with_func(m, candidate), "main", data.to_vec())
            .map_err(|e| OptError::new(e.message))?;
        let mut worst = 0.0f64;
        for (g, w) in got.iter().zip(&want) {
            let (mut diff, mut scale) = (0.0f64, 0.0f64);
            for (a, b) in g.to_f64_vec().iter().zip(w.to_f64_vec()) {
                diff = diff.max((a - b).abs());
                scale = scale.max(b.abs());
            }
            worst = worst.max(diff / scale.max(f64::MIN_POSITIVE));
        }
        Ok(worst)
    }
}

fn run(src: &str, max_error: f64, outlier: bool) -> (Module, Auto, usize) {
    let m = module(src);
    let f = m.func("main").expect("main").clone();
    let data = calibration(&f, 16, outlier);
    let mut calls = 0;
    let auto = {
        let mut measure = measurer(&m, &data, &mut calls);
        choose(&f, &Options::default(), max_error, &mut measure).expect("auto")
    };
    // The chosen program verifies and its error, measured again, is the reported one.
    let after = with_func(&m, &auto.func);
    let mut again = 0;
    let e = measurer(&m, &data, &mut again)(&auto.func).expect("measures");
    assert_eq!(e, auto.report.error);
    let _ = after;
    (m, auto, calls)
}

#[test]
fn a_generous_budget_takes_the_cheapest_form_everywhere_in_one_round() {
    let (_, auto, calls) = run(TWO_LAYERS, 1.0, false);
    let text = tessera_dialects::print_func(&auto.func);
    assert_eq!(auto.report.rounds.len(), 1, "{:?}", auto.report);
    assert_eq!(calls, 1);
    for s in &auto.report.sites {
        assert!(s.chosen.starts_with("int8"), "{s:?}");
    }
    assert_eq!(text.matches("-> i32[").count(), 2, "{text}");
    assert!(auto.report.error <= 1.0);
}

#[test]
fn a_zero_budget_keeps_every_contraction_in_f32() {
    let (m, auto, _) = run(TWO_LAYERS, 0.0, false);
    let text = tessera_dialects::print_func(&auto.func);
    assert_eq!(auto.report.error, 0.0);
    assert!(
        !text.contains("quantize") && !text.contains("cast"),
        "{text}"
    );
    assert_eq!(
        text,
        tessera_dialects::print_func(m.func("main").unwrap()),
        "all-f32 is the program as written"
    );
    for s in &auto.report.sites {
        assert_eq!(s.chosen, "f32");
        assert!(!s.rejected.is_empty(), "{s:?}");
    }
}

#[test]
fn an_offending_lowering_is_rejected_and_extraction_repeats() {
    // The outlier ruins the i8 activations of the first contraction; the second one
    // quantises well.
    let (_, auto, calls) = run(SIDE_BY_SIDE, 3e-2, true);
    let r = &auto.report;
    assert!(r.rounds.len() >= 2, "{r:?}");
    assert!(r.error <= 3e-2, "{r:?}");
    for round in &r.rounds[..r.rounds.len() - 1] {
        assert!(round.error > 3e-2, "{round:?}");
        let (site, _, alone) = round.rejected.expect("a rejection per round over budget");
        assert_eq!(site, 0, "the first contraction is the offender: {r:?}");
        assert!(alone > 3e-2, "{round:?}");
    }
    assert!(!r.sites[0].rejected.is_empty());
    assert!(r.sites[1].rejected.is_empty(), "{r:?}");
    assert!(r.sites[1].chosen.starts_with("int8"), "{r:?}");
    // One measurement per round, plus one per rejected form measured alone.
    assert!(calls <= 2 * r.rounds.len(), "{calls} calls for {r:?}");
}

#[test]
fn the_choice_is_deterministic() {
    let (_, a, _) = run(SIDE_BY_SIDE, 3e-2, true);
    let (_, b, _) = run(SIDE_BY_SIDE, 3e-2, true);
    assert_eq!(
        tessera_dialects::print_func(&a.func),
        tessera_dialects::print_func(&b.func)
    );
    assert_eq!(a.report, b.report);
    let explain = a.report.explain(&|_| None);
    assert!(explain.contains("round 1:"), "{explain}");
    assert!(explain.contains("rejected"), "{explain}");
    assert!(
        explain.contains("measured error on the calibration data"),
        "{explain}"
    );
}

#[test]
fn every_form_of_every_site_is_an_alternative_priced_by_the_cost_model() {
    let m = module(TWO_LAYERS);
    let f = m.func("main").unwrap();
    let c = tessera_egraph::auto::Candidates::new(f, &Options::default()).expect("candidates");
    assert_eq!(c.sites.len(), 2);
    // The form as written prices the same program, the one as written, at every site.
    let as_written: Vec<f64> = c
        .sites
        .iter()
        .map(|s| {
            s.alternatives
                .iter()
                .find(|a| a.form.is_none())
                .expect("f32")
                .predicted_s
        })
        .collect();
    assert_eq!(as_written[0], as_written[1]);
    for s in &c.sites {
        // f32 and the six forms (K = 256 allows blocks of 32).
        assert_eq!(s.alternatives.len(), 7, "{s:?}");
        assert!(s
            .alternatives
            .windows(2)
            .all(|w| w[0].predicted_s <= w[1].predicted_s));
        // Each alternative builds a program that computes the same function within the
        // form's tolerance: checked by the rule tests; here, that each one verifies.
        for i in 0..s.alternatives.len() {
            let mut plan = c.uniform(None);
            plan[0] = i;
            with_func(&m, &c.build(&plan).expect("builds"));
        }
    }
}

#[test]
fn a_program_without_contractions_is_unchanged() {
    let (m, auto, calls) = run(
        "fn main(x: f32[N, 256]) -> f32[N, 256] { relu(x) * 2 }",
        0.0,
        false,
    );
    assert!(auto.report.sites.is_empty());
    assert_eq!(calls, 1);
    assert_eq!(
        tessera_dialects::print_func(&auto.func),
        tessera_dialects::print_func(m.func("main").unwrap())
    );
}

/// A matmul, an einsum and a conv2d: every contraction is a site.
const MIXED: &str = "fn main(x: f32[N, 64, 12, 12], w: f32[8, 64, 3, 3], q: f32[N, 32, 64],
    k: f32[N, 48, 64], v: f32[48, 32]) -> (f32[N, 8, 10, 10], f32[N, 32, 32]) {
    (conv2d(x, w), einsum(\"bqd,bkd->bqk\", q, k) @ v)
}";

#[test]
fn einsums_and_convolutions_are_sites_with_their_forms() {
    let m = module(MIXED);
    let f = m.func("main").unwrap();
    let c = tessera_egraph::auto::Candidates::new(f, &Options::default()).expect("candidates");
    let labels: Vec<&str> = c.sites.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels.len(), 3, "{labels:?}");
    assert!(labels[0].starts_with("conv2d #1 ("), "{labels:?}");
    assert!(
        labels[1].starts_with("einsum #1 (\"bqd,bkd->bqk\", "),
        "{labels:?}"
    );
    assert!(labels[2].starts_with("matmul #1 ("), "{labels:?}");
    for s in &c.sites {
        let mut names: Vec<&str> = s.alternatives.iter().map(|a| a.name()).collect();
        names.sort();
        // f32 and six forms; the matmul (K = 48) has no block32 form, the convolution
        // (C = 64) and the einsum (d = 64) have.
        let mut want = vec!["bf16", "f16", "f32", "fp8-e4m3"];
        if s.kind != tessera_egraph::Contraction::MatMul {
            want.push("int8/block32");
        }
        want.extend(["int8/row", "int8/tensor"]);
        assert_eq!(names, want, "{}", s.label);
        // Each alternative verifies and stays within its form's normwise bound.
        let data = calibration(f, 2, false);
        for i in 0..s.alternatives.len() {
            let mut plan = c.uniform(None);
            let at = c.sites.iter().position(|x| x.label == s.label).unwrap();
            plan[at] = i;
            let candidate = c.build(&plan).expect("builds");
            with_func(&m, &candidate);
            let e = measurer(&m, &data, &mut 0)(&candidate).expect("measures");
            let bound = match s.alternatives[i].name() {
                "f32" => 0.0,
                "f16" => 2e-3,
                "bf16" => 1e-2,
                "fp8-e4m3" => 0.15,
                _ => 0.05,
            };
            assert!(
                e <= bound,
                "{}: {} error {e}",
                s.label,
                s.alternatives[i].name()
            );
        }
    }
    // A generous budget lowers each one to its cheapest form, within the budget.
    let (_, auto, _) = run(MIXED, 1.0, false);
    assert_eq!(auto.report.rounds.len(), 1, "{:?}", auto.report);
    for (s, note) in c.sites.iter().zip(&auto.report.sites) {
        assert_eq!(note.chosen, s.alternatives[0].name(), "{note:?}");
        assert!(note.describe.len() > 10);
    }
    // A zero budget keeps them all in f32.
    let (m, auto, _) = run(MIXED, 0.0, false);
    assert_eq!(
        tessera_dialects::print_func(&auto.func),
        tessera_dialects::print_func(m.func("main").unwrap())
    );
}
