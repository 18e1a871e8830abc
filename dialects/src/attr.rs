//! Operation attributes: compile-time constants attached to operations, kept in order.

use crate::dtype::DType;
use crate::sym::SymExpr;
use std::fmt;

/// An attribute value. Equality is identity: floats compare bit for bit, so `-0.0` and
/// `0.0` are different constants (CSE and the e-graph must not merge them: `x + 0.0` and
/// `x + -0.0` differ at `x = -0`) and a NaN equals itself.
#[derive(Clone, Debug)]
pub enum Attr {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    DType(DType),
    Ints(Vec<i64>),
    /// A list of (possibly symbolic) sizes.
    Sizes(Vec<SymExpr>),
    /// A reference to a function, `@name`.
    Symbol(String),
}

impl PartialEq for Attr {
    fn eq(&self, other: &Attr) -> bool {
        use Attr::*;
        match (self, other) {
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Int(a), Int(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Str(a), Str(b)) | (Symbol(a), Symbol(b)) => a == b,
            (DType(a), DType(b)) => a == b,
            (Ints(a), Ints(b)) => a == b,
            (Sizes(a), Sizes(b)) => a == b,
            _ => false,
        }
    }
}

/// The kind an attribute must have, as declared by an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    Int,
    Float,
    Bool,
    Str,
    DType,
    Ints,
    Sizes,
    Symbol,
    /// A scalar constant: `Int`, `Float` or `Bool`.
    Scalar,
}

impl AttrKind {
    pub fn name(self) -> &'static str {
        match self {
            AttrKind::Int => "integer",
            AttrKind::Float => "float",
            AttrKind::Bool => "bool",
            AttrKind::Str => "string",
            AttrKind::DType => "dtype",
            AttrKind::Ints => "integer list",
            AttrKind::Sizes => "size list",
            AttrKind::Symbol => "symbol",
            AttrKind::Scalar => "scalar",
        }
    }

    /// Whether `a` has this kind. An integer list also counts as a size list.
    pub fn accepts(self, a: &Attr) -> bool {
        matches!(
            (self, a),
            (AttrKind::Int, Attr::Int(_))
                | (AttrKind::Float, Attr::Float(_))
                | (AttrKind::Bool, Attr::Bool(_))
                | (AttrKind::Str, Attr::Str(_))
                | (AttrKind::DType, Attr::DType(_))
                | (AttrKind::Ints, Attr::Ints(_))
                | (AttrKind::Sizes, Attr::Sizes(_))
                | (AttrKind::Symbol, Attr::Symbol(_))
                | (
                    AttrKind::Scalar,
                    Attr::Int(_) | Attr::Float(_) | Attr::Bool(_)
                )
        )
    }
}

/// Named attributes in a fixed order (the order of the operation's declaration).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Attrs(pub Vec<(String, Attr)>);

impl Attrs {
    pub fn new() -> Attrs {
        Attrs(Vec::new())
    }

    pub fn with(mut self, name: &str, a: Attr) -> Attrs {
        self.set(name, a);
        self
    }

    /// Sets `name`, replacing an earlier value in place.
    pub fn set(&mut self, name: &str, a: Attr) {
        if let Some(slot) = self.0.iter_mut().find(|(n, _)| n == name) {
            slot.1 = a;
        } else {
            self.0.push((name.to_string(), a));
        }
    }

    pub fn get(&self, name: &str) -> Option<&Attr> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Attr::Int(v) => Some(*v),
            _ => None,
        }
    }

    pub fn float(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Attr::Float(v) => Some(*v),
            Attr::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Attr::Bool(v) => Some(*v),
            _ => None,
        }
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Attr::Str(v) => Some(v),
            _ => None,
        }
    }

    pub fn dtype(&self, name: &str) -> Option<DType> {
        match self.get(name)? {
            Attr::DType(v) => Some(*v),
            _ => None,
        }
    }

    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.get(name)? {
            Attr::Ints(v) => Some(v),
            _ => None,
        }
    }

    pub fn sizes(&self, name: &str) -> Option<&[SymExpr]> {
        match self.get(name)? {
            Attr::Sizes(v) => Some(v),
            _ => None,
        }
    }

    pub fn symbol(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Attr::Symbol(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Attr {
    /// The text form; floats use Rust's shortest round-trip representation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attr::Int(v) => write!(f, "{v}"),
            Attr::Float(v) => {
                if v.is_nan() {
                    f.write_str("nan")
                } else if v.is_infinite() {
                    f.write_str(if *v > 0.0 { "inf" } else { "-inf" })
                } else {
                    write!(f, "{v:?}")
                }
            }
            Attr::Bool(v) => write!(f, "{v}"),
            Attr::Str(s) => {
                f.write_str("\"")?;
                for ch in s.chars() {
                    match ch {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Attr::DType(d) => write!(f, "{d}"),
            Attr::Ints(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            Attr::Sizes(v) => {
                f.write_str("sizes[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            Attr::Symbol(s) => write!(f, "@{s}"),
        }
    }
}
