//! The elementwise epilogue of an implicit-GEMM `conv2d` (a `graph.fused {kind = "conv"}`
//! chosen by the e-graph optimiser): bias, activation, residual, applied to each `[to,
//! tn]` output tile in registers before its only store, so the convolution's result is
//! never written and read back.
//!
//! The conv kernel's grid points are (image `%n`, output-channel tile `%o`, output row
//! `%r`, output-column tile `%pc`). Each value the epilogue reads from outside is seen at
//! rank 4 (leading 1s added: a bias `[O, 1, 1]` is `[1, O, 1, 1]`) and must broadcast to
//! the result `[N, O, OH, OW]`; its tile is loaded with index 0 and size 1 on the axes it
//! broadcasts along, reduced to `[to | 1, tn | 1]` and broadcast to the output tile.

use super::elementwise::map_ops;
use super::{Ctx, TilingError};
use crate::plan::BufId;
use crate::template::{buf, tile, KernelText};
use tessera_dialects::{DType, Operation, SymExpr, Value};

/// One conv kernel's epilogue: its operations and what they read from outside.
pub(super) struct Epilogue<'a> {
    /// The operations in program order with their result dtypes; the last one's result is
    /// the kernel's.
    ops: &'a [(&'a Operation, DType)],
    /// The convolution's result, which the epilogue reads as the accumulator.
    conv: Value,
    /// The values read from outside: value, buffer, its rank-4 view, dtype.
    leaves: Vec<(Value, BufId, Vec<SymExpr>, DType)>,
    /// The buffer of the kernel's result.
    pub out: BufId,
}

impl<'a> Epilogue<'a> {
    /// The epilogue `ops` of the conv `conv`.
    pub fn new(
        ctx: &mut Ctx,
        conv: &Operation,
        ops: &'a [(&'a Operation, DType)],
    ) -> Result<Epilogue<'a>, TilingError> {
        let Some((root, _)) = ops.last() else {
            return Err(TilingError::at(conv, "a conv epilogue needs an operation"));
        };
        // The kernel's result has the convolution's shape (the fusion rules grow
        // epilogues only over operations of the result's shape).
        let out = ctx.buf(root.results[0]);
        let shape = ctx.ty(out).shape.clone();
        let inside: Vec<Value> = ops.iter().map(|(o, _)| o.results[0]).collect();
        let mut leaves: Vec<(Value, BufId, Vec<SymExpr>, DType)> = Vec::new();
        for (op, _) in ops {
            for v in &op.operands {
                if *v == conv.results[0]
                    || inside.contains(v)
                    || leaves.iter().any(|(l, ..)| l == v)
                {
                    continue;
                }
                let b = ctx.buf(*v);
                let t = ctx.ty(b).clone();
                let mut view = vec![SymExpr::lit(1); shape.len().saturating_sub(t.rank())];
                view.extend(t.shape.iter().cloned());
                let fits = view.len() == shape.len()
                    && view
                        .iter()
                        .zip(&shape)
                        .all(|(d, o)| d == o || d.as_const() == Some(1));
                if !fits {
                    return Err(TilingError::at(
                        op,
                        "a conv epilogue reads a tensor that does not broadcast to the result",
                    ));
                }
                leaves.push((*v, b, view, t.dtype));
            }
        }
        Ok(Epilogue {
            ops,
            conv: conv.results[0],
            leaves,
            out,
        })
    }

    /// The kernel parameters of the values read from outside (`%e0`, `%e1`, ...).
    pub fn params(&self) -> Vec<(String, String)> {
        self.leaves
            .iter()
            .enumerate()
            .map(|(i, (_, _, view, dt))| (format!("e{i}"), buf(*dt, view)))
            .collect()
    }

    /// The launch arguments of [`Epilogue::params`], views where the rank differs.
    pub fn args(&self, ctx: &Ctx) -> Vec<(BufId, Option<Vec<SymExpr>>)> {
        self.leaves
            .iter()
            .map(|(_, b, view, _)| (*b, (ctx.ty(*b).shape != *view).then(|| view.clone())))
            .collect()
    }

    /// Writes the epilogue of the f32 accumulator `%acc` (`[to, tn]`) and returns the name
    /// of the `[to, tn]` result tile, of the kernel result's dtype `out`.
    pub fn apply(&self, k: &mut KernelText, acc: &str, [to, tn]: [u64; 2], out: DType) -> String {
        let full = |d: DType| tile(d, &[to, tn]);
        k.line("%ez = tile.index {value = sizes[0]} : () -> index");
        let mut operands = vec![(acc.to_string(), DType::F32)];
        for (i, (_, _, view, dt)) in self.leaves.iter().enumerate() {
            let one = |a: usize| view[a].as_const() == Some(1);
            let idx = [
                if one(0) { "%ez" } else { "%n" },
                if one(1) { "%ez" } else { "%o" },
                if one(2) { "%ez" } else { "%r" },
                if one(3) { "%ez" } else { "%pc" },
            ];
            let (rows, cols) = (if one(1) { 1 } else { to }, if one(3) { 1 } else { tn });
            let t4 = tile(*dt, &[1, rows, 1, cols]);
            let t = k.fresh("el");
            k.line(format!(
                "%{t} = tile.load %e{i}, {} : ({}, index, index, index, index) -> {t4}",
                idx.join(", "),
                buf(*dt, view)
            ));
            let t3 = k.fresh("el");
            k.line(format!(
                "%{t3} = tile.reduce %{t} {{axis = 0, kind = \"max\"}} : ({t4}) -> {}",
                tile(*dt, &[rows, 1, cols])
            ));
            let mut cur = k.fresh("el");
            let t2 = tile(*dt, &[rows, cols]);
            k.line(format!(
                "%{cur} = tile.reduce %{t3} {{axis = 1, kind = \"max\"}} : ({}) -> {t2}",
                tile(*dt, &[rows, 1, cols])
            ));
            if (rows, cols) != (to, tn) {
                let b = k.fresh("el");
                k.line(format!(
                    "%{b} = tile.broadcast %{cur} : ({t2}) -> {}",
                    full(*dt)
                ));
                cur = b;
            }
            operands.push((cur, *dt));
        }
        let inputs: Vec<Value> = std::iter::once(self.conv)
            .chain(self.leaves.iter().map(|(v, ..)| *v))
            .collect();
        let res = k.fresh("ep");
        map_ops(k, &res, &[to, tn], &operands, &inputs, self.ops, out);
        res
    }
}
