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
//!   `(x - mean) * r * gamma + beta`, `r = 1 / sqrt(var + eps)`, in one kernel (see [`norm`]).
//! - `rmsnorm`: mean of the squares, then `x * r * gamma`, `r = 1 / sqrt(ms + eps)`.
//!
//! Norms compute in `f32` (the graph interpreter in `f64`, rounded once); narrow float
//! operands are widened to `f32` and the result cast back.

use super::elementwise::Seen;
use super::fuse::Leaf;
use super::prologue::{prefetch_next_rows, prologue_body, prologue_inputs};
use super::reduce::int_min;
use super::shape::numel;
use super::{Ctx, TilingError};
use crate::template::{buf, cdiv, fit, float_lowest, row_tile, sizes, tile, KernelText};
use tessera_dialects::{DType, GraphOp, Operation, SymExpr, Value};

/// A row of symbolic length is first taken in chunks of this many row tiles (see [`norm`]).
const WIDE: u64 = 4;

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
        d if d.is_float() => float_lowest(d).to_string(),
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

/// `layernorm` and `rmsnorm` over the last axis: one kernel, one `[tr, tn]` row tile per
/// grid point ([`row_tile`]: several short rows per grid point, a long one alone), in
/// `f32` (other float dtypes are widened on load and the result cast back; the graph
/// interpreter computes in `f64` and rounds once). Three loops over the row's column tiles
/// (a row of up to a few thousand elements stays in L1/L2 after the first): the sum; the
/// sum of the centred squares (`layernorm`) or nothing (`rmsnorm`, whose first loop sums
/// the squares: padding adds 0; rows past the last are padding too, computed and never
/// stored); then `(x - mean) * r * gamma + beta` or `x * r * gamma` with
/// `r = 1 / sqrt(var + eps)`. A row of symbolic length runs each loop first over chunks
/// [`WIDE`] times as wide (wholly inside the row), then over the `tn`-wide ones left.
/// The layernorm's second loop runs over the chunks wholly
/// inside the row (`[0, n / tn)`) unmasked, then, when the row can end in a ragged chunk,
/// over that chunk (`[n / tn, cdiv(n, tn))`: at most once) with the padding NaN and masked
/// by `x == x`, so a NaN of the row still makes the mean, and the row, NaN. After the
/// first loop, `tile.prefetch` reads ahead the next row tile of every input read by rows.
///
/// With a `prologue` (the elementwise group computing the input, see
/// [`super::fuse::Fusion::prologue`]), the first loop computes the group from its inputs
/// and stores each tile into the output (rounded to the dtype, as a materialised input
/// would be); the other loops read the output row, still in L1/L2. The input is never a
/// pass over memory of its own. For the sum, a layernorm's `f32` prologue reduces each
/// whole chunk as computed (the CPU back end adds it up in the loop that computes it),
/// and the ragged chunk, in a loop of its own, is read back with the padding 0; otherwise
/// every chunk is read back.
pub(super) fn norm(
    ctx: &mut Ctx,
    op: &Operation,
    prologue: Option<&[(&Operation, DType)]>,
) -> Result<(), TilingError> {
    let layer = op.op.as_graph() == Some(GraphOp::LayerNorm);
    let what = if layer { "layernorm" } else { "rmsnorm" };
    let y = ctx.buf(op.results[0]);
    // Without a prologue the input has a buffer; with one its type is the result's.
    let x = prologue.is_none().then(|| ctx.buf(op.operands[0]));
    let ty = ctx.ty(x.unwrap_or(y)).clone();
    let Some((rows, n)) = last_axis(&ty.shape, op.attrs.int("axis")) else {
        return Err(TilingError::at(
            op,
            format!("`{what}` over an axis other than the last is not lowered to tile IR yet"),
        ));
    };
    let params: Vec<_> = op.operands[1..].iter().map(|v| ctx.buf(*v)).collect();
    let float = |d: DType| d.is_float();
    if !float(ty.dtype) || params.iter().any(|p| !float(ctx.ty(*p).dtype)) {
        return Err(TilingError::at(
            op,
            format!("`{what}` of non-float operands is not lowered to tile IR yet"),
        ));
    }
    let eps = op.attrs.float("eps").unwrap_or(1e-5);
    let dt = ty.dtype;
    let od = ctx.ty(y).dtype;
    let out = Seen::viewed(ctx, y, vec![rows.clone(), n.clone()]);
    // The kernel's inputs before gamma and beta: x, or the prologue's inputs.
    let (inputs, leaves): (Vec<Seen>, Vec<(Value, Leaf)>) = match prologue {
        None => {
            let x = x.unwrap_or(y);
            (
                vec![Seen::viewed(ctx, x, vec![rows.clone(), n.clone()])],
                Vec::new(),
            )
        }
        Some(group) => prologue_inputs(ctx, op, group, &ty.shape, &rows, &n)?,
    };
    // gamma and beta seen as [1, n]: their tiles have the row tiles' shape.
    let ps: Vec<Seen> = params
        .iter()
        .map(|p| Seen::viewed(ctx, *p, vec![SymExpr::lit(1), n.clone()]))
        .collect();
    let (tr, tn) = row_tile(&rows, &n, ctx.schedule.elementwise);
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
    let pnames = ["gm", "bt"];
    for (i, p) in ps.iter().enumerate() {
        kparams.push((pnames[i].to_string(), buf(p.dtype, &p.shape)));
    }
    kparams.push(("out".to_string(), ob.clone()));
    let mut k = KernelText::new(&name, &kparams, &[cdiv(&rows, tr)]);
    let f = DType::F32;
    let (row, blk) = (tile(f, &[tr]), tile(f, &[tr, tn]));
    // A row of symbolic length is one per grid point and may be long: its loops first take
    // chunks of `WIDE * tn` elements (`[0, n / tw)`, wholly inside the row), then the
    // `tn`-wide chunks left (`[n / tw * WIDE, ...)`), so a long row pays each loop's setup
    // (in-place checks, the chunk's horizontal sum) once per `tw` elements, while a short
    // row still computes at most `tn - 1` elements of padding.
    let wide = (n.as_const().is_none() && tr == 1).then_some(WIDE * tn);
    let i1 = tile(DType::I32, &[1]);
    let (start, wide_bounds) = match wide {
        Some(tw) => {
            let wn = n
                .floor_div(&SymExpr::lit(tw as i64))
                .unwrap_or_else(|_| SymExpr::lit(0));
            (
                wn.mul(&SymExpr::lit(WIDE as i64)),
                sizes(&[SymExpr::lit(0), wn]),
            )
        }
        None => (SymExpr::lit(0), String::new()),
    };
    let bounds = sizes(&[start.clone(), cdiv(&n, tn)]);
    // Loads row tile `k` (`w` wide) of x as f32, inside a loop body: the lines and the
    // tile's name.
    let load_x = |p: &str, pad: &str, w: u64| -> (Vec<String>, String) {
        let raw = tile(dt, &[tr, w]);
        let mut v = vec![format!(
            "%{p}r = tile.load %{xn}, %i, %k{p} {{pad = {pad}}} : ({xb}, index, index) -> {raw}"
        )];
        if dt == f {
            return (v, format!("{p}r"));
        }
        v.push(format!(
            "%{p}x = tile.cast %{p}r {{dtype = f32}} : ({raw}) -> {}",
            tile(f, &[tr, w])
        ));
        (v, format!("{p}x"))
    };
    let indent = |v: Vec<String>| -> String {
        v.iter()
            .flat_map(|l| l.lines().map(|x| format!("  {x}")).collect::<Vec<_>>())
            .collect::<Vec<_>>()
            .join("\n")
    };
    k.line("%i = tile.program_id {axis = 0} : () -> index");
    k.line("%zero = tile.index {value = sizes[0]} : () -> index");
    k.line(format!("%init = tile.splat {{value = 0.0}} : () -> {row}"));
    k.line(format!(
        "%count = tile.index {{value = {}}} : () -> index",
        sizes(std::slice::from_ref(&n))
    ));
    k.line(format!(
        "%c1 = tile.iota %count {{axis = 0}} : (index) -> {i1}"
    ));
    // The row length in every row of the tile (an iota over `tr` rows would count up).
    let cn = if tr == 1 {
        "c1"
    } else {
        k.line(format!(
            "%cnt = tile.broadcast %c1 : ({i1}) -> {}",
            tile(DType::I32, &[tr])
        ));
        "cnt"
    };
    k.line(format!(
        "%cf = tile.cast %{cn} {{dtype = f32}} : ({}) -> {row}",
        tile(DType::I32, &[tr])
    ));
    // Column chunks wholly inside the row (`[start, full)`) need no padding: the first
    // loop sums a prologue's tile as computed and the second needs no mask. The ragged last
    // chunk, if the row can have one, gets loops of its own (`[full, chunks)`, at most one
    // iteration), with the padding handled as before.
    let chunks = cdiv(&n, tn);
    let full = n
        .floor_div(&SymExpr::lit(tn as i64))
        .unwrap_or_else(|_| SymExpr::lit(0));
    let ragged = match n.as_const() {
        Some(c) => c % tn as i64 != 0,
        None => true,
    };
    let full_bounds = sizes(&[start, full.clone()]);
    let tail_bounds = sizes(&[full, chunks]);
    let add = |name: &str, acc: &str, part: &str, t: &str| -> String {
        format!(
            "%{name} = tile.map %{acc}, %{part} : ({row}, {row}) -> {row} (%u{t}: f32, %w{t}: f32) {{\n  %s{t} = graph.add %u{t}, %w{t} : (f32, f32) -> f32\n  tile.yield %s{t} : f32\n}}"
        )
    };
    // Loop 1: the row sum (of x, or of x^2 for rmsnorm). A layernorm's f32 prologue sums
    // each chunk as computed (no reload), except in the ragged chunk, read back with the
    // padding 0.
    let split1 = layer && prologue.is_some() && ragged;
    let direct = layer && prologue.is_some() && dt == f;
    // The body of a loop of the row sum over whole chunks `w` wide (names suffixed `s`).
    let sum_body = |k: &mut KernelText, s: &str, w: u64, setup: bool| -> Vec<String> {
        let bw = tile(f, &[tr, w]);
        let mut body = Vec::new();
        if let Some(group) = prologue {
            prologue_body(
                k,
                &mut body,
                group,
                &inputs,
                &leaves,
                dt,
                [tr, w],
                &ob,
                (s, setup),
            );
        }
        let summed = if direct {
            format!("pt{s}")
        } else {
            let (more, ax) = load_x(&format!("a{s}"), "0.0", w);
            body.extend(more);
            if layer {
                ax
            } else {
                body.push(format!(
                    "%aq{s} = tile.map %{ax} : ({bw}) -> {bw} (%qa{s}: f32) {{\n  %q2a{s} = graph.mul %qa{s}, %qa{s} : (f32, f32) -> f32\n  tile.yield %q2a{s} : f32\n}}"
                ));
                format!("aq{s}")
            }
        };
        body.push(format!(
            "%ap{s} = tile.reduce %{summed} {{axis = 1, kind = \"sum\"}} : ({bw}) -> {row}"
        ));
        body.push(add(
            &format!("an{s}"),
            &format!("ac{s}"),
            &format!("ap{s}"),
            &format!("a{s}"),
        ));
        body.push(format!("tile.yield %an{s} : {row}"));
        body
    };
    let mut acc1 = "init";
    if let Some(tw) = wide {
        let body = sum_body(&mut k, "w", tw, true);
        k.line(format!(
            "%s1w = tile.for %init {{bounds = {wide_bounds}}} : ({row}) -> {row} (%kaw: index, %acw: {row}) {{\n{}\n}}",
            indent(body)
        ));
        acc1 = "s1w";
    }
    let body = sum_body(&mut k, "", tn, true);
    let (first, b1) = if split1 {
        ("s1f", &full_bounds)
    } else if layer && prologue.is_some() {
        ("s1", &full_bounds)
    } else {
        ("s1", &bounds)
    };
    k.line(format!(
        "%{first} = tile.for %{acc1} {{bounds = {b1}}} : ({row}) -> {row} (%ka: index, %ac: {row}) {{\n{}\n}}",
        indent(body)
    ));
    if split1 {
        let mut body = Vec::new();
        if let Some(group) = prologue {
            prologue_body(
                &mut k,
                &mut body,
                group,
                &inputs,
                &leaves,
                dt,
                [tr, tn],
                &ob,
                ("t", false),
            );
        }
        let (more, ax) = load_x("at", "0.0", tn);
        body.extend(more);
        body.push(format!(
            "%atp = tile.reduce %{ax} {{axis = 1, kind = \"sum\"}} : ({blk}) -> {row}"
        ));
        body.push(add("atn", "atc", "atp", "at"));
        body.push(format!("tile.yield %atn : {row}"));
        k.line(format!(
            "%s1 = tile.for %s1f {{bounds = {tail_bounds}}} : ({row}) -> {row} (%kat: index, %atc: {row}) {{\n{}\n}}",
            indent(body)
        ));
    }
    k.line(format!(
        "%m1 = tile.map %s1, %cf : ({row}, {row}) -> {row} (%pm: f32, %qm: f32) {{\n  %dm = graph.div %pm, %qm : (f32, f32) -> f32\n  tile.yield %dm : f32\n}}"
    ));
    let row_inputs = prologue.map(|_| inputs.as_slice());
    prefetch_next_rows(&mut k, row_inputs, (xn, &xb), tr);
    let var = if layer {
        // Loop 2: the sum of the centred squares; in the ragged chunk the padding past the
        // row's end is NaN and masked (`x == x`, so that a NaN of the row still makes the
        // mean, and the row, NaN).
        let centred = |s: &str, w: u64| -> Vec<String> {
            let bw = tile(f, &[tr, w]);
            let (mut body, fx) = load_x(&format!("f{s}"), "0.0", w);
            body.push(format!(
                "%fq{s} = tile.map %{fx}, %mb{s} : ({bw}, {bw}) -> {bw} (%ef{s}: f32, %mf{s}: f32) {{\n  %df{s} = graph.sub %ef{s}, %mf{s} : (f32, f32) -> f32\n  %qf{s} = graph.mul %df{s}, %df{s} : (f32, f32) -> f32\n  tile.yield %qf{s} : f32\n}}"
            ));
            body.push(format!(
                "%fp{s} = tile.reduce %fq{s} {{axis = 1, kind = \"sum\"}} : ({bw}) -> {row}"
            ));
            body.push(add(
                &format!("fn{s}"),
                &format!("fc{s}"),
                &format!("fp{s}"),
                &format!("f{s}"),
            ));
            body.push(format!("tile.yield %fn{s} : {row}"));
            body
        };
        k.line(format!(
            "%mb = tile.broadcast %m1 {{dims = [0]}} : ({row}) -> {blk}"
        ));
        let mut acc2 = "init";
        if let Some(tw) = wide {
            k.line(format!(
                "%mbw = tile.broadcast %m1 {{dims = [0]}} : ({row}) -> {}",
                tile(f, &[tr, tw])
            ));
            k.line(format!(
                "%s2w = tile.for %init {{bounds = {wide_bounds}}} : ({row}) -> {row} (%kfw: index, %fcw: {row}) {{\n{}\n}}",
                indent(centred("w", tw))
            ));
            acc2 = "s2w";
        }
        let first = if ragged { "s2f" } else { "s2" };
        k.line(format!(
            "%{first} = tile.for %{acc2} {{bounds = {full_bounds}}} : ({row}) -> {row} (%kf: index, %fc: {row}) {{\n{}\n}}",
            indent(centred("", tn))
        ));
        if ragged {
            let (mut body, bx) = load_x("b", "nan", tn);
            body.push(format!(
                "%bq = tile.map %{bx}, %mb : ({blk}, {blk}) -> {blk} (%eb: f32, %mv: f32) {{\n  %db = graph.sub %eb, %mv : (f32, f32) -> f32\n  %qb = graph.mul %db, %db : (f32, f32) -> f32\n  %inb = graph.eq %eb, %eb : (f32, f32) -> bool\n  %zb = graph.constant {{value = 0.0, dtype = f32}} : () -> f32\n  %rb2 = graph.select %inb, %qb, %zb : (bool, f32, f32) -> f32\n  tile.yield %rb2 : f32\n}}"
            ));
            body.push(format!(
                "%bp = tile.reduce %bq {{axis = 1, kind = \"sum\"}} : ({blk}) -> {row}"
            ));
            body.push(add("bn", "bc", "bp", "b"));
            body.push(format!("tile.yield %bn : {row}"));
            k.line(format!(
                "%s2 = tile.for %s2f {{bounds = {tail_bounds}}} : ({row}) -> {row} (%kb: index, %bc: {row}) {{\n{}\n}}",
                indent(body)
            ));
        }
        k.line(format!(
            "%v2 = tile.map %s2, %cf : ({row}, {row}) -> {row} (%pv: f32, %qv: f32) {{\n  %dv = graph.div %pv, %qv : (f32, f32) -> f32\n  tile.yield %dv : f32\n}}"
        ));
        "v2"
    } else {
        "m1"
    };
    k.line(format!(
        "%r1 = tile.map %{var} : ({row}) -> {row} (%pr: f32) {{\n  %er = graph.constant {{value = {eps:?}, dtype = f32}} : () -> f32\n  %ar2 = graph.add %pr, %er : (f32, f32) -> f32\n  %sr = graph.sqrt %ar2 : (f32) -> f32\n  %or = graph.constant {{value = 1.0, dtype = f32}} : () -> f32\n  %rr = graph.div %or, %sr : (f32, f32) -> f32\n  tile.yield %rr : f32\n}}"
    ));
    // Loop 3: normalise and store (names suffixed `s`, chunks `w` wide).
    let normalise = |s: &str, w: u64| -> Vec<String> {
        let bw = tile(f, &[tr, w]);
        let (mut body, cx) = load_x(&format!("c{s}"), "0.0", w);
        let mut margs = vec![format!("%{cx}"), format!("%rb{s}")];
        let mut mtys = vec![bw.clone(), bw.clone()];
        let mut rargs = vec![format!("%ec{s}: f32"), format!("%rc{s}: f32")];
        if layer {
            margs.push(format!("%mb{s}"));
            mtys.push(bw.clone());
            rargs.push(format!("%mc{s}: f32"));
        }
        for (i, p) in ps.iter().enumerate() {
            let pn = pnames[i];
            // gamma and beta: one row, cast to f32 and broadcast to the tile's rows.
            let raw = tile(p.dtype, &[1, w]);
            let one = tile(f, &[1, w]);
            body.push(format!(
                "%{pn}r{s} = tile.load %{pn}, %zero, %kc{s} : ({}, index, index) -> {raw}",
                buf(p.dtype, &p.shape)
            ));
            let mut v = format!("{pn}r{s}");
            if p.dtype != f {
                body.push(format!(
                    "%{pn}f{s} = tile.cast %{v} {{dtype = f32}} : ({raw}) -> {one}"
                ));
                v = format!("{pn}f{s}");
            }
            if tr > 1 {
                body.push(format!("%{pn}b{s} = tile.broadcast %{v} : ({one}) -> {bw}"));
                v = format!("{pn}b{s}");
            }
            margs.push(format!("%{v}"));
            mtys.push(bw.clone());
            rargs.push(format!("%{pn}e{s}: f32"));
        }
        let mut region = Vec::new();
        let centred = if layer {
            region.push(format!(
                "%dc{s} = graph.sub %ec{s}, %mc{s} : (f32, f32) -> f32"
            ));
            format!("dc{s}")
        } else {
            format!("ec{s}")
        };
        region.push(format!(
            "%qc{s} = graph.mul %{centred}, %rc{s} : (f32, f32) -> f32"
        ));
        region.push(format!(
            "%wc{s} = graph.mul %qc{s}, %gme{s} : (f32, f32) -> f32"
        ));
        let res = if layer {
            region.push(format!(
                "%oc{s} = graph.add %wc{s}, %bte{s} : (f32, f32) -> f32"
            ));
            format!("oc{s}")
        } else {
            format!("wc{s}")
        };
        region.push(format!("tile.yield %{res} : f32"));
        body.push(format!(
            "%cy{s} = tile.map {} : ({}) -> {bw} ({}) {{\n{}\n}}",
            margs.join(", "),
            mtys.join(", "),
            rargs.join(", "),
            indent(region)
        ));
        let ot = tile(od, &[tr, w]);
        let stored = if od == f {
            format!("cy{s}")
        } else {
            body.push(format!(
                "%co{s} = tile.cast %cy{s} {{dtype = {od}}} : ({bw}) -> {ot}"
            ));
            format!("co{s}")
        };
        body.push(format!(
            "tile.store %{stored}, %out, %i, %kc{s} : ({ot}, {ob}, index, index) -> ()"
        ));
        body.push("tile.yield".to_string());
        body
    };
    if let Some(tw) = wide {
        let bw = tile(f, &[tr, tw]);
        k.line(format!(
            "%rbw = tile.broadcast %r1 {{dims = [0]}} : ({row}) -> {bw}"
        ));
        k.line(format!(
            "tile.for {{bounds = {wide_bounds}}} : () -> () (%kcw: index) {{\n{}\n}}",
            indent(normalise("w", tw))
        ));
    }
    k.line(format!(
        "%rb = tile.broadcast %r1 {{dims = [0]}} : ({row}) -> {blk}"
    ));
    k.line(format!(
        "tile.for {{bounds = {bounds}}} : () -> () (%kc: index) {{\n{}\n}}",
        indent(normalise("", tn))
    ));
    let mut args: Vec<_> = inputs.iter().map(Seen::arg).collect();
    args.extend(ps.iter().map(Seen::arg));
    args.push(out.arg());
    ctx.emit(name, k.finish(), args, op);
    Ok(())
}
