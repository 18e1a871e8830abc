//! Weights packed at bind time: the right operand of a matmul kernel, when it is a
//! function parameter with constant sizes (a weight), is held in the column-panel layout
//! the `f32` micro-kernel reads, so the kernel no longer copies each rhs tile into panels
//! on every call (`tile.dot`'s `pack = "rhs"`), and reads the weights in one sequential
//! stream per panel.
//!
//! Layout: a `[K, N]` weight becomes `[N / W, K, W]` ([`PANEL`] = `W` = 8 columns, the
//! width of the `f32` register block, `schedule::DOT_BLOCK`): panel `p` holds columns
//! `p * W .. p * W + W`, row after row. In the kernel the rhs `tile.load %b, %k, %j` of a
//! `kt x nt` tile becomes `tile.load %b, %j, %k, %zero` of a `nt / W x kt x W` tile, and
//! `tile.dot` reads such a rank-3 rhs as its panels (the tile IR's packed rhs form,
//! checked by the verifier, run by the tile interpreter). The plan marks the buffer
//! [`BufKind::Panels`]: the function's input is still the `[K, N]` weight;
//! [`pack_panels`] makes the packed copy once when the inputs are bound (the CPU
//! executable's `prepare`, [`Tiled::execute`] for the interpreter).
//!
//! A weight held in `bf16` or `f16` (`--precision bf16|f16`: the matmul reads the narrow
//! tile and widens it, `tile.cast` to `f32` right after the load, tiling's `widened_rhs`)
//! is packed the same way in its own dtype, so it still takes half the bytes: the load
//! reads a narrow `nt / W x kt x W` tile and the cast widens that panel tile, which the
//! CPU back end leaves to the dot: it reads the narrow panels in place (sequentially,
//! half the bytes) and widens them once per tile into `f32` panels (`dot_widen.rs`).
//!
//! Only for executables that bind their inputs once: AOT artifacts take the original
//! weights on every call and keep the unpacked kernels (docs/aot.md).

use crate::plan::{BufKind, Tiled};
use std::collections::BTreeSet;
use tessera_dialects::{
    Attr, Attrs, DType, Func, Op, Operation, Region, SymExpr, TensorType, TileOp, TileType, Type,
    Value,
};
use tessera_tensor::Tensor;

/// The columns of one panel: the `f32` register block's width (`DOT_BLOCK[1]` vectors of
/// `VECTOR` lanes).
pub const PANEL: usize = (crate::schedule::DOT_BLOCK[1] * crate::schedule::VECTOR) as usize;

/// The dtypes of weights held in panels: `f32`, and `bf16` and `f16` widened by the dot.
pub const PACKED_DTYPES: [DType; 3] = [DType::F32, DType::BF16, DType::F16];

/// `tiled` with the parameters `weights` (indices into `tiled.params`) held in panels
/// where every use allows it: an `f32`, `bf16` or `f16` `[K, N]` parameter with constant
/// sizes, `N` a multiple of [`PANEL`], passed without a view to kernels launched once
/// each, in which every use is a plain 2-D `tile.load` whose tile is a whole number of
/// panels wide, used once, as the rhs of an `f32` `tile.dot` of the same region whose
/// register block is [`PANEL`] columns wide (a narrow tile through the `tile.cast` to
/// `f32` right after the load, its only use), and not itself a result. Other parameters
/// are left as they are. Returns the rewritten plan and the indices (into `params`) of
/// the packed parameters.
pub fn prepack_weights(tiled: &Tiled, weights: &BTreeSet<usize>) -> (Tiled, Vec<usize>) {
    let mut out = tiled.clone();
    let mut packed = Vec::new();
    for &pi in weights {
        let Some(&b) = tiled.params.get(pi) else {
            continue;
        };
        let info = &tiled.buffers[b];
        let (k, n) = match info.ty.shape.as_slice() {
            [k, n] => match (k.as_const(), n.as_const()) {
                (Some(k), Some(n)) if k > 0 && n > 0 => (k as usize, n as usize),
                _ => continue,
            },
            _ => continue,
        };
        // A parameter that is also a result is returned as given.
        if info.kind != BufKind::Param
            || !PACKED_DTYPES.contains(&info.ty.dtype)
            || n % PANEL != 0
            || tiled.results.contains(&b)
        {
            continue;
        }
        // Every (kernel, parameter position) the buffer is passed to.
        let mut uses = Vec::new();
        let mut ok = true;
        for l in &tiled.launches {
            for (pos, (a, view)) in l.args.iter().enumerate() {
                if *a != b {
                    continue;
                }
                let once = tiled
                    .launches
                    .iter()
                    .filter(|m| m.kernel == l.kernel)
                    .count()
                    == 1;
                let kernel = out.kernels.funcs.iter().find(|f| f.name == l.kernel);
                match kernel {
                    Some(f) if view.is_none() && once && packable(f, pos) => {
                        uses.push((l.kernel.clone(), pos))
                    }
                    _ => ok = false,
                }
            }
        }
        if !ok || uses.is_empty() {
            continue;
        }
        for (name, pos) in uses {
            if let Some(f) = out.kernels.funcs.iter_mut().find(|f| f.name == name) {
                rewrite_kernel(f, pos, k, n);
            }
        }
        let info = &mut out.buffers[b];
        info.ty = TensorType {
            dtype: info.ty.dtype,
            shape: [n / PANEL, k, PANEL]
                .iter()
                .map(|&d| SymExpr::lit(d as i64))
                .collect(),
        };
        info.kind = BufKind::Panels {
            rows: k,
            cols: n,
            width: PANEL,
        };
        packed.push(pi);
    }
    (out, packed)
}

/// `w` (`[rows, cols]`, `cols` a multiple of `width`) in panels: `[cols / width, rows,
/// width]`, element `(r, c)` at `(c / width, r, c % width)`, in `w`'s dtype (one of
/// [`PACKED_DTYPES`]).
pub fn pack_panels(w: &Tensor, width: usize) -> Result<Tensor, String> {
    let (rows, cols) = match w.shape() {
        [r, c] if width > 0 && c % width == 0 => (*r, *c),
        s => return Err(format!("cannot pack a {s:?} tensor in panels of {width}")),
    };
    if !PACKED_DTYPES.contains(&w.dtype()) {
        return Err(format!(
            "only f32, bf16 and f16 weights are packed, got {}",
            w.dtype()
        ));
    }
    let src = w.to_f32_vec();
    let mut out = Vec::with_capacity(src.len());
    for p in 0..cols / width {
        for r in 0..rows {
            out.extend_from_slice(&src[r * cols + p * width..r * cols + p * width + width]);
        }
    }
    // The values are those of `w` (already exact in its dtype), only moved.
    Tensor::from_f32(w.dtype(), vec![cols / width, rows, width], out).map_err(|e| e.to_string())
}

/// Whether every use of parameter `pos` of kernel `f` is a load that can read panels.
fn packable(f: &Func, pos: usize) -> bool {
    let Some(&p) = f.params.get(pos) else {
        return false;
    };
    let mut loads = 0;
    region_ok(f, &f.body, p, &mut loads) && loads > 0
}

/// The tile type of `v`.
fn tile_of(f: &Func, v: Value) -> Option<&TileType> {
    match f.ty(v) {
        Type::Tile(t) => Some(t),
        _ => None,
    }
}

fn region_ok(f: &Func, r: &Region, p: Value, loads: &mut usize) -> bool {
    for (i, op) in r.ops.iter().enumerate() {
        if op.operands.contains(&p) {
            let plain = op.attrs.get("unit").is_none()
                && op.attrs.get("strides").is_none()
                && op.attrs.get("perm").is_none()
                && op.attrs.get("pad").is_none();
            let load = op.op == Op::Tile(TileOp::Load)
                && op.operands.len() == 3
                && op.operands[0] == p
                && op.results.len() == 1
                && plain;
            let ok = load
                && match tile_of(f, op.results[0]) {
                    Some(t) if t.shape.len() == 2 && t.dtype == DType::F32 => {
                        panel_dot(f, r, i, op.results[0])
                    }
                    Some(t) if t.shape.len() == 2 && PACKED_DTYPES.contains(&t.dtype) => {
                        widened(f, r, i).is_some_and(|w| panel_dot(f, r, i + 1, w))
                    }
                    _ => false,
                };
            if !ok {
                return false;
            }
            *loads += 1;
        }
        if !op.regions.iter().all(|inner| region_ok(f, inner, p, loads)) {
            return false;
        }
    }
    true
}

/// The result of the `tile.cast` to `f32` right after the narrow load `r.ops[i]`, when
/// that cast is the load's only use.
fn widened(f: &Func, r: &Region, i: usize) -> Option<Value> {
    let v = r.ops[i].results[0];
    let cast = r.ops.get(i + 1)?;
    let ok = cast.op == Op::Tile(TileOp::Cast)
        && cast.operands.as_slice() == [v]
        && cast.results.len() == 1
        && cast.attrs.dtype("dtype") == Some(DType::F32)
        && uses(&f.body, v) == 1;
    ok.then(|| cast.results[0])
}

/// Whether `v`, defined by `r.ops[i]`, is used once in the kernel, as the rhs of an `f32`
/// `tile.dot` later in `r` with a register block [`PANEL`] columns wide, and its tile is
/// a whole number of panels wide.
fn panel_dot(f: &Func, r: &Region, i: usize, v: Value) -> bool {
    if uses(&f.body, v) != 1 {
        return false;
    }
    let Some(dot) = r.ops[i + 1..].iter().find(|o| o.operands.contains(&v)) else {
        return false;
    };
    let f32_2d =
        |x: &Value| tile_of(f, *x).is_some_and(|t| t.dtype == DType::F32 && t.shape.len() == 2);
    let vecs = match dot.attrs.ints("block") {
        Some(&[_, v]) => v,
        _ => return false,
    };
    dot.op == Op::Tile(TileOp::Dot)
        && (3..=4).contains(&dot.operands.len())
        && dot.operands[1] == v
        && dot.operands[0] != v
        && dot.operands[..3].iter().all(f32_2d)
        && (vecs * crate::schedule::VECTOR) as usize == PANEL
        && tile_of(f, v).is_some_and(|t| (t.shape[1] as usize).is_multiple_of(PANEL))
}

fn uses(r: &Region, v: Value) -> usize {
    r.ops
        .iter()
        .map(|o| {
            o.operands.iter().filter(|&&x| x == v).count()
                + o.regions.iter().map(|r| uses(r, v)).sum::<usize>()
        })
        .sum()
}

/// Parameter `pos` of `f` becomes `buf<T[n / PANEL, k, PANEL]>` and its loads read
/// panels: `tile.load %b, %k, %j` of `kt x nt` becomes `tile.load %b, %j, %k, %zero` of
/// `nt / PANEL x kt x PANEL` (and the widening `tile.cast` of a narrow load casts that
/// panel tile).
fn rewrite_kernel(f: &mut Func, pos: usize, k: usize, n: usize) {
    let p = f.params[pos];
    if let Type::Buffer(bt) = &mut f.values[p.index()].ty {
        bt.elem.shape = [n / PANEL, k, PANEL]
            .iter()
            .map(|&d| SymExpr::lit(d as i64))
            .collect();
    }
    let mut body = std::mem::take(&mut f.body);
    rewrite_region(f, &mut body, p);
    f.body = body;
}

fn rewrite_region(f: &mut Func, r: &mut Region, p: Value) {
    let mut ops = Vec::with_capacity(r.ops.len() + 1);
    // The results of the rewritten loads: a cast of one takes its panel shape.
    let mut paneled = BTreeSet::new();
    for mut op in std::mem::take(&mut r.ops) {
        for inner in &mut op.regions {
            rewrite_region(f, inner, p);
        }
        if op.op == Op::Tile(TileOp::Cast) && op.operands.iter().any(|v| paneled.contains(v)) {
            let shape = tile_of(f, op.operands[0]).map(|t| t.shape.clone());
            if let (Some(shape), Some(&res)) = (shape, op.results.first()) {
                if let Type::Tile(t) = &mut f.values[res.index()].ty {
                    t.shape = shape;
                }
            }
        }
        if op.op == Op::Tile(TileOp::Load) && op.operands.first() == Some(&p) {
            let zero = f.new_value(Type::Index, None);
            let mut attrs = Attrs::new();
            attrs.set("value", Attr::Sizes(vec![SymExpr::lit(0)]));
            ops.push(Operation::new(
                Op::Tile(TileOp::Index),
                vec![],
                vec![zero],
                attrs,
            ));
            let (kk, jj) = (op.operands[1], op.operands[2]);
            op.operands = vec![p, jj, kk, zero];
            let res = op.results[0];
            paneled.insert(res);
            if let Type::Tile(t) = &mut f.values[res.index()].ty {
                let (kt, nt) = (t.shape[0], t.shape[1]);
                t.shape = vec![nt / PANEL as u64, kt, PANEL as u64];
            }
        }
        ops.push(op);
    }
    r.ops = ops;
}
