//! Attention with an additive mask (`softmax(q k^T * c + mask) @ v`) is one attention
//! kernel that reads the mask, on the native back end as in the interpreter: the
//! decoder example `examples/causal_attention.tsr` with a causal mask of 0 and `-inf`
//! matches the interpreter, has no softmax kernel and no score buffer, and is causal (a
//! change at position t changes no result before t); a bool mask (`where(m, s, -1e9)`) is
//! one kernel too.

mod common;

use common::{max_diff, random_f32};

use tessera::{Program, Tensor};
use tessera_dialects::DType;

const EXAMPLE: &str = "examples/causal_attention.tsr";

/// `-inf` above the diagonal: query i sees keys 0..=i.
fn causal(s: usize) -> Tensor {
    let m = (0..s * s)
        .map(|e| {
            if e % s > e / s {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_f32(DType::F32, vec![s, s], m).expect("mask")
}

fn inputs(b: usize, s: usize, seed: u64) -> Vec<Tensor> {
    vec![
        random_f32(&[b, s, 256], seed),
        causal(s),
        random_f32(&[256], seed + 1),
        random_f32(&[256], seed + 2),
        random_f32(&[256, 768], seed + 3),
        random_f32(&[64], seed + 4),
        random_f32(&[64], seed + 5),
        random_f32(&[256, 256], seed + 6),
    ]
}

#[test]
fn the_causal_example_is_one_masked_attention_kernel() {
    let p = Program::load(std::path::Path::new(EXAMPLE)).expect("loads");
    let exe = p.cpu_executable("causal_attention").expect("compiles");
    let kernels = tessera_dialects::print_module(&exe.tiled().kernels);
    let attention: Vec<&str> = kernels
        .lines()
        .filter(|l| l.starts_with("tile.kernel") && l.contains("_attention"))
        .collect();
    assert_eq!(attention.len(), 1, "{kernels}");
    assert!(
        attention[0].contains("%mask: buf<f32[1, 1, S, S]>"),
        "{kernels}"
    );
    assert!(
        !kernels.contains("_softmax"),
        "no softmax kernel:\n{kernels}"
    );
    // Ragged sequence lengths: one key tile, a partial second one, several.
    for (i, (b, s)) in [(1, 1), (2, 7), (1, 65), (2, 130)].into_iter().enumerate() {
        let xs = inputs(b, s, 10 * i as u64);
        let want = p
            .run_interp("causal_attention", xs.clone())
            .expect("interp");
        let got = exe.run(xs).expect("cpu");
        let scale = want[0]
            .to_f64_vec()
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let d = max_diff(&got[0], &want[0]);
        assert!(d <= 1e-5 * (1.0 + scale), "B={b} S={s}: {d} (max {scale})");
        assert!(got[0].to_f64_vec().iter().all(|v| v.is_finite()));
    }
}

#[test]
fn the_masked_kernel_is_causal() {
    let p = Program::load(std::path::Path::new(EXAMPLE)).expect("loads");
    let exe = p.cpu_executable("causal_attention").expect("compiles");
    let (s, t) = (100usize, 70usize);
    let xs = inputs(1, s, 3);
    let before = exe.run(xs.clone()).expect("cpu");
    // Change every position from t on (the residual and the norms are per position).
    let mut x = xs[0].to_f32_vec();
    for v in &mut x[t * 256..] {
        *v = -*v + 0.5;
    }
    let mut changed = xs;
    changed[0] = Tensor::from_f32(DType::F32, vec![1, s, 256], x).expect("x");
    let after = exe.run(changed).expect("cpu");
    let (a, b) = (before[0].to_f32_vec(), after[0].to_f32_vec());
    assert_eq!(
        a[..t * 256],
        b[..t * 256],
        "positions before t see only keys before t"
    );
    assert_ne!(a[t * 256..], b[t * 256..]);
}

/// Attention with a bool mask selecting the scores it keeps (a padding mask per batch).
const SELECTED: &str = "
fn main(q: f32[B, 2, S, 32], k: f32[B, 2, S, 32], v: f32[B, 2, S, 16], keep: bool[B, 1, 1, S]) -> f32[B, 2, S, 16] {
    softmax(where(keep, einsum(\"bhqd,bhkd->bhqk\", q, k) * 0.25, -1e9), axis: -1) @ v
}
";

#[test]
fn a_bool_padding_mask_is_one_kernel_and_matches() {
    let p = Program::from_source("selected.tsr", SELECTED).expect("compiles");
    let exe = p.cpu_executable("main").expect("compiles");
    let kernels = tessera_dialects::print_module(&exe.tiled().kernels);
    assert!(
        kernels.contains("%mask: buf<bool[B, 1, 1, S]>"),
        "{kernels}"
    );
    assert!(!kernels.contains("_softmax"), "{kernels}");
    for (i, (b, s)) in [(1, 1), (2, 9), (2, 70), (1, 130)].into_iter().enumerate() {
        // Batch j sees its first s - 3 j keys (at least one).
        let keep: Vec<f32> = (0..b * s)
            .map(|e| f32::from(u8::from(e % s < (s - (3 * (e / s)).min(s - 1)))))
            .collect();
        let xs = vec![
            random_f32(&[b, 2, s, 32], 10 * i as u64),
            random_f32(&[b, 2, s, 32], 10 * i as u64 + 1),
            random_f32(&[b, 2, s, 16], 10 * i as u64 + 2),
            Tensor::from_f32(DType::Bool, vec![b, 1, 1, s], keep).expect("mask"),
        ];
        let want = p.run_interp("main", xs.clone()).expect("interp");
        let got = exe.run(xs).expect("cpu");
        let d = max_diff(&got[0], &want[0]);
        assert!(d <= 1e-5, "B={b} S={s}: {d}");
    }
}
