//! Reductions over the last axis or over all axes (`sum mean max min`), and `softmax` /
//! `log_softmax` over the last axis as one kernel (row max, sum of `exp(x - max)`,
//! normalise: three loops over a row; an `f32` softmax stores `exp(x - max)` in its output
//! in the second loop and divides it in place in the third). Sums and means of narrow floats accumulate in `f32`
//! and round once; the softmax of a narrow float computes in `f32` and rounds once. Both see the input as `[R, n]`: R rows of n reduced elements. `max`/`min`
//! A reduction over the last axis may compute its input with an elementwise prologue
//! ([`fused`]: the e-graph's `reduce` kernel), never writing it. `max`/`min`
//! of `f32`/`i32` over leading axes are column reductions (`[R, n]` to `[1, n]`, rows
//! combined in order, no transpose); other axes are moved last first (`axes.rs`).

use super::elementwise::Seen;
use super::fuse::Leaf;
use super::prologue::{prefetch_next_rows, prologue_body, prologue_inputs, prologue_map};
use super::shape::numel;
use super::{Ctx, TilingError};
use crate::template::{
    buf, cdiv, fit, float_highest, float_lowest, row_tile, sizes, tile, KernelText,
};
use tessera_dialects::{DType, GraphOp, Operation, SymExpr, TensorType, Value};

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
    let kind = kind_of(op);
    let (x, y) = (ctx.buf(op.operands[0]), ctx.buf(op.results[0]));
    let axes = op.attrs.ints("axes").unwrap_or(&[]).to_vec();
    let xt = ctx.ty(x).clone();
    let leading: Vec<usize> = axes
        .iter()
        .filter_map(|a| usize::try_from(*a).ok())
        .collect();
    if column_reduction(
        op.op.as_graph().unwrap_or(GraphOp::ReduceSum),
        xt.dtype,
        &leading,
    ) && leading.len() < xt.rank()
    {
        let j = leading.len();
        let (rows, n) = (numel(&xt.shape[..j]), numel(&xt.shape[j..]));
        let input = Seen::viewed(ctx, x, vec![rows, n.clone()]);
        let out = Seen::viewed(ctx, y, vec![SymExpr::lit(1), n.clone()]);
        return column_reduce(ctx, op, kind, &input, &out, &n);
    }
    let Some((rows, n)) = rows_and_len(&xt.shape, &axes) else {
        return Err(TilingError::at(
            op,
            "reductions over axes other than the last one (or all) are not lowered to tile IR yet",
        ));
    };
    let input = Seen::viewed(ctx, x, vec![rows.clone(), n.clone()]);
    let out = Seen::viewed(ctx, y, vec![rows]);
    row_reduce(ctx, op, kind, &input, &out, &n)
}

/// Whether a reduction `g` of a `dtype` tensor over `axes` (sorted) is lowered as a column
/// reduction: `max` or `min` of `f32` or `i32` over the leading axes `0 .. j` (not all of
/// them). Exact in any order, so the rows are combined one after the other.
pub(crate) fn column_reduction(g: GraphOp, dtype: DType, axes: &[usize]) -> bool {
    matches!(g, GraphOp::ReduceMax | GraphOp::ReduceMin)
        && matches!(dtype, DType::F32 | DType::I32)
        && !axes.is_empty()
        && axes.iter().enumerate().all(|(i, a)| i == *a)
}

/// Reduces the rows of `input` (`[R, n]`) into `out` (`[1, n]`): a grid over column tiles
/// of at most 256 elements, each combining the `R` rows one by one (`out = max(out,
/// row)`: one four-lane map a row, reading the row in place), without a transpose.
fn column_reduce(
    ctx: &mut Ctx,
    op: &Operation,
    kind: Kind,
    input: &Seen,
    out: &Seen,
    n: &SymExpr,
) -> Result<(), TilingError> {
    let dt = input.dtype;
    let rows = &input.shape[0];
    let tn = fit(n, ctx.schedule.elementwise.min(256));
    let (init, combine, part) = match (kind, dt.is_float()) {
        (Kind::Max, true) => (float_lowest(dt).to_string(), "max", "max"),
        (Kind::Min, true) => (float_highest(dt).to_string(), "min", "min"),
        (Kind::Max, false) => (int_min(dt).to_string(), "max", "max"),
        (Kind::Min, false) => (int_max(dt).to_string(), "min", "min"),
        _ => {
            return Err(TilingError::at(
                op,
                "internal error: a column reduction must be a max or a min",
            ))
        }
    };
    let name = ctx.kernel_name(part);
    let params = vec![
        ("x".to_string(), buf(dt, &input.shape)),
        ("out".to_string(), buf(dt, &out.shape)),
    ];
    let mut k = KernelText::new(&name, &params, &[cdiv(n, tn)]);
    let acc = tile(dt, &[1, tn]);
    k.line("%j = tile.program_id {axis = 0} : () -> index");
    k.line("%zero = tile.index {value = sizes[0]} : () -> index");
    k.line(format!(
        "%init = tile.splat {{value = {init}}} : () -> {acc}"
    ));
    k.line(format!(
        "%acc = tile.for %init {{bounds = {}}} : ({acc}) -> {acc} (%i: index, %c: {acc}) {{\n  %t = tile.load %x, %i, %j {{pad = {init}}} : ({}, index, index) -> {acc}\n  %n = tile.map %c, %t : ({acc}, {acc}) -> {acc} (%u: {dt}, %w: {dt}) {{\n    %s = graph.{combine} %u, %w : ({dt}, {dt}) -> {dt}\n    tile.yield %s : {dt}\n  }}\n  tile.yield %n : {acc}\n}}",
        sizes(&[SymExpr::lit(0), rows.clone()]),
        buf(dt, &input.shape),
    ));
    k.line(format!(
        "tile.store %acc, %out, %zero, %j : ({acc}, {}, index, index) -> ()",
        buf(dt, &out.shape)
    ));
    ctx.emit(name, k.finish(), vec![input.arg(), out.arg()], op);
    Ok(())
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
    let rows = input.shape[0].clone();
    let tr = fit(&rows, ctx.schedule.rows);
    let tn = fit(n, ctx.schedule.elementwise);
    let src = Source::Plain(input);
    reduce_rows(ctx, op, kind, &src, out, (&rows, n), [tr, tn])
}

/// What a row reduction reads: a buffer, or an elementwise group computed from the
/// group's inputs (a prologue: the operations, the inputs as seen and their kinds).
enum Source<'a> {
    Plain(&'a Seen),
    Prologue(
        &'a [(&'a Operation, DType)],
        &'a [Seen],
        &'a [(Value, Leaf)],
    ),
}

/// A reduction over the last axis whose input is computed by an elementwise `group` (a
/// prologue chosen by the e-graph optimiser, kind `reduce`): the group's map is computed
/// on each `[tr, tn]` tile of the loop and reduced in place, so its result is never
/// written. `xt` is the reduction's input type. Columns past the row's end (a ragged last
/// chunk) are set to the reduction's identity after the map.
pub(super) fn fused(
    ctx: &mut Ctx,
    op: &Operation,
    group: &[(&Operation, DType)],
    xt: &TensorType,
) -> Result<(), TilingError> {
    let kind = kind_of(op);
    let r = xt.rank();
    if r == 0 || op.attrs.ints("axes") != Some(&[r as i64 - 1][..]) {
        return Err(TilingError::at(
            op,
            "internal error: a reduction prologue needs a reduction over the last axis",
        ));
    }
    let y = ctx.buf(op.results[0]);
    let rows = numel(&xt.shape[..r - 1]);
    let n = xt.shape[r - 1].clone();
    let (inputs, leaves) = prologue_inputs(ctx, op, group, &xt.shape, &rows, &n)?;
    let out = Seen::viewed(ctx, y, vec![rows.clone()]);
    let (tr, tn) = row_tile(&rows, &n, ctx.schedule.elementwise);
    let src = Source::Prologue(group, &inputs, &leaves);
    reduce_rows(ctx, op, kind, &src, &out, (&rows, &n), [tr, tn])
}

fn kind_of(op: &Operation) -> Kind {
    match op.op.as_graph() {
        Some(GraphOp::ReduceSum) => Kind::Sum,
        Some(GraphOp::ReduceMean) => Kind::Mean,
        Some(GraphOp::ReduceMax) => Kind::Max,
        _ => Kind::Min,
    }
}

/// Reduces `[tr, tn]` tiles of the rows `src` reads (`rows` rows of `n`) into `out`
/// (`[rows]`).
fn reduce_rows(
    ctx: &mut Ctx,
    op: &Operation,
    kind: Kind,
    src: &Source,
    out: &Seen,
    (rows, n): (&SymExpr, &SymExpr),
    [tr, tn]: [u64; 2],
) -> Result<(), TilingError> {
    let dt = out.dtype;
    // Sums of narrow floats accumulate in f32 and round once at the end.
    let widen = dt.is_float() && dt != DType::F32 && matches!(kind, Kind::Sum | Kind::Mean);
    let ad = if widen { DType::F32 } else { dt };
    let (init, combine, part) = match (kind, dt.is_float()) {
        (Kind::Sum | Kind::Mean, true) => ("0.0".to_string(), "add", "sum"),
        (Kind::Sum | Kind::Mean, false) => ("0".to_string(), "add", "sum"),
        (Kind::Max, true) => (float_lowest(dt).to_string(), "max", "max"),
        (Kind::Min, true) => (float_highest(dt).to_string(), "min", "min"),
        (Kind::Max, false) => (int_min(dt).to_string(), "max", "max"),
        (Kind::Min, false) => (int_max(dt).to_string(), "min", "min"),
    };
    let name = ctx.kernel_name(part);
    let mut params: Vec<(String, String)> = match src {
        Source::Plain(input) => vec![("x".to_string(), buf(dt, &input.shape))],
        Source::Prologue(_, inputs, _) => inputs
            .iter()
            .enumerate()
            .map(|(j, s)| (format!("l{j}"), buf(s.dtype, &s.shape)))
            .collect(),
    };
    params.push(("out".to_string(), buf(out.dtype, &out.shape)));
    let mut k = KernelText::new(&name, &params, &[cdiv(rows, tr)]);
    let (acc, blk) = (tile(ad, &[tr]), tile(ad, &[tr, tn]));
    let raw = tile(dt, &[tr, tn]);
    k.line("%i = tile.program_id {axis = 0} : () -> index");
    k.line(format!(
        "%init = tile.splat {{value = {init}}} : () -> {acc}"
    ));
    let mut body: Vec<String> = Vec::new();
    let t = match src {
        Source::Plain(input) => {
            body.push(format!(
                "%t = tile.load %x, %i, %ka {{pad = {init}}} : ({}, index, index) -> {raw}",
                buf(dt, &input.shape)
            ));
            "t"
        }
        Source::Prologue(group, inputs, leaves) => {
            k.line("%zero = tile.index {value = sizes[0]} : () -> index");
            prologue_map(
                &mut k,
                &mut body,
                group,
                inputs,
                leaves,
                dt,
                [tr, tn],
                ("", true),
            );
            let whole = n
                .as_const()
                .is_some_and(|c| c > 0 && (c as u64).is_multiple_of(tn));
            if whole {
                "pt"
            } else {
                // Column positions minus n, plus 1: positive exactly past the row's end.
                let ipos = tile(DType::I32, &[tr, tn]);
                body.push(format!(
                    "%mkb = tile.affine %ka {{coeffs = [{tn}], offset = {}}} : (index) -> index",
                    sizes(&[SymExpr::lit(1).sub(n)])
                ));
                body.push(format!(
                    "%mkp = tile.iota %mkb {{axis = 1}} : (index) -> {ipos}"
                ));
                body.push(format!(
                    "%mt = tile.map %pt, %mkp : ({raw}, {ipos}) -> {raw} (%mu: {dt}, %mq: i32) {{\n  %mz = graph.constant {{value = 0, dtype = i32}} : () -> i32\n  %mo = graph.gt %mq, %mz : (i32, i32) -> bool\n  %mn = graph.constant {{value = {init}, dtype = {dt}}} : () -> {dt}\n  %ms = graph.select %mo, %mn, %mu : (bool, {dt}, {dt}) -> {dt}\n  tile.yield %ms : {dt}\n}}"
                ));
                "mt"
            }
        }
    };
    let t = if widen {
        body.push(format!(
            "%tw = tile.cast %{t} {{dtype = f32}} : ({raw}) -> {blk}"
        ));
        "tw"
    } else {
        t
    };
    body.push(format!(
        "%p = tile.reduce %{t} {{axis = 1, kind = \"{part}\"}} : ({blk}) -> {acc}"
    ));
    body.push(format!(
        "%n = tile.map %c, %p : ({acc}, {acc}) -> {acc} (%u: {ad}, %w: {ad}) {{\n  %s = graph.{combine} %u, %w : ({ad}, {ad}) -> {ad}\n  tile.yield %s : {ad}\n}}"
    ));
    body.push(format!("tile.yield %n : {acc}"));
    let body: Vec<String> = body
        .iter()
        .flat_map(|l| l.lines().map(|x| format!("  {x}")).collect::<Vec<_>>())
        .collect();
    k.line(format!(
        "%acc = tile.for %init {{bounds = {}}} : ({acc}) -> {acc} (%ka: index, %c: {acc}) {{\n{}\n}}",
        sizes(&[SymExpr::lit(0), cdiv(n, tn)]),
        body.join("\n")
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
            "%narrow = tile.cast %{result} {{dtype = {dt}, round = \"arith\"}} : ({acc}) -> {}",
            tile(dt, &[tr])
        ));
        result = "narrow";
    }
    k.line(format!(
        "tile.store %{result}, %out, %i : ({}, {}, index) -> ()",
        tile(dt, &[tr]),
        buf(out.dtype, &out.shape)
    ));
    let mut args: Vec<_> = match src {
        Source::Plain(input) => vec![input.arg()],
        Source::Prologue(_, inputs, _) => inputs.iter().map(Seen::arg).collect(),
    };
    args.push(out.arg());
    ctx.emit(name, k.finish(), args, op);
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

/// `softmax` / `log_softmax` over the last axis: one kernel, one `[tr, tn]` row tile per
/// grid point ([`row_tile`]: several short rows per grid point, a long one alone), three
/// loops over the rows' column tiles (the row stays in L1/L2 after the first): the row
/// maximum `m` (padding `-inf`); the sum `s` of `exp(x - m)` (padding `-inf` adds 0); then
/// `exp(x - m) / s` or `x - m - log(s)`, stored. For `log_softmax` the second loop sums
/// the terms below the maximum (`t`) and counts the maxima (`c`) apart, and
/// `log(s) = log1p((c - 1) + t)` (docs/numerics-cpu.md). Narrow floats compute in `f32`
/// and round once at the store.
///
/// With a `prologue` (the elementwise group computing the input, [`super::prologue`]), the
/// first loop computes the input into the output row and the loops read it from there.
pub(super) fn softmax(
    ctx: &mut Ctx,
    op: &Operation,
    prologue: Option<&[(&Operation, DType)]>,
) -> Result<(), TilingError> {
    let log = op.op.as_graph() == Some(GraphOp::LogSoftmax);
    let y = ctx.buf(op.results[0]);
    // Without a prologue the input has a buffer; with one its type is the result's.
    let x = prologue.is_none().then(|| ctx.buf(op.operands[0]));
    let ty = ctx.ty(x.unwrap_or(y)).clone();
    let r = ty.rank();
    if op.attrs.int("axis") != Some(r as i64 - 1) {
        return Err(TilingError::at(
            op,
            "softmax over an axis other than the last is not lowered to tile IR yet",
        ));
    }
    let dt = ty.dtype;
    if !dt.is_float() {
        return Err(TilingError::at(
            op,
            "softmax of a non-float tensor is not lowered to tile IR yet",
        ));
    }
    let od = ctx.ty(y).dtype;
    let rows = numel(&ty.shape[..r - 1]);
    let n = ty.shape[r - 1].clone();
    let out = Seen::viewed(ctx, y, vec![rows.clone(), n.clone()]);
    let (inputs, leaves) = match prologue {
        None => {
            let x = x.unwrap_or(y);
            (
                vec![Seen::viewed(ctx, x, vec![rows.clone(), n.clone()])],
                Vec::new(),
            )
        }
        Some(group) => prologue_inputs(ctx, op, group, &ty.shape, &rows, &n)?,
    };
    let (tr, tn) = row_tile(&rows, &n, ctx.schedule.elementwise);
    let what = if log { "log_softmax" } else { "softmax" };
    let name = ctx.kernel_name(what);
    let ob = buf(od, &out.shape);
    // Loops read x, or (with a prologue) the output row the first loop wrote.
    let (xn, xb) = match prologue {
        None => ("x", buf(dt, &inputs[0].shape)),
        Some(_) => ("out", ob.clone()),
    };
    let mut kparams: Vec<(String, String)> = match prologue {
        None => vec![("x".to_string(), xb.clone())],
        Some(_) => inputs
            .iter()
            .enumerate()
            .map(|(j, s)| (format!("l{j}"), buf(s.dtype, &s.shape)))
            .collect(),
    };
    kparams.push(("out".to_string(), ob.clone()));
    let mut k = KernelText::new(&name, &kparams, &[cdiv(&rows, tr)]);
    let f = DType::F32;
    let (row, blk, raw) = (tile(f, &[tr]), tile(f, &[tr, tn]), tile(dt, &[tr, tn]));
    let bounds = sizes(&[SymExpr::lit(0), cdiv(&n, tn)]);
    // Row tile `k{p}` of x as f32 (padding -inf): lines and name. f8e4m3 has no infinity,
    // so its padding is -448 and would count in the sum where the row's maximum is -448
    // too: its columns past the row's end are set to -inf after the widening cast.
    let ipos = tile(DType::I32, &[tr, tn]);
    let past_end = sizes(&[SymExpr::lit(1).sub(&n)]);
    let load = |p: &str| -> (Vec<String>, String) {
        let mut v = vec![format!(
            "%{p}r = tile.load %{xn}, %i, %k{p} {{pad = {}}} : ({xb}, index, index) -> {raw}",
            float_lowest(dt)
        )];
        if dt == f {
            return (v, format!("{p}r"));
        }
        v.push(format!(
            "%{p}x = tile.cast %{p}r {{dtype = f32}} : ({raw}) -> {blk}"
        ));
        if dt != DType::F8E4M3 {
            return (v, format!("{p}x"));
        }
        // Column positions minus n, plus 1: positive exactly past the row's end.
        v.push(format!(
            "%{p}f8kb = tile.affine %k{p} {{coeffs = [{tn}], offset = {past_end}}} : (index) -> index"
        ));
        v.push(format!(
            "%{p}f8kp = tile.iota %{p}f8kb {{axis = 1}} : (index) -> {ipos}"
        ));
        v.push(format!(
            "%{p}f8m = tile.map %{p}x, %{p}f8kp : ({blk}, {ipos}) -> {blk} (%{p}f8u: f32, %{p}f8q: i32) {{\n  %{p}f8z = graph.constant {{value = 0, dtype = i32}} : () -> i32\n  %{p}f8o = graph.gt %{p}f8q, %{p}f8z : (i32, i32) -> bool\n  %{p}f8n = graph.constant {{value = -inf, dtype = f32}} : () -> f32\n  %{p}f8s = graph.select %{p}f8o, %{p}f8n, %{p}f8u : (bool, f32, f32) -> f32\n  tile.yield %{p}f8s : f32\n}}"
        ));
        (v, format!("{p}f8m"))
    };
    let indent = |v: Vec<String>| -> String {
        v.iter()
            .flat_map(|l| l.lines().map(|x| format!("  {x}")).collect::<Vec<_>>())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let combine = |name: &str, c: &str, p: &str, g: &str, t: &str| -> String {
        format!(
            "%{name} = tile.map %{c}, %{p} : ({row}, {row}) -> {row} (%u{t}: f32, %w{t}: f32) {{\n  %s{t} = graph.{g} %u{t}, %w{t} : (f32, f32) -> f32\n  tile.yield %s{t} : f32\n}}"
        )
    };
    k.line("%i = tile.program_id {axis = 0} : () -> index");
    // Loop 1: the row maximum.
    k.line(format!("%ninf = tile.splat {{value = -inf}} : () -> {row}"));
    let mut body = Vec::new();
    if let Some(group) = prologue {
        k.line("%zero = tile.index {value = sizes[0]} : () -> index");
        prologue_body(
            &mut k,
            &mut body,
            group,
            &inputs,
            &leaves,
            dt,
            [tr, tn],
            &ob,
            ("", true),
        );
    }
    let (more, ax) = load("a");
    body.extend(more);
    body.push(format!(
        "%ap = tile.reduce %{ax} {{axis = 1, kind = \"max\"}} : ({blk}) -> {row}"
    ));
    body.push(combine("an", "ac", "ap", "max", "a"));
    body.push(format!("tile.yield %an : {row}"));
    k.line(format!(
        "%m = tile.for %ninf {{bounds = {bounds}}} : ({row}) -> {row} (%ka: index, %ac: {row}) {{\n{}\n}}",
        indent(body)
    ));
    k.line(format!(
        "%mb = tile.broadcast %m {{dims = [0]}} : ({row}) -> {blk}"
    ));
    prefetch_next_rows(&mut k, prologue.map(|_| inputs.as_slice()), (xn, &xb), tr);
    // Loop 2: the sum of exp(x - m). For log_softmax, the sum `t` of the terms below the
    // maximum and the count `c` of the maxima, each exact 1 kept out of `t`, so that
    // `log(sum) = log1p((c - 1) + t)` keeps the digits of a small `t` (one dominant logit).
    k.line(format!("%zsum = tile.splat {{value = 0.0}} : () -> {row}"));
    let (mut body, bx) = load("b");
    if log {
        body.push(format!(
            "%be = tile.map %{bx}, %mb : ({blk}, {blk}) -> {blk} (%eb: f32, %mv: f32) {{\n  %db = graph.sub %eb, %mv : (f32, f32) -> f32\n  %xb = graph.exp %db : (f32) -> f32\n  %zb = graph.constant {{value = 0.0, dtype = f32}} : () -> f32\n  %tb = graph.eq %db, %zb : (f32, f32) -> bool\n  %yb = graph.select %tb, %zb, %xb : (bool, f32, f32) -> f32\n  tile.yield %yb : f32\n}}"
        ));
        body.push(format!(
            "%bm = tile.map %{bx}, %mb : ({blk}, {blk}) -> {blk} (%ek: f32, %mk: f32) {{\n  %tk = graph.eq %ek, %mk : (f32, f32) -> bool\n  %ok = graph.constant {{value = 1.0, dtype = f32}} : () -> f32\n  %zk = graph.constant {{value = 0.0, dtype = f32}} : () -> f32\n  %yk = graph.select %tk, %ok, %zk : (bool, f32, f32) -> f32\n  tile.yield %yk : f32\n}}"
        ));
        body.push(format!(
            "%bq = tile.reduce %bm {{axis = 1, kind = \"sum\"}} : ({blk}) -> {row}"
        ));
    } else {
        body.push(format!(
            "%be = tile.map %{bx}, %mb : ({blk}, {blk}) -> {blk} (%eb: f32, %mv: f32) {{\n  %db = graph.sub %eb, %mv : (f32, f32) -> f32\n  %xb = graph.exp %db : (f32) -> f32\n  tile.yield %xb : f32\n}}"
        ));
    }
    // An f32 softmax keeps exp(x - m) in the output row (loop 3 scales it, from L1/L2),
    // stored right after the map, so that the CPU back end writes the row in place and
    // sums the values in the same loop.
    let keep = !log && od == f;
    if keep {
        body.push(format!(
            "tile.store %be, %out, %i, %kb : ({blk}, {ob}, index, index) -> ()"
        ));
    }
    body.push(format!(
        "%bp = tile.reduce %be {{axis = 1, kind = \"sum\"}} : ({blk}) -> {row}"
    ));
    body.push(combine("bn", "bc", "bp", "add", "b"));
    if log {
        body.push(combine("bk", "bd", "bq", "add", "k"));
        body.push(format!("tile.yield %bn, %bk : {row}, {row}"));
        k.line(format!(
            "%s, %c = tile.for %zsum, %zsum {{bounds = {bounds}}} : ({row}, {row}) -> ({row}, {row}) (%kb: index, %bc: {row}, %bd: {row}) {{\n{}\n}}",
            indent(body)
        ));
    } else {
        body.push(format!("tile.yield %bn : {row}"));
        k.line(format!(
            "%s = tile.for %zsum {{bounds = {bounds}}} : ({row}) -> {row} (%kb: index, %bc: {row}) {{\n{}\n}}",
            indent(body)
        ));
    }
    // Loop 3: normalise and store. log_softmax: `ls = log1p(a)`, `a = (c - 1) + t`, as
    // `a` where `1 + a` rounds to 1, else `log(1 + a) a / ((1 + a) - 1)` (Goldberg: the
    // rounding of `1 + a` cancels), so a dominant entry gives `-t` rather than 0.
    let stat = if log {
        k.line(format!(
            "%ls = tile.map %s, %c : ({row}, {row}) -> {row} (%pl: f32, %cl: f32) {{\n  %ol = graph.constant {{value = 1.0, dtype = f32}} : () -> f32\n  %c1 = graph.sub %cl, %ol : (f32, f32) -> f32\n  %al = graph.add %c1, %pl : (f32, f32) -> f32\n  %ul = graph.add %ol, %al : (f32, f32) -> f32\n  %gl = graph.log %ul : (f32) -> f32\n  %hl = graph.mul %gl, %al : (f32, f32) -> f32\n  %vl = graph.sub %ul, %ol : (f32, f32) -> f32\n  %ql = graph.div %hl, %vl : (f32, f32) -> f32\n  %el = graph.eq %ul, %ol : (f32, f32) -> bool\n  %rl = graph.select %el, %al, %ql : (bool, f32, f32) -> f32\n  tile.yield %rl : f32\n}}"
        ));
        "ls"
    } else {
        "s"
    };
    k.line(format!(
        "%sbc = tile.broadcast %{stat} {{dims = [0]}} : ({row}) -> {blk}"
    ));
    let (mut body, cx) = if keep {
        let v = vec![format!(
            "%cr = tile.load %out, %i, %kc : ({ob}, index, index) -> {blk}"
        )];
        (v, "cr".to_string())
    } else {
        load("c")
    };
    let region = if keep {
        "%yc = graph.div %ec, %sc : (f32, f32) -> f32"
    } else if log {
        "%dc = graph.sub %ec, %mc : (f32, f32) -> f32\n  %yc = graph.sub %dc, %sc : (f32, f32) -> f32"
    } else {
        "%dc = graph.sub %ec, %mc : (f32, f32) -> f32\n  %xc = graph.exp %dc : (f32) -> f32\n  %yc = graph.div %xc, %sc : (f32, f32) -> f32"
    };
    if keep {
        body.push(format!(
            "%cy = tile.map %{cx}, %sbc : ({blk}, {blk}) -> {blk} (%ec: f32, %sc: f32) {{\n  {region}\n  tile.yield %yc : f32\n}}"
        ));
    } else {
        body.push(format!(
            "%cy = tile.map %{cx}, %mb, %sbc : ({blk}, {blk}, {blk}) -> {blk} (%ec: f32, %mc: f32, %sc: f32) {{\n  {region}\n  tile.yield %yc : f32\n}}"
        ));
    }
    let ot = tile(od, &[tr, tn]);
    let stored = if od == f {
        "cy"
    } else {
        body.push(format!(
            "%co = tile.cast %cy {{dtype = {od}}} : ({blk}) -> {ot}"
        ));
        "co"
    };
    body.push(format!(
        "tile.store %{stored}, %out, %i, %kc : ({ot}, {ob}, index, index) -> ()"
    ));
    body.push("tile.yield".to_string());
    k.line(format!(
        "tile.for {{bounds = {bounds}}} : () -> () (%kc: index) {{\n{}\n}}",
        indent(body)
    ));
    let mut args: Vec<_> = inputs.iter().map(Seen::arg).collect();
    args.push(out.arg());
    ctx.emit(name, k.finish(), args, op);
    Ok(())
}
