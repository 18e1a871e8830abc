//! Row kernels compiled by Cranelift on ragged row lengths (1, 3, 127, 128, 129, 256, 300, 512,
//! 640, 700, 4097, symbolic and constant) and row counts that do not fill the last row tile
//! (`template::row_tile`: 128-wide chunks for a symbolic length, after 512-wide ones in the
//! norms, several short constant rows per grid point), against the graph interpreter. Tolerances: `tests/common/mod.rs`
//! (`mismatch`), see docs/numerics-cpu.md.

mod common;

use common::mismatch;
use tessera::Program;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

const ROWS: &str = "(softmax(x, axis: -1), log_softmax(x - 1.0, axis: -1), layernorm(gelu_tanh(x * a + b), g, b), rmsnorm(x, g, eps: 0.001))";

fn source(n: &str) -> String {
    format!(
        "fn rows(x: f32[R, {n}], a: f32[{n}], g: f32[{n}], b: f32[{n}]) -> (f32[R, {n}], f32[R, {n}], f32[R, {n}], f32[R, {n}]) {{ {ROWS} }}\n\
         fn narrow(x: f16[R, {n}], g: f16[{n}]) -> (f16[R, {n}], f16[R, {n}]) {{ (softmax(x * g, axis: -1), layernorm(x, g, g)) }}"
    )
}

fn random(d: DType, shape: &[usize], seed: u64) -> Tensor {
    tessera_tensor::random::uniform(d, shape, -3.0, 3.0, seed).expect("random")
}

fn check(prog: &Program, r: usize, n: usize) {
    let f32s = |shape: &[usize], s| random(DType::F32, shape, s);
    let runs = [
        (
            "rows",
            vec![
                f32s(&[r, n], 1),
                f32s(&[n], 2),
                f32s(&[n], 3),
                f32s(&[n], 4),
            ],
        ),
        (
            "narrow",
            vec![random(DType::F16, &[r, n], 5), random(DType::F16, &[n], 6)],
        ),
    ];
    for (f, xs) in runs {
        let want = prog.run_interp(f, xs.clone()).expect("interpreter");
        let got = prog
            .cpu_executable(f)
            .expect("compiles")
            .run(xs)
            .expect("runs");
        if f == "narrow" {
            // Computed in f32 and rounded once to f16, against the interpreter's f64 rounded
            // once: a sum over thousands of elements may land on the other side of an f16
            // rounding boundary, so results agree to one f16 ulp (2^-10 relative, 2^-24 for
            // subnormals).
            for (g, w) in got.iter().zip(&want) {
                for (i, (p, q)) in g.to_f64_vec().iter().zip(w.to_f64_vec()).enumerate() {
                    let ok = (p.is_nan() && q.is_nan())
                        || (p - q).abs() <= (q.abs() / 1024.0).max(2f64.powi(-24));
                    assert!(ok, "{f} R={r} N={n}, element {i}: {p} instead of {q}");
                }
            }
        } else if let Some(m) = mismatch(&got, &want) {
            panic!("{f} R={r} N={n}: {m}");
        }
    }
}

#[test]
fn ragged_row_lengths_symbolic_and_constant() {
    let symbolic = Program::from_source("rows.tsr", &source("N")).unwrap();
    for n in [1, 3, 127, 128, 129, 256, 300, 512, 640, 700, 4097] {
        let rows: &[usize] = if n > 200 { &[1, 3] } else { &[1, 3, 17, 33] };
        let constant = Program::from_source("rows.tsr", &source(&n.to_string())).unwrap();
        for &r in rows {
            check(&symbolic, r, n);
            check(&constant, r, n);
        }
    }
}
