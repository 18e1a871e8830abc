//! Attention chosen by the e-graph optimiser (kind `attention`): `softmax(q @ k^T [* c])
//! @ v` over the last axis, batched, as one kernel with an online softmax, so the score
//! matrix is never stored.
//!
//! q is `[.., S, D]`, k `[.., T, D]`, v `[.., T, E]` and the result `[.., S, E]`, with the
//! same batch axes and constant head sizes D and E. The grid has one axis per batch axis
//! and one per tile of `tq` query rows. Each grid point loads its query tile once, then
//! walks the keys in tiles of `tk` rows carrying the running row maximum `m`, the running
//! sum `l` and the `[tq, E]` accumulator: `s = q @ k^T` (k transposed once, by a copy
//! kernel before the attention kernel, to `[.., D, T]`, and read in `[D, tk]` tiles),
//! scaled by `c`; keys past `T` (the ragged last tile) get `-1e30` added, so their
//! `exp` is 0; `m' = max(m, rowmax(s))`, `a = exp(m - m')`, `p = exp(s - m')`,
//! `l' = l * a + rowsum(p)`, `acc' = acc * a + p @ v`. The result is `acc / l`. All in f32.

use super::{Ctx, TilingError};
use crate::template::{buf, cdiv, fit, sizes, tile, KernelText};
use tessera_dialects::{DType, Operation, SymExpr, TensorType, Value};

/// The operands of one attention kernel, from its flattened operations.
#[derive(Clone, Debug)]
pub(crate) struct Attention {
    pub q: Value,
    pub k: Value,
    pub v: Value,
    /// The scale's `graph.constant` attributes, printed (`{value = 0.125, dtype = f32}`).
    pub scale: Option<String>,
}

/// Lowers the attention whose result is `op`'s (the final `matmul`).
pub(super) fn attention(ctx: &mut Ctx, op: &Operation, at: &Attention) -> Result<(), TilingError> {
    let (qb, kb, vb, ob) = (
        ctx.buf(at.q),
        ctx.buf(at.k),
        ctx.buf(at.v),
        ctx.buf(op.results[0]),
    );
    let (tq_, tk_, tv_, to_) = (
        ctx.ty(qb).clone(),
        ctx.ty(kb).clone(),
        ctx.ty(vb).clone(),
        ctx.ty(ob).clone(),
    );
    let r = to_.rank();
    let nb = r - 2;
    let (Some(d), Some(e)) = (tq_.shape[r - 1].as_const(), tv_.shape[r - 1].as_const()) else {
        return Err(TilingError::at(
            op,
            "attention with symbolic head sizes is not lowered",
        ));
    };
    let (d, e) = (d as u64, e as u64);
    let (s_len, t_len) = (tq_.shape[r - 2].clone(), tk_.shape[r - 2].clone());
    // Every query tile reads all of k transposed: transpose it once, to `[.., D, T]`, so
    // the kernel's k loads are plain row reads.
    let mut swap: Vec<usize> = (0..r).collect();
    swap.swap(r - 2, r - 1);
    let kt_ty = TensorType {
        dtype: tk_.dtype,
        shape: swap.iter().map(|&a| tk_.shape[a].clone()).collect(),
    };
    let kb = {
        let t = ctx.temp("k_t", kt_ty.clone());
        super::layout::transpose_into(ctx, kb, t, &swap, op);
        t
    };
    let tk_ = kt_ty;
    let tq = fit(&s_len, 32);
    let tk = fit(&t_len, 64);
    let f = DType::F32;
    let name = ctx.kernel_name("attention");
    let (qt, kt, vt, ot) = (
        buf(f, &tq_.shape),
        buf(f, &tk_.shape),
        buf(f, &tv_.shape),
        buf(f, &to_.shape),
    );
    let params = vec![
        ("q".to_string(), qt.clone()),
        ("k".to_string(), kt.clone()),
        ("v".to_string(), vt.clone()),
        ("out".to_string(), ot.clone()),
    ];
    let mut grid = to_.shape[..nb].to_vec();
    grid.push(cdiv(&s_len, tq));
    let mut kt_ = KernelText::new(&name, &params, &grid);
    let k = &mut kt_;
    let batch: Vec<String> = (0..nb).map(|i| format!("%p{i}")).collect();
    for (i, p) in batch.iter().enumerate() {
        k.line(format!(
            "{p} = tile.program_id {{axis = {i}}} : () -> index"
        ));
    }
    k.line(format!(
        "%i = tile.program_id {{axis = {nb}}} : () -> index"
    ));
    k.line("%zero = tile.index {value = sizes[0]} : () -> index");
    let idx = |row: &str, col: &str| -> (String, String) {
        let mut v = batch.clone();
        v.push(row.into());
        v.push(col.into());
        (v.join(", "), vec!["index"; r].join(", "))
    };
    let ones = vec![1u64; nb];
    let wide = |a: u64, b: u64| -> Vec<u64> {
        let mut v = ones.clone();
        v.extend([a, b]);
        v
    };
    // Loads a `[1.., a, b]` tile and reduces the leading size-1 axes away.
    let load = |lines: &mut Vec<String>,
                tag: &str,
                src: &str,
                bty: &str,
                row: &str,
                col: &str,
                a: u64,
                b: u64|
     -> String {
        let (ix, itys) = idx(row, col);
        let shape = wide(a, b);
        let mut cur = format!("{tag}w");
        lines.push(format!(
            "%{cur} = tile.load %{src}, {ix} : ({bty}, {itys}) -> {}",
            tile(f, &shape)
        ));
        for x in 0..nb {
            let next = format!("{tag}{x}");
            lines.push(format!(
                "%{next} = tile.reduce %{cur} {{axis = 0, kind = \"max\"}} : ({}) -> {}",
                tile(f, &shape[x..]),
                tile(f, &shape[x + 1..])
            ));
            cur = next;
        }
        cur
    };
    let mut pre = Vec::new();
    let qv = load(&mut pre, "tq", "q", &qt, "%i", "%zero", tq, d);
    for l in pre {
        k.line(l);
    }
    let (row, blk, acc) = (tile(f, &[tq]), tile(f, &[tq, tk]), tile(f, &[tq, e]));
    k.line(format!("%m0 = tile.splat {{value = -inf}} : () -> {row}"));
    k.line(format!("%l0 = tile.zeros : () -> {row}"));
    k.line(format!("%a0 = tile.zeros : () -> {acc}"));
    let mut body = Vec::new();
    // k transposed is [.., D, T]: a `[D, tk]` tile at key tile j.
    let kv = load(&mut body, "tk", "k", &kt, "%zero", "%j", d, tk);
    body.push(format!("%sz = tile.zeros : () -> {blk}"));
    body.push(format!(
        "%s = tile.dot %{qv}, %{kv}, %sz : ({}, {}, {blk}) -> {blk}",
        tile(f, &[tq, d]),
        tile(f, &[d, tk])
    ));
    // Key positions minus T, plus 1: at most 0 for real keys.
    body.push(format!(
        "%kb = tile.affine %j {{coeffs = [{tk}], offset = {}}} : (index) -> index",
        sizes(&[SymExpr::lit(1).sub(&t_len)])
    ));
    body.push(format!(
        "%kp = tile.iota %kb {{axis = 1}} : (index) -> {}",
        tile(DType::I32, &[tq, tk])
    ));
    body.push(format!(
        "%kf = tile.cast %kp {{dtype = f32}} : ({}) -> {blk}",
        tile(DType::I32, &[tq, tk])
    ));
    let scale = match &at.scale {
        Some(c) => format!(
            "  %cs = graph.constant {c} : () -> f32\n  %xs = graph.mul %ys, %cs : (f32, f32) -> f32\n"
        ),
        None => "  %xs = graph.add %ys, %y0s : (f32, f32) -> f32\n".to_string(),
    };
    let scale = if at.scale.is_none() {
        "  %y0s = graph.constant {value = 0.0, dtype = f32} : () -> f32\n".to_string() + &scale
    } else {
        scale
    };
    body.push(format!(
        "%sm = tile.map %s, %kf : ({blk}, {blk}) -> {blk} (%ys: f32, %ws: f32) {{\n{scale}  %z0s = graph.constant {{value = 0.0, dtype = f32}} : () -> f32\n  %z1s = graph.constant {{value = 1.0, dtype = f32}} : () -> f32\n  %bigs = graph.constant {{value = 1e30, dtype = f32}} : () -> f32\n  %w0s = graph.max %ws, %z0s : (f32, f32) -> f32\n  %w1s = graph.min %w0s, %z1s : (f32, f32) -> f32\n  %pens = graph.mul %w1s, %bigs : (f32, f32) -> f32\n  %os = graph.sub %xs, %pens : (f32, f32) -> f32\n  tile.yield %os : f32\n}}"
    ));
    body.push(format!(
        "%rm = tile.reduce %sm {{axis = 1, kind = \"max\"}} : ({blk}) -> {row}"
    ));
    body.push(format!(
        "%mn = tile.map %mc, %rm : ({row}, {row}) -> {row} (%umx: f32, %tmx: f32) {{\n  %xmx = graph.max %umx, %tmx : (f32, f32) -> f32\n  tile.yield %xmx : f32\n}}"
    ));
    body.push(format!(
        "%al = tile.map %mc, %mn : ({row}, {row}) -> {row} (%ual: f32, %tal: f32) {{\n  %xal = graph.sub %ual, %tal : (f32, f32) -> f32\n  %yal = graph.exp %xal : (f32) -> f32\n  tile.yield %yal : f32\n}}"
    ));
    body.push(format!(
        "%mb = tile.broadcast %mn {{dims = [0]}} : ({row}) -> {blk}"
    ));
    body.push(format!(
        "%p = tile.map %sm, %mb : ({blk}, {blk}) -> {blk} (%upe: f32, %tpe: f32) {{\n  %xpe = graph.sub %upe, %tpe : (f32, f32) -> f32\n  %ype = graph.exp %xpe : (f32) -> f32\n  tile.yield %ype : f32\n}}"
    ));
    body.push(format!(
        "%ps = tile.reduce %p {{axis = 1, kind = \"sum\"}} : ({blk}) -> {row}"
    ));
    body.push(format!(
        "%ln = tile.map %lc, %al, %ps : ({row}, {row}, {row}) -> {row} (%uln: f32, %tln: f32, %wln: f32) {{\n  %xln = graph.mul %uln, %tln : (f32, f32) -> f32\n  %yln = graph.add %xln, %wln : (f32, f32) -> f32\n  tile.yield %yln : f32\n}}"
    ));
    body.push(format!(
        "%ab = tile.broadcast %al {{dims = [0]}} : ({row}) -> {acc}"
    ));
    body.push(format!(
        "%as = tile.map %ac, %ab : ({acc}, {acc}) -> {acc} (%uas: f32, %tas: f32) {{\n  %xas = graph.mul %uas, %tas : (f32, f32) -> f32\n  tile.yield %xas : f32\n}}"
    ));
    let vv = load(&mut body, "tv", "v", &vt, "%j", "%zero", tk, e);
    body.push(format!(
        "%an = tile.dot %p, %{vv}, %as : ({blk}, {}, {acc}) -> {acc}",
        tile(f, &[tk, e])
    ));
    body.push(format!("tile.yield %mn, %ln, %an : {row}, {row}, {acc}"));
    let inner: Vec<String> = body
        .iter()
        .flat_map(|l| l.lines().map(|x| format!("  {x}")).collect::<Vec<_>>())
        .collect();
    k.line(format!(
        "%m, %l, %a = tile.for %m0, %l0, %a0 {{bounds = {}}} : ({row}, {row}, {acc}) -> ({row}, {row}, {acc}) (%j: index, %mc: {row}, %lc: {row}, %ac: {acc}) {{\n{}\n}}",
        sizes(&[SymExpr::lit(0), cdiv(&t_len, tk)]),
        inner.join("\n")
    ));
    k.line(format!(
        "%lb = tile.broadcast %l {{dims = [0]}} : ({row}) -> {acc}"
    ));
    k.line(format!(
        "%res = tile.map %a, %lb : ({acc}, {acc}) -> {acc} (%udv: f32, %tdv: f32) {{\n  %xdv = graph.div %udv, %tdv : (f32, f32) -> f32\n  tile.yield %xdv : f32\n}}"
    ));
    let oshape = wide(tq, e);
    let mut res = "res";
    if nb > 0 {
        k.line(format!(
            "%wide = tile.broadcast %res : ({acc}) -> {}",
            tile(f, &oshape)
        ));
        res = "wide";
    }
    let (ix, itys) = idx("%i", "%zero");
    k.line(format!(
        "tile.store %{res}, %out, {ix} : ({}, {ot}, {itys}) -> ()",
        tile(f, &oshape)
    ));
    ctx.emit(
        name,
        kt_.finish(),
        vec![(qb, None), (kb, None), (vb, None), (ob, None)],
        op,
    );
    Ok(())
}
