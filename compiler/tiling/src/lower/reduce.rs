//! Reductions over the last axis or over all axes (`sum mean max min`), and `softmax` /
//! `log_softmax` over the last axis as four kernels (row max, `exp(x - max)`, row sum,
//! normalise). Sums and means of narrow floats accumulate in `f32` and round once; the
//! softmax of a narrow float computes its exponentials, their sum and the result in `f32`
//! and rounds once. Both see the input as `[R, n]`: R rows of n reduced elements. Other axes are
//! not lowered yet.

use super::elementwise::{kernel, Seen};
use super::shape::numel;
use super::{Ctx, TilingError};
use crate::plan::BufId;
use crate::template::{buf, cdiv, fit, sizes, tile, KernelText};
use tessera_dialects::{DType, GraphOp, Operation, SymExpr, TensorType};

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Sum,
    Mean,
    Max,
    Min,
}

/// `[R, n]` for a reduction of `shape` over `axes`, when the axes are the last one or all.
fn rows_and_len(shape: &[SymExpr], axes: &[i64]) -> Option<(SymExpr, SymExpr)> {
    let r = shape.len();
    if r == 0 {
        return Some((SymExpr::lit(1), SymExpr::lit(1)));
    }
    let all: Vec<i64> = (0..r as i64).collect();
    if axes == all.as_slice() {
        return Some((SymExpr::lit(1), numel(shape)));
    }
    (axes == [r as i64 - 1]).then(|| (numel(&shape[..r - 1]), shape[r - 1].clone()))
}

pub(super) fn reduce(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let kind = match op.op.as_graph() {
        Some(GraphOp::ReduceSum) => Kind::Sum,
        Some(GraphOp::ReduceMean) => Kind::Mean,
        Some(GraphOp::ReduceMax) => Kind::Max,
        _ => Kind::Min,
    };
    let (x, y) = (ctx.buf(op.operands[0]), ctx.buf(op.results[0]));
    let axes = op.attrs.ints("axes").unwrap_or(&[]).to_vec();
    let Some((rows, n)) = rows_and_len(&ctx.ty(x).shape, &axes) else {
        return Err(TilingError::at(
            op,
            "reductions over axes other than the last one (or all) are not lowered to tile IR yet",
        ));
    };
    let input = Seen::viewed(ctx, x, vec![rows.clone(), n.clone()]);
    let out = Seen::viewed(ctx, y, vec![rows]);
    row_reduce(ctx, op, kind, &input, &out, &n)
}

/// Reduces each row of `input` (`[R, n]`) into `out` (`[R]`).
pub(crate) fn row_reduce(
    ctx: &mut Ctx,
    op: &Operation,
    kind: Kind,
    input: &Seen,
    out: &Seen,
    n: &SymExpr,
) -> Result<(), TilingError> {
    let dt = input.dtype;
    let rows = &input.shape[0];
    let tr = fit(rows, ctx.schedule.rows);
    let tn = fit(n, ctx.schedule.elementwise);
    // Sums of narrow floats accumulate in f32 and round once at the end.
    let widen = dt.is_float() && dt != DType::F32 && matches!(kind, Kind::Sum | Kind::Mean);
    let ad = if widen { DType::F32 } else { dt };
    let (init, combine, part) = match (kind, dt.is_float()) {
        (Kind::Sum | Kind::Mean, true) => ("0.0".to_string(), "add", "sum"),
        (Kind::Sum | Kind::Mean, false) => ("0".to_string(), "add", "sum"),
        (Kind::Max, true) => ("-inf".to_string(), "max", "max"),
        (Kind::Min, true) => ("inf".to_string(), "min", "min"),
        (Kind::Max, false) => (int_min(dt).to_string(), "max", "max"),
        (Kind::Min, false) => (int_max(dt).to_string(), "min", "min"),
    };
    let name = ctx.kernel_name(part);
    let params = vec![
        ("x".to_string(), buf(dt, &input.shape)),
        ("out".to_string(), buf(out.dtype, &out.shape)),
    ];
    let mut k = KernelText::new(&name, &params, &[cdiv(rows, tr)]);
    let (acc, blk) = (tile(ad, &[tr]), tile(ad, &[tr, tn]));
    let raw = tile(dt, &[tr, tn]);
    k.line("%i = tile.program_id {axis = 0} : () -> index");
    k.line(format!(
        "%init = tile.splat {{value = {init}}} : () -> {acc}"
    ));
    let (cast, t) = if widen {
        (
            format!("\n  %tw = tile.cast %t {{dtype = f32}} : ({raw}) -> {blk}"),
            "tw",
        )
    } else {
        (String::new(), "t")
    };
    k.line(format!(
        "%acc = tile.for %init {{bounds = {}}} : ({acc}) -> {acc} (%k: index, %c: {acc}) {{\n  %t = tile.load %x, %i, %k {{pad = {init}}} : ({}, index, index) -> {raw}{cast}\n  %p = tile.reduce %{t} {{axis = 1, kind = \"{part}\"}} : ({blk}) -> {acc}\n  %n = tile.map %c, %p : ({acc}, {acc}) -> {acc} (%u: {ad}, %w: {ad}) {{\n    %s = graph.{combine} %u, %w : ({ad}, {ad}) -> {ad}\n    tile.yield %s : {ad}\n  }}\n  tile.yield %n : {acc}\n}}",
        sizes(&[SymExpr::lit(0), cdiv(n, tn)]),
        buf(dt, &input.shape),
    ));
    let mut result = "acc";
    if kind == Kind::Mean {
        let ct = tile(DType::I32, &[tr]);
        k.line(format!(
            "%count = tile.index {{value = {}}} : () -> index",
            sizes(std::slice::from_ref(n))
        ));
        k.line(format!(
            "%c1 = tile.iota %count {{axis = 0}} : (index) -> {}",
            tile(DType::I32, &[1])
        ));
        k.line(format!(
            "%cb = tile.broadcast %c1 : ({}) -> {ct}",
            tile(DType::I32, &[1])
        ));
        k.line(format!(
            "%cf = tile.cast %cb {{dtype = {ad}}} : ({ct}) -> {acc}"
        ));
        k.line(format!(
            "%mean = tile.map %acc, %cf : ({acc}, {acc}) -> {acc} (%q: {ad}, %r: {ad}) {{\n  %d = graph.div %q, %r : ({ad}, {ad}) -> {ad}\n  tile.yield %d : {ad}\n}}"
        ));
        result = "mean";
    }
    if widen {
        k.line(format!(
            "%narrow = tile.cast %{result} {{dtype = {dt}}} : ({acc}) -> {}",
            tile(dt, &[tr])
        ));
        result = "narrow";
    }
    k.line(format!(
        "tile.store %{result}, %out, %i : ({}, {}, index) -> ()",
        tile(dt, &[tr]),
        buf(out.dtype, &out.shape)
    ));
    ctx.emit(name, k.finish(), vec![input.arg(), out.arg()], op);
    Ok(())
}

pub(crate) fn int_min(d: DType) -> i64 {
    if d == DType::I8 {
        -128
    } else {
        i64::from(i32::MIN)
    }
}

fn int_max(d: DType) -> i64 {
    if d == DType::I8 {
        127
    } else {
        i64::from(i32::MAX)
    }
}

/// `softmax` / `log_softmax` over the last axis.
pub(super) fn softmax(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let log = op.op.as_graph() == Some(GraphOp::LogSoftmax);
    let (x, y) = (ctx.buf(op.operands[0]), ctx.buf(op.results[0]));
    let ty = ctx.ty(x).clone();
    let r = ty.rank();
    if op.attrs.int("axis") != Some(r as i64 - 1) {
        return Err(TilingError::at(
            op,
            "softmax over an axis other than the last is not lowered to tile IR yet",
        ));
    }
    let rows = numel(&ty.shape[..r - 1]);
    let n = ty.shape[r - 1].clone();
    let row_ty = TensorType::new(ty.dtype, vec![rows.clone()]);
    let col = |ctx: &Ctx, b: BufId| Seen::viewed(ctx, b, vec![rows.clone(), SymExpr::lit(1)]);
    let mat = |ctx: &Ctx, b: BufId| Seen::viewed(ctx, b, vec![rows.clone(), n.clone()]);
    let dt = ty.dtype;
    // Narrow floats: the shifted exponentials, their sum and the result are computed in f32
    // (rounded once to the dtype at the end).
    let wd = if dt.is_float() { DType::F32 } else { dt };
    // 1. the row maximum
    let m = ctx.temp("rowmax", row_ty.clone());
    let (xi, mo) = (mat(ctx, x), Seen::of(ctx, m));
    row_reduce(ctx, op, Kind::Max, &xi, &mo, &n)?;
    // 2. e = exp(x - m)
    let e = ctx.temp("exp", TensorType::new(wd, vec![rows.clone(), n.clone()]));
    let (xi, mc, eo) = (mat(ctx, x), col(ctx, m), Seen::of(ctx, e));
    kernel(
        ctx,
        op,
        "exp_shifted",
        &[xi, mc],
        &eo,
        &|k: &mut crate::template::KernelText, a: &[String], d: &[DType]| {
            let (x, m) = (widen(k, &a[0], d[0], wd), widen(k, &a[1], d[1], wd));
            let (s, v) = (k.fresh("s"), k.fresh("v"));
            k.line(format!(
                "%{s} = graph.sub %{x}, %{m} : ({wd}, {wd}) -> {wd}"
            ));
            k.line(format!("%{v} = graph.exp %{s} : ({wd}) -> {wd}"));
            v
        },
    )?;
    // 3. the row sum
    let s = ctx.temp("rowsum", TensorType::new(wd, vec![rows.clone()]));
    let (ei, so) = (Seen::of(ctx, e), Seen::of(ctx, s));
    row_reduce(ctx, op, Kind::Sum, &ei, &so, &n)?;
    // 4. normalise
    let out = mat(ctx, y);
    if log {
        let (xi, mc, sc) = (mat(ctx, x), col(ctx, m), col(ctx, s));
        kernel(
            ctx,
            op,
            "log_normalise",
            &[xi, mc, sc],
            &out,
            &|k: &mut crate::template::KernelText, a: &[String], d: &[DType]| {
                let (x, m) = (widen(k, &a[0], d[0], wd), widen(k, &a[1], d[1], wd));
                let (t, l, v) = (k.fresh("t"), k.fresh("l"), k.fresh("v"));
                k.line(format!(
                    "%{t} = graph.sub %{x}, %{m} : ({wd}, {wd}) -> {wd}"
                ));
                k.line(format!("%{l} = graph.log %{} : ({wd}) -> {wd}", a[2]));
                k.line(format!(
                    "%{v} = graph.sub %{t}, %{l} : ({wd}, {wd}) -> {wd}"
                ));
                narrow(k, &v, wd, dt)
            },
        )
    } else {
        let (ei, sc) = (Seen::of(ctx, e), col(ctx, s));
        kernel(
            ctx,
            op,
            "normalise",
            &[ei, sc],
            &out,
            &|k: &mut crate::template::KernelText, a: &[String], _: &[DType]| {
                let v = k.fresh("v");
                k.line(format!(
                    "%{v} = graph.div %{}, %{} : ({wd}, {wd}) -> {wd}",
                    a[0], a[1]
                ));
                narrow(k, &v, wd, dt)
            },
        )
    }
}

/// Element `a` of dtype `d` as dtype `to` (a `graph.cast` line when they differ).
fn widen(k: &mut KernelText, a: &str, d: DType, to: DType) -> String {
    if d == to {
        return a.to_string();
    }
    let w = k.fresh("w");
    k.line(format!(
        "%{w} = graph.cast %{a} {{dtype = {to}}} : ({d}) -> {to}"
    ));
    w
}

/// Element `v` of dtype `from` rounded to `to` once (a `graph.cast` line when they differ).
fn narrow(k: &mut KernelText, v: &str, from: DType, to: DType) -> String {
    widen(k, v, from, to)
}
