//! The command line as a user drives it: the README's commands, exit statuses (0, 1 for
//! user errors, 2 for bad command lines), error rendering, no partial output files, and
//! `dump` output fed back through `opt`.

mod common;

use common::raw_safetensors;
use std::path::Path;
use std::process::{Command, Output};

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// `tessera gen FILE --shapes SHAPES --inputs x=X --weights W`, which must succeed.
fn gen(file: &str, shapes: &str, x: &Path, weights: &Path) {
    let g = tessera(&[
        "gen",
        file,
        "--shapes",
        shapes,
        "--inputs",
        &format!("x={}", p(x)),
        "--weights",
        p(weights),
    ]);
    assert!(g.status.success(), "{}", stderr(&g));
}

#[test]
fn readme_quickstart_runs_the_mlp() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = dir.path().join("x.npy");
    let w = dir.path().join("mlp.safetensors");
    let y = dir.path().join("y.npy");
    gen("examples/mlp.tsr", "B=4", &x, &w);
    let r = tessera(&[
        "run",
        "examples/mlp.tsr",
        "--input",
        &format!("x={}", p(&x)),
        "--weights",
        p(&w),
        "--output",
        p(&y),
        "--backend",
        "interp",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let t = tessera_tensor::npy::read_npy_file(&y, None).expect("result written");
    assert_eq!(t.shape(), &[4, 10]);
    for row in t.to_f64_vec().chunks(10) {
        let s: f64 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "softmax rows sum to 1, got {s}");
    }
    // Without --output the result is printed.
    let r = tessera(&[
        "run",
        "examples/mlp.tsr",
        "--input",
        &format!("x={}", p(&x)),
        "--weights",
        p(&w),
    ]);
    assert!(r.status.success());
    assert!(stdout(&r).starts_with("f32[4, 10]\n[["), "{}", stdout(&r));
}

#[test]
fn bad_command_lines_exit_with_2() {
    for args in [
        vec!["frobnicate"],
        vec!["run"],
        vec!["run", "examples/mlp.tsr", "--backend", "tpu"],
        vec!["run", "examples/mlp.tsr", "--input", "x"],
        vec!["dump", "examples/mlp.tsr", "--ir", "bytecode"],
        vec![
            "run",
            "examples/mlp.tsr",
            "--output",
            "a.npy",
            "--output-dir",
            "d",
        ],
        vec!["bench", "examples/mlp.tsr", "--iters", "0"],
    ] {
        let o = tessera(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn source_errors_exit_with_1_and_show_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("bad.tsr");
    std::fs::write(
        &f,
        "fn main(x: f32[B, 784], w: f32[785, 10]) -> f32[B, 10] {\n    x @ w\n}\n",
    )
    .expect("write");
    let out = dir.path().join("y.npy");
    let o = tessera(&["run", p(&f), "--output", p(&out)]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.starts_with("error: "), "{e}");
    assert!(e.contains("bad.tsr:2:"), "{e}");
    assert!(e.contains("    x @ w"), "{e}");
    assert!(e.contains('^'), "{e}");
    assert!(!out.exists(), "no output after an error");
}

/// A `.safetensors` file whose header gives one tensor name twice is refused (a JSON
/// parser keeps the last one silently), naming the file and the name, before anything runs.
#[test]
fn weights_with_a_name_given_twice_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let prog = dir.path().join("id.tsr");
    std::fs::write(&prog, "fn main(w: f32[1]) -> f32[1] {\n    w\n}\n").expect("write");
    let w = dir.path().join("dup.safetensors");
    let one = 1f32.to_le_bytes().to_vec();
    raw_safetensors(
        &w,
        &[("w", "F32", &[1], one.clone()), ("w", "F32", &[1], one)],
    );
    let out = dir.path().join("y.npy");
    let o = tessera(&["run", p(&prog), "--weights", p(&w), "--output", p(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "error: {}: the header names tensor `w` twice (a file holds each name once)\n",
            p(&w)
        )
    );
    assert!(!out.exists());
}

/// Checkpoints carry tensors of dtypes Tessera does not have (an `I64` step, a `U8` mask):
/// those that no parameter names are not read; a parameter's tensor of such a dtype is an
/// error at the parameter (run and compile alike).
#[test]
fn weights_of_other_dtypes_matter_only_when_a_parameter_needs_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let prog = dir.path().join("scale.tsr");
    std::fs::write(
        &prog,
        "fn main(x: f32[2], w: f32[2]) -> f32[2] {\n    x * w\n}\n",
    )
    .expect("write");
    let x = dir.path().join("x.npy");
    let two: Vec<u8> = [1f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let t = tessera_tensor::Tensor::from_f32(tessera_dialects::DType::F32, vec![2], vec![1.0, 2.0])
        .expect("tensor");
    tessera_tensor::npy::write_npy_file(&x, &t).expect("npy");
    let ok = dir.path().join("ok.safetensors");
    raw_safetensors(
        &ok,
        &[
            ("mask", "U8", &[3], vec![1, 0, 1]),
            ("step", "I64", &[1], 7i64.to_le_bytes().to_vec()),
            ("w", "F32", &[2], two.clone()),
        ],
    );
    let o = tessera(&[
        "run",
        p(&prog),
        "--input",
        &format!("x={}", p(&x)),
        "--weights",
        p(&ok),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("[1., 4.]"), "{}", stdout(&o));
    let obj = dir.path().join("m.o");
    let o = tessera(&[
        "compile",
        p(&prog),
        "--target",
        "cpu",
        "-o",
        p(&obj),
        "--weights",
        p(&ok),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 tensor(s) of --weights name no parameter"),
        "{}",
        stderr(&o)
    );
    let bad = dir.path().join("bad.safetensors");
    let f64s: Vec<u8> = [1f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    raw_safetensors(&bad, &[("w", "F64", &[2], f64s)]);
    let xs = format!("x={}", p(&x));
    for args in [
        vec!["run", p(&prog), "--input", &xs, "--weights", p(&bad)],
        vec![
            "compile",
            p(&prog),
            "--target",
            "cpu",
            "-o",
            p(&obj),
            "--weights",
            p(&bad),
        ],
    ] {
        let o = tessera(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains("tensor `w` holds F64"), "{e}");
        assert!(e.contains("scale.tsr:1:"), "{e}");
        assert!(e.contains("parameter declared here"), "{e}");
    }
    // A parameter that --input binds takes nothing from the weights, whatever their dtype.
    let w = dir.path().join("w.npy");
    tessera_tensor::npy::write_npy_file(&w, &t).expect("npy");
    let ws = format!("w={}", p(&w));
    let o = tessera(&[
        "run",
        p(&prog),
        "--input",
        &xs,
        "--input",
        &ws,
        "--weights",
        p(&bad),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("[1., 4.]"), "{}", stdout(&o));
}

#[test]
fn input_errors_name_the_parameter_and_write_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = dir.path().join("x.npy");
    let w = dir.path().join("w.safetensors");
    let out = dir.path().join("y.npy");
    gen("examples/mlp.tsr", "B=2", &x, &w);
    // A missing parameter: no weights.
    let o = tessera(&[
        "run",
        "examples/mlp.tsr",
        "--input",
        &format!("x={}", p(&x)),
        "--output",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`w1`"), "{}", stderr(&o));
    assert!(stderr(&o).contains("mlp.tsr:"), "{}", stderr(&o));
    // A missing file.
    let o = tessera(&[
        "run",
        "examples/mlp.tsr",
        "--input",
        "x=/nonexistent/x.npy",
        "--weights",
        p(&w),
        "--output",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`x`"), "{}", stderr(&o));
    // A corrupt file.
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, b"\x93NUMPY garbage").expect("write");
    let o = tessera(&[
        "run",
        "examples/mlp.tsr",
        "--input",
        &format!("x={}", p(&bad)),
        "--weights",
        p(&w),
        "--output",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    // Weights that contradict the input's batch size are fine (B only comes from x), but
    // an input of the wrong shape is not.
    let x3 = dir.path().join("x3.npy");
    gen(
        "examples/layernorm_gelu.tsr",
        "N=2,D=7",
        &x3,
        &dir.path().join("lg.safetensors"),
    );
    let o = tessera(&[
        "run",
        "examples/mlp.tsr",
        "--input",
        &format!("x={}", p(&x3)),
        "--weights",
        p(&w),
        "--output",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("784"), "{}", stderr(&o));
    assert!(!out.exists(), "no output after an error");
    // An unknown input name.
    let o = tessera(&[
        "run",
        "examples/mlp.tsr",
        "--input",
        &format!("q={}", p(&x)),
        "--weights",
        p(&w),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no parameter `q`"), "{}", stderr(&o));
}

#[test]
fn several_results_go_to_an_output_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("two.tsr");
    std::fs::write(
        &f,
        "fn main(x: f32[3]) -> (f32[3], f32) {\n    (x * 2, sum(x))\n}\n",
    )
    .expect("write");
    let x = dir.path().join("x.npy");
    let g = tessera(&["gen", p(&f), "--inputs", &format!("x={}", p(&x))]);
    assert!(g.status.success(), "{}", stderr(&g));
    let single = dir.path().join("y.npy");
    let o = tessera(&[
        "run",
        p(&f),
        "--input",
        &format!("x={}", p(&x)),
        "--output",
        p(&single),
    ]);
    // `--output` for several results is a bad command line.
    assert_eq!(o.status.code(), Some(2));
    assert!(!single.exists());
    let out = dir.path().join("out");
    let o = tessera(&[
        "run",
        p(&f),
        "--input",
        &format!("x={}", p(&x)),
        "--output-dir",
        p(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let x = tessera_tensor::npy::read_npy_file(dir.path().join("x.npy"), None).expect("x");
    let y0 = tessera_tensor::npy::read_npy_file(out.join("out0.npy"), None).expect("out0");
    let y1 = tessera_tensor::npy::read_npy_file(out.join("out1.npy"), None).expect("out1");
    let xs = x.to_f64_vec();
    assert_eq!(
        y0.to_f64_vec(),
        xs.iter().map(|v| v * 2.0).collect::<Vec<_>>()
    );
    assert_eq!(y1.shape(), &[] as &[usize]);
    assert!((y1.to_f64_vec()[0] - xs.iter().sum::<f64>()).abs() < 1e-5);
    // All or nothing: when `out1.npy` cannot be written, `out0.npy` is not either.
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(bad.join("out1.npy")).expect("a directory in the way");
    let o = tessera(&[
        "run",
        p(&f),
        "--input",
        &format!("x={}", p(&dir.path().join("x.npy"))),
        "--output-dir",
        p(&bad),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("out1.npy"), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(&bad)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("out1.npy")], "{left:?}");
}

#[test]
fn fn_selection_follows_the_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("two.tsr");
    std::fs::write(
        &f,
        "fn a(x: f32[3]) -> f32[3] { x }\nfn b(x: f32[3]) -> f32[3] { -x }\n",
    )
    .expect("write");
    let o = tessera(&["dump", p(&f), "--ir", "graph", "--fn", "c"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("a, b"), "{}", stderr(&o));
    let o = tessera(&["run", p(&f)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--fn"), "{}", stderr(&o));
    // Every dump level follows the same rule.
    for level in ["ast", "graph", "tile"] {
        let o = tessera(&["dump", p(&f), "--ir", level]);
        assert_eq!(o.status.code(), Some(1), "{level}");
        assert!(stderr(&o).contains("--fn: a, b"), "{level}: {}", stderr(&o));
    }
    let o = tessera(&["dump", p(&f), "--ir", "graph", "--fn", "b"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("graph.neg"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("@a"), "{}", stdout(&o));
}

#[test]
fn dump_output_feeds_opt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = tessera(&["dump", "examples/transformer_block.tsr", "--ir", "graph"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tir = dir.path().join("block.tir");
    std::fs::write(&tir, &o.stdout).expect("write");
    let o = tessera(&["opt", p(&tir), "--print-ir-after-all", "--verify-each"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for pass in ["inline", "canonicalize", "cse", "dce"] {
        assert!(text.contains(&format!("IR Dump After {pass} ")), "{text}");
    }
    // The entry function comes with the functions it calls, so the text stays a module.
    let o = tessera(&["dump", "examples/multi_output.tsr", "--ir", "graph"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("graph.func @moments") && stdout(&o).contains("graph.func @main"));
    let calls = dir.path().join("calls.tir");
    std::fs::write(&calls, &o.stdout).expect("write");
    let o = tessera(&["opt", p(&calls), "--verify-each"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tessera(&["opt", p(&tir), "--passes", "canonicalize,nosuchpass"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown pass `nosuchpass`"),
        "{}",
        stderr(&o)
    );
    let o = tessera(&["dump", "examples/mlp.tsr", "--ir", "ast"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("(fn mlp\n  (params (x f32[B, 784])"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("(let h1 (call relu (+ (@ x w1) b1)))"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn opt_reports_bad_ir_with_its_location() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tir = dir.path().join("bad.tir");
    std::fs::write(&tir, "graph.func @f(%x: f32[4]) -> (f32[4]) {\n  %0 = graph.exp %y : (f32[4]) -> f32[4]\n  graph.return %0 : f32[4]\n}\n").expect("write");
    let o = tessera(&["opt", p(&tir)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.tir:2:"), "{}", stderr(&o));
    // Valid syntax, invalid IR: the verifier speaks.
    std::fs::write(&tir, "graph.func @f(%x: f32[4]) -> (f32[4]) {\n  %0 = graph.exp %x : (f32[4]) -> f32[5]\n  graph.return %0 : f32[5]\n}\n").expect("write");
    let o = tessera(&["opt", p(&tir)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.tir:2:"), "{}", stderr(&o));
}

#[test]
fn bench_prints_json() {
    let o = tessera(&[
        "bench",
        "examples/layernorm_gelu.tsr",
        "--shapes",
        "N=8,D=16",
        "--warmup",
        "1",
        "--iters",
        "3",
        "--json",
        "--backend",
        "interp",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    assert!(v["compile_ms"].as_f64().is_some());
    assert_eq!(v["iters"].as_u64(), Some(3));
    // No matmul: no weights held.
    assert_eq!(v["weight_bytes"].as_u64(), Some(0), "{v}");
    for k in ["min", "median", "max"] {
        assert!(v["run_ms"][k].as_f64().is_some_and(|t| t >= 0.0), "{v}");
    }
}

#[test]
fn empty_slices_and_zero_sizes_are_errors_at_run_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("tail.tsr");
    std::fs::write(
        &f,
        "fn main(x: f32[B, 6]) -> f32[B - 1, 6] {\n    x[1:]\n}\n",
    )
    .expect("write");
    let x = dir.path().join("x.npy");
    let out = dir.path().join("y.npy");
    // B = 1 makes the slice empty.
    let g = tessera(&[
        "gen",
        p(&f),
        "--shapes",
        "B=1",
        "--inputs",
        &format!("x={}", p(&x)),
    ]);
    assert!(g.status.success(), "{}", stderr(&g));
    let o = tessera(&[
        "run",
        p(&f),
        "--input",
        &format!("x={}", p(&x)),
        "--output",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("empty"), "{}", stderr(&o));
    assert!(stderr(&o).contains("tail.tsr:2:5"), "{}", stderr(&o));
    assert!(!out.exists());
    // An input with a zero size.
    let zero = tessera_tensor::Tensor::new(
        tessera_dialects::DType::F32,
        vec![0, 6],
        tessera_tensor::Data::Float(vec![]),
    )
    .expect("empty tensor");
    tessera_tensor::npy::write_npy_file(&x, &zero).expect("write");
    let o = tessera(&[
        "run",
        p(&f),
        "--input",
        &format!("x={}", p(&x)),
        "--output",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("at least 1"), "{}", stderr(&o));
    assert!(!out.exists());
}

/// Writes `x.npy` in `dir`: an `f32` tensor of `shape` holding 0, 1, 2, ...
fn iota_npy(dir: &Path, shape: Vec<usize>) -> std::path::PathBuf {
    let x = dir.join("x.npy");
    let n = shape.iter().product::<usize>();
    let data = (0..n).map(|i| i as f32).collect();
    let t = tessera_tensor::Tensor::new(
        tessera_dialects::DType::F32,
        shape,
        tessera_tensor::Data::Float(data),
    )
    .expect("tensor");
    tessera_tensor::npy::write_npy_file(&x, &t).expect("write");
    x
}

/// Writes `src` as `dir/name` and runs it on every back end with `--input x=X`: the
/// outputs, by back end.
fn run_everywhere(dir: &Path, name: &str, src: &str, x: &Path) -> Vec<(&'static str, Output)> {
    let f = dir.join(name);
    std::fs::write(&f, src).expect("write");
    let xin = format!("x={}", p(x));
    ["cpu", "tile", "interp"]
        .into_iter()
        .map(|b| (b, tessera(&["run", p(&f), "--input", &xin, "--backend", b])))
        .collect()
}

/// A fixed slice or index past a symbolic size (`x[0:3]`, `x[5]` of an `f32[B]` with
/// `B = 2`) is an error with its location on every back end, never zeros.
#[test]
fn slices_past_a_symbolic_size_are_errors_on_every_back_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = iota_npy(dir.path(), vec![2, 4]);
    for (name, body, want) in [
        ("head.tsr", "-> f32[3, 4] {\n    x[0:3, :]", "slice 0:3"),
        ("index.tsr", "-> f32[4] {\n    x[5]", "slice 5:6"),
        ("rows.tsr", "-> f32[2, 4] {\n    x[1:3, :]", "slice 1:3"),
        // Negative bounds count from the end once: `B - 3` is -1 for B = 2.
        ("tail.tsr", "-> f32[3, 4] {\n    x[-3:, :]", "slice -1:2"),
        ("mid.tsr", "-> f32[5, 4] {\n    x[-7:-2, :]", "slice -5:0"),
    ] {
        let src = format!("fn main(x: f32[B, 4]) {body}\n}}\n");
        for (backend, o) in run_everywhere(dir.path(), name, &src, &x) {
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{name} on {backend}: {err}");
            assert!(
                err.contains(want) && err.contains("out of range"),
                "{name}, {backend}: {err}"
            );
            assert!(
                err.contains(&format!("{name}:2:5")),
                "{name} on {backend}: {err}"
            );
            // Bounds that are expressions of sizes are named as written.
            if name == "tail.tsr" {
                assert!(err.contains("B - 3:B"), "{backend}: {err}");
            }
        }
    }
    // A slice in a called function is checked once the call is inlined, and the error
    // points into the callee, in the caller's sizes.
    let src = "fn tail(v: f32[M, 4]) -> f32[3, 4] {\n    v[-3:, :]\n}\n\
               fn main(x: f32[B, 4]) -> f32[3, 4] {\n    tail(x) * 2.0\n}\n";
    for (backend, o) in run_everywhere(dir.path(), "callee.tsr", src, &x) {
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "callee on {backend}: {err}");
        for want in ["slice -1:2", "out of range", "B - 3:B", "callee.tsr:2:5"] {
            assert!(err.contains(want), "callee on {backend}: {err}");
        }
    }
    // With a lowered precision (the weights' operations hoisted into a function of their
    // own), the slice of the main function is still checked.
    let q = dir.path().join("q.tsr");
    std::fs::write(
        &q,
        "fn main(x: f32[B, 4], w: f32[4, 4]) -> f32[3, 4] {\n    (x @ w)[-3:, :]\n}\n",
    )
    .expect("write");
    let wdir = dir.path().join("w");
    std::fs::create_dir(&wdir).expect("mkdir");
    let w = iota_npy(&wdir, vec![4, 4]);
    let (xin, win) = (format!("x={}", p(&x)), format!("w={}", p(&w)));
    for backend in ["cpu", "tile", "interp"] {
        let o = tessera(&[
            "run",
            p(&q),
            "--input",
            &xin,
            "--input",
            &win,
            "--precision",
            "int8",
            "--backend",
            backend,
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "int8 on {backend}: {err}");
        for want in ["slice -1:2", "out of range", "q.tsr:2:5"] {
            assert!(err.contains(want), "int8 on {backend}: {err}");
        }
    }
    // In range, the same program runs.
    let src = "fn main(x: f32[B, 4]) -> f32[1, 4] {\n    x[1:2, :]\n}\n";
    for (backend, o) in run_everywhere(dir.path(), "ok.tsr", src, &x) {
        assert!(o.status.success(), "{backend}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("[[4., 5., 6., 7.]]"),
            "{backend}: {}",
            stdout(&o)
        );
    }
}

/// A size that only a parameter's expression names (`f32[N + 1]`, `f32[2*N]`) is solved
/// from the input on every back end; a size no value gives is an error at the parameter.
#[test]
fn sizes_named_only_in_expressions_are_solved_from_the_inputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = iota_npy(dir.path(), vec![6]);
    for (name, src, want) in [
        (
            "plus.tsr",
            "fn main(x: f32[N + 1]) -> f32[N] { x[1:] * 2.0 }",
            "f32[5]",
        ),
        (
            "twice.tsr",
            "fn main(x: f32[2*N]) -> f32[2, N] { reshape(x, [2, N]) }",
            "f32[2, 3]",
        ),
    ] {
        for (backend, o) in run_everywhere(dir.path(), name, src, &x) {
            assert!(o.status.success(), "{name} on {backend}: {}", stderr(&o));
            assert!(
                stdout(&o).contains(want),
                "{name} on {backend}: {}",
                stdout(&o)
            );
        }
    }
    let odd = "fn main(x: f32[2*N + 1]) -> f32[2*N + 1] { x }";
    for (backend, o) in run_everywhere(dir.path(), "odd.tsr", odd, &x) {
        assert_eq!(o.status.code(), Some(1), "{backend}");
        let err = stderr(&o);
        assert!(err.contains("no size solves"), "{backend}: {err}");
    }
}

/// Output files: a device stays a device (`--output /dev/null` writes to it), a link is
/// written through, `compile`'s object and header and `gen`'s files are written all or
/// none, and `gen` refuses to write one file twice (status 2).
#[test]
fn outputs_are_written_through_links_and_devices_and_all_or_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = iota_npy(dir.path(), vec![2, 4]);
    let f = dir.path().join("f.tsr");
    std::fs::write(&f, "fn main(x: f32[B, 4]) -> f32[B, 4] { x * 2.0 }\n").expect("write");
    let xin = format!("x={}", p(&x));
    let o = tessera(&["run", p(&f), "--input", &xin, "--output", "/dev/null"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    #[cfg(unix)]
    {
        let real = dir.path().join("real.npy");
        let link = dir.path().join("link.npy");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let o = tessera(&["run", p(&f), "--input", &xin, "--output", p(&link)]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(real.is_file());
    }
    // The header is not left behind when the object cannot be written.
    let h = dir.path().join("m.h");
    let obj = dir.path().join("missing/m.o");
    let o = tessera(&[
        "compile",
        p(&f),
        "--target",
        "cpu",
        "-o",
        p(&obj),
        "--header",
        p(&h),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!h.exists());
    // Nor gen's weights when an input file cannot be written.
    let g = dir.path().join("g.tsr");
    std::fs::write(&g, "fn main(x: f32[2], w: f32[2]) -> f32[2] { x * w }\n").expect("write");
    let w = dir.path().join("w.safetensors");
    let bad = format!("x={}", p(&dir.path().join("missing/x.npy")));
    let o = tessera(&["gen", p(&g), "--inputs", &bad, "--weights", p(&w)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!w.exists());
    let same = format!("x={}", p(&w));
    let o = tessera(&["gen", p(&g), "--inputs", &same, "--weights", p(&w)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("twice"), "{}", stderr(&o));
}

/// When the CPU back end cannot allocate the intermediate values or a result, the error
/// points at the operation that computes the largest of them, as its other run-time errors
/// do. The run has a 8 GB address-space limit, so the 256 GiB allocation fails on any
/// machine, whatever its memory and overcommit policy.
#[cfg(target_os = "linux")]
#[test]
fn allocation_failures_point_at_the_operation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = 1usize << 18;
    let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    for (path, shape) in [(&a, vec![n, 1]), (&b, vec![1, n])] {
        let t = tessera_tensor::Tensor::from_f32(tessera_dialects::DType::F32, shape, vec![1.0; n])
            .expect("tensor");
        tessera_tensor::npy::write_npy_file(path, &t).expect("write");
    }
    let big = "f32[262144, 262144] (274877906944 bytes)";
    for (name, src, at, what) in [
        (
            "temp.tsr",
            "fn main(a: f32[N, 1], b: f32[1, M]) -> f32[N, 1] {\n    let big = exp(a @ b);\n    sum(big, axis: 1, keepdims: true)\n}\n",
            "temp.tsr:2:15",
            format!("cannot allocate the intermediate values (allocation of 274877906944 bytes failed); the largest, {big}, is this operation's result"),
        ),
        (
            "result.tsr",
            "fn main(a: f32[N, 1], b: f32[1, M]) -> f32[N, M] {\n    a @ b\n}\n",
            "result.tsr:2:5",
            format!("cannot allocate result 0, {big}, this operation's result"),
        ),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, src).expect("write");
        let o = Command::new("sh")
            .args(["-c", "ulimit -v 8000000 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_tessera"))
            .args(["run", p(&f), "--input", &format!("a={}", p(&a))])
            .args(["--input", &format!("b={}", p(&b))])
            .env("TESSERA_NUM_THREADS", "1")
            .output()
            .expect("sh runs");
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {e}");
        assert!(e.starts_with("error: cannot allocate "), "{name}: {e}");
        assert!(e.contains(&what) && e.contains(at), "{name}: {e}");
    }
}

/// Size arithmetic that overflows `i64` is an error at the size, never a wrapped value, and
/// `compile --shapes` refuses parameters larger than any allocation.
#[test]
fn sizes_that_overflow_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, src, at) in [
        (
            "param.tsr",
            "fn main(x: f32[N], y: f32[N * 2305843009213693952 * 8 + 4]) -> f32[N] {\n    x + sum(y)\n}\n",
            "param.tsr:1:27",
        ),
        (
            "bcast.tsr",
            "fn main(x: f32[N]) -> f32[N, 3] {\n    reshape(broadcast_to(x, [3074457345618258603 * 3, N]), [N, 3])\n}\n",
            "bcast.tsr:2:30",
        ),
        (
            "slice.tsr",
            "fn main(x: f32[3]) -> f32[3] {\n    x[0:3074457345618258603 * 3 + 2]\n}\n",
            "slice.tsr:2:9",
        ),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, src).expect("write");
        let o = tessera(&["dump", p(&f), "--ir", "graph"]);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let err = stderr(&o);
        assert!(err.contains("size expression overflows") && err.contains(at), "{name}: {err}");
    }
    let cube = dir.path().join("cube.tsr");
    std::fs::write(
        &cube,
        "fn main(x: f32[N, N, N]) -> f32[N, N, N] { x + 1.0 }\n",
    )
    .expect("write");
    let obj = dir.path().join("cube.o");
    let o = tessera(&[
        "compile",
        p(&cube),
        "--target",
        "cpu",
        "-o",
        p(&obj),
        "--shapes",
        "N=68719476736",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("parameter `x`"), "{}", stderr(&o));
    assert!(!obj.exists());
}

/// A source that is not UTF-8 is an error at its first bad byte; an intermediate no
/// allocator can give is an error on the tile back end too, not an abort; a calibration
/// file whose tensors name no parameter is refused.
#[test]
fn unusable_sources_sizes_and_calibration_files_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.tsr");
    std::fs::write(
        &bad,
        b"fn main(x: f32[2]) -> f32[2] {\n    x + \xff\xfe\n}\n",
    )
    .expect("write");
    let o = tessera(&["dump", p(&bad), "--ir", "ast"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bad.tsr:2:9: the source is not UTF-8 (byte 0xff)"),
        "{}",
        stderr(&o)
    );
    let outer = dir.path().join("outer.tsr");
    std::fs::write(
        &outer,
        "fn main(x: f32[N], y: f32[M]) -> f32[N, M] {\n    reshape(x, [N, 1]) * y\n}\n",
    )
    .expect("write");
    for backend in ["tile", "cpu", "interp"] {
        let o = tessera(&[
            "bench",
            p(&outer),
            "--shapes",
            "N=3000000,M=3000000",
            "--iters",
            "1",
            "--warmup",
            "0",
            "--backend",
            backend,
        ]);
        assert_eq!(o.status.code(), Some(1), "{backend}: {}", stderr(&o));
    }
    let w = dir.path().join("w.safetensors");
    let other = dir.path().join("other.tsr");
    std::fs::write(&other, "fn main(v: f32[3]) -> f32[3] { v }\n").expect("write");
    let o = tessera(&["gen", p(&other), "--weights", p(&w)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mm = dir.path().join("mm.tsr");
    std::fs::write(
        &mm,
        "fn main(x: f32[2, 8], w: f32[8, 8]) -> f32[2, 8] { x @ w }\n",
    )
    .expect("write");
    let o = tessera(&[
        "dump",
        p(&mm),
        "--ir",
        "graph-opt",
        "--precision",
        "auto",
        "--calibrate",
        p(&w),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("names a parameter of main"),
        "{}",
        stderr(&o)
    );
}

/// A long chain of dependent operations (a name shadowed 20,000 times) goes through every
/// stage: nothing recurses once per operation (the e-graph's extraction once overflowed
/// the stack here), and naming the shadows is linear.
#[test]
fn long_chains_of_operations_compile() {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("chain.tsr");
    let mut src = String::from("fn main(x: f32[4]) -> f32[4] {\n");
    for _ in 0..20_000 {
        src.push_str("    let x = x + 1.0;\n");
    }
    src.push_str("    x\n}\n");
    std::fs::write(&f, src).expect("write");
    let o = tessera(&["dump", p(&f), "--ir", "graph-opt"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("graph.fused"), "one fused kernel");
}

/// `--shapes` mistakes get the same status in every command (an unknown name 1, an empty
/// name or a size past 2^36 2), and a `TESSERA_NUM_THREADS` the runtime does not take as
/// given is a warning.
#[test]
fn shapes_mistakes_are_the_same_everywhere_and_thread_counts_are_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("f.tsr");
    std::fs::write(&f, "fn main(x: f32[N, 4]) -> f32[N, 4] { x * 2.0 }\n").expect("write");
    let (o, h) = (dir.path().join("m.o"), dir.path().join("m.h"));
    let (gx, gw) = (dir.path().join("x.npy"), dir.path().join("w.safetensors"));
    let gx = format!("x={}", p(&gx));
    for (shapes, status) in [("M=3", 1), ("=3", 2), ("N=99999999999999", 2)] {
        let runs: [Vec<&str>; 4] = [
            vec!["dump", p(&f), "--ir", "graph", "--shapes", shapes],
            vec![
                "bench",
                p(&f),
                "--shapes",
                shapes,
                "--iters",
                "1",
                "--warmup",
                "0",
            ],
            vec![
                "gen",
                p(&f),
                "--shapes",
                shapes,
                "--inputs",
                &gx,
                "--weights",
                p(&gw),
            ],
            vec![
                "compile",
                p(&f),
                "--target",
                "cpu",
                "-o",
                p(&o),
                "--header",
                p(&h),
                "--shapes",
                shapes,
            ],
        ];
        for args in runs {
            let out = tessera(&args);
            assert_eq!(
                out.status.code(),
                Some(status),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
    for (value, warned) in [
        ("abc", true),
        ("0", true),
        ("5000", true),
        ("2", false),
        ("", false),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["dump", p(&f), "--ir", "ast"])
            .env("TESSERA_NUM_THREADS", value)
            .output()
            .expect("run tessera");
        assert!(out.status.success());
        assert_eq!(
            stderr(&out).contains("warning: TESSERA_NUM_THREADS"),
            warned,
            "{value}"
        );
    }
}

/// Flags that contradict each other or the program are a bad command line: status 2, no
/// output written (DSL.md section 6).
#[test]
fn contradicting_flags_exit_with_status_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = dir.path().join("x.npy");
    let g = tessera(&[
        "gen",
        "examples/multi_output.tsr",
        "--shapes",
        "N=2,D=3",
        "--inputs",
        &format!("x={}", p(&x)),
    ]);
    assert!(g.status.success(), "{}", stderr(&g));
    let out = dir.path().join("y.npy");
    let xin = format!("x={}", p(&x));
    for (args, message) in [
        (
            vec!["--input", &xin, "--input", &xin],
            "--input x is given twice",
        ),
        (
            vec!["--input", &xin, "--output", p(&out)],
            "use --output-dir instead",
        ),
    ] {
        let mut all = vec!["run", "examples/multi_output.tsr"];
        all.extend(args.iter().copied());
        let o = tessera(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert!(!out.exists());
    }
}

/// `bench --shapes` that contradicts an input binding the same size is a user error.
#[test]
fn bench_shapes_must_agree_with_the_inputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = dir.path().join("x.npy");
    let w = dir.path().join("w.safetensors");
    gen("examples/mlp.tsr", "B=4", &x, &w);
    let xin = format!("x={}", p(&x));
    let bench = |b: &str| {
        tessera(&[
            "bench",
            "examples/mlp.tsr",
            "--input",
            &xin,
            "--shapes",
            b,
            "--iters",
            "1",
            "--warmup",
            "0",
        ])
    };
    let o = bench("B=7");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("parameter `x`: dimension 0 is 4, but --shapes B=7 makes `B` 7"),
        "{}",
        stderr(&o)
    );
    let o = bench("B=4");
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn the_tile_backend_and_dump_run_the_lowered_kernels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = dir.path().join("x.npy");
    let w = dir.path().join("mlp.safetensors");
    gen("examples/mlp.tsr", "B=3", &x, &w);
    let (yi, yt) = (dir.path().join("yi.npy"), dir.path().join("yt.npy"));
    for (backend, out) in [("interp", &yi), ("tile", &yt)] {
        let o = tessera(&[
            "run",
            "examples/mlp.tsr",
            "--input",
            &format!("x={}", p(&x)),
            "--weights",
            p(&w),
            "--output",
            p(out),
            "--backend",
            backend,
        ]);
        assert!(o.status.success(), "{backend}: {}", stderr(&o));
    }
    let (a, b) = (
        tessera_tensor::npy::read_npy_file(&yi, None).expect("interp result"),
        tessera_tensor::npy::read_npy_file(&yt, None).expect("tile result"),
    );
    for (p, q) in a.to_f64_vec().iter().zip(b.to_f64_vec()) {
        assert!((p - q).abs() < 1e-5, "{p} vs {q}");
    }
    let d = tessera(&["dump", "examples/mlp.tsr", "--ir", "tile"]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert!(
        stdout(&d).contains("tile.kernel @k0_matmul"),
        "{}",
        stdout(&d)
    );
    assert!(stdout(&d).contains("// plan @mlp"), "{}", stdout(&d));
    // An operation that is not lowered yet is a clear error at its source line.
    let d = tessera(&["dump", "examples/cnn.tsr", "--ir", "tile"]);
    if !d.status.success() {
        assert_eq!(d.status.code(), Some(1));
        assert!(
            stderr(&d).contains("not lowered to tile IR yet"),
            "{}",
            stderr(&d)
        );
        assert!(stderr(&d).contains("cnn.tsr:"), "{}", stderr(&d));
    }
}

#[test]
fn dump_scheduled_shows_the_schedule_codegen_reads() {
    // `--ir tile` is the tile IR as lowered: no schedule attributes yet.
    let t = tessera(&["dump", "bench/workloads/sgemm.tsr", "--ir", "tile"]);
    assert!(t.status.success(), "{}", stderr(&t));
    let tile_ir = stdout(&t);
    assert!(
        tile_ir.contains("tile.dot %ta, %tb, %c {rows = \"live\"} :"),
        "{tile_ir}"
    );
    assert!(!tile_ir.contains("block = ["), "{tile_ir}");
    // `--ir scheduled`: the same kernels with the decisions the Cranelift lowering reads.
    let s = tessera(&["dump", "bench/workloads/sgemm.tsr", "--ir", "scheduled"]);
    assert!(s.status.success(), "{}", stderr(&s));
    let sched = stdout(&s);
    assert!(sched.contains("parallel = [0, 1], vector = 4}"), "{sched}");
    assert!(
        sched.contains("tile.dot %ta, %tb, %c {rows = \"live\", block = [4, 2], unroll = "),
        "{sched}"
    );
    assert!(
        sched.contains("pack = \"both\", madd = \"mul_add\"}"),
        "{sched}"
    );
    assert!(sched.contains("// plan @sgemm"), "{sched}");
    // The printed kernels parse back (the scheduled level is IR like the others).
    let kernels: String = sched
        .lines()
        .take_while(|l| !l.starts_with("// plan"))
        .map(|l| format!("{l}\n"))
        .collect();
    tessera_dialects::parse_module(&kernels).expect("the scheduled IR parses");
}

#[test]
fn bench_profiles_every_kernel_on_the_native_back_end() {
    let o = tessera(&[
        "bench",
        "examples/mlp.tsr",
        "--shapes",
        "B=2",
        "--warmup",
        "0",
        "--iters",
        "2",
        "--json",
        "--profile",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    assert_eq!(v["backend"], "cpu");
    let kernels = v["kernels"].as_array().expect("a kernel list");
    // One row per launch of the plan, most expensive first, each naming its graph op.
    let plan = tessera(&["dump", "examples/mlp.tsr", "--ir", "tile"]);
    let launches = stdout(&plan).matches("//   launch @").count();
    assert_eq!(kernels.len(), launches);
    let ms: Vec<f64> = kernels.iter().map(|k| k["ms"].as_f64().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "{ms:?}");
    assert!(kernels.iter().any(|k| k["from"] == "graph.matmul"), "{v}");
    // The text form prints the same rows.
    let t = tessera(&[
        "bench",
        "examples/mlp.tsr",
        "--shapes",
        "B=2",
        "--iters",
        "1",
        "--profile",
    ]);
    assert!(
        stdout(&t).contains("kernels (ms per run over 1 profiled runs):"),
        "{}",
        stdout(&t)
    );
}

#[test]
fn the_gpu_back_end_is_a_clear_error_until_it_exists() {
    for cmd in ["run", "bench"] {
        let o = tessera(&[cmd, "examples/mlp.tsr", "--backend", "gpu"]);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("gpu back end is not available yet"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn ir_levels_of_later_stages_are_clear_errors_until_they_exist() {
    for level in ["mlir", "llvm", "ptx"] {
        let o = tessera(&["dump", "examples/mlp.tsr", "--ir", level]);
        assert_eq!(o.status.code(), Some(1), "{level}: {}", stderr(&o));
        assert!(stderr(&o).contains("not available yet"), "{}", stderr(&o));
    }
}

/// A fixed `--precision`: `dump --explain` names the rules that applied and, per
/// contraction, what it was lowered to or why it stays f32 (the encoder's attention).
#[test]
fn fixed_precision_is_explained_per_contraction() {
    let o = tessera(&[
        "dump",
        "examples/transformer_block.tsr",
        "--ir",
        "graph-opt",
        "--explain",
        "--precision",
        "int8",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("// precision int8: rules applied: lower-matmul-int8 4\n"),
        "{text}"
    );
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("// matmul #") || l.starts_with("// einsum #"))
        .collect();
    assert_eq!(lines.len(), 6, "{text}");
    let lowered = lines
        .iter()
        .filter(|l| l.contains(": int8/row (") && l.ends_with("reads i8 and i8 into i32"))
        .count();
    assert_eq!(lowered, 4, "{lines:#?}");
    assert!(lines[1].starts_with(
        "// einsum #1 (\"bhqd,bhkd->bhqk\", f32[B, 4, S, 64], f32[B, 4, S, 64]) at examples/transformer_block.tsr:22:18: stays f32: a contraction of an attention"
    ), "{lines:#?}");
    let o = tessera(&[
        "dump",
        "examples/mlp.tsr",
        "--ir",
        "graph-opt",
        "--explain",
        "--precision",
        "bf16",
    ]);
    let text = stdout(&o);
    assert!(
        text.contains("// matmul #3 (f32[B, 1024] @ f32[1024, 10]) at examples/mlp.tsr:12:13: bf16 (operands rounded to bf16, f32 products and accumulation): reads bf16 and bf16 into f32"),
        "{text}"
    );
    // Operands the program narrows itself, and a weight the int8 rule does not take: not
    // lowered, and not reported as such.
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("cast.tsr");
    std::fs::write(
        &src,
        "fn f(x: f32[8, 64], w: f32[64, 16], v: f32[2, 64, 16]) -> (f32[8, 16], f32[2, 8, 16]) {\n\
         \x20   ((x as bf16 as f32) @ (w as bf16 as f32), x @ v)\n}\n",
    )
    .expect("write");
    for (precision, second) in [
        ("int8", "stays as written: its operands do not fit `lower-matmul-int8`"),
        ("bf16", "bf16 (operands rounded to bf16, f32 products and accumulation): reads bf16 and bf16 into f32"),
    ] {
        let o = tessera(&["dump", p(&src), "--ir", "graph-opt", "--explain", "--precision", precision]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("// matmul #")).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains(": stays as written: its operands do not fit"), "{precision}: {}", lines[0]);
        assert!(lines[1].contains(second), "{precision}: {}", lines[1]);
    }
}

/// `--precision int8/block32`: the block forms of `conv2d`, `einsum` and `matmul` where
/// the reduction is a static multiple of 32 (at least 64), `f32` elsewhere, each said by
/// `dump --explain`; `bench` runs it.
#[test]
fn block32_precision_is_explained_and_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("blocks.tsr");
    std::fs::write(
        &src,
        "fn f(x: f32[N, 64, 8, 8], w: f32[4, 64, 3, 3], q: f32[N, 16, 64], k: f32[N, 16, 64],\n\
         \x20     a: f32[N, 64], v: f32[64, 8], b: f32[N, 48], u: f32[48, 8])\n\
         \x20   -> (f32[N, 4, 6, 6], f32[N, 16, 16], f32[N, 8], f32[N, 8]) {\n\
         \x20   (conv2d(x, w), einsum(\"bqd,bkd->bqk\", q, k), a @ v, b @ u)\n}\n",
    )
    .expect("write");
    let o = tessera(&[
        "dump",
        p(&src),
        "--ir",
        "graph-opt",
        "--explain",
        "--precision",
        "int8/block32",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("// precision int8/block32: rules applied: lower-conv2d-int8-block32 1, lower-einsum-int8-block32 1, lower-matmul-int8-block32 1\n"),
        "{text}"
    );
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            ["// conv2d #", "// einsum #", "// matmul #"]
                .iter()
                .any(|s| l.starts_with(s))
        })
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    for l in &lines[..3] {
        assert!(
            l.contains(": int8/block32 (") && l.ends_with("reads i8 and i8 into i32"),
            "{l}"
        );
    }
    assert!(
        lines[3].starts_with("// matmul #2 (f32[N, 48] @ f32[48, 8])"),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].contains("stays as written: its operands do not fit `lower-matmul-int8-block32`"),
        "{}",
        lines[3]
    );
    // `bench` compiles and runs it (its values: tests/precision_contractions.rs).
    let o = tessera(&[
        "bench",
        p(&src),
        "--precision",
        "int8/block32",
        "--shapes",
        "N=3",
        "--warmup",
        "0",
        "--iters",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("\"run_ms\""), "{}", stdout(&o));
}

/// `--precision auto`: the decisions show in `dump --explain`; `run` keeps the error on
/// its calibration data (here, its own inputs) within `--max-error`; a zero budget gives
/// the `f32` program; misuse is a clear error.
#[test]
fn auto_precision_chooses_per_contraction_within_the_budget() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = dir.path().join("x.npy");
    let w = dir.path().join("mlp.safetensors");
    gen("examples/mlp.tsr", "B=16", &x, &w);
    let xb = format!("x={}", p(&x));
    let o = tessera(&[
        "dump",
        "examples/mlp.tsr",
        "--ir",
        "graph-opt",
        "--explain",
        "--precision",
        "auto",
        "--max-error",
        "1e-2",
        "--calibrate",
        &xb,
        "--calibrate",
        p(&w),
        "--shapes",
        "B=256",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "// precision auto:",
        "round 1: [",
        "// matmul #1 (f32[B, 784] @ f32[784, 1024]) at examples/mlp.tsr:",
        "// matmul #3",
        "// measured error on the calibration data:",
    ] {
        assert!(text.contains(want), "`{want}` missing:\n{text}");
    }
    let run = |extra: &[&str], name: &str| {
        let y = dir.path().join(name);
        let mut args = vec![
            "run",
            "examples/mlp.tsr",
            "--input",
            &xb,
            "--weights",
            p(&w),
            "--output",
            p(&y),
        ];
        args.extend_from_slice(extra);
        let r = tessera(&args);
        assert!(r.status.success(), "{extra:?}: {}", stderr(&r));
        tessera_tensor::npy::read_npy_file(&y, None).expect("written")
    };
    let exact = run(&[], "f32.npy");
    let auto = run(&["--precision", "auto", "--max-error", "1e-2"], "auto.npy");
    let err = tessera::precision::normwise_error(&[auto], std::slice::from_ref(&exact));
    // The budget, measured in the interpreter, plus the native back end's f32 tolerance.
    assert!(err <= 1e-2 + 1e-4, "error {err}");
    let zero = run(&["--precision", "auto", "--max-error", "0"], "zero.npy");
    assert_eq!(zero.to_f64_vec(), exact.to_f64_vec());
    // AOT: the chosen program compiles.
    let obj = dir.path().join("mlp.o");
    let c = tessera(&[
        "compile",
        "examples/mlp.tsr",
        "--target",
        "cpu",
        "-o",
        p(&obj),
        "--precision",
        "auto",
        "--calibrate",
        &xb,
        "--calibrate",
        p(&w),
    ]);
    assert!(c.status.success(), "{}", stderr(&c));
    // Flags that contradict each other are a bad command line (2); a flag naming no
    // parameter of the program is a user error (1).
    for (args, message, code) in [
        (&["--max-error", "1e-2"][..], "go with --precision auto", 2),
        (
            &["--precision", "auto", "--max-error", "-1"],
            "non-negative",
            2,
        ),
        (
            &["--precision", "auto", "--calibrate", "nope=x.npy"],
            "no parameter `nope`",
            1,
        ),
    ] {
        let mut all = vec![
            "run",
            "examples/mlp.tsr",
            "--input",
            &xb,
            "--weights",
            p(&w),
        ];
        all.extend_from_slice(args);
        let o = tessera(&all);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    }
}

/// `--precision bf16|f16|fp8|int8`: the lowered MLP runs natively and matches the
/// interpreter on the same lowered program (the oracle) at per-format tolerances, and
/// stays close to the `f32` program (softmax probabilities within a stated bound).
#[test]
fn lower_precisions_run_natively_and_match_the_interpreter() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = dir.path().join("x.npy");
    let w = dir.path().join("mlp.safetensors");
    gen("examples/mlp.tsr", "B=8", &x, &w);
    let run = |precision: &str, backend: &str| {
        let y = dir.path().join(format!("y_{precision}_{backend}.npy"));
        let r = tessera(&[
            "run",
            "examples/mlp.tsr",
            "--input",
            &format!("x={}", p(&x)),
            "--weights",
            p(&w),
            "--output",
            p(&y),
            "--backend",
            backend,
            "--precision",
            precision,
        ]);
        assert!(r.status.success(), "{precision} {backend}: {}", stderr(&r));
        tessera_tensor::npy::read_npy_file(&y, None)
            .expect("result written")
            .to_f64_vec()
    };
    let max_diff = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f64, f64::max)
    };
    let exact = run("f32", "interp");
    // (precision, native vs interpreter, lowered vs f32), on probabilities in [0, 1].
    for (precision, native_tol, f32_tol) in [
        ("bf16", 1e-4, 0.05),
        ("f16", 1e-4, 0.02),
        ("fp8", 1e-4, 0.2),
        ("int8", 1e-5, 0.05),
    ] {
        let interp = run(precision, "interp");
        let native = run(precision, "cpu");
        let d = max_diff(&native, &interp);
        assert!(d <= native_tol, "{precision}: native vs interp {d}");
        let d = max_diff(&interp, &exact);
        assert!(d <= f32_tol, "{precision}: lowered vs f32 {d}");
        eprintln!("{precision}: lowered vs f32 max |dp| = {d:.3e}");
    }
}

/// `--precision bf16|f16|fp8|int8` lowers the convolutions too: the CNN example's
/// lowered program runs natively and matches the interpreter on the same program, stays
/// close to the `f32` program (softmax probabilities), and `dump` shows the lowered
/// convolutions (`i8` operands into `i32` with `int8`).
#[test]
fn lower_precisions_lower_convolutions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let x = dir.path().join("x.npy");
    let w = dir.path().join("cnn.safetensors");
    gen("examples/cnn.tsr", "N=3", &x, &w);
    let run = |precision: &str, backend: &str| {
        let y = dir.path().join(format!("y_{precision}_{backend}.npy"));
        let r = tessera(&[
            "run",
            "examples/cnn.tsr",
            "--input",
            &format!("x={}", p(&x)),
            "--weights",
            p(&w),
            "--output",
            p(&y),
            "--backend",
            backend,
            "--precision",
            precision,
        ]);
        assert!(r.status.success(), "{precision} {backend}: {}", stderr(&r));
        tessera_tensor::npy::read_npy_file(&y, None)
            .expect("result written")
            .to_f64_vec()
    };
    let max_diff = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f64, f64::max)
    };
    let exact = run("f32", "interp");
    // (precision, native vs interpreter, lowered vs f32), on probabilities in [0, 1].
    for (precision, native_tol, f32_tol, lowered) in [
        ("bf16", 1e-5, 5e-3, "(f32[8, 1, 3, 3]) -> bf16[8, 1, 3, 3]"),
        ("f16", 1e-5, 1e-3, "(f32[8, 1, 3, 3]) -> f16[8, 1, 3, 3]"),
        ("fp8", 1e-5, 0.05, "graph.quantize %conv1_w"),
        (
            "int8",
            1e-5,
            0.02,
            "(i8[N, 1, 28, 28], i8[8, 1, 3, 3]) -> i32[N, 8, 28, 28]",
        ),
    ] {
        let interp = run(precision, "interp");
        let native = run(precision, "cpu");
        let d = max_diff(&native, &interp);
        assert!(d <= native_tol, "{precision}: native vs interp {d}");
        let d = max_diff(&interp, &exact);
        assert!(d <= f32_tol, "{precision}: lowered vs f32 {d}");
        eprintln!("{precision}: cnn lowered vs f32 max |dp| = {d:.3e}");
        let o = tessera(&[
            "dump",
            "examples/cnn.tsr",
            "--ir",
            "graph-opt",
            "--precision",
            precision,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(
            text.contains(lowered),
            "{precision}: `{lowered}` missing\n{text}"
        );
        // Both convolutions are lowered.
        let convs = text.lines().filter(|l| l.contains("graph.conv2d")).count();
        assert_eq!(convs, 2, "{text}");
    }
}

#[test]
fn later_subcommands_are_clear_errors_until_they_exist() {
    let o = tessera(&["tune", "examples/mlp.tsr"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not available yet"), "{}", stderr(&o));
}

/// `tessera repl` reading a script from a pipe: no prompts, results on stdout, errors on
/// stderr, status 1 when an entry failed. (The terminal is tested in `repl_pty.rs`.)
#[test]
fn repl_reads_a_script_from_a_pipe() {
    use std::io::Write;
    let run = |script: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("repl")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("TESSERA_HISTORY", "")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(script).expect("write");
        drop(stdin);
        child.wait_with_output().expect("output")
    };
    let o = run(b"let x = arange(3)\nfn sq(a: f32[N]) -> f32[N] {\n  a * a\n}\nsq(x) + 1\n");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "x: f32[3]\ndefined sq(a: f32[N]) -> f32[N]\nf32[3]\n[1., 2., 5.]\n"
    );
    // `:ir LEVEL FN` and `:explain FN` print what `tessera dump` prints for the function.
    for (entry, dump) in [
        (":ir graph-opt mlp", &["--ir", "graph-opt"][..]),
        (":ir tile mlp", &["--ir", "tile"][..]),
        (":ir clif mlp", &["--ir", "clif"][..]),
        (":explain mlp", &["--ir", "graph-opt", "--explain"][..]),
    ] {
        let o = run(format!(":load examples/mlp.tsr\n{entry}\n").as_bytes());
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let d = tessera(&[&["dump", "examples/mlp.tsr"][..], dump].concat());
        assert_eq!(d.status.code(), Some(0), "{}", stderr(&d));
        let repl = stdout(&o);
        let want = stdout(&d);
        assert!(want.len() > 100, "{want}");
        assert!(
            repl.trim_end().ends_with(want.trim_end()),
            "{entry}:\n{repl}"
        );
        assert!(
            repl.starts_with("loaded examples/mlp.tsr:\n  fn mlp("),
            "{repl}"
        );
    }
    let o = run(b"x + 1\n1 + 1\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown name `x`"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "i32\n2\n");
    // A line that is not UTF-8 and a mismatched bracket fail as entries of their own; the
    // session goes on with the next line.
    let o = run(b"1 + \xff\nrandn([2, 2)\n1 + 1\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("2 of the entries failed"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "i32\n2\n");
}

#[test]
fn graph_opt_shows_the_kernels_the_e_graph_chose_and_why() {
    let o = tessera(&["dump", "examples/mlp.tsr", "--ir", "graph-opt", "--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // The summary and the reasons are comments; the rest parses as IR.
    assert!(text.contains("// e-graph: saturated"), "{text}");
    assert!(text.contains("// rules applied:"), "{text}");
    assert!(text.contains("best rejected:"), "{text}");
    assert!(
        text.contains("// measured in the interpreter on random inputs (B=4): max |optimised - f32 graph| / max |f32 graph| = "),
        "{text}"
    );
    // Both hidden layers are a matmul with its bias and relu as an epilogue.
    assert_eq!(text.matches("kind = \"matmul\"").count(), 2, "{text}");
    let m = tessera_dialects::parse_module(&text).expect("the dump parses as IR");
    assert!(tessera_dialects::verify_module(&m).is_ok());
    // `--fusion basic` keeps the previous release's kernels.
    let basic = tessera(&[
        "dump",
        "examples/mlp.tsr",
        "--ir",
        "tile",
        "--fusion",
        "basic",
    ]);
    assert!(stdout(&basic).contains("k0_matmul"), "{}", stdout(&basic));
    assert!(!stdout(&basic).contains("matmul_epilogue"));
}

/// The README's REPL session, replayed through a pipe: every entry gives the output the
/// README shows (timings aside).
#[test]
fn readme_repl_session() {
    use std::io::Write;
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let start = readme
        .find("$ cargo run --release -- repl\n")
        .expect("the REPL session in the README");
    let block = &readme[start..];
    let block = &block[..block.find("```").expect("end of the block")];
    let (mut script, mut want) = (String::new(), String::new());
    for line in block.lines().skip(2) {
        if let Some(entry) = line
            .strip_prefix(">>> ")
            .or_else(|| line.strip_prefix("... "))
        {
            script.push_str(entry);
            script.push('\n');
        } else if !line.starts_with("compile: ") && !line.starts_with("run on cpu") {
            want.push_str(line);
            want.push('\n');
        }
    }
    assert!(
        script.lines().count() > 8 && want.lines().count() > 20,
        "{script}{want}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mlp.tsr"),
        dir.path().join("examples/mlp.tsr"),
    )
    .unwrap();
    let g = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "gen",
            "examples/mlp.tsr",
            "--shapes",
            "B=4",
            "--inputs",
            "x=x.npy",
        ])
        .args(["--weights", "mlp.safetensors"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(g.status.code(), Some(0), "{}", stderr(&g));
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("repl")
        .current_dir(dir.path())
        .env("TESSERA_HISTORY", "")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got: String = stdout(&o)
        .lines()
        .filter(|l| !l.starts_with("compile: ") && !l.starts_with("run on cpu"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(got, want);
}
