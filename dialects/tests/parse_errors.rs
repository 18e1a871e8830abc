//! Parse errors: the right message at the right span, and never a panic (proptest fuzzing).

use proptest::prelude::*;
use tessera_dialects::{parse_module, print_module, verify_module};

/// Asserts that `src` fails with a message containing `msg` at the text `at`.
fn check_err(src: &str, at: &str, msg: &str) {
    let e = parse_module(src).expect_err("must not parse");
    let spanned = src
        .get(e.span.start as usize..e.span.end as usize)
        .unwrap_or("<bad span>");
    assert_eq!(spanned, at, "span of `{}`", e.message);
    assert!(
        e.message.contains(msg),
        "`{}` does not contain `{msg}`",
        e.message
    );
}

fn func(body: &str) -> String {
    format!("graph.func @f(%x: f32[B, 4], %y: f32[4]) -> (f32[B, 4]) {{\n{body}\n}}\n")
}

#[test]
fn empty_input_is_an_empty_module() {
    assert_eq!(parse_module("").expect("parses").funcs.len(), 0);
    assert_eq!(
        parse_module("  // only a comment\n")
            .expect("parses")
            .funcs
            .len(),
        0
    );
}

#[test]
fn unknown_operation() {
    let src = func("  %0 = graph.foo %x : (f32[B, 4]) -> f32[B, 4]");
    check_err(&src, "graph.foo", "unknown operation `graph.foo`");
}

#[test]
fn references_are_resolved() {
    let src = func("  %0 = graph.relu %1 : (f32[B, 4]) -> f32[B, 4]\n  %1 = graph.relu %x : (f32[B, 4]) -> f32[B, 4]");
    check_err(&src, "%1", "`%1` is used before its definition");
    let src = func("  %0 = graph.relu %z : (f32[B, 4]) -> f32[B, 4]");
    check_err(&src, "%z", "`%z` is not defined");
    let src = func("  %x = graph.relu %x : (f32[B, 4]) -> f32[B, 4]");
    check_err(&src, "%x", "redefinition of `%x`");
}

#[test]
fn region_values_are_scoped() {
    let src = "tile.kernel @k(%b: buf<f32[8]>) attributes {grid = sizes[1]} {
  %z = tile.zeros : () -> tile<8xf32>
  %r = tile.for %z {bounds = sizes[0, 2]} : (tile<8xf32>) -> tile<8xf32> (%k: index, %c: tile<8xf32>) {
    tile.yield %c : tile<8xf32>
  }
  tile.store %c, %b, %k : (tile<8xf32>, buf<f32[8]>, index) -> ()
}
";
    check_err(src, "%c", "`%c` is not visible here");
    let src = src.replace("tile.yield %c", "tile.yield %r");
    check_err(&src, "%r", "`%r` is not visible here");
}

#[test]
fn types_and_attributes_are_checked() {
    let src = func("  %0 = graph.relu %x : (f32[B, 5]) -> f32[B, 4]");
    check_err(
        &src,
        "f32[B, 5]",
        "operand has type `f32[B, 4]`, but the signature says `f32[B, 5]`",
    );
    let src = func("  %0 = graph.softmax %x {axis = 1.5} : (f32[B, 4]) -> f32[B, 4]");
    check_err(
        &src,
        "axis = 1.5",
        "attribute `axis` of `graph.softmax` must be an integer, found `1.5`",
    );
    let src = func("  %0 = graph.softmax %x {axes = 1} : (f32[B, 4]) -> f32[B, 4]");
    check_err(&src, "axes = 1", "`graph.softmax` has no attribute `axes`");
    let src = func("  %0 = graph.softmax %x {axis = 1, axis = 1} : (f32[B, 4]) -> f32[B, 4]");
    check_err(&src, "axis", "attribute `axis` is given twice");
    let src = func("  %0 = graph.relu %x : (f64[B, 4]) -> f32[B, 4]");
    check_err(&src, "f64", "unknown type `f64`");
    let src = func("  %0 = graph.relu %x : (f32[B, 4], f32) -> f32[B, 4]");
    check_err(
        &src,
        "%0 = graph.relu %x : (f32[B, 4], f32) -> f32[B, 4]",
        "1 operand(s) but 2 operand type(s)",
    );
    let src = func("  %0, %1 = graph.relu %x : (f32[B, 4]) -> f32[B, 4]");
    check_err(
        &src,
        "%0, %1 = graph.relu %x : (f32[B, 4]) -> f32[B, 4]",
        "2 result name(s) but 1 result type(s)",
    );
    let src = "tile.kernel @k() attributes {grid = sizes[1]} {\n  %t = tile.zeros : () -> tile<0xf32>\n}\n";
    check_err(src, "tile<0xf32>", "bad tile size `0`");
}

#[test]
fn literals_are_checked() {
    let src = func("  %0 = graph.constant {value = 99999999999999999999, dtype = f32} : () -> f32");
    check_err(&src, "99999999999999999999", "integer literal out of range");
    let src = func("  %0 = graph.einsum %x {spec = \"a\\qb\"} : (f32[B, 4]) -> f32[B, 4]");
    check_err(&src, "\"a\\qb\"", "unknown escape `\\q`");
    let src = func("  %0 = graph.einsum %x {spec = \"abc} : (f32[B, 4]) -> f32[B, 4]");
    let e = parse_module(&src).expect_err("unterminated string");
    assert!(e.message.contains("unexpected character"), "{e}");
    let src = "graph.func @f(%x: f32[B / 0]) -> (f32) {\n}\n";
    check_err(src, "/ 0", "divided by a positive constant");
    let src = "graph.func @f(%x: f32[B / (0 - 2)]) -> (f32) {\n}\n";
    check_err(src, "/ (0 - 2)", "divided by a positive constant");
}

#[test]
fn trailing_garbage_is_rejected() {
    let src = format!("{}}}", func("  graph.return %x : f32[B, 4]"));
    check_err(
        &src,
        "}",
        "expected `graph.func` or `tile.kernel`, found `}`",
    );
    let src = format!("{} $", func("  graph.return %x : f32[B, 4]"));
    check_err(&src, "$", "unexpected character(s) `$`");
    let src = func("  graph.return %x : f32[B, 4]").replace("\n}\n", "\n");
    check_err(&src, "", "expected `}`, found the end of the input");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "graph.func @f(%x: f32[{}B{}]) {{\n}}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let e = parse_module(&deep).expect_err("too deep");
    assert!(e.message.contains("nesting deeper than"), "{e}");
    let mut k = String::from("tile.kernel @k() attributes {grid = sizes[1]} {\n");
    for i in 0..10_000 {
        k.push_str(&format!("%z{i} = tile.map : () -> tile<1xf32> () {{\n"));
    }
    let e = parse_module(&k).expect_err("too deep");
    assert!(e.message.contains("nesting deeper than"), "{e}");
}

#[test]
fn huge_size_expressions_are_rejected() {
    let factor = "(a + b + c + d + e + f + g + h)";
    let src = format!(
        "graph.func @f(%x: f32[{}]) {{\n}}\n",
        [factor; 12].join("*")
    );
    let e = parse_module(&src).expect_err("too large");
    assert!(e.message.contains("size expression too large"), "{e}");
}

#[test]
fn functions_are_defined_once() {
    let one = func("  graph.return %x : f32[B, 4]");
    let e = parse_module(&format!("{one}\n{one}")).expect_err("twice");
    assert!(e.message.contains("`@f` is defined twice"), "{e}");
}

/// Parses; when that succeeds, printing, reparsing and verifying must not panic and
/// printing must be a fixpoint.
fn no_panic(src: &str) {
    if let Ok(m) = parse_module(src) {
        let text = print_module(&m);
        let back = parse_module(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(print_module(&back), text);
        let _ = verify_module(&m);
    }
}

fn corpus() -> Vec<String> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ir");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/ir")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read_to_string(p).expect("readable"))
        .collect()
}

const PIECES: &[&str] = &[
    "%",
    "@",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "<",
    ">",
    ",",
    ":",
    "=",
    "->",
    "-",
    "*",
    "/",
    "+",
    "\"",
    "\\",
    "graph.add",
    "tile.for",
    "tile<",
    "buf<",
    "f32",
    "index",
    "sizes",
    "1e",
    "9999999999999999999999",
    "%0",
    "%x",
    "nan",
    "-inf",
    "\n",
    "//",
    "é",
    "\u{0}",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        no_panic(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_files_never_panic(
        file in 0usize..16,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..12, 0usize..4, 0usize..64), 1..6),
    ) {
        let files = corpus();
        let mut s: Vec<char> = files[file % files.len()].chars().collect();
        for (at, len, kind, piece) in edits {
            let i = at.index(s.len() + 1);
            let j = (i + len).min(s.len());
            match kind {
                0 => { s.drain(i..j); }
                1 => {
                    let p: Vec<char> = PIECES[piece % PIECES.len()].chars().collect();
                    s.splice(i..i, p);
                }
                2 => {
                    let dup: Vec<char> = s[i..j].to_vec();
                    s.splice(i..i, dup);
                }
                _ => {
                    let p: Vec<char> = PIECES[piece % PIECES.len()].chars().collect();
                    s.splice(i..j, p);
                }
            }
        }
        no_panic(&s.into_iter().collect::<String>());
    }
}

/// Size arithmetic that overflows `i64` is an error at the size, never a wrapped value.
#[test]
fn sizes_that_overflow_are_errors() {
    for size in ["N*9223372036854775807*4", "9223372036854775807 + 1"] {
        let src = format!(
            "graph.func @f(%x: f32[{size}]) -> (f32[{size}]) {{\n  graph.return %x : f32[{size}]\n}}\n"
        );
        check_err(&src, size, "size expression overflows");
    }
}
