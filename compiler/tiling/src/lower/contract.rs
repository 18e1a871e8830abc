//! Contractions equal to a (batched) matmul: `matmul` of rank above 2 with NumPy batch
//! broadcasting, and `einsum` with two operands, one contracted label and at least one free
//! label per operand (`ij,jk->ik`, `bij,bjk->bik`, `bhqd,bhkd->bhqk`, `ik,jk->ij`, ...).
//!
//! The grid has one axis per batch axis of the output, then one per tile of M and of N.
//! Each operand is loaded from its own buffer (no views, so every axis is masked by its own
//! size and past-the-edge elements read as zero) as a tile `[1, .., 1, rows, cols]`: its
//! batch axes first (index 0 where the operand broadcasts, or lacks the axis), then the two
//! matrix axes in `tile.dot` order, through a `perm` load when the operand stores them the
//! other way round. `tile.reduce {kind = "max"}` over each leading size-1 axis (exact: a
//! maximum over one element) leaves the 2-D tile `tile.dot` takes. The 2-D result is
//! broadcast back to the output's rank and stored, with a `perm` when the output orders its
//! axes differently. Floats accumulate in `f32`, integers in `i32`. Two-operand 2-D
//! `matmul` keeps its own kernel (`matmul.rs`); other einsums are clear errors.

use super::{Ctx, TilingError};
use crate::plan::BufId;
use crate::template::{buf, cdiv, fit, sizes, tile, KernelText};
use tessera_dialects::{DType, Operation, SymExpr};

/// What an axis of an operand or of the output is in the matmul form.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    /// Output batch axis `d` (grid axis `d`).
    Batch(usize),
    M,
    K,
    N,
}

/// `matmul`: rank-2 operands use the 2-D kernel; higher ranks broadcast their batch axes.
pub(super) fn matmul(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let (a, b, c) = (
        ctx.buf(op.operands[0]),
        ctx.rhs(op.operands[1]),
        ctx.buf(op.results[0]),
    );
    let (ra, rb, rc) = (ctx.ty(a).rank(), ctx.ty(b).rank(), ctx.ty(c).rank());
    if ra == 2 && rb == 2 {
        return super::matmul::matmul(ctx, op);
    }
    if ra < 2 || rb < 2 || rc < ra.max(rb) {
        return Err(TilingError::at(
            op,
            "`matmul` of rank below 2 is not lowered to tile IR yet",
        ));
    }
    let nb = rc - 2;
    let roles = |r: usize, last: [Role; 2]| -> Vec<Role> {
        let mut v: Vec<Role> = (0..r - 2).map(|d| Role::Batch(d + nb - (r - 2))).collect();
        v.extend(last);
        v
    };
    let ta = ctx.ty(a).clone();
    let tb = ctx.ty(b).clone();
    let dims = Dims {
        batch: ctx.ty(c).shape[..nb].to_vec(),
        m: ta.shape[ra - 2].clone(),
        k: ta.shape[ra - 1].clone(),
        n: tb.shape[rb - 1].clone(),
    };
    contract(
        ctx,
        op,
        "matmul",
        (a, roles(ra, [Role::M, Role::K])),
        (b, roles(rb, [Role::K, Role::N])),
        (c, roles(rc, [Role::M, Role::N])),
        &dims,
    )
}

/// `einsum` with two operands in matmul form.
pub(super) fn einsum(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let spec = op.attrs.str("spec").unwrap_or("").replace(' ', "");
    let unsupported = |why: &str| {
        TilingError::at(
            op,
            format!("`einsum` \"{spec}\" is not lowered to tile IR yet: {why}"),
        )
    };
    if op.operands.len() != 2 {
        return Err(unsupported("only two-operand contractions are"));
    }
    let Some((lhs, out)) = spec.split_once("->") else {
        return Err(unsupported("the spec has no `->`"));
    };
    let Some((ta, tb)) = lhs.split_once(',') else {
        return Err(unsupported("the spec does not have two input terms"));
    };
    let (la, lb, lo): (Vec<char>, Vec<char>, Vec<char>) = (
        ta.chars().collect(),
        tb.chars().collect(),
        out.chars().collect(),
    );
    let (a, b, c) = (
        ctx.buf(op.operands[0]),
        ctx.buf(op.operands[1]),
        ctx.buf(op.results[0]),
    );
    let (sa, sb, sc) = (
        ctx.ty(a).shape.clone(),
        ctx.ty(b).shape.clone(),
        ctx.ty(c).shape.clone(),
    );
    if la.len() != sa.len() || lb.len() != sb.len() || lo.len() != sc.len() {
        return Err(unsupported("the terms do not match the operand ranks"));
    }
    let contracted: Vec<char> = la
        .iter()
        .filter(|l| lb.contains(l) && !lo.contains(l))
        .copied()
        .collect();
    if la
        .iter()
        .chain(&lb)
        .any(|l| !lo.contains(l) && !contracted.contains(l))
    {
        return Err(unsupported(
            "a label is summed within one operand (only labels shared by both are contracted)",
        ));
    }
    if contracted.len() != 1 {
        return Err(unsupported("exactly one contracted label is supported"));
    }
    let kl = contracted[0];
    // The row label: the last output label only in the first operand; the column label
    // likewise for the second. Every other output label is a batch (grid) axis.
    let ml = lo
        .iter()
        .rev()
        .find(|l| la.contains(l) && !lb.contains(l))
        .copied();
    let nl = lo
        .iter()
        .rev()
        .find(|l| lb.contains(l) && !la.contains(l))
        .copied();
    let (Some(ml), Some(nl)) = (ml, nl) else {
        return Err(unsupported(
            "each operand needs a label of its own in the output (matrix-vector forms are not supported)",
        ));
    };
    let batch_labels: Vec<char> = lo
        .iter()
        .filter(|l| **l != ml && **l != nl)
        .copied()
        .collect();
    let role = |l: char| -> Role {
        if l == ml {
            Role::M
        } else if l == nl {
            Role::N
        } else if l == kl {
            Role::K
        } else {
            Role::Batch(batch_labels.iter().position(|x| *x == l).unwrap_or(0))
        }
    };
    let size = |l: char| -> SymExpr {
        la.iter()
            .position(|x| *x == l)
            .map(|p| sa[p].clone())
            .or_else(|| lb.iter().position(|x| *x == l).map(|p| sb[p].clone()))
            .unwrap_or_else(|| SymExpr::lit(1))
    };
    let dims = Dims {
        batch: batch_labels
            .iter()
            .map(|l| sc[lo.iter().position(|x| x == l).unwrap_or(0)].clone())
            .collect(),
        m: size(ml),
        k: size(kl),
        n: size(nl),
    };
    contract(
        ctx,
        op,
        "einsum",
        (a, la.iter().map(|l| role(*l)).collect()),
        (b, lb.iter().map(|l| role(*l)).collect()),
        (c, lo.iter().map(|l| role(*l)).collect()),
        &dims,
    )
}

/// The sizes of the matmul form.
struct Dims {
    batch: Vec<SymExpr>,
    m: SymExpr,
    k: SymExpr,
    n: SymExpr,
}

/// A load (or store) through a `perm`: the tile puts the operand's batch axes first (in
/// buffer order), then `matrix` (two roles) in that order. Returns (perm, tile shape,
/// index names per buffer axis).
fn arrange(
    roles: &[Role],
    shape: &[SymExpr],
    dims: &Dims,
    matrix: [Role; 2],
    tiles: [u64; 2],
    index_of: &dyn Fn(Role) -> String,
) -> (Vec<usize>, Vec<u64>, Vec<String>) {
    let mut perm = Vec::new();
    let mut tshape = Vec::new();
    for (p, r) in roles.iter().enumerate() {
        if matches!(r, Role::Batch(_)) {
            perm.push(p);
            tshape.push(1);
        }
    }
    for (m, t) in matrix.iter().zip(tiles) {
        if let Some(p) = roles.iter().position(|r| r == m) {
            perm.push(p);
            tshape.push(t);
        }
    }
    let idx = roles
        .iter()
        .enumerate()
        .map(|(p, r)| match r {
            Role::Batch(d) => {
                let broadcasts =
                    shape[p].as_const() == Some(1) && dims.batch[*d].as_const() != Some(1);
                if broadcasts {
                    "%zero".to_string()
                } else {
                    index_of(*r)
                }
            }
            _ => index_of(*r),
        })
        .collect();
    (perm, tshape, idx)
}

fn perm_attr(perm: &[usize]) -> String {
    if perm.iter().enumerate().all(|(i, p)| i == *p) {
        String::new()
    } else {
        let p: Vec<String> = perm.iter().map(|x| x.to_string()).collect();
        format!(" {{perm = [{}]}}", p.join(", "))
    }
}

#[allow(clippy::too_many_arguments)]
fn contract(
    ctx: &mut Ctx,
    op: &Operation,
    what: &str,
    a: (BufId, Vec<Role>),
    b: (BufId, Vec<Role>),
    c: (BufId, Vec<Role>),
    dims: &Dims,
) -> Result<(), TilingError> {
    let (ta, tb, tc) = (
        ctx.ty(a.0).clone(),
        ctx.ty(b.0).clone(),
        ctx.ty(c.0).clone(),
    );
    if ta.dtype != tb.dtype {
        return Err(TilingError::at(op, "the operands' dtypes differ"));
    }
    for (side, roles) in [(&ta, &a.1), (&tb, &b.1), (&tc, &c.1)] {
        if side.rank() != roles.len() {
            return Err(TilingError::at(
                op,
                "internal error: roles and ranks differ",
            ));
        }
    }
    let mm = ctx.schedule.mm;
    let (tm, tk, tn) = (
        ctx.schedule.rows_tile(&dims.m, &dims.k, &dims.n),
        ctx.schedule.k_tile(&dims.k),
        fit(&dims.n, mm),
    );
    let adt = if ta.dtype.is_float() {
        DType::F32
    } else {
        DType::I32
    };
    let odt = tc.dtype;
    let nb = dims.batch.len();
    let name = ctx.kernel_name(what);
    let (abuf, bbuf, cbuf) = (
        buf(ta.dtype, &ta.shape),
        buf(tb.dtype, &tb.shape),
        buf(odt, &tc.shape),
    );
    let params = vec![
        ("a".to_string(), abuf.clone()),
        ("b".to_string(), bbuf.clone()),
        ("out".to_string(), cbuf.clone()),
    ];
    let mut grid = dims.batch.clone();
    grid.push(cdiv(&dims.m, tm));
    grid.push(cdiv(&dims.n, tn));
    let mut k = KernelText::new(&name, &params, &grid);
    for d in 0..nb {
        k.line(format!(
            "%p{d} = tile.program_id {{axis = {d}}} : () -> index"
        ));
    }
    k.line(format!(
        "%i = tile.program_id {{axis = {nb}}} : () -> index"
    ));
    k.line(format!(
        "%j = tile.program_id {{axis = {}}} : () -> index",
        nb + 1
    ));
    k.line("%zero = tile.index {value = sizes[0]} : () -> index");
    let index_of = |r: Role| -> String {
        match r {
            Role::Batch(d) => format!("%p{d}"),
            Role::M => "%i".into(),
            Role::K => "%k".into(),
            Role::N => "%j".into(),
        }
    };
    let acc = tile(adt, &[tm, tn]);
    k.line(format!("%z = tile.zeros : () -> {acc}"));
    let mut body: Vec<String> = Vec::new();
    let mut operand = |tag: &str,
                       roles: &[Role],
                       ty: &tessera_dialects::TensorType,
                       bty: &str,
                       matrix: [Role; 2],
                       tiles: [u64; 2]|
     -> String {
        let (perm, tshape, idx) = arrange(roles, &ty.shape, dims, matrix, tiles, &index_of);
        let itys = vec!["index"; idx.len()].join(", ");
        let mut cur = format!("t{tag}");
        body.push(format!(
            "%{cur} = tile.load %{tag}, {}{} : ({bty}, {itys}) -> {}",
            idx.join(", "),
            perm_attr(&perm),
            tile(ty.dtype, &tshape)
        ));
        for r in 0..tshape.len() - 2 {
            let next = format!("t{tag}{r}");
            body.push(format!(
                "%{next} = tile.reduce %{cur} {{axis = 0, kind = \"max\"}} : ({}) -> {}",
                tile(ty.dtype, &tshape[r..]),
                tile(ty.dtype, &tshape[r + 1..])
            ));
            cur = next;
        }
        cur
    };
    let la = operand("a", &a.1, &ta, &abuf, [Role::M, Role::K], [tm, tk]);
    let lb = operand("b", &b.1, &tb, &bbuf, [Role::K, Role::N], [tk, tn]);
    let (a2, b2) = (tile(ta.dtype, &[tm, tk]), tile(tb.dtype, &[tk, tn]));
    body.push(format!(
        "%d = tile.dot %{la}, %{lb}, %c {{rows = \"live\"}} : ({a2}, {b2}, {acc}) -> {acc}"
    ));
    body.push(format!("tile.yield %d : {acc}"));
    let mut loop_text = format!(
        "%acc = tile.for %z {{bounds = {}}} : ({acc}) -> {acc} (%k: index, %c: {acc}) {{\n",
        sizes(&[SymExpr::lit(0), cdiv(&dims.k, tk)])
    );
    for l in &body {
        for part in l.lines() {
            loop_text.push_str("  ");
            loop_text.push_str(part);
            loop_text.push('\n');
        }
    }
    loop_text.push('}');
    k.line(loop_text);
    let mut res = "acc".to_string();
    if odt != adt {
        k.line(format!(
            "%res = tile.cast %acc {{dtype = {odt}, round = \"arith\"}} : ({acc}) -> {}",
            tile(odt, &[tm, tn])
        ));
        res = "res".into();
    }
    let (perm, tshape, idx) = arrange(
        &c.1,
        &tc.shape,
        dims,
        [Role::M, Role::N],
        [tm, tn],
        &index_of,
    );
    if tshape.len() > 2 {
        k.line(format!(
            "%wide = tile.broadcast %{res} : ({}) -> {}",
            tile(odt, &[tm, tn]),
            tile(odt, &tshape)
        ));
        res = "wide".into();
    }
    k.line(format!(
        "tile.store %{res}, %out, {}{} : ({}, {cbuf}, {}) -> ()",
        idx.join(", "),
        perm_attr(&perm),
        tile(odt, &tshape),
        vec!["index"; idx.len()].join(", ")
    ));
    ctx.emit(
        name,
        k.finish(),
        vec![(a.0, None), (b.0, None), (c.0, None)],
        op,
    );
    Ok(())
}
