//! Elementwise operations with NumPy broadcasting, as one N-D kernel each.
//!
//! The kernel's grid has one point per index of every leading output axis and one per tile
//! of the last axis; each operand is loaded with its own shape (index 0 and tile size 1 on
//! the axes it broadcasts along), broadcast to the output tile, and combined by a `tile.map`
//! whose region is the scalar computation. 0-d tensors are seen as `[1]`. A chain of
//! elementwise operations chosen by [`super::fuse`] is one such kernel whose region
//! computes the whole chain ([`fused`]).

use super::{Ctx, TilingError};
use crate::plan::BufId;
use crate::template::{buf, cdiv, fit, tile, KernelText};
use std::collections::BTreeMap;
use tessera_dialects::print::attr_dict;
use tessera_dialects::{DType, Operation, SymExpr, Value};

/// A buffer as a kernel sees it: its shape (a view of rank at least 1) and dtype.
pub(crate) struct Seen {
    pub buf: BufId,
    pub shape: Vec<SymExpr>,
    pub dtype: DType,
    /// Whether `shape` differs from the buffer's own (a view).
    pub view: bool,
}

impl Seen {
    /// The buffer as it is, 0-d seen as `[1]`.
    pub fn of(ctx: &Ctx, b: BufId) -> Seen {
        let ty = ctx.ty(b);
        if ty.shape.is_empty() {
            Seen {
                buf: b,
                shape: vec![SymExpr::lit(1)],
                dtype: ty.dtype,
                view: true,
            }
        } else {
            Seen {
                buf: b,
                shape: ty.shape.clone(),
                dtype: ty.dtype,
                view: false,
            }
        }
    }

    /// The buffer seen with another shape of the same element count.
    pub fn viewed(ctx: &Ctx, b: BufId, shape: Vec<SymExpr>) -> Seen {
        Seen {
            buf: b,
            dtype: ctx.ty(b).dtype,
            shape,
            view: true,
        }
    }

    pub fn arg(&self) -> (BufId, Option<Vec<SymExpr>>) {
        (self.buf, self.view.then(|| self.shape.clone()))
    }
}

/// The scalar body of a map: given the kernel, the element names and dtypes, it writes its
/// lines and returns the name of the result.
pub(crate) type Region<'r> = dyn Fn(&mut KernelText, &[String], &[DType]) -> String + 'r;

/// Emits `out = region(inputs...)` elementwise with broadcasting.
pub(crate) fn kernel(
    ctx: &mut Ctx,
    op: &Operation,
    what: &str,
    inputs: &[Seen],
    out: &Seen,
    region: &Region<'_>,
) -> Result<(), TilingError> {
    let o = &out.shape;
    let r = o.len();
    // An operand of lower rank is seen with leading 1s: its tile then has the output
    // tile's leading 1s and needs no broadcast when it spans the last axis.
    let padded: Vec<Seen> = inputs
        .iter()
        .map(|s| {
            let rk = s.shape.len();
            if rk >= r {
                return Seen {
                    view: s.view,
                    shape: s.shape.clone(),
                    ..*s
                };
            }
            let mut shape = vec![SymExpr::lit(1); r - rk];
            shape.extend(s.shape.iter().cloned());
            Seen {
                view: true,
                shape,
                ..*s
            }
        })
        .collect();
    let (inputs, out) = collapse(&padded, out, ctx.schedule.elementwise);
    let (inputs, out) = (inputs.as_slice(), &out);
    let o = &out.shape;
    let r = o.len();
    let tl = fit(&o[r - 1], ctx.schedule.elementwise);
    let mut grid: Vec<SymExpr> = o[..r - 1].to_vec();
    grid.push(cdiv(&o[r - 1], tl));
    let mut out_tile = vec![1u64; r - 1];
    out_tile.push(tl);
    let name = ctx.kernel_name(what);
    let mut params: Vec<(String, String)> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("x{i}"), buf(s.dtype, &s.shape)))
        .collect();
    params.push(("out".into(), buf(out.dtype, o)));
    let mut k = KernelText::new(&name, &params, &grid);
    let pids: Vec<String> = (0..r)
        .map(|a| {
            let p = format!("p{a}");
            k.line(format!(
                "%{p} = tile.program_id {{axis = {a}}} : () -> index"
            ));
            p
        })
        .collect();
    k.line("%zero = tile.index {value = sizes[0]} : () -> index");
    let mut args = Vec::new();
    for (i, s) in inputs.iter().enumerate() {
        let rk = s.shape.len();
        if rk > r {
            return Err(TilingError::at(
                op,
                format!("an operand of rank {rk} does not broadcast to rank {r}"),
            ));
        }
        let off = r - rk;
        let (mut idx, mut tdims) = (Vec::new(), Vec::new());
        for (b, d) in s.shape.iter().enumerate() {
            let a = b + off;
            let broadcasts = d.as_const() == Some(1) && o[a].as_const() != Some(1);
            if broadcasts {
                idx.push("%zero".to_string());
                tdims.push(1);
            } else {
                idx.push(format!("%{}", pids[a]));
                tdims.push(if a == r - 1 { tl } else { 1 });
            }
        }
        let t = k.fresh("t");
        let index_tys = vec!["index"; rk].join(", ");
        k.line(format!(
            "%{t} = tile.load %x{i}, {} : ({}, {index_tys}) -> {}",
            idx.join(", "),
            buf(s.dtype, &s.shape),
            tile(s.dtype, &tdims)
        ));
        let mut padded = vec![1u64; off];
        padded.extend(&tdims);
        if padded == out_tile && rk == r {
            args.push((t, s.dtype));
        } else {
            let b = k.fresh("b");
            k.line(format!(
                "%{b} = tile.broadcast %{t} : ({}) -> {}",
                tile(s.dtype, &tdims),
                tile(s.dtype, &out_tile)
            ));
            args.push((b, s.dtype));
        }
    }
    if args.is_empty() {
        // Only literals (`3 as i8`, a call with literal arguments): the map still needs a
        // tile to run over, whose elements the region does not read.
        let z = k.fresh("z");
        k.line(format!(
            "%{z} = tile.zeros : () -> {}",
            tile(out.dtype, &out_tile)
        ));
        args.push((z, out.dtype));
    }
    let elems: Vec<String> = args.iter().map(|_| k.fresh("e")).collect();
    let dtypes: Vec<DType> = args.iter().map(|(_, d)| *d).collect();
    let mut body = KernelText::new("region", &[], &[]);
    body.set_counter(k.counter());
    let result = region(&mut body, &elems, &dtypes);
    k.set_counter(body.counter());
    let res = k.fresh("r");
    let operands: Vec<String> = args.iter().map(|(n, _)| format!("%{n}")).collect();
    let operand_tys: Vec<String> = args.iter().map(|(_, d)| tile(*d, &out_tile)).collect();
    let region_args: Vec<String> = elems
        .iter()
        .zip(&dtypes)
        .map(|(e, d)| format!("%{e}: {d}"))
        .collect();
    let mut map = format!(
        "%{res} = tile.map {} : ({}) -> {} ({}) {{\n",
        operands.join(", "),
        operand_tys.join(", "),
        tile(out.dtype, &out_tile),
        region_args.join(", ")
    );
    for l in body.body_lines() {
        map.push_str("  ");
        map.push_str(l);
        map.push('\n');
    }
    map.push_str(&format!("  tile.yield %{result} : {}\n}}", out.dtype));
    k.line(map);
    let pid_refs: Vec<String> = pids.iter().map(|p| format!("%{p}")).collect();
    k.line(format!(
        "tile.store %{res}, %out, {} : ({}, {}, {}) -> ()",
        pid_refs.join(", "),
        tile(out.dtype, &out_tile),
        buf(out.dtype, o),
        vec!["index"; r].join(", ")
    ));
    let mut launch_args: Vec<(BufId, Option<Vec<SymExpr>>)> =
        inputs.iter().map(Seen::arg).collect();
    launch_args.push(out.arg());
    ctx.emit(name, k.finish(), launch_args, op);
    Ok(())
}

/// How an operand (seen with the output's rank) meets one output axis.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Meets {
    /// The output's extent is 1: any operand agrees.
    Unit,
    /// The operand has the output's extent.
    Whole,
    /// The operand has extent 1 there and is broadcast.
    Broadcast,
    /// Anything else (an error reported by the kernel).
    Other,
}

/// `inputs` (with the output's rank) and `out` with their trailing axes merged into one
/// where every operand walks them alike (all of them whole, or all of them broadcast:
/// buffers are dense and in C order, so merged axes are one run of elements), when the
/// last output axis is not a constant of at least `tile` elements: an `[N, C, H, W]` map
/// with a small `W` (a convolution's output) would otherwise run one mostly empty
/// `tile`-wide tile per row (W = 56 of 2048 lanes). The others are returned as they are.
fn collapse(inputs: &[Seen], out: &Seen, tile: u64) -> (Vec<Seen>, Seen) {
    let o = &out.shape;
    let r = o.len();
    let same = || {
        let ins = inputs
            .iter()
            .map(|s| Seen {
                shape: s.shape.clone(),
                ..*s
            })
            .collect();
        (
            ins,
            Seen {
                shape: out.shape.clone(),
                ..*out
            },
        )
    };
    let wide = o[r - 1].as_const().is_some_and(|c| c as u64 >= tile);
    if r < 2 || wide || inputs.iter().any(|s| s.shape.len() != r) {
        return same();
    }
    let meets = |s: &Seen, a: usize| {
        let d = &s.shape[a];
        if o[a].as_const() == Some(1) {
            Meets::Unit
        } else if *d == o[a] {
            Meets::Whole
        } else if d.as_const() == Some(1) {
            Meets::Broadcast
        } else {
            Meets::Other
        }
    };
    // The first axis of the merged run: every operand meets the run alike.
    let mut kind: Vec<Meets> = inputs.iter().map(|_| Meets::Unit).collect();
    let mut first = r;
    for a in (0..r).rev() {
        let mut next = kind.clone();
        let mut ok = true;
        for (i, s) in inputs.iter().enumerate() {
            match (kind[i], meets(s, a)) {
                (_, Meets::Other) => ok = false,
                (_, Meets::Unit) => {}
                (Meets::Unit, m) => next[i] = m,
                (k, m) => ok &= k == m,
            }
        }
        if !ok {
            break;
        }
        kind = next;
        first = a;
    }
    if first + 1 >= r {
        return same();
    }
    let merge = |shape: &[SymExpr]| -> Vec<SymExpr> {
        let mut v = shape[..first].to_vec();
        v.push(
            shape[first..]
                .iter()
                .fold(SymExpr::lit(1), |acc, d| acc.mul(d)),
        );
        v
    };
    let ins = inputs
        .iter()
        .map(|s| Seen {
            shape: merge(&s.shape),
            view: true,
            ..*s
        })
        .collect();
    (
        ins,
        Seen {
            shape: merge(o),
            view: true,
            ..*out
        },
    )
}

/// One elementwise graph operation: its region is the operation itself on scalars.
pub(super) fn single(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let inputs: Vec<Seen> = op
        .operands
        .iter()
        .map(|v| Seen::of(ctx, ctx.buf(*v)))
        .collect();
    let out = Seen::of(ctx, ctx.buf(op.results[0]));
    let gname = op.op.full_name();
    let attrs = if op.attrs.is_empty() {
        String::new()
    } else {
        format!(" {}", attr_dict(&op.attrs))
    };
    let odt = out.dtype;
    let region = move |k: &mut KernelText, e: &[String], d: &[DType]| -> String {
        let v = k.fresh("v");
        let args: Vec<String> = e.iter().map(|n| format!("%{n}")).collect();
        let tys: Vec<String> = d.iter().map(|t| t.to_string()).collect();
        k.line(format!(
            "%{v} = {gname} {}{attrs} : ({}) -> {odt}",
            args.join(", "),
            tys.join(", ")
        ));
        v
    };
    let what = op.op.def().name;
    kernel(ctx, op, what, &inputs, &out, &region)
}

/// `broadcast_to`: an elementwise copy with broadcasting.
pub(super) fn broadcast_to(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let inputs = vec![Seen::of(ctx, ctx.buf(op.operands[0]))];
    let out = Seen::of(ctx, ctx.buf(op.results[0]));
    kernel(
        ctx,
        op,
        "broadcast_to",
        &inputs,
        &out,
        &|_, e: &[String], _| e[0].clone(),
    )
}

/// `graph.constant`: a splat stored into a `[1]` view of the 0-d result.
pub(super) fn constant(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let out = Seen::of(ctx, ctx.buf(op.results[0]));
    let value = op
        .attrs
        .get("value")
        .ok_or_else(|| TilingError::at(op, "constant without a value"))?;
    let name = ctx.kernel_name("constant");
    let mut k = KernelText::new(
        &name,
        &[("out".into(), buf(out.dtype, &out.shape))],
        &[SymExpr::lit(1)],
    );
    k.line("%zero = tile.index {value = sizes[0]} : () -> index");
    k.line(format!(
        "%c = tile.splat {{value = {value}}} : () -> {}",
        tile(out.dtype, &[1])
    ));
    k.line(format!(
        "tile.store %c, %out, %zero : ({}, {}, index) -> ()",
        tile(out.dtype, &[1]),
        buf(out.dtype, &out.shape)
    ));
    ctx.emit(name, k.finish(), vec![out.arg()], op);
    Ok(())
}

/// Elementwise operations fused into one kernel (see [`super::fuse`]): `ops` in program
/// order with their result dtypes, the last one the kernel's result; every other result is
/// used only inside the group and has the result's shape. The region computes the whole
/// group per element; values from outside the group are the kernel's inputs (each once).
pub(super) fn fused(ctx: &mut Ctx, ops: &[(&Operation, DType)]) -> Result<(), TilingError> {
    let Some((root, _)) = ops.last() else {
        return Ok(());
    };
    let inside: Vec<Value> = ops.iter().map(|(op, _)| op.results[0]).collect();
    let mut leaves: Vec<Value> = Vec::new();
    for (op, _) in ops {
        for v in &op.operands {
            if !inside.contains(v) && !leaves.contains(v) {
                leaves.push(*v);
            }
        }
    }
    let inputs: Vec<Seen> = leaves.iter().map(|v| Seen::of(ctx, ctx.buf(*v))).collect();
    let out = Seen::of(ctx, ctx.buf(root.results[0]));
    let region = |k: &mut KernelText, e: &[String], d: &[DType]| -> String {
        let names: BTreeMap<Value, (String, DType)> = leaves
            .iter()
            .zip(e.iter().zip(d))
            .map(|(v, (n, t))| (*v, (n.clone(), *t)))
            .collect();
        scalar_ops(k, ops, names)
    };
    let mut what: Vec<&str> = ops.iter().map(|(op, _)| op.op.def().name).collect();
    if what.len() > 4 {
        what = vec![what[0], "etc", what[what.len() - 1]];
    }
    kernel(ctx, root, &what.join("_"), &inputs, &out, &region)
}

/// Writes `%res = tile.map` of the `[shape]` tiles `operands` (name, dtype), whose region
/// computes `ops` (program order, with their result dtypes) with `inputs[i]` read as the
/// element of `operands[i]`, and yields the last one's result, of dtype `out`: a matmul's
/// or conv's epilogue on its accumulator tile.
pub(crate) fn map_ops(
    k: &mut KernelText,
    res: &str,
    shape: &[u64],
    operands: &[(String, DType)],
    inputs: &[Value],
    ops: &[(&Operation, DType)],
    out: DType,
) {
    let elems: Vec<String> = operands.iter().map(|_| k.fresh("e")).collect();
    let names: BTreeMap<Value, (String, DType)> = inputs
        .iter()
        .zip(elems.iter().zip(operands))
        .map(|(v, (e, (_, dt)))| (*v, (e.clone(), *dt)))
        .collect();
    let mut body = KernelText::new("region", &[], &[]);
    body.set_counter(k.counter());
    let result = scalar_ops(&mut body, ops, names);
    k.set_counter(body.counter());
    let list =
        |f: &dyn Fn(usize) -> String| (0..operands.len()).map(f).collect::<Vec<_>>().join(", ");
    let mut map = format!(
        "%{res} = tile.map {} : ({}) -> {} ({}) {{\n",
        list(&|i| format!("%{}", operands[i].0)),
        list(&|i| tile(operands[i].1, shape)),
        tile(out, shape),
        list(&|i| format!("%{}: {}", elems[i], operands[i].1)),
    );
    for l in body.body_lines() {
        map.push_str("  ");
        map.push_str(l);
        map.push('\n');
    }
    map.push_str(&format!("  tile.yield %{result} : {out}\n}}"));
    k.line(map);
}

/// Writes `ops` (program order, with their result dtypes) as scalar lines of a map region,
/// given the element names of the values they read from outside; returns the name of the
/// last one's result.
pub(crate) fn scalar_ops(
    k: &mut KernelText,
    ops: &[(&Operation, DType)],
    mut names: BTreeMap<Value, (String, DType)>,
) -> String {
    let mut last = String::new();
    for (op, rdt) in ops {
        let v = k.fresh("v");
        let (args, tys): (Vec<String>, Vec<String>) = op
            .operands
            .iter()
            .map(|x| {
                let (n, t) = &names[x];
                (format!("%{n}"), t.to_string())
            })
            .unzip();
        let attrs = if op.attrs.is_empty() {
            String::new()
        } else {
            format!(" {}", attr_dict(&op.attrs))
        };
        k.line(format!(
            "%{v} = {} {}{attrs} : ({}) -> {rdt}",
            op.op.full_name(),
            args.join(", "),
            tys.join(", ")
        ));
        names.insert(op.results[0], (v.clone(), *rdt));
        last = v;
    }
    last
}
