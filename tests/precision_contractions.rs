//! `--precision bf16|f16|fp8|int8` on `einsum` and `conv2d` operands
//! (`compiler/egraph/src/rules/precision.rs`): the lowered programs run on the CPU back end
//! and in the tile interpreter and match the graph interpreter on the same lowered
//! program (the oracle; tolerances of `common::mismatch`), and stay within per-format
//! normwise bounds of the `f32` program ([`BOUNDS`]). Programs: the CNN example (two
//! convolutions and a matmul), attention scores (a batched einsum and a softmax), an einsum
//! with two contracted labels (which tiling rewrites into a matmul, in `i8` too) and one
//! whose output reorders the labels, on ragged sizes. The `int8` forms run `i8` kernels:
//! the convolutions' implicit GEMMs and the einsums' dots read `i8` tiles into `i32`.

mod common;

use common::{inputs_in, mismatch};
use std::collections::BTreeMap;
use tessera::precision::normwise_error;
use tessera::{CpuExecutable, Program, Tensor};
use tessera_dialects::DType;
use tessera_egraph::Precision;

/// Per format, the largest normwise error (max |lowered - f32| / max |f32|, in the
/// interpreter) allowed on these programs' random inputs in [-2, 2]: about twice the
/// largest measured (bf16 3.4e-3, f16 4.6e-4, fp8 4.2e-2, int8 1.1e-2 on the einsums;
/// smaller on the CNN, whose softmax output is a probability).
const BOUNDS: [(Precision, f64); 4] = [
    (Precision::Bf16, 1e-2),
    (Precision::F16, 2e-3),
    (Precision::Fp8, 0.1),
    (Precision::Int8, 3e-2),
];

const EINSUMS: &str = r#"
fn scores(q: f32[B, 2, S, 16], k: f32[B, 2, T, 16]) -> f32[B, 2, S, T] {
    softmax(einsum("bhqd,bhkd->bhqk", q, k) * 0.25, axis: -1)
}
fn two_labels(x: f32[M, 4, 6], w: f32[4, 6, N]) -> f32[M, N] {
    einsum("ijk,jkl->il", x, w)
}
fn reordered(x: f32[M, 3, 8], w: f32[8, N]) -> f32[3, N, M] {
    einsum("mbk,kn->bnm", x, w)
}
"#;

/// Runs `func` of `p` on `xs` in the graph interpreter (the oracle), the tile interpreter
/// and the CPU back end, and panics (naming `what`) where the last two differ from the
/// first; returns the interpreter's results and the compiled function.
fn run_checked(p: &Program, func: &str, xs: &[Tensor], what: &str) -> (Vec<Tensor>, CpuExecutable) {
    let want = p.run_interp(func, xs.to_vec()).expect("interpreter");
    let tile = p.run_tiled(func, xs.to_vec()).expect("tile interpreter");
    if let Some(m) = mismatch(&tile, &want) {
        panic!("{what} tile: {m}");
    }
    let cpu = p.cpu_executable(func).expect("compiles");
    let got = cpu.run(xs.to_vec()).expect("runs");
    if let Some(m) = mismatch(&got, &want) {
        panic!("{what} cpu: {m}");
    }
    (want, cpu)
}

/// How many `tile.dot`s of the compiled function read `i8` tiles.
fn i8_dots(cpu: &CpuExecutable) -> usize {
    tessera_dialects::print_module(&cpu.tiled().kernels)
        .lines()
        .filter(|l| l.contains("tile.dot") && l.contains("xi8>"))
        .count()
}

/// Runs `func` of `prog` (as written: `f32`) under every lowered precision on the CPU
/// back end and in the tile interpreter on `xs`; returns the normwise errors against
/// `f32`.
fn check(prog: &Program, func: &str, xs: Vec<Tensor>) -> Vec<(Precision, f64)> {
    let exact = prog.run_interp(func, xs.clone()).expect("f32 interpreter");
    let mut errors = Vec::new();
    for (precision, bound) in BOUNDS {
        let mut p = prog.clone();
        p.precision = precision;
        let (want, cpu) = run_checked(&p, func, &xs, &format!("{func} {precision:?}"));
        let n = i8_dots(&cpu);
        assert_eq!(
            n > 0,
            precision == Precision::Int8,
            "{func} {precision:?}: {n} i8 dots"
        );
        let e = normwise_error(&want, &exact);
        assert!(e <= bound, "{func} {precision:?}: error {e} > {bound}");
        eprintln!("{func} {precision:?}: normwise error against f32 {e:.2e}");
        errors.push((precision, e));
    }
    errors
}

#[test]
fn lowered_einsums_match_the_interpreter() {
    let prog = Program::from_source("einsums.tsr", EINSUMS).expect("compiles");
    for (b, s, t) in [(1, 1, 1), (2, 5, 7), (3, 9, 33)] {
        let sizes: BTreeMap<String, i64> =
            [("B".into(), b), ("S".into(), s), ("T".into(), t)].into();
        check(
            &prog,
            "scores",
            inputs_in(&prog, "scores", &sizes, 11, |_| -2.0),
        );
    }
    for (m, n) in [(1, 1), (5, 9), (17, 40)] {
        let sizes: BTreeMap<String, i64> = [("M".into(), m), ("N".into(), n)].into();
        for f in ["two_labels", "reordered"] {
            check(&prog, f, inputs_in(&prog, f, &sizes, 11, |_| -2.0));
        }
    }
}

/// An einsum of three operands: `bf16`, `f16` and `fp8` round each operand once (one
/// scale per tensor for fp8), and the lowered program matches the interpreter on the CPU
/// back end and in the tile interpreter; `int8` leaves it as written (one `i8`
/// contraction of three operands is not an exact `i32` product).
#[test]
fn einsums_of_three_operands_are_lowered_in_the_float_formats() {
    let src = r#"
fn chain(a: f32[M, 6], b: f32[6, 5], c: f32[5, N]) -> f32[M, N] {
    einsum("ij,jk,kl->il", a, b, c)
}
"#;
    let prog = Program::from_source("chain.tsr", src).expect("compiles");
    for (m, n) in [(1, 1), (5, 9), (17, 40)] {
        let sizes: BTreeMap<String, i64> = [("M".into(), m), ("N".into(), n)].into();
        let xs = inputs_in(&prog, "chain", &sizes, 13, |_| -2.0);
        let exact = prog
            .run_interp("chain", xs.clone())
            .expect("f32 interpreter");
        for (precision, bound) in BOUNDS {
            let mut p = prog.clone();
            p.precision = precision;
            let text = p.graph_opt_text("chain", false).expect("optimises");
            let (want, _) = run_checked(&p, "chain", &xs, &format!("{precision:?}\n{text}"));
            let e = normwise_error(&want, &exact);
            let (casts, quants) = (
                text.matches("graph.cast").count(),
                text.matches("graph.quantize").count(),
            );
            match precision {
                Precision::Bf16 | Precision::F16 => {
                    assert_eq!(casts, 6, "{precision:?}: each operand rounded\n{text}");
                    assert!(e > 0.0 && e <= bound, "{precision:?}: error {e}");
                }
                Precision::Fp8 => {
                    assert_eq!(quants, 3, "fp8: each operand quantised\n{text}");
                    assert!(e > 0.0 && e <= bound, "fp8: error {e}");
                }
                _ => {
                    assert_eq!(casts + quants, 0, "{precision:?}: as written\n{text}");
                    assert_eq!(e, 0.0, "{precision:?}");
                }
            }
        }
    }
}

#[test]
fn lowered_convolutions_match_the_interpreter() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cnn.tsr");
    let prog = Program::load(std::path::Path::new(path)).expect("loads");
    // Inputs in [-1, 1], weights scaled by 1 / sqrt(fan-in), so that the probabilities
    // are not all 0 or 1 (which would hide any error).
    for n in [1, 3] {
        let shapes: [(&[usize], f32); 7] = [
            (&[n, 1, 28, 28], 1.0),
            (&[8, 1, 3, 3], 0.33),
            (&[8], 0.1),
            (&[16, 8, 3, 3], 0.12),
            (&[16], 0.1),
            (&[784, 10], 0.036),
            (&[10], 0.1),
        ];
        let xs: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, (s, r))| {
                tessera_tensor::random::uniform(DType::F32, s, -r, *r, 40 + i as u64)
                    .expect("random")
            })
            .collect();
        let probs = prog.run_interp("cnn", xs.clone()).expect("interpreter");
        let top = probs[0].to_f64_vec().into_iter().fold(0.0, f64::max);
        assert!(top < 0.9, "saturated probabilities: {top}");
        for (p, e) in check(&prog, "cnn", xs) {
            assert!(e > 0.0, "{p:?}: no error at all");
        }
    }
    // The convolutions' weights are weights: their conversion is hoisted (run once when
    // they are bound) and the function proper no longer takes them as given (only their
    // converted forms are held).
    for (precision, _) in BOUNDS {
        let mut p = prog.clone();
        p.precision = precision;
        let h = p
            .hoisted("cnn")
            .expect("hoists")
            .expect("something hoisted");
        // Parameters: x, conv1_w, conv1_b, conv2_w, conv2_b, fc_w, fc_b.
        assert_eq!(h.kept, [0, 2, 4, 6], "{precision:?}");
    }
}

/// Grouped, strided, dilated and unpadded convolutions under `int8`: the grouped one
/// keeps the direct `i8` convolution (accumulated in `i32`), the others the implicit
/// GEMM on the `i8` micro-kernel.
#[test]
fn int8_convolutions_of_every_shape_match_the_interpreter() {
    let src = "
fn shapes(x: f32[N, 4, H, W], w: f32[6, 4, 3, 3], g: f32[6, 2, 3, 3], v: f32[5, 4, 2, 3])
    -> (f32[N, 6, H, W], f32[N, 6, H, W], f32[N, 5, (H - 1) / 2 + 1, W / 3]) {
    (conv2d(x, w, padding: [1, 1]), conv2d(x, g, padding: [1, 1], groups: 2),
     conv2d(x, v, stride: [2, 3], padding: [1, 0], dilation: [2, 1]))
}";
    let mut prog = Program::from_source("shapes.tsr", src).expect("compiles");
    prog.precision = Precision::Int8;
    for (n, h, w) in [(1, 1, 3), (2, 7, 9), (1, 5, 70)] {
        let sizes: BTreeMap<String, i64> =
            [("N".into(), n), ("H".into(), h), ("W".into(), w)].into();
        let xs = inputs_in(&prog, "shapes", &sizes, 3, |_| -2.0);
        let (want, _) = run_checked(&prog, "shapes", &xs, &format!("N={n} H={h} W={w}"));
        let mut exact = prog.clone();
        exact.precision = Precision::F32;
        let exact = exact.run_interp("shapes", xs).expect("f32 interpreter");
        let e = normwise_error(&want, &exact);
        assert!(e <= 3e-2, "N={n} H={h} W={w}: error {e}");
        eprintln!("int8 convolutions N={n} H={h} W={w}: normwise error against f32 {e:.2e}");
    }
}

/// `--precision int8/block32` on an attention-like einsum (`d = 64`: two blocks of 32)
/// and a convolution with 64 input channels (two blocks), on ragged sizes: the lowered
/// programs run `i8` dots on the CPU back end and in the tile interpreter, match the graph
/// interpreter on the same lowered program, and stay within the `int8` bound of the
/// `f32` program. A contraction the form does not fit (the einsum with `d = 16`) stays
/// `f32`. Also a matmul with three blocks (`mm`), eight blocks (`wide`: one `i8`
/// contraction per block, their scaled sum one elementwise kernel) and 33 (`long`: one
/// `i8` einsum keeping the block label, summed over it).
#[test]
fn block32_einsums_and_convolutions_match_the_interpreter() {
    let src = r#"
fn scores(q: f32[B, S, 64], k: f32[B, T, 64]) -> f32[B, S, T] {
    softmax(einsum("bqd,bkd->bqk", q, k) * 0.125, axis: -1)
}
fn conv(x: f32[B, 64, S, T], w: f32[5, 64, 3, 3], b: f32[5]) -> f32[B, 5, S, T] {
    relu(conv2d(x, w, padding: [1, 1]) + reshape(b, [5, 1, 1]))
}
fn small(q: f32[B, S, 16], k: f32[B, T, 16]) -> f32[B, S, T] {
    einsum("bqd,bkd->bqk", q, k)
}
fn long(q: f32[B, S, 1056], k: f32[B, T, 1056]) -> f32[B, S, T] {
    einsum("bqd,bkd->bqk", q, k)
}
fn mm(x: f32[B, S, 96], w: f32[96, T]) -> f32[B, S, T] {
    x @ w
}
fn wide(x: f32[B, 256, S, T], w: f32[3, 256, 1, 2], q: f32[B, S, 256], k: f32[B, T, 256])
    -> (f32[B, 3, S, T - 1], f32[B, S, T]) {
    (conv2d(x, w), einsum("bqd,bkd->bqk", q, k))
}
"#;
    let mut prog = Program::from_source("block32.tsr", src).expect("compiles");
    prog.precision = Precision::Int8Block32;
    let mut exact = prog.clone();
    exact.precision = Precision::F32;
    for (b, s, t) in [(1, 1, 2), (2, 5, 7), (1, 9, 33)] {
        let sizes: BTreeMap<String, i64> =
            [("B".into(), b), ("S".into(), s), ("T".into(), t)].into();
        for func in ["scores", "conv", "small", "mm", "wide", "long"] {
            let xs = inputs_in(&prog, func, &sizes, 5, |_| -2.0);
            let (want, cpu) = run_checked(&prog, func, &xs, &format!("{func} B={b} S={s} T={t}"));
            let n = i8_dots(&cpu);
            assert_eq!(n > 0, func != "small", "{func}: {n} i8 dots");
            let f32s = exact.run_interp(func, xs.clone()).expect("f32 interpreter");
            let e = normwise_error(&want, &f32s);
            if func == "small" {
                assert_eq!(e, 0.0, "{func}: not f32");
            } else {
                // Within the int8 bound, or three times `int8/row`'s error on the same
                // data where a result of a few elements makes the normwise error that of
                // a few largely cancelled sums (`wide` at S = 1, T = 2: 6.2e-2 against
                // 2.2e-2).
                let mut row = prog.clone();
                row.precision = Precision::Int8;
                let r = normwise_error(&row.run_interp(func, xs.clone()).expect("row"), &f32s);
                assert!(
                    e > 0.0 && e <= 3e-2f64.max(3.0 * r),
                    "{func} B={b} S={s} T={t}: error {e}, int8/row {r}"
                );
            }
            eprintln!("{func} B={b} S={s} T={t}: normwise error against f32 {e:.2e}");
        }
    }
}
