//! Inlining: every `graph.call` is replaced by a copy of the callee's body, with the
//! callee's size names bound to the caller's sizes (types and size attributes rewritten).

use std::collections::BTreeMap;
use tessera_dialects::{
    Attr, Func, FuncKind, GraphOp, Module, Op, Operation, SymExpr, TensorType, Type, Value,
};

/// Why inlining failed (a malformed module: the verifier reports the details).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inline: {0}")]
pub struct InlineError(pub String);

/// Inlines every call in every function; returns how many calls were inlined.
///
/// Functions are processed callee first, so a callee is already free of calls when it is
/// copied, and identical calls (same callee, same arguments) are merged before inlining:
/// a program whose call tree doubles at each level (`g(x) + g(x)`) inlines in linear time.
pub fn run(module: &mut Module) -> Result<usize, InlineError> {
    let mut total = 0;
    for idx in callee_first_order(module)? {
        let mut func = std::mem::replace(&mut module.funcs[idx], Func::new(FuncKind::Graph, ""));
        crate::cse::run_func(&mut func);
        let n = inline_once(module, &mut func);
        module.funcs[idx] = func;
        total += n?;
    }
    Ok(total)
}

/// The indices of the module's functions, every callee before its callers.
fn callee_first_order(module: &Module) -> Result<Vec<usize>, InlineError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let index = |name: &str| module.funcs.iter().position(|f| f.name == name);
    let callees = |f: &Func| -> Vec<Option<usize>> {
        f.body
            .ops
            .iter()
            .filter(|o| o.op == Op::Graph(GraphOp::Call))
            .map(|o| o.attrs.symbol("callee").and_then(index))
            .collect()
    };
    let mut marks = vec![Mark::New; module.funcs.len()];
    let mut order = Vec::new();
    for root in 0..module.funcs.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (function, its callees, next callee to visit).
        marks[root] = Mark::Active;
        let mut stack = vec![(root, callees(&module.funcs[root]), 0usize)];
        while let Some((f, succ, next)) = stack.last_mut() {
            if *next == succ.len() {
                marks[*f] = Mark::Done;
                order.push(*f);
                stack.pop();
                continue;
            }
            let callee = succ[*next];
            *next += 1;
            let Some(c) = callee else {
                return Err(InlineError(format!(
                    "`{}` calls an unknown function",
                    module.funcs[*f].name
                )));
            };
            match marks[c] {
                Mark::Active => {
                    return Err(InlineError(format!(
                        "`{}` is recursive",
                        module.funcs[c].name
                    )));
                }
                Mark::New => {
                    marks[c] = Mark::Active;
                    stack.push((c, callees(&module.funcs[c]), 0));
                }
                Mark::Done => {}
            }
        }
    }
    Ok(order)
}

/// Inlines the calls present in `func` now (not those the inlined bodies bring).
fn inline_once(module: &Module, func: &mut Func) -> Result<usize, InlineError> {
    let ops = std::mem::take(&mut func.body.ops);
    let mut out = Vec::with_capacity(ops.len());
    // Call results -> the callee's returned values, as copied into the caller.
    let mut forward: BTreeMap<Value, Value> = BTreeMap::new();
    let mut count = 0;
    for mut op in ops {
        for v in &mut op.operands {
            if let Some(f) = forward.get(v) {
                *v = *f;
            }
        }
        if op.op != Op::Graph(GraphOp::Call) {
            out.push(op);
            continue;
        }
        let name = op
            .attrs
            .symbol("callee")
            .ok_or_else(|| InlineError("call without a callee".into()))?;
        let callee = module
            .func(name)
            .ok_or_else(|| InlineError(format!("call of unknown function `{name}`")))?;
        let returned = inline_call(func, &op, callee, &mut out)?;
        for (r, v) in op.results.iter().zip(returned) {
            forward.insert(*r, v);
        }
        count += 1;
    }
    func.body.ops = out;
    Ok(count)
}

/// Copies the callee's body after `out`; returns the values standing for the call's results.
fn inline_call(
    func: &mut Func,
    call: &Operation,
    callee: &Func,
    out: &mut Vec<Operation>,
) -> Result<Vec<Value>, InlineError> {
    if call.operands.len() != callee.params.len() {
        return Err(InlineError(format!(
            "`{}` called with the wrong number of arguments",
            callee.name
        )));
    }
    // Bind the callee's size names from the argument types.
    let mut sizes: BTreeMap<String, SymExpr> = BTreeMap::new();
    for (arg, param) in call.operands.iter().zip(&callee.params) {
        if let (Some(at), Some(pt)) = (func.tensor_ty(*arg), callee.tensor_ty(*param)) {
            for (ad, pd) in at.shape.iter().zip(&pt.shape) {
                if let Some(n) = pd.as_name() {
                    sizes.entry(n.to_string()).or_insert_with(|| ad.clone());
                }
            }
        }
    }
    let subst = |e: &SymExpr| -> Result<SymExpr, InlineError> {
        e.substitute(&|n| sizes.get(n).cloned())
            .map_err(|e| InlineError(e.to_string()))
    };
    let mut map: BTreeMap<Value, Value> = BTreeMap::new();
    for (arg, param) in call.operands.iter().zip(&callee.params) {
        map.insert(*param, *arg);
    }
    let lookup = |map: &BTreeMap<Value, Value>, v: &Value| {
        map.get(v)
            .copied()
            .ok_or_else(|| InlineError(format!("use of an undefined value in `{}`", callee.name)))
    };
    for op in &callee.body.ops {
        if op.op == Op::Graph(GraphOp::Return) {
            if op.operands.len() != call.results.len() {
                return Err(InlineError(format!(
                    "`{}` returns the wrong number of results",
                    callee.name
                )));
            }
            return op.operands.iter().map(|v| lookup(&map, v)).collect();
        }
        let mut new = op.clone();
        for v in &mut new.operands {
            *v = lookup(&map, v)?;
        }
        for (_, a) in &mut new.attrs.0 {
            if let Attr::Sizes(dims) = a {
                for d in dims.iter_mut() {
                    *d = subst(d)?;
                }
            }
        }
        let mut results = Vec::new();
        for r in &op.results {
            let ty = match callee.ty(*r) {
                Type::Tensor(t) => Type::Tensor(TensorType::new(
                    t.dtype,
                    t.shape.iter().map(&subst).collect::<Result<_, _>>()?,
                )),
                other => other.clone(),
            };
            let nv = func.new_value(ty, None);
            map.insert(*r, nv);
            results.push(nv);
        }
        new.results = results;
        out.push(new);
    }
    Err(InlineError(format!("`{}` has no return", callee.name)))
}
