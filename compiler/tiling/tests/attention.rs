//! Attention kernels chosen by the e-graph optimiser (`graph.fused {kind = "attention"}`):
//! k transposed once by a copy kernel, then one `attention` kernel (online softmax over key
//! tiles, no score buffer) whose results
//! match the graph interpreter on ragged sequence lengths (keys and queries that do not
//! fill the last tile), with a scale, without one, and with `matmul(q, transpose(k))`.

mod common;

use common::{close, inputs, run_tiled};

use std::collections::BTreeMap;
use tessera_tiling::{lower_func, Schedule};

fn fixed() -> Schedule {
    Schedule::for_caches(32 * 1024, 512 * 1024)
}

/// `softmax(q k^T * 0.125) @ v` as a fused attention region, q `[B, H, S, 16]`,
/// k `[B, H, T, 16]`, v `[B, H, T, 8]`.
const EINSUM: &str = r#"graph.func @main(%q: f32[B, H, S, 16], %k: f32[B, H, T, 16], %v: f32[B, H, T, 8]) -> (f32[B, H, S, 8]) {
  %0 = graph.fused %q, %k, %v {kind = "attention"} : (f32[B, H, S, 16], f32[B, H, T, 16], f32[B, H, T, 8]) -> f32[B, H, S, 8] (%a: f32[B, H, S, 16], %b: f32[B, H, T, 16], %c: f32[B, H, T, 8]) {
    %1 = graph.einsum %a, %b {spec = "bhqd,bhkd->bhqk"} : (f32[B, H, S, 16], f32[B, H, T, 16]) -> f32[B, H, S, T]
    %2 = graph.constant {value = 0.125, dtype = f32} : () -> f32
    %3 = graph.mul %1, %2 : (f32[B, H, S, T], f32) -> f32[B, H, S, T]
    %4 = graph.softmax %3 {axis = 3} : (f32[B, H, S, T]) -> f32[B, H, S, T]
    %5 = graph.matmul %4, %c : (f32[B, H, S, T], f32[B, H, T, 8]) -> f32[B, H, S, 8]
    graph.yield %5 : f32[B, H, S, 8]
  }
  graph.return %0 : f32[B, H, S, 8]
}
"#;

/// `softmax(q @ transpose(k)) @ v`, rank 3, no scale.
const MATMUL: &str = r#"graph.func @main(%q: f32[B, S, 16], %k: f32[B, T, 16], %v: f32[B, T, 8]) -> (f32[B, S, 8]) {
  %0 = graph.fused %q, %k, %v {kind = "attention"} : (f32[B, S, 16], f32[B, T, 16], f32[B, T, 8]) -> f32[B, S, 8] (%a: f32[B, S, 16], %b: f32[B, T, 16], %c: f32[B, T, 8]) {
    %1 = graph.transpose %b {perm = [0, 2, 1]} : (f32[B, T, 16]) -> f32[B, 16, T]
    %2 = graph.matmul %a, %1 : (f32[B, S, 16], f32[B, 16, T]) -> f32[B, S, T]
    %3 = graph.softmax %2 {axis = 2} : (f32[B, S, T]) -> f32[B, S, T]
    %4 = graph.matmul %3, %c : (f32[B, S, T], f32[B, T, 8]) -> f32[B, S, 8]
    graph.yield %4 : f32[B, S, 8]
  }
  graph.return %0 : f32[B, S, 8]
}
"#;

fn check(src: &str, sizes: &[(&str, i64)], seed: u64) {
    let m = tessera_dialects::parse_module(src).expect("parses");
    let t = lower_func(&m, "main", &fixed()).unwrap_or_else(|e| panic!("{e}"));
    let ir = t.to_string();
    // k transposed once to [.., D, T], then the attention kernel reading it in rows.
    assert_eq!(t.launches.len(), 2, "two kernels:\n{ir}");
    assert!(t.launches[0].kernel.ends_with("_transpose"), "{ir}");
    assert!(t.launches[1].kernel.ends_with("_attention"), "{ir}");
    assert_eq!(
        ir.matches("perm =").count(),
        1,
        "one transposed load, the copy's:\n{ir}"
    );
    let sizes: BTreeMap<String, i64> = sizes.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let xs = inputs(&m, &sizes, seed);
    let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
    let got = run_tiled(&t, xs);
    close(&got, &want, 1e-4).unwrap_or_else(|e| panic!("{sizes:?}: {e}"));
}

#[test]
fn einsum_attention_matches_the_interpreter_on_ragged_lengths() {
    for (i, (s, tk)) in [(1, 1), (5, 7), (32, 64), (33, 65), (40, 130), (70, 3)]
        .into_iter()
        .enumerate()
    {
        check(EINSUM, &[("B", 2), ("H", 3), ("S", s), ("T", tk)], i as u64);
    }
}

#[test]
fn matmul_transpose_attention_matches_the_interpreter() {
    for (i, (s, tk)) in [(3, 5), (33, 100)].into_iter().enumerate() {
        check(MATMUL, &[("B", 2), ("S", s), ("T", tk)], 10 + i as u64);
    }
}

/// A fused attention over `s = q k^T * 0.125` whose softmax reads `%x`, computed from `s`
/// (`%3`) and the mask `%d` of type `mask` by the graph lines `masking`.
fn attention_with(mask: &str, masking: &str) -> String {
    format!(
        r#"graph.func @main(%q: f32[B, H, S, 16], %k: f32[B, H, T, 16], %v: f32[B, H, T, 8], %m: {mask}) -> (f32[B, H, S, 8]) {{
  %0 = graph.fused %q, %k, %v, %m {{kind = "attention"}} : (f32[B, H, S, 16], f32[B, H, T, 16], f32[B, H, T, 8], {mask}) -> f32[B, H, S, 8] (%a: f32[B, H, S, 16], %b: f32[B, H, T, 16], %c: f32[B, H, T, 8], %d: {mask}) {{
    %1 = graph.einsum %a, %b {{spec = "bhqd,bhkd->bhqk"}} : (f32[B, H, S, 16], f32[B, H, T, 16]) -> f32[B, H, S, T]
    %2 = graph.constant {{value = 0.125, dtype = f32}} : () -> f32
    %3 = graph.mul %1, %2 : (f32[B, H, S, T], f32) -> f32[B, H, S, T]
{masking}
    %6 = graph.softmax %x {{axis = 3}} : (f32[B, H, S, T]) -> f32[B, H, S, T]
    %7 = graph.matmul %6, %c : (f32[B, H, S, T], f32[B, H, T, 8]) -> f32[B, H, S, 8]
    graph.yield %7 : f32[B, H, S, 8]
  }}
  graph.return %0 : f32[B, H, S, 8]
}}
"#
    )
}

/// `softmax(q k^T * 0.125 + m) @ v` with an additive mask `m` of type `mask` (broadcast to
/// the scores `[B, H, S, T]`).
fn masked(mask: &str) -> String {
    attention_with(
        mask,
        &format!("    %x = graph.add %3, %d : (f32[B, H, S, T], {mask}) -> f32[B, H, S, T]"),
    )
}

/// Lowers `src` (one masked attention) and checks it against the graph interpreter on
/// `xs`; returns the tiled IR.
fn check_masked(src: &str, xs: Vec<tessera_tensor::Tensor>) -> String {
    let m = tessera_dialects::parse_module(src).expect("parses");
    let t = lower_func(&m, "main", &fixed()).unwrap_or_else(|e| panic!("{e}"));
    let ir = t.to_string();
    assert_eq!(
        t.launches.len(),
        2,
        "k's copy and one attention kernel:\n{ir}"
    );
    assert!(t.launches[1].kernel.ends_with("_attention"), "{ir}");
    assert!(
        ir.contains("tile.load %mask"),
        "the kernel reads the mask:\n{ir}"
    );
    let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("graph interpreter");
    let got = run_tiled(&t, xs);
    close(&got, &want, 1e-4).unwrap_or_else(|e| panic!("{e}\n{ir}"));
    ir
}

#[test]
fn masked_attention_matches_the_interpreter_for_every_broadcast() {
    // A full mask, a causal-style [S, T] one, a padding-style [B, 1, 1, T] one and a
    // per-query [S, 1] one, on ragged lengths.
    let masks = [
        "f32[B, H, S, T]",
        "f32[S, T]",
        "f32[B, 1, 1, T]",
        "f32[S, 1]",
    ];
    for (i, mask) in masks.iter().enumerate() {
        let src = masked(mask);
        let m = tessera_dialects::parse_module(&src).expect("parses");
        for (j, (s, tk)) in [(1, 1), (5, 7), (33, 65), (40, 130)]
            .into_iter()
            .enumerate()
        {
            let sizes: BTreeMap<String, i64> = [("B", 2), ("H", 3), ("S", s), ("T", tk)]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            let ir = check_masked(&src, inputs(&m, &sizes, (10 * i + j) as u64));
            if mask.contains("1]") || mask.contains(", 1,") {
                assert!(ir.contains("tile.broadcast %mk"), "{mask}: broadcast\n{ir}");
            }
        }
    }
}

#[test]
fn a_causal_minus_infinity_mask_masks_whole_key_tiles_without_nans() {
    // Query i sees keys 0..=i: for the first 64 queries the second key tile is all -inf,
    // and so is every key tile of a row before its first visible key when the mask is
    // reversed (keys i.. visible), which starts a row with -inf maxima.
    let src = masked("f32[S, T]");
    let m = tessera_dialects::parse_module(&src).expect("parses");
    let (s, t) = (70usize, 130usize);
    let sizes: BTreeMap<String, i64> = [("B", 1), ("H", 2), ("S", s as i64), ("T", t as i64)]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    for reversed in [false, true] {
        let mut xs = inputs(&m, &sizes, 7);
        let mask: Vec<f32> = (0..s * t)
            .map(|e| {
                let (q, k) = (e / t, e % t);
                let visible = if reversed { k + 60 >= q + 64 } else { k <= q };
                if visible {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        xs[3] = tessera_tensor::Tensor::from_f32(tessera_dialects::DType::F32, vec![s, t], mask)
            .expect("mask");
        check_masked(&src, xs.clone());
        let want = tessera_interp::run_func(&m, "main", xs).expect("graph interpreter");
        assert!(
            want[0].to_f64_vec().iter().all(|v| v.is_finite()),
            "every row sees a key, so no NaN"
        );
    }
}

/// `softmax(where(m, q k^T * 0.125, -inf)) @ v` with a bool mask `m` of type `mask`.
fn selected(mask: &str) -> String {
    attention_with(
        mask,
        &format!(
            "    %4 = graph.constant {{value = -inf, dtype = f32}} : () -> f32\n    %x = graph.select %d, %3, %4 : ({mask}, f32[B, H, S, T], f32) -> f32[B, H, S, T]"
        ),
    )
}

#[test]
fn a_bool_mask_selects_the_scores_it_keeps() {
    // A causal mask (the diagonal always kept, so no row is empty) of each broadcast.
    for (i, mask) in ["bool[S, T]", "bool[B, 1, S, T]"].iter().enumerate() {
        let src = selected(mask);
        let m = tessera_dialects::parse_module(&src).expect("parses");
        for (j, (s, t)) in [(1usize, 1usize), (5, 7), (40, 130), (70, 70)]
            .into_iter()
            .enumerate()
        {
            let b = 2;
            let sizes: BTreeMap<String, i64> =
                [("B", b as i64), ("H", 3), ("S", s as i64), ("T", t as i64)]
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect();
            let mut xs = inputs(&m, &sizes, (10 * i + j) as u64);
            let reps = if mask.starts_with("bool[B") { b } else { 1 };
            let keep: Vec<f32> = (0..reps * s * t)
                .map(|e| f32::from(u8::from((e % t) <= (e / t) % s)))
                .collect();
            let shape = if reps == 1 {
                vec![s, t]
            } else {
                vec![b, 1, s, t]
            };
            xs[3] = tessera_tensor::Tensor::from_f32(tessera_dialects::DType::Bool, shape, keep)
                .expect("mask");
            let ir = check_masked(&src, xs);
            assert!(ir.contains("graph.select %bms"), "{ir}");
        }
    }
}
