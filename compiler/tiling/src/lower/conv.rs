//! `conv2d` (any stride, padding, dilation and groups; NCHW / OIHW) and `maxpool2d` /
//! `avgpool2d`.
//!
//! `f32` convolutions without groups, and `i8` ones into `i32`, are implicit GEMMs
//! (`conv2d_gemm`): `tile.dot`s of each tap's weight matrix with shifted input windows, on
//! the register-blocked micro-kernels of `matmul` (taps unrolled and operands read through
//! 2-D views when the weight's sizes are constants: `conv2d_gemm_taps`). The others
//! (groups, other integer and narrow dtypes) are direct
//! convolutions: the grid has one point per (image, output channel, output-row tile,
//! output-column tile) (with `groups > 1`, the channel axis is split into (group, channel
//! in group)). Each
//! kernel tap reads a strided window of the input at element offsets
//! `tile_start * stride + tap * dilation - padding`; reads outside the image are the load's
//! pad: zero for convolution and average pooling, the dtype's lowest value for max pooling
//! (so padding never wins a maximum). Convolution multiplies each window by a broadcast
//! weight scalar and accumulates in `f32` (floats) or `i32` (integers); average pooling
//! divides the window sum by the number of in-bounds elements, computed per output element
//! from `tile.iota` positions as `(min(lo + k, H) - max(lo, 0))` per axis with
//! `lo = o * stride - padding`.

use super::conv_epilogue::Epilogue;
use super::{Ctx, TilingError};
use crate::template::{buf, cdiv, fit, sizes, tile, KernelText};
use tessera_dialects::{DType, Operation, SymExpr};

/// An `[a, b]` attribute of positive (`min = 1`) or non-negative (`min = 0`) integers.
fn pair(op: &Operation, name: &str, min: i64) -> Result<[i64; 2], TilingError> {
    match op.attrs.ints(name) {
        Some(&[a, b]) if a >= min && b >= min => Ok([a, b]),
        other => Err(TilingError::at(
            op,
            format!("`{name}` must be two integers of at least {min}, got {other:?}"),
        )),
    }
}

/// The accumulator dtype of a sum of products of `dt` values.
fn acc_dtype(dt: DType) -> DType {
    if dt.is_float() {
        DType::F32
    } else {
        DType::I32
    }
}

/// Output tile sizes (rows, columns) for output extents `oh` and `ow`.
fn out_tile(ctx: &Ctx, oh: &SymExpr, ow: &SymExpr) -> (u64, u64) {
    (
        fit(oh, ctx.schedule.rows.max(1)),
        fit(ow, ctx.schedule.elementwise.clamp(1, 64)),
    )
}

/// `%v = graph.cast %x {dtype = to}` in a map region, or `x` itself when the dtypes agree.
fn cast_scalar(k: &mut KernelText, x: &str, from: DType, to: DType) -> String {
    if from == to {
        return x.to_string();
    }
    let v = k.fresh("cv");
    k.line(format!(
        "%{v} = graph.cast %{x} {{dtype = {to}}} : ({from}) -> {to}"
    ));
    v
}

/// Indents the lines of a nested block by two spaces.
fn indent(lines: &[String]) -> String {
    let mut s = String::new();
    for l in lines {
        for part in l.lines() {
            s.push_str("  ");
            s.push_str(part);
            s.push('\n');
        }
    }
    s
}

/// A `conv2d` with an elementwise epilogue (kind `conv`), one implicit-GEMM kernel whose
/// output tiles go through the epilogue before their store (`conv_epilogue.rs`): f32
/// operands, one group.
pub(super) fn fused(
    ctx: &mut Ctx,
    op: &Operation,
    ops: &[(&Operation, DType)],
) -> Result<(), TilingError> {
    let (x, w) = (ctx.buf(op.operands[0]), ctx.buf(op.operands[1]));
    let (tx, tw) = (ctx.ty(x).clone(), ctx.ty(w).clone());
    if tx.rank() != 4 || tw.rank() != 4 {
        return Err(TilingError::at(
            op,
            "conv2d needs NCHW input and OIHW weight",
        ));
    }
    if [tx.dtype, tw.dtype] != [DType::F32; 2] || op.attrs.int("groups").unwrap_or(1) != 1 {
        return Err(TilingError::at(
            op,
            "a conv epilogue needs f32 operands and one group",
        ));
    }
    let epi = Epilogue::new(ctx, op, ops)?;
    if ctx.ty(epi.out).rank() != 4 {
        return Err(TilingError::at(op, "conv2d needs an NCHW result"));
    }
    let (stride, pad, dil) = (
        pair(op, "stride", 1)?,
        pair(op, "padding", 0)?,
        pair(op, "dilation", 1)?,
    );
    conv2d_gemm(ctx, op, [x, w, epi.out], stride, pad, dil, Some(&epi))
}

/// Stores the `[to, tn]` f32 accumulator `%acc` at the grid point's output tile, through
/// the epilogue when there is one.
fn store_out(
    k: &mut KernelText,
    epi: Option<&Epilogue>,
    [to, tn]: [u64; 2],
    out: DType,
    obuf: &str,
) {
    let res = match epi {
        Some(e) => e.apply(k, "acc", [to, tn], out),
        None => "acc".to_string(),
    };
    let out4 = tile(out, &[1, to, 1, tn]);
    k.line(format!(
        "%wide = tile.broadcast %{res} {{dims = [1, 3]}} : ({}) -> {out4}",
        tile(out, &[to, tn])
    ));
    k.line(format!(
        "tile.store %wide, %out, %n, %o, %r, %pc : ({out4}, {obuf}, index, index, index, index) -> ()"
    ));
}

pub(super) fn conv2d(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let (x, w, y) = (
        ctx.buf(op.operands[0]),
        ctx.buf(op.operands[1]),
        ctx.buf(op.results[0]),
    );
    let (tx, tw, ty) = (ctx.ty(x).clone(), ctx.ty(w).clone(), ctx.ty(y).clone());
    if tx.rank() != 4 || tw.rank() != 4 || ty.rank() != 4 {
        return Err(TilingError::at(
            op,
            "conv2d needs NCHW input and OIHW weight",
        ));
    }
    let stride = pair(op, "stride", 1)?;
    let pad = pair(op, "padding", 0)?;
    let dil = pair(op, "dilation", 1)?;
    let groups = op.attrs.int("groups").unwrap_or(1);
    if groups < 1 {
        return Err(TilingError::at(op, "`groups` must be at least 1"));
    }
    let (o, cg, kh, kw) = (&tw.shape[0], &tw.shape[1], &tw.shape[2], &tw.shape[3]);
    let (oh, ow) = (&ty.shape[2], &ty.shape[3]);
    // With groups, output channel `g * og + oi` reads input channels `g * cg + ci`: the
    // multipliers must be constants for `tile.affine`.
    let grouped =
        if groups > 1 {
            match (o.as_const(), cg.as_const()) {
                (Some(oc), Some(cgc)) if oc % groups == 0 => Some((oc / groups, cgc)),
                _ => return Err(TilingError::at(
                    op,
                    "grouped `conv2d` with symbolic channel counts is not lowered to tile IR yet",
                )),
            }
        } else {
            None
        };
    let gemm = [tx.dtype, tw.dtype, ty.dtype] == [DType::F32; 3]
        || [tx.dtype, tw.dtype, ty.dtype] == [DType::I8, DType::I8, DType::I32];
    if grouped.is_none() && gemm {
        return conv2d_gemm(ctx, op, [x, w, y], stride, pad, dil, None);
    }
    let (th, tw_) = out_tile(ctx, oh, ow);
    let xdt = tx.dtype;
    let adt = acc_dtype(xdt);
    let odt = ty.dtype;
    let name = ctx.kernel_name("conv2d");
    let params = vec![
        ("x".to_string(), buf(xdt, &tx.shape)),
        ("w".to_string(), buf(tw.dtype, &tw.shape)),
        ("out".to_string(), buf(odt, &ty.shape)),
    ];
    let n = &tx.shape[0];
    let mut grid = vec![n.clone()];
    match grouped {
        Some((og, _)) => {
            grid.push(SymExpr::lit(groups));
            grid.push(SymExpr::lit(og));
        }
        None => grid.push(o.clone()),
    }
    grid.push(cdiv(oh, th));
    grid.push(cdiv(ow, tw_));
    let mut k = KernelText::new(&name, &params, &grid);
    k.line("%n = tile.program_id {axis = 0} : () -> index");
    let ax = match grouped {
        Some((og, _)) => {
            k.line("%g = tile.program_id {axis = 1} : () -> index");
            k.line("%oi = tile.program_id {axis = 2} : () -> index");
            k.line(format!(
                "%o = tile.affine %g, %oi {{coeffs = [{og}, 1]}} : (index, index) -> index"
            ));
            3
        }
        None => {
            k.line("%o = tile.program_id {axis = 1} : () -> index");
            2
        }
    };
    k.line(format!(
        "%pr = tile.program_id {{axis = {ax}}} : () -> index"
    ));
    k.line(format!(
        "%pc = tile.program_id {{axis = {}}} : () -> index",
        ax + 1
    ));
    let acc = tile(adt, &[1, 1, th, tw_]);
    let win = tile(xdt, &[1, 1, th, tw_]);
    let tap = tile(tw.dtype, &[1, 1, 1, 1]);
    let xbuf = buf(xdt, &tx.shape);
    let wbuf = buf(tw.dtype, &tw.shape);
    k.line(format!("%z = tile.zeros : () -> {acc}"));
    // The innermost body: one tap.
    let mut inner: Vec<String> = Vec::new();
    let cin = match grouped {
        Some((_, cgc)) => {
            inner.push(format!(
                "%cin = tile.affine %g, %ci {{coeffs = [{cgc}, 1]}} : (index, index) -> index"
            ));
            "cin"
        }
        None => "ci",
    };
    inner.push(format!(
        "%h0 = tile.affine %pr, %kh {{coeffs = [{}, {}], offset = {}}} : (index, index) -> index",
        th as i64 * stride[0],
        dil[0],
        sizes(&[SymExpr::lit(-pad[0])])
    ));
    inner.push(format!(
        "%w0 = tile.affine %pc, %kw {{coeffs = [{}, {}], offset = {}}} : (index, index) -> index",
        tw_ as i64 * stride[1],
        dil[1],
        sizes(&[SymExpr::lit(-pad[1])])
    ));
    inner.push(format!(
        "%win = tile.load %x, %n, %{cin}, %h0, %w0 {{unit = \"elements\", strides = [1, 1, {}, {}]}} : ({xbuf}, index, index, index, index) -> {win}",
        stride[0], stride[1]
    ));
    inner.push(format!(
        "%tap = tile.load %w, %o, %ci, %kh, %kw {{unit = \"elements\"}} : ({wbuf}, index, index, index, index) -> {tap}"
    ));
    inner.push(format!(
        "%tb = tile.broadcast %tap : ({tap}) -> {}",
        tile(tw.dtype, &[1, 1, th, tw_])
    ));
    let mut region = KernelText::new("region", &[], &[]);
    let a = cast_scalar(&mut region, "wb", xdt, adt);
    let b = cast_scalar(&mut region, "tq", tw.dtype, adt);
    region.line(format!(
        "%pp = graph.mul %{a}, %{b} : ({adt}, {adt}) -> {adt}"
    ));
    region.line(format!(
        "%ss = graph.add %ua, %pp : ({adt}, {adt}) -> {adt}"
    ));
    region.line(format!("tile.yield %ss : {adt}"));
    let region_lines: Vec<String> = region.body_lines().map(str::to_string).collect();
    inner.push(format!(
        "%v = tile.map %u, %win, %tb : ({acc}, {win}, {}) -> {acc} (%ua: {adt}, %wb: {xdt}, %tq: {}) {{\n{}}}",
        tile(tw.dtype, &[1, 1, th, tw_]),
        tw.dtype,
        indent(&region_lines)
    ));
    inner.push(format!("tile.yield %v : {acc}"));
    let zero = SymExpr::lit(0);
    let kw_loop = format!(
        "%t1 = tile.for %t0 {{bounds = {}}} : ({acc}) -> {acc} (%kw: index, %u: {acc}) {{\n{}}}\ntile.yield %t1 : {acc}",
        sizes(&[zero.clone(), kw.clone()]),
        indent(&inner)
    );
    let kh_loop = format!(
        "%s1 = tile.for %s0 {{bounds = {}}} : ({acc}) -> {acc} (%kh: index, %t0: {acc}) {{\n{}}}\ntile.yield %s1 : {acc}",
        sizes(&[zero.clone(), kh.clone()]),
        indent(&[kw_loop])
    );
    k.line(format!(
        "%acc = tile.for %z {{bounds = {}}} : ({acc}) -> {acc} (%ci: index, %s0: {acc}) {{\n{}}}",
        sizes(&[zero, cg.clone()]),
        indent(&[kh_loop])
    ));
    let result = if adt == odt {
        "acc"
    } else {
        k.line(format!(
            "%res = tile.cast %acc {{dtype = {odt}, round = \"arith\"}} : ({acc}) -> {}",
            tile(odt, &[1, 1, th, tw_])
        ));
        "res"
    };
    k.line(format!(
        "tile.store %{result}, %out, %n, %o, %pr, %pc : ({}, {}, index, index, index, index) -> ()",
        tile(odt, &[1, 1, th, tw_]),
        buf(odt, &ty.shape)
    ));
    ctx.emit(name, k.finish(), vec![(x, None), (w, None), (y, None)], op);
    Ok(())
}

/// `f32` `conv2d` without groups as an implicit GEMM: a sum over the taps `(kh, kw)` and
/// the input-channel tiles of `tile.dot`s, `W_tap[o, c] @ X_shifted[c, ow]`, so that it
/// runs on the same register-blocked micro-kernel as `matmul`. `i8` operands with an
/// `i32` result (the int8 convolution of `--precision int8`) take the same kernels with
/// `i8` tiles and an `i32` accumulator: their dots run on the `i8` micro-kernel (exact),
/// and a padded or out-of-image element loads as 0 there too.
///
/// Two kernels: the first copies the weight to `[KH, KW, O, C]` (a `perm` load), so that
/// each tap's `[O, C]` matrix is dense; the second has one grid point per (image,
/// output-channel tile, output row, output-column tile) and accumulates a
/// `[to, tw]` tile (rows: output channels, columns: output pixels of one row): for each
/// input-channel tile `ci` and tap, it loads the strided input row window
/// `x[n, ci*tc .., oh*s + kh*d - p, ow0*s + kw*d - p ..]` (element offsets: reads outside
/// the image are the zero padding, channels past `C` are zero) and the tap's weights,
/// drops their size-1 axes (`tile.reduce max` over one element, exact) and adds their
/// `tile.dot`.
fn conv2d_gemm(
    ctx: &mut Ctx,
    op: &Operation,
    [x, w, y]: [crate::plan::BufId; 3],
    stride: [i64; 2],
    pad: [i64; 2],
    dil: [i64; 2],
    epi: Option<&Epilogue>,
) -> Result<(), TilingError> {
    let (tx, tw, ty) = (ctx.ty(x).clone(), ctx.ty(w).clone(), ctx.ty(y).clone());
    // Operands `f32` or `i8`, the accumulator and result `f32` or `i32`.
    // (With an epilogue the result may be of another dtype: the accumulator is the
    // operands' `f32` or `i32`, the stored tile the result's.)
    let (f, odt) = (tx.dtype, ty.dtype);
    let adt = acc_dtype(f);
    let (o, c, kh, kw) = (&tw.shape[0], &tw.shape[1], &tw.shape[2], &tw.shape[3]);
    let ow = &ty.shape[3];
    if f == DType::F32 {
        if let Some(taps) = dense_taps(&tw.shape, ctx.schedule.mm, ctx.schedule.mk) {
            let rows = crate::schedule::DOT_BLOCK[0];
            let tiles = output_tiles(&tx.shape[0], &ty.shape[2], ow);
            if taps[4] % rows == 0
                && fit(ow, conv_cols()).is_multiple_of(4)
                && tiles >= PANEL_MIN_TILES
            {
                let wt = weight_panels(ctx, op, w, taps, rows);
                conv2d_gemm_taps(
                    ctx,
                    op,
                    [x, wt, y],
                    taps,
                    [stride, pad, dil],
                    epi,
                    Some(rows),
                );
                return Ok(());
            }
        }
    }
    // The weight in tap-major layout.
    let wt_shape = vec![kh.clone(), kw.clone(), o.clone(), c.clone()];
    let wt = ctx.temp(
        "conv_weight",
        tessera_dialects::TensorType::new(f, wt_shape.clone()),
        op.loc,
    );
    let (wo, wc) = (fit(o, 32), fit(c, 32));
    let name = ctx.kernel_name("conv2d_weight");
    let params = vec![
        ("w".to_string(), buf(f, &tw.shape)),
        ("out".to_string(), buf(f, &wt_shape)),
    ];
    let grid = vec![kh.clone(), kw.clone(), cdiv(o, wo), cdiv(c, wc)];
    let mut k = KernelText::new(&name, &params, &grid);
    for (a, p) in ["a", "b", "c", "d"].iter().enumerate() {
        k.line(format!(
            "%{p} = tile.program_id {{axis = {a}}} : () -> index"
        ));
    }
    let t = tile(f, &[1, 1, wo, wc]);
    k.line(format!(
        "%t = tile.load %w, %c, %d, %a, %b {{perm = [2, 3, 0, 1]}} : ({}, index, index, index, index) -> {t}",
        buf(f, &tw.shape)
    ));
    k.line(format!(
        "tile.store %t, %out, %a, %b, %c, %d : ({t}, {}, index, index, index, index) -> ()",
        buf(f, &wt_shape)
    ));
    ctx.emit(name, k.finish(), vec![(w, None), (wt, None)], op);

    if let Some(taps) = dense_taps(&tw.shape, ctx.schedule.mm, ctx.schedule.mk) {
        conv2d_gemm_taps(ctx, op, [x, wt, y], taps, [stride, pad, dil], epi, None);
        return Ok(());
    }
    let (to, tc, tn) = (
        fit(o, ctx.schedule.mm),
        fit(c, ctx.schedule.mk),
        fit(ow, conv_cols()),
    );
    let name = ctx.kernel_name("conv2d");
    let (xbuf, wbuf, obuf) = (buf(f, &tx.shape), buf(f, &wt_shape), buf(odt, &ty.shape));
    let mut params = vec![
        ("x".to_string(), xbuf.clone()),
        ("w".to_string(), wbuf.clone()),
    ];
    params.extend(epi.map(Epilogue::params).unwrap_or_default());
    params.push(("out".to_string(), obuf.clone()));
    let grid = vec![
        tx.shape[0].clone(),
        cdiv(o, to),
        ty.shape[2].clone(),
        cdiv(ow, tn),
    ];
    let mut k = KernelText::new(&name, &params, &grid);
    for (a, p) in ["n", "o", "r", "pc"].iter().enumerate() {
        k.line(format!(
            "%{p} = tile.program_id {{axis = {a}}} : () -> index"
        ));
    }
    let acc = tile(adt, &[to, tn]);
    let (win4, win3, win2) = (
        tile(f, &[1, tc, 1, tn]),
        tile(f, &[tc, 1, tn]),
        tile(f, &[tc, tn]),
    );
    let (w4, w3, w2) = (
        tile(f, &[1, 1, to, tc]),
        tile(f, &[1, to, tc]),
        tile(f, &[to, tc]),
    );
    k.line(format!("%z = tile.zeros : () -> {acc}"));
    live_cols(&mut k, ow, tn);
    let inner = vec![
        format!("%c0 = tile.affine %ci {{coeffs = [{tc}]}} : (index) -> index"),
        format!(
            "%h0 = tile.affine %r, %kh {{coeffs = [{}, {}], offset = {}}} : (index, index) -> index",
            stride[0],
            dil[0],
            sizes(&[SymExpr::lit(-pad[0])])
        ),
        format!(
            "%w0 = tile.affine %pc, %kw {{coeffs = [{}, {}], offset = {}}} : (index, index) -> index",
            tn as i64 * stride[1],
            dil[1],
            sizes(&[SymExpr::lit(-pad[1])])
        ),
        format!(
            "%win = tile.load %x, %n, %c0, %h0, %w0 {{unit = \"elements\", strides = [1, 1, 1, {}]}} : ({xbuf}, index, index, index, index) -> {win4}",
            stride[1]
        ),
        format!("%win1 = tile.reduce %win {{axis = 0, kind = \"max\"}} : ({win4}) -> {win3}"),
        format!("%win2 = tile.reduce %win1 {{axis = 1, kind = \"max\"}} : ({win3}) -> {win2}"),
        format!(
            "%tap = tile.load %w, %kh, %kw, %o, %ci : ({wbuf}, index, index, index, index) -> {w4}"
        ),
        format!("%tap1 = tile.reduce %tap {{axis = 0, kind = \"max\"}} : ({w4}) -> {w3}"),
        format!("%tap2 = tile.reduce %tap1 {{axis = 0, kind = \"max\"}} : ({w3}) -> {w2}"),
        format!("%d = tile.dot %tap2, %win2, %u, %nl : ({w2}, {win2}, {acc}, index) -> {acc}"),
        format!("tile.yield %d : {acc}"),
    ];
    let zero = SymExpr::lit(0);
    let kw_loop = format!(
        "%t1 = tile.for %t0 {{bounds = {}}} : ({acc}) -> {acc} (%kw: index, %u: {acc}) {{\n{}}}\ntile.yield %t1 : {acc}",
        sizes(&[zero.clone(), kw.clone()]),
        indent(&inner)
    );
    let kh_loop = format!(
        "%s1 = tile.for %s0 {{bounds = {}}} : ({acc}) -> {acc} (%kh: index, %t0: {acc}) {{\n{}}}\ntile.yield %s1 : {acc}",
        sizes(&[zero.clone(), kh.clone()]),
        indent(&[kw_loop])
    );
    k.line(format!(
        "%acc = tile.for %z {{bounds = {}}} : ({acc}) -> {acc} (%ci: index, %s0: {acc}) {{\n{}}}",
        sizes(&[zero, cdiv(c, tc)]),
        indent(&[kh_loop])
    ));
    store_out(&mut k, epi, [to, tn], odt, &obuf);
    let mut args = vec![(x, None), (wt, None)];
    args.extend(epi.map(|e| e.args(ctx)).unwrap_or_default());
    args.push((y, None));
    ctx.emit(name, k.finish(), args, op);
    Ok(())
}

/// `%nl = OW - tn * %pc`: the output columns of this grid point's `[to, tn]` tile that lie
/// inside the output (the rest is only stored, which skips it), given to each `tile.dot`
/// as its live columns, so that the column panels past the image's last column (`W = 56`
/// in 64-column tiles) cost no multiply-adds. The extent `OW` may be symbolic: the bound
/// is an index computed at run time.
fn live_cols(k: &mut KernelText, ow: &SymExpr, tn: u64) {
    k.line(format!(
        "%nl = tile.affine %pc {{coeffs = [-{tn}], offset = {}}} : (index) -> index",
        sizes(std::slice::from_ref(ow))
    ));
}

/// The output-column tile of the implicit GEMM (the dot's N): the largest multiple of the
/// register block's panel width (`4 * DOT_BLOCK[1]` = 8 columns) not above 64, so that
/// no narrower panel is left over: 64 (with the earlier 12-column panel, 60 took 10% fewer
/// instructions than 64 on conv3x3 with W = 56, callgrind).
fn conv_cols() -> u64 {
    let panel = (crate::schedule::VECTOR * crate::schedule::DOT_BLOCK[1]) as u64;
    (64 / panel).max(1) * panel
}

/// `(O, C, KH, KW, to, tc)` when the weight's sizes are constants and the channel tiles
/// divide them, so that 2-D views cut whole tiles: the weight as `[KH * KW * O, C]`
/// (one `[to, tc]` tile per tap never reaches into the next tap) and the input as
/// `[N * C, H, W]` (a channel tile never reaches into the next image).
fn dense_taps(w: &[SymExpr], mm: u64, mk: u64) -> Option<[i64; 6]> {
    let [o, c, kh, kw] = [0, 1, 2, 3].map(|i| w[i].as_const());
    let (o, c, kh, kw) = (o?, c?, kh?, kw?);
    let (to, tc) = (
        fit(&SymExpr::lit(o), mm) as i64,
        fit(&SymExpr::lit(c), mk) as i64,
    );
    (o % to == 0 && c % tc == 0 && kh * kw <= 49).then_some([o, c, kh, kw, to, tc])
}

/// The fewest output tiles (image rows of up to 64 pixels) per call for which the weight
/// is written in broadcast row panels: the weight kernel then writes 4 times the weight
/// once per call (about 29 instructions per element written: its store moves rows of 4),
/// where the `[KH * KW * O, C]` taps cost a broadcast packing of about 2.3 instructions
/// per weight element and output tile; below this, small images with large weights
/// (`7 x 7` outputs of 512 channels) would pay more for the panels than they save.
const PANEL_MIN_TILES: u64 = 64;

/// The output tiles of an implicit-GEMM conv per call (images times output rows times
/// 64-pixel column tiles), a symbolic size counted as 8 (a batch) or 56 (a row or column
/// count).
fn output_tiles(n: &SymExpr, oh: &SymExpr, ow: &SymExpr) -> u64 {
    let size = |e: &SymExpr, guess: u64| e.as_const().map_or(guess, |c| c.max(0) as u64);
    size(n, 8) * size(oh, 56) * size(ow, 56).div_ceil(conv_cols())
}

/// The first kernel of the `f32` implicit GEMM with constant weight sizes: the `[O, C,
/// KH, KW]` weight copied into broadcast row panels of `rows` output channels,
/// `[KH, KW, O / rows, C, rows, 4]` (element `(o, c, kh, kw)` in the four lanes at
/// `(kh, kw, o / rows, c, o % rows)`), which each tap's `tile.dot` reads as its lhs in
/// place (the `Q x K x R x L` lhs form): the micro-kernel loads the `rows` broadcast
/// weights of one input channel as it loads a packed lhs, and no tap is packed per output
/// tile (64 KiB of broadcast stores per tap and output tile on conv3x3 before). Returns
/// the temporary's buffer (4 times the weight's size).
fn weight_panels(
    ctx: &mut Ctx,
    op: &Operation,
    w: crate::plan::BufId,
    [o, c, kh, kw, ..]: [i64; 6],
    rows: i64,
) -> crate::plan::BufId {
    let [q, r, c, kh, kw, lanes] = [o / rows, rows, c, kh, kw, 4].map(SymExpr::lit);
    let (c, kh, kw) = (&c, &kh, &kw);
    let shape = vec![
        kh.clone(),
        kw.clone(),
        q.clone(),
        c.clone(),
        r.clone(),
        lanes,
    ];
    let wt = ctx.temp(
        "conv_weight",
        tessera_dialects::TensorType::new(DType::F32, shape.clone()),
        op.loc,
    );
    let wview = vec![q.clone(), r, c.clone(), kh.clone(), kw.clone()];
    let (wq, wc) = (fit(&q, 8), fit(c, 32));
    let name = ctx.kernel_name("conv2d_weight");
    let params = vec![
        ("w".to_string(), buf(DType::F32, &wview)),
        ("out".to_string(), buf(DType::F32, &shape)),
    ];
    let grid = vec![kh.clone(), kw.clone(), cdiv(&q, wq), cdiv(c, wc)];
    let mut k = KernelText::new(&name, &params, &grid);
    for (a, p) in ["a", "b", "c", "d"].iter().enumerate() {
        k.line(format!(
            "%{p} = tile.program_id {{axis = {a}}} : () -> index"
        ));
    }
    k.line("%z = tile.index {value = sizes[0]} : () -> index");
    let t = tile(DType::F32, &[1, 1, wq, wc, rows as u64]);
    let t4 = tile(DType::F32, &[1, 1, wq, wc, rows as u64, 4]);
    k.line(format!(
        "%t = tile.load %w, %c, %z, %d, %a, %b {{perm = [3, 4, 0, 2, 1]}} : ({}, index, index, index, index, index) -> {t}",
        buf(DType::F32, &wview)
    ));
    k.line(format!(
        "%t4 = tile.broadcast %t {{dims = [0, 1, 2, 3, 4]}} : ({t}) -> {t4}"
    ));
    k.line(format!(
        "tile.store %t4, %out, %a, %b, %c, %d, %z, %z : ({t4}, {}, index, index, index, index, index, index) -> ()",
        buf(DType::F32, &shape)
    ));
    ctx.emit(name, k.finish(), vec![(w, Some(wview)), (wt, None)], op);
    wt
}

/// The implicit GEMM with constant weight sizes ([`dense_taps`]): the taps unrolled in
/// the body of one loop over input-channel tiles (a chain of `KH * KW` dots, no loop
/// copies between taps), each tap's `[to, tc]` weight tile read straight from the
/// `[KH * KW * O, C]` view, each input window `[tc, 1, tw]` from the `[N * C, H, W]` view
/// (one size-1 axis to drop).
#[allow(clippy::too_many_arguments)]
fn conv2d_gemm_taps(
    ctx: &mut Ctx,
    op: &Operation,
    [x, wt, y]: [crate::plan::BufId; 3],
    [o, c, kh, kw, to, tc]: [i64; 6],
    [stride, pad, dil]: [[i64; 2]; 3],
    epi: Option<&Epilogue>,
    panels: Option<i64>,
) {
    let (tx, ty) = (ctx.ty(x).clone(), ctx.ty(y).clone());
    // (With an epilogue the result may be of another dtype: the accumulator is the
    // operands' `f32` or `i32`, the stored tile the result's.)
    let (f, odt) = (tx.dtype, ty.dtype);
    let adt = acc_dtype(f);
    let ow = &ty.shape[3];
    let tn = fit(ow, conv_cols());
    let (to, tc) = (to as u64, tc as u64);
    let xview = vec![
        tx.shape[0].mul(&SymExpr::lit(c)),
        tx.shape[2].clone(),
        tx.shape[3].clone(),
    ];
    // The weight as `[KH * KW * O, C]`, or in broadcast row panels `[KH * KW * O / R, C,
    // R, 4]`.
    let wview = match panels {
        Some(r) => vec![
            SymExpr::lit(kh * kw * o / r),
            SymExpr::lit(c),
            SymExpr::lit(r),
            SymExpr::lit(4),
        ],
        None => vec![SymExpr::lit(kh * kw * o), SymExpr::lit(c)],
    };
    let name = ctx.kernel_name("conv2d");
    let (xbuf, wbuf, obuf) = (buf(f, &xview), buf(f, &wview), buf(odt, &ty.shape));
    let mut params = vec![
        ("x".to_string(), xbuf.clone()),
        ("w".to_string(), wbuf.clone()),
    ];
    params.extend(epi.map(Epilogue::params).unwrap_or_default());
    params.push(("out".to_string(), obuf.clone()));
    let grid = vec![
        tx.shape[0].clone(),
        SymExpr::lit(o / to as i64),
        ty.shape[2].clone(),
        cdiv(ow, tn),
    ];
    let mut k = KernelText::new(&name, &params, &grid);
    for (a, p) in ["n", "o", "r", "pc"].iter().enumerate() {
        k.line(format!(
            "%{p} = tile.program_id {{axis = {a}}} : () -> index"
        ));
    }
    let acc = tile(adt, &[to, tn]);
    let (win3, win2) = (tile(f, &[tc, 1, tn]), tile(f, &[tc, tn]));
    let w2 = match panels {
        Some(r) => tile(f, &[to / r as u64, tc, r as u64, 4]),
        None => tile(f, &[to, tc]),
    };
    k.line(format!("%z = tile.zeros : () -> {acc}"));
    if panels.is_some() {
        k.line("%z0 = tile.index {value = sizes[0]} : () -> index");
    }
    live_cols(&mut k, ow, tn);
    let mut body = vec![
        format!("%xc = tile.affine %n, %ci {{coeffs = [{c}, {tc}]}} : (index, index) -> index"),
        format!("%wc = tile.affine %ci {{coeffs = [{tc}]}} : (index) -> index"),
    ];
    let mut cur = "u".to_string();
    for i in 0..kh {
        body.push(format!(
            "%h{i} = tile.affine %r {{coeffs = [{}], offset = {}}} : (index) -> index",
            stride[0],
            sizes(&[SymExpr::lit(i * dil[0] - pad[0])])
        ));
        for j in 0..kw {
            let t = i * kw + j;
            body.push(format!(
                "%w{t} = tile.affine %pc {{coeffs = [{}], offset = {}}} : (index) -> index",
                tn as i64 * stride[1],
                sizes(&[SymExpr::lit(j * dil[1] - pad[1])])
            ));
            body.push(format!(
                "%win{t} = tile.load %x, %xc, %h{i}, %w{t} {{unit = \"elements\", strides = [1, 1, {}]}} : ({xbuf}, index, index, index) -> {win3}",
                stride[1]
            ));
            body.push(format!(
                "%wn{t} = tile.reduce %win{t} {{axis = 1, kind = \"max\"}} : ({win3}) -> {win2}"
            ));
            match panels {
                Some(r) => {
                    body.push(format!(
                        "%wr{t} = tile.affine %o {{coeffs = [{}], offset = {}}} : (index) -> index",
                        to as i64 / r,
                        sizes(&[SymExpr::lit(t * o / r)])
                    ));
                    body.push(format!(
                        "%tap{t} = tile.load %w, %wr{t}, %wc, %z0, %z0 {{unit = \"elements\"}} : ({wbuf}, index, index, index, index) -> {w2}"
                    ));
                }
                None => {
                    body.push(format!(
                        "%wr{t} = tile.affine %o {{coeffs = [{to}], offset = {}}} : (index) -> index",
                        sizes(&[SymExpr::lit(t * o)])
                    ));
                    body.push(format!(
                        "%tap{t} = tile.load %w, %wr{t}, %wc {{unit = \"elements\"}} : ({wbuf}, index, index) -> {w2}"
                    ));
                }
            }
            body.push(format!(
                "%d{t} = tile.dot %tap{t}, %wn{t}, %{cur}, %nl : ({w2}, {win2}, {acc}, index) -> {acc}"
            ));
            cur = format!("d{t}");
        }
    }
    body.push(format!("tile.yield %{cur} : {acc}"));
    k.line(format!(
        "%acc = tile.for %z {{bounds = {}}} : ({acc}) -> {acc} (%ci: index, %u: {acc}) {{\n{}}}",
        sizes(&[SymExpr::lit(0), SymExpr::lit(c / tc as i64)]),
        indent(&body)
    ));
    store_out(&mut k, epi, [to, tn], odt, &obuf);
    let mut args = vec![(x, Some(xview)), (wt, Some(wview))];
    args.extend(epi.map(|e| e.args(ctx)).unwrap_or_default());
    args.push((y, None));
    ctx.emit(name, k.finish(), args, op);
}

/// The lowest value of `dt`, as a `pad` / `splat` attribute value.
fn lowest(dt: DType) -> String {
    match dt {
        DType::I8 => "-128".into(),
        DType::I32 => "-2147483648".into(),
        d => crate::template::float_lowest(d).into(),
    }
}

/// `maxpool2d` (`avg = false`) or `avgpool2d` (`avg = true`).
pub(super) fn pool2d(ctx: &mut Ctx, op: &Operation, avg: bool) -> Result<(), TilingError> {
    let (x, y) = (ctx.buf(op.operands[0]), ctx.buf(op.results[0]));
    let (tx, ty) = (ctx.ty(x).clone(), ctx.ty(y).clone());
    if tx.rank() != 4 || ty.rank() != 4 {
        return Err(TilingError::at(op, "pooling needs an NCHW input"));
    }
    let kern = pair(op, "kernel", 1)?;
    let stride = pair(op, "stride", 1)?;
    let pad = pair(op, "padding", 0)?;
    let xdt = tx.dtype;
    let odt = ty.dtype;
    if avg && !xdt.is_float() {
        return Err(TilingError::at(op, "avgpool2d needs a float input"));
    }
    // Max pooling compares in the input dtype; average pooling sums in f32.
    let adt = if avg { DType::F32 } else { xdt };
    let (oh, ow) = (&ty.shape[2], &ty.shape[3]);
    let (th, tw_) = out_tile(ctx, oh, ow);
    let what = if avg { "avgpool2d" } else { "maxpool2d" };
    let name = ctx.kernel_name(what);
    let xbuf = buf(xdt, &tx.shape);
    let obuf = buf(odt, &ty.shape);
    let params = vec![
        ("x".to_string(), xbuf.clone()),
        ("out".to_string(), obuf.clone()),
    ];
    let grid = vec![
        tx.shape[0].clone(),
        tx.shape[1].clone(),
        cdiv(oh, th),
        cdiv(ow, tw_),
    ];
    let mut k = KernelText::new(&name, &params, &grid);
    for (a, p) in ["n", "c", "pr", "pc"].iter().enumerate() {
        k.line(format!(
            "%{p} = tile.program_id {{axis = {a}}} : () -> index"
        ));
    }
    let shape4 = [1, 1, th, tw_];
    let acc = tile(adt, &shape4);
    let win = tile(xdt, &shape4);
    let (init, pad_attr) = if avg {
        (format!("%z = tile.zeros : () -> {acc}"), String::new())
    } else {
        let low = lowest(xdt);
        (
            format!("%z = tile.splat {{value = {low}}} : () -> {acc}"),
            format!(", pad = {low}"),
        )
    };
    k.line(init);
    let mut inner: Vec<String> = Vec::new();
    inner.push(format!(
        "%h0 = tile.affine %pr, %kh {{coeffs = [{}, 1], offset = {}}} : (index, index) -> index",
        th as i64 * stride[0],
        sizes(&[SymExpr::lit(-pad[0])])
    ));
    inner.push(format!(
        "%w0 = tile.affine %pc, %kw {{coeffs = [{}, 1], offset = {}}} : (index, index) -> index",
        tw_ as i64 * stride[1],
        sizes(&[SymExpr::lit(-pad[1])])
    ));
    inner.push(format!(
        "%win = tile.load %x, %n, %c, %h0, %w0 {{unit = \"elements\", strides = [1, 1, {}, {}]{pad_attr}}} : ({xbuf}, index, index, index, index) -> {win}",
        stride[0], stride[1]
    ));
    let mut region = KernelText::new("region", &[], &[]);
    let wv = cast_scalar(&mut region, "wb", xdt, adt);
    let combine = if avg { "add" } else { "max" };
    region.line(format!(
        "%ss = graph.{combine} %ua, %{wv} : ({adt}, {adt}) -> {adt}"
    ));
    region.line(format!("tile.yield %ss : {adt}"));
    let region_lines: Vec<String> = region.body_lines().map(str::to_string).collect();
    inner.push(format!(
        "%v = tile.map %u, %win : ({acc}, {win}) -> {acc} (%ua: {adt}, %wb: {xdt}) {{\n{}}}",
        indent(&region_lines)
    ));
    inner.push(format!("tile.yield %v : {acc}"));
    let zero = SymExpr::lit(0);
    let kw_loop = format!(
        "%t1 = tile.for %t0 {{bounds = {}}} : ({acc}) -> {acc} (%kw: index, %u: {acc}) {{\n{}}}\ntile.yield %t1 : {acc}",
        sizes(&[zero.clone(), SymExpr::lit(kern[1])]),
        indent(&inner)
    );
    k.line(format!(
        "%acc = tile.for %z {{bounds = {}}} : ({acc}) -> {acc} (%kh: index, %t0: {acc}) {{\n{}}}",
        sizes(&[zero, SymExpr::lit(kern[0])]),
        indent(&[kw_loop])
    ));
    let result = if avg {
        // Output positions and the image extents, as i32 tiles.
        let pos = tile(DType::I32, &shape4);
        k.line(format!(
            "%rb = tile.affine %pr {{coeffs = [{th}]}} : (index) -> index"
        ));
        k.line(format!(
            "%cb = tile.affine %pc {{coeffs = [{tw_}]}} : (index) -> index"
        ));
        k.line(format!(
            "%ohp = tile.iota %rb {{axis = 2}} : (index) -> {pos}"
        ));
        k.line(format!(
            "%owp = tile.iota %cb {{axis = 3}} : (index) -> {pos}"
        ));
        k.line(format!(
            "%hx = tile.index {{value = {}}} : () -> index",
            sizes(&[tx.shape[2].clone()])
        ));
        k.line(format!(
            "%wx = tile.index {{value = {}}} : () -> index",
            sizes(&[tx.shape[3].clone()])
        ));
        k.line(format!(
            "%hs = tile.iota %hx {{axis = 0}} : (index) -> {pos}"
        ));
        k.line(format!(
            "%ws = tile.iota %wx {{axis = 0}} : (index) -> {pos}"
        ));
        let mut r = KernelText::new("region", &[], &[]);
        r.set_counter(region.counter());
        let i32c = |r: &mut KernelText, name: &str, v: i64| {
            r.line(format!(
                "%{name} = graph.constant {{value = {v}, dtype = i32}} : () -> i32"
            ));
        };
        i32c(&mut r, "c0", 0);
        let mut counts = Vec::new();
        for (ax, (p, e)) in [("qh", "eh"), ("qw", "ew")].iter().enumerate() {
            let s = format!("s{ax}");
            let pd = format!("p{ax}");
            let kk = format!("k{ax}");
            i32c(&mut r, &s, stride[ax]);
            i32c(&mut r, &pd, pad[ax]);
            i32c(&mut r, &kk, kern[ax]);
            r.line(format!("%m{ax} = graph.mul %{p}, %{s} : (i32, i32) -> i32"));
            r.line(format!(
                "%lo{ax} = graph.sub %m{ax}, %{pd} : (i32, i32) -> i32"
            ));
            r.line(format!(
                "%e{ax} = graph.add %lo{ax}, %{kk} : (i32, i32) -> i32"
            ));
            r.line(format!(
                "%hi{ax} = graph.min %e{ax}, %{e} : (i32, i32) -> i32"
            ));
            r.line(format!(
                "%lc{ax} = graph.max %lo{ax}, %c0 : (i32, i32) -> i32"
            ));
            r.line(format!(
                "%n{ax} = graph.sub %hi{ax}, %lc{ax} : (i32, i32) -> i32"
            ));
            counts.push(format!("n{ax}"));
        }
        r.line(format!(
            "%cnt = graph.mul %{}, %{} : (i32, i32) -> i32",
            counts[0], counts[1]
        ));
        r.line("%cf = graph.cast %cnt {dtype = f32} : (i32) -> f32");
        r.line("%mean = graph.div %sa, %cf : (f32, f32) -> f32");
        let m = cast_scalar(&mut r, "mean", DType::F32, odt);
        r.line(format!("tile.yield %{m} : {odt}"));
        let lines: Vec<String> = r.body_lines().map(str::to_string).collect();
        k.line(format!(
            "%res = tile.map %acc, %ohp, %owp, %hs, %ws : ({acc}, {pos}, {pos}, {pos}, {pos}) -> {} (%sa: f32, %qh: i32, %qw: i32, %eh: i32, %ew: i32) {{\n{}}}",
            tile(odt, &shape4),
            indent(&lines)
        ));
        "res"
    } else {
        "acc"
    };
    k.line(format!(
        "tile.store %{result}, %out, %n, %c, %pr, %pc : ({}, {obuf}, index, index, index, index) -> ()",
        tile(odt, &shape4)
    ));
    ctx.emit(name, k.finish(), vec![(x, None), (y, None)], op);
    Ok(())
}
