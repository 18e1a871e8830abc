//! `bf16` and `f16` weights packed at bind time (`tessera_tiling::prepack`): with
//! `--precision bf16|f16` the hoisted narrow weights are held in the micro-kernel's column
//! panels in their own dtype (still half the bytes of `f32`), packed once by `prepare`,
//! and `tile.dot` reads the narrow `P x K x W` rhs in place, widened to `f32` once per
//! tile. Checked against the reference
//! interpreter on the same lowered program (the oracle), natively and in the tile
//! interpreter on the executable's own packed plan, on the MLP example and on random
//! shapes (ragged K and N, a symbolic batch); the rewritten tile IR prints, parses back
//! and verifies; the held weight bytes stay half of `f32`.

mod common;

use common::{check_tiled, mlp_inputs, mlp_with, random_f32};

use tessera::{Program, Tensor};
use tessera_dialects::DType;
use tessera_egraph::Precision;
use tessera_tiling::BufKind;

/// The narrow dtype of a precision.
fn narrow(p: Precision) -> DType {
    match p {
        Precision::F16 => DType::F16,
        _ => DType::BF16,
    }
}

/// Runs `func` natively and, in the tile interpreter, the executable's own (packed) plan
/// of the split function on the kept inputs and the held narrow weights; both must agree
/// with the interpreter within `tol`. Returns the names of the parameters held in panels
/// (all of the narrow dtype).
fn check(prog: &Program, func: &str, inputs: Vec<Tensor>, tol: f64) -> Vec<String> {
    let want = prog.run_interp(func, inputs.clone()).expect("interp");
    let cpu = prog.cpu_executable(func).expect("compiles");
    let got = cpu.run(inputs.clone()).expect("cpu");
    let h = prog
        .hoisted(func)
        .expect("hoists")
        .expect("something hoisted");
    let held = h
        .program
        .run_tiled(&h.prep, inputs.clone())
        .expect("tile prep");
    let mut args: Vec<Tensor> = h.kept.iter().map(|&i| inputs[i].clone()).collect();
    args.extend(held);
    check_tiled(&cpu, args, &got, &want, tol);
    let t = cpu.tiled();
    let packed: Vec<&tessera_tiling::BufferInfo> = t
        .params
        .iter()
        .map(|&b| &t.buffers[b])
        .filter(|b| matches!(b.kind, BufKind::Panels { .. }))
        .collect();
    for b in &packed {
        assert_eq!(b.ty.dtype, narrow(prog.precision), "{}", b.name);
    }
    packed.iter().map(|b| b.name.clone()).collect()
}

#[test]
fn the_bf16_and_f16_mlps_read_their_wide_weights_in_narrow_panels() {
    for precision in [Precision::Bf16, Precision::F16] {
        let p = mlp_with(precision);
        for b in [1, 3, 33] {
            // Probabilities in [0, 1]; a narrow rounding of an activation may flip where
            // the f32 sums differ in their last bits, hence 1e-4 (as tests/bf16_weights.rs).
            let packed = check(&p, "mlp", mlp_inputs(b, 21), 1e-4);
            // The two wide weights; w3 (1024 x 10) is not a whole number of panels wide.
            assert_eq!(packed.len(), 2, "{precision:?} B = {b}: {packed:?}");
        }
        let cpu = p.cpu_executable("mlp").expect("compiles");
        let text = cpu.tiled().to_string();
        let d = narrow(precision);
        for want in [
            format!("buf<{d}[128, 784, 8]>"),
            format!("(buf<{d}[128, 784, 8]>, index, index, index) -> tile<16x196x8x{d}>"),
            format!("tile.cast %tn {{dtype = f32}} : (tile<16x196x8x{d}>) -> tile<16x196x8xf32>"),
            "(tile<32x196xf32>, tile<16x196x8xf32>, tile<32x128xf32>) -> tile<32x128xf32>"
                .to_string(),
            format!(": {d}[128, 784, 8] (given as [784, 1024], packed in panels of 8 when bound)"),
        ] {
            assert!(text.contains(&want), "missing `{want}` in\n{text}");
        }
        // Packing moves the held weights, never widens them: half the bytes of f32.
        let run = cpu.prepare(mlp_inputs(2, 21)).expect("prepares");
        assert_eq!(
            run.weight_bytes(),
            (784 * 1024 + 1024 * 1024 + 1024 * 10) * 2,
            "{precision:?}"
        );
    }
}

#[test]
fn random_narrow_matmuls_with_packed_weights_match_the_interpreter() {
    // K across one and several K steps (ragged: not a multiple of the K tile or of 4),
    // N whole panels or not (130, 10: left as given), a symbolic batch M of 1, 3 and 33
    // rows, an epilogue, a weight read by two matmuls.
    let cases = [(1, 8), (5, 16), (300, 136), (300, 130), (5, 10), (257, 264)];
    for (c, (k, n)) in cases.into_iter().enumerate() {
        let src = format!(
            "fn main(x: f32[M, {k}], w: f32[{k}, {n}], v: f32[{n}, 24], b: f32[{n}]) -> f32[M, 24] {{
                relu(x @ w + b) @ v + (x * 0.5) @ w @ v
            }}"
        );
        let mut p = Program::from_source("case.tsr", &src).expect("compiles");
        // Both narrow dtypes, alternating.
        p.precision = [Precision::Bf16, Precision::F16][c % 2];
        for m in [1, 3, 33] {
            let seed = (1000 * k + n + m) as u64;
            let inputs = vec![
                random_f32(&[m, k], seed),
                random_f32(&[k, n], seed + 1),
                random_f32(&[n, 24], seed + 2),
                random_f32(&[n], seed + 3),
            ];
            let packed = check(&p, "main", inputs, 1e-4 * (k * n) as f64 + 1e-4);
            // `v` (24 columns) is three panels; `w` when N is a multiple of 8.
            assert!(!packed.is_empty(), "{k} x {n}: {packed:?}");
            assert_eq!(packed.len(), if n % 8 == 0 { 2 } else { 1 }, "{k} x {n}");
        }
        let exe = p.cpu_executable("main").expect("compiles");
        let run = exe
            .prepare(vec![
                random_f32(&[2, k], 1),
                random_f32(&[k, n], 2),
                random_f32(&[n, 24], 3),
                random_f32(&[n], 4),
            ])
            .expect("prepares");
        assert_eq!(run.weight_bytes(), (k * n + n * 24) * 2, "{k} x {n}");
    }
}
