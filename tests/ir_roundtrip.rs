//! Every program we have (examples, the conformance corpus, the front end's good UI
//! files) lowers to graph IR that verifies, prints, and parses back to the same IR; the
//! default pass pipeline keeps it valid and keeps its values (checked in the interpreter
//! on random inputs).

use std::path::{Path, PathBuf};
use tessera::Program;
use tessera_dialects::parse::parse_module;
use tessera_dialects::print::print_module;
use tessera_dialects::renumber::renumber;
use tessera_dialects::verify::verify_module;
use tessera_tensor::Tensor;

mod common;

use common::random_inputs;

fn programs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        "examples",
        "tests/programs",
        "compiler/frontend/tests/ui/check/ok",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "tsr") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn same_values(a: &[Tensor], b: &[Tensor]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.dtype() == y.dtype()
                && x.shape() == y.shape()
                && x.to_f64_vec().iter().zip(y.to_f64_vec()).all(|(p, q)| {
                    p == &q || (p.is_nan() && q.is_nan()) || (p - q).abs() <= 1e-5 * (1.0 + q.abs())
                })
        })
}

#[test]
fn every_program_round_trips_verifies_and_optimises() {
    let files = programs();
    assert!(
        files.len() >= 50,
        "expected the examples and the corpus, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    let (mut ran, mut both_failed) = (0, Vec::new());
    for path in &files {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(path).expect("readable");
        // Files with expected errors are the UI tests' business.
        if src.contains("//~") {
            continue;
        }
        let prog = match Program::from_source(&name, &src) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{name}: does not compile:\n{}", e.render(false)));
                continue;
            }
        };
        checked += 1;
        let lowered = &prog.module;
        if let Err(errs) = verify_module(lowered) {
            failures.push(format!("{name}: lowered IR does not verify: {errs:?}"));
        }
        let text = print_module(lowered);
        match parse_module(&text) {
            Ok(back) if back == renumber(lowered) && print_module(&back) == text => {}
            Ok(_) => failures.push(format!(
                "{name}: the IR does not parse back to itself:\n{text}"
            )),
            Err(e) => failures.push(format!(
                "{name}: the printed IR does not parse: {} at {:?}\n{text}",
                e.message, e.span
            )),
        }
        let opt = match prog.optimized() {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: the pipeline failed: {e}"));
                continue;
            }
        };
        if let Err(errs) = verify_module(&opt) {
            failures.push(format!("{name}: optimised IR does not verify: {errs:?}"));
        }
        let opt_text = print_module(&opt);
        if parse_module(&opt_text).map(|m| print_module(&m)) != Ok(opt_text.clone()) {
            failures.push(format!("{name}: the optimised IR does not round-trip"));
        }
        if opt
            .funcs
            .iter()
            .any(|f| f.body.ops.iter().any(|o| o.op.full_name() == "graph.call"))
        {
            failures.push(format!("{name}: calls remain after inlining"));
        }
        // Compiling one function inlines only it (`optimized_for`): the same function,
        // printed identically, as the whole module's pipeline makes.
        for f in &opt.funcs {
            let one = prog.optimized_for(&f.name).map(|m| print_module(&m));
            let want = print_module(&tessera_dialects::Module {
                funcs: vec![f.clone()],
            });
            if one.as_ref().ok() != Some(&want) {
                failures.push(format!(
                    "{name}: optimized_for(@{}) differs from optimized():\n{}\nvs\n{want}",
                    f.name,
                    one.unwrap_or_else(|e| e.to_string())
                ));
            }
        }
        for f in &lowered.funcs {
            let inputs = random_inputs(&prog, &f.name, 3);
            let want = tessera_interp::run_func(lowered, &f.name, inputs.clone());
            let got = tessera_interp::run_func(&opt, &f.name, inputs);
            match (want, got) {
                (Ok(w), Ok(g)) if same_values(&w, &g) => ran += 1,
                // Random data can make a program fail at run time (e.g. a slice past a
                // small size); then both must fail alike.
                (Err(e), Err(_)) => both_failed.push(format!("{name}: {}", e.message)),
                (w, g) => failures.push(format!(
                    "{name}: @{} differs after optimisation: {w:?} vs {g:?}",
                    f.name
                )),
            }
        }
    }
    assert!(checked >= 50, "only {checked} programs compiled");
    assert!(
        both_failed.len() * 10 <= ran,
        "too many programs fail on random inputs of size 3: {both_failed:#?}"
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
