//! `tile.map` and the scalar graph operations of its region (and of 0-d values in a kernel
//! body).
//!
//! A map's operands and result have one static shape and are dense, so the map is one
//! loop over all elements. When every operand, the result and every region operation is
//! `f32` arithmetic with an inline vector form (`add sub mul div max min neg abs relu sqrt
//! recip`, the transcendentals of [`super::vmath`], constants, 0-d `f32` values from
//! outside), the loop runs on `f32x4` and a scalar loop does the last `n % 4` elements.
//! `mul` feeding only an `add`/`sub` is fused into `fma` on both paths (`f32` only).
//! Casts between `f32`, `i32` and `i8`, and `i8` operands and results, have four-lane
//! forms too ([`super::lane_cast`]). Everything else runs the scalar loop. `f32` transcendentals are the inline `f32x4`
//! sequences of [`super::vmath`] on both paths (one lane in the scalar loop, so results do
//! not depend on an element's position); `pow` and every transcendental of a narrow float
//! call the helpers of [`crate::helpers`] (computed in `f64`, rounded once).
//!
//! Narrow floats (`f16`, `bf16`, `f8e4m3`, `f8e5m2`) follow the interpreter's numerics
//! (DSL §5): an element is widened exactly to `f32` when the region reads it (`bf16`
//! inline, the others through [`crate::helpers::widen_bits`]); every operation computes
//! in `f32` exactly as for `f32` operands (same instructions, same helpers), and each
//! result of a narrow dtype is rounded at once to that dtype with IEEE semantics (nearest
//! even, overflow to ±inf, NaN for `f8e4m3`) by a call of
//! [`crate::helpers::round_arith`], which is `tessera_tensor::convert::round_arith`. So a
//! region value of a narrow dtype is always an `f32` holding a value of that dtype, and
//! the yielded value converts to storage bits exactly. Operations whose result is one of
//! their operands' values or exact in the dtype (`neg abs relu max min select`,
//! constants) need no rounding; `graph.cast` keeps the saturating `as` semantics of
//! [`crate::helpers::cast_bits`]. No `fma` fusion on narrow floats (the product is rounded
//! to the dtype before the add). One helper call per rounded element: correct first.

use super::lane_cast::lane_cast_supported;
use super::memory::Access;
use super::reduce::Kind;
use super::vmath::VMATH_OPS;
use super::{buf_flags, frame_flags, single_result, Lowerer, Val};
use crate::error::{invalid, unsupported, Result};
use crate::helpers::{dtype_code, CAST, NARROW, POW, ROUND, UNARY, WIDEN};
use crate::lower::memory::const_bits;
use crate::tile_layout::{arith_type, is_narrow_float, storage_type};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::MemFlagsData;
use cranelift_codegen::ir::{types, InstBuilder, Value as ClValue};
use std::collections::BTreeMap;
use tessera_dialects::{DType, GraphOp, Op, Operation, Region, Type, Value};

/// Graph ops with an inline `f32x4` form.
const VECTOR_OPS: &[GraphOp] = &[
    GraphOp::Constant,
    GraphOp::Add,
    GraphOp::Sub,
    GraphOp::Mul,
    GraphOp::Div,
    GraphOp::Max,
    GraphOp::Min,
    GraphOp::Neg,
    GraphOp::Abs,
    GraphOp::Relu,
    GraphOp::Sqrt,
    GraphOp::Recip,
];

/// The element values of a region being lowered: IR value -> SSA value.
struct Locals {
    vals: BTreeMap<Value, ClValue>,
    /// Products used once, by an `add`/`sub`: their factors (for `fma`).
    fusable: BTreeMap<Value, (ClValue, ClValue)>,
    lanes: bool,
}

/// Where a map reads an operand or writes its result: element `i` is at `base + i *
/// size`, read or written with `flags`.
#[derive(Clone, Copy)]
struct Operand {
    base: ClValue,
    flags: MemFlagsData,
    dtype: DType,
}

impl Operand {
    /// Bytes per element.
    fn size(&self) -> i64 {
        i64::from(crate::tile_layout::elem_bytes(self.dtype))
    }
}

/// Where a map operand comes from: its tile (a slot or a view's run) or one element
/// broadcast to the tile.
enum Src {
    Mem((crate::tile_layout::TileSlot, ClValue, MemFlagsData)),
    Splat(crate::tile_layout::TileSlot, Vec<usize>),
}

/// A map operand inside the loop: read at each point, or held in registers (`one` for
/// the scalar tail, `lanes` splat for the vector loops).
#[derive(Clone, Copy)]
enum In {
    Mem(Operand),
    Reg { one: ClValue, lanes: ClValue },
}

/// The `xmm` registers a map's loop may give to its constants and to the vectors it
/// carries (of sixteen: the rest hold the values it computes).
const CONST_REGS: usize = 12;

/// Maps of at most this many region ops (with the `tile.yield`) compute two vectors per
/// loop step.
const UNROLL_OPS: usize = 6;

impl Lowerer<'_, '_> {
    /// The dtype of a 0-d element value.
    fn elem_dtype(&self, v: Value) -> Result<DType> {
        match self.ty(v)? {
            Type::Tensor(t) if t.rank() == 0 => Ok(t.dtype),
            other => invalid(format!(
                "%{} must be a 0-d element value, found `{other}`",
                v.0
            )),
        }
    }

    /// A graph op in a kernel body, on 0-d values.
    pub(super) fn scalar_graph_op(&mut self, op: &Operation) -> Result<()> {
        let mut loc = Locals {
            vals: BTreeMap::new(),
            fusable: BTreeMap::new(),
            lanes: false,
        };
        let v = self.elem_op(op, &mut loc, &BTreeMap::new())?;
        let r = single_result(op)?;
        let d = self.elem_dtype(r)?;
        self.set(r, Val::Scalar(v, d))
    }

    /// `tile.map` (the largest region, in ops with its `tile.yield`, whose vector loop is
    /// unrolled twice: [`UNROLL_OPS`]).
    pub(super) fn map(&mut self, op: &Operation) -> Result<()> {
        self.map_into(op, None, &[], true)
    }

    /// `tile.map`, and when `store` is given the `tile.store` of its result that follows
    /// it (a contiguous run, see `Lowerer::block`): the map then writes the buffer
    /// directly when the run lies inside it, and otherwise its slot, stored as
    /// `tile.store` does. Operands that are views are read in place the same way, and
    /// operands that are broadcasts of one `f32`/`i32` element ([`Lowerer::splat_source`])
    /// are read once, before the loop, and used from a register.
    ///
    /// `reduces` are `tile.reduce`s (`f32` sum, max or min over the last axis of a
    /// one-row tile, see `Lowerer::block`) of the map's result: they are computed in the
    /// map's loop from the values in registers, into one running vector per unrolled
    /// vector and a running scalar for the tail, combined at the end (see
    /// [`super::reduce`] for the order). `write` is false when nothing else reads the
    /// result: the tile is then never written.
    pub(super) fn map_into(
        &mut self,
        op: &Operation,
        store: Option<&Operation>,
        reduces: &[&Operation],
        write: bool,
    ) -> Result<()> {
        let region = match op.regions.as_slice() {
            [r] => r,
            _ => return invalid("tile.map takes exactly one region"),
        };
        let out = self.result_slot(op)?;
        if region.args.len() != op.operands.len() {
            return invalid("tile.map: operands and region arguments differ in number");
        }
        let mut srcs = Vec::new();
        for v in &op.operands {
            let s = match self.splat_source(*v) {
                Some(_) => {
                    let t = self.tile(*v)?;
                    let shape = t.shape.clone();
                    Src::Splat(t, shape)
                }
                None => Src::Mem(self.operand_base(*v)?),
            };
            srcs.push(s);
        }
        for s in &srcs {
            let shape = match s {
                Src::Mem((t, _, _)) => &t.shape,
                Src::Splat(_, shape) => shape,
            };
            if *shape != out.shape {
                return invalid(format!(
                    "tile.map: all operands must have the result's shape {:?}, got {:?} (use tile.broadcast)",
                    out.shape, shape
                ));
            }
        }
        let out_slot_addr = self.slot_addr(&out);
        // Where the result goes: the store's run when it lies inside its buffer, else the
        // slot (then stored below).
        let target = match store {
            Some(st) => {
                if st.operands.len() < 2 || st.operands[0] != single_result(op)? {
                    return invalid("internal error: a fused store must store the map's result");
                }
                let buf = self.buffer(st.operands[1])?;
                if buf.dtype != out.dtype {
                    return invalid(format!(
                        "tile.store: cannot store a {} tile into a {} buffer",
                        out.dtype, buf.dtype
                    ));
                }
                let acc = Access::of(&st.attrs, buf.dims.len(), "tile.store")?;
                let idx = &st.operands[2..];
                if idx.len() != buf.dims.len() || out.shape.len() != buf.dims.len() {
                    return invalid("tile.store: indices, buffer and tile ranks differ");
                }
                let (ptr, full) = self.run_in_place(&buf, idx, &out, &acc)?;
                Some((buf, acc, full, ptr))
            }
            None => None,
        };
        let (dst, dflags) = match &target {
            Some((_, _, full, ptr)) => {
                (self.b.ins().select(*full, *ptr, out_slot_addr), buf_flags())
            }
            None => (out_slot_addr, frame_flags()),
        };
        let dst = (write || store.is_some()).then_some(Operand {
            base: dst,
            flags: dflags,
            dtype: out.dtype,
        });
        let uses = use_counts(region);
        let src_dtypes: Vec<DType> = srcs
            .iter()
            .map(|s| match s {
                Src::Mem((t, _, _)) => t.dtype,
                Src::Splat(t, _) => t.dtype,
            })
            .collect();
        let vector = self.vectorisable(region, &src_dtypes, out.dtype)?;
        // The fused reductions: kind and result slot.
        let mut folds = Vec::new();
        for r in reduces {
            let kind = Kind::of(r)?;
            if out.dtype != DType::F32 || out.shape.iter().rev().skip(1).any(|&d| d != 1) {
                return invalid(
                    "internal error: a fused reduction of a tile that is not one f32 row",
                );
            }
            let slot = self.result_slot(r)?;
            if slot.dtype != DType::F32 || slot.len() != 1 {
                return invalid("internal error: a fused reduction must give one f32 element");
            }
            folds.push((kind, slot));
        }
        // Operands read once: a broadcast element, splat for the vector loops.
        let mut ins: Vec<In> = Vec::with_capacity(srcs.len());
        for s in &srcs {
            ins.push(match s {
                Src::Mem((t, base, flags)) => In::Mem(Operand {
                    base: *base,
                    flags: *flags,
                    dtype: t.dtype,
                }),
                Src::Splat(t, _) => {
                    // The broadcast tile's first four elements: loads stay where they are
                    // put, before the loop, where Cranelift would sink a `splat` into it.
                    let a = self.slot_addr(t);
                    let x = self.load_elem(a, t.dtype, frame_flags())?;
                    let ty = if t.dtype == DType::I32 {
                        types::I32X4
                    } else {
                        types::F32X4
                    };
                    let v = if vector && out.len() >= 4 {
                        self.b.ins().load(ty, frame_flags(), a, 0)
                    } else {
                        x
                    };
                    In::Reg { one: x, lanes: v }
                }
            });
        }
        let n = out.len() as i64;
        let nv = if vector { n / 4 * 4 } else { 0 };
        // Regions of a few graph ops (a transcendental counts as one: the scales, the
        // statistics' combines, gelu+layernorm's prologue) take two vectors per step, so the
        // loop's add, compare and branch are paid once per eight elements; longer regions
        // keep one vector per step, as they would need more registers (not measured).
        let transcendental = region
            .ops
            .iter()
            .any(|o| matches!(o.op, Op::Graph(g) if VMATH_OPS.contains(&g)));
        let n8 = if region.ops.len() <= UNROLL_OPS && !transcendental {
            nv / 8 * 8
        } else {
            0
        };
        // The loops address every operand and the result from the element index (`base +
        // (i << log2 size) + offset`, one x86 addressing mode each), so an iteration adds
        // to the index only; they carry two running vectors and one running scalar per
        // fused reduction.
        let mem: Vec<Operand> = ins
            .iter()
            .filter_map(|i| match i {
                In::Mem(o) => Some(*o),
                In::Reg { .. } => None,
            })
            .chain(dst)
            .collect();
        let mut carry: Vec<ClValue> = Vec::new();
        for (kind, _) in &folds {
            let id = kind.identity();
            let c = self.b.ins().f32const(id);
            let v = self.b.ins().splat(types::F32X4, c);
            carry.extend([v, v, c]);
        }
        let np = mem.len();
        // The frame pointer, carried by the loops, for their constants (`Lowerer::vconst`).
        let outer_base = self.const_base;
        let first_load = self.const_loads.len();
        carry.push(self.frame_ptr);
        let mut at = self.iconst(0);
        for (end, step, lanes) in [(n8, 8, true), (nv, 4, true), (n, 1, false)] {
            let start_c = match step {
                8 => 0,
                4 => n8,
                _ => nv,
            };
            if end <= start_c {
                continue;
            }
            let end = self.iconst(end);
            let (next, c) = self.for_carry(at, end, step, carry, |l, i, mut accs| {
                let base = accs.pop();
                l.const_base = base;
                let moved: Vec<Operand> = mem
                    .iter()
                    .map(|o| {
                        let sh = o.size().trailing_zeros() as i64;
                        let off = if sh == 0 {
                            i
                        } else {
                            l.b.ins().ishl_imm_u(i, sh)
                        };
                        Operand {
                            base: l.b.ins().iadd(o.base, off),
                            ..*o
                        }
                    })
                    .collect();
                let mut it = moved.iter();
                let mi: Vec<In> = ins
                    .iter()
                    .map(|i| match i {
                        In::Mem(_) => In::Mem(*it.next().unwrap_or(&moved[0])),
                        r => *r,
                    })
                    .collect();
                let mo = dst.map(|_| moved[np - 1]);
                let per = if step == 8 { 4 } else { step };
                for half in 0..step / per {
                    let v = l.map_point(region, &mi, mo.as_ref(), half * per, lanes, &uses)?;
                    for (k, (kind, _)) in folds.iter().enumerate() {
                        let j = 3 * k + if lanes { half as usize } else { 2 };
                        accs[j] = l.combine(*kind, accs[j], v);
                    }
                }
                // `p + 0`, not `p`: Cranelift removes a block parameter that every edge
                // passes unchanged (before the e-graph folds the add), and the loads of
                // the constants would then be hoisted after all.
                if let Some(p) = base {
                    let p = l.add_c(p, 0);
                    accs.push(p);
                }
                Ok(accs)
            })?;
            at = next;
            carry = c;
        }
        self.const_base = outer_base;
        // Constants in registers when they leave room for the values the loop carries (a
        // running vector per fused reduction, each splat operand) and about four it
        // computes.
        let held = folds.len() * if n8 > 0 { 2 } else { 1 }
            + ins.iter().filter(|i| matches!(i, In::Reg { .. })).count();
        self.consts_to_registers(first_load, CONST_REGS.saturating_sub(held));
        for (k, (kind, slot)) in folds.iter().enumerate() {
            let c = &carry[3 * k..3 * k + 3];
            let mut r = c[2];
            if nv > 0 {
                let v = if n8 > 0 {
                    self.combine(*kind, c[0], c[1])
                } else {
                    c[0]
                };
                let h = self.horizontal(*kind, v);
                r = if nv < n {
                    self.combine(*kind, h, c[2])
                } else {
                    h
                };
            }
            let a = self.slot_addr(slot);
            self.b.ins().store(frame_flags(), r, a, 0);
        }
        for (r, (_, slot)) in reduces.iter().zip(folds) {
            self.set(single_result(r)?, Val::Tile(slot))?;
        }
        if let Some((buf, acc, full, _)) = target {
            let spill = self.b.create_block();
            let join = self.b.create_block();
            self.b.ins().brif(full, join, &[], spill, &[]);
            self.b.switch_to_block(spill);
            let st = store.map(|s| s.operands[2..].to_vec()).unwrap_or_default();
            self.store_slot(&buf, &st, &out, &acc)?;
            self.b.ins().jump(join, &[]);
            self.b.switch_to_block(join);
        }
        self.set(single_result(op)?, Val::Tile(out))
    }

    /// Whether the map can run on four lanes: `f32` and `i32` tiles (`f32x4`, `i32x4`),
    /// `f32` arithmetic with an inline vector form, `i32` `add sub mul max min neg abs
    /// relu`, comparisons of `f32` or `i32` values (an `i32x4` lane mask) and `select`
    /// between `f32` or `i32` values.
    /// `i8` operands and results are read and written as `i32x4` lanes, and only casts
    /// may touch them ([`super::lane_cast`]).
    fn vectorisable(&self, region: &Region, srcs: &[DType], out: DType) -> Result<bool> {
        let lane = |d: DType| matches!(d, DType::F32 | DType::I32);
        let io = |d: DType| lane(d) || d == DType::I8;
        if !io(out) || srcs.iter().any(|d| !io(*d)) {
            return Ok(false);
        }
        use GraphOp as G;
        // Values from outside the region are splatted: only f32 and i32 ones can be.
        let mut inside: Vec<Value> = region.args.clone();
        inside.extend(region.ops.iter().flat_map(|o| o.results.iter().copied()));
        for op in &region.ops {
            for v in &op.operands {
                if !inside.contains(v) && !lane(self.elem_dtype(*v)?) {
                    return Ok(false);
                }
            }
        }
        for op in &region.ops {
            let g = match op.op {
                Op::Graph(g) => g,
                Op::Tile(_) => continue,
            };
            let dts = op
                .operands
                .iter()
                .map(|v| self.elem_dtype(*v))
                .collect::<Result<Vec<_>>>()?;
            let rd = match op.results.as_slice() {
                [r] => self.elem_dtype(*r)?,
                _ => return Ok(false),
            };
            let all = |d: DType| dts.iter().all(|x| *x == d);
            let ok = match g {
                G::Constant => lane(rd),
                _ if VECTOR_OPS.contains(&g) || VMATH_OPS.contains(&g) => {
                    (rd == DType::F32 && all(DType::F32))
                        || (rd == DType::I32
                            && all(DType::I32)
                            && matches!(
                                g,
                                G::Add
                                    | G::Sub
                                    | G::Mul
                                    | G::Max
                                    | G::Min
                                    | G::Neg
                                    | G::Abs
                                    | G::Relu
                            ))
                }
                G::Lt | G::Le | G::Gt | G::Ge | G::Eq | G::Ne => {
                    rd == DType::Bool && (all(DType::F32) || all(DType::I32))
                }
                // A cast that rounds as arithmetic has four lanes to bf16 only.
                G::Cast if op.attrs.str("round").is_some() => {
                    dts == [DType::F32] && matches!(rd, DType::F32 | DType::BF16)
                }
                G::Cast => dts.len() == 1 && lane_cast_supported(dts[0], rd),
                G::Select => {
                    lane(rd)
                        && dts.len() == 3
                        && dts[0] == DType::Bool
                        && dts[1] == rd
                        && dts[2] == rd
                }
                _ => false,
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Computes the map at element `e` from the operands (4 elements when `lanes`),
    /// stores it through `out` when given and returns it.
    fn map_point(
        &mut self,
        region: &Region,
        srcs: &[In],
        out: Option<&Operand>,
        e: i64,
        lanes: bool,
        uses: &BTreeMap<Value, usize>,
    ) -> Result<ClValue> {
        let mut loc = Locals {
            vals: BTreeMap::new(),
            fusable: BTreeMap::new(),
            lanes,
        };
        for (a, s) in region.args.iter().zip(srcs) {
            let s = match s {
                In::Reg { one, lanes: v } => {
                    loc.vals.insert(*a, if lanes { *v } else { *one });
                    continue;
                }
                In::Mem(s) => s,
            };
            let addr = self.add_c(s.base, e * s.size());
            let v = if lanes && s.dtype == DType::I8 {
                self.load_i8_lanes(addr, s.flags)
            } else if lanes {
                let ty = if s.dtype == DType::I32 {
                    types::I32X4
                } else {
                    types::F32X4
                };
                self.b.ins().load(ty, s.flags, addr, 0)
            } else {
                self.load_elem(addr, s.dtype, s.flags)?
            };
            loc.vals.insert(*a, v);
        }
        for (k, op) in region.ops.iter().enumerate() {
            if op.op == Op::Tile(tessera_dialects::TileOp::Yield) {
                if k + 1 != region.ops.len() || op.operands.len() != 1 {
                    return invalid(
                        "tile.map: the region must end with tile.yield of one element value",
                    );
                }
                let v = self.elem_value(op.operands[0], &loc)?;
                let d = self.elem_dtype(op.operands[0])?;
                if let Some(out) = out {
                    if d != out.dtype {
                        return invalid(format!(
                            "tile.map: the region yields {d} for a {} tile",
                            out.dtype
                        ));
                    }
                    let addr = self.add_c(out.base, e * out.size());
                    if lanes && out.dtype == DType::I8 {
                        self.store_i8_lanes(v, addr, out.flags);
                    } else if lanes {
                        self.b.ins().store(out.flags, v, addr, 0);
                    } else {
                        self.store_elem(v, out.dtype, addr, out.flags)?;
                    }
                }
                return Ok(v);
            }
            if matches!(op.op, Op::Tile(_)) {
                return invalid(
                    "a tile.map region may hold graph operations and its tile.yield only",
                );
            }
            let v = self.elem_op(op, &mut loc, uses)?;
            let r = single_result(op)?;
            loc.vals.insert(r, v);
        }
        invalid("tile.map: the region must end with tile.yield")
    }

    /// The SSA value of element value `v`: a region value, or a 0-d value from outside
    /// (splat when lowering lanes).
    fn elem_value(&mut self, v: Value, loc: &Locals) -> Result<ClValue> {
        if let Some(x) = loc.vals.get(&v) {
            return Ok(*x);
        }
        match self.get(v)? {
            Val::Scalar(x, d) => {
                let (x, d) = (*x, *d);
                let ty = match d {
                    DType::F32 => types::F32X4,
                    DType::I32 => types::I32X4,
                    _ if loc.lanes => {
                        return invalid(format!("%{} is {d}, used in a four-lane map", v.0))
                    }
                    _ => types::F32X4,
                };
                Ok(if loc.lanes {
                    self.b.ins().splat(ty, x)
                } else {
                    x
                })
            }
            _ => invalid(format!("%{} must be an element value", v.0)),
        }
    }

    fn fconst(&mut self, x: f32, lanes: bool) -> ClValue {
        let c = self.b.ins().f32const(x);
        if lanes {
            self.b.ins().splat(types::F32X4, c)
        } else {
            c
        }
    }

    /// Lowers one graph op on element values.
    fn elem_op(
        &mut self,
        op: &Operation,
        loc: &mut Locals,
        uses: &BTreeMap<Value, usize>,
    ) -> Result<ClValue> {
        let g = match op.op {
            Op::Graph(g) => g,
            Op::Tile(_) => return invalid("expected a graph operation"),
        };
        let r = single_result(op)?;
        let rd = self.elem_dtype(r)?;
        let name = g.def().name;
        let rty = arith_type(rd);
        let args = op
            .operands
            .iter()
            .map(|v| self.elem_value(*v, loc))
            .collect::<Result<Vec<_>>>()?;
        let ad = match op.operands.first() {
            Some(v) => self.elem_dtype(*v)?,
            None => rd,
        };
        let arity = |n: usize| -> Result<()> {
            if args.len() == n {
                Ok(())
            } else {
                invalid(format!(
                    "graph.{name} expects {n} operand(s), got {}",
                    args.len()
                ))
            }
        };
        let lanes = loc.lanes;
        let float = ad.is_float();
        // Whether the f32 result must be rounded to a narrow float dtype.
        let round = is_narrow_float(rd);
        let int = matches!(ad, DType::I32 | DType::I8);
        use GraphOp as G;
        let v = match g {
            G::Constant => {
                arity(0)?;
                let Some(value) = op.attrs.get("value") else {
                    return invalid("graph.constant: missing attribute `value`");
                };
                let bits = const_bits(value, rd)?;
                match rd {
                    DType::F32 => self.fconst(f32::from_bits(bits), lanes),
                    // The literal rounded to the dtype (as the interpreter), held as f32.
                    d if d.is_float() => {
                        let x = crate::helpers::widen_bits(bits, dtype_code(d));
                        self.fconst(x, lanes)
                    }
                    _ => {
                        let c = self.b.ins().iconst(rty, i64::from(bits as i32));
                        if lanes {
                            self.b.ins().splat(types::I32X4, c)
                        } else {
                            c
                        }
                    }
                }
            }
            G::Add | G::Sub | G::Mul | G::Div | G::Max | G::Min if float => {
                arity(2)?;
                let (a, b) = (args[0], args[1]);
                // a*b + c and c + a*b, a*b - c: one fma when the product has no other use.
                let fused = |v: &Value| loc.fusable.get(v).copied();
                let ops = (&op.operands[0], &op.operands[1]);
                let v = match g {
                    G::Add if fused(ops.0).is_some() => {
                        let (x, y) = fused(ops.0).unwrap_or((a, a));
                        self.b.ins().fma(x, y, b)
                    }
                    G::Add if fused(ops.1).is_some() => {
                        let (x, y) = fused(ops.1).unwrap_or((b, b));
                        self.b.ins().fma(x, y, a)
                    }
                    G::Sub if fused(ops.0).is_some() => {
                        let (x, y) = fused(ops.0).unwrap_or((a, a));
                        let nb = self.b.ins().fneg(b);
                        self.b.ins().fma(x, y, nb)
                    }
                    G::Add => self.b.ins().fadd(a, b),
                    G::Sub => self.b.ins().fsub(a, b),
                    G::Mul => {
                        let m = self.b.ins().fmul(a, b);
                        let only_use_is_add = uses.get(&r) == Some(&1) && !round;
                        if only_use_is_add {
                            loc.fusable.insert(r, (a, b));
                        }
                        m
                    }
                    G::Div => self.b.ins().fdiv(a, b),
                    G::Max => self.b.ins().fmax(a, b),
                    _ => self.b.ins().fmin(a, b),
                };
                // max/min give one of the operands (or NaN): already in the dtype.
                match g {
                    G::Max | G::Min => v,
                    _ => self.round_narrow(v, rd)?,
                }
            }
            G::Add | G::Sub | G::Mul | G::Max | G::Min if int => {
                arity(2)?;
                let (a, b) = (args[0], args[1]);
                match g {
                    G::Add => self.b.ins().iadd(a, b),
                    G::Sub => self.b.ins().isub(a, b),
                    G::Mul => self.b.ins().imul(a, b),
                    G::Max => self.b.ins().smax(a, b),
                    _ => self.b.ins().smin(a, b),
                }
            }
            // Floor division as the interpreter (`floor_div`): x / 0 == 0, MIN / -1 wraps;
            // i8 divides in i32 and wraps back. No trapping `sdiv` operand reaches the CPU.
            G::Div if int && !lanes => {
                arity(2)?;
                let (a, b) = if ad == DType::I8 {
                    (
                        self.b.ins().sextend(types::I32, args[0]),
                        self.b.ins().sextend(types::I32, args[1]),
                    )
                } else {
                    (args[0], args[1])
                };
                let zero = self.b.ins().iconst(types::I32, 0);
                let one = self.b.ins().iconst(types::I32, 1);
                let bz = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
                let bm1 = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
                let bad = self.b.ins().bor(bz, bm1);
                let d = self.b.ins().select(bad, one, b);
                let q = self.b.ins().sdiv(a, d);
                let r = self.b.ins().srem(a, d);
                let rnz = self.b.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
                let x = self.b.ins().bxor(r, d);
                let neg = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, x, 0);
                let adj = self.b.ins().band(rnz, neg);
                let q1 = self.b.ins().iadd_imm_s(q, -1);
                let q = self.b.ins().select(adj, q1, q);
                let na = self.b.ins().ineg(a);
                let q = self.b.ins().select(bm1, na, q);
                let q = self.b.ins().select(bz, zero, q);
                if ad == DType::I8 {
                    self.b.ins().ireduce(types::I8, q)
                } else {
                    q
                }
            }
            G::Neg | G::Abs | G::Relu | G::Sqrt | G::Recip if float => {
                arity(1)?;
                let x = args[0];
                match g {
                    // Exact in every float dtype.
                    G::Neg => self.b.ins().fneg(x),
                    G::Abs => self.b.ins().fabs(x),
                    G::Sqrt => {
                        let v = self.b.ins().sqrt(x);
                        self.round_narrow(v, rd)?
                    }
                    G::Recip => {
                        let one = self.fconst(1.0, lanes);
                        let v = self.b.ins().fdiv(one, x);
                        self.round_narrow(v, rd)?
                    }
                    // fmax propagates NaN and gives +0 for -0, as the interpreter's relu.
                    _ => {
                        let z = self.fconst(0.0, lanes);
                        self.b.ins().fmax(x, z)
                    }
                }
            }
            G::Neg | G::Abs | G::Relu if int => {
                arity(1)?;
                let x = args[0];
                match g {
                    G::Neg => self.b.ins().ineg(x),
                    G::Abs => self.b.ins().iabs(x),
                    _ => {
                        let z = self.b.ins().iconst(rty, 0);
                        let z = if lanes {
                            self.b.ins().splat(types::I32X4, z)
                        } else {
                            z
                        };
                        self.b.ins().smax(x, z)
                    }
                }
            }
            // On lanes the result is an `i32x4` mask (all ones where true).
            G::Lt | G::Le | G::Gt | G::Ge | G::Eq | G::Ne if float || int || ad == DType::Bool => {
                arity(2)?;
                let (a, b) = (args[0], args[1]);
                if float {
                    let cc = match g {
                        G::Lt => FloatCC::LessThan,
                        G::Le => FloatCC::LessThanOrEqual,
                        G::Gt => FloatCC::GreaterThan,
                        G::Ge => FloatCC::GreaterThanOrEqual,
                        G::Eq => FloatCC::Equal,
                        _ => FloatCC::NotEqual,
                    };
                    self.b.ins().fcmp(cc, a, b)
                } else {
                    let cc = match g {
                        G::Lt => IntCC::SignedLessThan,
                        G::Le => IntCC::SignedLessThanOrEqual,
                        G::Gt => IntCC::SignedGreaterThan,
                        G::Ge => IntCC::SignedGreaterThanOrEqual,
                        G::Eq => IntCC::Equal,
                        _ => IntCC::NotEqual,
                    };
                    self.b.ins().icmp(cc, a, b)
                }
            }
            G::Select => {
                arity(3)?;
                if ad != DType::Bool {
                    return invalid("graph.select: the condition must be bool");
                }
                if lanes {
                    let m = if rd == DType::F32 {
                        self.b
                            .ins()
                            .bitcast(types::F32X4, MemFlagsData::new(), args[0])
                    } else {
                        args[0]
                    };
                    self.b.ins().bitselect(m, args[1], args[2])
                } else {
                    self.b.ins().select(args[0], args[1], args[2])
                }
            }
            G::Pow if float && !lanes => {
                arity(2)?;
                let f = self.helper(POW, &[types::F32, types::F32], types::F32)?;
                let call = self.b.ins().call(f, &[args[0], args[1]]);
                let v = self.b.inst_results(call)[0];
                self.round_narrow(v, rd)?
            }
            // `round = "arith"`: an f32 value rounded as arithmetic rounds (overflow to
            // inf, NaN in f8e4m3), not saturated as `as`.
            G::Cast if op.attrs.str("round").is_some() => {
                arity(1)?;
                if op.attrs.str("round") != Some("arith") || ad != DType::F32 || !rd.is_float() {
                    return invalid("graph.cast: `round = \"arith\"` rounds f32 to a float dtype");
                }
                match (lanes, rd) {
                    (_, DType::F32) => args[0],
                    (true, _) => self.round_bf16_with(args[0], true, false),
                    (false, _) => self.round_narrow(args[0], rd)?,
                }
            }
            G::Cast if !lanes => {
                arity(1)?;
                self.elem_cast(args[0], ad, rd)?
            }
            G::Cast => {
                arity(1)?;
                self.lane_cast(args[0], ad, rd)?
            }
            // f32 transcendentals inline (lanes or one lane); narrow floats keep the
            // helpers (computed in f64, rounded once, then to the dtype).
            _ if ad == DType::F32 && rd == DType::F32 && VMATH_OPS.contains(&g) => {
                arity(1)?;
                self.vmath(g, args[0], lanes)
            }
            _ if float && !lanes && UNARY.iter().any(|(n, _, _)| *n == name) => {
                arity(1)?;
                let sym = UNARY
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .map(|(_, s, _)| *s)
                    .unwrap_or("");
                let f = self.helper(sym, &[types::F32], types::F32)?;
                let call = self.b.ins().call(f, &[args[0]]);
                let v = self.b.inst_results(call)[0];
                self.round_narrow(v, rd)?
            }
            _ => return unsupported(format!("graph.{name} on {ad} elements")),
        };
        Ok(v)
    }

    /// `graph.cast` of one element value: the saturating `as` conversion of
    /// [`crate::helpers::cast_bits`] (`tessera_tensor::convert::cast`). A narrow float
    /// source is already an exact `f32` value, converted as that value (the same result
    /// as from its storage bits); a narrow float target comes back as storage bits and
    /// is widened exactly.
    fn elem_cast(&mut self, x: ClValue, from: DType, to: DType) -> Result<ClValue> {
        let tty = arith_type(to);
        let from = if is_narrow_float(from) {
            DType::F32
        } else {
            from
        };
        if from == to {
            return Ok(x);
        }
        if (from, to) == (DType::F32, DType::BF16) {
            return Ok(self.round_bf16(x, false));
        }
        if (from, to) == (DType::F32, DType::F16) {
            return Ok(self.round_f16(x, false));
        }
        let bits = match from {
            DType::F32 => {
                self.b
                    .ins()
                    .bitcast(types::I32, cranelift_codegen::ir::MemFlagsData::new(), x)
            }
            DType::I32 => x,
            _ => self.b.ins().uextend(types::I32, x),
        };
        let f = self.helper(CAST, &[types::I32, types::I32, types::I32], types::I32)?;
        let (a, b) = (
            self.b.ins().iconst(types::I32, i64::from(dtype_code(from))),
            self.b.ins().iconst(types::I32, i64::from(dtype_code(to))),
        );
        let call = self.b.ins().call(f, &[bits, a, b]);
        let out = self.b.inst_results(call)[0];
        if is_narrow_float(to) {
            return self.widen(out, to);
        }
        Ok(match tty {
            types::F32 => {
                self.b
                    .ins()
                    .bitcast(types::F32, cranelift_codegen::ir::MemFlagsData::new(), out)
            }
            types::I32 => out,
            t => self.b.ins().ireduce(t, out),
        })
    }
}

impl Lowerer<'_, '_> {
    /// Rounds the `f32` result `v` of arithmetic to `d` when `d` is a narrow float (the
    /// interpreter's `round_arith`); other dtypes pass through.
    pub(super) fn round_narrow(&mut self, v: ClValue, d: DType) -> Result<ClValue> {
        if !is_narrow_float(d) {
            return Ok(v);
        }
        let f = self.helper(ROUND, &[types::F32, types::I32], types::F32)?;
        let c = self.b.ins().iconst(types::I32, i64::from(dtype_code(d)));
        let call = self.b.ins().call(f, &[v, c]);
        Ok(self.b.inst_results(call)[0])
    }

    /// The exact `f32` value of the storage bits `bits` (an `i32` value) of narrow float
    /// `d`: `bf16` inline (its bits are the top half of the `f32`'s), others by helper.
    pub(super) fn widen(&mut self, bits: ClValue, d: DType) -> Result<ClValue> {
        if d == DType::BF16 {
            let w = self.b.ins().ishl_imm_u(bits, 16);
            return Ok(self.b.ins().bitcast(types::F32, MemFlagsData::new(), w));
        }
        let f = self.helper(WIDEN, &[types::I32, types::I32], types::F32)?;
        let c = self.b.ins().iconst(types::I32, i64::from(dtype_code(d)));
        let call = self.b.ins().call(f, &[bits, c]);
        Ok(self.b.inst_results(call)[0])
    }

    /// Loads the element of dtype `d` at `addr` as an element value ([`arith_type`]).
    pub(super) fn load_elem(
        &mut self,
        addr: ClValue,
        d: DType,
        flags: MemFlagsData,
    ) -> Result<ClValue> {
        if !is_narrow_float(d) {
            return Ok(self.b.ins().load(arith_type(d), flags, addr, 0));
        }
        let raw = self.b.ins().load(storage_type(d), flags, addr, 0);
        let bits = self.b.ins().uextend(types::I32, raw);
        self.widen(bits, d)
    }

    /// Stores element value `v` of dtype `d` at `addr` in `d`'s storage form (a narrow
    /// float value is exact in `d`, so its bits are exact).
    pub(super) fn store_elem(
        &mut self,
        v: ClValue,
        d: DType,
        addr: ClValue,
        flags: MemFlagsData,
    ) -> Result<()> {
        if !is_narrow_float(d) {
            self.b.ins().store(flags, v, addr, 0);
            return Ok(());
        }
        let bits = if d == DType::BF16 {
            let b = self.b.ins().bitcast(types::I32, MemFlagsData::new(), v);
            self.b.ins().ushr_imm_u(b, 16)
        } else {
            let f = self.helper(NARROW, &[types::F32, types::I32], types::I32)?;
            let c = self.b.ins().iconst(types::I32, i64::from(dtype_code(d)));
            let call = self.b.ins().call(f, &[v, c]);
            self.b.inst_results(call)[0]
        };
        let s = self.b.ins().ireduce(storage_type(d), bits);
        self.b.ins().store(flags, s, addr, 0);
        Ok(())
    }
}

/// How often each value of a region is used (to find fusable products).
fn use_counts(region: &Region) -> BTreeMap<Value, usize> {
    let mut out = BTreeMap::new();
    for op in &region.ops {
        for v in &op.operands {
            *out.entry(*v).or_insert(0) += 1;
        }
    }
    // A product used by anything but an add/sub (first operand for sub) is not fusable.
    for op in &region.ops {
        let ok = |i: usize| match op.op {
            Op::Graph(GraphOp::Add) => true,
            Op::Graph(GraphOp::Sub) => i == 0,
            _ => false,
        };
        for (i, v) in op.operands.iter().enumerate() {
            if !ok(i) {
                out.insert(*v, usize::MAX);
            }
        }
    }
    out
}
