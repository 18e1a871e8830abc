//! Per-operation checks: arity and attributes against the declaration, then types:
//! `graph` ops against [`crate::graph::infer::infer`], `graph.call` against its callee.

use super::attrs::check_attrs;
use super::Checker;
use crate::dialect::{Operands, Results};
use crate::graph::GraphOp;
use crate::ir::{FuncKind, Op, Operation};
use crate::sym::SymExpr;
use crate::types::{TensorType, Type};
use std::collections::BTreeMap;

impl Checker<'_> {
    pub(super) fn check_op(&mut self, op: &Operation) {
        let def = op.op.def();
        let mut msgs = Vec::new();
        match def.operands {
            Operands::Fixed(names) if names.len() != op.operands.len() => msgs.push(format!(
                "expects {} operand(s) ({}), found {}",
                names.len(),
                names.join(", "),
                op.operands.len()
            )),
            Operands::Variadic { name, min } if op.operands.len() < min => msgs.push(format!(
                "expects at least {min} operand(s) ({name}), found {}",
                op.operands.len()
            )),
            _ => {}
        }
        if let Results::Fixed(n) = def.results {
            if n != op.results.len() {
                msgs.push(format!("expects {n} result(s), found {}", op.results.len()));
            }
        }
        msgs.extend(check_attrs(def.attrs, &op.attrs));
        if self.f.kind == FuncKind::Graph && matches!(op.op, Op::Tile(_)) {
            msgs.push("tile operations may only appear in a `tile.kernel`".into());
        }
        let structural_ok = msgs.is_empty();
        for m in msgs {
            self.error(op.loc, Some(op.op), m);
        }
        // Type checks assume the operation's shape and attributes are right.
        if !structural_ok
            || op
                .operands
                .iter()
                .chain(&op.results)
                .any(|v| self.ty(*v).is_none())
        {
            return;
        }
        let msgs = match op.op {
            Op::Graph(GraphOp::Return | GraphOp::Yield) => Vec::new(),
            Op::Graph(GraphOp::Fused) => self.check_fused(op),
            Op::Graph(GraphOp::Call) => self.check_call(op),
            Op::Graph(g) => self.check_graph_types(g, op),
            Op::Tile(t) => self.check_tile_op(t, op),
        };
        for m in msgs {
            self.error(op.loc, Some(op.op), m);
        }
    }

    fn tensor_types(&self, vs: &[crate::ir::Value]) -> Result<Vec<TensorType>, String> {
        let mut out = Vec::with_capacity(vs.len());
        for v in vs {
            match self.ty(*v) {
                Some(Type::Tensor(t)) => out.push(t.clone()),
                Some(t) => {
                    return Err(format!(
                        "`{}` has type `{t}`, but graph operations take tensors",
                        self.vname(*v)
                    ))
                }
                None => return Err(format!("value {} outside the value table", v.0)),
            }
        }
        Ok(out)
    }

    /// Result types must be what inference computes.
    fn check_graph_types(&self, g: GraphOp, op: &Operation) -> Vec<String> {
        let (operands, results) = match (
            self.tensor_types(&op.operands),
            self.tensor_types(&op.results),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return vec![e],
        };
        match crate::graph::infer::infer(g, &op.attrs, &operands) {
            Ok(want) if want == results => Vec::new(),
            Ok(want) => vec![format!(
                "result type(s) ({}) differ from the inferred ({})",
                join(&results),
                join(&want)
            )],
            Err(e) => {
                let mut m = match e.operand {
                    Some(k) => format!("operand #{k}: {}", e.message),
                    None => e.message,
                };
                if let Some(h) = e.hint {
                    m.push_str(&format!(" (hint: {h})"));
                }
                vec![m]
            }
        }
    }

    /// A fused kernel's region is isolated: its arguments have the operands' types, its
    /// operations are graph operations other than calls, returns and nested kernels, they
    /// use only the region's own values, and it yields the result's type.
    fn check_fused(&self, op: &Operation) -> Vec<String> {
        let mut msgs = Vec::new();
        let [region] = op.regions.as_slice() else {
            return vec![format!(
                "takes exactly one region, found {}",
                op.regions.len()
            )];
        };
        if region.args.len() != op.operands.len() {
            msgs.push(format!(
                "the region takes {} argument(s) for {} operand(s)",
                region.args.len(),
                op.operands.len()
            ));
        }
        for (k, (a, v)) in region.args.iter().zip(&op.operands).enumerate() {
            if self.ty(*a) != self.ty(*v) {
                msgs.push(format!(
                    "region argument #{k} `{}` has a type other than operand #{k}",
                    self.vname(*a)
                ));
            }
        }
        let mut defined: std::collections::BTreeSet<crate::ir::Value> =
            region.args.iter().copied().collect();
        for inner in &region.ops {
            match inner.op {
                Op::Graph(GraphOp::Fused | GraphOp::Call | GraphOp::Return) | Op::Tile(_) => msgs
                    .push(format!(
                        "`{}` cannot appear inside a `graph.fused` region",
                        inner.op.full_name()
                    )),
                _ => {}
            }
            for v in &inner.operands {
                if !defined.contains(v) {
                    msgs.push(format!(
                        "the region uses `{}` from outside: a fused kernel sees only its inputs",
                        self.vname(*v)
                    ));
                }
            }
            defined.extend(inner.results.iter().copied());
        }
        if let Some(last) = region.ops.last() {
            if last.op != Op::Graph(GraphOp::Yield) {
                msgs.push("the region must end with `graph.yield`".into());
            } else if let (Some(y), Some(r)) = (last.operands.first(), op.results.first()) {
                if self.ty(*y) != self.ty(*r) {
                    msgs.push(format!(
                        "the region yields `{}`, whose type differs from the result's",
                        self.vname(*y)
                    ));
                }
            }
        }
        msgs
    }

    /// A call's operands match the callee's parameters and its results the callee's
    /// results, once the callee's size names are bound to the caller's sizes.
    fn check_call(&self, op: &Operation) -> Vec<String> {
        let Some(name) = op.attrs.symbol("callee") else {
            return Vec::new();
        };
        let Some(callee) = self.m.func(name) else {
            return vec![format!("calls `@{name}`, which is not in the module")];
        };
        if callee.kind != FuncKind::Graph {
            return vec![format!("calls `@{name}`, which is not a graph function")];
        }
        let (args, results) = match (
            self.tensor_types(&op.operands),
            self.tensor_types(&op.results),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return vec![e],
        };
        let params: Vec<Option<&TensorType>> = callee
            .params
            .iter()
            .map(|p| callee.values.get(p.index()).and_then(|d| d.ty.as_tensor()))
            .collect();
        if params.len() != args.len() {
            return vec![format!(
                "`@{name}` takes {} argument(s), found {}",
                params.len(),
                args.len()
            )];
        }
        // Bind each size name that stands alone in a parameter's shape.
        let mut bind: BTreeMap<String, SymExpr> = BTreeMap::new();
        let mut msgs = Vec::new();
        for (k, (p, a)) in params.iter().zip(&args).enumerate() {
            let Some(p) = p else {
                msgs.push(format!("parameter #{k} of `@{name}` is not a tensor"));
                continue;
            };
            if p.rank() == a.rank() {
                for (pd, ad) in p.shape.iter().zip(&a.shape) {
                    if let Some(n) = pd.as_name() {
                        bind.entry(n.to_string()).or_insert_with(|| ad.clone());
                    }
                }
            }
        }
        if !msgs.is_empty() {
            return msgs;
        }
        let subst = |t: &TensorType| -> Result<TensorType, String> {
            let mut shape = Vec::with_capacity(t.rank());
            for d in &t.shape {
                shape.push(
                    d.substitute(&|n| bind.get(n).cloned())
                        .map_err(|e| e.to_string())?,
                );
            }
            Ok(TensorType::new(t.dtype, shape))
        };
        for (k, (p, a)) in params.iter().zip(&args).enumerate() {
            let Some(p) = p else { continue };
            match subst(p) {
                Ok(want) if &want == a => {}
                Ok(want) => msgs.push(format!(
                    "argument #{k} has type `{a}`, but `@{name}` expects `{want}` here (declared `{p}`)"
                )),
                Err(e) => msgs.push(format!("argument #{k}: {e}")),
            }
        }
        let mut want = Vec::new();
        for t in &callee.result_types {
            match t.as_tensor().map(subst) {
                Some(Ok(t)) => want.push(t),
                Some(Err(e)) => msgs.push(e),
                None => msgs.push(format!("`@{name}` returns a non-tensor type `{t}`")),
            }
        }
        if msgs.is_empty() && want != results {
            msgs.push(format!(
                "result type(s) ({}) differ from `@{name}`'s results ({})",
                join(&results),
                join(&want)
            ));
        }
        msgs
    }
}

pub(super) fn join<T: std::fmt::Display>(ts: &[T]) -> String {
    ts.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
