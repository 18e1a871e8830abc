//! `--precision bf16` and `f16`: the weights are held narrow (hoisted once, half the bytes
//! of `f32`) and the matmuls widen them while packing (`bf16` by a shift, `f16` by
//! integer lane operations, both exact). Checked against the reference
//! interpreter on the same lowered program (the oracle), on the native back end and in
//! the tile interpreter, on the MLP example and on random shapes (ragged sizes, a
//! symbolic batch); and the bytes held for weights, exactly.

mod common;

use common::{max_diff, mlp_inputs, mlp_with, random_f32};

use tessera::{Program, Tensor};
use tessera_dialects::DType;
use tessera_egraph::Precision;

/// Runs `func` of `prog` on `inputs` natively and in the tile interpreter; both must
/// agree with the interpreter within `tol`.
fn check(prog: &Program, func: &str, inputs: Vec<Tensor>, tol: f64) {
    let want = prog.run_interp(func, inputs.clone()).expect("interp");
    let cpu = prog.cpu_executable(func).expect("compiles");
    assert!(cpu.weights().is_some(), "the bf16 weights are hoisted");
    let got = cpu.run(inputs.clone()).expect("cpu");
    // The matmuls read the narrow weights and widen each tile.
    let kernels = tessera_dialects::print_module(&cpu.tiled().kernels);
    assert!(kernels.contains("tile.cast %tn {dtype = f32}"), "{kernels}");
    // The split program in the tile interpreter: the prep function, then the function
    // on the kept inputs and the held bf16 weights.
    let h = prog
        .hoisted(func)
        .expect("hoists")
        .expect("something hoisted");
    let held = h
        .program
        .run_tiled(&h.prep, inputs.clone())
        .expect("tile prep");
    let narrow = match prog.precision {
        Precision::F16 => DType::F16,
        _ => DType::BF16,
    };
    assert!(held.iter().all(|t| t.dtype() == narrow));
    let mut args: Vec<Tensor> = h.kept.iter().map(|&i| inputs[i].clone()).collect();
    args.extend(held);
    // (`Program::run_tiled` checks the original signature; the split function's is
    // another, so its tiling runs directly.)
    let tiled = h
        .program
        .tiled(func)
        .expect("tiles")
        .execute(args, &mut |m, k, bufs, sizes| {
            tessera_interp::run_kernel(m, k, bufs, sizes).map_err(|e| e.message)
        })
        .expect("tile");
    for ((g, t), w) in got.iter().zip(&tiled).zip(&want) {
        let d = max_diff(g, w);
        assert!(d <= tol, "cpu vs interp: {d}");
        let d = max_diff(t, w);
        assert!(d <= tol, "tile vs interp: {d}");
    }
}

#[test]
fn the_bf16_and_f16_mlps_match_the_interpreter() {
    // Probabilities in [0, 1]; a bf16 or f16 rounding of an activation may flip where
    // the f32 sums differ in their last bits, hence 1e-4 (as tests/cli.rs).
    for precision in [Precision::Bf16, Precision::F16] {
        for b in [1, 5, 37] {
            check(&mlp_with(precision), "mlp", mlp_inputs(b, 7), 1e-4);
        }
    }
}

#[test]
fn the_prepared_bf16_and_f16_mlps_hold_half_the_weight_bytes() {
    let params = 784 * 1024 + 1024 * 1024 + 1024 * 10;
    let held = |p: Precision| {
        let exe = mlp_with(p).cpu_executable("mlp").expect("compiles");
        exe.prepare(mlp_inputs(4, 7))
            .expect("prepares")
            .weight_bytes()
    };
    assert_eq!(held(Precision::F32), params * 4);
    assert_eq!(held(Precision::Bf16), params * 2);
    assert_eq!(held(Precision::F16), params * 2);
}

#[test]
fn random_bf16_and_f16_matmuls_match_the_interpreter() {
    // Ragged sizes (K, N not multiples of the tiles or of 4), a symbolic batch M, a
    // weight read by two matmuls, an epilogue.
    let mut g = 0x5eed_u64;
    let mut next = |lo: usize, hi: usize| {
        g = g
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (g >> 33) as usize % (hi - lo + 1)
    };
    for case in 0..8 {
        let (k, n) = (next(1, 300), next(1, 150));
        let src = format!(
            "fn main(x: f32[M, {k}], w: f32[{k}, {n}], b: f32[{n}]) -> f32[M, {n}] {{
                relu(x @ w + b) + (x * 0.5) @ w
            }}"
        );
        let mut p = Program::from_source("case.tsr", &src).expect("compiles");
        // Even cases in bf16, odd ones in f16.
        p.precision = [Precision::Bf16, Precision::F16][case % 2];
        for m in [1, 3, next(4, 70)] {
            let seed = 100 * case as u64 + m as u64;
            let inputs = vec![
                random_f32(&[m, k], seed),
                random_f32(&[k, n], seed + 1),
                random_f32(&[n], seed + 2),
            ];
            check(&p, "main", inputs, 1e-5 * k as f64 + 1e-5);
        }
        let exe = p.cpu_executable("main").expect("compiles");
        let run = exe
            .prepare(vec![
                random_f32(&[2, k], 1),
                random_f32(&[k, n], 2),
                random_f32(&[n], 3),
            ])
            .expect("prepares");
        assert_eq!(run.weight_bytes(), k * n * 2, "k = {k}, n = {n}");
    }
}
