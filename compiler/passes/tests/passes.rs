//! IR-in/IR-out tests of every pass: each `ir/NAME.tir` names its passes in a
//! `// passes: a,b` header; the output must equal `ir/NAME.out.tir` (rewrite the goldens
//! with `TESSERA_BLESS=1`), must differ from the input (a pass that silently does nothing
//! fails), must verify, and must compute the same values as the input in the reference
//! interpreter on random inputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tessera_dialects::parse::parse_module;
use tessera_dialects::print::print_module;
use tessera_dialects::verify::verify_module;
use tessera_dialects::Module;
use tessera_passes::PassManager;
use tessera_tensor::Tensor;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ir");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/ir exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "tir") && !p.to_string_lossy().ends_with(".out.tir")
        })
        .collect();
    files.sort();
    files
}

fn passes_of(src: &str) -> Vec<String> {
    let line = src
        .lines()
        .find_map(|l| l.strip_prefix("// passes:"))
        .expect("a `// passes:` header");
    line.split(',').map(|s| s.trim().to_string()).collect()
}

/// Random inputs for every parameter, with every size name bound to 3.
fn random_inputs(m: &Module, func: &str, seed: u64) -> Vec<Tensor> {
    let f = m.func(func).expect("function exists");
    let sizes: BTreeMap<String, i64> = f
        .params
        .iter()
        .flat_map(|p| {
            f.tensor_ty(*p)
                .expect("tensor param")
                .shape
                .iter()
                .flat_map(|d| d.names())
        })
        .map(|n| (n, 3))
        .collect();
    f.params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ty = f.tensor_ty(*p).expect("tensor param");
            let shape: Vec<usize> = ty
                .shape
                .iter()
                .map(|d| d.eval_map(&sizes).expect("bound") as usize)
                .collect();
            tessera_tensor::random::uniform(ty.dtype, &shape, -2.0, 2.0, seed + i as u64)
                .expect("random tensor")
        })
        .collect()
}

fn close(a: &Tensor, b: &Tensor) -> bool {
    a.dtype() == b.dtype()
        && a.shape() == b.shape()
        && a.to_f64_vec()
            .iter()
            .zip(b.to_f64_vec())
            .all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()))
}

#[test]
fn passes_ir_in_ir_out() {
    let bless = std::env::var_os("TESSERA_BLESS").is_some();
    let mut failures = Vec::new();
    let files = cases();
    assert!(files.len() >= 8, "the corpus is missing");
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let src = std::fs::read_to_string(&path).expect("readable");
        let input = match parse_module(&src) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!(
                    "{name}: does not parse: {} at {:?}",
                    e.message, e.span
                ));
                continue;
            }
        };
        if let Err(errs) = verify_module(&input) {
            failures.push(format!("{name}: input does not verify: {errs:?}"));
            continue;
        }
        let names = passes_of(&src);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut pm = PassManager::new(&names).expect("known passes");
        pm.verify_each = true;
        let mut output = input.clone();
        if let Err(e) = pm.run(&mut output) {
            failures.push(format!("{name}: pipeline failed: {e}"));
            continue;
        }
        let printed = print_module(&output);
        if printed == print_module(&input) {
            failures.push(format!("{name}: the passes changed nothing"));
        }
        let golden = path.with_extension("out.tir");
        if bless {
            std::fs::write(&golden, &printed).expect("writable golden");
        } else {
            match std::fs::read_to_string(&golden) {
                Ok(want) if want == printed => {}
                Ok(want) => failures.push(format!(
                    "{name}: output differs from {} (TESSERA_BLESS=1 rewrites it)\n--- want\n{want}\n--- got\n{printed}",
                    golden.display()
                )),
                Err(_) => failures.push(format!("{name}: no golden {}; run with TESSERA_BLESS=1", golden.display())),
            }
        }
        // The printed output is itself valid IR.
        if let Err(e) = parse_module(&printed) {
            failures.push(format!("{name}: output does not parse back: {}", e.message));
        }
        // Same values as the input, for every function of the output.
        for f in &output.funcs {
            for seed in [1u64, 7] {
                let inputs = random_inputs(&input, &f.name, seed * 100);
                let want = tessera_interp::run_func(&input, &f.name, inputs.clone());
                let got = tessera_interp::run_func(&output, &f.name, inputs);
                match (want, got) {
                    (Ok(w), Ok(g))
                        if w.len() == g.len() && w.iter().zip(&g).all(|(a, b)| close(b, a)) => {}
                    (w, g) => failures.push(format!(
                        "{name}: @{} computes different values: {w:?} vs {g:?}",
                        f.name
                    )),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A call tree that doubles at every level inlines in linear time and size, and a long
/// chain of calls has no depth limit.
#[test]
fn inlining_is_linear_and_unbounded_in_depth() {
    let levels = 60;
    let mut src = String::from("graph.func @main(%x: f32[4]) -> (f32[4]) {\n  %0 = graph.call %x {callee = @g0} : (f32[4]) -> f32[4]\n  graph.return %0 : f32[4]\n}\n");
    for i in 0..levels {
        src.push_str(&format!(
            "graph.func @g{i}(%x: f32[4]) -> (f32[4]) {{\n  %0 = graph.call %x {{callee = @g{n}}} : (f32[4]) -> f32[4]\n  %1 = graph.call %x {{callee = @g{n}}} : (f32[4]) -> f32[4]\n  %2 = graph.add %0, %1 : (f32[4], f32[4]) -> f32[4]\n  graph.return %2 : f32[4]\n}}\n",
            n = i + 1
        ));
    }
    src.push_str(&format!("graph.func @g{levels}(%x: f32[4]) -> (f32[4]) {{\n  %0 = graph.exp %x : (f32[4]) -> f32[4]\n  graph.return %0 : f32[4]\n}}\n"));
    let mut m = parse_module(&src).expect("parses");
    let mut pm = PassManager::new(&["inline"]).expect("known pass");
    pm.verify_each = true;
    pm.run(&mut m).expect("inlines");
    let main = m.func("main").expect("main");
    // One exp and one add per level, plus the return.
    assert_eq!(main.body.ops.len(), levels + 2, "{}", print_module(&m));
    let x = Tensor::new(
        tessera_dialects::DType::F32,
        vec![4],
        tessera_tensor::Data::Float(vec![0.0, 0.5, -1.0, 1e-3]),
    )
    .expect("tensor");
    let y = tessera_interp::run_func(&m, "main", vec![x.clone()]).expect("runs");
    let e: Vec<f64> = x
        .to_f64_vec()
        .iter()
        .map(|v| (*v as f32).exp() as f64)
        .collect();
    let scale = 2f64.powi(levels as i32);
    for (got, want) in y[0].to_f64_vec().iter().zip(e) {
        assert!(
            (got - want * scale).abs() <= 1e-6 * want * scale,
            "{got} vs {}",
            want * scale
        );
    }
}

/// The IR text of a call chain of `n` functions: `main` calls `g1`, each `gK` returns
/// `g(K+1)(x) + x`, the last `tanh(x)` (what `scripts/call_chain.py` writes as `.tsr`).
fn chain(n: usize) -> String {
    let t = "f32[B, 16]";
    let mut src = format!(
        "graph.func @main(%x: {t}) -> ({t}) {{\n  %0 = graph.call %x {{callee = @g1}} : ({t}) -> {t}\n  graph.return %0 : {t}\n}}\n"
    );
    for k in 1..n {
        src.push_str(&format!(
            "graph.func @g{k}(%x: {t}) -> ({t}) {{\n  %0 = graph.call %x {{callee = @g{}}} : ({t}) -> {t}\n  %1 = graph.add %0, %x : ({t}, {t}) -> {t}\n  graph.return %1 : {t}\n}}\n",
            k + 1
        ));
    }
    src.push_str(&format!(
        "graph.func @g{n}(%x: {t}) -> ({t}) {{\n  %0 = graph.tanh %x : ({t}) -> {t}\n  graph.return %0 : {t}\n}}\n"
    ));
    src
}

/// A chain of 1000 nested calls: `inline::entry` inlines `main` alone (each callee copied
/// once, not inlined into every caller first), with the pipeline after it, and gives the
/// function the whole module's inlining gives (checked on a shorter chain, whose whole
/// inlined module stays small).
#[test]
fn a_chain_of_1000_calls_inlines_main_once() {
    let n = 1000;
    let mut m = parse_module(&chain(n)).expect("parses");
    let calls = tessera_passes::inline::entry(&mut m, "main").expect("inlines");
    assert_eq!(calls, n, "one call per function");
    assert_eq!(m.funcs.len(), 1, "only main is kept");
    let mut pm = PassManager::new(&["canonicalize", "cse", "dce"]).expect("known passes");
    pm.verify_each = true;
    pm.run(&mut m).expect("runs");
    // tanh, n - 1 adds and the return.
    assert_eq!(m.funcs[0].body.ops.len(), n + 1, "{}", print_module(&m));

    let short = chain(50);
    let mut whole = parse_module(&short).expect("parses");
    PassManager::default_pipeline()
        .run(&mut whole)
        .expect("runs");
    let mut one = parse_module(&short).expect("parses");
    tessera_passes::inline::entry(&mut one, "main").expect("inlines");
    PassManager::new(&["canonicalize", "cse", "dce"])
        .expect("known passes")
        .run(&mut one)
        .expect("runs");
    let main = whole.func("main").expect("main").clone();
    assert_eq!(
        print_module(&one),
        print_module(&Module { funcs: vec![main] })
    );
}
