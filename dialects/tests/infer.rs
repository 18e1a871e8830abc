//! Unit tests of graph result-type inference: good and bad cases for every op group.

use tessera_dialects::graph::infer::{infer, InferError};
use tessera_dialects::{Attr, Attrs, DType, GraphOp, SymExpr, TensorType};

use DType::{Bool, F16, F32, I32, I8};

/// A size from text: sums of products of names and integers (`B*S + 2`).
fn d(s: &str) -> SymExpr {
    s.split('+')
        .map(|term| {
            term.split('*').fold(SymExpr::lit(1), |acc, f| {
                let f = f.trim();
                let x = match f.parse::<i64>() {
                    Ok(v) => SymExpr::lit(v),
                    Err(_) => SymExpr::name(f),
                };
                acc.mul(&x)
            })
        })
        .fold(SymExpr::lit(0), |acc, t| acc.add(&t))
}

fn t(dtype: DType, dims: &[&str]) -> TensorType {
    TensorType::new(dtype, dims.iter().map(|s| d(s)).collect())
}

fn f(dims: &[&str]) -> TensorType {
    t(F32, dims)
}

fn a() -> Attrs {
    Attrs::new()
}

fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

fn sizes(v: &[&str]) -> Attr {
    Attr::Sizes(v.iter().map(|s| d(s)).collect())
}

fn ok(op: GraphOp, attrs: Attrs, operands: &[TensorType]) -> TensorType {
    match infer(op, &attrs, operands) {
        Ok(v) if v.len() == 1 => v.into_iter().next().expect("one result"),
        other => panic!("{op:?} {operands:?}: expected one result, got {other:?}"),
    }
}

fn bad(op: GraphOp, attrs: Attrs, operands: &[TensorType]) -> InferError {
    match infer(op, &attrs, operands) {
        Err(e) => e,
        Ok(v) => panic!("{op:?} {operands:?}: expected an error, got {v:?}"),
    }
}

fn has(e: &InferError, s: &str) {
    assert!(
        e.message.contains(s),
        "message {:?} does not contain {s:?}",
        e.message
    );
}

// ---- constants, casts, unary ----

#[test]
fn constant_checks_value_kind() {
    let c = |v: Attr, dt: DType| a().with("value", v).with("dtype", Attr::DType(dt));
    assert_eq!(
        ok(GraphOp::Constant, c(Attr::Float(0.5), F32), &[]),
        t(F32, &[])
    );
    assert_eq!(
        ok(GraphOp::Constant, c(Attr::Int(2), F16), &[]),
        t(F16, &[])
    );
    assert_eq!(
        ok(GraphOp::Constant, c(Attr::Int(-128), I8), &[]),
        t(I8, &[])
    );
    assert_eq!(
        ok(GraphOp::Constant, c(Attr::Bool(true), Bool), &[]),
        t(Bool, &[])
    );
    let e = bad(GraphOp::Constant, c(Attr::Float(0.5), I32), &[]);
    has(&e, "float value cannot have dtype i32");
    assert!(e.hint.is_some());
    has(
        &bad(GraphOp::Constant, c(Attr::Int(300), I8), &[]),
        "300 does not fit in i8",
    );
    bad(GraphOp::Constant, c(Attr::Bool(true), F32), &[]);
    bad(GraphOp::Constant, c(Attr::Int(1), Bool), &[]);
    bad(GraphOp::Constant, c(Attr::Str("x".into()), F32), &[]);
    has(
        &bad(GraphOp::Constant, a().with("value", Attr::Int(1)), &[]),
        "missing attribute `dtype`",
    );
    // No operands allowed.
    bad(GraphOp::Constant, c(Attr::Int(1), I32), &[f(&["2"])]);
}

#[test]
fn cast_keeps_shape() {
    let r = ok(
        GraphOp::Cast,
        a().with("dtype", Attr::DType(I8)),
        &[f(&["B", "4"])],
    );
    assert_eq!(r, t(I8, &["B", "4"]));
    bad(GraphOp::Cast, a(), &[f(&["4"])]);
    bad(GraphOp::Cast, a().with("dtype", Attr::Int(3)), &[f(&["4"])]);
}

#[test]
fn unary_dtype_rules() {
    let float_only = [
        GraphOp::Exp,
        GraphOp::Log,
        GraphOp::Sqrt,
        GraphOp::Rsqrt,
        GraphOp::Recip,
        GraphOp::Tanh,
        GraphOp::Sigmoid,
        GraphOp::Gelu,
        GraphOp::GeluTanh,
        GraphOp::Silu,
        GraphOp::Erf,
    ];
    for op in float_only {
        for dt in [F32, F16, DType::BF16, DType::F8E4M3] {
            assert_eq!(ok(op, a(), &[t(dt, &["B", "3"])]), t(dt, &["B", "3"]));
        }
        for dt in [I8, I32, Bool] {
            let e = bad(op, a(), &[t(dt, &["3"])]);
            assert_eq!(e.operand, Some(0));
            has(&e, "float dtype");
            assert!(e.hint.as_deref().unwrap_or("").contains("as f32"));
        }
    }
    for op in [GraphOp::Neg, GraphOp::Abs, GraphOp::Relu] {
        for dt in [F32, I8, I32] {
            assert_eq!(ok(op, a(), &[t(dt, &["3"])]), t(dt, &["3"]));
        }
        has(&bad(op, a(), &[t(Bool, &["3"])]), "numeric");
    }
    has(&bad(GraphOp::Neg, a(), &[]), "expects 1 operand");
    has(&bad(GraphOp::Exp, a(), &[f(&["2"]), f(&["2"])]), "got 2");
}

// ---- binary, comparisons, where ----

#[test]
fn binary_broadcasting() {
    let r = ok(GraphOp::Add, a(), &[f(&["B", "784"]), f(&["784"])]);
    assert_eq!(r, f(&["B", "784"]));
    assert_eq!(
        ok(GraphOp::Mul, a(), &[f(&["B", "1"]), f(&["1", "S"])]),
        f(&["B", "S"])
    );
    assert_eq!(ok(GraphOp::Sub, a(), &[f(&["4"]), f(&[])]), f(&["4"]));
    assert_eq!(ok(GraphOp::Div, a(), &[f(&[]), f(&[])]), f(&[]));
    // A symbolic size against 1 gives the symbolic size.
    assert_eq!(
        ok(GraphOp::Max, a(), &[f(&["1"]), f(&["B*S"])]),
        f(&["B*S"])
    );
    assert_eq!(
        ok(GraphOp::Min, a(), &[f(&["B*S", "1"]), f(&["S*B", "3"])]),
        f(&["B*S", "3"])
    );
}

#[test]
fn binary_broadcast_errors() {
    let e = bad(GraphOp::Add, a(), &[f(&["B"]), f(&["S"])]);
    has(&e, "sizes B and S differ");
    assert_eq!(e.operand, Some(1));
    assert!(e
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("never assumed equal"));
    let e = bad(GraphOp::Add, a(), &[f(&["B", "784"]), f(&["785"])]);
    assert_eq!(
        e.message,
        "add: cannot broadcast f32[B, 784] with f32[785]: sizes 784 and 785 differ"
    );
    // A name is never assumed to be 1 or a constant.
    bad(GraphOp::Add, a(), &[f(&["B"]), f(&["4"])]);
}

#[test]
fn binary_dtype_rules() {
    let e = bad(GraphOp::Add, a(), &[f(&["4"]), t(F16, &["4"])]);
    assert_eq!(e.message, "add: operand dtypes differ: f32 vs f16");
    assert_eq!(e.operand, Some(1));
    assert!(e.hint.as_deref().unwrap_or("").contains("`as`"));
    bad(GraphOp::Add, a(), &[t(Bool, &["4"]), t(Bool, &["4"])]);
    assert_eq!(
        ok(GraphOp::Add, a(), &[t(I8, &["4"]), t(I8, &["4"])]),
        t(I8, &["4"])
    );
    bad(GraphOp::Pow, a(), &[t(I32, &["4"]), t(I32, &[])]);
    assert_eq!(ok(GraphOp::Pow, a(), &[f(&["4"]), f(&[])]), f(&["4"]));
    for op in [GraphOp::Lt, GraphOp::Le, GraphOp::Gt, GraphOp::Ge] {
        assert_eq!(
            ok(op, a(), &[f(&["B", "4"]), f(&["4"])]),
            t(Bool, &["B", "4"])
        );
        assert_eq!(ok(op, a(), &[t(I32, &["4"]), t(I32, &[])]), t(Bool, &["4"]));
        bad(op, a(), &[t(Bool, &["4"]), t(Bool, &["4"])]);
    }
    for op in [GraphOp::Eq, GraphOp::Ne] {
        assert_eq!(
            ok(op, a(), &[t(Bool, &["4"]), t(Bool, &["4"])]),
            t(Bool, &["4"])
        );
        bad(op, a(), &[t(Bool, &["4"]), t(I8, &["4"])]);
    }
}

#[test]
fn select_rules() {
    let r = ok(
        GraphOp::Select,
        a(),
        &[t(Bool, &["B", "1"]), f(&["4"]), f(&[])],
    );
    assert_eq!(r, f(&["B", "4"]));
    let e = bad(GraphOp::Select, a(), &[f(&["4"]), f(&["4"]), f(&["4"])]);
    assert_eq!(e.operand, Some(0));
    has(&e, "where: the condition must be bool");
    let e = bad(
        GraphOp::Select,
        a(),
        &[t(Bool, &["4"]), f(&["4"]), t(I32, &["4"])],
    );
    assert_eq!(e.operand, Some(2));
    let e = bad(
        GraphOp::Select,
        a(),
        &[t(Bool, &["4"]), f(&["4"]), f(&["5"])],
    );
    assert_eq!(e.operand, Some(2));
    let e = bad(
        GraphOp::Select,
        a(),
        &[t(Bool, &["4"]), f(&["3"]), f(&["4"])],
    );
    assert_eq!(e.operand, Some(1));
}

// ---- contractions ----

#[test]
fn matmul_shapes() {
    assert_eq!(
        ok(GraphOp::MatMul, a(), &[f(&["B", "784"]), f(&["784", "10"])]),
        f(&["B", "10"])
    );
    let r = ok(
        GraphOp::MatMul,
        a(),
        &[f(&["2", "1", "M", "K"]), f(&["3", "K", "N"])],
    );
    assert_eq!(r, f(&["2", "3", "M", "N"]));
    let r = ok(
        GraphOp::MatMul,
        a(),
        &[t(I8, &["4", "8"]), t(I8, &["8", "2"])],
    );
    assert_eq!(r, t(I32, &["4", "2"]));
    let e = bad(GraphOp::MatMul, a(), &[f(&["B", "784"]), f(&["785", "10"])]);
    assert_eq!(e.message, "matmul: contracted sizes differ: 784 vs 785");
    assert_eq!(e.operand, Some(1));
    let e = bad(GraphOp::MatMul, a(), &[f(&["B", "K"]), f(&["J", "10"])]);
    has(&e, "K vs J");
    let e = bad(GraphOp::MatMul, a(), &[f(&["784"]), f(&["784", "10"])]);
    assert_eq!(e.operand, Some(0));
    has(&e, "rank >= 2");
    assert_eq!(
        bad(GraphOp::MatMul, a(), &[f(&["2", "3"]), f(&["3"])]).operand,
        Some(1)
    );
    bad(GraphOp::MatMul, a(), &[f(&["2", "3"]), t(F16, &["3", "4"])]);
    bad(
        GraphOp::MatMul,
        a(),
        &[t(Bool, &["2", "3"]), t(Bool, &["3", "4"])],
    );
    has(
        &bad(
            GraphOp::MatMul,
            a(),
            &[f(&["2", "4", "3"]), f(&["5", "3", "4"])],
        ),
        "batch sizes do not broadcast: 2 vs 5",
    );
}

fn spec(s: &str) -> Attrs {
    a().with("spec", Attr::Str(s.into()))
}

#[test]
fn einsum_shapes() {
    let q = f(&["B", "H", "Q", "64"]);
    let k = f(&["B", "H", "K", "64"]);
    let r = ok(
        GraphOp::Einsum,
        spec("bhqd,bhkd->bhqk"),
        &[q.clone(), k.clone()],
    );
    assert_eq!(r, f(&["B", "H", "Q", "K"]));
    assert_eq!(
        ok(
            GraphOp::Einsum,
            spec("ij, jk -> ik"),
            &[f(&["2", "3"]), f(&["3", "4"])]
        ),
        f(&["2", "4"])
    );
    assert_eq!(
        ok(
            GraphOp::Einsum,
            spec("ij,ij->"),
            &[f(&["2", "3"]), f(&["2", "3"])]
        ),
        f(&[])
    );
    assert_eq!(
        ok(GraphOp::Einsum, spec("ij->ji"), &[f(&["2", "3"])]),
        f(&["3", "2"])
    );
    let r = ok(
        GraphOp::Einsum,
        spec("ij,jk->ik"),
        &[t(I8, &["2", "3"]), t(I8, &["3", "4"])],
    );
    assert_eq!(r.dtype, I32);
}

#[test]
fn einsum_errors() {
    let m = || [f(&["2", "3"]), f(&["3", "4"])];
    has(&bad(GraphOp::Einsum, spec("ij,jk"), &m()), "explicit `->`");
    has(&bad(GraphOp::Einsum, spec("...j,jk->...k"), &m()), "`...`");
    let e = bad(
        GraphOp::Einsum,
        spec("ii,jk->ik"),
        &[f(&["3", "3"]), f(&["3", "4"])],
    );
    has(&e, "label `i` is repeated");
    assert_eq!(e.operand, Some(0));
    has(
        &bad(GraphOp::Einsum, spec("ij,jk->ii"), &m()),
        "output label `i` is repeated",
    );
    has(
        &bad(GraphOp::Einsum, spec("ij,jk->iz"), &m()),
        "output label `z` does not appear",
    );
    has(
        &bad(GraphOp::Einsum, spec("ij,jk,kl->il"), &m()),
        "3 input terms but there are 2 operands",
    );
    let e = bad(GraphOp::Einsum, spec("ij,j->i"), &m());
    assert_eq!(e.operand, Some(1));
    has(&e, "rank 2");
    let e = bad(
        GraphOp::Einsum,
        spec("ij,jk->ik"),
        &[f(&["2", "3"]), f(&["4", "4"])],
    );
    has(&e, "label `j` has size 3 in \"ij\" but 4 in \"jk\"");
    assert_eq!(e.operand, Some(1));
    // Strict: size 1 does not broadcast in einsum.
    bad(
        GraphOp::Einsum,
        spec("ij,jk->ik"),
        &[f(&["2", "1"]), f(&["3", "4"])],
    );
    bad(
        GraphOp::Einsum,
        spec("ij,jk->ik"),
        &[f(&["2", "3"]), t(F16, &["3", "4"])],
    );
    bad(GraphOp::Einsum, spec("i1,jk->ik"), &m());
    bad(GraphOp::Einsum, spec("ij,jk->i->k"), &m());
    bad(GraphOp::Einsum, a(), &m());
    bad(GraphOp::Einsum, spec("->"), &[]);
}

// ---- reductions and normalisation ----

fn red(axes: &[i64], keep: bool) -> Attrs {
    a().with("axes", ints(axes))
        .with("keepdims", Attr::Bool(keep))
}

#[test]
fn reductions() {
    let x = f(&["B", "S", "4"]);
    assert_eq!(
        ok(
            GraphOp::ReduceSum,
            red(&[1], false),
            std::slice::from_ref(&x)
        ),
        f(&["B", "4"])
    );
    assert_eq!(
        ok(
            GraphOp::ReduceMean,
            red(&[0, 2], true),
            std::slice::from_ref(&x)
        ),
        f(&["1", "S", "1"])
    );
    assert_eq!(
        ok(
            GraphOp::ReduceMax,
            red(&[0, 1, 2], false),
            std::slice::from_ref(&x)
        ),
        f(&[])
    );
    assert_eq!(
        ok(GraphOp::ReduceMin, red(&[1], false), &[t(I32, &["4", "2"])]),
        t(I32, &["4"])
    );
    assert_eq!(
        ok(GraphOp::ReduceSum, red(&[0], false), &[t(I8, &["4"])]),
        t(I8, &[])
    );
    has(
        &bad(GraphOp::ReduceMean, red(&[0], false), &[t(I32, &["4"])]),
        "mean: the operand must have a float dtype",
    );
    bad(GraphOp::ReduceSum, red(&[0], false), &[t(Bool, &["4"])]);
    has(
        &bad(
            GraphOp::ReduceSum,
            red(&[3], false),
            std::slice::from_ref(&x),
        ),
        "axis 3 is out of range",
    );
    has(
        &bad(
            GraphOp::ReduceSum,
            red(&[-1], false),
            std::slice::from_ref(&x),
        ),
        "out of range",
    );
    has(
        &bad(
            GraphOp::ReduceSum,
            red(&[1, 0], false),
            std::slice::from_ref(&x),
        ),
        "sorted",
    );
    bad(
        GraphOp::ReduceSum,
        red(&[1, 1], false),
        std::slice::from_ref(&x),
    );
    bad(
        GraphOp::ReduceSum,
        a().with("axes", ints(&[0])),
        std::slice::from_ref(&x),
    );
    bad(GraphOp::ReduceSum, red(&[0], false), &[f(&[])]);
}

#[test]
fn argmax_and_softmax() {
    let at = |axis: i64, keep: bool| {
        a().with("axis", Attr::Int(axis))
            .with("keepdims", Attr::Bool(keep))
    };
    assert_eq!(
        ok(GraphOp::Argmax, at(1, false), &[f(&["B", "10"])]),
        t(I32, &["B"])
    );
    assert_eq!(
        ok(GraphOp::Argmax, at(1, true), &[t(I8, &["B", "10"])]),
        t(I32, &["B", "1"])
    );
    bad(GraphOp::Argmax, at(2, false), &[f(&["B", "10"])]);
    bad(
        GraphOp::Argmax,
        a().with("axis", Attr::Int(0)),
        &[f(&["B", "10"])],
    );
    let ax = |axis: i64| a().with("axis", Attr::Int(axis));
    for op in [GraphOp::Softmax, GraphOp::LogSoftmax] {
        assert_eq!(ok(op, ax(1), &[t(F16, &["B", "10"])]), t(F16, &["B", "10"]));
        bad(op, ax(1), &[t(I32, &["B", "10"])]);
        bad(op, ax(2), &[f(&["B", "10"])]);
        bad(op, a(), &[f(&["B", "10"])]);
        has(&bad(op, ax(0), &[f(&[])]), "scalar");
    }
}

#[test]
fn norms() {
    let at = |axis: i64| {
        a().with("axis", Attr::Int(axis))
            .with("eps", Attr::Float(1e-5))
    };
    let x = f(&["B", "8"]);
    assert_eq!(
        ok(
            GraphOp::LayerNorm,
            at(1),
            &[x.clone(), f(&["8"]), f(&["8"])]
        ),
        x
    );
    assert_eq!(ok(GraphOp::RmsNorm, at(1), &[x.clone(), f(&["8"])]), x);
    assert_eq!(ok(GraphOp::RmsNorm, at(0), &[x.clone(), f(&["B"])]), x);
    let e = bad(
        GraphOp::LayerNorm,
        at(1),
        &[x.clone(), f(&["7"]), f(&["8"])],
    );
    assert_eq!(e.operand, Some(1));
    has(&e, "gamma has size 7 but axis 1 of f32[B, 8] has size 8");
    let e = bad(
        GraphOp::LayerNorm,
        at(1),
        &[x.clone(), f(&["8"]), t(F16, &["8"])],
    );
    assert_eq!(e.operand, Some(2));
    let e = bad(
        GraphOp::LayerNorm,
        at(1),
        &[x.clone(), f(&["8"]), f(&["1", "8"])],
    );
    assert_eq!(e.operand, Some(2));
    bad(
        GraphOp::RmsNorm,
        at(1),
        &[t(I32, &["B", "8"]), t(I32, &["8"])],
    );
    bad(GraphOp::RmsNorm, at(2), &[x.clone(), f(&["8"])]);
    let neg = a()
        .with("axis", Attr::Int(1))
        .with("eps", Attr::Float(-1.0));
    has(&bad(GraphOp::RmsNorm, neg, &[x.clone(), f(&["8"])]), "eps");
    bad(GraphOp::LayerNorm, at(1), &[x.clone(), f(&["8"])]);
}

// ---- shape operations ----

#[test]
fn reshape_proves_element_counts() {
    let sh = |v: &[&str]| a().with("shape", sizes(v));
    let r = ok(
        GraphOp::Reshape,
        sh(&["B*S", "256"]),
        &[f(&["B", "S", "256"])],
    );
    assert_eq!(r, f(&["B*S", "256"]));
    let r = ok(
        GraphOp::Reshape,
        sh(&["B", "S", "4", "8"]),
        &[f(&["S*B", "32"])],
    );
    assert_eq!(r, f(&["B", "S", "4", "8"]));
    assert_eq!(
        ok(GraphOp::Reshape, sh(&["6"]), &[f(&["2", "3"])]),
        f(&["6"])
    );
    assert_eq!(ok(GraphOp::Reshape, sh(&[]), &[f(&["1", "1"])]), f(&[]));
    let r = ok(
        GraphOp::Reshape,
        a().with("shape", ints(&[3, 2])),
        &[f(&["2", "3"])],
    );
    assert_eq!(r, f(&["3", "2"]));
    let e = bad(
        GraphOp::Reshape,
        sh(&["B", "256"]),
        &[f(&["B", "S", "256"])],
    );
    has(&e, "element counts differ: 256*B*S vs 256*B");
    assert_eq!(e.operand, Some(0));
    assert!(e.hint.is_some());
    has(
        &bad(GraphOp::Reshape, sh(&["7"]), &[f(&["2", "3"])]),
        "6 vs 7",
    );
    has(
        &bad(GraphOp::Reshape, sh(&["-1", "3"]), &[f(&["2", "3"])]),
        "negative",
    );
    bad(GraphOp::Reshape, a(), &[f(&["2", "3"])]);
    // Constant overflow is an error, not a wrap.
    let big = (1i64 << 40).to_string();
    bad(GraphOp::Reshape, sh(&[&big, &big]), &[f(&["1"])]);
}

#[test]
fn transpose_perm() {
    let p = |v: &[i64]| a().with("perm", ints(v));
    assert_eq!(
        ok(GraphOp::Transpose, p(&[1, 0]), &[f(&["B", "4"])]),
        f(&["4", "B"])
    );
    assert_eq!(
        ok(GraphOp::Transpose, p(&[2, 0, 1]), &[f(&["A", "B", "C"])]),
        f(&["C", "A", "B"])
    );
    assert_eq!(ok(GraphOp::Transpose, p(&[]), &[f(&[])]), f(&[]));
    has(
        &bad(GraphOp::Transpose, p(&[0, 0]), &[f(&["B", "4"])]),
        "not a permutation",
    );
    bad(GraphOp::Transpose, p(&[0]), &[f(&["B", "4"])]);
    bad(GraphOp::Transpose, p(&[0, 2]), &[f(&["B", "4"])]);
    bad(GraphOp::Transpose, p(&[-1, 0]), &[f(&["B", "4"])]);
}

#[test]
fn broadcast_to_rules() {
    let sh = |v: &[&str]| a().with("shape", sizes(v));
    assert_eq!(
        ok(GraphOp::BroadcastTo, sh(&["B", "4"]), &[f(&["4"])]),
        f(&["B", "4"])
    );
    assert_eq!(
        ok(GraphOp::BroadcastTo, sh(&["B", "4"]), &[f(&["1", "4"])]),
        f(&["B", "4"])
    );
    assert_eq!(
        ok(GraphOp::BroadcastTo, sh(&["B", "4"]), &[f(&[])]),
        f(&["B", "4"])
    );
    let e = bad(GraphOp::BroadcastTo, sh(&["4"]), &[f(&["3"])]);
    has(&e, "size 3 vs 4");
    assert_eq!(e.operand, Some(0));
    bad(GraphOp::BroadcastTo, sh(&["4"]), &[f(&["2", "4"])]);
    bad(GraphOp::BroadcastTo, sh(&["B"]), &[f(&["S"])]);
    // The target may not shrink a size to 1.
    bad(GraphOp::BroadcastTo, sh(&["1"]), &[f(&["4"])]);
}

#[test]
fn concat_sums_axis() {
    let ax = |axis: i64| a().with("axis", Attr::Int(axis));
    let r = ok(GraphOp::Concat, ax(0), &[f(&["2", "4"]), f(&["B", "4"])]);
    assert_eq!(r, f(&["B+2", "4"]));
    let r = ok(
        GraphOp::Concat,
        ax(1),
        &[f(&["B", "1"]), f(&["B", "2"]), f(&["B", "3"])],
    );
    assert_eq!(r, f(&["B", "6"]));
    assert_eq!(ok(GraphOp::Concat, ax(0), &[f(&["3"])]), f(&["3"]));
    let e = bad(GraphOp::Concat, ax(0), &[f(&["2", "4"]), f(&["2", "5"])]);
    assert_eq!(e.operand, Some(1));
    has(&e, "sizes differ at axis 1");
    assert_eq!(
        bad(GraphOp::Concat, ax(0), &[f(&["2", "4"]), f(&["4"])]).operand,
        Some(1)
    );
    assert_eq!(
        bad(GraphOp::Concat, ax(0), &[f(&["2"]), t(I32, &["2"])]).operand,
        Some(1)
    );
    bad(GraphOp::Concat, ax(2), &[f(&["2", "4"])]);
    bad(GraphOp::Concat, ax(0), &[]);
    bad(GraphOp::Concat, ax(0), &[f(&[]), f(&[])]);
}

#[test]
fn slice_bounds() {
    let sl = |s: &[&str], e: &[&str]| a().with("start", sizes(s)).with("end", sizes(e));
    let r = ok(
        GraphOp::Slice,
        sl(&["0", "1"], &["B", "3"]),
        &[f(&["B", "4"])],
    );
    assert_eq!(r, f(&["B", "2"]));
    let r = ok(
        GraphOp::Slice,
        sl(&["2", "0"], &["5", "4"]),
        &[f(&["B", "4"])],
    );
    assert_eq!(r, f(&["3", "4"]));
    let r = ok(GraphOp::Slice, sl(&["1"], &["B"]), &[f(&["B"])]);
    assert_eq!(r.shape, vec![d("B").sub(&SymExpr::lit(1))]);
    has(
        &bad(GraphOp::Slice, sl(&["0"], &["5"]), &[f(&["4"])]),
        "out of bounds",
    );
    has(
        &bad(GraphOp::Slice, sl(&["2"], &["2"]), &[f(&["4"])]),
        "empty",
    );
    bad(GraphOp::Slice, sl(&["3"], &["1"]), &[f(&["4"])]);
    bad(GraphOp::Slice, sl(&["-1"], &["1"]), &[f(&["4"])]);
    bad(GraphOp::Slice, sl(&["0"], &["B+1"]), &[f(&["B"])]);
    bad(GraphOp::Slice, sl(&["B"], &["B"]), &[f(&["B"])]);
    has(
        &bad(GraphOp::Slice, sl(&["0"], &["1"]), &[f(&["4", "4"])]),
        "`start` has 1 value but",
    );
    bad(
        GraphOp::Slice,
        a().with("start", sizes(&["0"])),
        &[f(&["4"])],
    );
}

// ---- convolution and pooling ----

fn conv(stride: [i64; 2], pad: [i64; 2], dil: [i64; 2], groups: i64) -> Attrs {
    a().with("stride", ints(&stride))
        .with("padding", ints(&pad))
        .with("dilation", ints(&dil))
        .with("groups", Attr::Int(groups))
}

#[test]
fn conv2d_shapes() {
    let r = ok(
        GraphOp::Conv2d,
        conv([1, 1], [1, 1], [1, 1], 1),
        &[f(&["N", "3", "8", "8"]), f(&["4", "3", "3", "3"])],
    );
    assert_eq!(r, f(&["N", "4", "8", "8"]));
    // (H + 2 - 3) / 1 + 1 == H
    let r = ok(
        GraphOp::Conv2d,
        conv([1, 1], [1, 1], [1, 1], 1),
        &[f(&["N", "C", "H", "W"]), f(&["O", "C", "3", "3"])],
    );
    assert_eq!(r, f(&["N", "O", "H", "W"]));
    let r = ok(
        GraphOp::Conv2d,
        conv([2, 2], [1, 1], [1, 1], 1),
        &[f(&["N", "3", "H", "W"]), f(&["4", "3", "3", "3"])],
    );
    assert_eq!(r.shape[2].to_string(), "(H - 1) / 2 + 1");
    let r = ok(
        GraphOp::Conv2d,
        conv([2, 1], [0, 2], [1, 2], 1),
        &[f(&["1", "3", "9", "9"]), f(&["4", "3", "3", "3"])],
    );
    assert_eq!(r, f(&["1", "4", "4", "9"]));
    // Groups: 4 input channels, 2 groups of 2.
    let r = ok(
        GraphOp::Conv2d,
        conv([1, 1], [0, 0], [1, 1], 2),
        &[f(&["1", "4", "5", "5"]), f(&["8", "2", "1", "1"])],
    );
    assert_eq!(r, f(&["1", "8", "5", "5"]));
    let r = ok(
        GraphOp::Conv2d,
        conv([1, 1], [0, 0], [1, 1], 1),
        &[t(I8, &["1", "2", "3", "3"]), t(I8, &["1", "2", "3", "3"])],
    );
    assert_eq!(r, t(I32, &["1", "1", "1", "1"]));
}

#[test]
fn conv2d_errors() {
    let c1 = conv([1, 1], [0, 0], [1, 1], 1);
    let e = bad(
        GraphOp::Conv2d,
        c1.clone(),
        &[f(&["N", "3", "8", "8"]), f(&["4", "2", "3", "3"])],
    );
    has(&e, "the input has 3 channels");
    assert_eq!(e.operand, Some(1));
    bad(
        GraphOp::Conv2d,
        c1.clone(),
        &[f(&["N", "C", "8", "8"]), f(&["4", "D", "3", "3"])],
    );
    let e = bad(
        GraphOp::Conv2d,
        conv([1, 1], [0, 0], [1, 1], 2),
        &[f(&["1", "4", "5", "5"]), f(&["3", "2", "1", "1"])],
    );
    has(&e, "not divisible by 2 groups");
    let e = bad(
        GraphOp::Conv2d,
        c1.clone(),
        &[f(&["1", "3", "2", "8"]), f(&["4", "3", "3", "3"])],
    );
    has(&e, "output height would be 0");
    assert_eq!(e.operand, Some(0));
    assert_eq!(
        bad(
            GraphOp::Conv2d,
            c1.clone(),
            &[f(&["3", "8", "8"]), f(&["4", "3", "3", "3"])]
        )
        .operand,
        Some(0)
    );
    assert_eq!(
        bad(
            GraphOp::Conv2d,
            c1.clone(),
            &[f(&["1", "3", "8", "8"]), f(&["3", "3", "3"])]
        )
        .operand,
        Some(1)
    );
    bad(
        GraphOp::Conv2d,
        c1.clone(),
        &[f(&["1", "3", "8", "8"]), t(F16, &["4", "3", "3", "3"])],
    );
    let x = || [f(&["1", "3", "8", "8"]), f(&["4", "3", "3", "3"])];
    has(
        &bad(GraphOp::Conv2d, conv([0, 1], [0, 0], [1, 1], 1), &x()),
        "`stride`",
    );
    bad(GraphOp::Conv2d, conv([1, 1], [-1, 0], [1, 1], 1), &x());
    bad(GraphOp::Conv2d, conv([1, 1], [0, 0], [0, 1], 1), &x());
    bad(GraphOp::Conv2d, conv([1, 1], [0, 0], [1, 1], 0), &x());
    bad(
        GraphOp::Conv2d,
        conv([1, 1], [0, 0], [1, 1], 1).with("stride", ints(&[1])),
        &x(),
    );
    bad(GraphOp::Conv2d, a().with("stride", ints(&[1, 1])), &x());
    bad(
        GraphOp::Conv2d,
        conv([i64::MAX, 1], [0, 0], [1, 1], 1),
        &x(),
    );
}

fn pool(k: [i64; 2], s: [i64; 2], p: [i64; 2]) -> Attrs {
    a().with("kernel", ints(&k))
        .with("stride", ints(&s))
        .with("padding", ints(&p))
}

#[test]
fn pooling() {
    let x = f(&["N", "4", "8", "8"]);
    assert_eq!(
        ok(
            GraphOp::MaxPool2d,
            pool([2, 2], [2, 2], [0, 0]),
            std::slice::from_ref(&x)
        ),
        f(&["N", "4", "4", "4"])
    );
    assert_eq!(
        ok(
            GraphOp::AvgPool2d,
            pool([3, 3], [1, 1], [1, 1]),
            std::slice::from_ref(&x)
        ),
        x
    );
    assert_eq!(
        ok(
            GraphOp::MaxPool2d,
            pool([2, 2], [2, 2], [0, 0]),
            &[t(I8, &["1", "1", "4", "4"])]
        )
        .dtype,
        I8
    );
    bad(
        GraphOp::AvgPool2d,
        pool([2, 2], [2, 2], [0, 0]),
        &[t(I32, &["1", "1", "4", "4"])],
    );
    has(
        &bad(
            GraphOp::MaxPool2d,
            pool([2, 2], [2, 2], [2, 0]),
            std::slice::from_ref(&x),
        ),
        "more than half the kernel",
    );
    bad(
        GraphOp::MaxPool2d,
        pool([0, 2], [2, 2], [0, 0]),
        std::slice::from_ref(&x),
    );
    bad(
        GraphOp::MaxPool2d,
        pool([9, 2], [2, 2], [0, 0]),
        std::slice::from_ref(&x),
    );
    bad(
        GraphOp::MaxPool2d,
        pool([2, 2], [2, 2], [0, 0]),
        &[f(&["8", "8"])],
    );
    let r = ok(
        GraphOp::MaxPool2d,
        pool([2, 2], [2, 2], [0, 0]),
        &[f(&["N", "C", "H", "W"])],
    );
    assert_eq!(r.shape[2].to_string(), "H / 2");
}

// ---- precision ----

#[test]
fn quantize_rules() {
    let q = |dt: DType| a().with("dtype", Attr::DType(dt));
    assert_eq!(
        ok(GraphOp::Quantize, q(I8), &[f(&["4", "8"]), f(&[])]),
        t(I8, &["4", "8"])
    );
    let r = ok(
        GraphOp::Quantize,
        q(DType::F8E4M3).with("axis", Attr::Int(0)),
        &[f(&["4", "8"]), f(&["4"])],
    );
    assert_eq!(r, t(DType::F8E4M3, &["4", "8"]));
    let e = bad(GraphOp::Quantize, q(I8), &[f(&["4", "8"]), f(&["4"])]);
    assert_eq!(e.operand, Some(1));
    assert!(e.hint.is_some());
    let e = bad(
        GraphOp::Quantize,
        q(I8).with("axis", Attr::Int(1)),
        &[f(&["4", "8"]), f(&["4"])],
    );
    has(&e, "scale has size 4 but axis 1");
    bad(
        GraphOp::Quantize,
        q(I8).with("axis", Attr::Int(2)),
        &[f(&["4", "8"]), f(&["4"])],
    );
    has(
        &bad(GraphOp::Quantize, q(F16), &[f(&["4"]), f(&[])]),
        "i8, f8e4m3 or f8e5m2",
    );
    assert_eq!(
        bad(GraphOp::Quantize, q(I8), &[t(I32, &["4"]), f(&[])]).operand,
        Some(0)
    );
    assert_eq!(
        bad(GraphOp::Quantize, q(I8), &[f(&["4"]), t(I32, &[])]).operand,
        Some(1)
    );
}

#[test]
fn dequantize_rules() {
    assert_eq!(
        ok(GraphOp::Dequantize, a(), &[t(I8, &["4", "8"]), f(&[])]),
        f(&["4", "8"])
    );
    let r = ok(
        GraphOp::Dequantize,
        a().with("axis", Attr::Int(0)),
        &[t(DType::F8E5M2, &["4", "8"]), f(&["4"])],
    );
    assert_eq!(r, f(&["4", "8"]));
    assert_eq!(
        ok(GraphOp::Dequantize, a(), &[t(I32, &["B"]), t(F16, &[])]),
        f(&["B"])
    );
    assert_eq!(
        bad(GraphOp::Dequantize, a(), &[f(&["4"]), f(&[])]).operand,
        Some(0)
    );
    assert_eq!(
        bad(
            GraphOp::Dequantize,
            a().with("axis", Attr::Int(0)),
            &[t(I8, &["4"]), f(&["5"])]
        )
        .operand,
        Some(1)
    );
}

// ---- functions and generic checks ----

#[test]
fn call_and_return() {
    let e = bad(
        GraphOp::Call,
        a().with("callee", Attr::Symbol("layer".into())),
        &[f(&["4"])],
    );
    has(&e, "@layer");
    assert_eq!(infer(GraphOp::Return, &a(), &[f(&["4"])]), Ok(Vec::new()));
    bad(GraphOp::Return, a(), &[]);
}

#[test]
fn generic_attribute_checks() {
    let e = bad(
        GraphOp::Add,
        a().with("axis", Attr::Int(0)),
        &[f(&["4"]), f(&["4"])],
    );
    has(&e, "unknown attribute `axis`");
    let e = bad(
        GraphOp::Softmax,
        a().with("axis", Attr::Float(1.0)),
        &[f(&["4"])],
    );
    has(&e, "attribute `axis` must be an integer");
    let dup = Attrs(vec![
        ("axis".into(), Attr::Int(0)),
        ("axis".into(), Attr::Int(0)),
    ]);
    has(&bad(GraphOp::Softmax, dup, &[f(&["4"])]), "given twice");
}

#[test]
fn every_op_rejects_empty_input_without_panicking() {
    for &op in GraphOp::ALL {
        let _ = infer(op, &a(), &[]);
        let _ = infer(op, &a(), &[f(&[])]);
        let _ = infer(op, &a(), &[f(&["B"]), f(&[]), t(I8, &["0", "1"])]);
    }
}
