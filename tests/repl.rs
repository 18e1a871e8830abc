//! The REPL's `Session`, entry by entry, without a terminal: values, bindings, functions,
//! the cache of compiled functions, the IR levels against `tessera dump`'s text, errors
//! located in the line and recovered from, and random lines that never panic.

mod common;

use proptest::prelude::*;
use std::path::Path;
use tessera::dump::{self, IrLevel};
use tessera::repl::Session;
use tessera::{Program, Tensor};
use tessera_dialects::DType;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The output of an entry that must succeed.
fn ok(s: &mut Session, entry: &str) -> String {
    match s.eval(entry) {
        Ok(r) => r.out,
        Err(e) => panic!("`{entry}` failed:\n{}", e.render(false)),
    }
}

/// The rendered error of an entry that must fail.
fn err(s: &mut Session, entry: &str) -> String {
    match s.eval(entry) {
        Ok(r) => panic!("`{entry}` succeeded:\n{}", r.out),
        Err(e) => e.render(false),
    }
}

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_f32(DType::F32, shape.to_vec(), v.to_vec()).unwrap()
}

#[test]
fn evaluates_and_binds() {
    let mut s = Session::new();
    s.bind("x", f32s(&[2, 2], &[1.0, -2.0, 3.0, -4.0]));
    assert_eq!(
        ok(&mut s, "relu(x) + 1"),
        "f32[2, 2]\n[[2., 1.],\n [4., 1.]]\n"
    );
    assert_eq!(ok(&mut s, "let y = x * 2"), "y: f32[2, 2]\n");
    assert_eq!(
        s.tensor("y").unwrap().to_f32_vec(),
        vec![2.0, -4.0, 6.0, -8.0]
    );
    assert_eq!(ok(&mut s, "sum(y)"), "f32\n-4.\n");
    assert_eq!(ok(&mut s, "x @ y;"), "", "a final `;` prints nothing");
    assert_eq!(ok(&mut s, "1 + 2"), "i32\n3\n");
    assert_eq!(
        ok(&mut s, "x > 0"),
        "bool[2, 2]\n[[ true, false],\n [ true, false]]\n"
    );
    assert_eq!(ok(&mut s, "  // only a comment"), "");
    // Several lines: an open bracket continues the entry.
    assert_eq!(
        ok(&mut s, "max(x,\n    0)"),
        "f32[2, 2]\n[[1., 0.],\n [3., 0.]]\n"
    );
    assert_eq!(ok(&mut s, "let z: f32[2, 2] = x"), "z: f32[2, 2]\n");
}

#[test]
fn host_builtins() {
    let mut s = Session::new();
    assert_eq!(ok(&mut s, "let x = randn([4, 784])"), "x: f32[4, 784]\n");
    // Seeds come from a counter: a new session gives the same values.
    let mut t = Session::new();
    ok(&mut t, "let x = randn([4, 784])");
    assert_eq!(s.tensor("x"), t.tensor("x"));
    ok(&mut s, "let a = randn([3], seed: 7)");
    ok(&mut s, "let b = randn([3], seed: 7)");
    assert_eq!(s.tensor("a"), s.tensor("b"));
    assert_eq!(ok(&mut s, "zeros([2], dtype: i32)"), "i32[2]\n[0, 0]\n");
    assert_eq!(
        ok(&mut s, "ones([2, 1]) * 3"),
        "f32[2, 1]\n[[3.],\n [3.]]\n"
    );
    assert_eq!(ok(&mut s, "arange(4) + 1"), "f32[4]\n[1., 2., 3., 4.]\n");
    assert_eq!(
        ok(
            &mut s,
            "tensor([[1.0, -2], [3, 4e0]]) @ tensor([[1.0], [1.0]])"
        ),
        "f32[2, 1]\n[[-1.],\n [ 7.]]\n"
    );
    assert_eq!(ok(&mut s, "tensor([1, -2, 3])"), "i32[3]\n[ 1, -2,  3]\n");
    assert_eq!(
        ok(&mut s, "tensor([true, false])"),
        "bool[2]\n[ true, false]\n"
    );
    assert_eq!(
        ok(&mut s, "tensor([1.5, 2.5], dtype: i8)"),
        "i8[2]\n[2, 2]\n"
    );
    assert_eq!(ok(&mut s, "tensor(2.5) * 2"), "f32\n5.\n");
    assert!(err(&mut s, "tensor([[1, 2], [3]])")
        .contains("ragged nesting: this list has 1 entry, the first list at its depth 2 entries"));
    assert!(err(&mut s, "tensor([[1, 2], 3])").contains("ragged nesting"));
    assert!(err(&mut s, "tensor([1, [2]])").contains("ragged nesting"));
    assert!(err(&mut s, "tensor([])").contains("empty list"));
    assert!(err(&mut s, "tensor([1, true])").contains("mix booleans and numbers"));
    assert!(err(&mut s, "tensor([x])").contains("nested lists of number"));
    assert!(err(&mut s, "tensor([3000000000])").contains("does not fit in i32"));
    // With a dtype, each entry converts once from its literal value.
    assert_eq!(
        ok(&mut s, "tensor([3000000000, 1], dtype: f32)"),
        "f32[2]\n[3.e+09, 1.e+00]\n"
    );
    assert_eq!(
        ok(&mut s, "tensor([16777217, 0.5, -2.5], dtype: i32)"),
        "i32[3]\n[16777217,        0,       -2]\n"
    );
    assert_eq!(
        ok(&mut s, "tensor([300, -1], dtype: i8)"),
        "i8[2]\n[127,  -1]\n"
    );
    let r = ok(&mut s, "rand([1000])");
    assert!(r.starts_with("f32[1000]\n["), "{r}");
    assert!(err(&mut s, "zeros([0, 2])").contains("size 0 is not positive"));
    assert!(err(&mut s, "randn(x)").contains("expected a shape"));
    assert!(err(&mut s, "ones([2], sed: 1)").contains("`ones` has no argument `sed`"));
}

/// `:precision` lowers the contractions of later entries, as `--precision` does: the
/// value moves by a quantisation's error, `:explain` names the lowering, the cache keeps
/// the two compilations apart, and `f32` gives the exact value back.
#[test]
fn precision_command_lowers_contractions() {
    let mut s = Session::new();
    ok(&mut s, "let x = randn([4, 64])");
    ok(&mut s, "let w = randn([64, 8])");
    assert_eq!(ok(&mut s, ":precision"), "precision: f32\n");
    ok(&mut s, "let y = x @ w");
    let exact = s.tensor("y").unwrap().to_f32_vec();
    assert!(ok(&mut s, ":precision int8").starts_with("precision: int8"));
    assert!(ok(&mut s, ":explain x @ w").contains("int8/row"));
    ok(&mut s, "let y8 = x @ w");
    let lowered = s.tensor("y8").unwrap().to_f32_vec();
    let scale = exact.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = exact
        .iter()
        .zip(&lowered)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff > 0.0 && diff < 2e-2 * scale, "{diff} of {scale}");
    // Blocks of 32 along K = 64: one scale per (row, block) and (block, column).
    assert!(ok(&mut s, ":precision int8/block32").starts_with("precision: int8/block32"));
    assert!(ok(&mut s, ":explain x @ w").contains("int8/block32"));
    ok(&mut s, "let yb = x @ w");
    let blocked = s.tensor("yb").unwrap().to_f32_vec();
    let diff = exact
        .iter()
        .zip(&blocked)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff > 0.0 && diff < 2e-2 * scale, "{diff} of {scale}");
    ok(&mut s, ":precision f32");
    ok(&mut s, "let y32 = x @ w");
    assert_eq!(s.tensor("y32").unwrap().to_f32_vec(), exact);
    assert!(err(&mut s, ":precision auto").contains("needs calibration data"));
    assert!(err(&mut s, ":precision int4").contains("unknown precision `int4`"));
}

#[test]
fn files_save_load_weights() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("v.npy");
    let mut s = Session::new();
    s.bind("v", f32s(&[3], &[1.0, 2.5, -1.0]));
    let out = ok(&mut s, &format!(":save v {}", npy.display()));
    assert!(out.starts_with("saved v (f32[3]) to "), "{out}");
    assert_eq!(
        ok(&mut s, &format!("load(\"{}\") * 2", npy.display())),
        "f32[3]\n[ 2.,  5., -2.]\n"
    );
    let st = dir.path().join("w.safetensors");
    let tensors = vec![
        ("w1".to_string(), f32s(&[2], &[1.0, 2.0])),
        ("layer.0".to_string(), f32s(&[1], &[5.0])),
    ];
    tessera_tensor::safetensors_io::write_safetensors_file(&st, &tensors).unwrap();
    let out = ok(&mut s, &format!(":weights {}", st.display()));
    assert!(out.contains("  w1: f32[2]\n"), "{out}");
    assert!(
        out.contains("  layer_0: f32[1] (`layer.0` in the file)\n"),
        "{out}"
    );
    assert_eq!(ok(&mut s, "w1 + layer_0"), "f32[2]\n[6., 7.]\n");
    // A missing file: the error names it, and points into the line for `load`.
    let e = err(&mut s, "let q = load(\"missing.npy\")");
    assert!(e.contains("cannot read `missing.npy`"), "{e}");
    assert!(e.contains("<repl>:1:14"), "{e}");
    assert!(err(&mut s, ":weights missing.safetensors").contains("missing.safetensors"));
    assert!(err(&mut s, ":load missing.tsr").contains("cannot read `missing.tsr`"));
    assert!(s.tensor("q").is_none());
}

#[test]
fn functions_defined_and_loaded() {
    let mut s = Session::new();
    let out = ok(&mut s, "fn double(a: f32[N]) -> f32[N] {\n  a * 2\n}");
    assert_eq!(out, "defined double(a: f32[N]) -> f32[N]\n");
    s.bind("x", f32s(&[2], &[1.0, 2.0]));
    assert_eq!(ok(&mut s, "double(double(x))"), "f32[2]\n[4., 8.]\n");
    // Functions calling functions; several results.
    ok(
        &mut s,
        "fn pm(a: f32[N]) -> (f32[N], f32[N]) { (double(a), a - 1) }",
    );
    assert_eq!(
        ok(&mut s, "pm(x)"),
        "result 0: f32[2]\n[2., 4.]\nresult 1: f32[2]\n[0., 1.]\n"
    );
    assert_eq!(ok(&mut s, "let (p, m) = pm(x)"), "p: f32[2]\nm: f32[2]\n");
    assert_eq!(s.tensor("m").unwrap().to_f32_vec(), vec![0.0, 1.0]);
    // Redefinition replaces.
    ok(&mut s, "fn double(a: f32[N]) -> f32[N] { a * 3 }");
    assert_eq!(ok(&mut s, "double(x)"), "f32[2]\n[3., 6.]\n");
    // Errors in a definition point into it; the old definition stays.
    let e = err(&mut s, "fn double(a: f32[N]) -> f32[N] {\n  a @ a\n}");
    assert!(e.contains("<repl>:2:"), "{e}");
    assert_eq!(ok(&mut s, "double(x)"), "f32[2]\n[3., 6.]\n");
    assert!(err(&mut s, "fn randn(a: f32) -> f32 { a }").contains("built-in of the REPL"));
    // A program file.
    let mlp = root().join("examples/mlp.tsr");
    let out = ok(&mut s, &format!(":load {}", mlp.display()));
    assert!(out.contains("fn mlp(x: f32[B, 784]"), "{out}");
    ok(&mut s, "let x = randn([3, 784])");
    for (n, shape) in [
        ("w1", vec![784, 1024]),
        ("b1", vec![1024]),
        ("w2", vec![1024, 1024]),
        ("b2", vec![1024]),
        ("w3", vec![1024, 10]),
        ("b3", vec![10]),
    ] {
        let t = tessera_tensor::random::normal(DType::F32, &shape, 0.0, 0.03, 1).unwrap();
        s.bind(n, t);
    }
    ok(
        &mut s,
        "let p = sum(mlp(x, w1, b1, w2, b2, w3, b3), axis: 1)",
    );
    for v in s.tensor("p").unwrap().to_f32_vec() {
        assert!((v - 1.0).abs() < 1e-5, "softmax rows sum to 1: {v}");
    }
    let vars = ok(&mut s, ":vars");
    assert!(vars.contains("x: f32[3, 784]\n"), "{vars}");
    assert!(
        vars.contains("fn pm(a: f32[N]) -> (f32[N], f32[N])\n"),
        "{vars}"
    );
}

#[test]
fn reevaluation_hits_the_cache() {
    let mut s = Session::new();
    ok(&mut s, "let x = randn([4, 8])");
    assert_eq!(
        s.stats().compilations,
        0,
        "binding a built-in's value compiles nothing"
    );
    let first = ok(&mut s, "x + 1");
    assert_eq!((s.stats().compilations, s.stats().hits), (1, 0));
    assert_eq!(ok(&mut s, "x + 1"), first);
    assert_eq!((s.stats().compilations, s.stats().hits), (1, 1));
    // New values of the same shape: the same compiled function.
    ok(&mut s, "let x = randn([4, 8])");
    let again = ok(&mut s, "x + 1");
    assert_ne!(again, first);
    assert_eq!((s.stats().compilations, s.stats().hits), (1, 2));
    // Another shape, or another expression: compiled once more.
    ok(&mut s, "let x = randn([2, 8])");
    ok(&mut s, "x + 1");
    ok(&mut s, "x + 2");
    assert_eq!(s.stats().compilations, 3);
    // `:time` compiles cold on purpose.
    let t = ok(&mut s, ":time x + 2");
    assert!(t.starts_with("compile: "), "{t}");
    assert!(t.contains("\nrun on cpu (10 iters): min "), "{t}");
    assert_eq!(s.stats().compilations, 4);
    assert_eq!(s.stats().hits, 2);
}

/// `:ir LEVEL FN` prints what `tessera dump FILE --ir LEVEL --fn FN` prints.
#[test]
fn ir_levels_match_dump() {
    let path = root().join("examples/mlp.tsr");
    let program = Program::load(&path).unwrap();
    let mut s = Session::new();
    ok(&mut s, &format!(":load {}", path.display()));
    for level in ["ast", "graph", "graph-opt", "tile", "scheduled", "clif"] {
        let l = IrLevel::from_name(level).unwrap();
        let want = dump::render(&program, Some("mlp"), l, false).unwrap();
        let mut want = want;
        if !want.ends_with('\n') {
            want.push('\n');
        }
        assert_eq!(
            ok(&mut s, &format!(":ir {level} mlp")),
            want,
            "level {level}"
        );
    }
    // An expression: the program `:source` shows, dumped.
    s.bind("x", f32s(&[2, 3], &[1.0; 6]));
    let src = ok(&mut s, ":source relu(x) + 1");
    // The expression keeps its columns in the line (`:source ` became blanks).
    assert!(
        src.contains("fn expr(x: f32[2, 3]) -> f32[2, 3] {\n        relu(x) + 1\n}"),
        "{src}"
    );
    let synthesized = Program::from_source("expr.tsr", &src).unwrap();
    for level in ["ast", "graph", "graph-opt", "tile", "scheduled", "clif"] {
        let l = IrLevel::from_name(level).unwrap();
        let mut want = dump::render(&synthesized, Some("expr"), l, false).unwrap();
        if !want.ends_with('\n') {
            want.push('\n');
        }
        assert_eq!(ok(&mut s, &format!(":ir {level} relu(x) + 1")), want);
    }
    // :explain prints what `dump --ir graph-opt --explain` prints.
    let mut want = dump::render(&program, Some("mlp"), IrLevel::GraphOpt, true).unwrap();
    if !want.ends_with('\n') {
        want.push('\n');
    }
    assert_eq!(ok(&mut s, ":explain mlp"), want);
    let mut want = dump::render(&synthesized, Some("expr"), IrLevel::GraphOpt, true).unwrap();
    if !want.ends_with('\n') {
        want.push('\n');
    }
    assert_eq!(ok(&mut s, ":explain relu(x) + 1"), want);
    assert!(err(&mut s, ":ir ptx x").contains("GPU back end"));
}

#[test]
fn errors_point_into_the_line_and_leave_the_session_intact() {
    let mut s = Session::new();
    ok(&mut s, "let x = randn([2, 3])");
    let before = s.tensor("x").cloned();
    let e = err(&mut s, "relu(x +)");
    assert_eq!(
        e,
        "error: expected an expression, found `)`\n  ┌─ <repl>:1:9\n  │\n1 │ relu(x +)\n  │         ^ expected an expression\n\n"
    );
    let e = err(&mut s, "let y = x @ x");
    assert!(
        e.starts_with("error: matmul: contracted sizes differ: 3 vs 2\n  ┌─ <repl>:1:13\n"),
        "{e}"
    );
    assert!(e.contains("1 │ let y = x @ x\n"), "{e}");
    let e = err(&mut s, "softmax(x, axs: 1)");
    assert!(e.contains("<repl>:1:"), "{e}");
    let e = err(&mut s, "exp(xx)");
    assert!(
        e.contains("unknown name `xx`") && e.contains("<repl>:1:5"),
        "{e}"
    );
    let e = err(&mut s, ":ir graph x $ 1");
    assert!(e.contains("<repl>:1:13"), "{e}");
    // A REPL built-in's call is underlined whole, though it became an input.
    let e = err(&mut s, "let (a, b) = randn([2])");
    assert!(e.contains("<repl>:1:14"), "{e}");
    assert!(
        e.contains("------   ^^^^^^^^^^ this gives one value"),
        "{e}"
    );
    let e = err(&mut s, "let = 1");
    assert!(e.contains("expected a name"), "{e}");
    assert!(err(&mut s, ":frobnicate").contains("unknown command `:frobnicate`"));
    assert!(err(&mut s, ":save nothing x.npy").contains("no tensor `nothing`"));
    assert!(err(&mut s, ":ir").contains("needs an IR level"));
    // Nothing changed, and the next entry works.
    assert!(s.tensor("y").is_none());
    assert_eq!(s.tensor("x").cloned(), before);
    assert!(ok(&mut s, "abs(x) * 0").starts_with("f32[2, 3]\n[[0., 0., 0.],"));
}

#[test]
fn help_and_quit() {
    let mut s = Session::new();
    let h = ok(&mut s, ":help");
    for c in [
        ":load", ":weights", ":ir", ":explain", ":time", ":save", ":quit",
    ] {
        assert!(h.contains(c), "{h}");
    }
    assert!(s.eval(":quit").unwrap().quit);
    assert!(s.eval(":q").unwrap().quit);
}

/// Ctrl-C's flag is cleared when an entry starts (a stale Ctrl-C interrupts nothing);
/// interrupting a running computation is tested in `repl_pty.rs` and `repl::worker`.
#[test]
fn stale_interrupt_is_ignored() {
    let mut s = Session::new();
    ok(&mut s, "let a = randn([16, 16])");
    s.interrupt_flag()
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(ok(&mut s, "sum(a @ a)").starts_with("f32\n"));
}

/// Pieces of entries: valid and broken DSL, commands, built-ins.
fn piece() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "x",
        "y",
        "w",
        "q",
        "+",
        "-",
        "*",
        "/",
        "@",
        "(",
        ")",
        "[",
        "]",
        ",",
        ":",
        ";",
        "=",
        "let",
        "fn",
        "as",
        "f32",
        "i8",
        "bf16",
        "bool",
        "relu",
        "sum",
        "softmax",
        "axis:",
        "reshape",
        "transpose",
        "concat",
        "einsum",
        "\"ij,jk->ik\"",
        "max",
        "where",
        "1",
        "0",
        "-1",
        "2.5",
        "1e-3",
        "true",
        "randn([2, 3])",
        "zeros([3])",
        "load(\"nope.npy\")",
        ":ir",
        ":ir graph",
        ":ir tile",
        ":explain",
        ":source",
        ":vars",
        ":time",
        ":help",
        "graph",
        "{",
        "}",
        "->",
        "f32[2, 3]",
        "f32[N]",
        "x[0:1, :]",
        "x[-1]",
        "<",
        "==",
        "\n",
        "//",
        "é",
        "\u{0}",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// No entry makes the session panic, and after any entry the session still works.
    #[test]
    fn random_entries_never_panic(entries in prop::collection::vec(
        prop::collection::vec(piece(), 0..10).prop_map(|p| p.join(" ")), 1..5)) {
        let mut s = Session::new();
        s.bind("x", f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        s.bind("y", f32s(&[3], &[1.0, 2.0, 3.0]));
        for e in &entries {
            if let Err(err) = s.eval(e) {
                let text = err.render(false);
                prop_assert!(!text.contains("internal error"), "{}: {}", e, text);
            }
        }
        prop_assert!(s.eval("x + 1").is_ok() || s.tensor("x").is_some_and(|t| t.shape() != [2, 3]));
    }
}

/// `:weights` refuses a file with two tensors that would get the same name, or with a
/// tensor the compiler cannot take (an empty one), binding none of its tensors.
#[test]
fn weights_refuse_name_clashes_and_empty_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Session::new();
    for (file, tensors, want) in [
        (
            "clash.safetensors",
            vec![
                ("layer.0.w".to_string(), f32s(&[1], &[1.0])),
                ("layer_0_w".to_string(), f32s(&[1], &[0.0])),
            ],
            "would both be bound as `layer_0_w`",
        ),
        (
            "empty.safetensors",
            vec![
                ("ok".to_string(), f32s(&[1], &[1.0])),
                ("e".to_string(), f32s(&[0], &[])),
            ],
            "tensors are not empty",
        ),
    ] {
        let path = dir.path().join(file);
        tessera_tensor::write_safetensors_file(&path, &tensors).unwrap();
        let e = err(&mut s, &format!(":weights {}", path.display()));
        assert!(e.contains(want), "{e}");
        assert!(err(&mut s, "ok").contains("unknown name"));
    }
    // A header that gives one name twice (the last would win silently).
    let path = dir.path().join("dup.safetensors");
    let one = 1f32.to_le_bytes().to_vec();
    common::raw_safetensors(
        &path,
        &[("ok", "F32", &[1], one.clone()), ("ok", "F32", &[1], one)],
    );
    let e = err(&mut s, &format!(":weights {}", path.display()));
    assert!(
        e.contains(&format!(
            "{}: the header names tensor `ok` twice",
            path.display()
        )),
        "{e}"
    );
    assert!(err(&mut s, "ok").contains("unknown name"));
}

/// A failed entry leaves the session's seed counter as it was: the random tensors of
/// later entries do not depend on whether an earlier entry failed, whatever stage failed
/// (a type error after the built-ins ran, a later built-in's error, an unknown name).
#[test]
fn failed_entries_take_no_seed() {
    let mut clean = Session::new();
    ok(&mut clean, "let a = randn([4])");
    ok(&mut clean, "let b = rand([3])");
    let mut s = Session::new();
    // The matmul is refused by the checker, after both `randn` calls took their values.
    err(&mut s, "randn([2, 3]) @ randn([2, 3])");
    ok(&mut s, "let a = randn([4])");
    err(&mut s, "let c = rand([2]) + zeros([0])");
    err(&mut s, "let c = rand([2]) + nothing");
    ok(&mut s, "let b = rand([3])");
    assert_eq!(s.tensor("a"), clean.tensor("a"));
    assert_eq!(s.tensor("b"), clean.tensor("b"));
}

/// Inspecting an expression (`:ir`, `:explain`, `:source`, `:time`) takes no seed either.
#[test]
fn inspecting_an_expression_takes_no_seed() {
    let mut clean = Session::new();
    ok(&mut clean, "let a = randn([4])");
    let mut s = Session::new();
    for command in [
        ":ir graph exp(randn([3]))",
        ":explain exp(randn([3]))",
        ":source exp(randn([3]))",
        ":time exp(randn([3]))",
    ] {
        ok(&mut s, command);
    }
    ok(&mut s, "let a = randn([4])");
    assert_eq!(s.tensor("a"), clean.tensor("a"));
}

/// `:save` then `load` gives the tensor back, bit for bit, in every dtype the REPL holds.
/// The two FP8 formats share one raw `.npy` encoding (`|V1`, as NumPy saves `ml_dtypes`),
/// so `load` takes `dtype:` to say which one a file holds; without it the error says so.
#[test]
fn save_then_load_round_trips_every_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Session::new();
    for d in DType::ALL {
        let path = dir.path().join(format!("{d}.npy"));
        ok(
            &mut s,
            &format!("let t = tensor([[0.5, -1.5, 3.0], [448.0, -0.0, 2.25]], dtype: {d})"),
        );
        let out = ok(&mut s, &format!(":save t {}", path.display()));
        assert!(
            out.starts_with(&format!("saved t ({d}[2, 3]) to ")),
            "{out}"
        );
        ok(
            &mut s,
            &format!("let u = load(\"{}\", dtype: {d})", path.display()),
        );
        assert_eq!(s.tensor("u"), s.tensor("t"), "{d}");
        let plain = format!("let v = load(\"{}\")", path.display());
        if matches!(d, DType::F8E4M3 | DType::F8E5M2) {
            assert!(out.contains(&format!("dtype: {d}")), "{out}");
            let e = err(&mut s, &plain);
            assert!(e.contains("give `dtype: f8e4m3` or `dtype: f8e5m2`"), "{e}");
        } else {
            ok(&mut s, &plain);
            assert_eq!(s.tensor("v"), s.tensor("t"), "{d}");
        }
    }
    // `dtype:` names the dtype the file must hold: it never converts.
    let f32_file = dir.path().join("f32.npy");
    let e = err(
        &mut s,
        &format!("load(\"{}\", dtype: i8)", f32_file.display()),
    );
    assert!(e.contains("file holds f32 (<f4), expected i8"), "{e}");
    let e = err(
        &mut s,
        &format!("load(\"{}\", dtype: 3)", f32_file.display()),
    );
    assert!(e.contains("`dtype:` takes a dtype"), "{e}");
}

/// A redefinition that makes functions call each other reports the recursion alone (the
/// function it replaces is not checked beside it as a second definition), and the session
/// keeps its old definitions.
#[test]
fn redefinition_into_recursion_is_one_error() {
    let mut s = Session::new();
    s.bind("x", f32s(&[2], &[1.0, 2.0]));
    ok(&mut s, "fn g(a: f32[N]) -> f32[N] { a * 2 }");
    ok(&mut s, "fn f(a: f32[N]) -> f32[N] { g(a) + 1 }");
    let e = err(&mut s, "fn g(a: f32[N]) -> f32[N] { f(a) }");
    assert!(
        e.starts_with("error: recursion is not allowed: f -> g -> f\n"),
        "{e}"
    );
    assert_eq!(e.matches("error:").count(), 1, "{e}");
    assert_eq!(ok(&mut s, "f(x)"), "f32[2]\n[3., 5.]\n");
    // Through a third function, and a function that calls itself.
    ok(&mut s, "fn h(a: f32[N]) -> f32[N] { f(a) - 1 }");
    let e = err(&mut s, "fn g(a: f32[N]) -> f32[N] { h(a) }");
    assert!(e.starts_with("error: recursion is not allowed: "), "{e}");
    assert_eq!(e.matches("error:").count(), 1, "{e}");
    let e = err(&mut s, "fn f(a: f32[N]) -> f32[N] { f(a) }");
    assert!(e.starts_with("error: recursion is not allowed: "), "{e}");
    assert_eq!(e.matches("error:").count(), 1, "{e}");
    assert_eq!(ok(&mut s, "h(x)"), "f32[2]\n[2., 4.]\n");
    let vars = ok(&mut s, ":vars");
    assert!(!vars.contains("does not check"), "{vars}");
    // Two definitions of one name in one entry are still reported as such.
    let e = err(
        &mut s,
        "fn k(a: f32[N]) -> f32[N] { a }\nfn k(a: f32[N]) -> f32[N] { a }",
    );
    assert!(e.contains("function `k` is defined twice"), "{e}");
}

/// A `;` between two statements says that an entry is one statement, pointing at the `;`
/// and at what follows it, in entries and in the expressions of commands; the session is
/// unchanged.
#[test]
fn a_semicolon_between_statements_is_explained() {
    let mut s = Session::new();
    ok(&mut s, "let x = zeros([2])");
    let e = err(&mut s, "let a = randn([2]); let b = randn([2])");
    assert!(
        e.starts_with(
            "error: an entry is one statement: this `;` ends it before the end of the entry\n  ┌─ <repl>:1:19\n"
        ),
        "{e}"
    );
    assert!(e.contains("the statement ends here"), "{e}");
    assert!(e.contains("^ ------------------ a second statement"), "{e}");
    assert!(
        e.contains("hint: enter each statement on a line of its own"),
        "{e}"
    );
    assert!(s.tensor("a").is_none() && s.tensor("b").is_none());
    for (entry, col) in [
        ("x + 1; x", "1:6"),
        ("x;;", "1:2"),
        (":source x + 1; x", "1:14"),
        (":time x; x", "1:8"),
    ] {
        let e = err(&mut s, entry);
        assert!(e.contains("an entry is one statement"), "{entry}: {e}");
        assert!(e.contains(&format!("<repl>:{col}")), "{entry}: {e}");
    }
    // A final `;` is still fine, and one inside brackets is the parser's error.
    assert_eq!(ok(&mut s, "let y = x;"), "y: f32[2]\n");
    assert!(err(&mut s, "relu(x; x)").contains("found `;`"));
}

/// Commands refuse arguments they do not take, with their usage, and change nothing; a
/// file name with blanks is written in double quotes.
#[test]
fn commands_refuse_extra_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Session::new();
    ok(&mut s, "let t = ones([2])");
    let npy = dir.path().join("t.npy");
    let e = err(&mut s, &format!(":save t {} extra", npy.display()));
    assert!(
        e.starts_with("error: `:save` takes 2 arguments, given 3\n"),
        "{e}"
    );
    assert!(e.contains("^^^^^ not an argument of `:save`"), "{e}");
    assert!(e.contains("hint: usage: `:save NAME FILE.npy`"), "{e}");
    assert!(!npy.exists() && !dir.path().join("t.npy extra").exists());
    let st = dir.path().join("w.safetensors");
    let tensors = vec![("w".to_string(), f32s(&[1], &[1.0]))];
    tessera_tensor::write_safetensors_file(&st, &tensors).unwrap();
    let mlp = root().join("examples/mlp.tsr");
    for (entry, want) in [
        (":vars x".to_string(), "`:vars` takes no arguments, given 1"),
        (
            ":help me please".to_string(),
            "`:help` takes no arguments, given 2",
        ),
        (":q now".to_string(), "`:quit` takes no arguments, given 1"),
        (
            format!(":weights {} {}", st.display(), st.display()),
            "`:weights` takes 1 argument, given 2",
        ),
        (
            format!(":load {} again", mlp.display()),
            "`:load` takes 1 argument, given 2",
        ),
        (
            ":precision bf16 f16".to_string(),
            "`:precision` takes at most 1 argument, given 2",
        ),
        (
            ":save \"t\" \"unterminated".to_string(),
            "unterminated `\"`",
        ),
    ] {
        let e = err(&mut s, &entry);
        assert!(e.contains(want), "{entry}: {e}");
    }
    assert!(s.tensor("w").is_none());
    assert!(ok(&mut s, ":precision").starts_with("precision: f32"));
    assert!(s.eval(":quit").unwrap().quit);
    // Quotes hold blanks; the expressions of `:ir`, `:time`, ... are parsed as before.
    let spaced = dir.path().join("a file.npy");
    let out = ok(&mut s, &format!(":save t \"{}\"", spaced.display()));
    assert!(out.starts_with("saved t (f32[2]) to "), "{out}");
    assert!(spaced.exists());
    let out = ok(&mut s, &format!(":weights \"{}\"", st.display()));
    assert!(out.contains("  w: f32[1]"), "{out}");
    assert!(err(&mut s, ":source t t").contains("<repl>:1:11"));
}
