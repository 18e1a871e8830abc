//! Lowering of one checked function body to graph IR: bindings, weak literals, operators,
//! casts, slicing and calls. Built-in functions are in `builtins`.

use crate::ast::{BinOp, Expr, ExprKind, FnDecl, IndexItem, LetPattern, Stmt};
use crate::check::Signature;
use crate::diag::Diagnostic;
use crate::sizes::{expr_to_sym, type_to_tensor};
use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::graph::infer::infer;
use tessera_dialects::{
    Attr, Attrs, DType, Func, FuncKind, GraphOp, Op, Operation, Span, SymExpr, TensorType, Type,
    Value,
};

/// A literal that has not met a tensor yet (NumPy "weak" scalar).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lit {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Lit {
    fn describe(self) -> String {
        match self {
            Lit::Int(v) => format!("integer literal {v}"),
            Lit::Float(v) => format!("float literal {v}"),
            Lit::Bool(v) => format!("bool literal {v}"),
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Lit::Int(v) => v as f64,
            Lit::Float(v) => v,
            Lit::Bool(b) => f64::from(u8::from(b)),
        }
    }
}

/// The value of an expression.
#[derive(Clone, Debug)]
pub enum Val {
    Tensor(Value),
    Lit(Lit),
    /// The results of a call to a function with several results.
    Multi(Vec<Value>),
}

/// A name in scope.
#[derive(Clone, Debug)]
enum Binding {
    Val(Val),
    /// The `let` that should have bound it failed; uses stay silent.
    Poisoned,
}

/// Marks an error that has been pushed to the diagnostics already.
#[derive(Debug)]
pub struct Reported;

pub type R<T> = Result<T, Reported>;

/// Lowers one function.
pub struct FnLowerer<'a> {
    pub func: Func,
    scopes: Vec<(String, Binding)>,
    pub(crate) sizes: BTreeSet<String>,
    pub(crate) sigs: &'a BTreeMap<String, Signature>,
    used_names: BTreeSet<String>,
    pub diags: Vec<Diagnostic>,
}

impl<'a> FnLowerer<'a> {
    pub fn new(name: &str, sigs: &'a BTreeMap<String, Signature>) -> FnLowerer<'a> {
        FnLowerer {
            func: Func::new(FuncKind::Graph, name),
            scopes: Vec::new(),
            sizes: BTreeSet::new(),
            sigs,
            used_names: BTreeSet::new(),
            diags: Vec::new(),
        }
    }

    /// Reports `d` and returns the marker.
    pub(crate) fn err<T>(&mut self, d: Diagnostic) -> R<T> {
        self.diags.push(d);
        Err(Reported)
    }

    /// Lowers the whole function, given its already-checked signature.
    pub fn lower_fn(mut self, decl: &FnDecl, sig: &Signature) -> Result<Func, Vec<Diagnostic>> {
        self.func.loc = tessera_dialects::Loc(Some(decl.span));
        self.sizes = sig.size_names.clone();
        for (p, ty) in decl.params.iter().zip(&sig.params) {
            let v = self
                .func
                .add_param(Type::Tensor(ty.clone()), Some(p.name.name.clone()));
            self.used_names.insert(p.name.name.clone());
            self.scopes
                .push((p.name.name.clone(), Binding::Val(Val::Tensor(v))));
        }
        self.func.result_types = sig.results.iter().cloned().map(Type::Tensor).collect();
        for stmt in &decl.body {
            self.stmt(stmt);
        }
        if let Ok(values) = self.tail(&decl.tail, sig) {
            let op = Operation::new(Op::Graph(GraphOp::Return), values, Vec::new(), Attrs::new())
                .at(Some(decl.tail.span));
            self.func.body.ops.push(op);
        }
        if self.diags.is_empty() {
            Ok(self.func)
        } else {
            Err(self.diags)
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        let value = self.expr(&s.value);
        match &s.pattern {
            LetPattern::Name(id) => {
                let binding = match value {
                    Ok(Val::Multi(vs)) => {
                        let _ = self.err::<()>(
                            Diagnostic::error(format!(
                                "this call returns {} results; bind them with `let (a, b, ...) = ...`",
                                vs.len()
                            ))
                            .primary(s.value.span, "several results"),
                        );
                        Binding::Poisoned
                    }
                    Ok(v) => match self.check_annotation(s, &v) {
                        Ok(()) => {
                            self.name_value(&v, &id.name);
                            Binding::Val(v)
                        }
                        Err(Reported) => Binding::Poisoned,
                    },
                    Err(Reported) => Binding::Poisoned,
                };
                self.scopes.push((id.name.clone(), binding));
            }
            LetPattern::Tuple(ids, span) => {
                let vals: Option<Vec<Value>> = match value {
                    Ok(Val::Multi(vs)) if vs.len() == ids.len() => Some(vs),
                    Ok(Val::Multi(vs)) => {
                        let _ = self.err::<()>(
                            Diagnostic::error(format!(
                                "the call returns {} results but the pattern binds {}",
                                vs.len(),
                                ids.len()
                            ))
                            .primary(*span, "pattern")
                            .secondary(s.value.span, "call"),
                        );
                        None
                    }
                    Ok(_) => {
                        let _ = self.err::<()>(
                            Diagnostic::error(
                                "a tuple pattern needs a call of a function with several results",
                            )
                            .primary(s.value.span, "this gives one value")
                            .secondary(*span, "tuple pattern"),
                        );
                        None
                    }
                    Err(Reported) => None,
                };
                if s.ty.is_some() {
                    let _ = self.err::<()>(
                        Diagnostic::error("a tuple pattern cannot have a type annotation")
                            .primary(s.span, "here"),
                    );
                }
                for (i, id) in ids.iter().enumerate() {
                    let b = match &vals {
                        Some(vs) => {
                            let v = Val::Tensor(vs[i]);
                            self.name_value(&v, &id.name);
                            Binding::Val(v)
                        }
                        None => Binding::Poisoned,
                    };
                    self.scopes.push((id.name.clone(), b));
                }
            }
        }
    }

    /// Checks `let x: T = e;` (the annotation is checked, never converts).
    fn check_annotation(&mut self, s: &Stmt, v: &Val) -> R<()> {
        let Some(ann) = &s.ty else { return Ok(()) };
        let params: BTreeSet<String> = self.sizes.clone();
        let want = match type_to_tensor(ann, Some(&params)) {
            Ok(t) => t,
            Err(d) => return self.err(d),
        };
        let got = match v {
            Val::Tensor(t) => self.ty(*t),
            Val::Lit(l) => {
                // A literal takes the annotated dtype when it can.
                if want.rank() == 0 && self.lit_fits(*l, want.dtype) {
                    return Ok(());
                }
                return self.err(
                    Diagnostic::error(format!("{} does not have type {want}", l.describe()))
                        .primary(s.value.span, "value")
                        .secondary(ann.span, "annotation"),
                );
            }
            Val::Multi(_) => return Err(Reported),
        };
        if got != want {
            return self.err(
                Diagnostic::error(format!(
                    "type mismatch: the value has type {got}, the annotation says {want}"
                ))
                .primary(s.value.span, format!("this is {got}"))
                .secondary(ann.span, "annotation")
                .hint("an annotation is checked, never converts; use `as` to convert the dtype"),
            );
        }
        Ok(())
    }

    /// Gives the value made by a `let` a readable name in the IR, if it has none yet.
    fn name_value(&mut self, v: &Val, name: &str) {
        let Val::Tensor(value) = v else { return };
        if self.func.values[value.index()].name.is_some() {
            return;
        }
        let mut candidate = name.to_string();
        let mut n = 1;
        while self.used_names.contains(&candidate) {
            candidate = format!("{name}_{n}");
            n += 1;
        }
        self.used_names.insert(candidate.clone());
        self.func.values[value.index()].name = Some(candidate);
    }

    fn tail(&mut self, tail: &Expr, sig: &Signature) -> R<Vec<Value>> {
        let items: Vec<&Expr> = match &tail.kind {
            ExprKind::Tuple(items) => items.iter().collect(),
            _ => vec![tail],
        };
        if items.len() != sig.results.len() {
            return self.err(
                Diagnostic::error(format!(
                    "the function returns {} value(s) but its signature declares {}",
                    items.len(),
                    sig.results.len()
                ))
                .primary(tail.span, "returned here")
                .secondary(sig.ret_span, "declared here"),
            );
        }
        let mut out = Vec::new();
        let mut failed = false;
        for (item, want) in items.iter().zip(&sig.results) {
            let v = match self.expr(item) {
                Ok(Val::Tensor(v)) => v,
                Ok(Val::Lit(l)) if want.rank() == 0 => {
                    match self.materialize(l, want.dtype, item.span) {
                        Ok(v) => v,
                        Err(_) => {
                            failed = true;
                            continue;
                        }
                    }
                }
                Ok(Val::Lit(l)) => {
                    let _ = self.err::<()>(
                        Diagnostic::error(format!("{} cannot be returned as {want}", l.describe()))
                            .primary(item.span, "literal")
                            .hint("use broadcast_to to make a tensor of a shape"),
                    );
                    failed = true;
                    continue;
                }
                Ok(Val::Multi(_)) => {
                    let _ = self.err::<()>(
                        Diagnostic::error(
                            "a call with several results cannot be returned directly",
                        )
                        .primary(item.span, "bind its results with `let (a, b) = ...` first"),
                    );
                    failed = true;
                    continue;
                }
                Err(Reported) => {
                    failed = true;
                    continue;
                }
            };
            let got = self.ty(v);
            if &got != want {
                let _ = self.err::<()>(
                    Diagnostic::error(format!(
                        "result type mismatch: returned {got}, declared {want}"
                    ))
                    .primary(item.span, format!("this is {got}"))
                    .secondary(sig.ret_span, "declared here"),
                );
                failed = true;
                continue;
            }
            out.push(v);
        }
        if failed {
            Err(Reported)
        } else {
            Ok(out)
        }
    }

    pub(crate) fn ty(&self, v: Value) -> TensorType {
        self.func
            .tensor_ty(v)
            .cloned()
            .unwrap_or_else(|| TensorType::scalar(DType::F32))
    }

    fn lookup(&self, name: &str) -> Option<&Binding> {
        self.scopes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b)
    }

    /// Lowers an expression.
    pub(crate) fn expr(&mut self, e: &Expr) -> R<Val> {
        match &e.kind {
            ExprKind::Int(v) => Ok(Val::Lit(Lit::Int(*v))),
            ExprKind::Float(v) => Ok(Val::Lit(Lit::Float(*v))),
            ExprKind::Bool(v) => Ok(Val::Lit(Lit::Bool(*v))),
            ExprKind::Var(name) => match self.lookup(name) {
                Some(Binding::Val(v)) => Ok(v.clone()),
                Some(Binding::Poisoned) => Err(Reported),
                None if self.sizes.contains(name) => self.err(
                    Diagnostic::error(format!("`{name}` is a size, not a tensor"))
                        .primary(e.span, "size name")
                        .hint("size names can be used where a size is expected, e.g. `reshape(x, [B, -1])`"),
                ),
                None => {
                    let mut d = Diagnostic::error(format!("unknown name `{name}`")).primary(e.span, "not found in this scope");
                    let names: Vec<&str> = self.scopes.iter().map(|(n, _)| n.as_str()).collect();
                    if let Some(s) = closest(name, names.into_iter()) {
                        d = d.hint(format!("did you mean `{s}`?"));
                    }
                    self.err(d)
                }
            },
            ExprKind::Str(_) => self.err(
                Diagnostic::error("a string is only allowed as the equation of `einsum`").primary(e.span, "string"),
            ),
            ExprKind::DType(d) => self.err(
                Diagnostic::error(format!("the dtype `{d}` is not a value"))
                    .primary(e.span, "dtype")
                    .hint("dtypes appear in types, after `as`, and as `dtype:` of quantize"),
            ),
            ExprKind::None => self.err(Diagnostic::error("`none` is only allowed as a named argument").primary(e.span, "here")),
            ExprKind::List(_) => self.err(
                Diagnostic::error("a list is only allowed as an argument of a built-in (shapes, axes, concat)")
                    .primary(e.span, "list"),
            ),
            ExprKind::Tuple(_) => self.err(
                Diagnostic::error("a tuple is only allowed as the final expression of a function with several results")
                    .primary(e.span, "tuple"),
            ),
            ExprKind::Neg(inner) => {
                let v = self.expr(inner)?;
                match v {
                    Val::Lit(Lit::Int(x)) => match x.checked_neg() {
                        Some(n) => Ok(Val::Lit(Lit::Int(n))),
                        None => self.err(Diagnostic::error("integer literal overflows").primary(e.span, "here")),
                    },
                    Val::Lit(Lit::Float(x)) => Ok(Val::Lit(Lit::Float(-x))),
                    Val::Lit(Lit::Bool(_)) => self.err(Diagnostic::error("cannot negate a bool").primary(e.span, "here")),
                    Val::Tensor(t) => self.emit1(GraphOp::Neg, vec![t], Attrs::new(), e.span, &[inner.span]),
                    Val::Multi(_) => self.multi_error(inner.span),
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e.span),
            ExprKind::Cast(inner, dtype, _) => {
                let v = self.expr(inner)?;
                let t = match v {
                    Val::Tensor(t) => t,
                    Val::Lit(l) => self.materialize(l, default_dtype(l), inner.span)?,
                    Val::Multi(_) => return self.multi_error(inner.span),
                };
                self.emit1(GraphOp::Cast, vec![t], Attrs::new().with("dtype", Attr::DType(*dtype)), e.span, &[inner.span])
            }
            ExprKind::Index(base, items) => self.index(base, items, e.span),
            ExprKind::Call { callee, args, named } => self.call(callee, args, named, e.span),
        }
    }

    pub(crate) fn multi_error<T>(&mut self, span: Span) -> R<T> {
        self.err(
            Diagnostic::error("a call with several results cannot be used as a value")
                .primary(span, "bind its results with `let (a, b) = ...` first"),
        )
    }

    /// Lowers an expression that must give a tensor; literals become constants of `dtype`
    /// (their default dtype when `None`).
    pub(crate) fn tensor(&mut self, e: &Expr, dtype: Option<DType>) -> R<Value> {
        match self.expr(e)? {
            Val::Tensor(t) => Ok(t),
            Val::Lit(l) => {
                let d = dtype.unwrap_or_else(|| default_dtype(l));
                self.materialize(l, d, e.span)
            }
            Val::Multi(_) => self.multi_error(e.span),
        }
    }

    fn lit_fits(&self, l: Lit, d: DType) -> bool {
        match l {
            Lit::Bool(_) => d == DType::Bool,
            Lit::Float(_) => d.is_float(),
            Lit::Int(v) => match d {
                DType::Bool => false,
                DType::I8 => (-128..=127).contains(&v),
                DType::I32 => i32::try_from(v).is_ok(),
                _ => true,
            },
        }
    }

    /// Makes a `graph.constant` of dtype `d` from a literal, checking that it fits.
    pub(crate) fn materialize(&mut self, l: Lit, d: DType, span: Span) -> R<Value> {
        if !self.lit_fits(l, d) {
            let hint = match (l, d.is_float()) {
                (Lit::Float(_), false) if d != DType::Bool => "a float literal never meets an integer tensor: convert the tensor with `as` first",
                (Lit::Int(_), false) if d != DType::Bool => "the literal is out of the dtype's range",
                _ => "convert one side with `as`",
            };
            return self.err(
                Diagnostic::error(format!("{} cannot be used as {d}", l.describe()))
                    .primary(span, format!("this literal meets a tensor of dtype {d}"))
                    .hint(hint),
            );
        }
        let value = match (l, d.is_float()) {
            (Lit::Int(v), true) => Attr::Float(v as f64),
            (Lit::Int(v), false) => Attr::Int(v),
            (Lit::Float(v), _) => Attr::Float(v),
            (Lit::Bool(b), _) => Attr::Bool(b),
        };
        let attrs = Attrs::new()
            .with("value", value)
            .with("dtype", Attr::DType(d));
        match self.emit1(GraphOp::Constant, Vec::new(), attrs, span, &[])? {
            Val::Tensor(v) => Ok(v),
            _ => Err(Reported),
        }
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, span: Span) -> R<Val> {
        let va = self.expr(a);
        let vb = self.expr(b);
        let (va, vb) = (va?, vb?);
        let gop = match op {
            BinOp::Add => GraphOp::Add,
            BinOp::Sub => GraphOp::Sub,
            BinOp::Mul => GraphOp::Mul,
            BinOp::Div => GraphOp::Div,
            BinOp::MatMul => GraphOp::MatMul,
            BinOp::Lt => GraphOp::Lt,
            BinOp::Le => GraphOp::Le,
            BinOp::Gt => GraphOp::Gt,
            BinOp::Ge => GraphOp::Ge,
            BinOp::Eq => GraphOp::Eq,
            BinOp::Ne => GraphOp::Ne,
        };
        if op == BinOp::MatMul {
            let ta = self.require_tensor(va, a.span, "`@`")?;
            let tb = self.require_tensor(vb, b.span, "`@`")?;
            return self.emit1(gop, vec![ta, tb], Attrs::new(), span, &[a.span, b.span]);
        }
        self.elementwise(gop, vec![(va, a.span), (vb, b.span)], span)
    }

    pub(crate) fn require_tensor(&mut self, v: Val, span: Span, what: &str) -> R<Value> {
        match v {
            Val::Tensor(t) => Ok(t),
            Val::Lit(_) => self.err(
                Diagnostic::error(format!("{what} needs tensors, not literals"))
                    .primary(span, "literal")
                    .hint("use broadcast_to to make a tensor of a shape"),
            ),
            Val::Multi(_) => self.multi_error(span),
        }
    }

    /// An elementwise operation on tensors and weak literals: literals fold when all
    /// operands are literals, else take the dtype of the tensors they meet; tensor
    /// operands must share one dtype (`select`'s condition excepted).
    pub(crate) fn elementwise(
        &mut self,
        op: GraphOp,
        args: Vec<(Val, Span)>,
        span: Span,
    ) -> R<Val> {
        for (v, s) in &args {
            if let Val::Multi(_) = v {
                return self.multi_error(*s);
            }
        }
        let skip_first = op == GraphOp::Select;
        if args.iter().all(|(v, _)| matches!(v, Val::Lit(_))) {
            if let Some(folded) = fold(op, &args.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>())
            {
                return match folded {
                    Ok(l) => Ok(Val::Lit(l)),
                    Err(m) => self.err(Diagnostic::error(m).primary(span, "in this expression")),
                };
            }
        }
        // The dtype literals adapt to: the first tensor operand's (not `select`'s condition).
        let mut dtype: Option<(DType, Span)> = None;
        for (i, (v, s)) in args.iter().enumerate() {
            if skip_first && i == 0 {
                continue;
            }
            if let Val::Tensor(t) = v {
                let d = self.ty(*t).dtype;
                match dtype {
                    None => dtype = Some((d, *s)),
                    Some((d0, s0)) if d0 != d => {
                        return self.err(
                            Diagnostic::error(format!("dtype mismatch: {d0} and {d}"))
                                .primary(*s, format!("this is {d}"))
                                .secondary(s0, format!("this is {d0}"))
                                .hint("operands must have the same dtype; convert one with `as`"),
                        );
                    }
                    Some(_) => {}
                }
            }
        }
        let mut operands = Vec::new();
        let mut spans = Vec::new();
        for (i, (v, s)) in args.into_iter().enumerate() {
            let t = match v {
                Val::Tensor(t) => t,
                Val::Lit(l) => {
                    let d = if skip_first && i == 0 {
                        DType::Bool
                    } else {
                        dtype.map(|(d, _)| d).unwrap_or_else(|| default_dtype(l))
                    };
                    self.materialize(l, d, s)?
                }
                Val::Multi(_) => return self.multi_error(s),
            };
            operands.push(t);
            spans.push(s);
        }
        self.emit1(op, operands, Attrs::new(), span, &spans)
    }

    /// `x[...]`: a `graph.slice`, then a `graph.reshape` when integer indices drop axes.
    fn index(&mut self, base: &Expr, items: &[IndexItem], span: Span) -> R<Val> {
        let v = self.expr(base)?;
        let t = self.require_tensor(v, base.span, "slicing")?;
        let ty = self.ty(t);
        if items.len() > ty.rank() {
            return self.err(
                Diagnostic::error(format!(
                    "too many indices: {} for a tensor of rank {}",
                    items.len(),
                    ty.rank()
                ))
                .primary(span, format!("the tensor is {ty}")),
            );
        }
        let mut start = Vec::new();
        let mut end = Vec::new();
        let mut keep = Vec::new();
        for (axis, dim) in ty.shape.iter().enumerate() {
            let Some(item) = items.get(axis) else {
                start.push(SymExpr::lit(0));
                end.push(dim.clone());
                keep.push(dim.clone());
                continue;
            };
            match item {
                IndexItem::Index(e) => {
                    let i = self.bound(e, dim)?;
                    self.check_in_range(&i, dim, e.span, false)?;
                    end.push(i.add(&SymExpr::lit(1)));
                    start.push(i);
                }
                IndexItem::Range {
                    start: s,
                    end: en,
                    span: rspan,
                } => {
                    let a = match s {
                        Some(e) => {
                            let a = self.bound(e, dim)?;
                            self.check_in_range(&a, dim, e.span, false)?;
                            a
                        }
                        None => SymExpr::lit(0),
                    };
                    let b = match en {
                        Some(e) => {
                            let b = self.bound(e, dim)?;
                            self.check_in_range(&b, dim, e.span, true)?;
                            b
                        }
                        None => dim.clone(),
                    };
                    let len = b.sub(&a);
                    if let Some(c) = len.as_const() {
                        if c <= 0 {
                            return self.err(
                                Diagnostic::error(format!("empty slice: {a}:{b}"))
                                    .primary(*rspan, "this slice selects nothing")
                                    .hint("slices must not be empty"),
                            );
                        }
                    }
                    keep.push(len);
                    start.push(a);
                    end.push(b);
                }
            }
        }
        let attrs = Attrs::new()
            .with("start", Attr::Sizes(start))
            .with("end", Attr::Sizes(end));
        let sliced = match self.emit1(GraphOp::Slice, vec![t], attrs, span, &[base.span])? {
            Val::Tensor(v) => v,
            _ => return Err(Reported),
        };
        if keep.len() == ty.rank() {
            return Ok(Val::Tensor(sliced));
        }
        let attrs = Attrs::new().with("shape", Attr::Sizes(keep));
        self.emit1(GraphOp::Reshape, vec![sliced], attrs, span, &[span])
    }

    /// A slice bound: negative constants count from the end.
    fn bound(&mut self, e: &Expr, dim: &SymExpr) -> R<SymExpr> {
        let s = match expr_to_sym(e, &self.sizes) {
            Ok(s) => s,
            Err(d) => return self.err(d),
        };
        match (s.as_const(), dim.as_const()) {
            // Report the index as written, not as wrapped.
            (Some(c), Some(d)) if c < -d => self.err(
                Diagnostic::error(format!(
                    "index {c} is out of range for a dimension of size {d}"
                ))
                .primary(e.span, format!("expected {} to {}", -d, d - 1)),
            ),
            (Some(c), _) if c < 0 => Ok(dim.add(&s)),
            _ => Ok(s),
        }
    }

    fn check_in_range(&mut self, i: &SymExpr, dim: &SymExpr, span: Span, is_end: bool) -> R<()> {
        if let (Some(i), Some(d)) = (i.as_const(), dim.as_const()) {
            let ok = if is_end {
                (0..=d).contains(&i)
            } else {
                (0..d).contains(&i)
            };
            if !ok {
                return self.err(
                    Diagnostic::error(format!(
                        "index {i} is out of range for a dimension of size {d}"
                    ))
                    .primary(span, "out of range"),
                );
            }
        } else if let Some(c) = i.as_const() {
            if c < 0 {
                return self.err(
                    Diagnostic::error(format!("index {c} is out of range"))
                        .primary(span, "out of range"),
                );
            }
        }
        Ok(())
    }

    /// Emits an operation with one result, inferring its type; errors point at the operand at fault.
    pub(crate) fn emit1(
        &mut self,
        op: GraphOp,
        operands: Vec<Value>,
        attrs: Attrs,
        span: Span,
        arg_spans: &[Span],
    ) -> R<Val> {
        let tys: Vec<TensorType> = operands.iter().map(|v| self.ty(*v)).collect();
        match infer(op, &attrs, &tys) {
            Ok(mut results) if results.len() == 1 => {
                let ty = results.remove(0);
                let v = self.func.new_value(Type::Tensor(ty), None);
                self.func
                    .body
                    .ops
                    .push(Operation::new(Op::Graph(op), operands, vec![v], attrs).at(Some(span)));
                Ok(Val::Tensor(v))
            }
            Ok(results) => self.err(Diagnostic::error(format!(
                "internal error: `{}` inferred {} results",
                op.name(),
                results.len()
            ))),
            Err(e) => {
                let at = e
                    .operand
                    .and_then(|i| arg_spans.get(i).copied().map(|s| (i, s)));
                let mut d = Diagnostic::error(e.message.clone());
                match at {
                    Some((i, s)) => {
                        d = d.primary(s, format!("this is {}", tys[i]));
                        for (j, (t, s2)) in tys.iter().zip(arg_spans).enumerate() {
                            if j != i && *s2 != s {
                                d = d.secondary(*s2, format!("this is {t}"));
                            }
                        }
                    }
                    None => d = d.primary(span, "here"),
                }
                if let Some(h) = e.hint {
                    d = d.hint(h);
                }
                self.err(d)
            }
        }
    }

    /// Emits a `graph.call` of a user function; its sizes bind to the caller's.
    pub(crate) fn emit_call(
        &mut self,
        callee: &str,
        sig: &Signature,
        args: Vec<(Value, Span)>,
        span: Span,
    ) -> R<Val> {
        let mut bind: BTreeMap<String, SymExpr> = BTreeMap::new();
        // First pass: parameters whose dimension is a plain name bind it.
        for ((v, _), pty) in args.iter().zip(&sig.params) {
            let aty = self.ty(*v);
            if aty.rank() == pty.rank() {
                for (pd, ad) in pty.shape.iter().zip(&aty.shape) {
                    if let Some(n) = pd.as_name() {
                        bind.entry(n.to_string()).or_insert_with(|| ad.clone());
                    }
                }
            }
        }
        for (i, ((v, s), pty)) in args.iter().zip(&sig.params).enumerate() {
            let aty = self.ty(*v);
            let want = match substitute(pty, &bind) {
                Ok(t) => t,
                Err(m) => return self.err(Diagnostic::error(m).primary(*s, "argument")),
            };
            let unbound: Vec<String> = want
                .shape
                .iter()
                .flat_map(|d| d.names())
                .filter(|n| !bind.contains_key(n) && !self.sizes.contains(n))
                .collect();
            if aty != want || !unbound.is_empty() {
                return self.err(
                    Diagnostic::error(format!(
                        "argument {} of `{callee}` has type {aty}, expected {}",
                        i + 1,
                        pty
                    ))
                    .primary(*s, format!("this is {aty}"))
                    .secondary(sig.param_spans[i], format!("parameter declared as {pty}"))
                    .hint(if aty.dtype != want.dtype {
                        "convert with `as`".to_string()
                    } else {
                        format!(
                            "with the sizes bound by the other arguments the parameter is {want}"
                        )
                    }),
                );
            }
        }
        let mut results = Vec::new();
        for r in &sig.results {
            let t = match substitute(r, &bind) {
                Ok(t) => t,
                Err(m) => return self.err(Diagnostic::error(m).primary(span, "call")),
            };
            results.push(self.func.new_value(Type::Tensor(t), None));
        }
        let operands = args.iter().map(|(v, _)| *v).collect();
        let attrs = Attrs::new().with("callee", Attr::Symbol(callee.to_string()));
        self.func.body.ops.push(
            Operation::new(Op::Graph(GraphOp::Call), operands, results.clone(), attrs)
                .at(Some(span)),
        );
        if results.len() == 1 {
            Ok(Val::Tensor(results[0]))
        } else {
            Ok(Val::Multi(results))
        }
    }
}

fn substitute(t: &TensorType, bind: &BTreeMap<String, SymExpr>) -> Result<TensorType, String> {
    let mut shape = Vec::new();
    for d in &t.shape {
        shape.push(
            d.substitute(&|n| bind.get(n).cloned())
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(TensorType::new(t.dtype, shape))
}

/// The dtype of a literal that meets no tensor.
pub(crate) fn default_dtype(l: Lit) -> DType {
    match l {
        Lit::Int(_) => DType::I32,
        Lit::Float(_) => DType::F32,
        Lit::Bool(_) => DType::Bool,
    }
}

/// Folds an elementwise operation on literals, or `None` when it must not fold.
fn fold(op: GraphOp, args: &[Val]) -> Option<Result<Lit, String>> {
    let lits: Vec<Lit> = args
        .iter()
        .map(|v| match v {
            Val::Lit(l) => Some(*l),
            _ => None,
        })
        .collect::<Option<_>>()?;
    use GraphOp as G;
    if op == G::Select {
        let (Lit::Bool(c), a, b) = (lits[0], lits[1], lits[2]) else {
            return Some(Err("the condition of `where` must be bool".into()));
        };
        return Some(Ok(if c { a } else { b }));
    }
    if let [a] = lits[..] {
        return fold_unary(op, a);
    }
    let [a, b] = lits[..] else { return None };
    if let (Lit::Bool(x), Lit::Bool(y)) = (a, b) {
        return match op {
            G::Eq => Some(Ok(Lit::Bool(x == y))),
            G::Ne => Some(Ok(Lit::Bool(x != y))),
            _ => Some(Err(format!(
                "`{}` is not defined on bool literals",
                op.name()
            ))),
        };
    }
    if matches!(a, Lit::Bool(_)) || matches!(b, Lit::Bool(_)) {
        return Some(Err("cannot mix bool and number literals".into()));
    }
    let cmp = |f: fn(f64, f64) -> bool| Some(Ok(Lit::Bool(f(a.as_f64(), b.as_f64()))));
    match op {
        G::Lt => return cmp(|x, y| x < y),
        G::Le => return cmp(|x, y| x <= y),
        G::Gt => return cmp(|x, y| x > y),
        G::Ge => return cmp(|x, y| x >= y),
        G::Eq => return cmp(|x, y| x == y),
        G::Ne => return cmp(|x, y| x != y),
        _ => {}
    }
    if let (Lit::Int(x), Lit::Int(y)) = (a, b) {
        let r = match op {
            G::Add => x.checked_add(y),
            G::Sub => x.checked_sub(y),
            G::Mul => x.checked_mul(y),
            G::Div => {
                if y == 0 {
                    return Some(Err("integer division by zero".into()));
                }
                x.checked_div_euclid(y).map(|q| {
                    if y < 0 && x.rem_euclid(y) != 0 {
                        q - 1
                    } else {
                        q
                    }
                })
            }
            G::Max => Some(x.max(y)),
            G::Min => Some(x.min(y)),
            G::Pow => return Some(Ok(Lit::Float((x as f64).powf(y as f64)))),
            _ => return None,
        };
        return Some(
            r.map(Lit::Int)
                .ok_or_else(|| "integer literal arithmetic overflows".to_string()),
        );
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    let r = match op {
        G::Add => x + y,
        G::Sub => x - y,
        G::Mul => x * y,
        G::Div => x / y,
        G::Max => x.max(y),
        G::Min => x.min(y),
        G::Pow => x.powf(y),
        _ => return None,
    };
    Some(Ok(Lit::Float(r)))
}

/// Folds an elementwise function of one literal, in `f64` (the literal is still weak: it
/// is rounded into a dtype only when it meets a tensor).
fn fold_unary(op: GraphOp, a: Lit) -> Option<Result<Lit, String>> {
    use GraphOp as G;
    if let Lit::Bool(_) = a {
        return Some(Err(format!(
            "`{}` is not defined on bool literals",
            op.name()
        )));
    }
    if let Lit::Int(v) = a {
        match op {
            G::Neg => {
                return Some(
                    v.checked_neg()
                        .map(Lit::Int)
                        .ok_or_else(|| "integer literal overflows".to_string()),
                )
            }
            G::Abs => {
                return Some(
                    v.checked_abs()
                        .map(Lit::Int)
                        .ok_or_else(|| "integer literal overflows".to_string()),
                )
            }
            G::Relu => return Some(Ok(Lit::Int(v.max(0)))),
            _ => {}
        }
    }
    let x = a.as_f64();
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let r = match op {
        G::Neg => -x,
        G::Abs => x.abs(),
        G::Exp => x.exp(),
        G::Log => x.ln(),
        G::Sqrt => x.sqrt(),
        G::Rsqrt => 1.0 / x.sqrt(),
        G::Recip => 1.0 / x,
        G::Tanh => x.tanh(),
        G::Sigmoid => sigmoid(x),
        G::Relu => x.max(0.0),
        G::Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        G::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
        G::Silu => x * sigmoid(x),
        G::Erf => libm::erf(x),
        _ => return None,
    };
    Some(Ok(Lit::Float(r)))
}

/// The candidate closest to `name` by edit distance, if close enough to suggest.
pub(crate) fn closest<'n>(
    name: &str,
    candidates: impl Iterator<Item = &'n str>,
) -> Option<&'n str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(name, c);
        if d <= (name.len().div_ceil(3)).max(1)
            && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc))
        {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}
