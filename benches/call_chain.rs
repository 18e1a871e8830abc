//! `cargo bench -p tessera --bench call_chain`: compile time of a chain of nested calls
//! (`main` calls `g1`, each `gK` returns `g(K+1)(x) + x`; `scripts/call_chain.py` writes
//! the same program as `.tsr`). Cases, each from the source text:
//!
//! - `check`: parse, check and lower to graph IR;
//! - `passes_main`: the default pipeline for `main` alone (`Program::optimized_for`:
//!   inlining into `main` only), what compiling `main` runs;
//! - `passes_module`: the default pipeline on the whole module (`Program::optimized`, as
//!   `tessera opt` runs it: every function inlined, so its output grows as `n^2 / 2`);
//! - `compile_basic`: `cpu_executable("main")` with `Fusion::Basic` (passes, tiling,
//!   Cranelift; no e-graph);
//! - `compile`: `cpu_executable("main")` with the default fusion (the e-graph included).
//!
//! Prints one JSON object per case (milliseconds). `CHAIN_BENCH_N` sets the chain's
//! length (default 1000), `CHAIN_BENCH_ITERS` the repetitions (default 3).

use std::time::Instant;
use tessera::{Fusion, Program};

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

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn time(name: &str, n: usize, iters: usize, mut f: impl FnMut()) {
    let mut ms: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "{{\"case\": \"{name}\", \"n\": {n}, \"runs\": {iters}, \"min_ms\": {:.2}, \"median_ms\": {:.2}, \"max_ms\": {:.2}}}",
        ms[0],
        ms[iters / 2],
        ms[iters - 1]
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    let n = env("CHAIN_BENCH_N", 1000);
    let iters = env("CHAIN_BENCH_ITERS", 3);
    let src = chain_source(n);
    let load = || Program::from_source("chain.tsr", &src).expect("the chain checks");
    time("check", n, iters, || {
        std::hint::black_box(load());
    });
    let prog = load();
    time("passes_main", n, iters, || {
        std::hint::black_box(prog.optimized_for("main").expect("optimises"));
    });
    time("passes_module", n, iters, || {
        std::hint::black_box(prog.optimized().expect("optimises"));
    });
    let mut basic = load();
    basic.fusion = Fusion::Basic;
    time("compile_basic", n, iters, || {
        std::hint::black_box(basic.cpu_executable("main").expect("compiles"));
    });
    time("compile", n, iters, || {
        std::hint::black_box(prog.cpu_executable("main").expect("compiles"));
    });
}
