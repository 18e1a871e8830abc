//! Row kernels on the CPU back end (softmax, log_softmax, layernorm and rmsnorm with an
//! elementwise prologue, sums and means) against the graph interpreter on edge values:
//! NaN, infinities, -0, huge and tiny values, all `-inf` rows, ragged row lengths (the
//! padding of the last column tile) and narrow floats. Tolerances: `tests/common/mod.rs`
//! (`mismatch`), see docs/numerics-cpu.md.

mod common;

use common::mismatch;
use tessera::Program;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

const SRC: &str = "
fn rows(x: f32[R, C], y: f32[R, C], a: f32[C], g: f32[C], b: f32[C]) -> (f32[R, C], f32[R, C], f32[R, C], f32[R, C], f32[R], f32[R]) {
    (softmax(x, axis: -1), log_softmax(x, axis: -1), layernorm(gelu(y * a) + 0.5, g, b),
     rmsnorm(tanh(x) * a, g, eps: 0.001), sum(x, axis: -1), mean(x, axis: -1))
}
fn narrow(x: bf16[R, C], h: f16[R, C], g: f16[C], b: f16[C]) -> (bf16[R, C], f16[R, C], f16[R]) {
    (softmax(x, axis: -1), layernorm(h * g + b, g, b), sum(h, axis: -1))
}
";

/// `rows x cols` values cycling through edge cases, with finite filler between them.
fn values(rows: usize, cols: usize, seed: u32) -> Vec<f32> {
    let edges = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        1e30,
        -1e30,
        1e-40,
        3.0e38,
    ];
    let mut s = seed;
    (0..rows * cols)
        .map(|i| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let row = i / cols;
            match row % 4 {
                // a finite row, and a row with one edge value
                0 => ((s >> 8) as f32 / (1u32 << 24) as f32) * 8.0 - 4.0,
                1 if i % cols == 1 => edges[(row / 4) % edges.len()],
                1 => ((s >> 8) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0,
                // an all -inf row
                2 => f32::NEG_INFINITY,
                _ => ((s >> 8) as f32 / (1u32 << 24) as f32) * 200.0 - 100.0,
            }
        })
        .collect()
}

fn t(d: DType, shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::from_f32(d, shape.to_vec(), v).unwrap()
}

fn check(prog: &Program, f: &str, xs: Vec<Tensor>) {
    let want = prog.run_interp(f, xs.clone());
    let got = prog.cpu_executable(f).expect("compiles").run(xs);
    match (want, got) {
        (Ok(w), Ok(g)) => {
            if let Some(m) = mismatch(&g, &w) {
                panic!("{f}: {m}");
            }
        }
        (w, g) => panic!("{f}: interpreter {:?}, cpu {:?}", w.is_ok(), g.is_ok()),
    }
}

#[test]
fn row_kernels_on_edge_values() {
    let prog = Program::from_source("rows.tsr", SRC).unwrap();
    // Ragged row lengths and lengths that are multiples of 4 and 16.
    for (r, c) in [(32, 5), (16, 16), (12, 37), (8, 64)] {
        let x = t(DType::F32, &[r, c], values(r, c, 1));
        // Norms compute in f32: deviations whose squares overflow f32 (above 1.8e19) are
        // outside their domain (docs/numerics-cpu.md).
        let y: Vec<f32> = values(r, c, 1)
            .into_iter()
            .map(|v| {
                if v.is_finite() {
                    v.clamp(-1e15, 1e15)
                } else {
                    v
                }
            })
            .collect();
        let y = t(DType::F32, &[r, c], y);
        let a = t(DType::F32, &[c], values(1, c, 2));
        let g = t(DType::F32, &[c], values(1, c, 3));
        let b = t(DType::F32, &[c], values(1, c, 4));
        check(&prog, "rows", vec![x, y, a, g, b]);
        let x = t(DType::BF16, &[r, c], values(r, c, 5));
        let h: Vec<f32> = values(r, c, 6)
            .into_iter()
            .map(|v| {
                if v.is_finite() {
                    v.clamp(-100.0, 100.0)
                } else {
                    v
                }
            })
            .collect();
        let h = t(DType::F16, &[r, c], h);
        let g = t(DType::F16, &[c], values(1, c, 7));
        let b = t(DType::F16, &[c], values(1, c, 8));
        check(&prog, "narrow", vec![x, h, g, b]);
    }
}
