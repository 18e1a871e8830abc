//! Graph-to-graph rewrites run before lowering (axes moved last, einsums decomposed,
//! grouped convolutions split): one driver that replaces an operation by the operations a
//! rule builds, and the builder the rules emit them with (result types by inference).

use tessera_dialects::graph::infer::infer;
use tessera_dialects::{
    Attr, Attrs, Func, GraphOp, Op, Operation, SymExpr, TensorType, Type, Value,
};

/// Builds the replacement of one operation: new values in `f`, new operations in `ops`,
/// each at the location `loc` of the operation replaced.
pub(crate) struct Builder<'f> {
    pub f: &'f mut Func,
    pub ops: Vec<Operation>,
    pub loc: tessera_dialects::Loc,
}

impl Builder<'_> {
    /// The tensor type of `v`.
    pub fn ty(&self, v: Value) -> Result<TensorType, String> {
        self.f
            .tensor_ty(v)
            .cloned()
            .ok_or_else(|| "not a tensor".to_string())
    }

    /// Appends graph operation `g` and returns its (single) result.
    pub fn emit(
        &mut self,
        g: GraphOp,
        operands: Vec<Value>,
        attrs: Attrs,
    ) -> Result<Value, String> {
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

    /// `transpose(x, perm)`.
    pub fn transpose(&mut self, x: Value, perm: &[usize]) -> Result<Value, String> {
        let p: Vec<i64> = perm.iter().map(|a| *a as i64).collect();
        self.emit(
            GraphOp::Transpose,
            vec![x],
            Attrs::new().with("perm", Attr::Ints(p)),
        )
    }

    /// `reshape(x, shape)`, or `x` when it already has that shape.
    pub fn reshape(&mut self, x: Value, shape: Vec<SymExpr>) -> Result<Value, String> {
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

/// A copy of `func` in which `rule` may replace each single-result operation: `Some(v)`
/// means the operations it emitted compute `v`, which takes the place of the result (later
/// uses are forwarded to it); `None` keeps the operation.
pub(crate) fn rewrite_ops(
    func: &Func,
    mut rule: impl FnMut(&mut Builder<'_>, &Operation) -> Result<Option<Value>, String>,
) -> Result<Func, String> {
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
        let mut b = Builder {
            f: &mut f,
            ops: Vec::new(),
            loc: op.loc,
        };
        match rule(&mut b, &op)? {
            Some(result) => {
                out.extend(b.ops);
                forward.push((op.results[0], result));
            }
            None => out.push(op),
        }
    }
    f.body.ops = out;
    Ok(f)
}
