//! Calls: the built-in functions of DSL.md §4 and calls of the program's own functions.

use crate::ast::{Expr, ExprKind, Ident};
use crate::diag::Diagnostic;
use crate::lower::{FnLowerer, Reported, Val, R};
use crate::sizes::{expr_to_int, expr_to_sym};
use crate::suggest::closest;
use tessera_dialects::{Attr, Attrs, DType, GraphOp, Span, SymExpr};

/// Elementwise functions of one tensor.
const UNARY: &[(&str, GraphOp)] = &[
    ("neg", GraphOp::Neg),
    ("abs", GraphOp::Abs),
    ("exp", GraphOp::Exp),
    ("log", GraphOp::Log),
    ("sqrt", GraphOp::Sqrt),
    ("rsqrt", GraphOp::Rsqrt),
    ("recip", GraphOp::Recip),
    ("tanh", GraphOp::Tanh),
    ("sigmoid", GraphOp::Sigmoid),
    ("relu", GraphOp::Relu),
    ("gelu", GraphOp::Gelu),
    ("gelu_tanh", GraphOp::GeluTanh),
    ("silu", GraphOp::Silu),
    ("erf", GraphOp::Erf),
];

/// Every built-in name, for suggestions.
const OTHERS: &[&str] = &[
    "max",
    "min",
    "pow",
    "where",
    "einsum",
    "matmul",
    "sum",
    "mean",
    "argmax",
    "softmax",
    "log_softmax",
    "layernorm",
    "rmsnorm",
    "reshape",
    "transpose",
    "broadcast_to",
    "concat",
    "conv2d",
    "maxpool2d",
    "avgpool2d",
    "quantize",
    "dequantize",
];

/// The names of the built-in functions of DSL.md §4, in the order of its table.
pub fn builtin_names() -> Vec<&'static str> {
    UNARY
        .iter()
        .map(|(n, _)| *n)
        .chain(OTHERS.iter().copied())
        .collect()
}

/// The arguments of one call.
struct Args<'e> {
    callee: &'e Ident,
    pos: &'e [Expr],
    named: &'e [(Ident, Expr)],
    span: Span,
}

impl<'e> Args<'e> {
    fn named(&self, key: &str) -> Option<&'e Expr> {
        self.named
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, e)| e)
    }
}

impl FnLowerer<'_> {
    /// Lowers `callee(args..., named: ...)`.
    pub(crate) fn call(
        &mut self,
        callee: &Ident,
        pos: &[Expr],
        named: &[(Ident, Expr)],
        span: Span,
    ) -> R<Val> {
        let a = Args {
            callee,
            pos,
            named,
            span,
        };
        let name = callee.name.as_str();
        if let Some(sig) = self.sigs.get(name) {
            return self.user_call(&a, sig);
        }
        if let Some((_, op)) = UNARY.iter().find(|(n, _)| *n == name) {
            self.expect(&a, 1, 1, &[])?;
            let x = self.expr(&pos[0])?;
            return self.elementwise(*op, vec![(x, pos[0].span)], span);
        }
        match name {
            "max" | "min" if pos.len() == 2 => {
                self.expect(&a, 2, 2, &[])?;
                let op = if name == "max" {
                    GraphOp::Max
                } else {
                    GraphOp::Min
                };
                self.binary_call(op, &a)
            }
            "pow" => {
                self.expect(&a, 2, 2, &[])?;
                self.binary_call(GraphOp::Pow, &a)
            }
            "where" => {
                self.expect(&a, 3, 3, &[])?;
                let mut args = Vec::new();
                for e in pos {
                    args.push((self.expr(e)?, e.span));
                }
                self.elementwise(GraphOp::Select, args, span)
            }
            "matmul" => {
                self.expect(&a, 2, 2, &[])?;
                let x = self.tensor(&pos[0], None)?;
                let y = self.tensor(&pos[1], None)?;
                self.emit1(
                    GraphOp::MatMul,
                    vec![x, y],
                    Attrs::new(),
                    span,
                    &[pos[0].span, pos[1].span],
                )
            }
            "einsum" => self.einsum(&a),
            "sum" | "mean" | "max" | "min" => {
                self.expect(&a, 1, 1, &["axis", "keepdims"])?;
                let op = match name {
                    "sum" => GraphOp::ReduceSum,
                    "mean" => GraphOp::ReduceMean,
                    "max" => GraphOp::ReduceMax,
                    _ => GraphOp::ReduceMin,
                };
                let x = self.tensor(&pos[0], None)?;
                let rank = self.ty(x).rank();
                let axes = self.axes(a.named("axis"), rank, span)?;
                let keepdims = self.bool_arg(a.named("keepdims"), false)?;
                let attrs = Attrs::new()
                    .with("axes", Attr::Ints(axes))
                    .with("keepdims", Attr::Bool(keepdims));
                self.emit1(op, vec![x], attrs, span, &[pos[0].span])
            }
            "argmax" => {
                self.expect(&a, 1, 1, &["axis", "keepdims"])?;
                let x = self.tensor(&pos[0], None)?;
                let rank = self.ty(x).rank();
                let Some(ax) = a.named("axis") else {
                    return self.err(
                        Diagnostic::error("`argmax` needs `axis`")
                            .primary(span, "missing `axis`")
                            .hint("write e.g. `argmax(x, axis: -1)`"),
                    );
                };
                let axis = self.axis(ax, rank)?;
                let keepdims = self.bool_arg(a.named("keepdims"), false)?;
                let attrs = Attrs::new()
                    .with("axis", Attr::Int(axis))
                    .with("keepdims", Attr::Bool(keepdims));
                self.emit1(GraphOp::Argmax, vec![x], attrs, span, &[pos[0].span])
            }
            "softmax" | "log_softmax" => {
                self.expect(&a, 1, 1, &["axis"])?;
                let x = self.tensor(&pos[0], None)?;
                self.require_axes(x, name, pos[0].span)?;
                let axis = self.axis_or(a.named("axis"), -1, self.ty(x).rank())?;
                let op = if name == "softmax" {
                    GraphOp::Softmax
                } else {
                    GraphOp::LogSoftmax
                };
                self.emit1(
                    op,
                    vec![x],
                    Attrs::new().with("axis", Attr::Int(axis)),
                    span,
                    &[pos[0].span],
                )
            }
            "layernorm" | "rmsnorm" => {
                let n = if name == "layernorm" { 3 } else { 2 };
                self.expect(&a, n, n, &["axis", "eps"])?;
                let x = self.tensor(&pos[0], None)?;
                self.require_axes(x, name, pos[0].span)?;
                let mut operands = vec![x];
                for e in &pos[1..] {
                    let v = self.expr(e)?;
                    operands.push(self.require_tensor(
                        v,
                        e.span,
                        &format!("`{name}`'s gamma and beta"),
                    )?);
                }
                let axis = self.axis_or(a.named("axis"), -1, self.ty(x).rank())?;
                let default_eps = if name == "layernorm" { 1e-5 } else { 1e-6 };
                let eps = self.float_arg(a.named("eps"), default_eps)?;
                let op = if name == "layernorm" {
                    GraphOp::LayerNorm
                } else {
                    GraphOp::RmsNorm
                };
                let attrs = Attrs::new()
                    .with("axis", Attr::Int(axis))
                    .with("eps", Attr::Float(eps));
                let spans: Vec<Span> = pos.iter().map(|e| e.span).collect();
                self.emit1(op, operands, attrs, span, &spans)
            }
            "reshape" => self.reshape(&a),
            "transpose" => {
                self.expect(&a, 2, 2, &[])?;
                let x = self.tensor(&pos[0], None)?;
                let rank = self.ty(x).rank() as i64;
                let perm = self.int_list(&pos[1])?;
                let perm: Vec<i64> = perm
                    .into_iter()
                    .map(|p| if p < 0 { p + rank } else { p })
                    .collect();
                self.emit1(
                    GraphOp::Transpose,
                    vec![x],
                    Attrs::new().with("perm", Attr::Ints(perm)),
                    span,
                    &[pos[0].span, pos[1].span],
                )
            }
            "broadcast_to" => {
                self.expect(&a, 2, 2, &[])?;
                let x = self.tensor(&pos[0], None)?;
                let shape = self.size_list(&pos[1])?;
                self.emit1(
                    GraphOp::BroadcastTo,
                    vec![x],
                    Attrs::new().with("shape", Attr::Sizes(shape)),
                    span,
                    &[pos[0].span],
                )
            }
            "concat" => {
                self.expect(&a, 1, 1, &["axis"])?;
                let ExprKind::List(items) = &pos[0].kind else {
                    return self.err(
                        Diagnostic::error("`concat` takes a list of tensors")
                            .primary(pos[0].span, "expected `[a, b, ...]`"),
                    );
                };
                if items.is_empty() {
                    return self.err(
                        Diagnostic::error("`concat` needs at least one tensor")
                            .primary(pos[0].span, "empty list"),
                    );
                }
                let mut operands = Vec::new();
                let mut spans = Vec::new();
                for e in items {
                    let v = self.expr(e)?;
                    operands.push(self.require_tensor(v, e.span, "`concat`")?);
                    spans.push(e.span);
                }
                let rank = self.ty(operands[0]).rank();
                let axis = self.axis_or(a.named("axis"), 0, rank)?;
                self.emit1(
                    GraphOp::Concat,
                    operands,
                    Attrs::new().with("axis", Attr::Int(axis)),
                    span,
                    &spans,
                )
            }
            "conv2d" => {
                self.expect(&a, 2, 2, &["stride", "padding", "dilation", "groups"])?;
                let x = self.tensor(&pos[0], None)?;
                let w = self.tensor(&pos[1], None)?;
                let stride = self.pair_arg(a.named("stride"), [1, 1])?;
                let padding = self.pair_arg(a.named("padding"), [0, 0])?;
                let dilation = self.pair_arg(a.named("dilation"), [1, 1])?;
                let groups = match a.named("groups") {
                    Some(e) => self.int_arg(e)?,
                    None => 1,
                };
                let attrs = Attrs::new()
                    .with("stride", Attr::Ints(stride))
                    .with("padding", Attr::Ints(padding))
                    .with("dilation", Attr::Ints(dilation))
                    .with("groups", Attr::Int(groups));
                self.emit1(
                    GraphOp::Conv2d,
                    vec![x, w],
                    attrs,
                    span,
                    &[pos[0].span, pos[1].span],
                )
            }
            "maxpool2d" | "avgpool2d" => {
                self.expect(&a, 1, 1, &["kernel", "stride", "padding"])?;
                let x = self.tensor(&pos[0], None)?;
                let kernel = self.pair_arg(a.named("kernel"), [2, 2])?;
                let stride = self.pair_arg(a.named("stride"), [kernel[0], kernel[1]])?;
                let padding = self.pair_arg(a.named("padding"), [0, 0])?;
                let op = if name == "maxpool2d" {
                    GraphOp::MaxPool2d
                } else {
                    GraphOp::AvgPool2d
                };
                let attrs = Attrs::new()
                    .with("kernel", Attr::Ints(kernel))
                    .with("stride", Attr::Ints(stride))
                    .with("padding", Attr::Ints(padding));
                self.emit1(op, vec![x], attrs, span, &[pos[0].span])
            }
            "quantize" | "dequantize" => self.quant(&a, name == "quantize"),
            _ => {
                let mut d = Diagnostic::error(format!("unknown function `{name}`"))
                    .primary(callee.span, "not a built-in or a function of this file");
                let user: Vec<&str> = self.sigs.keys().map(String::as_str).collect();
                let all = UNARY
                    .iter()
                    .map(|(n, _)| *n)
                    .chain(OTHERS.iter().copied())
                    .chain(user);
                if let Some(s) = closest(name, all) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                self.err(d)
            }
        }
    }

    /// Checks the positional count and that every named argument is known and given once.
    fn expect(&mut self, a: &Args, min: usize, max: usize, allowed: &[&str]) -> R<()> {
        let name = &a.callee.name;
        if a.pos.len() < min || a.pos.len() > max {
            let want = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            return self.err(
                Diagnostic::error(format!(
                    "`{name}` takes {want} positional argument(s) but {} were given",
                    a.pos.len()
                ))
                .primary(a.span, "in this call")
                .hint(if allowed.is_empty() {
                    String::from("see the built-in functions in docs/language.md")
                } else {
                    format!(
                        "options are passed by name: {}",
                        allowed
                            .iter()
                            .map(|n| format!("`{n}:`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
            );
        }
        for (i, (k, _)) in a.named.iter().enumerate() {
            if !allowed.contains(&k.name.as_str()) {
                let mut d =
                    Diagnostic::error(format!("`{name}` has no argument named `{}`", k.name))
                        .primary(k.span, "unknown argument");
                d = if allowed.is_empty() {
                    d.hint(format!("`{name}` takes no named arguments"))
                } else {
                    d.hint(format!(
                        "its named arguments are {}",
                        allowed
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                };
                return self.err(d);
            }
            if a.named[..i].iter().any(|(p, _)| p.name == k.name) {
                return self.err(
                    Diagnostic::error(format!("argument `{}` given twice", k.name))
                        .primary(k.span, "again here"),
                );
            }
        }
        Ok(())
    }

    fn binary_call(&mut self, op: GraphOp, a: &Args) -> R<Val> {
        let x = self.expr(&a.pos[0])?;
        let y = self.expr(&a.pos[1])?;
        self.elementwise(op, vec![(x, a.pos[0].span), (y, a.pos[1].span)], a.span)
    }

    fn user_call(&mut self, a: &Args, sig: &crate::check::Signature) -> R<Val> {
        let name = &a.callee.name;
        if let Some((k, _)) = a.named.first() {
            return self.err(
                Diagnostic::error(format!(
                    "`{name}` is a function of this file: it takes positional arguments only"
                ))
                .primary(k.span, "named argument"),
            );
        }
        if a.pos.len() != sig.params.len() {
            return self.err(
                Diagnostic::error(format!(
                    "`{name}` takes {} argument(s) but {} were given",
                    sig.params.len(),
                    a.pos.len()
                ))
                .primary(a.span, "in this call")
                .secondary(sig.name_span, "defined here"),
            );
        }
        let mut args = Vec::new();
        for (e, p) in a.pos.iter().zip(&sig.params) {
            let dtype = if p.rank() == 0 { Some(p.dtype) } else { None };
            args.push((self.tensor(e, dtype)?, e.span));
        }
        self.emit_call(name, sig, args, a.span)
    }

    fn einsum(&mut self, a: &Args) -> R<Val> {
        if a.pos.len() < 2 {
            return self.err(
                Diagnostic::error("`einsum` takes an equation and at least one tensor")
                    .primary(a.span, "in this call")
                    .hint("e.g. `einsum(\"ij,jk->ik\", a, b)`"),
            );
        }
        self.expect(a, a.pos.len(), a.pos.len(), &[])?;
        let ExprKind::Str(spec) = &a.pos[0].kind else {
            return self.err(
                Diagnostic::error("the first argument of `einsum` is its equation string")
                    .primary(a.pos[0].span, "expected a string"),
            );
        };
        let mut operands = Vec::new();
        let mut spans = Vec::new();
        for e in &a.pos[1..] {
            let v = self.expr(e)?;
            operands.push(self.require_tensor(v, e.span, "`einsum`")?);
            spans.push(e.span);
        }
        let attrs = Attrs::new().with("spec", Attr::Str(spec.clone()));
        let r = self.emit1(GraphOp::Einsum, operands, attrs, a.span, &spans);
        if r.is_err() {
            // Point at the equation too: most einsum errors are in it.
            if let Some(d) = self.diags.last_mut() {
                let covered = d.labels.iter().any(|l| {
                    l.span.start <= a.pos[0].span.start && a.pos[0].span.end <= l.span.end
                });
                if !covered {
                    d.labels.push(crate::diag::Label {
                        span: a.pos[0].span,
                        message: "equation".into(),
                        primary: false,
                    });
                }
            }
        }
        r
    }

    fn reshape(&mut self, a: &Args) -> R<Val> {
        self.expect(a, 2, 2, &[])?;
        let x = self.tensor(&a.pos[0], None)?;
        let ty = self.ty(x);
        let ExprKind::List(items) = &a.pos[1].kind else {
            return self.err(
                Diagnostic::error("`reshape` takes a list of sizes")
                    .primary(a.pos[1].span, "expected `[D, ...]`"),
            );
        };
        let mut dims = Vec::new();
        let mut infer_at = None;
        for (i, e) in items.iter().enumerate() {
            let d = match expr_to_sym(e, &self.sizes) {
                Ok(d) => d,
                Err(d) => return self.err(d),
            };
            match d.as_const() {
                Some(-1) if infer_at.is_some() => {
                    return self.err(
                        Diagnostic::error("only one `-1` is allowed in a shape")
                            .primary(e.span, "second `-1`"),
                    );
                }
                Some(-1) => infer_at = Some(i),
                Some(c) if c < 1 => {
                    return self.err(
                        Diagnostic::error(format!("size {c} is not positive"))
                            .primary(e.span, "sizes must be at least 1 (or one -1)"),
                    );
                }
                _ => {}
            }
            dims.push(d);
        }
        if let Some(i) = infer_at {
            let total = ty.shape.iter().fold(SymExpr::lit(1), |acc, d| acc.mul(d));
            let known = dims
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .fold(SymExpr::lit(1), |acc, (_, d)| acc.mul(d));
            match total.exact_div(&known) {
                Some(q) if q.as_const().is_none_or(|c| c >= 1) => dims[i] = q,
                _ => {
                    return self.err(
                        Diagnostic::error(format!(
                            "cannot infer `-1`: {total} elements do not divide into {known}"
                        ))
                        .primary(items[i].span, "here")
                        .secondary(a.pos[0].span, format!("this is {ty}")),
                    );
                }
            }
        }
        let spans = [a.pos[0].span];
        self.emit1(
            GraphOp::Reshape,
            vec![x],
            Attrs::new().with("shape", Attr::Sizes(dims)),
            a.span,
            &spans,
        )
    }

    fn quant(&mut self, a: &Args, quantize: bool) -> R<Val> {
        let allowed: &[&str] = if quantize {
            &["dtype", "scale", "axis"]
        } else {
            &["scale", "axis"]
        };
        self.expect(a, 1, 1, allowed)?;
        let fname = if quantize { "quantize" } else { "dequantize" };
        let x = self.tensor(&a.pos[0], None)?;
        let Some(se) = a.named("scale") else {
            return self.err(
                Diagnostic::error(format!("`{fname}` needs `scale`"))
                    .primary(a.span, "missing `scale:`"),
            );
        };
        let scale = self.tensor(se, Some(DType::F32))?;
        let mut attrs = Attrs::new();
        if quantize {
            let dtype = match a.named("dtype") {
                None => DType::I8,
                Some(Expr {
                    kind: ExprKind::DType(d),
                    ..
                }) => *d,
                Some(e) => {
                    return self.err(
                        Diagnostic::error("`dtype` must be a dtype")
                            .primary(e.span, "expected `i8`, `f8e4m3` or `f8e5m2`"),
                    )
                }
            };
            attrs.set("dtype", Attr::DType(dtype));
        }
        match a.named("axis") {
            None
            | Some(Expr {
                kind: ExprKind::None,
                ..
            }) => {}
            Some(e) => {
                let rank = self.ty(x).rank();
                let axis = self.axis(e, rank)?;
                attrs.set("axis", Attr::Int(axis));
            }
        }
        let op = if quantize {
            GraphOp::Quantize
        } else {
            GraphOp::Dequantize
        };
        self.emit1(op, vec![x, scale], attrs, a.span, &[a.pos[0].span, se.span])
    }

    // ---- argument helpers ----

    /// Normalisations work along an axis: a 0-d operand has none.
    fn require_axes(&mut self, x: tessera_dialects::Value, name: &str, span: Span) -> R<()> {
        if self.ty(x).rank() > 0 {
            return Ok(());
        }
        self.err(
            Diagnostic::error(format!("`{name}` needs a tensor with at least one axis"))
                .primary(span, "this is a 0-d tensor"),
        )
    }

    fn int_arg(&mut self, e: &Expr) -> R<i64> {
        match expr_to_int(e) {
            Some(v) => Ok(v),
            None => self.err(Diagnostic::error("expected an integer").primary(e.span, "here")),
        }
    }

    fn int_list(&mut self, e: &Expr) -> R<Vec<i64>> {
        let ExprKind::List(items) = &e.kind else {
            return self.err(
                Diagnostic::error("expected a list of integers")
                    .primary(e.span, "expected `[...]`"),
            );
        };
        items.iter().map(|i| self.int_arg(i)).collect()
    }

    /// `[a, b]`, or one integer meaning `[n, n]`.
    fn pair_arg(&mut self, e: Option<&Expr>, default: [i64; 2]) -> R<Vec<i64>> {
        let Some(e) = e else {
            return Ok(default.to_vec());
        };
        if let Some(v) = expr_to_int(e) {
            return Ok(vec![v, v]);
        }
        let v = self.int_list(e)?;
        if v.len() != 2 {
            return self.err(
                Diagnostic::error(format!("expected two integers, got {}", v.len()))
                    .primary(e.span, "expected `[h, w]`"),
            );
        }
        Ok(v)
    }

    fn size_list(&mut self, e: &Expr) -> R<Vec<SymExpr>> {
        let ExprKind::List(items) = &e.kind else {
            return self.err(
                Diagnostic::error("expected a list of sizes")
                    .primary(e.span, "expected `[D, ...]`"),
            );
        };
        let mut out = Vec::new();
        for i in items {
            match expr_to_sym(i, &self.sizes) {
                Ok(s) => out.push(s),
                Err(d) => return self.err(d),
            }
        }
        Ok(out)
    }

    fn bool_arg(&mut self, e: Option<&Expr>, default: bool) -> R<bool> {
        match e {
            None => Ok(default),
            Some(Expr {
                kind: ExprKind::Bool(b),
                ..
            }) => Ok(*b),
            Some(e) => {
                self.err(Diagnostic::error("expected `true` or `false`").primary(e.span, "here"))
            }
        }
    }

    fn float_arg(&mut self, e: Option<&Expr>, default: f64) -> R<f64> {
        let Some(e) = e else { return Ok(default) };
        match self.expr(e) {
            Ok(Val::Lit(l)) if !matches!(l, crate::lower::Lit::Bool(_)) => Ok(l.as_f64()),
            Ok(_) => self.err(Diagnostic::error("expected a number").primary(e.span, "here")),
            Err(Reported) => Err(Reported),
        }
    }

    /// One axis, negative counting from the end.
    fn axis(&mut self, e: &Expr, rank: usize) -> R<i64> {
        let v = self.int_arg(e)?;
        let r = rank as i64;
        if v < -r || v >= r {
            return self.err(
                Diagnostic::error(format!(
                    "axis {v} is out of range for a tensor of rank {rank}"
                ))
                .primary(e.span, format!("expected {} to {}", -r, r - 1)),
            );
        }
        Ok(if v < 0 { v + r } else { v })
    }

    fn axis_or(&mut self, e: Option<&Expr>, default: i64, rank: usize) -> R<i64> {
        match e {
            Some(e) => self.axis(e, rank),
            None if rank == 0 => Ok(default),
            None => Ok(if default < 0 {
                default + rank as i64
            } else {
                default
            }),
        }
    }

    /// `axis: INT`, `axis: [INT, ...]` or absent (all axes); sorted and distinct.
    fn axes(&mut self, e: Option<&Expr>, rank: usize, _span: Span) -> R<Vec<i64>> {
        let Some(e) = e else {
            return Ok((0..rank as i64).collect());
        };
        let items: Vec<&Expr> = match &e.kind {
            ExprKind::List(items) => items.iter().collect(),
            _ => vec![e],
        };
        let mut out = Vec::new();
        for i in items {
            let a = self.axis(i, rank)?;
            if out.contains(&a) {
                return self.err(
                    Diagnostic::error(format!("axis {a} is listed twice"))
                        .primary(i.span, "repeated axis"),
                );
            }
            out.push(a);
        }
        out.sort_unstable();
        Ok(out)
    }
}
