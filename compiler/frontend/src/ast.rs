//! The abstract syntax tree of a `.tsr` program (DSL.md §1-4). Every node carries its span.

use tessera_dialects::{DType, Span};

/// A whole file.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub funcs: Vec<FnDecl>,
}

/// A name with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `fn NAME(PARAM: TYPE, ...) -> RET { STMT* EXPR }`
#[derive(Clone, Debug, PartialEq)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    /// One type, or several written `-> (T, U)`.
    pub ret: RetType,
    pub body: Vec<Stmt>,
    /// The final expression; a tuple `(a, b)` for several results.
    pub tail: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RetType {
    Single(TypeExpr),
    /// `-> (T, U, ...)`, at least two.
    Tuple(Vec<TypeExpr>, Span),
}

/// `f32[B, 784]`, or a bare `f32` (rank 0, `dims` is `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub dtype: DType,
    pub dims: Option<Vec<DimExpr>>,
    pub span: Span,
}

/// A size in a type: an integer, a name, or `+ - * /` of sizes.
#[derive(Clone, Debug, PartialEq)]
pub enum DimExpr {
    Int(i64, Span),
    Name(Ident),
    Neg(Box<DimExpr>, Span),
    Bin(Box<DimExpr>, DimOp, Box<DimExpr>, Span),
}

impl DimExpr {
    pub fn span(&self) -> Span {
        match self {
            DimExpr::Int(_, s) | DimExpr::Neg(_, s) | DimExpr::Bin(_, _, _, s) => *s,
            DimExpr::Name(i) => i.span,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DimOp {
    Add,
    Sub,
    Mul,
    /// Floor division.
    Div,
}

/// `let NAME = EXPR;`, `let NAME: TYPE = EXPR;` or `let (a, b) = f(x);`
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub pattern: LetPattern,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LetPattern {
    Name(Ident),
    /// `(a, b, ...)`, at least two.
    Tuple(Vec<Ident>, Span),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer literal (non-negative; `-2` is `Neg(2)`).
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A string literal (einsum equations), escapes resolved.
    Str(String),
    /// A dtype used as a value (`dtype: i8`).
    DType(DType),
    /// `none` (`axis: none`).
    None,
    /// A name: a tensor binding, or a symbolic size inside a size position.
    Var(String),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x as bf16`; the span is the dtype's.
    Cast(Box<Expr>, DType, Span),
    /// `x[0:16, :, 3]`
    Index(Box<Expr>, Vec<IndexItem>),
    /// `name(positional..., named: value, ...)`
    Call {
        callee: Ident,
        args: Vec<Expr>,
        named: Vec<(Ident, Expr)>,
    },
    /// `[a, b, ...]`
    List(Vec<Expr>),
    /// `(a, b, ...)`, at least two: only as a function's final expression.
    Tuple(Vec<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
        }
    }
}

/// One position inside `x[...]`.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    /// An integer index: the dimension is dropped.
    Index(Expr),
    /// `a:b`, `a:`, `:b` or `:`.
    Range {
        start: Option<Expr>,
        end: Option<Expr>,
        span: Span,
    },
}
