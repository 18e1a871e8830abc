//! `f32` weights packed at bind time (`tessera_tiling::prepack`): the CPU executable holds
//! the right operand of a matmul kernel in the micro-kernel's column panels, packed once
//! by `prepare`, and `tile.dot` reads that `P x K x W` rhs in place. Checked against the
//! reference interpreter (the oracle) natively and in the tile interpreter (which packs
//! the same inputs through `Tiled::execute`), on the MLP example and on random shapes
//! (ragged M, K and N, a symbolic batch); and the rewritten tile IR, which prints,
//! parses back and verifies.

mod common;

use common::{check_tiled, mlp_inputs, random_f32};

use tessera::{Program, Tensor};
use tessera_dialects::{parse_module, verify_module};
use tessera_tiling::BufKind;

/// Runs `func` natively and in the tile interpreter on the executable's own (packed)
/// plan; both must agree with the interpreter within `tol`. Returns the names of the
/// parameters held in panels.
fn check(prog: &Program, func: &str, inputs: Vec<Tensor>, tol: f64) -> Vec<String> {
    let want = prog.run_interp(func, inputs.clone()).expect("interp");
    let cpu = prog.cpu_executable(func).expect("compiles");
    let got = cpu.run(inputs.clone()).expect("cpu");
    check_tiled(&cpu, inputs, &got, &want, tol);
    let t = cpu.tiled();
    t.params
        .iter()
        .filter(|&&b| matches!(t.buffers[b].kind, BufKind::Panels { .. }))
        .map(|&b| t.buffers[b].name.clone())
        .collect()
}

#[test]
fn the_mlp_reads_its_wide_weights_in_panels() {
    let p = Program::load(std::path::Path::new("examples/mlp.tsr")).expect("loads");
    for b in [1, 3, 33] {
        // w3 (1024 x 10) is not a whole number of panels wide: packed per call as before.
        assert_eq!(check(&p, "mlp", mlp_inputs(b, 11), 1e-5), ["w1", "w2"]);
    }
    let cpu = p.cpu_executable("mlp").expect("compiles");
    let text = cpu.tiled().to_string();
    for want in [
        "%b: buf<f32[128, 784, 8]>",
        "tile.load %b, %j, %k, %0 : (buf<f32[128, 784, 8]>, index, index, index) -> tile<16x196x8xf32>",
        "(tile<32x196xf32>, tile<16x196x8xf32>, tile<32x128xf32>) -> tile<32x128xf32>",
        "buffer #1 param %w1: f32[128, 784, 8] (given as [784, 1024], packed in panels of 8 when bound)",
    ] {
        assert!(text.contains(want), "missing `{want}` in\n{text}");
    }
    // The held bytes are those of the weights as given.
    let run = cpu.prepare(mlp_inputs(2, 11)).expect("prepares");
    assert_eq!(
        run.weight_bytes(),
        (784 * 1024 + 1024 * 1024 + 1024 * 10) * 4
    );
    // The plan the AOT compiler uses keeps the weights as given.
    let plain = p.scheduled("mlp").expect("schedules");
    assert!(plain
        .buffers
        .iter()
        .all(|b| !matches!(b.kind, BufKind::Panels { .. })));
}

#[test]
fn random_matmuls_with_packed_weights_match_the_interpreter() {
    // K across one and several K steps, N whole panels or not (130, 10: left as given),
    // a symbolic batch M of 1, 3 and 33 rows, an epilogue, a weight read twice.
    for (k, n) in [(1, 8), (5, 16), (300, 136), (300, 130), (5, 10), (257, 264)] {
        let src = format!(
            "fn main(x: f32[M, {k}], w: f32[{k}, {n}], v: f32[{n}, 24], b: f32[{n}]) -> f32[M, 24] {{
                relu(x @ w + b) @ v + (x * 0.5) @ w @ v
            }}"
        );
        let p = Program::from_source("case.tsr", &src).expect("compiles");
        for m in [1, 3, 33] {
            let seed = (1000 * k + n + m) as u64;
            let inputs = vec![
                random_f32(&[m, k], seed),
                random_f32(&[k, n], seed + 1),
                random_f32(&[n, 24], seed + 2),
                random_f32(&[n], seed + 3),
            ];
            let packed = check(&p, "main", inputs, 1e-5 * (k * n) as f64 + 1e-5);
            // `v` (24 columns) is always three panels; `w` when N is a multiple of 8 and
            // every use of it reads panels.
            assert!(packed.contains(&"v".to_string()), "{k} x {n}: {packed:?}");
            if n % 8 != 0 {
                assert!(!packed.contains(&"w".to_string()), "{k} x {n}: {packed:?}");
            }
        }
    }
}

#[test]
fn a_panel_dot_of_the_wrong_shape_is_refused_by_the_verifier() {
    let kernel = |n: usize| {
        format!(
            "tile.kernel @k(%a: buf<f32[4, 8]>, %b: buf<f32[2, 8, 8]>, %out: buf<f32[4, {n}]>) attributes {{grid = sizes[1], parallel = [0]}} {{
  %i = tile.program_id {{axis = 0}} : () -> index
  %ta = tile.load %a, %i, %i : (buf<f32[4, 8]>, index, index) -> tile<4x8xf32>
  %tb = tile.load %b, %i, %i, %i : (buf<f32[2, 8, 8]>, index, index, index) -> tile<2x8x8xf32>
  %z = tile.zeros : () -> tile<4x{n}xf32>
  %d = tile.dot %ta, %tb, %z : (tile<4x8xf32>, tile<2x8x8xf32>, tile<4x{n}xf32>) -> tile<4x{n}xf32>
  tile.store %d, %out, %i, %i : (tile<4x{n}xf32>, buf<f32[4, {n}]>, index, index) -> ()
}}
"
        )
    };
    let good = parse_module(&kernel(16)).expect("parses");
    verify_module(&good).expect("2 panels of 8 columns make 16");
    let bad = parse_module(&kernel(12)).expect("parses");
    let errs = verify_module(&bad).expect_err("2 panels of 8 are not 12 columns");
    assert!(
        format!("{errs:?}").contains("N/W x K x W panels"),
        "{errs:?}"
    );
}
