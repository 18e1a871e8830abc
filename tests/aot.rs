//! Ahead-of-time artifacts end to end: `tessera compile` writes an object, a static library
//! or a shared library and a C header; the C program of examples/c links each with the
//! runtime library, runs examples/mlp.tsr, and its numbers must be the reference
//! interpreter's. Argument checks, fixed sizes and bad command lines are covered too.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tessera::{Program, Tensor};
use tessera_dialects::DType;
use tessera_egraph::Precision;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tessera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

/// The runtime's static library that cargo built with this test (in `target/<profile>/deps`).
fn runtime_staticlib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [
        deps.join("libtessera_runtime.a"),
        deps.parent().unwrap().join("libtessera_runtime.a"),
    ];
    candidates
        .iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no libtessera_runtime.a among {candidates:?}"))
        .clone()
}

/// What a program linking the Rust static library needs on Linux
/// (`cargo rustc -- --print native-static-libs`).
const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("tessera-aot-{name}-"))
        .tempdir()
        .unwrap()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `tessera compile examples/mlp.tsr -o DIR/FILE --header DIR/mlp.h [extra]`.
fn compile_mlp(dir: &Path, file: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(file);
    ok(
        tessera()
            .args(["compile", "examples/mlp.tsr", "--target", "cpu", "-o"])
            .arg(&out)
            .arg("--header")
            .arg(dir.join("mlp.h"))
            .args(extra)
            .current_dir(root())
            .output()
            .unwrap(),
        "tessera compile",
    );
    out
}

/// `tessera compile SRC --target cpu -o DIR/m.o --header DIR/m.h [extra]`.
fn compile_to_dir(dir: &Path, src: &Path, extra: &[&str]) -> Output {
    tessera()
        .arg("compile")
        .arg(src)
        .args(["--target", "cpu", "-o"])
        .arg(dir.join("m.o"))
        .arg("--header")
        .arg(dir.join("m.h"))
        .args(extra)
        .output()
        .unwrap()
}

/// Builds examples/c/main.c against `model` (an object or library) and the runtime.
fn build_demo(dir: &Path, model: &Path) -> PathBuf {
    let exe = dir.join("mlp_demo");
    ok(
        Command::new("cc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
            .arg(root().join("runtime/include"))
            .arg("-I")
            .arg(dir)
            .arg(root().join("examples/c/main.c"))
            .arg(model)
            .arg(runtime_staticlib())
            .arg(format!("-Wl,-rpath,{}", dir.display()))
            .args(NATIVE_LIBS)
            .arg("-o")
            .arg(&exe)
            .output()
            .unwrap(),
        "cc",
    );
    exe
}

/// The pattern examples/c/main.c fills tensors with.
fn pattern(shape: &[usize], salt: usize, scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| (((i * 7 + salt) % 17) as f32 / 17.0 - 0.5) * scale)
        .collect();
    Tensor::from_f32(DType::F32, shape.to_vec(), data).unwrap()
}

/// The interpreter's output for the demo's inputs at batch `b`.
fn expected(b: usize) -> Vec<f32> {
    let prog = Program::load(&root().join("examples/mlp.tsr")).unwrap();
    let inputs = vec![
        pattern(&[b, 784], 1, 1.0),
        pattern(&[784, 1024], 2, 0.1),
        pattern(&[1024], 3, 0.1),
        pattern(&[1024, 1024], 4, 0.1),
        pattern(&[1024], 5, 0.1),
        pattern(&[1024, 10], 6, 0.1),
        pattern(&[10], 7, 0.1),
    ];
    let out = prog.run_interp("mlp", inputs).unwrap();
    out[0].to_f32_vec()
}

/// The demo's printed rows.
fn rows(stdout: &str) -> Vec<f32> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("row "))
        .flat_map(|l| {
            l.split_once(':')
                .unwrap()
                .1
                .split_whitespace()
                .map(|v| v.parse::<f32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The printed rows against `want`: f32 accumulation against the interpreter's f64 (or
/// the JIT's), so softmax outputs agree closely.
fn assert_rows_close(stdout: &str, want: &[f32]) {
    let got = rows(stdout);
    assert_eq!(got.len(), want.len(), "{stdout}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 + 1e-4 * w.abs(),
            "element {i}: {g} vs {w}\n{stdout}"
        );
    }
}

fn check_demo(exe: &Path, batch: usize) {
    let stdout = ok(
        Command::new(exe).arg(batch.to_string()).output().unwrap(),
        "mlp_demo",
    );
    assert!(
        stdout.contains(&format!("output: [{batch}, 10]")),
        "{stdout}"
    );
    assert_rows_close(&stdout, &expected(batch));
    assert!(
        stdout.contains(
            "wrong shape: SHAPE_MISMATCH: parameter `w1`: dimension 0 is 783, expected 784"
        ),
        "{stdout}"
    );
}

#[test]
fn c_program_runs_the_compiled_object() {
    let dir = scratch("object");
    let obj = compile_mlp(dir.path(), "mlp.o", &[]);
    let header = std::fs::read_to_string(dir.path().join("mlp.h")).unwrap();
    assert!(header.contains("int32_t tessera_mlp(const TsrTensor *x, const TsrTensor *w1,"));
    assert!(header.contains(" *   out0: output f32[B, 10]"));
    assert!(header.contains("int32_t tessera_mlp_output_sizes(const TsrTensor *x,"));
    let exe = build_demo(dir.path(), &obj);
    check_demo(&exe, 3);
    check_demo(&exe, 1);
}

#[test]
fn static_and_shared_libraries_link_and_agree() {
    let dir = scratch("libs");
    let a = compile_mlp(dir.path(), "libmlp.a", &[]);
    check_demo(&build_demo(dir.path(), &a), 2);
    let so_dir = scratch("so");
    let so = compile_mlp(so_dir.path(), "libmlp.so", &[]);
    check_demo(&build_demo(so_dir.path(), &so), 2);
}

#[test]
fn fixed_sizes_refuse_other_sizes() {
    let dir = scratch("fixed");
    let obj = compile_mlp(dir.path(), "mlp.o", &["--shapes", "B=2"]);
    let header = std::fs::read_to_string(dir.path().join("mlp.h")).unwrap();
    assert!(header.contains(" *   x: input f32[2, 784]"), "{header}");
    let exe = build_demo(dir.path(), &obj);
    check_demo(&exe, 2);
    let out = Command::new(&exe).arg("3").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SHAPE_MISMATCH: parameter `x`: dimension 0 is 3, expected 2"),
        "{err}"
    );
}

/// A compiled `x[0:3]` of an `f32[B]` (in a called function) refuses `B = 2` with the
/// slice's location, and leaves the output untouched; `B = 4` runs.
#[test]
fn compiled_slices_check_symbolic_sizes_on_entry() {
    let dir = scratch("slice");
    let src = dir.path().join("head.tsr");
    std::fs::write(
        &src,
        "fn first3(x: f32[N]) -> f32[3] {\n    x[0:3]\n}\nfn head(x: f32[B]) -> f32[3] {\n    first3(x) * 2.0\n}\n",
    )
    .unwrap();
    ok(
        compile_to_dir(dir.path(), &src, &["--fn", "head"]),
        "tessera compile",
    );
    let exe = build_c(
        dir.path(),
        r#"#include <stdio.h>
#include "m.h"
int main(void) {
    float x[4] = {1, 2, 3, 4}, y[3] = {-1, -1, -1};
    int64_t n = 2, three = 3;
    TsrTensor tx = {x, TSR_F32, 1, &n}, ty = {y, TSR_F32, 1, &three};
    int rc = tessera_head(&tx, &ty);
    printf("%d %s | %g %g %g\n", rc, rc ? tsr_last_error() : "", y[0], y[1], y[2]);
    n = 4;
    rc = tessera_head(&tx, &ty);
    printf("%d | %g %g %g\n", rc, y[0], y[1], y[2]);
    return 0;
}
"#,
    );
    let out = ok(Command::new(&exe).output().unwrap(), "the C program");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("2 graph.slice at ")
            && lines[0].contains("head.tsr:2:5: slice 0:3 is out of range for axis 0 of size 2")
            && lines[0].ends_with("| -1 -1 -1"),
        "{out}"
    );
    assert_eq!(lines[1], "0 | 2 4 6", "{out}");
    // Sizes fixed at compile time that put the slice out of range are a compile error.
    let out = compile_to_dir(dir.path(), &src, &["--fn", "head", "--shapes", "B=2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("with --shapes as given, graph.slice at")
            && err.contains("slice 0:3 is out of range"),
        "{err}"
    );
}

/// Builds `main.c` of `dir` with the artifact `m.o` there and the runtime; the executable.
fn build_c(dir: &Path, main: &str) -> PathBuf {
    std::fs::write(dir.join("main.c"), main).unwrap();
    let exe = dir.join("main");
    ok(
        Command::new("cc")
            .args([
                "-std=c99",
                "-D_DEFAULT_SOURCE",
                "-Wall",
                "-Werror",
                "-O1",
                "-I",
            ])
            .arg(root().join("runtime/include"))
            .arg("-I")
            .arg(dir)
            .arg(dir.join("main.c"))
            .arg(dir.join("m.o"))
            .arg(runtime_staticlib())
            .args(NATIVE_LIBS)
            .arg("-o")
            .arg(&exe)
            .output()
            .unwrap(),
        "cc",
    );
    exe
}

/// A child of `fork` runs the artifact after its parent ran parallel grids (the thread
/// pool is made anew in the child: the parent's workers do not exist there); an output
/// that overlaps an input is refused; `_output_sizes` reads no data (a null data pointer
/// is fine).
#[test]
fn forked_children_run_overlaps_are_refused_and_output_sizes_reads_no_data() {
    let dir = scratch("fork");
    let src = dir.path().join("f.tsr");
    std::fs::write(
        &src,
        "fn f(x: f32[N, D]) -> f32[N, D] {\n    x * x + 1.0\n}\n",
    )
    .unwrap();
    ok(compile_to_dir(dir.path(), &src, &[]), "tessera compile");
    let exe = build_c(
        dir.path(),
        r#"#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include "m.h"
int main(void) {
    int64_t s[] = {2048, 512}, so[2];
    size_t n = 2048 * 512;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    for (size_t i = 0; i < n; i++) x[i] = (float)(i % 7);
    TsrTensor hx = {NULL, TSR_F32, 2, s};
    int rc = tessera_f_output_sizes(&hx, so);
    if (rc) { printf("sizes: %d %s\n", rc, tsr_last_error()); return 1; }
    TsrTensor tx = {x, TSR_F32, 2, s}, ty = {y, TSR_F32, 2, so};
    for (int i = 0; i < 3; i++)
        if ((rc = tessera_f(&tx, &ty))) { printf("parent: %d\n", rc); return 1; }
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        y[n - 1] = -1;
        rc = tessera_f(&tx, &ty);
        _exit(rc == 0 && y[n - 1] == x[n - 1] * x[n - 1] + 1 ? 0 : 3);
    }
    int st;
    waitpid(pid, &st, 0);
    int child = WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
    TsrTensor inplace = {x, TSR_F32, 2, s};
    rc = tessera_f(&tx, &inplace);
    printf("%lld %lld | child %d | in place %d %s\n", (long long)so[0], (long long)so[1],
           child, rc, tsr_last_error());
    return 0;
}
"#,
    );
    let out = ok(
        Command::new(&exe)
            .env("TESSERA_NUM_THREADS", "2")
            .output()
            .unwrap(),
        "the C program",
    );
    assert!(
        out.starts_with("2048 512 | child 0 | in place 1 ")
            && out.contains("output `out0` overlaps input `x`"),
        "{out}"
    );
}

/// Without `--fn`, `compile` exports the entry function (the only one, else `main`, else
/// an error listing them); `--fn` picks others, repeatable.
#[test]
fn compile_exports_the_entry_function_or_those_named() {
    let dir = scratch("entry");
    let two = dir.path().join("two.tsr");
    std::fs::write(
        &two,
        "fn a(x: f32[3]) -> f32[3] { x * 2.0 }\nfn b(x: f32[3]) -> f32[3] { a(x) + 1.0 }\n",
    )
    .unwrap();
    let compile = |file: &Path, extra: &[&str]| compile_to_dir(dir.path(), file, extra);
    let out = compile(&two, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fn: a, b"));
    assert!(!dir.path().join("m.o").exists());
    ok(
        compile(&two, &["--fn", "b", "--fn", "a"]),
        "compile --fn b --fn a",
    );
    let header = std::fs::read_to_string(dir.path().join("m.h")).unwrap();
    assert!(
        header.contains("tessera_a(") && header.contains("tessera_b("),
        "{header}"
    );
    let with_main = dir.path().join("main.tsr");
    std::fs::write(
        &with_main,
        "fn a(x: f32[3]) -> f32[3] { x * 2.0 }\nfn main(x: f32[3]) -> f32[3] { a(x) }\n",
    )
    .unwrap();
    ok(compile(&with_main, &[]), "compile");
    let header = std::fs::read_to_string(dir.path().join("m.h")).unwrap();
    assert!(
        header.contains("tessera_main(") && !header.contains("tessera_a("),
        "{header}"
    );
}

#[test]
fn bad_compile_requests_are_user_errors_and_write_nothing() {
    let dir = scratch("errors");
    // Exit status 2 for a bad command line, 1 for a request the program cannot meet.
    let cases: &[(&[&str], &str, i32)] = &[
        (&["-o", "m.txt"], "must end in .o, .a or .so", 2),
        (&["-o", "m.o", "--fn", "nope"], "no function `nope`", 1),
        (&["-o", "m.o", "--shapes", "Q=3"], "`Q`", 1),
        (&["-o", "m.h"], "must end in .o, .a or .so", 2),
        (&["-o", "m.o", "--shapes", "B=3,B=4"], "gives `B` twice", 2),
        (
            &["-o", "m.o", "--shapes", "B=99999999999999999"],
            "sizes are at most",
            2,
        ),
    ];
    for (args, msg, code) in cases {
        let out = tessera()
            .args(["compile"])
            .arg(root().join("examples/mlp.tsr"))
            .args(["--target", "cpu"])
            .args(*args)
            .arg("--header")
            .arg("m.h")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(*code), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    let out = tessera()
        .args(["compile", "examples/mlp.tsr", "--target", "cuda", "-o"])
        .arg(dir.path().join("m.o"))
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cuda target is not available"));
    let same = tessera()
        .args(["compile", "examples/mlp.tsr", "--target", "cpu", "-o"])
        .arg(dir.path().join("m.o"))
        .arg("--header")
        .arg(dir.path().join("m.o"))
        .current_dir(root())
        .output()
        .unwrap();
    // Two flags that contradict each other: a bad command line.
    assert_eq!(same.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&same.stderr)
        .contains("the header and the output are the same file"));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
    // A function named twice is compiled once.
    let twice = tessera()
        .args([
            "compile",
            "examples/multi_output.tsr",
            "--target",
            "cpu",
            "--fn",
            "main",
            "--fn",
            "main",
            "-o",
        ])
        .arg(dir.path().join("t.o"))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        twice.status.success(),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
}

/// The Rust embedding example (examples/rust, built by `cargo test` with the tests) prints
/// the interpreter's numbers too.
#[test]
fn rust_example_runs_the_library_api() {
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().unwrap().parent().unwrap().join("examples");
    let bin = examples.join("embed_mlp");
    assert!(bin.exists(), "{} was not built", bin.display());
    let stdout = ok(Command::new(&bin).arg("2").output().unwrap(), "embed_mlp");
    let got = rows(&stdout);
    let want = expected(2);
    assert_eq!(got.len(), want.len(), "{stdout}");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            (g - w).abs() <= 1e-5 + 1e-4 * w.abs(),
            "{g} vs {w}\n{stdout}"
        );
    }
    assert!(
        stdout.contains(
            "wrong shape: error: parameter `w1` expects f32[784, 1024]: dimension 0 is 783"
        ),
        "{stdout}"
    );
}

/// Every program we have compiles ahead of time: one object with an entry point per
/// function, whose plan names the function's parameters and results.
#[test]
fn every_program_compiles_to_an_object() {
    let mut n = 0;
    for path in common::sources() {
        let prog = Program::load(&path).unwrap();
        let artifact = prog
            .compile_aot(&[], &BTreeMap::new())
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.render(false)));
        assert_eq!(artifact.object.entries.len(), prog.module.funcs.len());
        assert!(artifact.object.bytes.starts_with(b"\x7fELF"));
        for (e, f) in artifact.object.entries.iter().zip(&prog.module.funcs) {
            assert_eq!(e.symbol, format!("tessera_{}", f.name));
            let inputs = e.plan.args.iter().filter(|a| !a.output).count();
            assert_eq!(inputs, f.params.len(), "{}", path.display());
            n += 1;
        }
        let header = artifact.header("H");
        // Two entry points per function: the function, and its output sizes.
        assert_eq!(
            header.matches("int32_t tessera_").count(),
            2 * prog.module.funcs.len()
        );
        // The header is valid C99 after the standard headers (parameter names that are C
        // keywords, standard macros or the header's own names are renamed).
        let dir = scratch("header");
        let h = dir.path().join("model.h");
        std::fs::write(&h, &header).unwrap();
        let c = dir.path().join("model.c");
        std::fs::write(
            &c,
            "#include <errno.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include \"model.h\"\n",
        )
        .unwrap();
        ok(
            Command::new("cc")
                .args(["-std=c99", "-Wall", "-Werror", "-fsyntax-only", "-I"])
                .arg(root().join("runtime/include"))
                .arg(&c)
                .output()
                .unwrap(),
            &format!("cc on the header of {}", path.display()),
        );
    }
    assert!(n >= 96, "{n} functions");
}

/// A C program for `tessera compile --weights`: the entry point takes `x` alone.
const HELD_DEMO: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include "mlp.h"
#ifdef TAKEN
/* The pattern of examples/c/main.c, scale 0.1. */
static TsrTensor weight(int64_t *sizes, uint32_t rank, int64_t salt) {
    int64_t n = 1;
    for (uint32_t d = 0; d < rank; d++) n *= sizes[d];
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = ((float)((i * 7 + salt) % 17) / 17.0f - 0.5f) * 0.1f;
    TsrTensor t = {p, TSR_F32, rank, sizes};
    return t;
}
#endif
int main(int argc, char **argv) {
    int64_t b = atoll(argv[1]);
    int64_t xs[] = {b, 784}, os[2];
    float *x = malloc((size_t)(b * 784) * sizeof(float));
    for (int64_t i = 0; i < b * 784; i++) x[i] = ((float)((i * 7 + 1) % 17) / 17.0f - 0.5f);
    TsrTensor in = {x, TSR_F32, 2, xs};
#ifndef TAKEN
    if (tessera_mlp_output_sizes(&in, os) != TSR_OK) return 1;
#else
    /* w1, b1, w3, b3 taken at run time, w2 and b2 held. */
    int64_t w1s[] = {784, 1024}, b1s[] = {1024}, w3s[] = {1024, 10}, b3s[] = {10};
    TsrTensor w1 = weight(w1s, 2, 2), b1 = weight(b1s, 1, 3), w3 = weight(w3s, 2, 6),
              b3 = weight(b3s, 1, 7);
    if (tessera_mlp_output_sizes(&in, &w1, &b1, &w3, &b3, os) != TSR_OK) return 1;
#endif
    float *y = malloc((size_t)(os[0] * os[1]) * sizeof(float));
    TsrTensor out = {y, TSR_F32, 2, os};
#ifndef TAKEN
    int32_t ran = tessera_mlp(&in, &out);
#else
    int32_t ran = tessera_mlp(&in, &w1, &b1, &w3, &b3, &out);
#endif
    if (ran != TSR_OK) { fprintf(stderr, "%s\n", tsr_last_error()); return 1; }
    for (int64_t r = 0; r < b; r++) {
        printf("row %lld:", (long long)r);
        for (int c = 0; c < 10; c++) printf(" %.9g", y[r * 10 + c]);
        printf("\n");
    }
    int64_t bad[] = {b, 783};
    TsrTensor wrong = {x, TSR_F32, 2, bad};
#ifndef TAKEN
    int32_t rc = tessera_mlp(&wrong, &out);
#else
    int32_t rc = tessera_mlp(&wrong, &w1, &b1, &w3, &b3, &out);
#endif
    const char *message = tsr_last_error();
    printf("wrong shape: %s: %s\n", tsr_error_name(rc), message);
    return 0;
}
"#;

/// `tessera compile --weights`: the weights are compiled into the artifact, prepared
/// once (int8 and bf16 held quantised: a quarter and a half of the f32 object), the entry
/// point takes `x` alone, and its numbers are those of the JIT with the same precision
/// (the interpreter's, for f32).
#[test]
fn weights_held_in_the_artifact() {
    let dir = scratch("held");
    let weights: Vec<(String, Tensor)> = [
        ("w1", vec![784, 1024], 2),
        ("b1", vec![1024], 3),
        ("w2", vec![1024, 1024], 4),
        ("b2", vec![1024], 5),
        ("w3", vec![1024, 10], 6),
        ("b3", vec![10], 7),
    ]
    .into_iter()
    .map(|(n, s, salt)| (n.to_string(), pattern(&s, salt, 0.1)))
    .collect();
    let file = dir.path().join("mlp.safetensors");
    tessera_tensor::safetensors_io::write_safetensors_file(&file, &weights).unwrap();
    // Only w2 and b2: the entry point takes x, w1, b1, w3, b3.
    let part = dir.path().join("part.safetensors");
    let some: Vec<(String, Tensor)> = weights
        .iter()
        .filter(|(n, _)| n == "w2" || n == "b2")
        .cloned()
        .collect();
    tessera_tensor::safetensors_io::write_safetensors_file(&part, &some).unwrap();
    std::fs::write(dir.path().join("held.c"), HELD_DEMO).unwrap();
    let batch = 3;
    // Compiles with `--weights file --precision flag` into `out`, links the demo (with
    // `-DTAKEN` when w1, b1, w3, b3 are taken), runs it and checks its numbers.
    let case = |out: &str, file: &Path, precision: Precision, flag: &str, taken: bool| -> u64 {
        let obj = compile_mlp(
            dir.path(),
            out,
            &["--weights", file.to_str().unwrap(), "--precision", flag],
        );
        let header = std::fs::read_to_string(dir.path().join("mlp.h")).unwrap();
        let (signature, held) = if taken {
            (
                "int32_t tessera_mlp(const TsrTensor *x, const TsrTensor *w1, const TsrTensor *b1, const TsrTensor *w3, const TsrTensor *b3, TsrTensor *out0);",
                "w2, b2",
            )
        } else {
            (
                "int32_t tessera_mlp(const TsrTensor *x, TsrTensor *out0);",
                "w1, b1, w2, b2, w3, b3",
            )
        };
        assert!(header.contains(signature), "{header}");
        assert!(
            header.contains(&format!(
                "held in the artifact (compiled with --weights): {held}\n"
            )),
            "{header}"
        );
        let exe = dir.path().join("held");
        ok(
            Command::new("cc")
                .args(["-std=c99", "-Wall", "-Werror", "-O1"])
                .args(if taken { &["-DTAKEN"][..] } else { &[] })
                .arg("-I")
                .arg(root().join("runtime/include"))
                .arg("-I")
                .arg(dir.path())
                .arg(dir.path().join("held.c"))
                .arg(&obj)
                .arg(runtime_staticlib())
                .arg(format!("-Wl,-rpath,{}", dir.path().display()))
                .args(NATIVE_LIBS)
                .arg("-o")
                .arg(&exe)
                .output()
                .unwrap(),
            "cc",
        );
        let stdout = ok(
            Command::new(&exe).arg(batch.to_string()).output().unwrap(),
            "held demo",
        );
        let want = if precision == Precision::F32 {
            expected(batch)
        } else {
            let mut prog = Program::load(&root().join("examples/mlp.tsr")).unwrap();
            prog.precision = precision;
            let mut inputs = vec![pattern(&[batch, 784], 1, 1.0)];
            inputs.extend(weights.iter().map(|(_, t)| t.clone()));
            let exec = prog.cpu_executable("mlp").unwrap();
            exec.run(inputs).unwrap()[0].to_f32_vec()
        };
        assert_rows_close(&stdout, &want);
        assert!(
            stdout.contains("wrong shape: SHAPE_MISMATCH: parameter `x`: dimension 1 is 783"),
            "{flag}: {stdout}"
        );
        std::fs::metadata(&obj).unwrap().len()
    };
    let mut sizes = BTreeMap::new();
    for (precision, flag) in [
        (Precision::F32, "f32"),
        (Precision::Int8, "int8"),
        (Precision::Bf16, "bf16"),
    ] {
        sizes.insert(flag, case("mlp.o", &file, precision, flag, false));
    }
    case("mlp.o", &part, Precision::Int8, "int8", true);
    case("libmlp.so", &part, Precision::F32, "f32", true);
    // The weights are 7.4 MB in f32: int8 holds a quarter of them, bf16 half.
    assert!(sizes["f32"] > 7_400_000, "{sizes:?}");
    assert!(sizes["int8"] * 3 < sizes["f32"], "{sizes:?}");
    assert!(sizes["bf16"] * 3 < sizes["f32"] * 2, "{sizes:?}");
}

/// `--weights` that name no parameter are a user error, and nothing is written.
#[test]
fn weights_that_name_no_parameter_are_refused() {
    let dir = scratch("held-errors");
    let refused = |name: &str, tensor: Tensor, message: &str| {
        let file = dir.path().join(format!("{name}.safetensors"));
        tessera_tensor::safetensors_io::write_safetensors_file(
            &file,
            &[(name.to_string(), tensor)],
        )
        .unwrap();
        let out = tessera()
            .args(["compile", "examples/mlp.tsr", "--target", "cpu", "-o"])
            .arg(dir.path().join("m.o"))
            .arg("--weights")
            .arg(&file)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{err}");
        assert!(!dir.path().join("m.o").exists());
    };
    refused(
        "zz",
        pattern(&[4], 1, 1.0),
        "the weights name no parameter of `mlp`",
    );
    // A held weight of the wrong shape points at its parameter.
    refused("w1", pattern(&[783, 1024], 1, 1.0), "w1");
}

/// The sizes that held weights fix are fixed in the artifact: the header shows them, and a
/// caller's argument that contradicts them is the one an error names (the plan checks them
/// as constants).
#[test]
fn sizes_fixed_by_held_weights_are_shown_and_checked_as_constants() {
    let prog = Program::from_source(
        "lin.tsr",
        "fn lin(x: f32[B, D], w: f32[D, H]) -> f32[B, H] {\n    x @ w\n}\n",
    )
    .unwrap();
    let weights = BTreeMap::from([("w".to_string(), pattern(&[64, 8], 1, 1.0))]);
    let artifact = prog
        .compile_aot_baked(&[], &BTreeMap::new(), &weights)
        .unwrap();
    let header = artifact.header("LIN");
    assert!(header.contains(" *   x: input f32[B, 64]"), "{header}");
    assert!(
        header.contains("int32_t tessera_lin(const TsrTensor *x, TsrTensor *out0);"),
        "{header}"
    );
}
