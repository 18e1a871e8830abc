//! Every rule, IR in and IR out: a small program where the rule must apply (the report
//! counts it), the optimised IR must contain (and must not contain) given lines, and both
//! programs compute the same values in the interpreter on random tensors of random sizes.

mod common;

use common::*;
use proptest::prelude::*;
use tessera_dialects::DType;
use tessera_egraph::{Form, Options, Precision, Scales};

/// One rule's test: the table to run, the rule that must apply, a program (`main`), and
/// substrings the optimised function must and must not contain, with their counts.
struct Case {
    table: &'static str,
    rule: &'static str,
    src: &'static str,
    /// (substring, exact number of occurrences).
    count: &'static [(&'static str, usize)],
}

const CASES: &[Case] = &[
    Case {
        table: "algebra",
        rule: "relu-relu",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { relu(relu(x)) }",
        count: &[("graph.relu", 1)],
    },
    Case {
        table: "algebra",
        rule: "abs-abs",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { abs(abs(x)) }",
        count: &[("graph.abs", 1)],
    },
    Case {
        table: "algebra",
        rule: "neg-neg",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { -(-x) }",
        count: &[("graph.neg", 0), ("graph.return %x", 1)],
    },
    Case {
        table: "algebra",
        rule: "mul-one",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { exp(1.0 * x) }",
        count: &[("graph.mul", 0), ("graph.exp %x", 1)],
    },
    Case {
        table: "algebra",
        rule: "mul-one",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { exp(x * 1.0) }",
        count: &[("graph.mul", 0), ("graph.exp %x", 1)],
    },
    Case {
        table: "algebra",
        rule: "mul-one",
        src: "fn main(x: i32[N, M]) -> i32[N, M] { (x * 1) + 2 }",
        count: &[("graph.mul", 0)],
    },
    Case {
        table: "algebra",
        rule: "div-one",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { exp(x / 1.0) }",
        count: &[("graph.div", 0), ("graph.exp %x", 1)],
    },
    Case {
        table: "algebra",
        rule: "sub-zero",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { exp(x - 0.0) }",
        count: &[("graph.sub", 0), ("graph.exp %x", 1)],
    },
    Case {
        table: "layout",
        rule: "transpose-transpose",
        src: "fn main(x: f32[N, M, 3]) -> f32[M, 3, N] { transpose(transpose(x, [1, 0, 2]), [0, 2, 1]) }",
        count: &[("graph.transpose", 1), ("perm = [1, 2, 0]", 1)],
    },
    Case {
        table: "layout",
        rule: "transpose-transpose",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { exp(transpose(transpose(x, [1, 0]), [1, 0])) }",
        count: &[("graph.transpose", 0), ("graph.exp %x", 1)],
    },
    Case {
        table: "layout",
        rule: "transpose-identity",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { exp(transpose(x, [0, 1])) }",
        count: &[("graph.transpose", 0), ("graph.exp %x", 1)],
    },
    Case {
        table: "layout",
        rule: "reshape-reshape",
        src: "fn main(x: f32[N, 6]) -> f32[N, 2, 3] { reshape(reshape(x, [N * 6]), [N, 2, 3]) }",
        count: &[("graph.reshape", 1)],
    },
    Case {
        table: "layout",
        rule: "reshape-identity",
        src: "fn main(x: f32[N, 6]) -> f32[N, 6] { exp(reshape(reshape(x, [N, 2, 3]), [N, 6])) }",
        count: &[("graph.reshape", 0), ("graph.exp %x", 1)],
    },
    // One elementwise operation gets a kernel of one operation (its 0-d literal a line of
    // the body) as an alternative; alone, the operation as its own kernel costs the same
    // and is kept.
    Case {
        table: "fusion",
        rule: "fuse-elementwise",
        src: "fn main(x: f32[N, M]) -> f32[N, M] { x * 2.0 }",
        count: &[("graph.mul", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-producer",
        src: "fn main(x: f32[N, M], y: f32[N, M]) -> f32[N, M] { relu(x * 2.0 + y) }",
        count: &[("graph.fused", 1), ("kind = \"elementwise\"", 1), ("graph.relu", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-producer",
        src: "fn main(x: f32[N, 8], w: f32[8, M], b: f32[M]) -> f32[N, M] { gelu(x @ w + b) }",
        count: &[("graph.fused", 1), ("kind = \"matmul\"", 1), ("graph.matmul", 1)],
    },
    // A narrow float matmul takes its epilogue too (the tile lowering rounds the `f32`
    // accumulator to bf16 once, then computes the epilogue as its own kernel would).
    Case {
        table: "fusion",
        rule: "fuse-producer",
        src: "fn main(x: bf16[N, 8], w: bf16[8, M], b: bf16[M]) -> bf16[N, M] { relu(x @ w + b) }",
        count: &[("graph.fused", 1), ("kind = \"matmul\"", 1), ("graph.matmul", 1)],
    },
    // Column inputs ([N, 1], one value per row, e.g. the int8 per-row scales) are read
    // inside kernels: elementwise, matmul epilogues (f32 and i8) and row prologues.
    Case {
        table: "fusion",
        rule: "fuse-producer",
        src: "fn main(x: f32[N, M], s: f32[N, 1], b: f32[M]) -> i8[N, M] { (relu(x + b) / s) as i8 }",
        count: &[("graph.fused", 1), ("kind = \"elementwise\"", 1), ("graph.cast", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-producer",
        src: "fn main(x: f32[N, 8], w: f32[8, M], s: f32[N, 1]) -> f32[N, M] { relu((x @ w) * s) }",
        count: &[("graph.fused", 1), ("kind = \"matmul\"", 1), ("graph.matmul", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-producer",
        src: "fn main(a: i8[N, 8], w: i8[8, M], sw: f32[M], sa: f32[N, 1]) -> f32[N, M] { (a @ w) as f32 * sw * sa }",
        count: &[("graph.fused", 1), ("kind = \"matmul\"", 1), ("graph.matmul", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-row-prologue",
        src: "fn main(x: f32[N, M], s: f32[N, 1]) -> f32[N, M] { softmax(x * s, axis: -1) }",
        count: &[("graph.fused", 1), ("kind = \"row\"", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-row-prologue",
        src: "fn main(x: f32[N, M], b: f32[M]) -> f32[N, M] { softmax(x * 0.5 + b, axis: -1) }",
        count: &[("graph.fused", 1), ("kind = \"row\"", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-row-prologue",
        src: "fn main(x: f32[N, M], g: f32[M], b: f32[M]) -> f32[N, M] { layernorm(gelu_tanh(x * g + b), g, b) }",
        count: &[("graph.fused", 1), ("kind = \"row\"", 1), ("graph.layernorm", 1)],
    },
    // A reduction over the last axis computes its elementwise producer (kind `reduce`):
    // with keepdims or not, reading a row `[M]`, a column `[N, 1]` or a scalar.
    Case {
        table: "fusion",
        rule: "fuse-reduce-prologue",
        src: "fn main(x: f32[N, M]) -> f32[N, 1] { max(abs(x * 2.0), axis: 1, keepdims: true) }",
        count: &[("graph.fused", 1), ("kind = \"reduce\"", 1), ("graph.reduce_max", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-reduce-prologue",
        src: "fn main(x: f32[N, M], b: f32[M], s: f32[N, 1]) -> f32[N] { sum(exp(x * s - b), axis: -1) }",
        count: &[("graph.fused", 1), ("kind = \"reduce\"", 1), ("graph.exp", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-reduce-prologue",
        src: "fn main(x: f32[A, N, M]) -> f32[A, N] { mean(x * x, axis: 2) }",
        count: &[("graph.fused", 1), ("kind = \"reduce\"", 1), ("graph.reduce_mean", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-reduce-prologue",
        src: "fn main(x: f32[N, M], y: f32[N, M]) -> f32[N, 1] { min(relu(x - y), axis: -1, keepdims: true) }",
        count: &[("graph.fused", 1), ("kind = \"reduce\"", 1), ("graph.reduce_min", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-attention",
        src: "fn main(q: f32[B, H, S, D], k: f32[B, H, T, D], v: f32[B, H, T, E]) -> f32[B, H, S, E] { softmax(einsum(\"bhqd,bhkd->bhqk\", q, k) * 0.125, axis: -1) @ v }",
        count: &[("graph.fused", 1), ("kind = \"attention\"", 1), ("graph.softmax", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-attention",
        src: "fn main(q: f32[B, S, D], k: f32[B, T, D], v: f32[B, T, E]) -> f32[B, S, E] { softmax(q @ transpose(k, [0, 2, 1]), axis: -1) @ v }",
        count: &[("graph.fused", 1), ("kind = \"attention\"", 1)],
    },
    // A channel bias `[C, 1, 1]` broadcasts into an elementwise kernel, and a conv2d takes
    // its bias, activation and residual as an epilogue (kind `conv`).
    Case {
        table: "fusion",
        rule: "fuse-producer",
        src: "fn main(x: f32[N, 8, H, W], b: f32[8, 1, 1]) -> f32[N, 8, H, W] { relu(x * 2.0 + b) }",
        count: &[("graph.fused", 1), ("kind = \"elementwise\"", 1), ("graph.relu", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-producer",
        src: "fn main(x: f32[N, 4, H, W], w: f32[8, 4, 3, 3], b: f32[8, 1, 1], r: f32[N, 8, H, W]) -> f32[N, 8, H, W] { r + relu(conv2d(x, w, padding: [1, 1]) + b) }",
        count: &[("graph.fused", 1), ("kind = \"conv\"", 1), ("graph.conv2d", 1), ("graph.relu", 1)],
    },
    // An additive mask that broadcasts to the scores (causal [S, T], padding [B, 1, T]).
    Case {
        table: "fusion",
        rule: "fuse-attention",
        src: "fn main(q: f32[B, H, S, D], k: f32[B, H, T, D], v: f32[B, H, T, E], m: f32[S, T]) -> f32[B, H, S, E] { softmax(einsum(\"bhqd,bhkd->bhqk\", q, k) * 0.125 + m, axis: -1) @ v }",
        count: &[("graph.fused", 1), ("kind = \"attention\"", 1), ("graph.add", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-attention",
        src: "fn main(q: f32[B, H, S, D], k: f32[B, H, T, D], v: f32[B, H, T, E], m: bool[S, T]) -> f32[B, H, S, E] { softmax(where(m, einsum(\"bhqd,bhkd->bhqk\", q, k) * 0.125, -1e9), axis: -1) @ v }",
        count: &[("graph.fused", 1), ("kind = \"attention\"", 1), ("graph.select", 1)],
    },
    Case {
        table: "fusion",
        rule: "fuse-attention",
        src: "fn main(q: f32[B, S, D], k: f32[B, T, D], v: f32[B, T, E], m: f32[B, 1, T]) -> f32[B, S, E] { softmax(m + q @ transpose(k, [0, 2, 1]), axis: -1) @ v }",
        count: &[("graph.fused", 1), ("kind = \"attention\"", 1), ("graph.add", 1)],
    },
];

/// Compiles and inlines without canonicalisation, so the rules see the patterns.
fn inlined(src: &str) -> tessera_dialects::Module {
    let mut m = tessera_frontend::compile(src).expect("the program compiles");
    tessera_passes::PassManager::new(&["inline", "dce"])
        .expect("passes")
        .run(&mut m)
        .expect("pipeline");
    m
}

fn check_case(c: &Case, n: i64, seed: u64) {
    let m = inlined(c.src);
    let opts = Options {
        tables: vec![c.table],
        ..Options::default()
    };
    let (after, o) = optimized(&m, "main", &opts);
    let text = tessera_dialects::print_func(&o.func);
    assert!(
        o.report.rules.get(c.rule).copied().unwrap_or(0) > 0,
        "{}: rule `{}` did not apply\n{}{text}",
        c.src,
        c.rule,
        o.report.summary()
    );
    for (what, want) in c.count {
        let got = text.matches(what).count();
        assert_eq!(
            got, *want,
            "{}: `{what}` {got} times, want {want}\n{text}",
            c.src
        );
    }
    let f = m.func("main").unwrap();
    let sizes = all_sizes(f, n);
    // The rules are exact: bit for bit on random values and on IEEE edge values.
    for xs in [inputs(f, &sizes, seed), edge_inputs(f, &sizes)] {
        let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("before");
        let got = tessera_interp::run_func(&after, "main", xs).expect("after");
        close(&got, &want, 0.0).unwrap_or_else(|e| panic!("{}: {e}\n{text}", c.src));
    }
}

/// `x - (-0)` is `x + 0`, `+0` for `x = -0`: `sub-zero` must leave it alone.
#[test]
fn sub_zero_keeps_a_negative_zero() {
    let m = inlined("fn main(x: f32[N]) -> f32[N] { exp(x - (-0.0)) - 1.0 }");
    let opts = Options {
        tables: vec!["algebra"],
        ..Options::default()
    };
    let (after, o) = optimized(&m, "main", &opts);
    assert_eq!(
        o.report.rules.get("sub-zero"),
        None,
        "{}",
        o.report.summary()
    );
    let f = m.func("main").unwrap();
    let xs = edge_inputs(f, &all_sizes(f, 10));
    let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("before");
    let got = tessera_interp::run_func(&after, "main", xs).expect("after");
    close(&got, &want, 0.0).unwrap();
    // and the identity it would break: 1 / (x - (-0)) at x = -0 is +inf, not -inf.
    let m = inlined("fn main(x: f32[N]) -> f32[N] { 1.0 / (x - (-0.0)) }");
    let (after, _) = optimized(&m, "main", &opts);
    let f = m.func("main").unwrap();
    let xs = edge_inputs(f, &all_sizes(f, 10));
    let got = tessera_interp::run_func(&after, "main", xs).expect("after");
    assert_eq!(got[0].to_f64_vec()[0], f64::INFINITY);
}

#[test]
fn every_rule_applies_and_keeps_values() {
    for c in CASES {
        check_case(c, 3, 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn rules_hold_on_random_tensors(case in 0..CASES.len(), n in 1i64..9, seed in 0u64..1000) {
        check_case(&CASES[case], n, seed);
    }
}

#[test]
fn every_rule_has_a_case() {
    for (_, table) in tessera_egraph::rules::tables() {
        for r in table {
            let name = r.name.to_string();
            let covered = CASES.iter().any(|c| c.rule == name)
                || PRECISION_CASES.iter().any(|c| c.rule == name);
            assert!(covered, "rule `{name}` has no test case");
        }
    }
}

/// A precision rule's test: the form whose rules run, the rule, a program, the counts
/// of substrings in the lowered function, and the tolerance of the lowered values against
/// the `f32` program's, relative to `1 + |want|` (random operands in [-2, 2], K = 8: each
/// bound is K * 2 * 2 times the error of one product).
struct PrecisionCase {
    form: Form,
    rule: &'static str,
    src: &'static str,
    count: &'static [(&'static str, usize)],
    rtol: f64,
}

const MATMUL: &str = "fn main(x: f32[N, 8], w: f32[8, M]) -> f32[N, M] { x @ w }";

const SCORES: &str = "fn main(q: f32[N, 2, M, 8], k: f32[N, 2, 3, 8]) -> f32[N, 2, M, 3] {
    einsum(\"bhqd,bhkd->bhqk\", q, k)
}";

/// A chain of three operands: `(i, l)` sums `2 x 3` products of three factors.
const CHAIN3: &str = "fn main(a: f32[N, 2], b: f32[2, 3], c: f32[3, M]) -> f32[N, M] {
    einsum(\"ij,jk,kl->il\", a, b, c)
}";

const CONV: &str = "fn main(x: f32[N, 2, 5, M], w: f32[3, 2, 2, 2]) -> f32[N, 3, 6, M + 1] {
    conv2d(x, w, padding: [1, 1])
}";

const PRECISION_CASES: &[PrecisionCase] = &[
    PrecisionCase {
        form: Form::Float(DType::BF16),
        rule: "lower-matmul-bf16",
        src: MATMUL,
        // Two roundings to bf16 per product: 2 * 2^-9.
        count: &[("{dtype = bf16}", 2), ("graph.matmul", 1)],
        rtol: 32.0 * 2.0 * (1.0 / 512.0) * 1.01,
    },
    PrecisionCase {
        form: Form::Float(DType::F16),
        rule: "lower-matmul-f16",
        src: MATMUL,
        count: &[("{dtype = f16}", 2), ("graph.matmul", 1)],
        rtol: 32.0 * 2.0 * (1.0 / 2048.0) * 1.01,
    },
    PrecisionCase {
        form: Form::Scaled(DType::F8E4M3),
        rule: "lower-matmul-f8e4m3",
        src: MATMUL,
        // Two E4M3 roundings (3 mantissa bits) per product: about 2 * 2^-4.
        count: &[
            ("graph.quantize", 2),
            ("graph.dequantize", 2),
            ("graph.matmul", 1),
        ],
        rtol: 32.0 * 0.14,
    },
    PrecisionCase {
        form: Form::Int8(Scales::Tensor),
        rule: "lower-matmul-int8-tensor",
        src: MATMUL,
        // Half a step of each operand's scale (max / 127) per product.
        count: &[
            ("graph.quantize", 1),
            ("graph.dequantize", 0),
            ("dtype = i8}", 2),
            ("graph.reduce_max", 2),
            ("-> i32[", 1),
        ],
        rtol: 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Row),
        rule: "lower-matmul-int8",
        src: MATMUL,
        // As per tensor: each row's scale is at most the tensor's. Elementwise: the
        // activation's quantisation is a cast, the dequantisation a cast and products.
        count: &[
            ("graph.quantize", 1),
            ("graph.dequantize", 0),
            ("dtype = i8}", 2),
            ("{dtype = f32}", 1),
            ("graph.reduce_max", 2),
            ("keepdims = true", 1),
            ("-> i32[", 1),
        ],
        rtol: 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Block32),
        rule: "lower-matmul-int8-block32",
        src: "fn main(x: f32[N, 64], w: f32[64, M]) -> f32[N, M] { x @ w }",
        // Per block as per row and channel; K = 64 here: 8 times the K = 8 bound. Two
        // blocks: an i8 matmul of each block's slices, the scaled blocks added.
        count: &[
            ("graph.quantize", 1),
            ("graph.matmul", 2),
            ("graph.slice", 8),
            ("-> i32[", 2),
            ("graph.add", 1),
            ("graph.einsum", 0),
        ],
        rtol: 8.0 * 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Block32),
        rule: "lower-matmul-int8-block32",
        // 33 blocks (K = 1056, more than 32): one i8 einsum into per-block partial
        // products, summed over the block axis. K = 1056.
        src: "fn main(x: f32[N, 2, 1056], w: f32[1056, M]) -> f32[N, 2, M] { x @ w }",
        count: &[
            ("graph.quantize", 2),
            ("graph.einsum", 1),
            ("spec = \"acbk,bkn->acbn\"", 1),
            ("-> i32[", 1),
            ("graph.reduce_sum", 1),
            ("graph.slice", 0),
        ],
        rtol: 132.0 * 32.0 * (1.0 / 127.0 + 1e-4),
    },
    // Einsum: attention scores (`d`, K = 8, contracted), a batch label shared by both.
    PrecisionCase {
        form: Form::Float(DType::BF16),
        rule: "lower-einsum-bf16",
        src: SCORES,
        count: &[("{dtype = bf16}", 2), ("graph.einsum", 1), ("graph.matmul", 0)],
        rtol: 32.0 * 2.0 * (1.0 / 512.0) * 1.01,
    },
    PrecisionCase {
        form: Form::Float(DType::F16),
        rule: "lower-einsum-f16",
        src: SCORES,
        count: &[("{dtype = f16}", 2), ("graph.einsum", 1)],
        rtol: 32.0 * 2.0 * (1.0 / 2048.0) * 1.01,
    },
    PrecisionCase {
        form: Form::Scaled(DType::F8E4M3),
        rule: "lower-einsum-f8e4m3",
        src: SCORES,
        // One scale per tensor for both operands.
        count: &[
            ("graph.quantize", 2),
            ("graph.dequantize", 2),
            ("axis =", 0),
            ("graph.einsum", 1),
        ],
        rtol: 32.0 * 0.14,
    },
    // Three operands: the float forms and per-tensor fp8 round every operand once
    // (|a b c| <= 8, six products, three roundings of 2^-9 (bf16) each per product).
    PrecisionCase {
        form: Form::Float(DType::BF16),
        rule: "lower-einsum-bf16",
        src: CHAIN3,
        count: &[("{dtype = bf16}", 3), ("graph.einsum", 1)],
        rtol: 6.0 * 8.0 * 3.0 * (1.0 / 512.0) * 1.01,
    },
    PrecisionCase {
        form: Form::Scaled(DType::F8E4M3),
        rule: "lower-einsum-f8e4m3",
        src: CHAIN3,
        count: &[("graph.quantize", 3), ("graph.dequantize", 3), ("graph.einsum", 1)],
        // E4M3 rounds to 2^-4 relative (normal range), three factors.
        rtol: 6.0 * 8.0 * 3.0 * (1.0 / 16.0) * 1.01,
    },
    PrecisionCase {
        form: Form::Int8(Scales::Tensor),
        rule: "lower-einsum-int8-tensor",
        src: SCORES,
        // Per tensor for both: half a step of each (max / 127) per product.
        count: &[
            ("dtype = i8}", 2),
            ("graph.reduce_max", 2),
            ("keepdims = true", 0),
            ("graph.einsum", 1),
            ("-> i32[", 1),
        ],
        rtol: 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Row),
        rule: "lower-einsum-int8",
        src: SCORES,
        // A scale per query row ([N, 2, M, 1]) and per key row, laid out as [N, 2, 1, 3].
        count: &[
            ("dtype = i8}", 2),
            ("keepdims = true", 2),
            ("graph.einsum", 1),
            ("-> i32[", 1),
            ("graph.reshape", 1),
            ("graph.transpose", 0),
        ],
        rtol: 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Row),
        rule: "lower-einsum-int8",
        // The output orders x's kept labels (m, b) differently: its scale is transposed.
        src: "fn main(x: f32[M, 3, 8], w: f32[8, N]) -> f32[3, N, M] { einsum(\"mbk,kn->bnm\", x, w) }",
        count: &[
            ("dtype = i8}", 2),
            ("graph.einsum", 1),
            ("graph.transpose", 1),
            ("-> i32[", 1),
        ],
        rtol: 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Block32),
        rule: "lower-einsum-int8-block32",
        // d = 64 in two blocks: the einsum as written on each block's i8 slices.
        src: "fn main(q: f32[N, 2, M, 64], k: f32[N, 2, 3, 64]) -> f32[N, 2, M, 3] {
            einsum(\"bhqd,bhkd->bhqk\", q, k)
        }",
        // A scale per (query row, block) and per (key row, block); K = 64.
        count: &[
            ("dtype = i8}", 2),
            ("keepdims = true", 2),
            ("graph.einsum", 2),
            ("spec = \"bhqd,bhkd->bhqk\"", 2),
            ("graph.slice", 8),
            ("-> i32[", 2),
            ("graph.add", 1),
            ("graph.reduce_sum", 0),
        ],
        rtol: 8.0 * 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Block32),
        rule: "lower-einsum-int8-block32",
        // Two contracted labels: the last (k = 96, three blocks) is blocked, the scales
        // also span the other (j); the output reorders the kept labels. K = 2 * 96.
        src: "fn main(x: f32[M, 2, 96], w: f32[N, 2, 96]) -> f32[N, M] {
            einsum(\"ijk,ljk->li\", x, w)
        }",
        count: &[
            ("dtype = i8}", 2),
            ("spec = \"ijk,ljk->li\"", 3),
            ("-> i32[", 3),
            ("graph.add", 2),
        ],
        rtol: 24.0 * 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Block32),
        rule: "lower-einsum-int8-block32",
        // 33 blocks (d = 1056, more than 32): one i8 einsum keeping the block label (a)
        // last, scaled, summed over it. K = 1056.
        src: "fn main(q: f32[N, 1056], k: f32[M, 1056]) -> f32[N, M] {
            einsum(\"qd,kd->qk\", q, k)
        }",
        count: &[
            ("dtype = i8}", 2),
            ("graph.einsum", 1),
            ("spec = \"qab,kab->qka\"", 1),
            ("-> i32[", 1),
            ("graph.reduce_sum", 1),
            ("graph.slice", 0),
        ],
        rtol: 132.0 * 32.0 * (1.0 / 127.0 + 1e-4),
    },
    // conv2d: 2 input channels, 2x2 taps (K = 8), zero padding.
    PrecisionCase {
        form: Form::Float(DType::BF16),
        rule: "lower-conv2d-bf16",
        src: CONV,
        count: &[
            ("{dtype = bf16}", 2),
            ("graph.conv2d", 1),
            ("padding = [1, 1]", 1),
        ],
        rtol: 32.0 * 2.0 * (1.0 / 512.0) * 1.01,
    },
    PrecisionCase {
        form: Form::Float(DType::F16),
        rule: "lower-conv2d-f16",
        src: CONV,
        count: &[("{dtype = f16}", 2), ("graph.conv2d", 1)],
        rtol: 32.0 * 2.0 * (1.0 / 2048.0) * 1.01,
    },
    PrecisionCase {
        form: Form::Scaled(DType::F8E4M3),
        rule: "lower-conv2d-f8e4m3",
        src: CONV,
        // Per tensor for the activation, per output channel (axis 0) for the weight.
        count: &[
            ("graph.quantize", 2),
            ("graph.dequantize", 2),
            ("axis = 0", 2),
            ("graph.conv2d", 1),
        ],
        rtol: 32.0 * 0.14,
    },
    PrecisionCase {
        form: Form::Int8(Scales::Tensor),
        rule: "lower-conv2d-int8-tensor",
        src: CONV,
        count: &[
            ("graph.quantize", 1),
            ("dtype = i8}", 2),
            ("axis = 0", 1),
            ("keepdims = true", 0),
            ("graph.conv2d", 1),
            ("-> i32[", 1),
        ],
        rtol: 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Row),
        rule: "lower-conv2d-int8",
        src: CONV,
        // One activation scale per image ([N, 1, 1, 1]).
        count: &[
            ("graph.quantize", 1),
            ("dtype = i8}", 2),
            ("keepdims = true", 1),
            ("graph.conv2d", 1),
            ("-> i32[", 1),
        ],
        rtol: 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Block32),
        rule: "lower-conv2d-int8-block32",
        // 64 input channels in two blocks of 32: an i8 convolution of each block's
        // slices, scaled per (image, block) and (output channel, block), summed. K = 64 *
        // 2 * 2.
        src: "fn main(x: f32[N, 64, 5, M], w: f32[3, 64, 2, 2]) -> f32[N, 3, 6, M + 1] {
            conv2d(x, w, padding: [1, 1])
        }",
        count: &[
            ("dtype = i8}", 2),
            ("keepdims = true", 2),
            ("graph.conv2d", 2),
            ("graph.slice", 8),
            ("padding = [1, 1]", 2),
            ("-> i32[", 2),
            ("graph.add", 1),
        ],
        rtol: 32.0 * 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Int8(Scales::Block32),
        rule: "lower-conv2d-int8-block32",
        // Three blocks, strided and dilated, 1x3 taps. K = 96 * 3.
        src: "fn main(x: f32[N, 96, M, 7], w: f32[2, 96, 1, 3]) -> f32[N, 2, (M - 1) / 2 + 1, 3] {
            conv2d(x, w, stride: [2, 1], dilation: [1, 2])
        }",
        count: &[("graph.conv2d", 3), ("graph.slice", 12), ("graph.add", 2)],
        rtol: 36.0 * 32.0 * (1.0 / 127.0 + 1e-4),
    },
    PrecisionCase {
        form: Form::Float(DType::BF16),
        rule: "cast-roundtrip",
        src: "fn main(x: f32[N, M]) -> bf16[N, M] { x as bf16 as f32 as bf16 }",
        count: &[("graph.cast", 1)],
        rtol: 0.0,
    },
    PrecisionCase {
        form: Form::Int8(Scales::Row),
        rule: "quantize-dequantize",
        src: "fn main(q: i8[N, M]) -> i8[N, M] {
            quantize(dequantize(q, scale: 0.5), dtype: i8, scale: 0.5)
        }",
        count: &[("graph.quantize", 0), ("graph.dequantize", 0)],
        rtol: 0.0,
    },
];

fn check_precision_case(c: &PrecisionCase, n: i64, seed: u64) {
    let m = inlined(c.src);
    let f = m.func("main").expect("main");
    let (lowered, counts) =
        tessera_egraph::lower_form(f, c.form, &Options::default()).expect("lowers");
    let after = with_func(&m, &lowered);
    let text = tessera_dialects::print_func(&lowered);
    assert!(
        counts.get(c.rule).copied().unwrap_or(0) > 0,
        "{}: rule `{}` did not apply ({counts:?})\n{text}",
        c.src,
        c.rule,
    );
    for (what, want) in c.count {
        let got = text.matches(what).count();
        assert_eq!(
            got, *want,
            "{}: `{what}` {got} times, want {want}\n{text}",
            c.src
        );
    }
    let f = m.func("main").unwrap();
    let sizes = all_sizes(f, n);
    let xs = inputs(f, &sizes, seed);
    let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("before");
    let got = tessera_interp::run_func(&after, "main", xs).expect("after");
    close(&got, &want, c.rtol).unwrap_or_else(|e| panic!("{}: {e}\n{text}", c.src));
}

#[test]
fn every_precision_rule_applies_within_its_tolerance() {
    for c in PRECISION_CASES {
        for (n, seed) in [(1, 1), (3, 2), (9, 3)] {
            check_precision_case(c, n, seed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn precision_rules_hold_on_random_tensors(
        case in 0..PRECISION_CASES.len(),
        n in 1i64..7,
        seed in 0u64..1000,
    ) {
        check_precision_case(&PRECISION_CASES[case], n, seed);
    }
}

#[test]
fn int8_einsum_needs_one_exact_contraction() {
    // `k` is summed within one operand, `"ij,ij->ij"` contracts nothing: no i8 form (the
    // float forms still apply).
    for src in [
        "fn main(x: f32[N, 8], w: f32[8, M]) -> f32[N] { einsum(\"ij,jk->i\", x, w) }",
        "fn main(x: f32[N, 8], w: f32[N, 8]) -> f32[N, 8] { einsum(\"ij,ij->ij\", x, w) }",
    ] {
        let m = inlined(src);
        let f = m.func("main").expect("main");
        for form in [Form::Int8(Scales::Row), Form::Int8(Scales::Tensor)] {
            let (lowered, counts) =
                tessera_egraph::lower_form(f, form, &Options::default()).expect("lowers");
            let text = tessera_dialects::print_func(&lowered);
            assert!(
                counts.keys().all(|r| !r.starts_with("lower-einsum")),
                "{src}: {counts:?}"
            );
            assert!(!text.contains("i8"), "{text}");
        }
        let (lowered, counts) =
            tessera_egraph::lower_form(f, Form::Float(DType::BF16), &Options::default())
                .expect("lowers");
        assert!(counts.contains_key("lower-einsum-bf16"), "{counts:?}");
        let after = with_func(&m, &lowered);
        same_values(&m, &after, "main", 3, 32.0 * 2.0 / 512.0);
    }
}

/// `int8/block32` of `einsum` and `conv2d` needs the reduction (the einsum's last
/// contracted label, the convolution's input channels) to be a static multiple of 32, at
/// least 64 (the convolution: at most 1024, and `groups = 1`); otherwise the contraction
/// stays `f32` under that form.
#[test]
fn block32_needs_static_blocks_of_32() {
    for src in [
        // Too small, not a multiple of 32, symbolic, summed within one operand.
        "fn main(q: f32[N, 32], k: f32[M, 32]) -> f32[N, M] { einsum(\"qd,kd->qk\", q, k) }",
        "fn main(q: f32[N, 80], k: f32[M, 80]) -> f32[N, M] { einsum(\"qd,kd->qk\", q, k) }",
        "fn main(q: f32[N, D], k: f32[M, D]) -> f32[N, M] { einsum(\"qd,kd->qk\", q, k) }",
        "fn main(q: f32[N, 64], k: f32[64, M]) -> f32[N] { einsum(\"qd,dk->q\", q, k) }",
        // The last contracted label (k = 8) decides, not the other (j = 64).
        "fn main(x: f32[M, 64, 8], w: f32[64, 8, N]) -> f32[M, N] { einsum(\"ijk,jkl->il\", x, w) }",
        "fn main(x: f32[N, 32, H, W], w: f32[4, 32, 3, 3]) -> f32[N, 4, H - 2, W - 2] { conv2d(x, w) }",
        "fn main(x: f32[N, 48, H, W], w: f32[4, 48, 3, 3]) -> f32[N, 4, H - 2, W - 2] { conv2d(x, w) }",
        "fn main(x: f32[N, C, H, W], w: f32[4, C, 3, 3]) -> f32[N, 4, H - 2, W - 2] { conv2d(x, w) }",
        "fn main(x: f32[N, 128, H, W], w: f32[4, 64, 3, 3]) -> f32[N, 4, H - 2, W - 2] {
            conv2d(x, w, groups: 2)
        }",
        "fn main(x: f32[1, 1056, 2, 2], w: f32[1, 1056, 1, 1]) -> f32[1, 1, 2, 2] { conv2d(x, w) }",
    ] {
        let m = inlined(src);
        let f = m.func("main").expect("main");
        let (lowered, counts) =
            tessera_egraph::lower_form(f, Form::Int8(Scales::Block32), &Options::default())
                .expect("lowers");
        assert!(counts.keys().all(|r| !r.starts_with("lower-")), "{src}: {counts:?}");
        let text = tessera_dialects::print_func(&lowered);
        assert!(!text.contains("i8"), "{src}:\n{text}");
    }
    // `--precision int8/block32` is this form.
    assert_eq!(
        Precision::Int8Block32.form(),
        Some(Form::Int8(Scales::Block32))
    );
    assert_eq!(Precision::Int8Block32.name(), "int8/block32");
}

/// Zero blocks quantise to zeros (the `tiny` guard), so a block32 result of zeros is
/// exactly zero, and a block that is zero while the others are not costs the others
/// nothing.
#[test]
fn block32_zero_blocks_give_exact_zeros() {
    let src = "fn main(x: f32[1, 64, 3, 3], w: f32[2, 64, 1, 1], q: f32[2, 64], k: f32[3, 64])
        -> (f32[1, 2, 3, 3], f32[2, 3]) {
        (conv2d(x, w), einsum(\"qd,kd->qk\", q, k))
    }";
    let m = inlined(src);
    let f = m.func("main").expect("main");
    let (lowered, counts) =
        tessera_egraph::lower_form(f, Form::Int8(Scales::Block32), &Options::default())
            .expect("lowers");
    assert_eq!(
        counts.get("lower-conv2d-int8-block32"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("lower-einsum-int8-block32"),
        Some(&1),
        "{counts:?}"
    );
    let after = with_func(&m, &lowered);
    let t = |shape: Vec<usize>| tessera_tensor::Tensor::zeros(DType::F32, shape).expect("zeros");
    let zeros = vec![
        t(vec![1, 64, 3, 3]),
        t(vec![2, 64, 1, 1]),
        t(vec![2, 64]),
        t(vec![3, 64]),
    ];
    let got = tessera_interp::run_func(&after, "main", zeros).expect("runs");
    for r in &got {
        assert!(r.to_f64_vec().iter().all(|v| *v == 0.0), "{got:?}");
    }
}

/// The scales of `int8/block32` follow the blocks: with the first block of one operand
/// and the second of the other 100 times larger than the rest, both blocks contribute
/// alike to the result; one scale per row (or per image) rounds the small block of each
/// operand to a few steps, one per block does not. Normwise errors against `f32` (the
/// largest difference over the largest magnitude), in the interpreter.
#[test]
fn block32_scales_follow_the_blocks() {
    let src = "fn main(x: f32[2, 64, 4, 4], w: f32[3, 64, 3, 3], q: f32[5, 64], k: f32[6, 64],
                       a: f32[5, 64], v: f32[64, 6], r: f32[5, 1056], s: f32[6, 1056])
        -> (f32[2, 3, 2, 2], f32[5, 6], f32[5, 6], f32[5, 6]) {
        (conv2d(x, w), einsum(\"qd,kd->qk\", q, k), a @ v, einsum(\"qd,kd->qk\", r, s))
    }";
    let m = inlined(src);
    let f = m.func("main").expect("main");
    // Values in [-1, 1]; along `axis` (64 channels, d or K), the first 32 times `big`
    // and the last 32 times `small` (for d = 1056, 33 blocks: alternately, from big).
    let t = |shape: Vec<usize>, axis: usize, seed: u64, big: f32, small: f32| {
        let r =
            tessera_tensor::random::uniform(DType::F32, &shape, -1.0, 1.0, seed).expect("random");
        // Elements per step along the blocked axis.
        let inner: usize = if axis == 0 {
            shape[1..].iter().product()
        } else {
            shape[2..].iter().product()
        };
        let v: Vec<f32> = r
            .to_f64_vec()
            .iter()
            .enumerate()
            .map(|(i, v)| {
                // The block of element i along `axis`: even blocks big, odd ones small.
                let block = (i / inner) % shape[axis] / 32;
                *v as f32 * if block.is_multiple_of(2) { big } else { small }
            })
            .collect();
        tessera_tensor::Tensor::from_f32(DType::F32, shape, v).expect("tensor")
    };
    let xs = vec![
        t(vec![2, 64, 4, 4], 1, 1, 100.0, 1.0),
        t(vec![3, 64, 3, 3], 1, 2, 1.0, 100.0),
        t(vec![5, 64], 1, 3, 100.0, 1.0),
        t(vec![6, 64], 1, 4, 1.0, 100.0),
        t(vec![5, 64], 1, 5, 100.0, 1.0),
        t(vec![64, 6], 0, 6, 1.0, 100.0),
        t(vec![5, 1056], 1, 7, 100.0, 1.0),
        t(vec![6, 1056], 1, 8, 1.0, 100.0),
    ];
    let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("f32");
    let errors = |form: Form| -> Vec<f64> {
        let (lowered, _) =
            tessera_egraph::lower_form(f, form, &Options::default()).expect("lowers");
        let after = with_func(&m, &lowered);
        let got = tessera_interp::run_func(&after, "main", xs.clone()).expect("lowered");
        got.iter()
            .zip(&want)
            .map(|(g, w)| {
                let (g, w) = (g.to_f64_vec(), w.to_f64_vec());
                let top = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let diff = g
                    .iter()
                    .zip(&w)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                diff / top
            })
            .collect()
    };
    let block = errors(Form::Int8(Scales::Block32));
    let row = errors(Form::Int8(Scales::Row));
    for (what, (b, r)) in ["conv2d", "einsum", "matmul", "einsum, 33 blocks"]
        .iter()
        .zip(block.iter().zip(&row))
    {
        // Per block: half a step of 1/127 per operand, over 288 or 64 products of
        // random signs: measured 3e-3 to 8e-3.
        assert!(*b < 1.5e-2, "{what}: block32 error {b:.2e}");
        // Per row: the small block is quantised with the large one's scale.
        assert!(*r > 5.0 * *b, "{what}: row error {r:.2e}, block32 {b:.2e}");
        eprintln!("{what}: normwise error int8/block32 {b:.2e}, int8/row {r:.2e}");
    }
}

#[test]
fn f32_precision_does_not_run_the_precision_table() {
    let m = inlined(MATMUL);
    let (_, o) = optimized(&m, "main", &Options::default());
    assert!(o.report.rules.keys().all(|r| !r.starts_with("lower-")));
    let text = tessera_dialects::print_func(&o.func);
    assert!(
        !text.contains("quantize") && !text.contains("graph.cast"),
        "{text}"
    );
}

#[test]
fn int8_zero_tensors_give_zero() {
    let m = inlined(MATMUL);
    let opts = Options {
        precision: Precision::Int8,
        ..Options::default()
    };
    let (after, _) = optimized(&m, "main", &opts);
    let zeros = |r, c| {
        tessera_tensor::Tensor::zeros(tessera_dialects::DType::F32, vec![r, c]).expect("zeros")
    };
    let got =
        tessera_interp::run_func(&after, "main", vec![zeros(2, 8), zeros(8, 3)]).expect("runs");
    assert!(got[0].to_f64_vec().iter().all(|v| *v == 0.0), "{got:?}");
}

#[test]
fn a_matmul_used_twice_is_computed_once() {
    let src = "fn main(x: f32[N, 8], w: f32[8, M], b: f32[M]) -> (f32[N, M], f32[N, M]) {
        let a = x @ w;
        (relu(a + b), a * 2.0)
    }";
    let m = inlined(src);
    let (after, o) = optimized(&m, "main", &Options::default());
    let text = tessera_dialects::print_func(&o.func);
    assert_eq!(text.matches("graph.matmul").count(), 1, "{text}");
    same_values(&m, &after, "main", 3, 0.0);
}

/// An attention kernel recomputes its scores `q @ k^T`: where the scores are needed on
/// their own, or by a second attention, the attention kernels that would compute them
/// again are not extracted (before, three matmuls computed the same scores and the
/// prediction rose from 1356 to 1856 us).
#[test]
fn attention_scores_used_twice_are_computed_once() {
    let src = "fn main(q: f32[B, S, D], k: f32[B, T, D], v: f32[B, T, E]) -> (f32[B, S, E], f32[B, S, E], f32[B, S, T]) {
        let s = q @ transpose(k, [0, 2, 1]);
        (softmax(s, axis: -1) @ v, softmax(s * 0.5, axis: -1) @ v, s)
    }";
    let m = inlined(src);
    let (after, o) = optimized(&m, "main", &Options::default());
    let text = tessera_dialects::print_func(&o.func);
    assert_eq!(text.matches("kind = \"attention\"").count(), 0, "{text}");
    assert_eq!(text.matches("graph.matmul %q").count(), 1, "{text}");
    assert!(
        o.report.after.0 <= o.report.before.0,
        "{}",
        o.report.summary()
    );
    same_values(&m, &after, "main", 3, 0.0);
}

/// Where `fuse-reduce-prologue` does not fire, or its kernel is not extracted: a
/// reduction over a leading axis, and a producer that is an expensive operation whose
/// result is needed on its own (a cheap one is recomputed, as elementwise kernels do).
#[test]
fn reduce_prologues_only_where_they_save_work() {
    let run = |src: &str| {
        let m = inlined(src);
        let (after, o) = optimized(&m, "main", &Options::default());
        same_values(&m, &after, "main", 3, 0.0);
        (tessera_dialects::print_func(&o.func), o.report)
    };
    let (text, report) = run("fn main(x: f32[N, M]) -> f32[M] { sum(abs(x * 2.0), axis: 0) }");
    assert_eq!(report.rules.get("fuse-reduce-prologue"), None, "{text}");
    assert_eq!(text.matches("kind = \"reduce\"").count(), 0, "{text}");
    // `exp(x)` is returned: the reduction reads it rather than computing it again.
    let (text, _) = run("fn main(x: f32[N, M]) -> (f32[N, M], f32[N]) {
        let e = exp(x);
        (e, sum(e, axis: -1))
    }");
    assert_eq!(text.matches("graph.exp").count(), 1, "{text}");
    assert_eq!(text.matches("kind = \"reduce\"").count(), 0, "{text}");
    // Two reductions of one `exp`: computed once, by a kernel of its own.
    let (text, _) = run("fn main(x: f32[N, M]) -> (f32[N], f32[N]) {
        let e = exp(x * 0.5);
        (sum(e, axis: -1), max(e, axis: -1))
    }");
    assert_eq!(text.matches("graph.exp").count(), 1, "{text}");
    // `abs(x)` is returned too, but cheap: the reduction recomputes it and reads x.
    let (text, _) = run("fn main(x: f32[N, M]) -> (f32[N, M], f32[N, 1]) {
        let a = abs(x);
        (a, max(a, axis: -1, keepdims: true))
    }");
    assert_eq!(text.matches("kind = \"reduce\"").count(), 1, "{text}");
}

#[test]
fn output_is_deterministic() {
    let src = include_str!("../../../examples/transformer_block.tsr");
    let m = graph(src);
    let a = optimized(&m, "encoder_block", &Options::default()).1;
    let b = optimized(&m, "encoder_block", &Options::default()).1;
    assert_eq!(
        tessera_dialects::print_func(&a.func),
        tessera_dialects::print_func(&b.func)
    );
    assert_eq!(a.report.summary(), b.report.summary());
    assert_eq!(a.report.explain(), b.report.explain());
}

#[test]
fn limits_stop_saturation_with_a_valid_program() {
    let src = include_str!("../../../examples/transformer_block.tsr");
    let m = graph(src);
    let opts = Options {
        iter_limit: 1,
        ..Options::default()
    };
    let (after, o) = optimized(&m, "encoder_block", &opts);
    assert!(
        o.report.stop.starts_with("iteration limit"),
        "{}",
        o.report.stop
    );
    same_values(&m, &after, "encoder_block", 2, 1e-5);
    let opts = Options {
        node_limit: 60,
        ..Options::default()
    };
    let (after, o) = optimized(&m, "encoder_block", &opts);
    assert!(o.report.stop.starts_with("node limit"), "{}", o.report.stop);
    same_values(&m, &after, "encoder_block", 2, 1e-5);
}

#[test]
fn a_long_elementwise_chain_saturates_into_few_kernels() {
    // 200 operations: kernels grow one operation at a time up to MAX_OPS each.
    let body: String = (0..100).fold("x".to_string(), |acc, _| format!("exp({acc} * 0.5)"));
    let src = format!("fn main(x: f32[N, M]) -> f32[N, M] {{ {body} }}");
    let m = graph(&src);
    let (after, o) = optimized(&m, "main", &Options::default());
    assert_eq!(o.report.stop, "saturated", "{}", o.report.summary());
    let text = tessera_dialects::print_func(&o.func);
    let kernels = text.matches("graph.fused").count();
    let max_ops = tessera_egraph::rules::fusion::MAX_OPS;
    assert!(
        kernels <= 200usize.div_ceil(max_ops) + 1,
        "{kernels} kernels\n{}",
        o.report.summary()
    );
    same_values(&m, &after, "main", 3, 1e-6);
}

/// A simplification that merges a class with its input (`relu(relu(x)) = relu(x)`) leaves
/// a node reading its own class: fusion must not absorb it again and again (it made a
/// kernel of eight relus out of two, `fuse-producer` applying 92 times).
#[test]
fn self_reading_producers_are_not_fused_again() {
    for (src, op, want) in [
        (
            "fn main(x: f32[N, M]) -> f32[N, M] { exp(relu(relu(x))) }",
            "graph.relu",
            1,
        ),
        (
            "fn main(x: f32[N, M]) -> f32[N, M] { exp(relu(x) - 0.0) }",
            "graph.sub",
            0,
        ),
    ] {
        let m = inlined(src);
        let (after, o) = optimized(&m, "main", &Options::default());
        let text = tessera_dialects::print_func(&o.func);
        assert_eq!(text.matches(op).count(), want, "{src}\n{text}");
        assert_eq!(text.matches("graph.fused").count(), 1, "{src}\n{text}");
        assert!(o.report.iterations <= 8, "{src}: {}", o.report.summary());
        same_values(&m, &after, "main", 4, 0.0);
    }
}
