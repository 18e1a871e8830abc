//! The `.tsr` lexer (logos): source text to tokens with byte spans, or span diagnostics.
//!
//! Literal rules (DSL.md §2-3, §7):
//! - integers are decimal digit runs (`0`, `784`, `007`); one that does not fit in `i64` is an
//!   error, never a panic. `-` is never part of a literal: `-2` is unary minus applied to `2`.
//! - floats need digits on both sides of the point (`0.5`, `1.0e3`) or an exponent (`1e-5`,
//!   `2E8`); `2.` and `.5` are errors with a hint, and so is a float that overflows to infinity.
//! - strings are `"..."` on one line, with the escapes `\\ \" \n \t \r \0`.
//! - dtype names (`f32`, `f16`, `bf16`, `f8e4m3`, `f8e5m2`, `i8`, `i32`, `bool`) and
//!   `fn let as true false none` are keywords; every other `[A-Za-z_][A-Za-z0-9_]*` is a name.
//! - `//` starts a comment that runs to the end of the line.

use crate::diag::Diagnostic;
use logos::Logos;
use tessera_dialects::{DType, Span};

/// A lexing error, before its span is known. `sub` narrows the span to a part of the token
/// (byte offsets relative to the token's start), e.g. one bad escape in a string.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LexError {
    pub message: String,
    pub hint: Option<String>,
    pub sub: Option<(usize, usize)>,
}

impl LexError {
    fn new(message: impl Into<String>) -> LexError {
        LexError {
            message: message.into(),
            hint: None,
            sub: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> LexError {
        self.hint = Some(hint.into());
        self
    }

    fn from_lexer<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> LexError {
        let c = lex.slice().chars().next().unwrap_or('?');
        let err = LexError::new(format!("unexpected character `{}`", c.escape_debug()));
        match c {
            '!' => err.with_hint("`!=` means not-equal; there is no `!` operator"),
            '&' | '|' => err.with_hint("there are no logical operators; use `where(cond, a, b)`"),
            '%' => err.with_hint("there is no `%` operator"),
            '.' => err.with_hint("there is no `.` operator; floats are written `0.5`"),
            '\'' => err.with_hint("strings use double quotes: \"ij,jk->ik\""),
            '#' => err.with_hint("comments start with `//`"),
            _ => err,
        }
    }
}

/// A token. Literal payloads are already converted; names borrow from the source.
#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(error(LexError, LexError::from_lexer))]
#[logos(skip r"[ \t\r\n\f]+")]
// A byte-order mark (which some editors write first) is whitespace.
#[logos(skip r"\u{FEFF}")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
pub enum Tok<'s> {
    #[token("fn")]
    Fn,
    #[token("let")]
    Let,
    #[token("as")]
    As,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("none")]
    None,

    #[token("f32", |_| DType::F32)]
    #[token("f16", |_| DType::F16)]
    #[token("bf16", |_| DType::BF16)]
    #[token("f8e4m3", |_| DType::F8E4M3)]
    #[token("f8e5m2", |_| DType::F8E5M2)]
    #[token("i8", |_| DType::I8)]
    #[token("i32", |_| DType::I32)]
    #[token("bool", |_| DType::Bool)]
    Dtype(DType),

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice())]
    Ident(&'s str),

    #[regex(r"[0-9]+", lex_int)]
    Int(i64),

    #[regex(r"[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?", lex_float)]
    #[regex(r"[0-9]+[eE][+-]?[0-9]+", lex_float)]
    Float(f64),

    #[regex(r#""([^"\\\n]|\\[^\n])*""#, lex_string)]
    Str(String),

    /// Malformed literals; the callbacks always fail, so these never reach the parser.
    #[regex(r"[0-9]+\.", bad_trailing_dot)]
    #[regex(r"\.[0-9]+", bad_leading_dot)]
    #[regex(r"[0-9]+(\.[0-9]+)?[eE][+-]?", bad_exponent)]
    #[regex(r#""([^"\\\n]|\\[^\n])*"#, bad_unterminated)]
    Malformed,

    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(";")]
    Semi,
    #[token("->")]
    Arrow,
    #[token("=")]
    Assign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("@")]
    At,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
}

fn lex_int<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<i64, LexError> {
    lex.slice().parse::<i64>().map_err(|_| {
        LexError::new(format!(
            "integer literal `{}` does not fit in 64 bits",
            lex.slice()
        ))
        .with_hint(format!("integer literals are at most {}", i64::MAX))
    })
}

fn lex_float<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<f64, LexError> {
    match lex.slice().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(
            LexError::new(format!("float literal `{}` is out of range", lex.slice()))
                .with_hint("float literals must be finite 64-bit floats"),
        ),
    }
}

fn lex_string<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<String, LexError> {
    let raw = lex.slice();
    let inner = &raw[1..raw.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((j, e)) = chars.next() else {
            // The regex makes every `\` be followed by a character; stay total anyway.
            return Err(LexError::new("unfinished escape in string literal"));
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            _ => {
                let mut err = LexError::new(format!(
                    "unknown escape `\\{}` in string literal",
                    e.escape_debug()
                ))
                .with_hint("the escapes are \\\\ \\\" \\n \\t \\r \\0");
                err.sub = Some((1 + i, 1 + j + e.len_utf8()));
                return Err(err);
            }
        }
    }
    Ok(out)
}

fn bad_trailing_dot<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<(), LexError> {
    let s = lex.slice();
    Err(
        LexError::new(format!("float literal `{s}` needs digits after the point"))
            .with_hint(format!("write `{s}0`")),
    )
}

fn bad_leading_dot<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<(), LexError> {
    let s = lex.slice();
    Err(
        LexError::new(format!("float literal `{s}` needs digits before the point"))
            .with_hint(format!("write `0{s}`")),
    )
}

fn bad_exponent<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<(), LexError> {
    Err(LexError::new(format!(
        "float literal `{}` has no exponent digits",
        lex.slice()
    ))
    .with_hint("write an exponent like `1e-5`"))
}

fn bad_unterminated<'s>(_lex: &mut logos::Lexer<'s, Tok<'s>>) -> Result<(), LexError> {
    Err(LexError::new("unterminated string literal")
        .with_hint("close the string with `\"` on the same line"))
}

impl Tok<'_> {
    /// How the token is named in "found ..." messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("name `{s}`"),
            Tok::Int(v) => format!("integer `{v}`"),
            Tok::Float(v) => format!("float `{v:?}`"),
            Tok::Str(_) => "a string literal".to_string(),
            Tok::Dtype(d) => format!("dtype `{}`", d.name()),
            Tok::Malformed => "a malformed literal".to_string(),
            other => format!("`{}`", other.text()),
        }
    }

    /// The fixed spelling of a keyword or punctuation token (empty for literals and names).
    pub fn text(&self) -> &'static str {
        match self {
            Tok::Fn => "fn",
            Tok::Let => "let",
            Tok::As => "as",
            Tok::True => "true",
            Tok::False => "false",
            Tok::None => "none",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::Semi => ";",
            Tok::Arrow => "->",
            Tok::Assign => "=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::At => "@",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Dtype(_)
            | Tok::Ident(_)
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Str(_)
            | Tok::Malformed => "",
        }
    }

    /// `<`, `<=`, `>`, `>=`, `==` or `!=`.
    pub fn is_comparison(&self) -> bool {
        matches!(
            self,
            Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::EqEq | Tok::Ne
        )
    }
}

/// A token with its byte span `start..end`, the triple lalrpop consumes.
pub type Spanned<'s> = (usize, Tok<'s>, usize);

/// Lexes a whole source. Returns every token that lexed, and one diagnostic per lexing
/// error (the lexer skips the bad text and goes on, so several errors are reported at once).
pub fn lex(src: &str) -> (Vec<Spanned<'_>>, Vec<Diagnostic>) {
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    let mut lexer = Tok::lexer(src);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        match result {
            Ok(tok) => tokens.push((range.start, tok, range.end)),
            Err(err) => {
                let (start, end) = match err.sub {
                    Some((a, b)) => (range.start + a, (range.start + b).min(range.end)),
                    None => (range.start, range.end),
                };
                let label = if err.sub.is_some() {
                    "invalid escape"
                } else {
                    "invalid token"
                };
                let mut d = Diagnostic::error(err.message).primary(Span::new(start, end), label);
                if let Some(h) = err.hint {
                    d = d.hint(h);
                }
                errors.push(d);
            }
        }
    }
    (tokens, errors)
}
