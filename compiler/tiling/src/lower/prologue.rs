//! Prologues of row kernels (`layernorm`, `rmsnorm`, `softmax`, `log_softmax` over the
//! last axis): the elementwise group that computes the kernel's input (chosen by
//! [`super::fuse`]) is computed in the kernel's first loop, tile by tile, from the group's
//! own inputs, and stored into the output row (rounded to the dtype, as a materialised
//! input would be); the kernel's loops then read the output row, still in L1/L2. The input
//! is never a pass over memory of its own.
//!
//! Names used in the kernel text: the group's inputs are parameters `%l0, %l1, ...`; the
//! first loop's index is `%ka`, the row index `%i` and `%zero` an index 0; the group's tile
//! is `%pt` (a second loop computing the prologue, over a row's ragged last chunk, suffixes
//! its names: `%kat`, `%ptt`).

use super::elementwise::Seen;
use super::fuse::{leaf, Leaf};
use super::{Ctx, TilingError};
use crate::template::{buf, tile, KernelText};
use std::collections::BTreeMap;
use tessera_dialects::print::attr_dict;
use tessera_dialects::{DType, Operation, SymExpr, Value};

/// The inputs of a prologue as the kernel sees them, and each one's value and kind.
pub(super) type Inputs = (Vec<Seen>, Vec<(Value, Leaf)>);

/// The group's inputs (each once), seen by rows of `n`: `[rows, n]`, `[1, n]`, `[rows, 1]`
/// or `[1, 1]`.
pub(super) fn prologue_inputs(
    ctx: &mut Ctx,
    op: &Operation,
    group: &[(&Operation, DType)],
    full: &[SymExpr],
    rows: &SymExpr,
    n: &SymExpr,
) -> Result<Inputs, TilingError> {
    let inside: Vec<Value> = group.iter().map(|(o, _)| o.results[0]).collect();
    let mut vals: Vec<Value> = Vec::new();
    for (o, _) in group {
        for v in &o.operands {
            if !inside.contains(v) && !vals.contains(v) {
                vals.push(*v);
            }
        }
    }
    let mut seen = Vec::new();
    let mut kinds = Vec::new();
    for v in vals {
        let b = ctx.buf(v);
        let Some(kind) = leaf(&ctx.ty(b).shape, full) else {
            return Err(TilingError::at(
                op,
                "internal error: a row-kernel prologue input does not broadcast by rows",
            ));
        };
        let shape = match kind {
            Leaf::Full => vec![rows.clone(), n.clone()],
            Leaf::Row => vec![SymExpr::lit(1), n.clone()],
            Leaf::Column => vec![rows.clone(), SymExpr::lit(1)],
            Leaf::Scalar => vec![SymExpr::lit(1), SymExpr::lit(1)],
        };
        seen.push(Seen::viewed(ctx, b, shape));
        kinds.push((v, kind));
    }
    Ok((seen, kinds))
}

/// Pushes the first loop's prologue onto `body` (loads of the group's inputs, the group as
/// one map, the store into the output row); scalar and column inputs (one value per row)
/// are loaded and broadcast once, before the loop, in `k`, when `setup` (the first of
/// several loops computing the prologue, or the first of those of its tile width: their
/// names end with `sfx` too). The loop's index is `%ka{sfx}` and every name defined in
/// `body` ends with `sfx` (names are defined once per kernel).
#[allow(clippy::too_many_arguments)] // one call per row kernel, all of them needed
pub(super) fn prologue_body(
    k: &mut KernelText,
    body: &mut Vec<String>,
    group: &[(&Operation, DType)],
    inputs: &[Seen],
    leaves: &[(Value, Leaf)],
    dt: DType,
    [tr, tn]: [u64; 2],
    ob: &str,
    (sfx, setup): (&str, bool),
) {
    prologue_map(k, body, group, inputs, leaves, dt, [tr, tn], (sfx, setup));
    let rt = tile(dt, &[tr, tn]);
    body.push(format!(
        "tile.store %pt{sfx}, %out, %i, %ka{sfx} : ({rt}, {ob}, index, index) -> ()"
    ));
}

/// [`prologue_body`] without the store: the group's tile is `%pt{sfx}` (a reduction's
/// prologue reduces it in place).
#[allow(clippy::too_many_arguments)] // one call per prologue loop, all of them needed
pub(super) fn prologue_map(
    k: &mut KernelText,
    body: &mut Vec<String>,
    group: &[(&Operation, DType)],
    inputs: &[Seen],
    leaves: &[(Value, Leaf)],
    dt: DType,
    [tr, tn]: [u64; 2],
    (sfx, setup): (&str, bool),
) {
    let rt = tile(dt, &[tr, tn]);
    // The broadcasts of scalar and column inputs: this loop's own when it sets them up,
    // else the first loop's.
    let bs = if setup { sfx } else { "" };
    let mut args = Vec::new();
    for (j, (s, (_, kind))) in inputs.iter().zip(leaves).enumerate() {
        let lb = buf(s.dtype, &s.shape);
        let lt = tile(s.dtype, &[tr, tn]);
        match kind {
            Leaf::Scalar => {
                let one = tile(s.dtype, &[1, 1]);
                if setup {
                    k.line(format!(
                        "%pl{j}{bs} = tile.load %l{j}, %zero, %zero : ({lb}, index, index) -> {one}"
                    ));
                    k.line(format!(
                        "%pb{j}{bs} = tile.broadcast %pl{j}{bs} : ({one}) -> {lt}"
                    ));
                }
                args.push((format!("%pb{j}{bs}"), lt, s.dtype));
            }
            Leaf::Column => {
                // The row tile's `tr` values, broadcast along the columns.
                let col = tile(s.dtype, &[tr, 1]);
                if setup {
                    k.line(format!(
                        "%pl{j}{bs} = tile.load %l{j}, %i, %zero : ({lb}, index, index) -> {col}"
                    ));
                    k.line(format!(
                        "%pb{j}{bs} = tile.broadcast %pl{j}{bs} : ({col}) -> {lt}"
                    ));
                }
                args.push((format!("%pb{j}{bs}"), lt, s.dtype));
            }
            Leaf::Full => {
                body.push(format!(
                    "%pl{j}{sfx} = tile.load %l{j}, %i, %ka{sfx} : ({lb}, index, index) -> {lt}"
                ));
                args.push((format!("%pl{j}{sfx}"), lt, s.dtype));
            }
            Leaf::Row => {
                // One row, broadcast to the tile's `tr` rows.
                let one = tile(s.dtype, &[1, tn]);
                body.push(format!(
                    "%pl{j}{sfx} = tile.load %l{j}, %zero, %ka{sfx} : ({lb}, index, index) -> {one}"
                ));
                if tr == 1 {
                    args.push((format!("%pl{j}{sfx}"), lt, s.dtype));
                } else {
                    body.push(format!(
                        "%pr{j}{sfx} = tile.broadcast %pl{j}{sfx} : ({one}) -> {lt}"
                    ));
                    args.push((format!("%pr{j}{sfx}"), lt, s.dtype));
                }
            }
        }
    }
    let mut names: BTreeMap<Value, (String, DType)> = leaves
        .iter()
        .zip(&args)
        .enumerate()
        .map(|(j, ((v, _), (_, _, d)))| (*v, (format!("pe{j}{sfx}"), *d)))
        .collect();
    let mut region = Vec::new();
    let mut last = String::new();
    for (m, (o, rdt)) in group.iter().enumerate() {
        let v = format!("pv{m}{sfx}");
        let (a, t): (Vec<String>, Vec<String>) = o
            .operands
            .iter()
            .map(|x| {
                let (nm, d) = &names[x];
                (format!("%{nm}"), d.to_string())
            })
            .unzip();
        let attrs = if o.attrs.is_empty() {
            String::new()
        } else {
            format!(" {}", attr_dict(&o.attrs))
        };
        region.push(format!(
            "  %{v} = {} {}{attrs} : ({}) -> {rdt}",
            o.op.full_name(),
            a.join(", "),
            t.join(", ")
        ));
        names.insert(o.results[0], (v.clone(), *rdt));
        last = v;
    }
    region.push(format!("  tile.yield %{last} : {dt}"));
    let margs: Vec<&str> = args.iter().map(|(a, _, _)| a.as_str()).collect();
    let mtys: Vec<&str> = args.iter().map(|(_, t, _)| t.as_str()).collect();
    let rargs: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(j, (_, _, d))| format!("%pe{j}{sfx}: {d}"))
        .collect();
    body.push(format!(
        "%pt{sfx} = tile.map {} : ({}) -> {rt} ({}) {{\n{}\n}}",
        margs.join(", "),
        mtys.join(", "),
        rargs.join(", "),
        region.join("\n")
    ));
}

/// Reads ahead the next grid point's row tile (`tr` rows, `tile.prefetch`) of every input a
/// row kernel reads by rows: `x` (name and buffer type) without a prologue, else the
/// prologue's `inputs` (`l0, l1, ...`) but those seen as `[1, n]` (vectors broadcast along
/// the rows, like gamma and beta). Emitted after the kernel's first loop over the row, so
/// that its other loops, working from L1, overlap the reads of the next row.
pub(super) fn prefetch_next_rows(
    k: &mut KernelText,
    inputs: Option<&[Seen]>,
    x: (&str, &str),
    tr: u64,
) {
    let next: Vec<(String, String)> = match inputs {
        None => vec![(x.0.to_string(), x.1.to_string())],
        Some(ins) => ins
            .iter()
            .enumerate()
            .filter(|(_, s)| s.shape.first() != Some(&SymExpr::lit(1)))
            .map(|(j, s)| (format!("l{j}"), buf(s.dtype, &s.shape)))
            .collect(),
    };
    if next.is_empty() {
        return;
    }
    k.line("%inext = tile.affine %i {coeffs = [1], offset = sizes[1]} : (index) -> index");
    for (b, bt) in &next {
        k.line(format!(
            "tile.prefetch %{b}, %inext {{rows = {tr}}} : ({bt}, index) -> ()"
        ));
    }
}
