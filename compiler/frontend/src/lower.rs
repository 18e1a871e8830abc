//! Lowering of one checked function body to graph IR: bindings, `let` annotations, results,
//! operators and casts, and the emission of operations with inferred types. Literals are in
//! `literals`, slicing in `slicing`, calls of the program's functions in `calls`, built-ins
//! in `builtins`.

use crate::ast::{BinOp, Expr, ExprKind, FnDecl, LetPattern, Stmt};
use crate::check::Signature;
use crate::diag::Diagnostic;
pub use crate::literals::Lit;
use crate::literals::{default_dtype, fold};
use crate::sizes::type_to_tensor;
use crate::suggest::closest;
use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::graph::infer::infer;
use tessera_dialects::{
    Attr, Attrs, DType, Func, FuncKind, GraphOp, Op, Operation, Span, TensorType, Type, Value,
};

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
    /// Per name, the suffix from which [`FnLowerer::name_value`] looks for a free
    /// `{name}_{n}` (every suffix below it is taken), so that a name shadowed many times
    /// costs one lookup, not one per earlier shadow.
    next_suffix: BTreeMap<String, usize>,
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
            next_suffix: BTreeMap::new(),
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
        self.bind_params(decl, sig);
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

    /// The parameters in scope, as the function's first values.
    fn bind_params(&mut self, decl: &FnDecl, sig: &Signature) {
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
    }

    /// Checks the body and returns the types of its final values, whatever the declared
    /// return type (see [`crate::check::infer_results`]).
    pub fn infer_results(
        mut self,
        decl: &FnDecl,
        sig: &Signature,
    ) -> Result<Vec<TensorType>, Vec<Diagnostic>> {
        self.bind_params(decl, sig);
        for stmt in &decl.body {
            self.stmt(stmt);
        }
        let items: Vec<&Expr> = match &decl.tail.kind {
            ExprKind::Tuple(items) => items.iter().collect(),
            _ => vec![&decl.tail],
        };
        let mut out = Vec::new();
        for item in items {
            match self.expr(item) {
                Ok(Val::Tensor(v)) => out.push(self.ty(v)),
                Ok(Val::Lit(l)) => out.push(TensorType::scalar(default_dtype(l))),
                Ok(Val::Multi(vs)) => {
                    let _ = self.err::<()>(
                        Diagnostic::error(format!(
                            "this call returns {} results; bind them with `let (a, b, ...) = ...`",
                            vs.len()
                        ))
                        .primary(item.span, "several results"),
                    );
                }
                Err(Reported) => {}
            }
        }
        if self.diags.is_empty() {
            Ok(out)
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
        if self.used_names.contains(&candidate) {
            let n = self.next_suffix.entry(name.to_string()).or_insert(1);
            loop {
                candidate = format!("{name}_{n}");
                *n += 1;
                if !self.used_names.contains(&candidate) {
                    break;
                }
            }
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
            ExprKind::Int(v) => Ok(Val::Lit(Lit::int(*v))),
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
                    Val::Lit(Lit::Int(x, r)) => match x.checked_neg() {
                        Some(n) => Ok(Val::Lit(Lit::Int(n, -r))),
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
            Lit::Int(v, _) => match d {
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
                (Lit::Int(..), false) if d != DType::Bool => "the literal is out of the dtype's range",
                _ => "convert one side with `as`",
            };
            return self.err(
                Diagnostic::error(format!("{} cannot be used as {d}", l.describe()))
                    .primary(span, format!("this literal meets a tensor of dtype {d}"))
                    .hint(hint),
            );
        }
        let value = match (l, d.is_float()) {
            // A float tensor meets the whole expression computed in floating point.
            (l @ Lit::Int(..), true) => Attr::Float(l.as_f64()),
            (Lit::Int(v, _), false) => Attr::Int(v),
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
                if !crate::sizes::addressable(&ty) {
                    let what = format!("`{}` gives {ty}", op.name());
                    return self.err(crate::sizes::too_large().primary(span, what));
                }
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
}
