//! `run_func` end to end on parsed `.tir`: input checks, symbolic size binding, calls,
//! declared-type checks, malformed IR, and the speed of a batch-32 MLP.

mod common;

use common::*;
use tessera_dialects::parse::parse_module;
use tessera_dialects::DType;
use tessera_interp::{run_func, InterpError};
use tessera_tensor::Tensor;

fn run(src: &str, name: &str, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, InterpError> {
    let m = parse_module(src).unwrap_or_else(|e| panic!("parse: {e}\n{src}"));
    run_func(&m, name, inputs)
}

const ADD: &str = r#"
graph.func @f(%x: f32[B, 4], %y: f32[B, 4], %z: f32[B*S]) -> (f32[B, 4]) {
  %0 = graph.add %x, %y : (f32[B, 4], f32[B, 4]) -> f32[B, 4]
  graph.return %0 : f32[B, 4]
}
"#;

#[test]
fn binds_sizes_and_runs() {
    let x = f32t(&[2, 4], &[1.0; 8]);
    let y = f32t(&[2, 4], &[2.0; 8]);
    let z = f32t(&[6], &[0.0; 6]);
    let out = run(ADD, "f", vec![x, y, z]).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(fl(&out[0]), vec![3.0; 8]);
}

#[test]
fn contradicting_sizes_name_both_parameters() {
    let x = f32t(&[2, 4], &[1.0; 8]);
    let y = f32t(&[3, 4], &[2.0; 12]);
    let z = f32t(&[6], &[0.0; 6]);
    let e = run(ADD, "f", vec![x, y, z]).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("y"));
    assert!(
        e.message.contains("`x`") && e.message.contains("`y`"),
        "{e}"
    );
    assert!(e.message.contains('2') && e.message.contains('3'), "{e}");
}

#[test]
fn expression_dimensions_are_checked() {
    let x = f32t(&[2, 4], &[1.0; 8]);
    let y = f32t(&[2, 4], &[2.0; 8]);
    // B = 2 so B*S = 7 has no integer S: refused.
    let e = run(ADD, "f", vec![x.clone(), y.clone(), f32t(&[7], &[0.0; 7])]).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("z"), "{e}");
    let src = r#"
graph.func @g(%x: f32[N], %y: f32[2*N + 1]) -> (f32[N]) {
  graph.return %x : f32[N]
}
"#;
    assert!(run(src, "g", vec![f32t(&[2], &[0.0; 2]), f32t(&[5], &[0.0; 5])]).is_ok());
    let e = run(src, "g", vec![f32t(&[2], &[0.0; 2]), f32t(&[6], &[0.0; 6])]).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("y"));
    assert!(e.message.contains("2*N + 1"), "{e}");
    // Solving: the expression dimension alone binds N.
    let src2 = r#"
graph.func @h(%y: f32[2*N + 1]) -> (f32[2*N + 1]) {
  graph.return %y : f32[2*N + 1]
}
"#;
    assert!(run(src2, "h", vec![f32t(&[7], &[0.0; 7])]).is_ok());
    assert!(run(src2, "h", vec![f32t(&[8], &[0.0; 8])]).is_err());
}

#[test]
fn input_count_dtype_and_rank_errors() {
    let x = f32t(&[2, 4], &[1.0; 8]);
    let z = f32t(&[6], &[0.0; 6]);
    let e = run(ADD, "f", vec![x.clone(), z.clone()]).unwrap_err();
    assert!(e.message.contains("takes 3 inputs, got 2"), "{e}");
    let bad = it(DType::I32, &[2, 4], &[0; 8]);
    let e = run(ADD, "f", vec![x.clone(), bad, z.clone()]).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("y"));
    assert!(e.message.contains("i32"), "{e}");
    let e = run(ADD, "f", vec![x.clone(), f32t(&[8], &[0.0; 8]), z.clone()]).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("y"));
    assert!(e.message.contains("rank"), "{e}");
    let e = run(ADD, "f", vec![x.clone(), f32t(&[2, 5], &[0.0; 10]), z]).unwrap_err();
    assert!(e.message.contains("dimension 1 is 5, expected 4"), "{e}");
    let e = run(ADD, "nope", vec![]).unwrap_err();
    assert!(e.message.contains("no function named `nope`"), "{e}");
}

#[test]
fn calls_bind_their_own_sizes_and_return_several_results() {
    let src = r#"
graph.func @split(%x: f32[N, 4], %s: f32) -> (i8[N, 4], f32[N, 4]) {
  %q = graph.quantize %x, %s {dtype = i8} : (f32[N, 4], f32) -> i8[N, 4]
  %d = graph.dequantize %q, %s : (i8[N, 4], f32) -> f32[N, 4]
  graph.return %q, %d : i8[N, 4], f32[N, 4]
}

graph.func @main(%a: f32[B*S, 4], %scale: f32, %b: f32[B, S]) -> (f32[B*S, 4], i8[B*S, 4]) {
  %0, %1 = graph.call %a, %scale {callee = @split} : (f32[B*S, 4], f32) -> (i8[B*S, 4], f32[B*S, 4])
  %2 = graph.add %1, %a : (f32[B*S, 4], f32[B*S, 4]) -> f32[B*S, 4]
  graph.return %2, %0 : f32[B*S, 4], i8[B*S, 4]
}
"#;
    let a: Vec<f32> = (0..8).map(|i| i as f32 * 0.3).collect();
    let out = run(
        src,
        "main",
        vec![f32t(&[2, 4], &a), scalar(0.5), f32t(&[1, 2], &[0.0; 2])],
    )
    .unwrap();
    assert_eq!(out.len(), 2);
    // q = round_half_even(a / 0.5): 0, 0.6, 1.2, 1.8, 2.4, 3.0, 3.6, 4.2
    assert_eq!(ints(&out[1]), vec![0, 1, 1, 2, 2, 3, 4, 4]);
    let want: Vec<f32> = ints(&out[1])
        .iter()
        .zip(&a)
        .map(|(&q, &x)| q as f32 * 0.5 + x)
        .collect();
    assert_eq!(fl(&out[0]), want);
}

#[test]
fn symbolic_shape_attributes_use_bound_sizes() {
    let src = r#"
graph.func @f(%x: f32[B, S, 2]) -> (f32[B*S, 2], f32[B, 1, 2], f32[B, S, 2]) {
  %0 = graph.reshape %x {shape = sizes[B*S, 2]} : (f32[B, S, 2]) -> f32[B*S, 2]
  %1 = graph.slice %x {start = sizes[0, S - 1, 0], end = sizes[B, S, 2]} : (f32[B, S, 2]) -> f32[B, 1, 2]
  %2 = graph.broadcast_to %1 {shape = sizes[B, S, 2]} : (f32[B, 1, 2]) -> f32[B, S, 2]
  graph.return %0, %1, %2 : f32[B*S, 2], f32[B, 1, 2], f32[B, S, 2]
}
"#;
    let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let out = run(src, "f", vec![f32t(&[2, 3, 2], &x)]).unwrap();
    assert_eq!(out[0].shape(), &[6, 2]);
    assert_eq!(fl(&out[1]), vec![4.0, 5.0, 10.0, 11.0]);
    assert_eq!(
        fl(&out[2]),
        vec![4.0, 5.0, 4.0, 5.0, 4.0, 5.0, 10.0, 11.0, 10.0, 11.0, 10.0, 11.0]
    );
}

#[test]
fn wrong_declared_result_types_are_errors() {
    let src = r#"
graph.func @f(%x: f32[4]) -> (f32[4]) {
  %0 = graph.reduce_sum %x {axes = [0], keepdims = true} : (f32[4]) -> f32[4]
  graph.return %0 : f32[4]
}
"#;
    let e = run(src, "f", vec![f32t(&[4], &[1.0; 4])]).unwrap_err();
    assert!(e.message.starts_with("graph.reduce_sum:"), "{e}");
    assert!(e.loc.0.is_some());
}

#[test]
fn recursion_hits_the_depth_limit() {
    let src = r#"
graph.func @f(%x: f32[4]) -> (f32[4]) {
  %0 = graph.call %x {callee = @f} : (f32[4]) -> (f32[4])
  graph.return %0 : f32[4]
}
"#;
    let e = run(src, "f", vec![f32t(&[4], &[1.0; 4])]).unwrap_err();
    assert!(e.message.contains("deeper than"), "{e}");
}

#[test]
fn malformed_ir_is_an_error_not_a_panic() {
    use tessera_dialects::{
        Attrs, Func, FuncKind, GraphOp, Module, Op, Operation, TensorType, Value,
    };
    let ty = |s: &[i64]| TensorType::new(DType::F32, s.iter().map(|&d| d.into()).collect()).into();
    let mut f = Func::new(FuncKind::Graph, "f");
    let x = f.add_param(ty(&[2]), Some("x".into()));
    f.result_types.push(ty(&[2]));
    let r = f.new_value(ty(&[2]), None);
    // Missing attribute.
    let mut g = f.clone();
    g.body.ops.push(Operation::new(
        Op::Graph(GraphOp::Softmax),
        vec![x],
        vec![r],
        Attrs::new(),
    ));
    g.body.ops.push(Operation::new(
        Op::Graph(GraphOp::Return),
        vec![r],
        vec![],
        Attrs::new(),
    ));
    let m = Module { funcs: vec![g] };
    let e = run_func(&m, "f", vec![f32t(&[2], &[0.0; 2])]).unwrap_err();
    assert!(e.message.contains("missing attribute `axis`"), "{e}");
    // Wrong operand count.
    let mut g = f.clone();
    g.body.ops.push(Operation::new(
        Op::Graph(GraphOp::Add),
        vec![x],
        vec![r],
        Attrs::new(),
    ));
    g.body.ops.push(Operation::new(
        Op::Graph(GraphOp::Return),
        vec![r],
        vec![],
        Attrs::new(),
    ));
    let m = Module { funcs: vec![g] };
    assert!(run_func(&m, "f", vec![f32t(&[2], &[0.0; 2])]).is_err());
    // Undefined value, out-of-table value, no return.
    for operand in [Value(1), Value(99)] {
        let mut g = f.clone();
        g.body.ops.push(Operation::new(
            Op::Graph(GraphOp::Return),
            vec![operand],
            vec![],
            Attrs::new(),
        ));
        let m = Module { funcs: vec![g] };
        assert!(run_func(&m, "f", vec![f32t(&[2], &[0.0; 2])]).is_err());
    }
    let m = Module { funcs: vec![f] };
    let e = run_func(&m, "f", vec![f32t(&[2], &[0.0; 2])]).unwrap_err();
    assert!(e.message.contains("graph.return"), "{e}");
}

#[test]
fn mlp_batch_32_is_fast_and_correct() {
    // examples/mlp.tsr: 784 -> 1024 -> 1024 -> 10.
    let src = r#"
graph.func @mlp(%x: f32[B, 784], %w1: f32[784, 1024], %b1: f32[1024], %w2: f32[1024, 1024], %b2: f32[1024], %w3: f32[1024, 10], %b3: f32[10]) -> (f32[B, 10]) {
  %0 = graph.matmul %x, %w1 : (f32[B, 784], f32[784, 1024]) -> f32[B, 1024]
  %1 = graph.add %0, %b1 : (f32[B, 1024], f32[1024]) -> f32[B, 1024]
  %h1 = graph.relu %1 : (f32[B, 1024]) -> f32[B, 1024]
  %2 = graph.matmul %h1, %w2 : (f32[B, 1024], f32[1024, 1024]) -> f32[B, 1024]
  %3 = graph.add %2, %b2 : (f32[B, 1024], f32[1024]) -> f32[B, 1024]
  %h2 = graph.relu %3 : (f32[B, 1024]) -> f32[B, 1024]
  %4 = graph.matmul %h2, %w3 : (f32[B, 1024], f32[1024, 10]) -> f32[B, 10]
  %5 = graph.add %4, %b3 : (f32[B, 10], f32[10]) -> f32[B, 10]
  %6 = graph.softmax %5 {axis = 1} : (f32[B, 10]) -> f32[B, 10]
  graph.return %6 : f32[B, 10]
}
"#;
    let mut g = Lcg(7);
    let inputs = vec![
        g.tensor(&[32, 784]),
        g.tensor(&[784, 1024]),
        g.tensor(&[1024]),
        g.tensor(&[1024, 1024]),
        g.tensor(&[1024]),
        g.tensor(&[1024, 10]),
        g.tensor(&[10]),
    ];
    let m = parse_module(src).unwrap();
    let t0 = std::time::Instant::now();
    let out = run_func(&m, "mlp", inputs).unwrap();
    let dt = t0.elapsed();
    eprintln!("MLP batch 32: {dt:?}");
    assert!(dt.as_secs_f64() < 1.0, "MLP took {dt:?}");
    assert_eq!(out[0].shape(), &[32, 10]);
    for row in fl(&out[0]).chunks(10) {
        let s: f32 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-5 && row.iter().all(|v| *v >= 0.0));
    }
}

#[test]
fn names_known_only_through_products() {
    // B and S only occur as B*S: sizes built from B*S work, a split of it is refused.
    let ok = r#"
graph.func @f(%a: f32[B*S, 2], %b: f32[2, 2]) -> (f32[B*S + 2, 2]) {
  %0 = graph.concat %a, %b {axis = 0} : (f32[B*S, 2], f32[2, 2]) -> f32[B*S + 2, 2]
  graph.return %0 : f32[B*S + 2, 2]
}
"#;
    let out = run(
        ok,
        "f",
        vec![f32t(&[6, 2], &[1.0; 12]), f32t(&[2, 2], &[0.0; 4])],
    )
    .unwrap();
    assert_eq!(out[0].shape(), &[8, 2]);
    let split = r#"
graph.func @g(%a: f32[B*S, 2]) -> (f32[B, S, 2]) {
  %0 = graph.reshape %a {shape = sizes[B, S, 2]} : (f32[B*S, 2]) -> f32[B, S, 2]
  graph.return %0 : f32[B, S, 2]
}
"#;
    let e = run(split, "g", vec![f32t(&[6, 2], &[1.0; 12])]).unwrap_err();
    assert!(e.message.contains("do not determine"), "{e}");
    // With S bound elsewhere, the split is known.
    let bound = r#"
graph.func @h(%a: f32[B*S, 2], %s: f32[S]) -> (f32[B, S, 2]) {
  %0 = graph.reshape %a {shape = sizes[B, S, 2]} : (f32[B*S, 2]) -> f32[B, S, 2]
  graph.return %0 : f32[B, S, 2]
}
"#;
    let out = run(
        bound,
        "h",
        vec![f32t(&[6, 2], &[1.0; 12]), f32t(&[3], &[0.0; 3])],
    )
    .unwrap();
    assert_eq!(out[0].shape(), &[2, 3, 2]);
}
