//! `matmul` of two rank-2 operands: a grid of output tiles, a loop over K tiles, `tile.dot`
//! accumulating in f32 for float operands (f16, bf16 and fp8 results are rounded once at
//! the end, DSL.md §4) and in i32 for i8 operands. Batched matmul is in `contract.rs`.

use super::{Ctx, TilingError};
use crate::template::{buf, cdiv, fit, sizes, tile, KernelText};
use tessera_dialects::Operation;

pub(super) fn matmul(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let (a, b, c) = (
        ctx.buf(op.operands[0]),
        ctx.buf(op.operands[1]),
        ctx.buf(op.results[0]),
    );
    let (ta, tb, tc) = (ctx.ty(a).clone(), ctx.ty(b).clone(), ctx.ty(c).clone());
    if ta.rank() != 2 || tb.rank() != 2 {
        return Err(TilingError::at(
            op,
            "batched `matmul` (rank above 2) is not lowered to tile IR yet",
        ));
    }
    let (m, k, n) = (&ta.shape[0], &ta.shape[1], &tb.shape[1]);
    let mm = ctx.schedule.mm;
    let (tm, tk, tn) = (
        ctx.schedule.rows_tile(m),
        fit(k, ctx.schedule.mk),
        fit(n, mm),
    );
    let name = ctx.kernel_name("matmul");
    let params = vec![
        ("a".to_string(), buf(ta.dtype, &ta.shape)),
        ("b".to_string(), buf(tb.dtype, &tb.shape)),
        ("out".to_string(), buf(tc.dtype, &tc.shape)),
    ];
    let mut kt = KernelText::new(&name, &params, &[cdiv(m, tm), cdiv(n, tn)]);
    // Narrow float results accumulate in f32 and are rounded once.
    let acc_dtype = if tc.dtype.is_float() {
        tessera_dialects::DType::F32
    } else {
        tc.dtype
    };
    let acc_tile = tile(acc_dtype, &[tm, tn]);
    let out_tile = tile(tc.dtype, &[tm, tn]);
    let (a_tile, b_tile) = (tile(ta.dtype, &[tm, tk]), tile(tb.dtype, &[tk, tn]));
    kt.line("%i = tile.program_id {axis = 0} : () -> index");
    kt.line("%j = tile.program_id {axis = 1} : () -> index");
    kt.line(format!("%z = tile.zeros : () -> {acc_tile}"));
    kt.line(format!(
        "%acc = tile.for %z {{bounds = {}}} : ({acc_tile}) -> {acc_tile} (%k: index, %c: {acc_tile}) {{\n  %ta = tile.load %a, %i, %k : ({}, index, index) -> {a_tile}\n  %tb = tile.load %b, %k, %j : ({}, index, index) -> {b_tile}\n  %d = tile.dot %ta, %tb, %c : ({a_tile}, {b_tile}, {acc_tile}) -> {acc_tile}\n  tile.yield %d : {acc_tile}\n}}",
        sizes(&[tessera_dialects::SymExpr::lit(0), cdiv(k, tk)]),
        buf(ta.dtype, &ta.shape),
        buf(tb.dtype, &tb.shape),
    ));
    let result = if acc_dtype == tc.dtype {
        "acc"
    } else {
        kt.line(format!(
            "%res = tile.cast %acc {{dtype = {}}} : ({acc_tile}) -> {out_tile}",
            tc.dtype
        ));
        "res"
    };
    kt.line(format!(
        "tile.store %{result}, %out, %i, %j : ({out_tile}, {}, index, index) -> ()",
        buf(tc.dtype, &tc.shape)
    ));
    ctx.emit(name, kt.finish(), vec![(a, None), (b, None), (c, None)], op);
    Ok(())
}
