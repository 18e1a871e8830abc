//! Attention chosen by the e-graph optimiser (kind `attention`): `softmax(q @ k^T [* c] [+
//! m]) @ v` over the last axis, batched, as one kernel with an online softmax, so the score
//! matrix is never stored.
//!
//! q is `[.., S, D]`, k `[.., T, D]`, v `[.., T, E]` and the result `[.., S, E]`, with the
//! same batch axes and constant head sizes D and E. The grid has one axis per batch axis
//! and one per tile of `tq` query rows. Each grid point loads its query tile once, then
//! walks the keys in tiles of `tk` rows carrying the running row maximum `m`, the running
//! sum `l` and the `[tq, E]` accumulator: `s = q @ k^T` (k transposed once, by a copy
//! kernel before the attention kernel, to `[.., D, T]`, and read in `[D, tk]` tiles),
//! scaled by `c`, plus the additive mask `m` when there is one, or selected by a bool mask
//! (`where(b, s, f)`: the literal `f` where `b` is false) (the mask's tile read with index 0
//! on the axes it broadcasts along); keys past `T` (the ragged last tile) get `-1e30`
//! added, so their `exp` is 0; `m' = max(m, rowmax(s))`, `a = exp(m - m')`, `p = exp(s -
//! m')` (with 0 for `m'` while a row has seen only `-inf` scores, so a masked prefix makes
//! no NaN), `l' = l * a + rowsum(p)`, `acc' = acc * a + p @ v`. The result is `acc / l`
//! (NaN for a row masked entirely, as softmax gives). All in f32.

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
    /// The mask, a tensor that broadcasts to the scores `[.., S, T]`: f32 and added, or
    /// bool when there is a `fill`.
    pub mask: Option<Value>,
    /// A bool mask's literal for the scores it hides (`where(mask, s, fill)`), printed
    /// (`{value = -1e9, dtype = f32}`).
    pub fill: Option<String>,
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
        let t = ctx.temp("k_t", kt_ty.clone(), op.loc);
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
    // The mask seen with the scores' rank (leading 1s).
    let mask = at.mask.map(|m| {
        let b = ctx.buf(m);
        let own = ctx.ty(b).shape.clone();
        let mut shape = vec![SymExpr::lit(1); r - own.len()];
        shape.extend(own.iter().cloned());
        let view = (shape != own).then(|| shape.clone());
        (b, shape, view)
    });
    let mut params = vec![
        ("q".to_string(), qt.clone()),
        ("k".to_string(), kt.clone()),
        ("v".to_string(), vt.clone()),
    ];
    // A bool mask selects, an f32 one is added.
    let md = if at.fill.is_some() {
        DType::Bool
    } else {
        DType::F32
    };
    if let Some((_, shape, _)) = &mask {
        params.push(("mask".to_string(), buf(md, shape)));
    }
    params.push(("out".to_string(), ot.clone()));
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
    // The penalty of each key of the tile, once per key tile (a row of `tk`, broadcast
    // over the query rows): `1e30 * clamp(position - T + 1, 0, 1)`, 0 for real keys.
    let keys = tile(f, &[tk]);
    body.push(format!(
        "%kp = tile.iota %kb {{axis = 0}} : (index) -> {}",
        tile(DType::I32, &[tk])
    ));
    body.push(format!(
        "%kf = tile.cast %kp {{dtype = f32}} : ({}) -> {keys}",
        tile(DType::I32, &[tk])
    ));
    body.push(format!(
        "%kq = tile.map %kf : ({keys}) -> {keys} (%ws: f32) {{\n  %z0s = graph.constant {{value = 0.0, dtype = f32}} : () -> f32\n  %z1s = graph.constant {{value = 1.0, dtype = f32}} : () -> f32\n  %bigs = graph.constant {{value = 1e30, dtype = f32}} : () -> f32\n  %w0s = graph.max %ws, %z0s : (f32, f32) -> f32\n  %w1s = graph.min %w0s, %z1s : (f32, f32) -> f32\n  %pens = graph.mul %w1s, %bigs : (f32, f32) -> f32\n  tile.yield %pens : f32\n}}"
    ));
    body.push(format!(
        "%kpen = tile.broadcast %kq {{dims = [1]}} : ({keys}) -> {blk}"
    ));
    let mut mask_tile = None;
    // The mask's `[tq, tk]` tile: index 0 and one row or column on the axes it broadcasts
    // along; keys past T read 0 or false (the penalty below removes them).
    if let Some((_, shape, _)) = &mask {
        let one = |a: usize| shape[a].as_const() == Some(1);
        let mut ix: Vec<&str> = (0..nb)
            .map(|a| if one(a) { "%zero" } else { batch[a].as_str() })
            .collect();
        let (rows, cols) = (
            if one(r - 2) { 1 } else { tq },
            if one(r - 1) { 1 } else { tk },
        );
        ix.push(if one(r - 2) { "%zero" } else { "%i" });
        ix.push(if one(r - 1) { "%zero" } else { "%j" });
        let full = wide(rows, cols);
        body.push(format!(
            "%mkw = tile.load %mask, {} : ({}, {}) -> {}",
            ix.join(", "),
            buf(md, shape),
            vec!["index"; r].join(", "),
            tile(md, &full)
        ));
        let mut cur = "mkw".to_string();
        // A bool mask is read as 0 / 1 in f32 (tile reductions take numbers).
        if md == DType::Bool {
            body.push(format!(
                "%mkf = tile.cast %mkw {{dtype = f32}} : ({}) -> {}",
                tile(md, &full),
                tile(f, &full)
            ));
            cur = "mkf".to_string();
        }
        for x in 0..nb {
            let next = format!("mk{x}");
            body.push(format!(
                "%{next} = tile.reduce %{cur} {{axis = 0, kind = \"max\"}} : ({}) -> {}",
                tile(f, &full[x..]),
                tile(f, &full[x + 1..])
            ));
            cur = next;
        }
        if (rows, cols) != (tq, tk) {
            body.push(format!(
                "%mkb = tile.broadcast %{cur} : ({}) -> {blk}",
                tile(f, &[rows, cols])
            ));
            cur = "mkb".to_string();
        }
        mask_tile = Some(cur);
    }
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
    // The masked score: `xs + ms` with an f32 mask, `ms ? xs : fill` with a bool one,
    // else `xs`.
    let (mask_in, mask_ty, mask_arg, masked) = match (&mask_tile, &at.fill) {
        (Some(t), None) => (
            format!(", %{t}"),
            format!(", {blk}"),
            ", %ms: f32".to_string(),
            "  %xms = graph.add %xs, %ms : (f32, f32) -> f32\n".to_string(),
        ),
        (Some(t), Some(fill)) => (
            format!(", %{t}"),
            format!(", {blk}"),
            ", %ms: f32".to_string(),
            format!("  %fms = graph.constant {fill} : () -> f32\n  %zms = graph.constant {{value = 0.0, dtype = f32}} : () -> f32\n  %bms = graph.gt %ms, %zms : (f32, f32) -> bool\n  %xms = graph.select %bms, %xs, %fms : (bool, f32, f32) -> f32\n"),
        ),
        _ => (String::new(), String::new(), String::new(), String::new()),
    };
    let xm = if mask_tile.is_some() { "xms" } else { "xs" };
    body.push(format!(
        "%sm = tile.map %s, %kpen{mask_in} : ({blk}, {blk}{mask_ty}) -> {blk} (%ys: f32, %pns: f32{mask_arg}) {{\n{scale}{masked}  %os = graph.sub %{xm}, %pns : (f32, f32) -> f32\n  tile.yield %os : f32\n}}"
    ));
    body.push(format!(
        "%rm = tile.reduce %sm {{axis = 1, kind = \"max\"}} : ({blk}) -> {row}"
    ));
    body.push(format!(
        "%mn = tile.map %mc, %rm : ({row}, {row}) -> {row} (%umx: f32, %tmx: f32) {{\n  %xmx = graph.max %umx, %tmx : (f32, f32) -> f32\n  tile.yield %xmx : f32\n}}"
    ));
    // The shift of the exponentials: the running maximum, or 0 while a row has seen only
    // `-inf` scores (a masked row prefix), so that `exp(-inf - -inf)` never makes a NaN.
    body.push(format!(
        "%sh = tile.map %mn : ({row}) -> {row} (%ush: f32) {{\n  %nsh = graph.constant {{value = -inf, dtype = f32}} : () -> f32\n  %zsh = graph.constant {{value = 0.0, dtype = f32}} : () -> f32\n  %esh = graph.eq %ush, %nsh : (f32, f32) -> bool\n  %xsh = graph.select %esh, %zsh, %ush : (bool, f32, f32) -> f32\n  tile.yield %xsh : f32\n}}"
    ));
    body.push(format!(
        "%al = tile.map %mc, %sh : ({row}, {row}) -> {row} (%ual: f32, %tal: f32) {{\n  %xal = graph.sub %ual, %tal : (f32, f32) -> f32\n  %yal = graph.exp %xal : (f32) -> f32\n  tile.yield %yal : f32\n}}"
    ));
    body.push(format!(
        "%mb = tile.broadcast %sh {{dims = [0]}} : ({row}) -> {blk}"
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
    let mut args = vec![(qb, None), (kb, None), (vb, None)];
    if let Some((b, _, view)) = mask {
        args.push((b, view));
    }
    args.push((ob, None));
    ctx.emit(name, kt_.finish(), args, op);
    Ok(())
}
