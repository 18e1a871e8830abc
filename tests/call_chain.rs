//! A chain of 1000 nested calls (`main` calls `g1`, each `gK` returns `g(K+1)(x) + x`)
//! compiles for the CPU back end and gives the interpreter's values: compiling one
//! function inlines it alone (`Program::optimized_for`), not every function of the chain
//! into its caller first. Its compile time is measured by `cargo bench --bench call_chain`
//! (docs/BENCHMARKS.md); no timing is asserted here.

use tessera::{Fusion, Program};
use tessera_dialects::DType;
use tessera_tensor::Tensor;

/// The `.tsr` text `scripts/call_chain.py` writes.
fn chain_source(n: usize) -> String {
    let mut s = String::from("fn main(x: f32[B, 16]) -> f32[B, 16] {\n    g1(x) * 0.5\n}\n");
    for k in 1..n {
        s.push_str(&format!(
            "fn g{k}(x: f32[B, 16]) -> f32[B, 16] {{\n    g{}(x) + x\n}}\n",
            k + 1
        ));
    }
    s.push_str(&format!(
        "fn g{n}(x: f32[B, 16]) -> f32[B, 16] {{\n    tanh(x)\n}}\n"
    ));
    s
}

#[test]
fn a_chain_of_1000_calls_compiles_and_runs() {
    let n = 1000;
    let mut prog = Program::from_source("chain.tsr", &chain_source(n)).expect("checks");
    // Elementwise fusion decided by tiling: the e-graph's time on a 2000-operation
    // function is the e-graph's own matter (docs/BENCHMARKS.md).
    prog.fusion = Fusion::Basic;
    let opt = prog.optimized_for("main").expect("optimises");
    assert_eq!(opt.funcs.len(), 1);
    // tanh, n - 1 adds, the scale and its constant, the return.
    assert_eq!(opt.funcs[0].body.ops.len(), n + 3);
    let x = Tensor::from_f32(
        DType::F32,
        vec![2, 16],
        (0..32).map(|i| (i as f32 - 16.0) / 8.0).collect(),
    )
    .unwrap();
    let want = prog
        .run_interp("main", vec![x.clone()])
        .expect("interprets");
    let got = prog
        .cpu_executable("main")
        .expect("compiles")
        .run(vec![x.clone()])
        .expect("runs");
    for ((g, w), x) in got[0]
        .to_f64_vec()
        .iter()
        .zip(want[0].to_f64_vec())
        .zip(x.to_f64_vec())
    {
        // 0.5 (tanh x + 999 x), summed in f32 by both.
        let exact = 0.5 * (x.tanh() + (n - 1) as f64 * x);
        assert!((g - w).abs() <= 1e-3 * (1.0 + w.abs()), "{g} vs {w}");
        assert!(
            (w - exact).abs() <= 1e-3 * (1.0 + exact.abs()),
            "{w} vs {exact}"
        );
    }
}
