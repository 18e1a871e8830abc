//! Verifier tests: the corpus verifies, and each kind of error is found, all of them at once.

use std::path::PathBuf;
use tessera_dialects::{
    parse_module, verify_module, Attr, GraphOp, Module, Op, Operation, Type, Value,
};

fn parse(src: &str) -> Module {
    parse_module(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

/// The verifier's messages for `m`, each rendered with its `Display`.
fn errors(m: &Module) -> Vec<String> {
    match verify_module(m) {
        Ok(()) => Vec::new(),
        Err(es) => es.iter().map(|e| e.to_string()).collect(),
    }
}

/// Asserts that exactly one error mentions each of `needles`, in order, and nothing else.
fn check(m: &Module, needles: &[&str]) {
    let es = errors(m);
    assert_eq!(es.len(), needles.len(), "errors: {es:#?}");
    for (e, n) in es.iter().zip(needles) {
        assert!(e.contains(n), "`{e}` does not mention `{n}`; all: {es:#?}");
    }
}

#[test]
fn corpus_verifies() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ir");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/ir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tir"))
        .collect();
    paths.sort();
    for p in paths {
        let src = std::fs::read_to_string(&p).expect("readable");
        let m = parse(&src);
        let es = errors(&m);
        assert!(es.is_empty(), "{}: {es:#?}", p.display());
    }
}

const GOOD: &str = "graph.func @f(%x: f32[B, 4], %y: f32[4]) -> (f32[B, 4]) {
  %0 = graph.add %x, %y : (f32[B, 4], f32[4]) -> f32[B, 4]
  %1 = graph.relu %0 : (f32[B, 4]) -> f32[B, 4]
  graph.return %1 : f32[B, 4]
}
";

#[test]
fn good_function_verifies() {
    check(&parse(GOOD), &[]);
}

#[test]
fn arity_is_checked() {
    let mut m = parse(GOOD);
    let f = &mut m.funcs[0];
    let x = f.params[0];
    f.body.ops[1].operands.push(x);
    let extra = f.new_value(f.ty(x).clone(), None);
    f.body.ops[0].results.push(extra);
    check(&m, &["`graph.add` (bytes", "`graph.relu`"]);
    let es = errors(&m);
    assert!(es[0].contains("expects 1 result(s), found 2"), "{es:?}");
    assert!(
        es[1].contains("expects 1 operand(s) (x), found 2"),
        "{es:?}"
    );
}

#[test]
fn attributes_are_checked() {
    let src = "graph.func @f(%x: f32[B, 4]) -> (f32[B, 4]) {
  %0 = graph.softmax %x {axis = 1} : (f32[B, 4]) -> f32[B, 4]
  graph.return %0 : f32[B, 4]
}
";
    let mut m = parse(src);
    let op = &mut m.funcs[0].body.ops[0];
    op.attrs.0.clear();
    op.attrs.0.push(("axis".into(), Attr::Float(1.0)));
    op.attrs.0.push(("bogus".into(), Attr::Int(1)));
    op.attrs.0.push(("axis".into(), Attr::Int(1)));
    check(
        &m,
        &[
            "attribute `axis` must be an integer, found `1.0`",
            "undeclared attribute `bogus`",
            "attribute `axis` is given twice",
        ],
    );
    m.funcs[0].body.ops[0].attrs.0.clear();
    check(&m, &["missing required attribute `axis`"]);
}

#[test]
fn use_before_definition_and_double_definition() {
    let mut m = parse(GOOD);
    let f = &mut m.funcs[0];
    // relu uses its own result; add defines the parameter %x again.
    let r1 = f.body.ops[1].results[0];
    f.body.ops[1].operands[0] = r1;
    f.body.ops[0].results[0] = f.params[0];
    check(
        &m,
        &[
            "`graph.add` (bytes 60..116): `%x` is defined twice",
            "`graph.relu` (bytes 119..164): operand #0 `%0` is used before its definition",
        ],
    );
}

#[test]
fn values_outside_the_table_do_not_panic() {
    let mut m = parse(GOOD);
    m.funcs[0].body.ops[1].operands[0] = Value(99);
    let es = errors(&m);
    assert!(
        es.iter()
            .any(|e| e.contains("value 99 outside the value table")),
        "{es:?}"
    );
}

#[test]
fn return_is_checked() {
    // Wrong type returned.
    let mut m = parse(GOOD);
    m.funcs[0].result_types[0] = m.funcs[0].ty(m.funcs[0].params[1]).clone();
    check(
        &m,
        &["returns (f32[B, 4]) but the function's result types are (f32[4])"],
    );
    // Missing return, and a return that is not last.
    let mut m = parse(GOOD);
    let ret = m.funcs[0].body.ops.pop().expect("return");
    m.funcs[0].body.ops.insert(0, ret);
    check(
        &m,
        &[
            "operand #0 `%1` is used before its definition",
            "a terminator must be the last operation",
            "must end with `graph.return`",
        ],
    );
}

#[test]
fn result_types_come_from_inference() {
    let src = "graph.func @f(%x: f32[B, 4], %y: f32[4]) -> (f32[B, 5]) {
  %0 = graph.add %x, %y : (f32[B, 4], f32[4]) -> f32[B, 5]
  %1 = graph.matmul %x, %y : (f32[B, 4], f32[4]) -> f32[B]
  graph.return %0 : f32[B, 5]
}
";
    let es = errors(&parse(src));
    assert_eq!(es.len(), 2, "{es:#?}");
    assert!(
        es[0].contains("differ from the inferred (f32[B, 4])"),
        "{es:?}"
    );
    assert!(es[1].contains("`graph.matmul`"), "{es:?}");
}

#[test]
fn graph_functions_hold_tensors_and_graph_ops_only() {
    let mut m = parse(GOOD);
    let f = &mut m.funcs[0];
    let i = f.new_value(Type::Index, None);
    f.body.ops.insert(
        0,
        Operation::new(
            Op::Tile(tessera_dialects::TileOp::ProgramId),
            vec![],
            vec![i],
            tessera_dialects::Attrs::new().with("axis", Attr::Int(0)),
        ),
    );
    check(
        &m,
        &[
            "`%0` has type `index`, but graph functions hold only tensors",
            "tile operations may only appear in a `tile.kernel`",
        ],
    );
}

#[test]
fn value_names_are_checked() {
    let mut m = parse(GOOD);
    let f = &mut m.funcs[0];
    f.values[f.params[1].index()].name = Some("x".into());
    let r = f.body.ops[0].results[0];
    f.values[r.index()].name = Some("12".into());
    let es = errors(&m);
    assert!(
        es.iter().any(|e| e.contains("`%x` is used by two values")),
        "{es:?}"
    );
    assert!(
        es.iter()
            .any(|e| e.contains("`%12` is empty or all digits")),
        "{es:?}"
    );
}

const CALLS: &str = "graph.func @layer(%x: f32[N, D], %w: f32[D, 8]) -> (f32[N, 8], f32[N*2, D]) {
  %0 = graph.matmul %x, %w : (f32[N, D], f32[D, 8]) -> f32[N, 8]
  %1 = graph.concat %x, %x {axis = 0} : (f32[N, D], f32[N, D]) -> f32[2*N, D]
  graph.return %0, %1 : f32[N, 8], f32[2*N, D]
}

graph.func @main(%a: f32[B*S, 16], %w: f32[16, 8]) -> (f32[B*S, 8]) {
  %0, %1 = graph.call %a, %w {callee = @layer} : (f32[B*S, 16], f32[16, 8]) -> (f32[B*S, 8], f32[2*B*S, 16])
  graph.return %0 : f32[B*S, 8]
}
";

#[test]
fn calls_bind_callee_sizes_to_caller_sizes() {
    check(&parse(CALLS), &[]);
    let bad = CALLS.replace(
        "-> (f32[B*S, 8], f32[2*B*S, 16])",
        "-> (f32[B*S, 8], f32[2*B*S, 8])",
    );
    check(
        &parse(&bad),
        &["differ from `@layer`'s results (f32[B*S, 8], f32[2*B*S, 16])"],
    );
    let bad = CALLS
        .replace(
            "%w: f32[16, 8]) -> (f32[B*S, 8])",
            "%w: f32[15, 8]) -> (f32[B*S, 8])",
        )
        .replace("(f32[B*S, 16], f32[16, 8])", "(f32[B*S, 16], f32[15, 8])");
    check(
        &parse(&bad),
        &["argument #1 has type `f32[15, 8]`, but `@layer` expects `f32[16, 8]`"],
    );
    let bad = CALLS.replace("callee = @layer", "callee = @nope");
    check(&parse(&bad), &["calls `@nope`, which is not in the module"]);
}

#[test]
fn all_errors_are_reported_across_functions() {
    let src = format!("{GOOD}\n{}", GOOD.replace("@f", "@g"));
    let mut m = parse(&src);
    for f in &mut m.funcs {
        f.body.ops[1].attrs.set("bogus", Attr::Int(0));
    }
    let mut dup = m.funcs[0].clone();
    dup.body.ops[1].attrs.0.clear();
    m.funcs.push(dup);
    let es = errors(&m);
    assert_eq!(es.len(), 3, "{es:#?}");
    assert!(es[0].starts_with("in @f, `graph.relu` (bytes "), "{es:?}");
    assert!(es[1].starts_with("in @g, `graph.relu`"), "{es:?}");
    assert!(es[2].contains("function `@f` is defined twice"), "{es:?}");
}

#[test]
fn error_locations_point_at_the_operation() {
    let mut m = parse(GOOD);
    let f = &mut m.funcs[0];
    let r = f.body.ops[1].results[0];
    let three = Type::Tensor(tessera_dialects::TensorType::new(
        tessera_dialects::DType::F32,
        vec![
            tessera_dialects::SymExpr::name("B"),
            tessera_dialects::SymExpr::lit(3),
        ],
    ));
    f.values[r.index()].ty = three.clone();
    f.result_types[0] = three;
    let es = verify_module(&m).expect_err("bad result type");
    assert_eq!(es.len(), 1, "{es:#?}");
    let span = es[0].loc.0.expect("located");
    assert!(GOOD[span.start as usize..span.end as usize].starts_with("%1 = graph.relu"));
    assert_eq!(es[0].op.as_deref(), Some("graph.relu"));
    assert_eq!(es[0].func, "f");
    assert!(
        es[0]
            .message
            .contains("differ from the inferred (f32[B, 4])"),
        "{es:?}"
    );
    let _ = GraphOp::Relu;
}

#[test]
fn fused_kernels_are_isolated_and_yield_their_result_type() {
    // The region reads `%y` from outside and yields the wrong type.
    let m = parse(
        "graph.func @f(%x: f32[4], %y: f32[4]) -> (f32[4]) {
  %r = graph.fused %x {kind = \"elementwise\"} : (f32[4]) -> f32[4] (%a: f32[4]) {
    %s = graph.add %a, %y : (f32[4], f32[4]) -> f32[4]
    %c = graph.cast %s {dtype = bf16} : (f32[4]) -> bf16[4]
    graph.yield %c : bf16[4]
  }
  graph.return %r : f32[4]
}",
    );
    check(&m, &["from outside", "whose type differs"]);
    // `graph.yield` outside a kernel.
    let m = parse(
        "graph.func @f(%x: f32[4]) -> (f32[4]) {
  graph.yield %x : f32[4]
}",
    );
    let es = errors(&m);
    assert!(
        es.iter()
            .any(|e| e.contains("may only end the region of a `graph.fused`")),
        "{es:#?}"
    );
}

/// A constant size below 1 anywhere in a type is an error (the language has no empty
/// tensors); symbolic sizes are left to the call that binds them.
#[test]
fn sizes_below_one_are_errors() {
    let m = parse(
        "graph.func @f(%x: f32[-3, 4], %y: f32[0, N]) -> (f32[-3, 4]) {
  %0 = graph.relu %x : (f32[-3, 4]) -> f32[-3, 4]
  graph.return %0 : f32[-3, 4]
}
",
    );
    check(
        &m,
        &[
            "%x has type f32[-3, 4] with a size of -3",
            "%y has type f32[0, N] with a size of 0",
            "%0 has type f32[-3, 4] with a size of -3",
        ],
    );
}
