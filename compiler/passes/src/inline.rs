//! Inlining: every `graph.call` is replaced by a copy of the callee's body, with the
//! callee's size names bound to the caller's sizes (types and size attributes rewritten).

use std::collections::{BTreeMap, HashMap};
use tessera_dialects::{
    Attr, Func, GraphOp, Module, Op, Operation, SymExpr, TensorType, Type, Value, ValueData,
};

/// Why inlining failed (a malformed module: the verifier reports the details).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inline: {0}")]
pub struct InlineError(pub String);

/// Inlines every call in every function; returns how many calls were inlined.
///
/// Each function's own operations are first merged by CSE, so identical calls (same callee,
/// same arguments) become one: a program whose call tree doubles at each level
/// (`g(x) + g(x)`) inlines in linear time. Then each function is expanded top-down from
/// those bodies ([`expand`]): the work per function is the size of its inlined body, never
/// a copy of a callee's already inlined body, so a chain of calls costs the output's size.
pub fn run(module: &mut Module) -> Result<usize, InlineError> {
    let order = callee_first_order(module)?;
    let total = merge_calls(module, &order);
    let names = Names::of(module);
    let bodies: Vec<Option<Expanded>> = (0..module.funcs.len())
        .map(|i| expand(module, &names, i))
        .collect::<Result<_, _>>()?;
    for (f, b) in module.funcs.iter_mut().zip(bodies) {
        if let Some(b) = b {
            b.install(f);
        }
    }
    Ok(total)
}

/// Reduces the module to the function `name` with every call inlined (what compiling one
/// entry needs): the other functions are removed, not inlined. The result is the function
/// [`run`] makes, in time linear in its inlined size. Returns how many calls `name` and
/// its callees made (as written, after merging identical calls).
pub fn entry(module: &mut Module, name: &str) -> Result<usize, InlineError> {
    let idx = module
        .funcs
        .iter()
        .position(|f| f.name == name)
        .ok_or_else(|| InlineError(format!("no function `{name}`")))?;
    let order = callee_first_order(module)?;
    let total = merge_calls(module, &order);
    if let Some(b) = expand(module, &Names::of(module), idx)? {
        b.install(&mut module.funcs[idx]);
    }
    let f = module.funcs.swap_remove(idx);
    module.funcs = vec![f];
    Ok(total)
}

/// CSE on every function's own operations (in `order`, callees first); returns the number
/// of calls left, which is the number of calls [`run`] inlines.
fn merge_calls(module: &mut Module, order: &[usize]) -> usize {
    let mut calls = 0;
    for &idx in order {
        let func = &mut module.funcs[idx];
        crate::cse::run_func(func);
        calls += func.body.ops.iter().filter(|o| is_call(o)).count();
    }
    calls
}

/// The module's functions by name (a call looks its callee up here, not by a scan).
struct Names<'m>(HashMap<&'m str, usize>);

impl<'m> Names<'m> {
    fn of(module: &'m Module) -> Names<'m> {
        let mut names = HashMap::new();
        for (i, f) in module.funcs.iter().enumerate() {
            // The first of two same-named functions, as `Module::func` finds it.
            names.entry(f.name.as_str()).or_insert(i);
        }
        Names(names)
    }

    fn get<'a>(&self, module: &'a Module, name: &str) -> Option<&'a Func> {
        self.0.get(name).map(|&i| &module.funcs[i])
    }
}

fn is_call(op: &Operation) -> bool {
    op.op == Op::Graph(GraphOp::Call)
}

/// A function's inlined body and the values its copies of callee operations define.
struct Expanded {
    ops: Vec<Operation>,
    values: Vec<ValueData>,
}

impl Expanded {
    fn install(self, f: &mut Func) {
        f.body.ops = self.ops;
        f.values = self.values;
    }
}

/// One function being copied: a callee (`call` is the call's results in the frame below,
/// `map` its values to the caller's, `sizes` its size names to the caller's sizes), or
/// the function being expanded itself (`call` is `None`: its values stay, call results
/// forward to the returned values).
struct Frame<'m> {
    func: &'m Func,
    next: usize,
    map: BTreeMap<Value, Value>,
    sizes: BTreeMap<String, SymExpr>,
    /// Whether some size name binds to something other than the same name.
    renames: bool,
    call: Option<Vec<Value>>,
}

/// The body of function `idx` with every call inlined, depth first in program order: the
/// operations and values [`run`]'s callee-first inlining made, op for op and value for
/// value. `None` when it makes no call. An explicit stack: no recursion limit on depth.
fn expand(module: &Module, names: &Names, idx: usize) -> Result<Option<Expanded>, InlineError> {
    let root = &module.funcs[idx];
    if !root.body.ops.iter().any(is_call) {
        return Ok(None);
    }
    let mut values = root.values.clone();
    let mut out = Vec::with_capacity(root.body.ops.len());
    let mut stack = vec![Frame {
        func: root,
        next: 0,
        map: BTreeMap::new(),
        sizes: BTreeMap::new(),
        renames: false,
        call: None,
    }];
    while let Some(top) = stack.last_mut() {
        let func: &Func = top.func;
        let Some(op) = func.body.ops.get(top.next) else {
            if top.call.is_some() {
                return Err(InlineError(format!("`{}` has no return", top.func.name)));
            }
            break;
        };
        top.next += 1;
        let inlined = top.call.is_some();
        let mut operands = Vec::with_capacity(op.operands.len());
        for v in &op.operands {
            operands.push(match top.map.get(v) {
                Some(m) => *m,
                None if !inlined => *v,
                None => {
                    return Err(InlineError(format!(
                        "use of an undefined value in `{}`",
                        top.func.name
                    )))
                }
            });
        }
        if op.op == Op::Graph(GraphOp::Return) && inlined {
            let frame = stack.pop().expect("the top frame");
            let results = frame.call.expect("a callee frame");
            if operands.len() != results.len() {
                return Err(InlineError(format!(
                    "`{}` returns the wrong number of results",
                    frame.func.name
                )));
            }
            let caller = stack.last_mut().expect("the caller's frame");
            for (r, v) in results.into_iter().zip(operands) {
                caller.map.insert(r, v);
            }
            continue;
        }
        if is_call(op) {
            let frame = call_frame(module, names, &values, op, operands)?;
            stack.push(frame);
            continue;
        }
        let mut new = op.clone();
        new.operands = operands;
        if inlined && top.renames {
            let subst = |e: &SymExpr| -> Result<SymExpr, InlineError> {
                e.substitute(&|n| top.sizes.get(n).cloned())
                    .map_err(|e| InlineError(e.to_string()))
            };
            for (_, a) in &mut new.attrs.0 {
                if let Attr::Sizes(dims) = a {
                    for d in dims.iter_mut() {
                        *d = subst(d)?;
                    }
                }
            }
            let mut results = Vec::with_capacity(op.results.len());
            for r in &op.results {
                let ty = match top.func.ty(*r) {
                    Type::Tensor(t) => Type::Tensor(TensorType::new(
                        t.dtype,
                        t.shape.iter().map(&subst).collect::<Result<_, _>>()?,
                    )),
                    other => other.clone(),
                };
                values.push(ValueData { ty, name: None });
                let nv = Value((values.len() - 1) as u32);
                top.map.insert(*r, nv);
                results.push(nv);
            }
            new.results = results;
        } else if inlined {
            // The callee's sizes are the caller's names: types and attributes stay.
            let mut results = Vec::with_capacity(op.results.len());
            for r in &op.results {
                values.push(ValueData {
                    ty: top.func.ty(*r).clone(),
                    name: None,
                });
                let nv = Value((values.len() - 1) as u32);
                top.map.insert(*r, nv);
                results.push(nv);
            }
            new.results = results;
        }
        out.push(new);
    }
    Ok(Some(Expanded { ops: out, values }))
}

/// The frame that copies the callee of `call`, whose operands (in the function being
/// expanded, typed by `values`) are `args`: the callee's size names bound from the
/// argument types, its parameters mapped to the arguments.
fn call_frame<'m>(
    module: &'m Module,
    names: &Names,
    values: &[ValueData],
    call: &Operation,
    args: Vec<Value>,
) -> Result<Frame<'m>, InlineError> {
    let name = call
        .attrs
        .symbol("callee")
        .ok_or_else(|| InlineError("call without a callee".into()))?;
    let callee = names
        .get(module, name)
        .ok_or_else(|| InlineError(format!("call of unknown function `{name}`")))?;
    if args.len() != callee.params.len() {
        return Err(InlineError(format!(
            "`{}` called with the wrong number of arguments",
            callee.name
        )));
    }
    let mut sizes: BTreeMap<String, SymExpr> = BTreeMap::new();
    for (arg, param) in args.iter().zip(&callee.params) {
        let at = values.get(arg.index()).and_then(|d| d.ty.as_tensor());
        if let (Some(at), Some(pt)) = (at, callee.tensor_ty(*param)) {
            for (ad, pd) in at.shape.iter().zip(&pt.shape) {
                if let Some(n) = pd.as_name() {
                    sizes.entry(n.to_string()).or_insert_with(|| ad.clone());
                }
            }
        }
    }
    let map = callee.params.iter().copied().zip(args).collect();
    let renames = sizes.iter().any(|(n, e)| e.as_name() != Some(n.as_str()));
    Ok(Frame {
        func: callee,
        next: 0,
        map,
        sizes,
        renames,
        call: Some(call.results.clone()),
    })
}

/// The indices of the module's functions, every callee before its callers.
fn callee_first_order(module: &Module) -> Result<Vec<usize>, InlineError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let names = Names::of(module);
    let index = |name: &str| names.0.get(name).copied();
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
