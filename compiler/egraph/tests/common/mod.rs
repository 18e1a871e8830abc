//! The harness shared by the e-graph tests: compile and inline a program, optimise it,
//! random inputs, compare the interpreter's results before and after.

#![allow(dead_code)] // each test crate uses a part

use std::collections::BTreeMap;
use tessera_dialects::{Func, Module};
use tessera_egraph::{optimize, Optimized, Options};
use tessera_tensor::Tensor;

/// Parses, checks, lowers and inlines a program.
pub fn graph(src: &str) -> Module {
    let mut m = tessera_frontend::compile(src).expect("the program compiles");
    tessera_passes::PassManager::new(&["inline", "canonicalize", "cse", "dce"])
        .expect("passes")
        .run(&mut m)
        .expect("pipeline");
    m
}

/// Optimises `name` of `m` with `opts`; returns the module with the function replaced.
pub fn optimized(m: &Module, name: &str, opts: &Options) -> (Module, Optimized) {
    let f = m.func(name).expect("function");
    let o = optimize(f, opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut out = m.clone();
    for g in out.funcs.iter_mut() {
        if g.name == name {
            *g = o.func.clone();
        }
    }
    if let Err(es) = tessera_dialects::verify_module(&out) {
        panic!(
            "{name}: the optimised module does not verify: {es:?}\n{}",
            tessera_dialects::print_module(&out)
        );
    }
    (out, o)
}

/// The concrete shape of each parameter of `f` under `sizes`.
fn param_shapes<'f>(
    f: &'f Func,
    sizes: &'f BTreeMap<String, i64>,
) -> impl Iterator<Item = (tessera_dialects::DType, Vec<usize>)> + 'f {
    f.params.iter().map(move |p| {
        let t = f.tensor_ty(*p).expect("tensor");
        let shape = t
            .shape
            .iter()
            .map(|d| d.eval_map(sizes).expect("bound") as usize)
            .collect();
        (t.dtype, shape)
    })
}

pub fn inputs(f: &Func, sizes: &BTreeMap<String, i64>, seed: u64) -> Vec<Tensor> {
    param_shapes(f, sizes)
        .enumerate()
        .map(|(i, (dtype, shape))| {
            tessera_tensor::random::uniform(dtype, &shape, -2.0, 2.0, seed + i as u64)
                .expect("random")
        })
        .collect()
}

/// Inputs of `f` that cycle through IEEE edge values (signed zeros, NaN, infinities, a
/// subnormal, the largest finite `f32`) and a few ordinary ones, offset by `shift` so that
/// operands of one program see different values at one index.
pub fn edge_inputs(f: &Func, sizes: &BTreeMap<String, i64>) -> Vec<Tensor> {
    const EDGES: [f32; 10] = [
        -0.0,
        0.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.5,
        -2.5,
        1e-40,
        f32::MAX,
        -0.75,
    ];
    param_shapes(f, sizes)
        .enumerate()
        .map(|(i, (dtype, shape))| {
            let n: usize = shape.iter().product();
            let values = (0..n).map(|j| EDGES[(j + 3 * i) % EDGES.len()]).collect();
            Tensor::from_f32(dtype, shape, values).expect("edge tensor")
        })
        .collect()
}

/// The symbolic sizes of `f`'s signature, each bound to `v`.
pub fn all_sizes(f: &Func, v: i64) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for p in &f.params {
        if let Some(t) = f.tensor_ty(*p) {
            for d in &t.shape {
                for n in d.names() {
                    out.insert(n, v);
                }
            }
        }
    }
    out
}

/// Whether `got` equals `want` within `rtol` per element (NaN equals NaN); with `rtol` 0,
/// bit for bit, so that `-0` and `+0` differ.
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
            let ok = (a.is_nan() && b.is_nan())
                || if rtol == 0.0 {
                    a.to_bits() == b.to_bits()
                } else {
                    a == &b || (a - b).abs() <= rtol * (1.0 + b.abs())
                };
            if !ok {
                return Err(format!("{a} vs {b}"));
            }
        }
    }
    Ok(())
}

/// Runs `name` of `before` and `after` in the interpreter on the same random inputs.
pub fn same_values(before: &Module, after: &Module, name: &str, size: i64, rtol: f64) {
    let f = before.func(name).expect("function");
    let sizes = all_sizes(f, size);
    let xs = inputs(f, &sizes, 7);
    let want = tessera_interp::run_func(before, name, xs.clone()).expect("interp before");
    let got = tessera_interp::run_func(after, name, xs)
        .unwrap_or_else(|e| panic!("{name}: interp after: {e:?}"));
    if let Err(e) = close(&got, &want, rtol) {
        panic!(
            "{name}: the optimised function differs: {e}\n{}",
            tessera_dialects::print_module(after)
        );
    }
}

/// `m` with the function of `f`'s name replaced by `f`, verified.
pub fn with_func(m: &Module, f: &tessera_dialects::Func) -> Module {
    let mut out = m.clone();
    for g in out.funcs.iter_mut() {
        if g.name == f.name {
            *g = f.clone();
        }
    }
    if let Err(es) = tessera_dialects::verify_module(&out) {
        panic!(
            "the lowered module does not verify: {es:?}\n{}",
            tessera_dialects::print_module(&out)
        );
    }
    out
}
