//! Every rule, IR in and IR out: a small program where the rule must apply (the report
//! counts it), the optimised IR must contain (and must not contain) given lines, and both
//! programs compute the same values in the interpreter on random tensors of random sizes.

mod common;

use common::*;
use proptest::prelude::*;
use tessera_egraph::Options;

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
    let xs = inputs(f, &sizes, seed);
    let want = tessera_interp::run_func(&m, "main", xs.clone()).expect("before");
    let got = tessera_interp::run_func(&after, "main", xs).expect("after");
    close(&got, &want, 0.0).unwrap_or_else(|e| panic!("{}: {e}\n{text}", c.src));
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
                || ["fuse-elementwise"].contains(&name.as_str());
            assert!(covered, "rule `{name}` has no test case");
        }
    }
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
