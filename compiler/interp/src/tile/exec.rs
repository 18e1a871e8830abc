//! The kernel evaluator: binds the parameters, walks the grid in row-major order and runs
//! the body at each point, dispatching every operation and checking each result against
//! its declared type.

use super::bind::{bind_params, eval_size};
use super::dot::dot;
use super::memory::{load, store, Access};
use super::scalar::elementwise;
use super::value::{check_val, tile_shape, HostBuf, Val};
use super::MAX_ITERATIONS;
use crate::kernels::reduce::{self, ReduceOp};
use crate::kernels::{layout, quant};
use crate::InterpError;
use std::collections::BTreeMap;
use tessera_dialects::{
    Attr, DType, Func, FuncKind, GraphOp, Module, Op, Operation, Region, SymExpr, TileOp, Type,
    Value,
};
use tessera_tensor::Tensor;

/// Runs kernel `name` of `module` over its whole grid.
///
/// `buffers` holds one tensor per kernel parameter; `sizes` binds every size name that the
/// kernel's types and attributes use. Global buffers written by `tile.store` are updated
/// in place when the kernel succeeds and left unchanged when it fails. See the
/// [module documentation](super) for the semantics.
pub fn run_kernel(
    module: &Module,
    name: &str,
    buffers: &mut [Tensor],
    sizes: &BTreeMap<String, i64>,
) -> Result<(), InterpError> {
    let func = module.func(name).ok_or_else(|| {
        let names: Vec<&str> = module.funcs.iter().map(|f| f.name.as_str()).collect();
        InterpError::new(
            format!(
                "no kernel named `{name}` (the module has: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
            Default::default(),
        )
    })?;
    if func.kind != FuncKind::Kernel {
        return Err(InterpError::new(
            format!(
                "`{}` is a {}; run_kernel runs tile.kernel functions (use run_func)",
                func.name,
                func.kind.keyword()
            ),
            func.loc,
        ));
    }
    let kfail = |m: String| InterpError::new(format!("kernel `{}`: {m}", func.name), func.loc);
    let grid = grid_sizes(func, sizes).map_err(kfail)?;
    let bound = bind_params(func, buffers, sizes)?;
    let mut ex = Exec {
        func,
        sizes,
        bufs: bound.bufs,
        pid: vec![0; grid.len()],
        env: vec![None; func.values.len()],
    };
    let total: i64 = grid.iter().product();
    for point in 0..total {
        let mut rest = point;
        for (p, &g) in ex.pid.iter_mut().zip(&grid).rev() {
            *p = rest % g;
            rest /= g;
        }
        ex.env.iter_mut().for_each(|v| *v = None);
        for (p, v) in func.params.iter().zip(&bound.params) {
            ex.set(*p, v.clone()).map_err(kfail)?;
        }
        for b in ex.bufs.iter_mut().filter(|b| b.private) {
            b.poison();
        }
        if let Some(vals) = ex.block(&func.body.ops, false)? {
            if !vals.is_empty() {
                return Err(kfail("the kernel body may not yield values".into()));
            }
        }
    }
    for (b, &pi) in ex.bufs.into_iter().zip(&bound.origin) {
        if b.private {
            continue;
        }
        let t = Tensor::new(b.dtype, b.shape, b.data)
            .map_err(|e| kfail(format!("internal error: {e}")))?;
        match buffers.get_mut(pi) {
            Some(slot) => *slot = t,
            None => return Err(kfail("internal error: buffer slot out of range".into())),
        }
    }
    Ok(())
}

/// A size list attribute (`Ints` count as constant sizes).
fn size_list(a: Option<&Attr>, name: &str) -> Result<Vec<SymExpr>, String> {
    match a {
        Some(Attr::Sizes(v)) => Ok(v.clone()),
        Some(Attr::Ints(v)) => Ok(v.iter().map(|&c| SymExpr::lit(c)).collect()),
        Some(x) => Err(format!("attribute `{name}` must be a size list, got `{x}`")),
        None => Err(format!("missing attribute `{name}`")),
    }
}

/// Evaluates the grid; its point count must be within [`MAX_ITERATIONS`].
fn grid_sizes(func: &Func, sizes: &BTreeMap<String, i64>) -> Result<Vec<i64>, String> {
    let exprs = size_list(func.attrs.get("grid"), "grid")?;
    let mut total: i64 = 1;
    let mut out = Vec::with_capacity(exprs.len());
    for e in &exprs {
        let g = eval_size(e, sizes).map_err(|m| format!("grid: {m}"))?;
        if g < 0 {
            return Err(format!("grid: size `{e}` is {g}, which is negative"));
        }
        total = total.saturating_mul(g);
        if total > MAX_ITERATIONS {
            return Err(format!(
                "the grid has more than {MAX_ITERATIONS} points (sizes so far {out:?} then {g})"
            ));
        }
        out.push(g);
    }
    Ok(out)
}

/// The state of one kernel run.
struct Exec<'a> {
    func: &'a Func,
    sizes: &'a BTreeMap<String, i64>,
    bufs: Vec<HostBuf>,
    /// The current grid point.
    pid: Vec<i64>,
    env: Vec<Option<Val>>,
}

fn vname(v: Value) -> String {
    format!("%{}", v.0)
}

impl Exec<'_> {
    fn get(&self, v: Value) -> Result<&Val, String> {
        match self.env.get(v.index()) {
            Some(Some(x)) => Ok(x),
            Some(None) => Err(format!("value {} is used before it is defined", vname(v))),
            None => Err(format!("value {} is not in the value table", vname(v))),
        }
    }

    fn set(&mut self, v: Value, x: Val) -> Result<(), String> {
        match self.env.get_mut(v.index()) {
            Some(slot) => {
                *slot = Some(x);
                Ok(())
            }
            None => Err(format!("value {} is not in the value table", vname(v))),
        }
    }

    fn ty(&self, v: Value) -> Result<&Type, String> {
        self.func
            .values
            .get(v.index())
            .map(|d| &d.ty)
            .ok_or_else(|| format!("value {} is not in the value table", vname(v)))
    }

    /// Binds a region argument or result after checking it against its declared type.
    fn define(&mut self, v: Value, x: Val) -> Result<(), String> {
        check_val(self.ty(v)?, &x).map_err(|m| format!("{} {m}", vname(v)))?;
        self.set(v, x)
    }

    fn index(&self, v: Value) -> Result<i64, String> {
        match self.get(v)? {
            Val::Index(i) => Ok(*i),
            x => Err(format!("{} must be an index, got {}", vname(v), x.kind())),
        }
    }

    fn tile(&self, v: Value) -> Result<&Tensor, String> {
        match self.get(v)? {
            Val::Tile(t) => Ok(t),
            x => Err(format!("{} must be a tile, got {}", vname(v), x.kind())),
        }
    }

    fn buffer(&self, v: Value) -> Result<usize, String> {
        match self.get(v)? {
            Val::Buf(b) => Ok(*b),
            x => Err(format!("{} must be a buffer, got {}", vname(v), x.kind())),
        }
    }

    /// The declared tile type of the operation's single result: dtype and shape.
    fn result_tile(&self, op: &Operation) -> Result<(DType, Vec<usize>), String> {
        let r = single_result(op)?;
        match self.ty(r)? {
            Type::Tile(t) => Ok((t.dtype, tile_shape(t)?)),
            other => Err(format!(
                "the result {} must have a tile type, found `{other}`",
                vname(r)
            )),
        }
    }

    /// Runs a block; returns the values of its `tile.yield`, if it ends with one.
    /// `in_map` restricts it to graph operations (a `tile.map` region).
    fn block(&mut self, ops: &[Operation], in_map: bool) -> Result<Option<Vec<Val>>, InterpError> {
        for (i, op) in ops.iter().enumerate() {
            let fail = |m: String| InterpError::new(format!("{}: {m}", op.op.full_name()), op.loc);
            if op.op == Op::Tile(TileOp::Yield) {
                if i + 1 != ops.len() {
                    return Err(fail("must be the last operation of its region".into()));
                }
                let vals = op
                    .operands
                    .iter()
                    .map(|v| self.get(*v).cloned())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(fail)?;
                return Ok(Some(vals));
            }
            if in_map && matches!(op.op, Op::Tile(_)) {
                return Err(fail(
                    "a tile.map region computes one element: it may hold graph operations \
                     and its tile.yield only"
                        .into(),
                ));
            }
            let results = self.eval(op)?;
            if results.len() != op.results.len() {
                return Err(fail(format!(
                    "produced {} result(s) but the operation declares {}",
                    results.len(),
                    op.results.len()
                )));
            }
            for (v, x) in op.results.iter().zip(results) {
                self.define(*v, x)
                    .map_err(|m| fail(format!("result {m}")))?;
            }
        }
        Ok(None)
    }

    /// Evaluates one operation (not a `tile.yield`).
    fn eval(&mut self, op: &Operation) -> Result<Vec<Val>, InterpError> {
        let fail = |m: String| InterpError::new(format!("{}: {m}", op.op.full_name()), op.loc);
        match op.op {
            Op::Graph(g) => self
                .graph(g, op)
                .map(|t| vec![Val::Tensor(t)])
                .map_err(fail),
            Op::Tile(TileOp::For) => self.for_loop(op),
            Op::Tile(TileOp::Map) => self.map(op),
            Op::Tile(t) => self.tile_op(t, op).map_err(fail),
        }
    }

    fn graph(&self, g: GraphOp, op: &Operation) -> Result<Tensor, String> {
        if matches!(g, GraphOp::Return | GraphOp::Call) {
            return Err("cannot appear in a tile kernel".into());
        }
        let args = op
            .operands
            .iter()
            .map(|v| match self.get(*v)? {
                Val::Tensor(t) => Ok(t),
                x => Err(format!(
                    "operand {} is {}; graph operations in a kernel take element values \
                     (0-d tensors, or tile.map region arguments)",
                    vname(*v),
                    x.kind()
                )),
            })
            .collect::<Result<Vec<_>, String>>()?;
        elementwise(g, &op.attrs, &args)
    }

    fn tile_op(&mut self, t: TileOp, op: &Operation) -> Result<Vec<Val>, String> {
        let arity = |want: usize| -> Result<(), String> {
            if op.operands.len() == want {
                Ok(())
            } else {
                Err(format!(
                    "expects {want} operand(s), got {}",
                    op.operands.len()
                ))
            }
        };
        let one = |t: Tensor| Ok(vec![Val::Tile(t)]);
        match t {
            TileOp::ProgramId => {
                arity(0)?;
                let axis = op
                    .attrs
                    .int("axis")
                    .ok_or("missing integer attribute `axis`")?;
                let p = usize::try_from(axis)
                    .ok()
                    .and_then(|a| self.pid.get(a))
                    .ok_or_else(|| {
                        format!(
                            "axis {axis} is not an axis of the {}-D grid",
                            self.pid.len()
                        )
                    })?;
                Ok(vec![Val::Index(*p)])
            }
            TileOp::Load => {
                let (&bv, idx) = op.operands.split_first().ok_or("expects a buffer")?;
                let b = self.buffer(bv)?;
                let idx = idx
                    .iter()
                    .map(|v| self.index(*v))
                    .collect::<Result<Vec<_>, _>>()?;
                let (dtype, shape) = self.result_tile(op)?;
                let buf = self.bufs.get(b).ok_or("internal error: unknown buffer")?;
                if dtype != buf.dtype {
                    return Err(format!("loads a {dtype} tile from a {} buffer", buf.dtype));
                }
                let pad = match op.attrs.get("pad") {
                    Some(a) => quant::constant(a, dtype).map_err(|m| format!("`pad`: {m}"))?,
                    None => Tensor::zeros(dtype, Vec::new()).map_err(|e| e.to_string())?,
                };
                let access = Access::from_attrs(&op.attrs, buf.shape.len())?;
                one(load(buf, &idx, &shape, &pad, &access)?)
            }
            TileOp::Store => {
                if op.operands.len() < 2 {
                    return Err("expects a tile and a buffer".into());
                }
                let tile = self.tile(op.operands[0])?.clone();
                let b = self.buffer(op.operands[1])?;
                let idx = op.operands[2..]
                    .iter()
                    .map(|v| self.index(*v))
                    .collect::<Result<Vec<_>, _>>()?;
                let buf = self
                    .bufs
                    .get_mut(b)
                    .ok_or("internal error: unknown buffer")?;
                let access = Access::from_attrs(&op.attrs, buf.shape.len())?;
                store(buf, &idx, &tile, &access)?;
                Ok(Vec::new())
            }
            TileOp::Zeros => {
                arity(0)?;
                let (dtype, shape) = self.result_tile(op)?;
                one(Tensor::zeros(dtype, shape).map_err(|e| e.to_string())?)
            }
            TileOp::Splat => {
                arity(0)?;
                let (dtype, shape) = self.result_tile(op)?;
                let value = op.attrs.get("value").ok_or("missing attribute `value`")?;
                let c = quant::constant(value, dtype)?;
                one(layout::broadcast_to(&c, &to_i64(&shape))?)
            }
            TileOp::Dot => {
                // A fourth operand (the live columns) only allows the back end to leave
                // the columns past it undefined: every column is computed here.
                if op.operands.len() != 4 {
                    arity(3)?;
                }
                let [a, b, c] = [0, 1, 2].map(|i| self.tile(op.operands[i]));
                one(dot(a?, b?, c?)?)
            }
            TileOp::Reduce => {
                arity(1)?;
                let x = self.tile(op.operands[0])?;
                let axis = op
                    .attrs
                    .int("axis")
                    .ok_or("missing integer attribute `axis`")?;
                if axis < 0 || axis as usize >= x.rank() {
                    return Err(format!(
                        "axis {axis} is not an axis of a rank-{} tile",
                        x.rank()
                    ));
                }
                if op.attrs.str("kind") == Some("argmax") {
                    return one(reduce::argmax(x, axis, false)?);
                }
                let kind = match op.attrs.str("kind") {
                    Some("sum") => ReduceOp::Sum,
                    Some("max") => ReduceOp::Max,
                    Some("min") => ReduceOp::Min,
                    Some(k) => {
                        return Err(format!(
                            "`kind` must be sum, max, min or argmax, got \"{k}\""
                        ))
                    }
                    None => return Err("missing string attribute `kind`".into()),
                };
                one(reduce::reduce(kind, x, &[axis], false)?)
            }
            TileOp::Broadcast => {
                arity(1)?;
                let x = self.tile(op.operands[0])?;
                let (dtype, shape) = self.result_tile(op)?;
                if dtype != x.dtype() {
                    return Err(format!(
                        "broadcasting keeps the dtype: {} tile declared {dtype}",
                        x.dtype()
                    ));
                }
                // With `dims`, the operand first gets size-1 axes where the result has
                // axes of its own; then NumPy broadcasting applies.
                let x = match op.attrs.ints("dims") {
                    None => x.clone(),
                    Some(dims) => {
                        let ok = dims.len() == x.rank()
                            && dims.windows(2).all(|w| w[0] < w[1])
                            && dims.iter().all(|d| *d >= 0 && (*d as usize) < shape.len());
                        if !ok {
                            return Err(format!(
                                "`dims` {dims:?} does not map a rank-{} tile into rank {}",
                                x.rank(),
                                shape.len()
                            ));
                        }
                        let mut expanded = vec![1i64; shape.len()];
                        for (i, d) in dims.iter().enumerate() {
                            expanded[*d as usize] = x.shape()[i] as i64;
                        }
                        layout::reshape(x, &expanded)?
                    }
                };
                one(layout::broadcast_to(&x, &to_i64(&shape))?)
            }
            TileOp::Index => {
                arity(0)?;
                let v = match op.attrs.sizes("value") {
                    Some([e]) => eval_size(e, self.sizes)?,
                    _ => return Err("`value` must hold exactly one size".into()),
                };
                Ok(vec![Val::Index(v)])
            }
            TileOp::Affine => {
                let coeffs = op
                    .attrs
                    .ints("coeffs")
                    .ok_or("missing integer list `coeffs`")?;
                if coeffs.len() != op.operands.len() {
                    return Err(format!(
                        "`coeffs` has {} entries for {} operands",
                        coeffs.len(),
                        op.operands.len()
                    ));
                }
                let mut acc: i64 = match op.attrs.sizes("offset") {
                    None => 0,
                    Some([e]) => eval_size(e, self.sizes)?,
                    Some(_) => return Err("`offset` must hold exactly one size".into()),
                };
                for (c, v) in coeffs.iter().zip(&op.operands) {
                    let term = c
                        .checked_mul(self.index(*v)?)
                        .ok_or("index arithmetic overflows")?;
                    acc = acc.checked_add(term).ok_or("index arithmetic overflows")?;
                }
                Ok(vec![Val::Index(acc)])
            }
            TileOp::Iota => {
                let base = match op.operands.as_slice() {
                    [] => 0,
                    [b] => self.index(*b)?,
                    _ => return Err("takes at most one base index".into()),
                };
                let (dtype, shape) = self.result_tile(op)?;
                if dtype != DType::I32 {
                    return Err(format!("the result must be an i32 tile, not {dtype}"));
                }
                let axis = op
                    .attrs
                    .int("axis")
                    .ok_or("missing integer attribute `axis`")?;
                let axis = usize::try_from(axis)
                    .ok()
                    .filter(|a| *a < shape.len())
                    .ok_or_else(|| {
                        format!(
                            "axis {axis} is not an axis of the rank-{} tile",
                            shape.len()
                        )
                    })?;
                let inner: usize = shape[axis + 1..].iter().product();
                let n: usize = shape.iter().product();
                let vals = (0..n)
                    .map(|i| {
                        let c = ((i / inner.max(1)) % shape[axis]) as i64;
                        i32::try_from(base + c)
                            .map_err(|_| format!("iota value {} does not fit in i32", base + c))
                    })
                    .collect::<Result<Vec<i32>, String>>()?;
                one(
                    Tensor::new(DType::I32, shape, tessera_tensor::Data::Int(vals))
                        .map_err(|e| e.to_string())?,
                )
            }
            TileOp::Cast => {
                arity(1)?;
                let x = self.tile(op.operands[0])?;
                let dtype = op
                    .attrs
                    .dtype("dtype")
                    .ok_or("missing dtype attribute `dtype`")?;
                match op.attrs.str("round") {
                    None => one(quant::cast(x, dtype)?),
                    Some("arith") => one(quant::round_arith_tile(x, dtype)?),
                    Some(r) => Err(format!("`round` must be \"arith\", got {r:?}")),
                }
            }
            // A cache hint: the interpreter checks its operands and reads nothing.
            TileOp::Prefetch => {
                let [buf, idx] = op.operands[..] else {
                    return Err("expects a buffer and an index".into());
                };
                self.buffer(buf)?;
                self.index(idx)?;
                Ok(Vec::new())
            }
            TileOp::Yield => Err("must end a tile.for or tile.map region".into()),
            TileOp::For | TileOp::Map => Err("internal error: handled by eval".into()),
        }
    }

    /// `tile.for`: runs the region for `k = lo .. hi - 1`, threading the iteration values.
    fn for_loop(&mut self, op: &Operation) -> Result<Vec<Val>, InterpError> {
        let fail = |m: String| InterpError::new(format!("tile.for: {m}"), op.loc);
        let bounds = size_list(op.attrs.get("bounds"), "bounds").map_err(fail)?;
        let [lo, hi] = match bounds.as_slice() {
            [lo, hi] => [lo, hi].map(|e| eval_size(e, self.sizes)),
            _ => return Err(fail("`bounds` must be `sizes[lower, upper]`".into())),
        };
        let (lo, hi) = (lo.map_err(fail)?, hi.map_err(fail)?);
        if hi.saturating_sub(lo) > MAX_ITERATIONS {
            return Err(fail(format!(
                "the loop runs {lo} .. {hi}: more than {MAX_ITERATIONS} iterations"
            )));
        }
        let region = single_region(op).map_err(fail)?;
        let (&k, iter_args) = region
            .args
            .split_first()
            .ok_or_else(|| fail("the region must take the loop index".into()))?;
        if iter_args.len() != op.operands.len() || op.results.len() != op.operands.len() {
            return Err(fail(format!(
                "{} initial value(s), {} iteration argument(s) and {} result(s) must agree",
                op.operands.len(),
                iter_args.len(),
                op.results.len()
            )));
        }
        let mut carried = op
            .operands
            .iter()
            .map(|v| self.get(*v).cloned())
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        for i in lo..hi {
            self.define(k, Val::Index(i))
                .map_err(|m| fail(format!("loop index {m}")))?;
            for (a, x) in iter_args.iter().zip(carried) {
                self.define(*a, x)
                    .map_err(|m| fail(format!("iteration argument {m}")))?;
            }
            let next = self
                .block(&region.ops, false)?
                .ok_or_else(|| fail("the region must end with tile.yield".into()))?;
            if next.len() != iter_args.len() {
                return Err(fail(format!(
                    "the region yields {} value(s) for {} iteration argument(s)",
                    next.len(),
                    iter_args.len()
                )));
            }
            carried = next;
        }
        Ok(carried)
    }

    /// `tile.map`: evaluates the scalar region once on whole tiles (see `scalar`).
    fn map(&mut self, op: &Operation) -> Result<Vec<Val>, InterpError> {
        let fail = |m: String| InterpError::new(format!("tile.map: {m}"), op.loc);
        let tiles = op
            .operands
            .iter()
            .map(|v| self.tile(*v).cloned())
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        let shape = match tiles.first() {
            Some(t) => t.shape().to_vec(),
            None => return Err(fail("expects at least one tile".into())),
        };
        if let Some(t) = tiles.iter().find(|t| t.shape() != shape.as_slice()) {
            return Err(fail(format!(
                "all operands must have one shape (use tile.broadcast): {shape:?} vs {:?}",
                t.shape()
            )));
        }
        let region = single_region(op).map_err(fail)?;
        if region.args.len() != tiles.len() {
            return Err(fail(format!(
                "{} operand(s) but the region takes {} argument(s)",
                tiles.len(),
                region.args.len()
            )));
        }
        for (a, t) in region.args.iter().zip(tiles) {
            self.define(*a, Val::Tensor(t))
                .map_err(|m| fail(format!("region argument {m}")))?;
        }
        let out = match self.block(&region.ops, true)?.as_deref() {
            Some([Val::Tensor(t)]) => t.clone(),
            _ => {
                return Err(fail(
                    "the region must end with tile.yield of one element value".into(),
                ))
            }
        };
        // A region whose value does not depend on every operand (a constant, a 0-d
        // parameter) yields fewer elements: it is the same value at every position.
        let out = if out.shape() == shape.as_slice() {
            out
        } else {
            layout::broadcast_to(&out, &to_i64(&shape)).map_err(fail)?
        };
        Ok(vec![Val::Tile(out)])
    }
}

fn to_i64(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

fn single_result(op: &Operation) -> Result<Value, String> {
    match op.results.as_slice() {
        [r] => Ok(*r),
        rs => Err(format!("must have one result, found {}", rs.len())),
    }
}

fn single_region(op: &Operation) -> Result<&Region, String> {
    match op.regions.as_slice() {
        [r] => Ok(r),
        rs => Err(format!("takes exactly one region, found {}", rs.len())),
    }
}
