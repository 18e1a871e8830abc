//! Row composites over the last axis: `argmax`, `layernorm` and `rmsnorm`. The input is
//! seen as `[R, n]` (R rows of n elements); other axes are not lowered yet.
//!
//! - `argmax`: one kernel over blocks of `rows` rows, looping over column tiles. Each tile
//!   gives its maximum (`tile.reduce max`, NaN if it holds one) and the index of its first
//!   maximum (`kind = "argmax"`, NaN counting as the maximum); the running best is replaced
//!   only when it is not NaN and the tile's maximum is NaN or strictly greater, so the first
//!   maximum (or the first NaN) wins across tiles too, as in the graph interpreter. Padding
//!   (`-inf` / the dtype's minimum) comes after a tile's real elements and never wins a tie.
//! - `layernorm`: row mean, mean of the centred squares (biased variance), then
//!   `(x - mean) / sqrt(var + eps) * gamma + beta` with gamma and beta along the rows.
//! - `rmsnorm`: mean of the squares, then `x / sqrt(ms + eps) * gamma`.
//!
//! Norms compute in `f32` (the graph interpreter in `f64`, rounded once) and are lowered for
//! `f32` operands only.

use super::elementwise::{kernel, Seen};
use super::reduce::{int_min, row_reduce, Kind};
use super::shape::numel;
use super::{Ctx, TilingError};
use crate::template::{buf, cdiv, fit, sizes, tile, KernelText};
use tessera_dialects::{DType, GraphOp, Operation, SymExpr, TensorType};

/// `(rows, n)` when `axis` is the last axis of a rank-`r` shape (r >= 1).
fn last_axis(shape: &[SymExpr], axis: Option<i64>) -> Option<(SymExpr, SymExpr)> {
    let r = shape.len() as i64;
    let a = axis?;
    let a = if a < 0 { a + r } else { a };
    (r >= 1 && a == r - 1).then(|| {
        (
            numel(&shape[..r as usize - 1]),
            shape[r as usize - 1].clone(),
        )
    })
}

pub(super) fn argmax(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let (x, y) = (ctx.buf(op.operands[0]), ctx.buf(op.results[0]));
    let xt = ctx.ty(x).clone();
    let Some((rows, n)) = last_axis(&xt.shape, op.attrs.int("axis")) else {
        return Err(TilingError::at(
            op,
            "`argmax` over an axis other than the last is not lowered to tile IR yet",
        ));
    };
    let dt = xt.dtype;
    let init = match dt {
        DType::Bool => {
            return Err(TilingError::at(
                op,
                "`argmax` of bool is not lowered to tile IR yet",
            ))
        }
        d if d.is_float() => "-inf".to_string(),
        d => int_min(d).to_string(),
    };
    let input = Seen::viewed(ctx, x, vec![rows.clone(), n.clone()]);
    let out = Seen::viewed(ctx, y, vec![rows.clone()]);
    let tr = fit(&rows, ctx.schedule.rows);
    let tn = fit(&n, ctx.schedule.elementwise);
    let name = ctx.kernel_name("argmax");
    let xb = buf(dt, &input.shape);
    let ob = buf(DType::I32, &out.shape);
    let mut k = KernelText::new(
        &name,
        &[("x".into(), xb.clone()), ("out".into(), ob.clone())],
        &[cdiv(&rows, tr)],
    );
    let (acc, iacc, blk) = (
        tile(dt, &[tr]),
        tile(DType::I32, &[tr]),
        tile(dt, &[tr, tn]),
    );
    let i1 = tile(DType::I32, &[1]);
    // Whether the tile's maximum `w` replaces the running best `u` (names suffixed: every
    // name is defined once per kernel).
    let take = |x: &str| -> Vec<String> {
        if dt.is_float() {
            vec![
                format!("%un{x} = graph.eq %u{x}, %u{x} : ({dt}, {dt}) -> bool"),
                format!("%wn{x} = graph.ne %w{x}, %w{x} : ({dt}, {dt}) -> bool"),
                format!("%gt{x} = graph.gt %w{x}, %u{x} : ({dt}, {dt}) -> bool"),
                format!(
                    "%ng{x} = graph.select %wn{x}, %wn{x}, %gt{x} : (bool, bool, bool) -> bool"
                ),
                format!(
                    "%take{x} = graph.select %un{x}, %ng{x}, %un{x} : (bool, bool, bool) -> bool"
                ),
            ]
        } else {
            vec![format!(
                "%take{x} = graph.gt %w{x}, %u{x} : ({dt}, {dt}) -> bool"
            )]
        }
    };
    k.line("%i = tile.program_id {axis = 0} : () -> index");
    k.line(format!(
        "%vinit = tile.splat {{value = {init}}} : () -> {acc}"
    ));
    k.line(format!("%iinit = tile.splat {{value = 0}} : () -> {iacc}"));
    let mut body = vec![
        format!("%t = tile.load %x, %i, %k {{pad = {init}}} : ({xb}, index, index) -> {blk}"),
        format!("%m = tile.reduce %t {{axis = 1, kind = \"max\"}} : ({blk}) -> {acc}"),
        format!("%a = tile.reduce %t {{axis = 1, kind = \"argmax\"}} : ({blk}) -> {iacc}"),
        format!("%base = tile.affine %k {{coeffs = [{tn}]}} : (index) -> index"),
        format!("%c0 = tile.iota %base {{axis = 0}} : (index) -> {i1}"),
        format!("%col = tile.broadcast %c0 : ({i1}) -> {iacc}"),
        format!("%nv = tile.map %bv, %m : ({acc}, {acc}) -> {acc} (%u1: {dt}, %w1: {dt}) {{"),
    ];
    body.extend(take("1").into_iter().map(|l| format!("  {l}")));
    body.push(format!(
        "  %sv = graph.select %take1, %w1, %u1 : (bool, {dt}, {dt}) -> {dt}"
    ));
    body.push(format!("  tile.yield %sv : {dt}"));
    body.push("}".into());
    body.push(format!(
        "%ni = tile.map %bv, %m, %bi, %a, %col : ({acc}, {acc}, {iacc}, {iacc}, {iacc}) -> {iacc} (%u2: {dt}, %w2: {dt}, %p: i32, %q: i32, %c: i32) {{"
    ));
    body.extend(take("2").into_iter().map(|l| format!("  {l}")));
    body.push("  %g = graph.add %q, %c : (i32, i32) -> i32".into());
    body.push("  %si = graph.select %take2, %g, %p : (bool, i32, i32) -> i32".into());
    body.push("  tile.yield %si : i32".into());
    body.push("}".into());
    body.push(format!("tile.yield %nv, %ni : {acc}, {iacc}"));
    let body: Vec<String> = body.into_iter().map(|l| format!("  {l}")).collect();
    k.line(format!(
        "%best, %bidx = tile.for %vinit, %iinit {{bounds = {}}} : ({acc}, {iacc}) -> ({acc}, {iacc}) (%k: index, %bv: {acc}, %bi: {iacc}) {{\n{}\n}}",
        sizes(&[SymExpr::lit(0), cdiv(&n, tn)]),
        body.join("\n"),
    ));
    k.line(format!(
        "tile.store %bidx, %out, %i : ({iacc}, {ob}, index) -> ()"
    ));
    ctx.emit(name, k.finish(), vec![input.arg(), out.arg()], op);
    Ok(())
}

/// `layernorm` and `rmsnorm` over the last axis.
pub(super) fn norm(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let layer = op.op.as_graph() == Some(GraphOp::LayerNorm);
    let what = if layer { "layernorm" } else { "rmsnorm" };
    let x = ctx.buf(op.operands[0]);
    let y = ctx.buf(op.results[0]);
    let ty = ctx.ty(x).clone();
    let Some((rows, n)) = last_axis(&ty.shape, op.attrs.int("axis")) else {
        return Err(TilingError::at(
            op,
            format!("`{what}` over an axis other than the last is not lowered to tile IR yet"),
        ));
    };
    let params: Vec<_> = op.operands[1..].iter().map(|v| ctx.buf(*v)).collect();
    if ty.dtype != DType::F32 || params.iter().any(|p| ctx.ty(*p).dtype != DType::F32) {
        return Err(TilingError::at(
            op,
            format!("`{what}` of non-f32 operands is not lowered to tile IR yet"),
        ));
    }
    let eps = op.attrs.float("eps").unwrap_or(1e-5);
    let dt = DType::F32;
    let row_ty = TensorType::new(dt, vec![rows.clone()]);
    let col = |ctx: &Ctx, b| Seen::viewed(ctx, b, vec![rows.clone(), SymExpr::lit(1)]);
    let mat = |ctx: &Ctx, b| Seen::viewed(ctx, b, vec![rows.clone(), n.clone()]);
    let sq_ty = TensorType::new(dt, vec![rows.clone(), n.clone()]);
    let (stat, inputs) = if layer {
        // 1. the row mean; 2. the centred squares; 3. their mean (biased variance)
        let mean = ctx.temp("rowmean", row_ty.clone());
        let (xi, mo) = (mat(ctx, x), Seen::of(ctx, mean));
        row_reduce(ctx, op, Kind::Mean, &xi, &mo, &n)?;
        let sq = ctx.temp("centred_sq", sq_ty);
        let (xi, mc, so) = (mat(ctx, x), col(ctx, mean), Seen::of(ctx, sq));
        kernel(
            ctx,
            op,
            "centred_sq",
            &[xi, mc],
            &so,
            &|k: &mut KernelText, a: &[String], _: &[DType]| {
                let (d, v) = (k.fresh("d"), k.fresh("v"));
                k.line(format!(
                    "%{d} = graph.sub %{}, %{} : (f32, f32) -> f32",
                    a[0], a[1]
                ));
                k.line(format!("%{v} = graph.mul %{d}, %{d} : (f32, f32) -> f32"));
                v
            },
        )?;
        let var = ctx.temp("rowvar", row_ty);
        let (si, vo) = (Seen::of(ctx, sq), Seen::of(ctx, var));
        row_reduce(ctx, op, Kind::Mean, &si, &vo, &n)?;
        let ins = vec![
            mat(ctx, x),
            col(ctx, mean),
            col(ctx, var),
            Seen::of(ctx, params[0]),
            Seen::of(ctx, params[1]),
        ];
        ("layernorm", ins)
    } else {
        // 1. the squares; 2. their row mean
        let sq = ctx.temp("sq", sq_ty);
        let (xi, so) = (mat(ctx, x), Seen::of(ctx, sq));
        kernel(
            ctx,
            op,
            "sq",
            &[xi],
            &so,
            &|k: &mut KernelText, a: &[String], _: &[DType]| {
                let v = k.fresh("v");
                k.line(format!(
                    "%{v} = graph.mul %{}, %{} : (f32, f32) -> f32",
                    a[0], a[0]
                ));
                v
            },
        )?;
        let ms = ctx.temp("rowms", row_ty);
        let (si, mo) = (Seen::of(ctx, sq), Seen::of(ctx, ms));
        row_reduce(ctx, op, Kind::Mean, &si, &mo, &n)?;
        let ins = vec![mat(ctx, x), col(ctx, ms), Seen::of(ctx, params[0])];
        ("rmsnorm", ins)
    };
    let out = mat(ctx, y);
    kernel(
        ctx,
        op,
        stat,
        &inputs,
        &out,
        &|k: &mut KernelText, a: &[String], _: &[DType]| {
            let bin = |k: &mut KernelText, g: &str, l: &str, r: &str| -> String {
                let v = k.fresh("v");
                k.line(format!("%{v} = graph.{g} %{l}, %{r} : (f32, f32) -> f32"));
                v
            };
            let e = k.fresh("eps");
            k.line(format!(
                "%{e} = graph.constant {{value = {eps:?}, dtype = f32}} : () -> f32"
            ));
            let (centred, stat) = if layer {
                (bin(k, "sub", &a[0], &a[1]), &a[2])
            } else {
                (a[0].clone(), &a[1])
            };
            let ve = bin(k, "add", stat, &e);
            let s = k.fresh("s");
            k.line(format!("%{s} = graph.sqrt %{ve} : (f32) -> f32"));
            let q = bin(k, "div", &centred, &s);
            let gi = if layer { 3 } else { 2 };
            let g = bin(k, "mul", &q, &a[gi]);
            if layer {
                bin(k, "add", &g, &a[4])
            } else {
                g
            }
        },
    )
}
