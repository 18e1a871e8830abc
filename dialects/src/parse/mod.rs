//! The `.tir` reader: a hand-written recursive-descent parser over the logos lexer.
//!
//! It reads everything [`crate::print`] writes, resolves `%name` references, checks
//! operand types and attribute kinds against the declarations, and records every
//! operation's and function's span in its `Loc`. It never panics: nesting is limited,
//! size expressions are bounded, and trailing garbage is rejected.

mod attrs;
mod body;
mod lexer;
mod sizes;
mod types;

use crate::ir::{Module, Span};
use lexer::Tok;
use logos::Logos;
use std::fmt;

/// A syntax or reference error at a byte range of the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub span: Span,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (bytes {}..{})",
            self.message, self.span.start, self.span.end
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole module: functions and kernels, in order, up to the end of the input.
pub fn parse_module(src: &str) -> Result<Module, ParseError> {
    let mut p = Parser::new(src)?;
    let mut m = Module::default();
    while !p.at_end() {
        let f = p.func()?;
        if m.funcs.iter().any(|g| g.name == f.name) {
            return Err(ParseError {
                span: f.loc.0.unwrap_or_default(),
                message: format!("function `@{}` is defined twice", f.name),
            });
        }
        m.funcs.push(f);
    }
    Ok(m)
}

/// The deepest nesting of regions, parentheses and lists the parser accepts.
const MAX_DEPTH: usize = 64;

/// The token stream and a cursor into it.
pub(crate) struct Parser<'s> {
    src: &'s str,
    toks: Vec<(Tok, Span)>,
    pos: usize,
    depth: usize,
}

type PResult<T> = Result<T, ParseError>;

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> PResult<Parser<'s>> {
        let mut toks = Vec::new();
        let mut lex = Tok::lexer(src);
        while let Some(t) = lex.next() {
            let r = lex.span();
            let span = Span::new(r.start, r.end);
            match t {
                Ok(t) => toks.push((t, span)),
                Err(()) => {
                    let text: String = lex.slice().chars().take(20).collect();
                    return Err(ParseError {
                        span,
                        message: format!("unexpected character(s) `{}`", text.escape_debug()),
                    });
                }
            }
        }
        Ok(Parser {
            src,
            toks,
            pos: 0,
            depth: 0,
        })
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn peek(&self) -> Option<Tok> {
        self.toks.get(self.pos).map(|t| t.0)
    }

    /// The span of the next token, or an empty span at the end of the input.
    fn span(&self) -> Span {
        match self.toks.get(self.pos) {
            Some(t) => t.1,
            None => {
                let n = self.src.len();
                Span::new(n, n)
            }
        }
    }

    /// The span of the last consumed token.
    fn prev_span(&self) -> Span {
        match self.pos.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(t) => t.1,
            None => Span::new(0, 0),
        }
    }

    fn text(&self, span: Span) -> &'s str {
        self.src
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    fn bump(&mut self) -> (Tok, Span) {
        let t = self.toks.get(self.pos).copied();
        self.pos += 1;
        t.unwrap_or((Tok::Comma, self.span()))
    }

    fn eat(&mut self, t: Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn err<T>(&self, span: Span, message: impl Into<String>) -> PResult<T> {
        Err(ParseError {
            span,
            message: message.into(),
        })
    }

    /// "expected X, found Y" at the next token.
    fn unexpected<T>(&self, what: &str) -> PResult<T> {
        let found = match self.toks.get(self.pos) {
            Some((_, s)) => format!("`{}`", self.text(*s).chars().take(30).collect::<String>()),
            None => "the end of the input".to_string(),
        };
        self.err(self.span(), format!("expected {what}, found {found}"))
    }

    fn expect(&mut self, t: Tok) -> PResult<Span> {
        if self.peek() == Some(t) {
            Ok(self.bump().1)
        } else {
            self.unexpected(t.describe())
        }
    }

    /// Consumes the keyword `kw` (an identifier) if it is next.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.peek() == Some(Tok::Ident) && self.text(self.span()) == kw {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Enters one level of nesting; fails past [`MAX_DEPTH`].
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(
                self.span(),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            );
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}
