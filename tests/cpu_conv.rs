//! `f32` convolutions (the implicit GEMMs of `compiler/tiling/src/lower/conv.rs`, whose
//! dots skip the column panels past the output's last column at run time) on the CPU back
//! end and the tile interpreter against the graph interpreter: widths that the 64-column
//! tile does not divide (1, 7, 9, 56, 63, 65, 130) and that it does (8, 64, 128), strides,
//! dilations, paddings 0, 1 and 2, groups, channel counts the tiles do not divide, and a
//! symbolic batch; and convolutions with elementwise epilogues (bias, activation, residual,
//! a per-column input, a cast), which the e-graph optimiser makes one conv kernel each.
//! Tolerances: `tests/common/mod.rs` (`mismatch`).

mod common;

use common::{inputs_in, mismatch};
use std::collections::BTreeMap;
use tessera::Program;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

/// Each function's output widths are written in terms of `W`; every input is `[N, C, H, W]`.
const SRC: &str = "
fn taps(x: f32[N, 16, H, W], w: f32[16, 16, 3, 3]) -> f32[N, 16, H, W] {
    conv2d(x, w, padding: [1, 1])
}
fn pads(x: f32[N, 16, H, W], w: f32[16, 16, 3, 3]) -> (f32[N, 16, H - 2, W - 2], f32[N, 16, H + 2, W + 2]) {
    (conv2d(x, w), conv2d(x, w, padding: [2, 2]))
}
fn strided(x: f32[N, 16, H, W], w: f32[16, 16, 3, 3]) -> (f32[N, 16, (H - 1) / 2 + 1, (W - 1) / 2 + 1], f32[N, 16, H, W]) {
    (conv2d(x, w, stride: [2, 2], padding: [1, 1]), conv2d(x, w, padding: [2, 2], dilation: [2, 2]))
}
fn loops(x: f32[N, 3, H, W], w: f32[6, 3, 3, 3], v: f32[5, 3, 2, 3]) -> (f32[N, 6, H, W], f32[N, 5, (H - 1) / 2 + 1, W / 3]) {
    (conv2d(x, w, padding: [1, 1]), conv2d(x, v, stride: [2, 3], padding: [1, 0], dilation: [2, 1]))
}
fn grouped(x: f32[N, 4, H, W], w: f32[6, 2, 3, 3]) -> f32[N, 6, H, W] {
    conv2d(x, w, padding: [1, 1], groups: 2)
}
";

fn random(shape: &[usize], seed: u64) -> Tensor {
    tessera_tensor::random::uniform(DType::F32, shape, -2.0, 2.0, seed).expect("random")
}

fn check(prog: &Program, f: &str, c: usize, (n, h, w): (usize, usize, usize)) {
    let weight: &[&[usize]] = match f {
        "loops" => &[&[6, 3, 3, 3], &[5, 3, 2, 3]],
        "grouped" => &[&[6, 2, 3, 3]],
        _ => &[&[16, 16, 3, 3]],
    };
    let mut xs = vec![random(&[n, c, h, w], (n * 1000 + h * 100 + w) as u64)];
    for (i, s) in weight.iter().enumerate() {
        xs.push(random(s, 7 + i as u64));
    }
    let want = prog.run_interp(f, xs.clone()).expect("interpreter");
    let tile = prog.run_tiled(f, xs.clone()).expect("tile interpreter");
    if let Some(m) = mismatch(&tile, &want) {
        panic!("{f} tile N={n} H={h} W={w}: {m}");
    }
    let cpu = prog
        .cpu_executable(f)
        .expect("compiles")
        .run(xs)
        .expect("runs");
    if let Some(m) = mismatch(&cpu, &want) {
        panic!("{f} cpu N={n} H={h} W={w}: {m}");
    }
}

#[test]
fn implicit_gemm_convolutions_on_ragged_widths() {
    let prog = Program::from_source("conv.tsr", SRC).unwrap();
    for w in [7, 8, 9, 56, 63, 64, 65, 130] {
        check(&prog, "taps", 16, (2, 3, w));
        check(&prog, "pads", 16, (1, 4, w));
        check(&prog, "strided", 16, (1, 5, w));
    }
    for (n, h, w) in [(1, 1, 3), (3, 2, 4), (2, 7, 9), (1, 5, 70), (1, 2, 129)] {
        check(&prog, "loops", 3, (n, h, w));
        check(&prog, "grouped", 4, (n, h, w));
    }
    check(&prog, "taps", 16, (1, 1, 1));
}

/// Convolutions with epilogues: each function is one conv kernel (after the weight's
/// tap-major copy), whose epilogue reads a bias `[O, 1, 1]`, a residual `[N, O, H, W]`, a
/// per-column row, or scalars. `loops` has weight sizes the tap-unrolled form does not
/// take (a symbolic channel count), so its epilogue runs in the loop form.
const EPILOGUES: &str = "
fn bias_relu(x: f32[N, 16, H, W], w: f32[16, 16, 3, 3], b: f32[16]) -> f32[N, 16, H, W] {
    relu(conv2d(x, w, padding: [1, 1]) + reshape(b, [16, 1, 1]))
}
fn residual(x: f32[N, 16, H, W], w: f32[16, 16, 3, 3], b: f32[16, 1, 1]) -> f32[N, 16, H, W] {
    x + gelu_tanh(conv2d(x, w, padding: [1, 1]) + b) * 0.5
}
fn strided(x: f32[N, 16, H, W], w: f32[16, 16, 3, 3], c: f32[(W - 1) / 2 + 1]) -> bf16[N, 16, (H - 1) / 2 + 1, (W - 1) / 2 + 1] {
    max(conv2d(x, w, stride: [2, 2], padding: [1, 1]) * c, 0.25) as bf16
}
fn loops(x: f32[N, C, H, W], w: f32[6, C, 3, 3], b: f32[1, 6, 1, 1]) -> f32[N, 6, H, W] {
    sigmoid(conv2d(x, w, padding: [1, 1]) - b)
}
";

#[test]
fn convolutions_with_epilogues_are_one_kernel_and_match() {
    let prog = Program::from_source("conv_epilogue.tsr", EPILOGUES).unwrap();
    for f in ["bias_relu", "residual", "strided", "loops"] {
        let exe = prog.cpu_executable(f).expect("compiles");
        let t = exe.tiled();
        let kernels: Vec<&str> = t.launches.iter().map(|l| l.kernel.as_str()).collect();
        assert_eq!(
            kernels.len(),
            2,
            "{f}: the weight's copy and one conv: {kernels:?}"
        );
        assert!(kernels[1].ends_with("_conv2d"), "{f}: {kernels:?}");
        let text = tessera_dialects::print_module(&t.kernels);
        assert!(
            text.contains("%e0: buf<"),
            "{f}: the conv reads its epilogue's input\n{text}"
        );
        for (n, c, h, w) in [
            (1, 3, 1, 1),
            (2, 3, 3, 7),
            (1, 5, 4, 56),
            (2, 3, 2, 65),
            (1, 3, 2, 130),
        ] {
            let sizes: BTreeMap<String, i64> = [("N", n), ("C", c), ("H", h), ("W", w)]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            let xs = inputs_in(&prog, f, &sizes, (n * 100 + w) as u64, |_| -2.0);
            let want = prog.run_interp(f, xs.clone()).expect("interpreter");
            let tile = prog.run_tiled(f, xs.clone()).expect("tile interpreter");
            if let Some(m) = mismatch(&tile, &want) {
                panic!("{f} tile N={n} H={h} W={w}: {m}");
            }
            let cpu = exe.run(xs).expect("runs");
            if let Some(m) = mismatch(&cpu, &want) {
                panic!("{f} cpu N={n} H={h} W={w}: {m}");
            }
        }
    }
}

/// Output-channel counts that are multiples of the micro-kernel's 4 rows take the weight
/// in broadcast row panels (`[KH * KW * O / 4, C, 4, 4]`, read in place by each tap's dot);
/// the others keep the `[KH * KW * O, C]` taps. Both, with ragged channel counts (3, 5, 12,
/// 20 input or output channels), 1 x 1 and 2 x 3 kernels, strides, dilations, paddings 0
/// and 2, batches of 1 and 3 and symbolic sizes.
const PANELS: &str = "
fn twelve(x: f32[N, 5, H, W], w: f32[12, 5, 3, 3]) -> f32[N, 12, H, W] {
    conv2d(x, w, padding: [1, 1])
}
fn strided(x: f32[N, 3, H, W], w: f32[20, 3, 2, 3]) -> f32[N, 20, (H - 1) / 2 + 1, (W - 1) / 2 + 1] {
    conv2d(x, w, stride: [2, 2], padding: [1, 1], dilation: [2, 1])
}
fn pointwise(x: f32[N, 12, H, W], w: f32[4, 12, 1, 1]) -> f32[N, 4, H, W] {
    conv2d(x, w)
}
fn pads(x: f32[N, 3, H, W], w: f32[8, 3, 3, 3]) -> (f32[N, 8, H - 2, W - 2], f32[N, 8, H + 2, W + 2]) {
    (conv2d(x, w), conv2d(x, w, padding: [2, 2]))
}
fn ragged(x: f32[N, 4, H, W], w: f32[5, 4, 3, 3]) -> f32[N, 5, H, W] {
    conv2d(x, w, padding: [1, 1])
}
";

#[test]
fn weights_in_broadcast_row_panels() {
    let prog = Program::from_source("panels.tsr", PANELS).unwrap();
    let cases: &[(&str, usize, &[&[usize]])] = &[
        ("twelve", 5, &[&[12, 5, 3, 3]]),
        ("strided", 3, &[&[20, 3, 2, 3]]),
        ("pointwise", 12, &[&[4, 12, 1, 1]]),
        ("pads", 3, &[&[8, 3, 3, 3]]),
        ("ragged", 4, &[&[5, 4, 3, 3]]),
    ];
    for &(f, c, weights) in cases {
        // The weight kernel writes the panels exactly when O is a multiple of 4.
        let exe = prog.cpu_executable(f).expect("compiles");
        let text = exe.tiled().to_string();
        let panels = weights[0][0] % 4 == 0;
        assert_eq!(
            text.contains("tile.broadcast %t {dims = [0, 1, 2, 3, 4]}"),
            panels,
            "{f}\n{text}"
        );
        for (n, h, w) in [(1, 3, 7), (3, 4, 56), (1, 6, 65), (2, 1, 1)] {
            if f == "pads" && (h < 3 || w < 3) {
                continue;
            }
            let mut xs = vec![random(&[n, c, h, w], (n * 1000 + h * 100 + w) as u64)];
            for (i, s) in weights.iter().enumerate() {
                xs.push(random(s, 17 + i as u64));
            }
            let want = prog.run_interp(f, xs.clone()).expect("interpreter");
            let tile = prog.run_tiled(f, xs.clone()).expect("tile interpreter");
            if let Some(m) = mismatch(&tile, &want) {
                panic!("{f} tile N={n} H={h} W={w}: {m}");
            }
            let cpu = exe.run(xs).expect("runs");
            if let Some(m) = mismatch(&cpu, &want) {
                panic!("{f} cpu N={n} H={h} W={w}: {m}");
            }
        }
    }
}
