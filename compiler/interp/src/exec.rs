//! The evaluator: runs a graph function's body in order on host tensors, dispatching each
//! operation to its kernel, checking every result against its declared type, and running
//! `graph.call` recursively with a depth limit.

use crate::attrs;
use crate::bind::{bind_inputs, eval_shape, Bound};
use crate::error::InterpError;
use crate::kernels::reduce::ReduceOp;
use crate::kernels::{conv, einsum, layout, matmul, norm, pool, quant, reduce, KResult};
use tessera_dialects::{Func, FuncKind, GraphOp, Module, Op, Operation, Type, Value};
use tessera_tensor::Tensor;

/// How deep `graph.call`s may nest (recursion is an error in the DSL; this stops it).
pub const MAX_CALL_DEPTH: usize = 64;

/// Runs function `name` of `module` on `inputs` and returns its results.
pub fn run_func(
    module: &Module,
    name: &str,
    inputs: Vec<Tensor>,
) -> Result<Vec<Tensor>, InterpError> {
    let func = module.func(name).ok_or_else(|| {
        let names: Vec<&str> = module.funcs.iter().map(|f| f.name.as_str()).collect();
        InterpError::new(
            format!(
                "no function named `{name}` (the module has: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
            Default::default(),
        )
    })?;
    run(module, func, inputs, 0)
}

fn run(
    module: &Module,
    func: &Func,
    inputs: Vec<Tensor>,
    depth: usize,
) -> Result<Vec<Tensor>, InterpError> {
    if func.kind != FuncKind::Graph {
        return Err(InterpError::new(
            format!(
                "`{}` is a {}; the interpreter runs graph functions only",
                func.name,
                func.kind.keyword()
            ),
            func.loc,
        ));
    }
    let sizes = bind_inputs(func, &inputs)?;
    let mut env: Vec<Option<Tensor>> = vec![None; func.values.len()];
    for (p, t) in func.params.iter().zip(inputs) {
        match env.get_mut(p.index()) {
            Some(slot) => *slot = Some(t),
            None => {
                return Err(InterpError::new(
                    format!("parameter %{} is not in the value table", p.0),
                    func.loc,
                ))
            }
        }
    }
    let cx = Cx {
        module,
        func,
        sizes,
        depth,
    };
    match cx.run_block(&func.body.ops, env)? {
        Some(outs) => Ok(outs),
        None => Err(InterpError::new(
            format!("function `{}` does not end with graph.return", func.name),
            func.loc,
        )),
    }
}

/// What one function invocation knows while it runs.
struct Cx<'a> {
    module: &'a Module,
    func: &'a Func,
    sizes: Bound,
    depth: usize,
}

impl Cx<'_> {
    /// Runs a block's operations in order; its terminator (`graph.return` of the body or
    /// `graph.yield` of a fused kernel's region) gives the results (`None`: no terminator).
    fn run_block(
        &self,
        ops: &[Operation],
        mut env: Vec<Option<Tensor>>,
    ) -> Result<Option<Vec<Tensor>>, InterpError> {
        for op in ops {
            let fail = |m: String| InterpError::new(format!("{}: {m}", op.op.full_name()), op.loc);
            if matches!(op.op, Op::Graph(GraphOp::Return | GraphOp::Yield)) {
                let outs = op
                    .operands
                    .iter()
                    .map(|v| self.get(&env, *v).cloned())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(fail)?;
                if op.op == Op::Graph(GraphOp::Return) {
                    self.check_returns(&outs).map_err(fail)?;
                }
                return Ok(Some(outs));
            }
            let results = self.eval(op, &env)?;
            if results.len() != op.results.len() {
                return Err(fail(format!(
                    "produced {} result{} but the operation declares {}",
                    results.len(),
                    if results.len() == 1 { "" } else { "s" },
                    op.results.len()
                )));
            }
            for (v, t) in op.results.iter().zip(results) {
                self.check_type(*v, &t).map_err(fail)?;
                match env.get_mut(v.index()) {
                    Some(slot @ None) => *slot = Some(t),
                    Some(Some(_)) => return Err(fail(format!("value %{} is defined twice", v.0))),
                    None => return Err(fail(format!("value %{} is not in the value table", v.0))),
                }
            }
        }
        Ok(None)
    }

    /// Runs a `graph.fused` kernel: its region on the operands, in a scope of its own.
    fn fused(&self, op: &Operation, args: Vec<&Tensor>) -> Result<Vec<Tensor>, InterpError> {
        let fail = |m: String| InterpError::new(format!("graph.fused: {m}"), op.loc);
        let [region] = op.regions.as_slice() else {
            return Err(fail("expects exactly one region".into()));
        };
        if region.args.len() != args.len() {
            return Err(fail(format!(
                "the region takes {} arguments for {} operands",
                region.args.len(),
                args.len()
            )));
        }
        let mut env: Vec<Option<Tensor>> = vec![None; self.func.values.len()];
        for (a, t) in region.args.iter().zip(args) {
            match env.get_mut(a.index()) {
                Some(slot) => *slot = Some(t.clone()),
                None => return Err(fail(format!("value %{} is not in the value table", a.0))),
            }
        }
        self.run_block(&region.ops, env)?
            .ok_or_else(|| fail("the region does not end with graph.yield".into()))
    }

    fn get<'e>(&self, env: &'e [Option<Tensor>], v: Value) -> Result<&'e Tensor, String> {
        match env.get(v.index()) {
            Some(Some(t)) => Ok(t),
            Some(None) => Err(format!("value %{} is used before it is defined", v.0)),
            None => Err(format!("value %{} is not in the value table", v.0)),
        }
    }

    /// Checks a computed tensor against a declared tensor type.
    fn check_against(&self, ty: &Type, t: &Tensor, what: &str) -> Result<(), String> {
        let tt = ty
            .as_tensor()
            .ok_or_else(|| format!("{what} has type {ty}, not a tensor type"))?;
        if tt.dtype != t.dtype() {
            return Err(format!(
                "{what} is declared {tt} but the computed dtype is {}",
                t.dtype()
            ));
        }
        let shape = eval_shape(&tt.shape, &self.sizes).map_err(|e| format!("{what}: {e}"))?;
        let same =
            shape.len() == t.rank() && shape.iter().zip(t.shape()).all(|(&a, &b)| a == b as i64);
        if !same {
            return Err(format!(
                "{what} is declared {tt} = {shape:?} but the computed shape is {:?}",
                t.shape()
            ));
        }
        Ok(())
    }

    fn check_type(&self, v: Value, t: &Tensor) -> Result<(), String> {
        let ty = &self
            .func
            .values
            .get(v.index())
            .ok_or_else(|| format!("value %{} is not in the value table", v.0))?
            .ty;
        self.check_against(ty, t, &format!("result %{}", v.0))
    }

    fn check_returns(&self, outs: &[Tensor]) -> Result<(), String> {
        if outs.len() != self.func.result_types.len() {
            return Err(format!(
                "returns {} values but function `{}` declares {} results",
                outs.len(),
                self.func.name,
                self.func.result_types.len()
            ));
        }
        for (i, (t, ty)) in outs.iter().zip(&self.func.result_types).enumerate() {
            self.check_against(ty, t, &format!("result {i} of `{}`", self.func.name))?;
        }
        Ok(())
    }

    /// Evaluates one operation.
    fn eval(&self, op: &Operation, env: &[Option<Tensor>]) -> Result<Vec<Tensor>, InterpError> {
        let fail = |m: String| InterpError::new(format!("{}: {m}", op.op.full_name()), op.loc);
        let g = match op.op {
            Op::Graph(g) => g,
            Op::Tile(_) => {
                return Err(fail(
                    "a tile operation cannot appear in a graph function".into(),
                ))
            }
        };
        let args = op
            .operands
            .iter()
            .map(|v| self.get(env, *v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        if g == GraphOp::Call {
            return self.call(op, args);
        }
        if g == GraphOp::Fused {
            return self.fused(op, args);
        }
        self.kernel(g, op, &args).map(|t| vec![t]).map_err(fail)
    }

    fn call(&self, op: &Operation, args: Vec<&Tensor>) -> Result<Vec<Tensor>, InterpError> {
        let fail = |m: String| InterpError::new(format!("graph.call: {m}"), op.loc);
        let callee = attrs::symbol(&op.attrs, "callee").map_err(fail)?;
        let f = self
            .module
            .func(callee)
            .ok_or_else(|| fail(format!("no function named `{callee}`")))?;
        if self.depth + 1 > MAX_CALL_DEPTH {
            return Err(fail(format!(
                "calls nest deeper than {MAX_CALL_DEPTH} (is `{callee}` recursive?)"
            )));
        }
        let inputs = args.into_iter().cloned().collect();
        run(self.module, f, inputs, self.depth + 1).map_err(|e| InterpError {
            message: format!("in `{callee}` called here: {}", e.message),
            loc: if e.param.is_some() { op.loc } else { e.loc },
            param: None,
        })
    }

    /// Runs the kernel of a single-result operation.
    fn kernel(&self, g: GraphOp, op: &Operation, a: &[&Tensor]) -> KResult<Tensor> {
        use GraphOp as G;
        let at = &op.attrs;
        if let Some(r) = crate::kernels::elementwise::apply(g, at, a) {
            return r;
        }
        let n = a.len();
        let arity = |want: usize| -> KResult<()> {
            if n == want {
                Ok(())
            } else {
                Err(format!(
                    "expects {want} operand{}, got {n}",
                    if want == 1 { "" } else { "s" }
                ))
            }
        };
        let red = |r: ReduceOp| -> KResult<Tensor> {
            arity(1)?;
            reduce::reduce(
                r,
                a[0],
                attrs::ints(at, "axes")?,
                attrs::boolean(at, "keepdims")?,
            )
        };
        match g {
            G::MatMul => {
                arity(2)?;
                matmul::matmul(a[0], a[1])
            }
            G::Einsum => {
                if n == 0 {
                    return Err("expects at least 1 operand, got 0".into());
                }
                einsum::einsum(attrs::string(at, "spec")?, a)
            }
            G::ReduceSum => red(ReduceOp::Sum),
            G::ReduceMean => red(ReduceOp::Mean),
            G::ReduceMax => red(ReduceOp::Max),
            G::ReduceMin => red(ReduceOp::Min),
            G::Argmax => {
                arity(1)?;
                reduce::argmax(
                    a[0],
                    attrs::int(at, "axis")?,
                    attrs::boolean(at, "keepdims")?,
                )
            }
            G::Softmax => {
                arity(1)?;
                norm::softmax(a[0], attrs::int(at, "axis")?)
            }
            G::LogSoftmax => {
                arity(1)?;
                norm::log_softmax(a[0], attrs::int(at, "axis")?)
            }
            G::LayerNorm => {
                arity(3)?;
                norm::layernorm(
                    a[0],
                    a[1],
                    a[2],
                    attrs::int(at, "axis")?,
                    attrs::float(at, "eps")?,
                )
            }
            G::RmsNorm => {
                arity(2)?;
                norm::rmsnorm(
                    a[0],
                    a[1],
                    attrs::int(at, "axis")?,
                    attrs::float(at, "eps")?,
                )
            }
            G::Reshape => {
                arity(1)?;
                layout::reshape(a[0], &attrs::sizes(at, "shape", &self.sizes)?)
            }
            G::Transpose => {
                arity(1)?;
                layout::transpose(a[0], attrs::ints(at, "perm")?)
            }
            G::BroadcastTo => {
                arity(1)?;
                layout::broadcast_to(a[0], &attrs::sizes(at, "shape", &self.sizes)?)
            }
            G::Concat => {
                if n == 0 {
                    return Err("expects at least 1 operand, got 0".into());
                }
                layout::concat(a, attrs::int(at, "axis")?)
            }
            G::Slice => {
                arity(1)?;
                let start = attrs::sizes(at, "start", &self.sizes)?;
                let end = attrs::sizes(at, "end", &self.sizes)?;
                let dims: Vec<i64> = a[0].shape().iter().map(|&d| d as i64).collect();
                // Out of range: the message names the bounds as written.
                if let Some(m) = crate::slice_bounds_error(at, &dims, &start, &end) {
                    return Err(m);
                }
                layout::slice(a[0], &start, &end)
            }
            G::Conv2d => {
                arity(2)?;
                conv::conv2d(
                    a[0],
                    a[1],
                    attrs::pair(at, "stride")?,
                    attrs::pair(at, "padding")?,
                    attrs::pair(at, "dilation")?,
                    attrs::int(at, "groups")?,
                )
            }
            G::MaxPool2d | G::AvgPool2d => {
                arity(1)?;
                let (k, s, p) = (
                    attrs::pair(at, "kernel")?,
                    attrs::pair(at, "stride")?,
                    attrs::pair(at, "padding")?,
                );
                if g == G::MaxPool2d {
                    pool::maxpool2d(a[0], k, s, p)
                } else {
                    pool::avgpool2d(a[0], k, s, p)
                }
            }
            G::Quantize => {
                arity(2)?;
                quant::quantize(
                    a[0],
                    a[1],
                    attrs::dtype(at, "dtype")?,
                    attrs::opt_int(at, "axis")?,
                )
            }
            G::Dequantize => {
                arity(2)?;
                quant::dequantize(a[0], a[1], attrs::opt_int(at, "axis")?)
            }
            G::Call | G::Return => Err("internal error: handled by the evaluator".into()),
            // Elementwise operations were dispatched above.
            _ => Err(format!(
                "internal error: graph.{} reached the wrong dispatch",
                g.def().name
            )),
        }
    }
}
