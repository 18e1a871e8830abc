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
    // The narrowing `as bf16` moves; the widening `as f32` stays with its reader.
    assert_eq!(prep.matches("graph.cast").count(), 1, "{prep}");
    assert!(prep.contains("{dtype = bf16}"), "{prep}");
    assert_eq!(prep.matches("graph.relu").count(), 1, "{prep}");
    assert_eq!(prep.matches("graph.mul").count(), 1, "{prep}");
    assert_eq!(h.prep.result_types.len(), 2, "{prep}");
    // `w` is no longer read: main takes x and the two hoisted values.
    assert_eq!(h.kept, vec![0]);
    assert_eq!(h.main.params.len(), 3, "{main}");
    for gone in ["graph.relu", "graph.mul"] {
        assert!(!main.contains(gone), "{gone} left in\n{main}");
    }
    assert_eq!(main.matches("graph.cast").count(), 1, "{main}");
    assert_eq!(main.matches("graph.matmul").count(), 2, "{main}");
    assert!(main.contains("graph.abs"), "{main}");
}

/// Runs `h` on `xs` (the original inputs): the prep function, then main on the kept
/// inputs and the hoisted values.
fn run_split(h: &tessera_passes::hoist::Hoisted, xs: &[Tensor]) -> Vec<Tensor> {
    let both = Module {
        funcs: vec![h.main.clone(), h.prep.clone()],
    };
    let prepared = tessera_interp::run_func(&both, "main__weights", xs.to_vec()).expect("prep");
    let mut args: Vec<Tensor> = h.kept.iter().map(|&i| xs[i].clone()).collect();
    args.extend(prepared);
    tessera_interp::run_func(&both, "main", args).expect("main")
}

const BF16_MLP: &str =
    "fn main(x: f32[N, 8], w1: f32[8, 16], b1: f32[16], w2: f32[16, 4]) -> f32[N, 4] {
    let h = relu((x as bf16 as f32) @ (w1 as bf16 as f32) + b1);
    (h as bf16 as f32) @ (w2 as bf16 as f32)
}";

#[test]
fn a_bf16_weight_is_held_narrow_and_widened_by_its_reader() {
    let (m, h) = split(BF16_MLP, &[1, 3]);
    let prep = print_func(&h.prep);
    let main = print_func(&h.main);
    // IR out: prep returns the bf16 weights, main widens them where the matmuls read them.
    assert_eq!(
        h.prep
            .result_types
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>(),
        ["bf16[8, 16]", "bf16[16, 4]"],
        "{prep}"
    );
    assert_eq!(prep.matches("graph.cast").count(), 2, "{prep}");
    assert!(!prep.contains("{dtype = f32}"), "{prep}");
    assert_eq!(h.kept, vec![0, 2], "{main}");
    let params: Vec<String> = h
        .main
        .params
        .iter()
        .map(|p| h.main.ty(*p).to_string())
        .collect();
    assert_eq!(
        params,
        ["f32[N, 8]", "f32[16]", "bf16[8, 16]", "bf16[16, 4]"]
    );
    // x and h are narrowed and widened (2 + 2 casts), each weight widened once (2).
    assert_eq!(main.matches("graph.cast").count(), 6, "{main}");
    for rows in [1, 5] {
        let xs = random(m.func("main").unwrap(), rows);
        let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("original");
        let got = run_split(&h, &xs);
        assert_eq!(got[0].to_f64_vec(), want[0].to_f64_vec());
    }
}

#[test]
fn a_weight_still_read_by_the_function_is_kept() {
    let src = "fn main(x: f32[4, 4], w: f32[4, 4]) -> f32[4, 4] { (x + w) @ (w as bf16 as f32) }";
    let (m, h) = split(src, &[1]);
    assert_eq!(h.kept, vec![0, 1]);
    assert_eq!(h.main.params.len(), 3);
    let xs = random(m.func("main").unwrap(), 4);
    let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("original");
    assert_eq!(run_split(&h, &xs)[0].to_f64_vec(), want[0].to_f64_vec());
}

#[test]
fn the_two_halves_compute_the_original_results() {
    let (m, h) = split(CASTS, &[1]);
    for rows in [1, 3, 7] {
        let xs = random(m.func("main").unwrap(), rows);
        let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("original");
        let got = run_split(&h, &xs);
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
    // x and the hoisted value: `w` itself is no longer read.
    assert_eq!(h.main.params.len(), 2);
}

/// An `f16` weight is held narrow like a `bf16` one (the CPU back end widens both while
/// packing); a conv2d's weight is a contraction weight.
#[test]
fn f16_and_conv_weights_are_held_narrow() {
    let src = "fn main(x: f32[N, 8], w: f32[8, 4], i: f32[N, 2, 5, 5], k: f32[3, 2, 2, 2]) -> (f32[N, 4], f32[N, 3, 4, 4]) {
        ((x as f16 as f32) @ (w as f16 as f32), conv2d(i as f16 as f32, k as f16 as f32))
    }";
    // The weights as written, before a precision lowering adds the casts.
    let plain = module(
        "fn main(x: f32[N, 8], w: f32[8, 4], i: f32[N, 2, 5, 5], k: f32[3, 2, 2, 2]) -> (f32[N, 4], f32[N, 3, 4, 4]) {
            (x @ w, conv2d(i, k))
        }",
    );
    assert_eq!(
        contraction_weights(plain.func("main").expect("main")),
        BTreeSet::from([1, 3])
    );
    let (_, h) = split(src, &[1, 3]);
    let types: Vec<String> = h.prep.result_types.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        types,
        ["f16[8, 4]", "f16[3, 2, 2, 2]"],
        "{}",
        print_func(&h.prep)
    );
    assert_eq!(h.kept, vec![0, 2]);
}
