//! What one REPL entry is: a `:command`, a `fn` definition, a `let` binding or an
//! expression; and when an entry is complete (balanced brackets) or needs more lines.

use tessera_dialects::Span;
use tessera_frontend::lexer::{self, Tok};
use tessera_frontend::Diagnostic;

/// One entry, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Only blanks and comments.
    Empty,
    /// `:name rest`; `rest_at` is the byte offset of `rest` in the entry.
    Command {
        name: String,
        rest: String,
        rest_at: usize,
    },
    /// One or more `fn` definitions.
    Fn,
    /// `let NAME = EXPR`, `let NAME: TYPE = EXPR` or `let (a, b) = EXPR`.
    Let(LetHead),
    /// An expression, `dsl` the byte range of the DSL text (without a final `;`).
    Expr { dsl: (usize, usize), quiet: bool },
}

/// The parts of a `let` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetHead {
    /// The names bound, with their spans.
    pub names: Vec<(String, Span)>,
    /// Whether the pattern is a tuple `(a, b)`.
    pub tuple: bool,
    /// The byte range of the value expression (after `=`, without a final `;`).
    pub value: (usize, usize),
    /// The byte range of the whole statement, without a final `;`.
    pub stmt: (usize, usize),
}

/// Whether `text` is a whole entry: brackets `( [ {` balanced (outside strings and
/// comments), and a `fn` has its body. Commands are always complete. A closing bracket
/// that does not match the last one open, or has none to close, makes the entry complete
/// too (the parser reports it): `sum(x[0:1)` is an error, not the start of more lines.
pub fn is_complete(text: &str) -> bool {
    let t = text.trim_start();
    if t.starts_with(':') {
        return true;
    }
    let mut open: Vec<char> = Vec::new();
    let mut braces = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // A string runs to the closing quote or the end of the line.
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' => open.push(c),
            '{' => {
                open.push(c);
                braces = true;
            }
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(want) {
                    return true;
                }
            }
            _ => {}
        }
    }
    if !open.is_empty() {
        return false;
    }
    // `fn f(x: f32[4]) -> f32[4]` then Enter: the body follows.
    let starts_fn = t.starts_with("fn")
        && t[2..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
    !starts_fn || braces
}

/// Classifies an entry. Lexing errors and a malformed `let` head are diagnostics against
/// the entry.
pub fn classify(text: &str) -> Result<Input, Vec<Diagnostic>> {
    let trimmed = text.trim_start();
    if let Some(cmd) = trimmed.strip_prefix(':') {
        let name_len = cmd.find(|c: char| c.is_whitespace()).unwrap_or(cmd.len());
        let name = cmd[..name_len].to_string();
        let rest = cmd[name_len..].trim_start();
        let rest_at = text.len() - rest.len();
        let rest = rest.trim_end().to_string();
        return Ok(Input::Command {
            name,
            rest,
            rest_at,
        });
    }
    let (tokens, errors) = lexer::lex(text);
    if !errors.is_empty() {
        return Err(errors);
    }
    let Some(first) = tokens.first() else {
        return Ok(Input::Empty);
    };
    // A final `;` is dropped: after an expression it keeps the result from printing.
    let (end, quiet) = match tokens.last() {
        Some((l, Tok::Semi, _)) if tokens.len() > 1 => (*l, true),
        Some((_, _, r)) => (*r, false),
        None => (text.len(), false),
    };
    if first.1 != Tok::Fn {
        if let Some(d) = second_statement(&tokens, end, 0) {
            return Err(vec![d]);
        }
    }
    match first.1 {
        Tok::Fn => Ok(Input::Fn),
        Tok::Let => let_head(text, &tokens, end).map(Input::Let),
        _ => Ok(Input::Expr {
            dsl: (first.0, end),
            quiet,
        }),
    }
}

/// The error for a `;` outside brackets before `end` (the end of the entry without a final
/// `;`): an entry is one statement (`let a = 1; let b = 2` would otherwise be a puzzling
/// syntax error at the `;`). Token offsets are shifted by `at`.
pub fn second_statement(
    tokens: &[lexer::Spanned<'_>],
    end: usize,
    at: usize,
) -> Option<Diagnostic> {
    let mut depth = 0i64;
    for (i, (l, tok, r)) in tokens.iter().enumerate() {
        match tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => depth += 1,
            Tok::RParen | Tok::RBracket | Tok::RBrace => depth -= 1,
            Tok::Semi if depth == 0 && *l < end => {
                let mut d = Diagnostic::error(
                    "an entry is one statement: this `;` ends it before the end of the entry",
                )
                .primary(Span::new(at + l, at + r), "the statement ends here")
                .hint(
                    "enter each statement on a line of its own (a `;` at the end of an entry \
                     only keeps its result from printing)",
                );
                let rest = tokens[i + 1..]
                    .iter()
                    .find(|t| !matches!(t.1, Tok::Semi) && t.0 < end);
                if let Some((start, _, _)) = rest {
                    let last = tokens
                        .iter()
                        .filter(|t| t.2 <= end)
                        .map(|t| t.2)
                        .max()
                        .unwrap_or(end);
                    d = d.secondary(Span::new(at + start, at + last), "a second statement");
                }
                return Some(d);
            }
            _ => {}
        }
    }
    None
}

fn let_head(
    text: &str,
    tokens: &[lexer::Spanned<'_>],
    end: usize,
) -> Result<LetHead, Vec<Diagnostic>> {
    let span = |t: &lexer::Spanned<'_>| Span::new(t.0, t.2);
    let bad = |at: Span, what: &str| {
        vec![
            Diagnostic::error(format!("expected {what} in a `let` binding"))
                .primary(at, format!("expected {what}"))
                .hint("write `let NAME = EXPR`, `let NAME: TYPE = EXPR` or `let (a, b) = f(x)`"),
        ]
    };
    let end_span = Span::new(text.len(), text.len());
    let mut i = 1;
    let mut names = Vec::new();
    let tuple = matches!(tokens.get(i), Some((_, Tok::LParen, _)));
    if tuple {
        i += 1;
        loop {
            match tokens.get(i) {
                Some(t @ (_, Tok::Ident(n), _)) => {
                    names.push((n.to_string(), span(t)));
                    i += 1;
                }
                Some(t) => return Err(bad(span(t), "a name")),
                None => return Err(bad(end_span, "a name")),
            }
            match tokens.get(i) {
                Some((_, Tok::Comma, _)) => i += 1,
                Some((_, Tok::RParen, _)) => {
                    i += 1;
                    break;
                }
                Some(t) => return Err(bad(span(t), "`,` or `)`")),
                None => return Err(bad(end_span, "`,` or `)`")),
            }
        }
    } else {
        match tokens.get(i) {
            Some(t @ (_, Tok::Ident(n), _)) => {
                names.push((n.to_string(), span(t)));
                i += 1;
            }
            Some(t) => return Err(bad(span(t), "a name")),
            None => return Err(bad(end_span, "a name")),
        }
    }
    // An optional `: TYPE`, then `=`.
    let mut depth = 0i64;
    loop {
        match tokens.get(i) {
            Some((_, Tok::Assign, r)) if depth == 0 => {
                let value_start = tokens.get(i + 1).map_or(*r, |t| t.0);
                if value_start >= end {
                    return Err(bad(Span::new(end, end), "a value after `=`"));
                }
                return Ok(LetHead {
                    names,
                    tuple,
                    value: (value_start, end),
                    stmt: (tokens[0].0, end),
                });
            }
            Some((_, Tok::LBracket | Tok::LParen, _)) => depth += 1,
            Some((_, Tok::RBracket | Tok::RParen, _)) => depth -= 1,
            Some(t) if i == 2 && !tuple && !matches!(t.1, Tok::Colon) => {
                return Err(bad(span(t), "`=` or `:`"))
            }
            Some(_) => {}
            None => return Err(bad(end_span, "`=`")),
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completeness() {
        assert!(is_complete("x + 1"));
        assert!(!is_complete("relu(x"));
        assert!(!is_complete("fn f(x: f32[4]) -> f32[4]"));
        assert!(!is_complete("fn f(x: f32[4]) -> f32[4] {"));
        assert!(is_complete("fn f(x: f32[4]) -> f32[4] {\n x\n}"));
        assert!(is_complete("fnord + 1"));
        assert!(is_complete(":load a(b.tsr"));
        assert!(is_complete("x) + 1"));
        assert!(is_complete("einsum(\"ij(\", x)"));
        assert!(is_complete("x // (comment"));
        // A closing bracket of the wrong kind ends the entry (the parser reports it).
        assert!(is_complete("sum(x[0:1)"));
        assert!(is_complete("(]"));
        assert!(!is_complete("f(x[0], (y"));
    }

    #[test]
    fn classifies() {
        assert_eq!(classify("  // hi").unwrap(), Input::Empty);
        assert_eq!(
            classify(":ir graph x + 1").unwrap(),
            Input::Command {
                name: "ir".into(),
                rest: "graph x + 1".into(),
                rest_at: 4
            }
        );
        assert_eq!(
            classify("x + 1;").unwrap(),
            Input::Expr {
                dsl: (0, 5),
                quiet: true
            }
        );
        let Input::Let(h) = classify("let y: f32[4] = x + 1").unwrap() else {
            panic!()
        };
        assert_eq!(h.names[0].0, "y");
        assert_eq!(h.value, (16, 21));
        let Input::Let(h) = classify("let (a, b) = f(x);").unwrap() else {
            panic!()
        };
        assert!(h.tuple);
        assert_eq!(h.names.len(), 2);
        assert_eq!(h.stmt, (0, 17));
        assert!(classify("let = 3").is_err());
        assert!(classify("let x 3").is_err());
        assert!(classify("let x =").is_err());
        assert!(classify("x $ 1").is_err());
        // One statement per entry: a `;` before the end is an error at the `;`.
        let e = classify("let a = 1; let b = 2").unwrap_err();
        assert_eq!(e[0].labels[0].span, Span::new(9, 10));
        assert!(classify("x;;").is_err());
        assert!(
            classify("f(x;").is_ok(),
            "inside brackets: the parser's error"
        );
        assert_eq!(classify("fn f() -> f32 { 1 }").unwrap(), Input::Fn);
    }
}
