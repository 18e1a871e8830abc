//! The `.tsr` parser: drives the lalrpop grammar and turns its errors into diagnostics.
//!
//! [`parse`] runs in three steps: the lexer (all lexing errors are reported together), a cheap
//! pass over the tokens that rejects brackets nested more than [`MAX_NESTING`] deep, and the
//! LR parser, whose actions also reject expression and size trees deeper than
//! [`MAX_NESTING`]. A parse error stops at the first one: "expected `;` after `let` statement,
//! found `}`", with a short list of what was expected in user terms and a hint where one helps.
//! No input makes it panic, loop or overflow the stack.

use crate::ast::{BinOp, DimExpr, DimOp, Expr, ExprKind, Ident, IndexItem, Program};
use crate::diag::Diagnostic;
use crate::lexer::{self, Spanned, Tok};
use lalrpop_util::ParseError;
use tessera_dialects::{DType, Span};

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_qualifications)]
    grammar
);

/// The deepest nesting accepted: of brackets `( [ {`, and of expression and size trees (each
/// operator, call, index, list or unary minus is one level). Deeper input is a clean error,
/// so that recursive passes over the AST (and its `Drop`) stay far from the stack limit.
pub const MAX_NESTING: usize = 256;

/// At most this many lexing errors are reported for one file.
pub const MAX_LEX_ERRORS: usize = 20;

/// Parses a whole program.
pub fn parse(src: &str) -> Result<Program, Vec<Diagnostic>> {
    let tokens = prepare(src)?;
    grammar::ProgramParser::new()
        .parse(tokens.iter().cloned().map(Ok::<_, Diagnostic>))
        .map_err(|e| vec![syntax_error(e, &tokens, src)])
}

/// Parses one expression (for tests and interactive use).
pub fn parse_expr(src: &str) -> Result<Expr, Vec<Diagnostic>> {
    let tokens = prepare(src)?;
    grammar::ExprParser::new()
        .parse(tokens.iter().cloned().map(Ok::<_, Diagnostic>))
        .map(|d| d.node)
        .map_err(|e| vec![syntax_error(e, &tokens, src)])
}

/// Lexes and checks bracket nesting.
fn prepare(src: &str) -> Result<Vec<Spanned<'_>>, Vec<Diagnostic>> {
    if u32::try_from(src.len()).is_err() {
        return Err(vec![Diagnostic::error(
            "source file is too large (at most 4 GiB)",
        )]);
    }
    let (tokens, mut errors) = lexer::lex(src);
    if !errors.is_empty() {
        errors.truncate(MAX_LEX_ERRORS);
        return Err(errors);
    }
    let mut depth = 0usize;
    for (l, tok, r) in &tokens {
        match tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(vec![Diagnostic::error(format!(
                        "brackets are nested too deeply (more than {MAX_NESTING} levels)"
                    ))
                    .primary(Span::new(*l, *r), "too deep")
                    .hint("split the expression into several `let` statements")]);
                }
            }
            Tok::RParen | Tok::RBracket | Tok::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(tokens)
}

// ---------------------------------------------------------------------------------------------
// Helpers for the grammar's actions.

/// A node with the depth of its tree (a leaf is 1).
#[derive(Debug)]
pub struct D<T> {
    pub node: T,
    pub depth: u32,
}

impl<T> D<T> {
    pub(crate) fn leaf(node: T) -> D<T> {
        D { node, depth: 1 }
    }
}

/// One call argument, before the positional/named split.
pub(crate) enum Arg {
    Positional(D<Expr>),
    Named(Ident, D<Expr>),
}

type PResult<'a, T> = Result<T, ParseError<usize, Tok<'a>, Diagnostic>>;

fn nested<'a, T>(node: T, depth: u32, at: Span) -> PResult<'a, D<T>> {
    if depth as usize > MAX_NESTING {
        return Err(ParseError::User {
            error: Diagnostic::error(format!(
                "expression is nested too deeply (more than {MAX_NESTING} levels)"
            ))
            .primary(at, "too deep")
            .hint("split the expression into several `let` statements"),
        });
    }
    Ok(D { node, depth })
}

fn max_depth<'x, T: 'x>(items: impl IntoIterator<Item = &'x D<T>>) -> u32 {
    items.into_iter().map(|d| d.depth).max().unwrap_or(0)
}

pub(crate) fn leaf(kind: ExprKind, l: usize, r: usize) -> D<Expr> {
    D::leaf(Expr {
        kind,
        span: Span::new(l, r),
    })
}

pub(crate) fn bin<'a>(a: D<Expr>, op: BinOp, b: D<Expr>, op_span: Span) -> PResult<'a, D<Expr>> {
    let depth = 1 + a.depth.max(b.depth);
    let span = a.node.span.join(b.node.span);
    let kind = ExprKind::Binary(op, Box::new(a.node), Box::new(b.node));
    nested(Expr { kind, span }, depth, op_span)
}

pub(crate) fn cast<'a>(e: D<Expr>, dtype: DType, dtype_span: Span) -> PResult<'a, D<Expr>> {
    let span = e.node.span.join(dtype_span);
    let kind = ExprKind::Cast(Box::new(e.node), dtype, dtype_span);
    nested(Expr { kind, span }, e.depth + 1, dtype_span)
}

pub(crate) fn neg<'a>(l: usize, e: D<Expr>) -> PResult<'a, D<Expr>> {
    let span = Span::new(l, e.node.span.end as usize);
    let kind = ExprKind::Neg(Box::new(e.node));
    nested(Expr { kind, span }, e.depth + 1, Span::new(l, l + 1))
}

pub(crate) fn index<'a>(
    e: D<Expr>,
    items: Vec<D<IndexItem>>,
    brackets: Span,
) -> PResult<'a, D<Expr>> {
    let depth = 1 + e.depth.max(max_depth(&items));
    let span = e.node.span.join(brackets);
    let kind = ExprKind::Index(
        Box::new(e.node),
        items.into_iter().map(|i| i.node).collect(),
    );
    nested(Expr { kind, span }, depth, brackets)
}

pub(crate) fn range(start: Option<D<Expr>>, end: Option<D<Expr>>, span: Span) -> D<IndexItem> {
    let depth = 1 + max_depth(start.iter().chain(end.iter()));
    D {
        node: IndexItem::Range {
            start: start.map(|d| d.node),
            end: end.map(|d| d.node),
            span,
        },
        depth,
    }
}

pub(crate) fn call<'a>(callee: Ident, args: Vec<Arg>, r: usize) -> PResult<'a, D<Expr>> {
    let span = Span::new(callee.span.start as usize, r);
    let mut positional = Vec::new();
    let mut named: Vec<(Ident, Expr)> = Vec::new();
    let mut depth = 0;
    for arg in args {
        match arg {
            Arg::Positional(e) => {
                if let Some((first, _)) = named.first() {
                    return Err(ParseError::User {
                        error: Diagnostic::error("positional argument after a named argument")
                            .primary(e.node.span, "positional argument")
                            .secondary(first.span, "named argument given before it")
                            .hint("named arguments come last, e.g. `softmax(x, axis: -1)`"),
                    });
                }
                depth = depth.max(e.depth);
                positional.push(e.node);
            }
            Arg::Named(n, e) => {
                depth = depth.max(e.depth);
                named.push((n, e.node));
            }
        }
    }
    let callee_span = callee.span;
    let kind = ExprKind::Call {
        callee,
        args: positional,
        named,
    };
    nested(Expr { kind, span }, depth + 1, callee_span)
}

pub(crate) fn paren(mut e: D<Expr>, l: usize, r: usize) -> D<Expr> {
    e.node.span = Span::new(l, r);
    e
}

pub(crate) fn tuple<'a>(items: Vec<D<Expr>>, l: usize, r: usize) -> PResult<'a, D<Expr>> {
    let depth = 1 + max_depth(&items);
    let kind = ExprKind::Tuple(items.into_iter().map(|d| d.node).collect());
    nested(
        Expr {
            kind,
            span: Span::new(l, r),
        },
        depth,
        Span::new(l, l + 1),
    )
}

pub(crate) fn list<'a>(items: Vec<D<Expr>>, l: usize, r: usize) -> PResult<'a, D<Expr>> {
    let depth = 1 + max_depth(&items);
    let kind = ExprKind::List(items.into_iter().map(|d| d.node).collect());
    nested(
        Expr {
            kind,
            span: Span::new(l, r),
        },
        depth,
        Span::new(l, l + 1),
    )
}

pub(crate) fn dim_bin<'a>(
    a: D<DimExpr>,
    op: DimOp,
    b: D<DimExpr>,
    op_span: Span,
) -> PResult<'a, D<DimExpr>> {
    let depth = 1 + a.depth.max(b.depth);
    let span = a.node.span().join(b.node.span());
    let node = DimExpr::Bin(Box::new(a.node), op, Box::new(b.node), span);
    nested(node, depth, op_span)
}

pub(crate) fn dim_neg<'a>(l: usize, e: D<DimExpr>) -> PResult<'a, D<DimExpr>> {
    let span = Span::new(l, e.node.span().end as usize);
    nested(
        DimExpr::Neg(Box::new(e.node), span),
        e.depth + 1,
        Span::new(l, l + 1),
    )
}

// ---------------------------------------------------------------------------------------------
// Error messages.

/// Turns a lalrpop error into a diagnostic.
fn syntax_error(
    err: ParseError<usize, Tok<'_>, Diagnostic>,
    tokens: &[Spanned<'_>],
    src: &str,
) -> Diagnostic {
    match err {
        ParseError::User { error } => error,
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let at = tokens.partition_point(|t| t.0 < l);
            unexpected(Some((Span::new(l, r), &tok)), at, &expected, tokens)
        }
        ParseError::UnrecognizedEof { expected, .. } => {
            unexpected(None, tokens.len(), &expected, tokens)
        }
        ParseError::ExtraToken { token: (l, tok, r) } => {
            Diagnostic::error(format!("unexpected {}", tok.describe()))
                .primary(Span::new(l, r), "unexpected")
        }
        ParseError::InvalidToken { location } => Diagnostic::error("invalid token").primary(
            Span::new(location, (location + 1).min(src.len())),
            "invalid token",
        ),
    }
}

/// The parts of lalrpop's expected-terminal set, as the grammar spells them.
struct Expected<'e>(Vec<&'e str>);

impl Expected<'_> {
    fn has(&self, t: &str) -> bool {
        self.0.contains(&t)
    }

    /// An expression may start here.
    fn expr(&self) -> bool {
        self.has("Float")
    }

    /// A size (in a type's brackets) may start here.
    fn size(&self) -> bool {
        !self.expr() && self.has("Int") && self.has("Ident")
    }

    /// A binary operator may come here.
    fn operator(&self) -> bool {
        self.has("*") || self.has("@")
    }

    /// The short user-facing list of what was expected.
    fn describe(&self) -> Vec<String> {
        let mut items = Vec::new();
        if self.has("let") {
            items.push("`let`".to_string());
        }
        if self.expr() {
            items.push("an expression".to_string());
        }
        if self.size() {
            items.push("a size".to_string());
        }
        for t in [";", ",", ":", ")", "]", "}", "=", "->", "{", "fn"] {
            if self.has(t) {
                items.push(format!("`{t}`"));
            }
        }
        if !self.expr() && !self.size() {
            if self.has("Ident") {
                items.push("a name".to_string());
            }
            if self.has("Dtype") {
                items.push("a dtype".to_string());
            }
            if items.is_empty() {
                for t in ["(", "["] {
                    if self.has(t) {
                        items.push(format!("`{t}`"));
                    }
                }
            }
        }
        if items.is_empty() && self.operator() {
            items.push("an operator".to_string());
        }
        if items.is_empty() {
            items.extend(self.0.iter().take(4).map(|t| format!("`{t}`")));
        }
        items.truncate(5);
        items
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// An unexpected token (`found` is `None` at the end of the file) at token index `at`.
fn unexpected(
    found: Option<(Span, &Tok<'_>)>,
    at: usize,
    expected: &[String],
    tokens: &[Spanned<'_>],
) -> Diagnostic {
    let exp = Expected(expected.iter().map(|s| s.trim_matches('"')).collect());
    let items = exp.describe();
    let prev = at.checked_sub(1).and_then(|i| tokens.get(i));
    let (span, found_text) = match found {
        Some((span, tok)) => (span, tok.describe()),
        None => {
            let end = prev.map_or(0, |p| p.2);
            (Span::new(end, end), "end of file".to_string())
        }
    };
    let found_tok = found.map(|(_, t)| t);

    let want = join_or(&items);
    let mut message = if items == ["`;`"] {
        format!("expected `;` after `let` statement, found {found_text}")
    } else {
        format!("expected {want}, found {found_text}")
    };
    let mut label = format!("expected {want}");
    let mut hint: Option<String> = None;
    let mut secondary: Vec<(Span, String)> = Vec::new();

    let chained = previous_comparison(tokens, at);
    match found_tok {
        Some(tok) if tok.is_comparison() && !exp.expr() && chained.is_some() => {
            message = "comparison operators cannot be chained".to_string();
            label = "second comparison".to_string();
            hint =
                Some("comparisons do not chain; use parentheses, e.g. `(a < b) == c`".to_string());
            if let Some(first) = chained {
                secondary.push((first, "first comparison".to_string()));
            }
        }
        Some(Tok::Ident(name)) if exp.has("Dtype") && !exp.expr() && !exp.has("Ident") => {
            message = format!("unknown dtype `{name}`");
            label = "not a dtype".to_string();
            hint = Some(format!("the dtypes are {}", dtype_list()));
        }
        Some(Tok::LParen) if matches!(prev, Some((_, Tok::Dtype(_), _))) => {
            if let Some((_, Tok::Dtype(d), _)) = prev {
                hint = Some(format!(
                    "there are no conversion functions; write `x as {}`",
                    d.name()
                ));
            }
        }
        Some(Tok::RBrace) if exp.has("let") && exp.expr() => {
            hint = Some(
                "a function body ends with the expression it returns, e.g. `relu(h)`".to_string(),
            );
        }
        Some(Tok::LBrace) if exp.has("->") => {
            hint = Some(
                "every function declares its result type: `fn f(x: f32[N]) -> f32[N] { ... }`"
                    .to_string(),
            );
        }
        Some(Tok::Plus) if exp.expr() => {
            hint = Some("there is no unary `+`".to_string());
        }
        Some(Tok::Assign) if exp.operator() => {
            hint = Some("`=` only appears in `let`; compare with `==`".to_string());
        }
        Some(Tok::Let) if exp.has("fn") => {
            hint = Some(
                "a program is a list of `fn` declarations; `let` goes inside a function body"
                    .to_string(),
            );
        }
        Some(
            tok @ (Tok::Fn
            | Tok::Let
            | Tok::As
            | Tok::True
            | Tok::False
            | Tok::None
            | Tok::Dtype(_)),
        ) if exp.has("Ident") && !exp.expr() => {
            let word = match tok {
                Tok::Dtype(d) => d.name(),
                other => other.text(),
            };
            hint = Some(format!(
                "`{word}` is a reserved word and cannot be used as a name"
            ));
        }
        _ => {}
    }
    if let Some(open) = unclosed(tokens, at, found_tok) {
        secondary.push(open);
    }
    if items == ["`;`"] && secondary.is_empty() {
        if let (Some((pl, _, pr)), Some((span, _))) = (prev, found) {
            if span.start as usize > *pr {
                secondary.push((Span::new(*pl, *pr), "`;` expected after this".to_string()));
            }
        }
    }

    let mut d = Diagnostic::error(message).primary(span, label);
    for (s, m) in secondary {
        d = d.secondary(s, m);
    }
    if let Some(h) = hint {
        d = d.hint(h);
    }
    d
}

fn dtype_list() -> String {
    let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
    names.join(", ")
}

/// The comparison operator before token `at` in the same expression, if any.
fn previous_comparison(tokens: &[Spanned<'_>], at: usize) -> Option<Span> {
    let mut depth = 0i64;
    for (l, tok, r) in tokens[..at.min(tokens.len())].iter().rev() {
        match tok {
            Tok::RParen | Tok::RBracket | Tok::RBrace => depth += 1,
            Tok::LParen | Tok::LBracket | Tok::LBrace => {
                if depth == 0 {
                    return None;
                }
                depth -= 1;
            }
            Tok::Comma | Tok::Semi | Tok::Assign | Tok::Colon if depth == 0 => return None,
            t if depth == 0 && t.is_comparison() => return Some(Span::new(*l, *r)),
            _ => {}
        }
    }
    None
}

/// At the end of the file, or at a closing bracket that does not match: the innermost
/// bracket still open before token `at`.
fn unclosed(tokens: &[Spanned<'_>], at: usize, found: Option<&Tok<'_>>) -> Option<(Span, String)> {
    let wanted_closer = |open: &Tok<'_>| match open {
        Tok::LParen => Tok::RParen,
        Tok::LBracket => Tok::RBracket,
        _ => Tok::RBrace,
    };
    match found {
        None | Some(Tok::RParen | Tok::RBracket | Tok::RBrace) => {}
        Some(_) => return None,
    }
    let mut stack: Vec<usize> = Vec::new();
    for (i, (_, tok, _)) in tokens[..at.min(tokens.len())].iter().enumerate() {
        match tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => stack.push(i),
            Tok::RParen | Tok::RBracket | Tok::RBrace => {
                stack.pop();
            }
            _ => {}
        }
    }
    let &open = stack.last()?;
    let (l, tok, r) = &tokens[open];
    if let Some(f) = found {
        if *f == wanted_closer(tok) {
            return None;
        }
    }
    Some((Span::new(*l, *r), format!("unclosed `{}`", tok.text())))
}
