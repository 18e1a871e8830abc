//! Layout operations: `transpose`, `slice` and `concat`, as copy kernels.
//!
//! - `transpose`: 2-D tiles over the last two output axes (`mm x mm`) and one grid point per
//!   index of every other output axis; the input is read with `perm` (tile axis `a` walks
//!   input axis `perm[a]`), the output written with plain stores.
//! - `slice`: the output's elementwise grid; each tile is read at element offsets
//!   `start + tile position` (`unit = "elements"`, symbolic starts allowed) and stored plainly.
//! - `concat`: one copy kernel per input, in operand order, over the input's elementwise grid,
//!   storing at element offsets (the input's start along the axis added). Along the last axis
//!   a ragged input tile's tail (padding) lands in the range of the following inputs, which
//!   later launches overwrite, or past the end of the output, where stores are masked: the
//!   launches must run in order, as the plan runs them.

use super::elementwise::{kernel, Seen};
use super::{Ctx, TilingError};
use crate::plan::BufId;
use crate::template::{buf, cdiv, fit, sizes, tile, KernelText};
use tessera_dialects::{Operation, SymExpr};

/// The grid of an elementwise copy of `shape` (rank at least 1): one point per index of
/// every leading axis, one per tile of `tl` along the last; and the tile shape.
fn row_grid(shape: &[SymExpr], tl: u64) -> (Vec<SymExpr>, Vec<u64>) {
    let r = shape.len();
    let mut grid: Vec<SymExpr> = shape[..r - 1].to_vec();
    grid.push(cdiv(&shape[r - 1], tl));
    let mut t = vec![1u64; r - 1];
    t.push(tl);
    (grid, t)
}

/// `%p0 .. %p{r-1}`: the program ids of a rank-`r` grid.
fn program_ids(k: &mut KernelText, r: usize) -> Vec<String> {
    (0..r)
        .map(|a| {
            k.line(format!(
                "%p{a} = tile.program_id {{axis = {a}}} : () -> index"
            ));
            format!("%p{a}")
        })
        .collect()
}

/// `%e = pid * t + offset` as an element offset.
fn element_offset(k: &mut KernelText, pid: &str, t: u64, offset: &SymExpr) -> String {
    let e = k.fresh("o");
    let off = if offset.as_const() == Some(0) {
        String::new()
    } else {
        format!(", offset = {}", sizes(std::slice::from_ref(offset)))
    };
    k.line(format!(
        "%{e} = tile.affine {pid} {{coeffs = [{t}]{off}}} : (index) -> index"
    ));
    format!("%{e}")
}

fn index_tys(r: usize) -> String {
    vec!["index"; r].join(", ")
}

/// A plain copy of `x` into `y` (same shape), through the elementwise kernel.
fn copy(ctx: &mut Ctx, op: &Operation, what: &str) -> Result<(), TilingError> {
    let inputs = vec![Seen::of(ctx, ctx.buf(op.operands[0]))];
    let out = Seen::of(ctx, ctx.buf(op.results[0]));
    kernel(ctx, op, what, &inputs, &out, &|_, e: &[String], _| {
        e[0].clone()
    })
}

pub(super) fn transpose(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let (x, y) = (ctx.buf(op.operands[0]), ctx.buf(op.results[0]));
    let (xt, yt) = (ctx.ty(x).clone(), ctx.ty(y).clone());
    let r = xt.rank();
    let perm: Vec<usize> = op
        .attrs
        .ints("perm")
        .unwrap_or(&[])
        .iter()
        .map(|&p| if p < 0 { p + r as i64 } else { p } as usize)
        .collect();
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..r).collect::<Vec<_>>() || yt.rank() != r {
        return Err(TilingError::at(
            op,
            format!("`transpose` needs a permutation of 0..{r}, got {perm:?}"),
        ));
    }
    if r <= 1 || perm.iter().enumerate().all(|(a, &p)| a == p) {
        // The identity (the `--precision int8` lowering's per-tensor scales transpose
        // `[N, C, H, W]` by `[0, 1, 2, 3]`): a view of the input, as an unreturned reshape.
        if !ctx.is_returned(op.results[0]) {
            ctx.alias(y, x);
            return Ok(());
        }
        return copy(ctx, op, "transpose");
    }
    transpose_into(ctx, x, y, &perm, op);
    Ok(())
}

/// A copy kernel writing `x` permuted by `perm` (a permutation, rank at least 2) into `y`,
/// whose shape is `x`'s permuted: 2-D tiles over the last two output axes, one grid point
/// per index of every other output axis; `from` is the graph operation it serves.
pub(super) fn transpose_into(ctx: &mut Ctx, x: BufId, y: BufId, perm: &[usize], from: &Operation) {
    let (xt, yt) = (ctx.ty(x).clone(), ctx.ty(y).clone());
    let r = xt.rank();
    let o = &yt.shape;
    let mm = ctx.schedule.mm;
    let mut t = vec![1u64; r];
    t[r - 2] = fit(&o[r - 2], mm);
    t[r - 1] = fit(&o[r - 1], mm);
    let mut grid: Vec<SymExpr> = o[..r - 2].to_vec();
    grid.push(cdiv(&o[r - 2], t[r - 2]));
    grid.push(cdiv(&o[r - 1], t[r - 1]));
    let name = ctx.kernel_name("transpose");
    let (xb, yb) = (buf(xt.dtype, &xt.shape), buf(yt.dtype, o));
    let mut k = KernelText::new(
        &name,
        &[("x".into(), xb.clone()), ("out".into(), yb.clone())],
        &grid,
    );
    let pids = program_ids(&mut k, r);
    // Input axis b is walked by output (tile) axis a with perm[a] = b: its tile index is
    // the output's along a.
    let mut idx = vec![String::new(); r];
    for (a, &b) in perm.iter().enumerate() {
        idx[b] = pids[a].clone();
    }
    let tt = tile(xt.dtype, &t);
    let ps: Vec<String> = perm.iter().map(|p| p.to_string()).collect();
    k.line(format!(
        "%t = tile.load %x, {} {{perm = [{}]}} : ({xb}, {}) -> {tt}",
        idx.join(", "),
        ps.join(", "),
        index_tys(r)
    ));
    k.line(format!(
        "tile.store %t, %out, {} : ({tt}, {yb}, {}) -> ()",
        pids.join(", "),
        index_tys(r)
    ));
    ctx.emit(name, k.finish(), vec![(x, None), (y, None)], from);
}

pub(super) fn slice(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let (x, y) = (ctx.buf(op.operands[0]), ctx.buf(op.results[0]));
    let (xt, yt) = (ctx.ty(x).clone(), ctx.ty(y).clone());
    let r = xt.rank();
    let start = op.attrs.sizes("start").unwrap_or(&[]).to_vec();
    if start.len() != r || yt.rank() != r {
        return Err(TilingError::at(
            op,
            format!("`slice` needs one start per axis (rank {r})"),
        ));
    }
    if r == 0 {
        return copy(ctx, op, "slice");
    }
    let o = &yt.shape;
    let (grid, t) = row_grid(o, fit(&o[r - 1], ctx.schedule.elementwise));
    let name = ctx.kernel_name("slice");
    let (xb, yb) = (buf(xt.dtype, &xt.shape), buf(yt.dtype, o));
    let mut k = KernelText::new(
        &name,
        &[("x".into(), xb.clone()), ("out".into(), yb.clone())],
        &grid,
    );
    let pids = program_ids(&mut k, r);
    let offs: Vec<String> = (0..r)
        .map(|a| element_offset(&mut k, &pids[a], t[a], &start[a]))
        .collect();
    let tt = tile(xt.dtype, &t);
    k.line(format!(
        "%t = tile.load %x, {} {{unit = \"elements\"}} : ({xb}, {}) -> {tt}",
        offs.join(", "),
        index_tys(r)
    ));
    k.line(format!(
        "tile.store %t, %out, {} : ({tt}, {yb}, {}) -> ()",
        pids.join(", "),
        index_tys(r)
    ));
    ctx.emit(name, k.finish(), vec![(x, None), (y, None)], op);
    Ok(())
}

pub(super) fn concat(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let y = ctx.buf(op.results[0]);
    let yt = ctx.ty(y).clone();
    let r = yt.rank();
    let axis = op.attrs.int("axis").unwrap_or(0);
    let axis = if axis < 0 { axis + r as i64 } else { axis };
    if r == 0 || axis < 0 || axis as usize >= r {
        return Err(TilingError::at(
            op,
            format!("`concat` along axis {axis} of a rank-{r} result"),
        ));
    }
    let axis = axis as usize;
    let yb = buf(yt.dtype, &yt.shape);
    let mut at = SymExpr::lit(0);
    for (i, v) in op.operands.iter().enumerate() {
        let x = ctx.buf(*v);
        let xt = ctx.ty(x).clone();
        if xt.rank() != r {
            return Err(TilingError::at(
                op,
                format!("operand {i} of `concat` has rank {}, not {r}", xt.rank()),
            ));
        }
        let s = &xt.shape;
        let (grid, t) = row_grid(s, fit(&s[r - 1], ctx.schedule.elementwise));
        let name = ctx.kernel_name("concat");
        let xb = buf(xt.dtype, s);
        let mut k = KernelText::new(
            &name,
            &[("x".into(), xb.clone()), ("out".into(), yb.clone())],
            &grid,
        );
        let pids = program_ids(&mut k, r);
        let tt = tile(xt.dtype, &t);
        k.line(format!(
            "%t = tile.load %x, {} : ({xb}, {}) -> {tt}",
            pids.join(", "),
            index_tys(r)
        ));
        let zero = SymExpr::lit(0);
        let offs: Vec<String> = (0..r)
            .map(|a| {
                let base = if a == axis { &at } else { &zero };
                element_offset(&mut k, &pids[a], t[a], base)
            })
            .collect();
        k.line(format!(
            "tile.store %t, %out, {} {{unit = \"elements\"}} : ({tt}, {yb}, {}) -> ()",
            offs.join(", "),
            index_tys(r)
        ));
        ctx.emit(name, k.finish(), vec![(x, None), (y, None)], op);
        at = at.add(&s[axis]);
    }
    Ok(())
}
