//! Weight hoisting (`tessera_passes::hoist`), IR in and IR out: what moves into the
//! function run once, what stays, and that the two halves compute what the original did.

use std::collections::BTreeSet;
use tessera_dialects::{print_func, DType, Func, Module};
use tessera_passes::hoist::{contraction_weights, hoist_weights};
use tessera_tensor::Tensor;

fn module(src: &str) -> Module {
    let mut m = tessera_frontend::compile(src).expect("compiles");
    tessera_passes::PassManager::default_pipeline()
        .run(&mut m)
        .expect("pipeline");
    m
}

fn random(f: &Func, rows: usize) -> Vec<Tensor> {
    f.params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = f.tensor_ty(*p).expect("tensor");
            let shape: Vec<usize> = t
                .shape
                .iter()
                .map(|d| d.as_const().map_or(rows, |v| v as usize))
                .collect();
            tessera_tensor::random::uniform(DType::F32, &shape, -2.0, 2.0, 11 + i as u64)
                .expect("random")
        })
        .collect()
}

fn split(src: &str, weights: &[usize]) -> (Module, tessera_passes::hoist::Hoisted) {
    let m = module(src);
    let f = m.func("main").expect("main");
    let h = hoist_weights(f, &weights.iter().copied().collect::<BTreeSet<_>>())
        .expect("something to hoist");
    let both = Module {
        funcs: vec![h.main.clone(), h.prep.clone()],
    };
    if let Err(es) = tessera_dialects::verify_module(&both) {
        panic!("{es:?}\n{}", tessera_dialects::print_module(&both));
    }
    (m, h)
}

const CASTS: &str = "fn main(x: f32[N, 8], w: f32[8, 4]) -> f32[N, 4] {
    x @ (w as bf16 as f32) + abs(x) @ relu(w * 2)
}";

#[test]
fn operations_on_weights_alone_move_into_the_prep_function() {
    let (_, h) = split(CASTS, &[1]);
    let prep = print_func(&h.prep);
    let main = print_func(&h.main);
    assert_eq!(h.prep.name, "main__weights");
    assert_eq!(prep.matches("graph.cast").count(), 2, "{prep}");
    assert_eq!(prep.matches("graph.relu").count(), 1, "{prep}");
    assert_eq!(prep.matches("graph.mul").count(), 1, "{prep}");
    assert_eq!(h.prep.result_types.len(), 2, "{prep}");
    assert_eq!(h.main.params.len(), 4, "{main}");
    for gone in ["graph.cast", "graph.relu", "graph.mul"] {
        assert!(!main.contains(gone), "{gone} left in\n{main}");
    }
    assert_eq!(main.matches("graph.matmul").count(), 2, "{main}");
    assert!(main.contains("graph.abs"), "{main}");
}

#[test]
fn the_two_halves_compute_the_original_results() {
    let (m, h) = split(CASTS, &[1]);
    for rows in [1, 3, 7] {
        let xs = random(m.func("main").unwrap(), rows);
        let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("original");
        let both = Module {
            funcs: vec![h.main.clone(), h.prep.clone()],
        };
        let prepared = tessera_interp::run_func(&both, "main__weights", xs.clone()).expect("prep");
        let mut args = xs;
        args.extend(prepared);
        let got = tessera_interp::run_func(&both, "main", args).expect("main");
        assert_eq!(got[0].to_f64_vec(), want[0].to_f64_vec());
    }
}

#[test]
fn nothing_is_hoisted_without_work_on_weights() {
    let m = module("fn main(x: f32[N, 8], w: f32[8, 4]) -> f32[N, 4] { relu(x @ w) }");
    let f = m.func("main").unwrap();
    assert_eq!(contraction_weights(f), BTreeSet::from([1]));
    assert!(hoist_weights(f, &contraction_weights(f)).is_none());
    // An operation on an activation and a weight together stays.
    let m = module("fn main(x: f32[4, 4], w: f32[4, 4]) -> f32[4, 4] { (x + w) @ w }");
    assert!(hoist_weights(m.func("main").unwrap(), &BTreeSet::from([1])).is_none());
}

#[test]
fn a_value_used_only_inside_the_prep_function_is_not_returned() {
    let (_, h) = split(
        "fn main(x: f32[N, 8], w: f32[8, 4]) -> f32[N, 4] { x @ relu(abs(w) * 3) }",
        &[1],
    );
    assert_eq!(h.prep.result_types.len(), 1);
    assert_eq!(h.main.params.len(), 3);
}
