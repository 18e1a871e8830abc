//! The harness shared by the lowering tests: compile and inline a program, random inputs,
//! run a tiled plan in the tile interpreter, compare results.

#![allow(dead_code)] // each test crate uses a part

use std::collections::BTreeMap;
use tessera_dialects::Module;
use tessera_tensor::Tensor;
use tessera_tiling::Tiled;

/// Parses, checks, lowers and inlines a program.
pub fn graph(src: &str) -> Module {
    let mut m = tessera_frontend::compile(src).expect("the program compiles");
    tessera_passes::PassManager::new(&["inline", "canonicalize", "cse", "dce"])
        .expect("passes")
        .run(&mut m)
        .expect("pipeline");
    m
}

pub fn inputs(m: &Module, sizes: &BTreeMap<String, i64>, seed: u64) -> Vec<Tensor> {
    let f = m.func("main").expect("main");
    f.params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = f.tensor_ty(*p).expect("tensor");
            let shape: Vec<usize> = t
                .shape
                .iter()
                .map(|d| d.eval_map(sizes).expect("bound") as usize)
                .collect();
            tessera_tensor::random::uniform(t.dtype, &shape, -2.0, 2.0, seed + i as u64)
                .expect("random")
        })
        .collect()
}

pub fn run_tiled(t: &Tiled, xs: Vec<Tensor>) -> Vec<Tensor> {
    t.execute(xs, &mut |m, k, bufs, sizes| {
        tessera_interp::run_kernel(m, k, bufs, sizes).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|e| panic!("{e}\n{t}"))
}

pub fn close(got: &[Tensor], want: &[Tensor], rtol: f64) -> Result<(), String> {
    for (g, w) in got.iter().zip(want) {
        if g.dtype() != w.dtype() || g.shape() != w.shape() {
            return Err(format!(
                "{:?}{:?} vs {:?}{:?}",
                g.dtype(),
                g.shape(),
                w.dtype(),
                w.shape()
            ));
        }
        for (a, b) in g.to_f64_vec().iter().zip(w.to_f64_vec()) {
            let ok =
                (a.is_nan() && b.is_nan()) || a == &b || (a - b).abs() <= rtol * (1.0 + b.abs());
            if !ok {
                return Err(format!("{a} vs {b}"));
            }
        }
    }
    Ok(())
}
