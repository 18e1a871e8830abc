//! `matmul` of two rank-2 operands: a grid of output tiles, a loop over K tiles, `tile.dot`
//! accumulating in f32 for float operands (f16, bf16 and fp8 results are rounded once at
//! the end, DSL.md §4) and in i32 for i8 operands. Batched matmul is in `contract.rs`.
//! A matmul kernel chosen by the e-graph optimiser ([`fused`]) applies its elementwise
//! epilogue (bias, activation, residual) to each accumulated tile before the store.

use super::elementwise::map_ops;
use super::fuse::{leaf, Fusion, Leaf};
use super::{Ctx, TilingError};
use crate::plan::BufId;
use crate::template::{buf, cdiv, fit, sizes, tile, KernelText};
use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::{DType, Func, GraphOp, Operation, SymExpr, Value};

pub(super) fn matmul(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let (a, b, c) = (
        ctx.buf(op.operands[0]),
        ctx.rhs(op.operands[1]),
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
        ctx.schedule.rows_tile(m, k, n),
        ctx.schedule.k_tile(k),
        fit(n, mm),
    );
    let name = ctx.kernel_name("matmul");
    let params = vec![
        ("a".to_string(), buf(ta.dtype, &ta.shape)),
        ("b".to_string(), buf(tb.dtype, &tb.shape)),
        ("out".to_string(), buf(tc.dtype, &tc.shape)),
    ];
    let mut kt = KernelText::new(&name, &params, &[cdiv(m, tm), cdiv(n, tn)]);
    if tb.dtype != ta.dtype && !(ta.dtype == DType::F32 && is_narrow_float(tb.dtype)) {
        return Err(TilingError::at(
            op,
            format!(
                "internal error: a matmul of {} and {} operands",
                ta.dtype, tb.dtype
            ),
        ));
    }
    // Narrow float results accumulate in f32 and are rounded once.
    let acc_dtype = if tc.dtype.is_float() {
        DType::F32
    } else {
        tc.dtype
    };
    let acc_tile = tile(acc_dtype, &[tm, tn]);
    let out_tile = tile(tc.dtype, &[tm, tn]);
    accumulate(
        &mut kt,
        (&ta.shape, ta.dtype),
        (&tb.shape, tb.dtype),
        acc_dtype,
        [tm, tk, tn],
    );
    let result = if acc_dtype == tc.dtype {
        "acc"
    } else {
        kt.line(format!(
            "%res = tile.cast %acc {{dtype = {}, round = \"arith\"}} : ({acc_tile}) -> {out_tile}",
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

/// The program ids `%i`, `%j` and the K loop accumulating `%acc = a[i, :] @ b[:, j]` in
/// `acc_dtype`, for tiles `[tm, tk, tn]`. Narrow float operands (`bf16`, `f16`, `f8*`)
/// into an `f32` accumulator are loaded narrow and widened exactly (`tile.cast`), so that
/// the dot is an `f32` one: products of two narrow floats are exact in `f32`, the sum is
/// accumulated in `f32` (DSL.md "Numerics") and the CPU back end runs its `f32`
/// micro-kernels (the rhs widened while packed, `dot_widen`) instead of a scalar loop.
fn accumulate(
    kt: &mut KernelText,
    (sa, da): (&[SymExpr], DType),
    (sb, db): (&[SymExpr], DType),
    acc_dtype: DType,
    [tm, tk, tn]: [u64; 3],
) {
    let acc_tile = tile(acc_dtype, &[tm, tn]);
    let wide = if da.is_float() && acc_dtype == DType::F32 {
        DType::F32
    } else {
        da
    };
    let (a_tile, b_tile) = (tile(wide, &[tm, tk]), tile(wide, &[tk, tn]));
    // A narrow operand (a weight held narrow, [`widened_rhs`], or a narrow matmul's) is
    // read narrow and widened exactly: the dot packs a widened rhs widening.
    let load = |[name, narrow_name]: [&str; 2], at: &str, (d, dims): (DType, &[u64]), t: &str| {
        let buf_ty = buf(d, if name == "ta" { sa } else { sb });
        if d == wide {
            format!("%{name} = tile.load {at} : ({buf_ty}, index, index) -> {t}")
        } else {
            let narrow = tile(d, dims);
            format!(
                "%{narrow_name} = tile.load {at} : ({buf_ty}, index, index) -> {narrow}\n  %{name} = tile.cast %{narrow_name} {{dtype = {wide}}} : ({narrow}) -> {t}"
            )
        }
    };
    let load_a = load(["ta", "tan"], "%a, %i, %k", (da, &[tm, tk]), &a_tile);
    let load_b = load(["tb", "tn"], "%b, %k, %j", (db, &[tk, tn]), &b_tile);
    kt.line("%i = tile.program_id {axis = 0} : () -> index");
    kt.line("%j = tile.program_id {axis = 1} : () -> index");
    kt.line(format!("%z = tile.zeros : () -> {acc_tile}"));
    kt.line(format!(
        "%acc = tile.for %z {{bounds = {}}} : ({acc_tile}) -> {acc_tile} (%k: index, %c: {acc_tile}) {{\n  {load_a}\n  {load_b}\n  %d = tile.dot %ta, %tb, %c {{rows = \"live\"}} : ({a_tile}, {b_tile}, {acc_tile}) -> {acc_tile}\n  tile.yield %d : {acc_tile}\n}}",
        sizes(&[SymExpr::lit(0), cdiv(&sa[1], tk)]),
    ));
}

/// A matmul with an elementwise epilogue, one kernel: `mm` is the `matmul` (f32 operands
/// accumulated in f32, or i8 ones accumulated in i32, the epilogue then reading the `i32`
/// tile; a 2-D right operand; a left operand of higher rank is seen as `[rows, K]`), `ops`
/// the epilogue in program order with their result dtypes, the last one the kernel's
/// result. The epilogue's other inputs have the result's shape, broadcast a row over it
/// (`[1, tn]` tiles), are columns of it (one value per row, `[tm, 1]` tiles, such as the
/// int8 per-row activation scale), or are scalars.
pub(super) fn fused(
    ctx: &mut Ctx,
    mm: &Operation,
    ops: &[(&Operation, DType)],
) -> Result<(), TilingError> {
    let Some((root, _)) = ops.last() else {
        return matmul(ctx, mm);
    };
    let (a, b, c) = (
        ctx.buf(mm.operands[0]),
        ctx.rhs(mm.operands[1]),
        ctx.buf(root.results[0]),
    );
    let (ta, tb, tc) = (ctx.ty(a).clone(), ctx.ty(b).clone(), ctx.ty(c).clone());
    // An f32 rhs, or a narrow one that a widening cast left to the matmul.
    let widened = ctx.widened.contains_key(&mm.operands[1]);
    let acc_dtype = match (ta.dtype, tb.dtype) {
        (DType::F32, _) if widened => Some(DType::F32),
        (DType::I8, DType::I8) => Some(DType::I32),
        (x, y) if x == y && x.is_float() => Some(DType::F32),
        _ => None,
    };
    let (Some(acc_dtype), true) = (acc_dtype, ta.rank() >= 2 && tb.rank() == 2) else {
        return Err(TilingError::at(
            mm,
            "a matmul epilogue needs float operands of one dtype or i8 ones, and a 2-D right operand",
        ));
    };
    // The matmul's own result: the accumulator, rounded once to the operands' dtype where
    // they are narrow floats (an `f32` lhs with a widened rhs gives `f32`).
    let mm_dtype = match ta.dtype {
        DType::I8 => DType::I32,
        d => d,
    };
    let r = ta.rank();
    let m = ta.shape[..r - 1]
        .iter()
        .fold(SymExpr::lit(1), |acc, d| acc.mul(d));
    let (k, n) = (ta.shape[r - 1].clone(), tb.shape[1].clone());
    let a_view = vec![m.clone(), k.clone()];
    let c_view = vec![m.clone(), n.clone()];
    let view = |b: BufId, v: &[SymExpr], ctx: &Ctx| -> (BufId, Option<Vec<SymExpr>>) {
        (b, (ctx.ty(b).shape != v).then(|| v.to_vec()))
    };
    // Values the epilogue reads from outside: the matmul's result, then the leaves.
    let inside: Vec<Value> = ops.iter().map(|(o, _)| o.results[0]).collect();
    let mut leaves: Vec<(Value, Leaf)> = Vec::new();
    for (op, _) in ops {
        for v in &op.operands {
            if *v == mm.results[0] || inside.contains(v) || leaves.iter().any(|(l, _)| l == v) {
                continue;
            }
            let shape = &ctx.ty(ctx.buf(*v)).shape;
            let Some(leaf) = leaf(shape, &tc.shape) else {
                return Err(TilingError::at(
                    op,
                    "a matmul epilogue reads a tensor that is neither the result's shape, a row, a column, nor a scalar",
                ));
            };
            leaves.push((*v, leaf));
        }
    }
    let (tm, tk, tn) = (
        ctx.schedule.rows_tile(&m, &k, &n),
        ctx.schedule.k_tile(&k),
        fit(&n, ctx.schedule.mm),
    );
    let name = ctx.kernel_name("matmul_epilogue");
    let mut params = vec![
        ("a".to_string(), buf(ta.dtype, &a_view)),
        ("b".to_string(), buf(tb.dtype, &tb.shape)),
    ];
    let mut args = vec![view(a, &a_view, ctx), (b, None)];
    for (i, (v, leaf)) in leaves.iter().enumerate() {
        let lb = ctx.buf(*v);
        let shape = match leaf {
            Leaf::Full => c_view.clone(),
            Leaf::Row => vec![SymExpr::lit(1), n.clone()],
            Leaf::Column => vec![m.clone(), SymExpr::lit(1)],
            Leaf::Scalar => vec![SymExpr::lit(1), SymExpr::lit(1)],
        };
        params.push((format!("x{i}"), buf(ctx.ty(lb).dtype, &shape)));
        args.push(view(lb, &shape, ctx));
    }
    params.push(("out".to_string(), buf(tc.dtype, &c_view)));
    args.push(view(c, &c_view, ctx));
    let mut kt = KernelText::new(&name, &params, &[cdiv(&m, tm), cdiv(&n, tn)]);
    accumulate(
        &mut kt,
        (&a_view, ta.dtype),
        (&tb.shape, tb.dtype),
        acc_dtype,
        [tm, tk, tn],
    );
    let full = |d: DType| tile(d, &[tm, tn]);
    kt.line("%zero = tile.index {value = sizes[0]} : () -> index");
    let mut operands = vec![("acc".to_string(), acc_dtype)];
    if mm_dtype != acc_dtype {
        kt.line(format!(
            "%accn = tile.cast %acc {{dtype = {mm_dtype}, round = \"arith\"}} : ({}) -> {}",
            full(acc_dtype),
            full(mm_dtype)
        ));
        operands = vec![("accn".to_string(), mm_dtype)];
    }
    for (i, (v, leaf)) in leaves.iter().enumerate() {
        let dt = ctx.ty(ctx.buf(*v)).dtype;
        let t = kt.fresh("t");
        let (idx, tdims, shape) = match leaf {
            Leaf::Full => ("%i, %j", [tm, tn], c_view.clone()),
            Leaf::Row => ("%zero, %j", [1, tn], vec![SymExpr::lit(1), n.clone()]),
            Leaf::Column => ("%i, %zero", [tm, 1], vec![m.clone(), SymExpr::lit(1)]),
            Leaf::Scalar => (
                "%zero, %zero",
                [1, 1],
                vec![SymExpr::lit(1), SymExpr::lit(1)],
            ),
        };
        kt.line(format!(
            "%{t} = tile.load %x{i}, {idx} : ({}, index, index) -> {}",
            buf(dt, &shape),
            tile(dt, &tdims)
        ));
        if matches!(leaf, Leaf::Full) {
            operands.push((t, dt));
        } else {
            let bc = kt.fresh("b");
            kt.line(format!(
                "%{bc} = tile.broadcast %{t} : ({}) -> {}",
                tile(dt, &tdims),
                full(dt)
            ));
            operands.push((bc, dt));
        }
    }
    let inputs: Vec<Value> = std::iter::once(mm.results[0])
        .chain(leaves.iter().map(|(v, _)| *v))
        .collect();
    map_ops(&mut kt, "res", &[tm, tn], &operands, &inputs, ops, tc.dtype);
    kt.line(format!(
        "tile.store %res, %out, %i, %j : ({}, {}, index, index) -> ()",
        full(tc.dtype),
        buf(tc.dtype, &c_view)
    ));
    // The launch is the matmul's (profiles name it), with its epilogue.
    ctx.emit(name, kt.finish(), args, mm);
    Ok(())
}

/// Whether `d` is a narrow float whose widening to `f32` is exact and which the matmul
/// reads through [`widened_rhs`]: `bf16` and `f16` (whose widening the CPU back end does
/// inline while packing).
fn is_narrow_float(d: DType) -> bool {
    matches!(d, DType::BF16 | DType::F16)
}

/// The widening casts `w as f32` of a `bf16` or `f16` tensor of rank 2
/// whose every use is the right operand of a `matmul` that is lowered here (rank-2
/// operands, or the anchor of a matmul epilogue): each is left out (`fusion.absorbed`),
/// and the matmuls read the narrow tensor and widen each tile (`tile.cast`, which the
/// CPU back end does while packing the dot's rhs). This is how a weight held in `bf16`
/// (`--precision bf16`, hoisted: `tessera_passes::hoist`) is read: half the bytes, no
/// `f32` copy. Returns each cast's result and the narrow tensor it widens.
pub(super) fn widened_rhs(func: &Func, fusion: &mut Fusion) -> BTreeMap<Value, Value> {
    let ops = &func.body.ops;
    let mut uses: BTreeMap<Value, Vec<(usize, usize)>> = BTreeMap::new();
    for (j, o) in ops.iter().enumerate() {
        for (p, v) in o.operands.iter().enumerate() {
            uses.entry(*v).or_default().push((j, p));
        }
    }
    let anchors: BTreeSet<usize> = fusion.epilogue.values().map(|(mm, _)| *mm).collect();
    let def: BTreeMap<Value, usize> = ops
        .iter()
        .enumerate()
        .flat_map(|(i, o)| o.results.iter().map(move |r| (*r, i)))
        .collect();
    let ty = |v: Value| func.tensor_ty(v);
    let mut out = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        if o.op.as_graph() != Some(GraphOp::Cast)
            || o.operands.len() != 1
            || o.results.len() != 1
            || fusion.absorbed.contains(&i)
            || fusion.groups.contains_key(&i)
            || fusion.epilogue.contains_key(&i)
        {
            continue;
        }
        let (x, r) = (o.operands[0], o.results[0]);
        let (Some(tx), Some(tr)) = (ty(x), ty(r)) else {
            continue;
        };
        // The narrow value must have a buffer of its own.
        let materialised = def.get(&x).is_none_or(|d| !fusion.absorbed.contains(d));
        if !is_narrow_float(tx.dtype) || tr.dtype != DType::F32 || tr.rank() != 2 || !materialised {
            continue;
        }
        let Some(us) = uses.get(&r) else { continue };
        let all_rhs = us.iter().all(|&(j, p)| {
            let m = &ops[j];
            let lowered_here = anchors.contains(&j)
                || (!fusion.absorbed.contains(&j)
                    && !fusion.epilogue.contains_key(&j)
                    && !fusion.attention.contains_key(&j)
                    && ty(m.operands[0]).is_some_and(|t| t.rank() == 2));
            m.op.as_graph() == Some(GraphOp::MatMul)
                && p == 1
                && m.operands[0] != r
                && lowered_here
                && ty(m.operands[0]).is_some_and(|t| t.dtype == DType::F32)
        });
        if all_rhs {
            fusion.absorbed.insert(i);
            out.insert(r, x);
        }
    }
    out
}
