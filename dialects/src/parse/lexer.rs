//! The `.tir` lexer: tokens of the IR text form (logos).

use logos::Logos;

/// One token. Identifiers may contain dots, so `graph.add` and `tile.kernel` are one token.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
pub enum Tok {
    /// `%name` or `%0`.
    #[regex(r"%[A-Za-z0-9_.]+")]
    Value,
    /// `@name`.
    #[regex(r"@[A-Za-z_][A-Za-z0-9_.]*")]
    Symbol,
    /// A whole tile type, `tile<64x128xf32>`; its inside is split by the parser.
    #[regex(r"tile<[0-9a-z]*>")]
    TileType,
    #[regex(r"[A-Za-z_][A-Za-z0-9_.]*")]
    Ident,
    #[regex(r"[0-9]+")]
    Int,
    #[regex(r"[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?")]
    #[regex(r"[0-9]+[eE][+-]?[0-9]+")]
    Float,
    #[regex(r#""([^"\\]|\\.)*""#)]
    Str,
    #[token("->")]
    Arrow,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token("=")]
    Eq,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
}

impl Tok {
    /// How the token is named in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Tok::Value => "a value `%name`",
            Tok::Symbol => "a symbol `@name`",
            Tok::TileType => "a tile type",
            Tok::Ident => "an identifier",
            Tok::Int => "an integer",
            Tok::Float => "a float",
            Tok::Str => "a string",
            Tok::Arrow => "`->`",
            Tok::LParen => "`(`",
            Tok::RParen => "`)`",
            Tok::LBrace => "`{`",
            Tok::RBrace => "`}`",
            Tok::LBracket => "`[`",
            Tok::RBracket => "`]`",
            Tok::Lt => "`<`",
            Tok::Gt => "`>`",
            Tok::Comma => "`,`",
            Tok::Colon => "`:`",
            Tok::Eq => "`=`",
            Tok::Plus => "`+`",
            Tok::Minus => "`-`",
            Tok::Star => "`*`",
            Tok::Slash => "`/`",
        }
    }
}
