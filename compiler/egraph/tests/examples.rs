//! Whole programs: every example optimises to a module that verifies, prints and parses
//! back, and computes what the input program computes.

mod common;

use common::*;
use tessera_egraph::Options;

fn examples() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("examples")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "tsr").then(|| {
                (
                    p.file_name().unwrap().to_string_lossy().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_optimises_to_the_same_values() {
    for (file, src) in examples() {
        let m = graph(&src);
        for f in &m.funcs {
            let (after, o) = optimized(&m, &f.name, &Options::default());
            eprintln!(
                "== {file} @{}\n{}{}{}",
                f.name,
                o.report.summary(),
                o.report.explain(),
                tessera_dialects::print_func(&o.func)
            );
            let text = tessera_dialects::print_module(&after);
            let back = tessera_dialects::parse_module(&text).expect("parses back");
            assert_eq!(tessera_dialects::print_module(&back), text);
            same_values(&m, &after, &f.name, 2, 1e-5);
        }
    }
}

/// The operations of an optimised function keep the source location of the operation
/// they come from (a fused kernel, its root's), so that errors after optimisation point
/// into the source.
#[test]
fn optimised_operations_keep_their_source_locations() {
    for (file, src) in examples() {
        let m = graph(&src);
        for f in &m.funcs {
            let (_, o) = optimized(&m, &f.name, &Options::default());
            for op in &o.func.body.ops {
                let g = op.op.as_graph();
                if matches!(
                    g,
                    Some(tessera_dialects::GraphOp::Return | tessera_dialects::GraphOp::Constant)
                ) {
                    continue;
                }
                assert!(
                    op.loc.0.is_some(),
                    "{file} @{}: {:?} has no location",
                    f.name,
                    g
                );
            }
        }
    }
}

/// With one precision asked for, attention's two contractions stay f32, so the encoder
/// keeps its attention kernel while its four linear layers are lowered: IR out.
#[test]
fn a_lowered_encoder_keeps_its_attention_kernel() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let src = std::fs::read_to_string(format!("{dir}/transformer_block.tsr")).expect("example");
    let m = graph(&src);
    for (precision, lowered) in [
        (tessera_egraph::Precision::Int8, "i8["),
        (tessera_egraph::Precision::Bf16, "bf16["),
    ] {
        let opts = Options {
            precision,
            ..Options::default()
        };
        let (_, o) = optimized(&m, "encoder_block", &opts);
        let text = tessera_dialects::print_func(&o.func);
        assert_eq!(
            text.matches("kind = \"attention\"").count(),
            1,
            "{precision:?}:\n{text}"
        );
        assert!(
            text.contains(lowered),
            "{precision:?}: the linear layers are lowered\n{text}"
        );
        // All four linear layers, not only the first: the qkv projection's input has no
        // contraction, the other three are fed by the attention's f32 contractions (a
        // tree count of unlowered contractions once left them in f32).
        let f = m.func("encoder_block").expect("function");
        let (notes, counts) = tessera_egraph::fixed::explain_fixed(f, &opts).expect("lowering");
        let outcomes: Vec<&str> = notes.iter().map(|n| n.outcome.as_str()).collect();
        let form = precision.form().expect("a lowered form").name();
        assert_eq!(
            outcomes.iter().filter(|o| o.starts_with(form)).count(),
            4,
            "{precision:?}: {outcomes:#?}"
        );
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| o.contains("a contraction of an attention"))
                .count(),
            2,
            "{precision:?}: {outcomes:#?}"
        );
        assert_eq!(counts.values().sum::<usize>(), 4, "{counts:?}");
        if precision == tessera_egraph::Precision::Int8 {
            let i8_matmuls = text
                .lines()
                .filter(|l| l.contains("graph.matmul") && l.contains(": (i8["))
                .count();
            assert_eq!(i8_matmuls, 4, "{text}");
        }
    }
}
