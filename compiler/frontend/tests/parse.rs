//! Parser tests: precedence and AST shape (as S-expressions), spans, and error messages.

use tessera_dialects::{DType, Span};
use tessera_frontend::ast::{
    DimExpr, DimOp, Expr, ExprKind, IndexItem, LetPattern, Program, RetType, TypeExpr,
};
use tessera_frontend::parser::{parse, parse_expr, MAX_NESTING};

/// A compact S-expression of an expression tree.
fn sexp(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => format!("{v:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::DType(d) => d.name().to_string(),
        ExprKind::None => "none".to_string(),
        ExprKind::Var(n) => n.clone(),
        ExprKind::Neg(x) => format!("(neg {})", sexp(x)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.symbol(), sexp(a), sexp(b)),
        ExprKind::Cast(x, d, _) => format!("(as {} {})", sexp(x), d.name()),
        ExprKind::Index(x, items) => {
            let items: Vec<String> = items
                .iter()
                .map(|i| match i {
                    IndexItem::Index(e) => sexp(e),
                    IndexItem::Range { start, end, .. } => format!(
                        "{}:{}",
                        start.as_ref().map(sexp).unwrap_or_default(),
                        end.as_ref().map(sexp).unwrap_or_default()
                    ),
                })
                .collect();
            format!("(index {} {})", sexp(x), items.join(" "))
        }
        ExprKind::Call {
            callee,
            args,
            named,
        } => {
            let mut parts = vec![callee.name.clone()];
            parts.extend(args.iter().map(sexp));
            parts.extend(named.iter().map(|(n, e)| format!("{}={}", n.name, sexp(e))));
            format!("(call {})", parts.join(" "))
        }
        ExprKind::List(items) => {
            let items: Vec<String> = items.iter().map(sexp).collect();
            format!("[{}]", items.join(" "))
        }
        ExprKind::Tuple(items) => {
            let items: Vec<String> = items.iter().map(sexp).collect();
            format!("(tuple {})", items.join(" "))
        }
    }
}

fn check_expr(src: &str, expected: &str) {
    let e = parse_expr(src).unwrap_or_else(|d| panic!("{src}: {d:?}"));
    assert_eq!(sexp(&e), expected, "{src}");
}

/// The first diagnostic's message and primary span text.
fn error_of(src: &str) -> (String, String) {
    let diags = parse(src).expect_err(src);
    let d = &diags[0];
    let span = d.span().expect("primary span");
    let text = src
        .get(span.start as usize..span.end as usize)
        .unwrap_or("")
        .to_string();
    (d.message.clone(), text)
}

fn text(src: &str, span: Span) -> &str {
    &src[span.start as usize..span.end as usize]
}

#[test]
fn precedence_dsl_examples() {
    // DSL §7: `as` binds tighter than `@`.
    check_expr("a @ b as f32", "(@ a (as b f32))");
    // Slicing is tighter than unary minus; unary minus is tighter than `as`.
    check_expr("-x[0]", "(neg (index x 0))");
    check_expr("-x as f32", "(as (neg x) f32)");
    // `-` is never part of a literal.
    check_expr("x -2", "(- x 2)");
    check_expr("x - -2", "(- x (neg 2))");
    check_expr("-2", "(neg 2)");
    check_expr("a + b * c", "(+ a (* b c))");
    check_expr("a * b + c", "(+ (* a b) c)");
    check_expr("a - b - c", "(- (- a b) c)");
    check_expr("a / b * c", "(* (/ a b) c)");
    check_expr("a * b @ c", "(* a (@ b c))");
    check_expr("a @ b @ c", "(@ (@ a b) c)");
    check_expr("a + b < c * d", "(< (+ a b) (* c d))");
    check_expr("x as f32 as i8", "(as (as x f32) i8)");
    check_expr("(a + b) * c", "(* (+ a b) c)");
    check_expr("- - x", "(neg (neg x))");
    check_expr("f(x)[0]", "(index (call f x) 0)");
    check_expr("x[0][1]", "(index (index x 0) 1)");
    check_expr("(a < b) == c", "(== (< a b) c)");
}

#[test]
fn literals() {
    check_expr("1", "1");
    check_expr("0.5", "0.5");
    check_expr("1e-5", "1e-5");
    check_expr("2E3", "2000.0");
    check_expr("1.5e2", "150.0");
    check_expr("true != false", "(!= true false)");
    check_expr("\"a\\\"b\\n\"", "\"a\\\"b\\n\"");
    check_expr("9223372036854775807", "9223372036854775807");
}

#[test]
fn calls_lists_slices_tuples() {
    check_expr("softmax(x, axis: -1)", "(call softmax x axis=(neg 1))");
    check_expr(
        "conv2d(x, w, stride: [1, 1], padding: [0, 0],)",
        "(call conv2d x w stride=[1 1] padding=[0 0])",
    );
    check_expr(
        "quantize(x, dtype: i8, scale: s, axis: none)",
        "(call quantize x dtype=i8 scale=s axis=none)",
    );
    check_expr(
        "einsum(\"bhqd,bhkd->bhqk\", q, k)",
        "(call einsum \"bhqd,bhkd->bhqk\" q k)",
    );
    check_expr("f()", "(call f)");
    check_expr("concat([a, b,], axis: 1)", "(call concat [a b] axis=1)");
    check_expr("[]", "[]");
    check_expr("x[0:16, :, 3]", "(index x 0:16 : 3)");
    check_expr("x[a:, :b, -1]", "(index x a: :b (neg 1))");
    check_expr("x[1 + 2 : n - 1]", "(index x (+ 1 2):(- n 1))");
    check_expr("(a, b)", "(tuple a b)");
    check_expr("(a, b, c,)", "(tuple a b c)");
    check_expr("reshape(t, [B, S, 4, 8])", "(call reshape t [B S 4 8])");
}

fn parse_ok(src: &str) -> Program {
    parse(src).unwrap_or_else(|d| panic!("{src}: {d:?}"))
}

#[test]
fn functions_and_lets() {
    let src = "fn f(x: f32[B, 784], s: f32,) -> (f32[B*S, 256], i8) {\n\
               let y = x;\n let z: f32[B] = y;\n let (a, b) = g(x);\n (a, b)\n}\n\
               fn g(x: f32) -> f32 { x }";
    let p = parse_ok(src);
    assert_eq!(p.funcs.len(), 2);
    let f = &p.funcs[0];
    assert_eq!(f.name.name, "f");
    assert_eq!(f.params.len(), 2);
    assert_eq!(f.params[1].ty.dims, None);
    assert_eq!(text(src, f.params[0].ty.span), "f32[B, 784]");
    match &f.ret {
        RetType::Tuple(ts, span) => {
            assert_eq!(ts.len(), 2);
            assert_eq!(text(src, *span), "(f32[B*S, 256], i8)");
            let dims = ts[0].dims.as_ref().unwrap();
            match &dims[0] {
                DimExpr::Bin(a, DimOp::Mul, b, s) => {
                    assert!(matches!(**a, DimExpr::Name(ref i) if i.name == "B"));
                    assert!(matches!(**b, DimExpr::Name(ref i) if i.name == "S"));
                    assert_eq!(text(src, *s), "B*S");
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.body.len(), 3);
    assert_eq!(text(src, f.body[0].span), "let y = x;");
    assert!(f.body[1].ty.is_some());
    match &f.body[2].pattern {
        LetPattern::Tuple(names, span) => {
            assert_eq!(names.len(), 2);
            assert_eq!(text(src, *span), "(a, b)");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sexp(&f.tail), "(tuple a b)");
    assert!(text(src, f.span).starts_with("fn f(") && text(src, f.span).ends_with('}'));
    assert_eq!(text(src, p.funcs[1].span), "fn g(x: f32) -> f32 { x }");
}

#[test]
fn dim_expressions() {
    let src = "fn f(x: f32[(N + 1) / 2, -1 + B, 3 * S - 2]) -> bool { true }";
    let p = parse_ok(src);
    let TypeExpr { dims, dtype, .. } = &p.funcs[0].params[0].ty;
    assert_eq!(*dtype, DType::F32);
    let dims = dims.as_ref().unwrap();
    assert!(matches!(dims[0], DimExpr::Bin(_, DimOp::Div, _, _)));
    assert!(
        matches!(dims[1], DimExpr::Bin(ref a, DimOp::Add, _, _) if matches!(**a, DimExpr::Neg(..)))
    );
    assert!(
        matches!(dims[2], DimExpr::Bin(ref a, DimOp::Sub, _, _) if matches!(**a, DimExpr::Bin(_, DimOp::Mul, _, _)))
    );
    assert_eq!(text(src, dims[2].span()), "3 * S - 2");
}

#[test]
fn expression_spans() {
    let src = "a @ b as f32 + (c)";
    let e = parse_expr(src).unwrap();
    assert_eq!(text(src, e.span), src);
    let ExprKind::Binary(_, l, r) = &e.kind else {
        panic!()
    };
    assert_eq!(text(src, l.span), "a @ b as f32");
    // Parentheses are part of the span of the expression they enclose.
    assert_eq!(text(src, r.span), "(c)");
    let ExprKind::Binary(_, _, cast) = &l.kind else {
        panic!()
    };
    let ExprKind::Cast(_, _, dspan) = &cast.kind else {
        panic!()
    };
    assert_eq!(text(src, cast.span), "b as f32");
    assert_eq!(text(src, *dspan), "f32");

    let src = "-x[1:2]";
    let e = parse_expr(src).unwrap();
    assert_eq!(text(src, e.span), "-x[1:2]");
    let ExprKind::Neg(inner) = &e.kind else {
        panic!()
    };
    assert_eq!(text(src, inner.span), "x[1:2]");
    let ExprKind::Index(_, items) = &inner.kind else {
        panic!()
    };
    let IndexItem::Range { span, .. } = &items[0] else {
        panic!()
    };
    assert_eq!(text(src, *span), "1:2");

    let src = "softmax(h, axis: -1)";
    let e = parse_expr(src).unwrap();
    assert_eq!(text(src, e.span), src);
    let ExprKind::Call { callee, named, .. } = &e.kind else {
        panic!()
    };
    assert_eq!(text(src, callee.span), "softmax");
    assert_eq!(text(src, named[0].0.span), "axis");
    assert_eq!(text(src, named[0].1.span), "-1");
}

#[test]
fn errors() {
    let (m, t) = error_of("fn f(a: f32) -> bool { a < a < a }");
    assert_eq!(m, "comparison operators cannot be chained");
    assert_eq!(t, "<");
    let d = &parse("fn f(a: f32) -> bool { a < a < a }").unwrap_err()[0];
    assert!(d
        .hint
        .as_deref()
        .unwrap()
        .contains("comparisons do not chain"));

    let (m, t) = error_of("fn f(a: f32) -> f32 { let b = a }");
    assert_eq!(m, "expected `;` after `let` statement, found `}`");
    assert_eq!(t, "}");

    let (m, t) = error_of("fn f(a: f64) -> f32 { a }");
    assert_eq!(m, "unknown dtype `f64`");
    assert_eq!(t, "f64");

    let (m, t) = error_of("fn f(a: f32) -> f32 { softmax(axis: -1, a) }");
    assert_eq!(m, "positional argument after a named argument");
    assert_eq!(t, "a");

    let (m, _) = error_of("fn f(a: f32) -> f32 { a");
    assert_eq!(m, "expected `}`, found end of file");

    let (m, t) = error_of("fn f(a: f32) -> f32 { 99999999999999999999 }");
    assert!(m.contains("does not fit in 64 bits"), "{m}");
    assert_eq!(t, "99999999999999999999");

    let (m, t) = error_of("fn f(a: f32) -> f32 { \"abc }");
    assert_eq!(m, "unterminated string literal");
    assert_eq!(t, "\"abc }");
}

#[test]
fn nesting_limits() {
    // Brackets: rejected by the pre-pass.
    let deep = format!(
        "fn f(x: f32) -> f32 {{ {}x{} }}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let d = parse(&deep).unwrap_err();
    assert!(d[0].message.contains("nested too deeply"), "{:?}", d[0]);

    // Long operator chains and unary chains: rejected by the grammar actions.
    for body in [
        "x".to_string() + &" + x".repeat(100_000),
        "-".repeat(100_000) + "x",
        "x".to_string() + &" as f32".repeat(100_000),
        "x".to_string() + &"[0]".repeat(100_000),
    ] {
        let src = format!("fn f(x: f32) -> f32 {{ {body} }}");
        let d = parse(&src).unwrap_err();
        assert!(d[0].message.contains("nested too deeply"), "{:?}", d[0]);
    }

    // Up to the limit is fine.
    let ok = format!(
        "fn f(x: f32) -> f32 {{ {}x{} }}",
        "(".repeat(MAX_NESTING - 1),
        ")".repeat(MAX_NESTING - 1)
    );
    parse_ok(&ok);
    let chain = "x".to_string() + &" + x".repeat(MAX_NESTING - 1);
    parse_ok(&format!("fn f(x: f32) -> f32 {{ {chain} }}"));
}

#[test]
fn never_panics_on_garbage() {
    let inputs = [
        "",
        "fn",
        "fn f(",
        "fn f() -> f32 {",
        "}}}}",
        "\"",
        "\\",
        "é",
        "fn é",
        "1e",
        "1e+",
        ".5",
        "2.",
        "\u{0}",
        "f32[",
        "let",
        "fn f() -> f32 { x[ }",
        "fn f() -> f32 { (,) }",
        "fn f() -> () { 1 }",
        "//",
        "/",
        "fn f(x: f32[]) -> f32 { x }",
    ];
    for src in inputs {
        let _ = parse(src);
        let _ = parse_expr(src);
    }
}

mod robustness {
    use proptest::prelude::*;
    use tessera_frontend::diag::render;
    use tessera_frontend::parser::parse;

    const PIECES: &[&str] = &[
        "fn",
        "let",
        "as",
        "f32",
        "i8",
        "bool",
        "x",
        "f",
        "B",
        "axis",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        ";",
        "->",
        "=",
        "+",
        "-",
        "*",
        "/",
        "@",
        "<",
        "<=",
        "==",
        "!=",
        "1",
        "0.5",
        "1e-5",
        "2.",
        "\"ij->j\"",
        "\"",
        "\\",
        "none",
        "true",
        " ",
        "\n",
        "//",
        "é",
        "$",
    ];

    proptest! {
        /// Token soup never makes the parser or the renderer panic.
        #[test]
        fn token_soup(idx in proptest::collection::vec(0..PIECES.len(), 0..60)) {
            let src: String = idx.iter().map(|&i| PIECES[i]).collect::<Vec<_>>().join(" ");
            if let Err(d) = parse(&src) {
                prop_assert!(!d.is_empty());
                let _ = render(&d, "soup.tsr", &src, false);
                let _ = render(&d, "soup.tsr", &src, true);
            }
        }

        /// Neither do arbitrary strings.
        #[test]
        fn any_string(src in "\\PC{0,80}") {
            if let Err(d) = parse(&src) {
                let _ = render(&d, "any.tsr", &src, false);
            }
        }
    }

    #[test]
    fn render_clamps_bad_spans() {
        use tessera_dialects::Span;
        use tessera_frontend::Diagnostic;
        let src = "é\nab";
        let d = Diagnostic::error("m")
            .primary(Span::new(1, 99), "inside a char, past the end")
            .secondary(Span::new(5, 2), "reversed")
            .hint("h");
        let out = render(&[d], "f.tsr", src, false);
        assert!(out.starts_with("error: m"), "{out}");
        assert!(out.contains("= hint: h"), "{out}");
        assert_eq!(tessera_frontend::diag::line_col(src, 0), (1, 1));
        assert_eq!(tessera_frontend::diag::line_col(src, 2), (1, 2));
        assert_eq!(tessera_frontend::diag::line_col(src, 4), (2, 2));
        assert_eq!(tessera_frontend::diag::line_col(src, 1000), (2, 3));
    }
}
