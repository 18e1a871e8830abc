//! Before lowering: operations along an axis other than the last become the same operation
//! along the last axis, between transposes (and reshapes for several reduced axes), so the
//! last-axis kernels serve every axis. A graph-to-graph rewrite on a copy of the function.

use tessera_dialects::graph::infer::infer;
use tessera_dialects::{
    Attr, Attrs, Func, GraphOp, Op, Operation, SymExpr, TensorType, Type, Value,
};

/// The rewritten function; operations already along the last axis are unchanged.
pub fn move_axes_last(func: &Func) -> Result<Func, String> {
    let mut f = func.clone();
    let ops = std::mem::take(&mut f.body.ops);
    let mut out = Vec::with_capacity(ops.len());
    // Results replaced by the value computing them after the rewrite.
    let mut forward: Vec<(Value, Value)> = Vec::new();
    for mut op in ops {
        for v in &mut op.operands {
            if let Some((_, to)) = forward.iter().find(|(from, _)| from == v) {
                *v = *to;
            }
        }
        match rewrite(&mut f, &op)? {
            Some((new_ops, result)) => {
                out.extend(new_ops);
                forward.push((op.results[0], result));
            }
            None => out.push(op),
        }
    }
    f.body.ops = out;
    Ok(f)
}

struct Builder<'f> {
    f: &'f mut Func,
    ops: Vec<Operation>,
    loc: tessera_dialects::Loc,
}

impl Builder<'_> {
    fn ty(&self, v: Value) -> Result<TensorType, String> {
        self.f
            .tensor_ty(v)
            .cloned()
            .ok_or_else(|| "not a tensor".to_string())
    }

    fn emit(&mut self, g: GraphOp, operands: Vec<Value>, attrs: Attrs) -> Result<Value, String> {
        let tys = operands
            .iter()
            .map(|v| self.ty(*v))
            .collect::<Result<Vec<_>, _>>()?;
        let mut res = infer(g, &attrs, &tys).map_err(|e| e.message)?;
        let r = self.f.new_value(Type::Tensor(res.remove(0)), None);
        let mut op = Operation::new(Op::Graph(g), operands, vec![r], attrs);
        op.loc = self.loc;
        self.ops.push(op);
        Ok(r)
    }

    fn transpose(&mut self, x: Value, perm: &[usize]) -> Result<Value, String> {
        let p: Vec<i64> = perm.iter().map(|a| *a as i64).collect();
        self.emit(
            GraphOp::Transpose,
            vec![x],
            Attrs::new().with("perm", Attr::Ints(p)),
        )
    }

    fn reshape(&mut self, x: Value, shape: Vec<SymExpr>) -> Result<Value, String> {
        if self.ty(x)?.shape == shape {
            return Ok(x);
        }
        self.emit(
            GraphOp::Reshape,
            vec![x],
            Attrs::new().with("shape", Attr::Sizes(shape)),
        )
    }
}

/// The permutation moving `axes` (sorted) to the end, keeping the other axes in order.
fn to_end(rank: usize, axes: &[usize]) -> Vec<usize> {
    let mut p: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
    p.extend_from_slice(axes);
    p
}

fn inverse(p: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; p.len()];
    for (i, &a) in p.iter().enumerate() {
        inv[a] = i;
    }
    inv
}

fn rewrite(f: &mut Func, op: &Operation) -> Result<Option<(Vec<Operation>, Value)>, String> {
    let Some(g) = op.op.as_graph() else {
        return Ok(None);
    };
    if op.results.len() != 1 {
        return Ok(None);
    }
    let Some(x) = op.operands.first().copied() else {
        return Ok(None);
    };
    let Some(xt) = f.tensor_ty(x).cloned() else {
        return Ok(None);
    };
    let r = xt.rank();
    let out_ty = f.tensor_ty(op.results[0]).cloned().ok_or("not a tensor")?;
    let mut b = Builder {
        f,
        ops: Vec::new(),
        loc: op.loc,
    };
    use GraphOp as G;
    match g {
        G::Softmax | G::LogSoftmax | G::LayerNorm | G::RmsNorm | G::Argmax => {
            let Some(axis) = op.attrs.int("axis").and_then(|a| usize::try_from(a).ok()) else {
                return Ok(None);
            };
            if r < 2 || axis + 1 == r {
                return Ok(None);
            }
            let perm = to_end(r, &[axis]);
            let t = b.transpose(x, &perm)?;
            let mut attrs = op.attrs.clone();
            attrs.set("axis", Attr::Int(r as i64 - 1));
            let mut operands = op.operands.clone();
            operands[0] = t;
            if g == G::Argmax {
                // Without the axis, the other axes keep their order: no transpose back.
                attrs.set("keepdims", Attr::Bool(false));
                let y = b.emit(g, operands, attrs)?;
                let y = b.reshape(y, out_ty.shape.clone())?;
                return Ok(Some((b.ops, y)));
            }
            let y = b.emit(g, operands, attrs)?;
            let y = b.transpose(y, &inverse(&perm))?;
            Ok(Some((b.ops, y)))
        }
        G::ReduceSum | G::ReduceMean | G::ReduceMax | G::ReduceMin => {
            let axes: Vec<usize> = op
                .attrs
                .ints("axes")
                .unwrap_or(&[])
                .iter()
                .filter_map(|a| usize::try_from(*a).ok())
                .collect();
            let all = axes.len() == r;
            let last_only = axes.len() == 1 && axes[0] + 1 == r;
            if all || last_only || axes.is_empty() {
                return Ok(None);
            }
            let perm = to_end(r, &axes);
            let t = b.transpose(x, &perm)?;
            let kept: Vec<SymExpr> = (0..r)
                .filter(|a| !axes.contains(a))
                .map(|a| xt.shape[a].clone())
                .collect();
            let reduced = axes
                .iter()
                .fold(SymExpr::lit(1), |acc, a| acc.mul(&xt.shape[*a]));
            let mut flat = kept.clone();
            flat.push(reduced);
            let t = b.reshape(t, flat)?;
            let attrs = Attrs::new()
                .with("axes", Attr::Ints(vec![kept.len() as i64]))
                .with("keepdims", Attr::Bool(false));
            let y = b.emit(g, vec![t], attrs)?;
            let y = b.reshape(y, out_ty.shape.clone())?;
            Ok(Some((b.ops, y)))
        }
        _ => Ok(None),
    }
}
