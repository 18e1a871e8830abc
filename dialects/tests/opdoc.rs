//! `docs/ops.md` is the generated op reference, and every op's example parses (graph
//! examples verify too).

use std::path::PathBuf;
use tessera_dialects::opdoc::op_reference_markdown;
use tessera_dialects::{parse_module, verify_module, GraphOp, Op, Operation, TileOp, Type};

#[test]
fn ops_md_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/ops.md");
    let want = op_reference_markdown();
    if std::env::var("TESSERA_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &want).expect("docs/ops.md is writable");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/ops.md is out of date with the dialect declarations.\n\
         Regenerate it with: TESSERA_BLESS=1 cargo test -p tessera-dialects --test opdoc"
    );
}

/// Splits `a, b(c, d), e` at top-level commas.
fn split_top(s: &str) -> Vec<String> {
    let (mut depth, mut cur, mut out) = (0i32, String::new(), Vec::new());
    for c in s.chars() {
        match c {
            '(' | '[' | '<' => depth += 1,
            ')' | ']' | '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The operand names of an example: the `%` words between the op name and `{` or `:`.
fn operand_names(example: &str, full: &str) -> Vec<String> {
    let after = example.split_once(full).map_or("", |(_, r)| r);
    let head = after.split(['{', ':']).next().unwrap_or("");
    head.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| s.starts_with('%'))
        .collect()
}

/// The operand types of an example: `: (T, U) -> ...` or a terminator's `: T, U`.
fn operand_types(example: &str, terminator: bool) -> Vec<String> {
    let first_line = example.lines().next().unwrap_or("");
    let sig = first_line.rsplit_once(" : ").map_or("", |(_, s)| s);
    if terminator {
        return split_top(sig);
    }
    let mut depth = 0;
    let mut end = 0;
    for (i, c) in sig.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    split_top(sig.get(1..end).unwrap_or(""))
}

fn wrap(op: Op) -> String {
    let d = op.def();
    let full = op.full_name();
    let terminator = d.has_trait(tessera_dialects::dialect::Trait::Terminator);
    let names = operand_names(d.example, &full);
    let types = operand_types(d.example, terminator);
    assert_eq!(names.len(), types.len(), "{full}: {names:?} vs {types:?}");
    let params: Vec<String> = names
        .iter()
        .zip(&types)
        .map(|(n, t)| format!("{n}: {t}"))
        .collect();
    let body: String = d.example.lines().map(|l| format!("  {l}\n")).collect();
    if op == Op::Graph(GraphOp::Yield) {
        // `graph.yield` only ends the region of a `graph.fused`: the function's parameter
        // `%outer` is the kernel's operand, the example's operand its region argument.
        let region: String = body.lines().map(|l| format!("  {l}\n")).collect();
        let body = format!(
            "  %o = graph.fused %outer {{kind = \"elementwise\"}} : ({t}) -> {t} ({p}) {{\n{region}  }}\n",
            t = types[0],
            p = params[0],
        );
        return format!("graph.func @example(%outer: {}) {{\n{body}}}\n", types[0]);
    }
    match op {
        Op::Graph(_) => {
            let mut src = format!("graph.func @example({}) {{\n{body}}}\n", params.join(", "));
            if op == Op::Graph(GraphOp::Call) {
                src.push_str("\ngraph.func @layer(%a: f32[N, 4]) -> (f32[N, 4]) {\n  graph.return %a : f32[N, 4]\n}\n");
            }
            src
        }
        Op::Tile(_) => format!(
            "tile.kernel @example({}) attributes {{grid = sizes[2, 2]}} {{\n{body}}}\n",
            params.join(", ")
        ),
    }
}

#[test]
fn every_example_parses_and_graph_examples_verify() {
    let ops = GraphOp::ALL
        .iter()
        .map(|o| Op::Graph(*o))
        .chain(TileOp::ALL.iter().map(|o| Op::Tile(*o)));
    for op in ops {
        let src = wrap(op);
        let mut m = parse_module(&src).unwrap_or_else(|e| panic!("{}: {e}\n{src}", op.full_name()));
        if let Op::Graph(g) = op {
            // Return the example's results (or, for `graph.return`, what it returns).
            let f = &mut m.funcs[0];
            if g == GraphOp::Return {
                f.result_types = f.body.ops[0]
                    .operands
                    .iter()
                    .map(|v| f.ty(*v).clone())
                    .collect();
            } else {
                let results = f.body.ops[0].results.clone();
                f.result_types = results
                    .iter()
                    .map(|v| f.ty(*v).clone())
                    .collect::<Vec<Type>>();
                f.body.ops.push(Operation::new(
                    Op::Graph(GraphOp::Return),
                    results,
                    vec![],
                    Default::default(),
                ));
            }
            if let Err(es) = verify_module(&m) {
                let msgs: Vec<String> = es.iter().map(|e| e.to_string()).collect();
                panic!("{}: {msgs:#?}\n{src}", op.full_name());
            }
        }
    }
}
