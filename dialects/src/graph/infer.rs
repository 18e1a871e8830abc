//! Result-type inference for every `graph` operation (symbolic shapes, NumPy rules).
//!
//! Used by the front end's type checker (which turns [`InferError`] into a diagnostic on
//! the offending operand) and by the verifier (which checks printed result types).
//!
//! Sizes are [`SymExpr`]s compared by canonical equality: two sizes are equal exactly when
//! their expressions simplify to the same, and distinct names are never assumed equal to
//! each other or to 1 (DSL.md §7). Every check returns an [`InferError`]; nothing here
//! panics, whatever the operands and attributes.
//!
//! Messages start with the operation's user-facing name (`matmul: contracted sizes differ:
//! 784 vs 785`); reductions use their DSL names (`sum`, `mean`, `max`, `min`) and `select`
//! is `where`.

mod contract;
mod elementwise;
mod nn;
mod reduce;
mod shape;

use crate::attr::{Attr, Attrs};
use crate::dialect::Operands;
use crate::dtype::DType;
use crate::graph::GraphOp;
use crate::sym::SymExpr;
use crate::types::TensorType;
use std::fmt;

/// Why an operation's operands or attributes do not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferError {
    /// The operand at fault, when one is.
    pub operand: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl InferError {
    /// An error not tied to one operand.
    pub fn new(message: impl Into<String>) -> InferError {
        InferError {
            operand: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Marks operand `i` as the one at fault.
    pub fn at(mut self, i: usize) -> InferError {
        self.operand = Some(i);
        self
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> InferError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for InferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InferError {}

/// Computes the result types of `op` from its operand types and attributes.
pub fn infer(
    op: GraphOp,
    attrs: &Attrs,
    operands: &[TensorType],
) -> Result<Vec<TensorType>, InferError> {
    use elementwise::{BinaryKind, UnaryKind};
    use GraphOp as G;
    let cx = Cx {
        op,
        attrs,
        operands,
    };
    cx.check_arity()?;
    cx.check_attr_names()?;
    let t = match op {
        G::Constant => elementwise::constant(&cx)?,
        G::Cast => elementwise::cast(&cx)?,
        G::Neg | G::Abs | G::Relu => elementwise::unary(&cx, UnaryKind::Numeric)?,
        G::Exp
        | G::Log
        | G::Sqrt
        | G::Rsqrt
        | G::Recip
        | G::Tanh
        | G::Sigmoid
        | G::Gelu
        | G::GeluTanh
        | G::Silu
        | G::Erf => elementwise::unary(&cx, UnaryKind::Float)?,
        G::Add | G::Sub | G::Mul | G::Div | G::Max | G::Min => {
            elementwise::binary(&cx, BinaryKind::Arith)?
        }
        G::Pow => elementwise::binary(&cx, BinaryKind::Pow)?,
        G::Lt | G::Le | G::Gt | G::Ge => elementwise::binary(&cx, BinaryKind::Order)?,
        G::Eq | G::Ne => elementwise::binary(&cx, BinaryKind::Equality)?,
        G::Select => elementwise::select(&cx)?,
        G::MatMul => contract::matmul(&cx)?,
        G::Einsum => contract::einsum(&cx)?,
        G::ReduceSum | G::ReduceMax | G::ReduceMin => reduce::reduce(&cx, false)?,
        G::ReduceMean => reduce::reduce(&cx, true)?,
        G::Argmax => reduce::argmax(&cx)?,
        G::Softmax | G::LogSoftmax => reduce::softmax(&cx)?,
        G::LayerNorm => reduce::norm(&cx, true)?,
        G::RmsNorm => reduce::norm(&cx, false)?,
        G::Reshape => shape::reshape(&cx)?,
        G::Transpose => shape::transpose(&cx)?,
        G::BroadcastTo => shape::broadcast_to(&cx)?,
        G::Concat => shape::concat(&cx)?,
        G::Slice => shape::slice(&cx)?,
        G::Conv2d => nn::conv2d(&cx)?,
        G::MaxPool2d => nn::pool2d(&cx, false)?,
        G::AvgPool2d => nn::pool2d(&cx, true)?,
        G::Quantize => nn::quantize(&cx)?,
        G::Dequantize => nn::dequantize(&cx)?,
        G::Call => {
            let callee = match attrs.get("callee") {
                Some(Attr::Symbol(s)) => format!(" `@{s}`"),
                _ => String::new(),
            };
            return Err(cx
                .err(format!(
                    "the result types of a call{callee} depend on the called function, \
                     not on the operation alone"
                ))
                .with_hint("look the callee up in the module and use its signature"));
        }
        G::Fused => {
            return Err(cx.err(
                "the result type of a `graph.fused` is the type its region yields, \
                 not a function of its operands",
            ))
        }
        G::Return | G::Yield => return Ok(Vec::new()),
    };
    Ok(vec![t])
}

/// NumPy broadcasting of two shapes (right-aligned; sizes equal, or one of them the
/// constant 1). On failure, gives the two sizes that clash (left operand's first).
pub fn broadcast_shapes(a: &[SymExpr], b: &[SymExpr]) -> Result<Vec<SymExpr>, (SymExpr, SymExpr)> {
    let rank = a.len().max(b.len());
    let one = SymExpr::lit(1);
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        // Right-aligned: position i of the result is a[i - (rank - a.len())] when it exists.
        let da = (i + a.len()).checked_sub(rank).and_then(|j| a.get(j));
        let db = (i + b.len()).checked_sub(rank).and_then(|j| b.get(j));
        let d = match (da, db) {
            (Some(x), Some(y)) if x == y => x.clone(),
            (Some(x), Some(y)) if *x == one => y.clone(),
            (Some(x), Some(y)) if *y == one => x.clone(),
            (Some(x), Some(y)) => return Err((x.clone(), y.clone())),
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (None, None) => one.clone(),
        };
        out.push(d);
    }
    Ok(out)
}

/// The output size of a convolution or pooling window along one axis,
/// `floor((size + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1` (DSL.md §7).
/// Errors only when `stride` is not positive.
pub fn window_output_size(
    size: &SymExpr,
    kernel: &SymExpr,
    stride: i64,
    padding: i64,
    dilation: i64,
) -> Option<SymExpr> {
    if stride < 1 {
        return None;
    }
    let one = SymExpr::lit(1);
    let span = SymExpr::lit(dilation).mul(&kernel.sub(&one));
    let num = size
        .add(&SymExpr::lit(2).mul(&SymExpr::lit(padding)))
        .sub(&span)
        .sub(&one);
    num.floor_div(&SymExpr::lit(stride))
        .ok()
        .map(|q| q.add(&one))
}

/// The context of one inference: the operation, its attributes and operand types, with
/// checked accessors that turn every problem into an [`InferError`].
pub(crate) struct Cx<'a> {
    pub op: GraphOp,
    pub attrs: &'a Attrs,
    pub operands: &'a [TensorType],
}

impl<'a> Cx<'a> {
    /// The user-facing name used in messages.
    pub fn name(&self) -> &'static str {
        match self.op {
            GraphOp::Select => "where",
            GraphOp::ReduceSum => "sum",
            GraphOp::ReduceMean => "mean",
            GraphOp::ReduceMax => "max",
            GraphOp::ReduceMin => "min",
            op => op.name(),
        }
    }

    /// An error not tied to an operand: `NAME: msg`.
    pub fn err(&self, msg: impl fmt::Display) -> InferError {
        InferError::new(format!("{}: {}", self.name(), msg))
    }

    /// An error on operand `i`.
    pub fn err_at(&self, i: usize, msg: impl fmt::Display) -> InferError {
        self.err(msg).at(i)
    }

    fn check_arity(&self) -> Result<(), InferError> {
        let n = self.operands.len();
        match self.op.def().operands {
            Operands::Fixed(names) => {
                if n != names.len() {
                    let list = names
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let what = if names.is_empty() {
                        "no operands".to_string()
                    } else {
                        format!("{} operand{} ({list})", names.len(), plural(names.len()))
                    };
                    return Err(self.err(format!("expects {what}, got {n}")));
                }
            }
            Operands::Variadic { min, .. } => {
                if n < min {
                    return Err(self.err(format!(
                        "expects at least {min} operand{}, got {n}",
                        plural(min)
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_attr_names(&self) -> Result<(), InferError> {
        let def = self.op.def();
        for (i, (name, _)) in self.attrs.0.iter().enumerate() {
            if def.attr(name).is_none() {
                let known = def
                    .attrs
                    .iter()
                    .map(|a| format!("`{}`", a.name))
                    .collect::<Vec<_>>()
                    .join(", ");
                let e = self.err(format!("unknown attribute `{name}`"));
                return Err(if known.is_empty() {
                    e.with_hint("this operation takes no attributes")
                } else {
                    e.with_hint(format!("the attributes are {known}"))
                });
            }
            if self.attrs.0.iter().skip(i + 1).any(|(n, _)| n == name) {
                return Err(self.err(format!("attribute `{name}` is given twice")));
            }
        }
        Ok(())
    }

    /// Operand `i` (arity is checked first, so this only fails on internal misuse).
    pub fn operand(&self, i: usize) -> Result<&'a TensorType, InferError> {
        self.operands
            .get(i)
            .ok_or_else(|| self.err(format!("operand {i} is missing")))
    }

    pub fn attr(&self, name: &str) -> Result<&'a Attr, InferError> {
        self.attrs
            .get(name)
            .ok_or_else(|| self.err(format!("missing attribute `{name}`")))
    }

    fn wrong_kind(&self, name: &str, want: &str, got: &Attr) -> InferError {
        self.err(format!("attribute `{name}` must be {want}, got `{got}`"))
    }

    pub fn int(&self, name: &str) -> Result<i64, InferError> {
        match self.attr(name)? {
            Attr::Int(v) => Ok(*v),
            a => Err(self.wrong_kind(name, "an integer", a)),
        }
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, InferError> {
        match self.attrs.get(name) {
            None => Ok(None),
            Some(Attr::Int(v)) => Ok(Some(*v)),
            Some(a) => Err(self.wrong_kind(name, "an integer", a)),
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool, InferError> {
        match self.attr(name)? {
            Attr::Bool(v) => Ok(*v),
            a => Err(self.wrong_kind(name, "`true` or `false`", a)),
        }
    }

    /// A float attribute; an integer is accepted and converted.
    pub fn float(&self, name: &str) -> Result<f64, InferError> {
        match self.attr(name)? {
            Attr::Float(v) => Ok(*v),
            Attr::Int(v) => Ok(*v as f64),
            a => Err(self.wrong_kind(name, "a number", a)),
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, InferError> {
        match self.attr(name)? {
            Attr::Str(v) => Ok(v),
            a => Err(self.wrong_kind(name, "a string", a)),
        }
    }

    pub fn dtype(&self, name: &str) -> Result<DType, InferError> {
        match self.attr(name)? {
            Attr::DType(v) => Ok(*v),
            a => Err(self.wrong_kind(name, "a dtype", a)),
        }
    }

    pub fn ints(&self, name: &str) -> Result<&'a [i64], InferError> {
        match self.attr(name)? {
            Attr::Ints(v) => Ok(v),
            a => Err(self.wrong_kind(name, "an integer list", a)),
        }
    }

    /// An integer list of exactly two values (`[h, w]`).
    pub fn pair(&self, name: &str) -> Result<[i64; 2], InferError> {
        match self.ints(name)? {
            [a, b] => Ok([*a, *b]),
            v => Err(self.err(format!(
                "attribute `{name}` must have 2 values (height, width), got {}",
                v.len()
            ))),
        }
    }

    /// A size list; an integer list is accepted as constant sizes.
    pub fn sizes(&self, name: &str) -> Result<Vec<SymExpr>, InferError> {
        match self.attr(name)? {
            Attr::Sizes(v) => Ok(v.clone()),
            Attr::Ints(v) => Ok(v.iter().map(|c| SymExpr::lit(*c)).collect()),
            a => Err(self.wrong_kind(name, "a size list", a)),
        }
    }

    /// Checks that `axis` (named `what` in messages) is a valid axis of `t`.
    pub fn check_axis(&self, what: &str, axis: i64, t: &TensorType) -> Result<usize, InferError> {
        let rank = t.rank();
        match usize::try_from(axis) {
            Ok(a) if a < rank => Ok(a),
            _ if rank == 0 => Err(self.err(format!(
                "{what} {axis} is out of range: the operand {t} is a scalar, it has no axes"
            ))),
            _ => Err(self.err(format!(
                "{what} {axis} is out of range for {t} (axes 0 to {})",
                rank - 1
            ))),
        }
    }

    /// Operand `i` must have a float dtype.
    pub fn need_float(&self, i: usize, role: &str) -> Result<&'a TensorType, InferError> {
        let t = self.operand(i)?;
        if t.dtype.is_float() {
            return Ok(t);
        }
        Err(self
            .err_at(i, format!("{role} must have a float dtype, got {t}"))
            .with_hint(convert_hint("f32")))
    }

    /// Operand `i` must be numeric (float or integer, not bool).
    pub fn need_numeric(&self, i: usize, role: &str) -> Result<&'a TensorType, InferError> {
        let t = self.operand(i)?;
        if t.dtype != DType::Bool {
            return Ok(t);
        }
        Err(self
            .err_at(i, format!("{role} must be numeric, got {t}"))
            .with_hint("convert first with `as i32` or `as f32`"))
    }

    /// Operand `i` must have the same dtype as operand `first`.
    pub fn same_dtype(&self, first: usize, i: usize) -> Result<(), InferError> {
        let a = self.operand(first)?;
        let b = self.operand(i)?;
        if a.dtype == b.dtype {
            return Ok(());
        }
        Err(self
            .err_at(
                i,
                format!("operand dtypes differ: {} vs {}", a.dtype, b.dtype),
            )
            .with_hint(format!(
                "convert one operand with `as`, e.g. `... as {}` or `... as {}`",
                a.dtype, b.dtype
            )))
    }
}

/// The hint for a dtype that does not fit.
pub(crate) fn convert_hint(to: &str) -> String {
    format!("convert first with `as {to}`")
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `[B, 784]`, `[]` for a scalar.
pub(crate) fn shape_str(shape: &[SymExpr]) -> String {
    let inner = shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!("[{inner}]")
}

/// The hint for two sizes that are not provably equal.
pub(crate) fn size_hint(a: &SymExpr, b: &SymExpr) -> Option<String> {
    if a.as_const().is_some() && b.as_const().is_some() {
        None
    } else {
        Some(
            "sizes are compared symbolically: distinct names are never assumed equal, \
             or equal to 1"
                .to_string(),
        )
    }
}

/// Adds `hint` when there is one.
pub(crate) fn maybe_hint(e: InferError, hint: Option<String>) -> InferError {
    match hint {
        Some(h) => e.with_hint(h),
        None => e,
    }
}
