//! `tile.reduce` (sum, max, min) on `f32`, narrow float (`f16`, `bf16`, `f8e4m3`,
//! `f8e5m2`), `i32` and `i8` tiles, and `argmax` on every dtype (scalar: the index of the
//! first maximum, a NaN counting as the maximum as in the interpreter and NumPy).
//!
//! Narrow floats and integers take one scalar path that mirrors the interpreter's
//! `kernels::reduce` bit for bit: a narrow float sum accumulates the exact `f32` values
//! in `f64` from `+0.0` in the order of the reduced axis (the interpreter's order for one
//! output) and rounds once (`f64 -> f32`, then `round_arith` to the dtype: overflow gives
//! inf, or NaN in `f8e4m3`); max/min start from the first element and combine with
//! IEEE 754-2019 `maximum`/`minimum` (`fmax`/`fmin`: NaN for good once a NaN is seen,
//! `-0` below `+0`; exact, no rounding);
//! integer sums wrap in `i32` and an `i8` sum wraps to `i8`; integer max/min are exact.
//! `bool` sum/max/min are refused (as by the interpreter).
//!
//! `f32` tiles: with the tile seen as
//! `outer x len x inner` around the reduced axis: when `inner` is a multiple of 4 the
//! reduction runs on `f32x4` columns; when the reduced axis is the last one and `len` is a
//! multiple of 16 it keeps sixteen partial results in four independent `f32x4` accumulators
//! (a multiple of 4: one) and combines them at the end; otherwise it is scalar and
//! sequential. Sums therefore associate differently from
//! the interpreter's (which sums in `f64`): equal within `len * eps * sum |x|`.

use super::{frame_flags, single_result, Lowerer, Val};
use crate::error::{invalid, unsupported, Result};
use crate::tile_layout::{arith_type, TileSlot};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, InstBuilder, Value as ClValue};
use tessera_dialects::{DType, Operation};

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Sum,
    Max,
    Min,
}

impl Kind {
    /// The kind of a `tile.reduce` other than `argmax`.
    pub(super) fn of(op: &Operation) -> Result<Kind> {
        match op.attrs.str("kind") {
            Some("sum") => Ok(Kind::Sum),
            Some("max") => Ok(Kind::Max),
            Some("min") => Ok(Kind::Min),
            k => invalid(format!(
                "tile.reduce: `kind` must be sum, max or min, got {k:?}"
            )),
        }
    }

    /// The identity of the `f32` combine: `-0` for sums (`-0 + x` is `x` for every `x`,
    /// `-0` included), `-inf` for maxima, `+inf` for minima.
    pub(super) fn identity(self) -> f32 {
        match self {
            Kind::Sum => -0.0,
            Kind::Max => f32::NEG_INFINITY,
            Kind::Min => f32::INFINITY,
        }
    }
}

impl Lowerer<'_, '_> {
    pub(super) fn combine(&mut self, k: Kind, a: ClValue, b: ClValue) -> ClValue {
        match k {
            Kind::Sum => self.b.ins().fadd(a, b),
            Kind::Max => self.b.ins().fmax(a, b),
            Kind::Min => self.b.ins().fmin(a, b),
        }
    }

    /// The combine of the four lanes of `v`, as `(x0 . x1) . (x2 . x3)`.
    pub(super) fn horizontal(&mut self, k: Kind, v: ClValue) -> ClValue {
        let lane = |l: &mut Self, j: u8| l.b.ins().extractlane(v, j);
        let (x0, x1, x2, x3) = (lane(self, 0), lane(self, 1), lane(self, 2), lane(self, 3));
        let p = self.combine(k, x0, x1);
        let q = self.combine(k, x2, x3);
        self.combine(k, p, q)
    }

    /// A reduction over an axis of extent 1 (the max or min of one element is that element,
    /// NaN and -0 included, and so is an `f32` sum here, see `columns`) of a tile in its
    /// own slot:
    /// the result is the same slot seen without that axis (C order keeps every element's
    /// offset), so no code is emitted. Slots of `tile.for` iteration values are excluded,
    /// since every iteration overwrites them. Returns whether it applied.
    fn reduce_unit_axis(&mut self, op: &Operation, xv: tessera_dialects::Value) -> Result<bool> {
        let Val::Tile(x) = self.get(xv)? else {
            return Ok(false);
        };
        let axis = op.attrs.int("axis").and_then(|a| usize::try_from(a).ok());
        let kind = op.attrs.str("kind");
        let (Some(axis), Some("sum" | "max" | "min")) = (axis, kind) else {
            return Ok(false);
        };
        if x.shape.get(axis) != Some(&1) || self.carried.contains(&x.offset) {
            return Ok(false);
        }
        // The exact sums of other dtypes start from +0 (a -0 element sums to +0).
        if kind == Some("sum") && x.dtype != DType::F32 {
            return Ok(false);
        }
        let r = single_result(op)?;
        let mut shape = x.shape.clone();
        shape.remove(axis);
        let view = TileSlot {
            offset: x.offset,
            dtype: x.dtype,
            shape,
        };
        match self.ty(r)? {
            tessera_dialects::Type::Tile(t)
                if t.dtype == view.dtype
                    && t.shape
                        .iter()
                        .map(|d| *d as usize)
                        .eq(view.shape.iter().copied()) => {}
            _ => return Ok(false),
        }
        self.set(r, Val::Tile(view))?;
        Ok(true)
    }

    pub(super) fn reduce(&mut self, op: &Operation) -> Result<()> {
        let xv = match op.operands.as_slice() {
            [x] => *x,
            _ => return invalid("tile.reduce expects one operand"),
        };
        if self.reduce_unit_axis(op, xv)? {
            return Ok(());
        }
        // f32 tiles are read where they are (a view's buffer run, see `operand_base`),
        // others from their slot.
        let (x, xbase, xflags) = match self.get(xv)? {
            Val::View(v) if v.slot.dtype == DType::F32 => self.operand_base(xv)?,
            _ => {
                let x = self.operand_slot(xv)?;
                let a = self.slot_addr(&x);
                (x, a, frame_flags())
            }
        };
        let out = self.result_slot(op)?;
        if x.dtype == DType::Bool {
            return unsupported(format!("tile.reduce on {} tiles", x.dtype));
        }
        if out.dtype != x.dtype {
            return invalid(format!(
                "tile.reduce: the result dtype {} differs from the operand's {}",
                out.dtype, x.dtype
            ));
        }
        let axis = op.attrs.int("axis").unwrap_or(-1);
        let Some(axis) = usize::try_from(axis).ok().filter(|a| *a < x.shape.len()) else {
            return invalid(format!(
                "tile.reduce: axis {axis} is not an axis of a rank-{} tile",
                x.shape.len()
            ));
        };
        let kind = Kind::of(op)?;
        let mut want = x.shape.clone();
        want.remove(axis);
        if want != out.shape {
            return invalid(format!(
                "tile.reduce: result shape {:?}, expected {want:?}",
                out.shape
            ));
        }
        let outer: i64 = x.shape[..axis].iter().product::<usize>() as i64;
        let len = x.shape[axis] as i64;
        let inner: i64 = x.shape[axis + 1..].iter().product::<usize>() as i64;
        if x.dtype != DType::F32 {
            self.reduce_exact(kind, &x, &out, outer, len, inner)?;
            return self.set(single_result(op)?, Val::Tile(out));
        }
        if len == 0 {
            let id = match kind {
                Kind::Sum => 0f32,
                Kind::Max => f32::NEG_INFINITY,
                Kind::Min => f32::INFINITY,
            };
            let bits = self.bits_const(id.to_bits(), DType::F32);
            let dst = self.slot_addr(&out);
            let n = self.iconst(out.len() as i64);
            self.fill_elems(dst, n, 4, bits, frame_flags())?;
            return self.set(single_result(op)?, Val::Tile(out));
        }
        let os = out.clone();
        // Element (o, k, i) of x and (o, i) of out.
        let at_x = |l: &mut Self, o: ClValue, k: ClValue, i: ClValue| {
            let a = l.mul_c(o, len * inner);
            let b = l.mul_c(k, inner);
            let e = l.b.ins().iadd(a, b);
            let e = l.b.ins().iadd(e, i);
            let e = l.mul_c(e, 4);
            l.b.ins().iadd(xbase, e)
        };
        let at_out = |l: &mut Self, o: ClValue, i: ClValue| {
            let a = l.mul_c(o, inner);
            let e = l.b.ins().iadd(a, i);
            l.elem_addr(&os, e)
        };
        // Columns of a vector (when the inner size allows) or of one element: one running
        // value per column, combined along the reduced axis.
        let columns = |l: &mut Self, ty, step: i64| {
            l.for_const(0, outer, 1, |l, o| {
                l.for_const(0, inner, step, |l, i| {
                    let zero = l.iconst(0);
                    let a0 = at_x(l, o, zero, i);
                    let init = l.b.ins().load(ty, xflags, a0, 0);
                    let (one, end) = (l.iconst(1), l.iconst(len));
                    let (_, acc) = l.for_carry(one, end, 1, vec![init], |l, k, acc| {
                        let a = at_x(l, o, k, i);
                        let v = l.b.ins().load(ty, xflags, a, 0);
                        Ok(vec![l.combine(kind, acc[0], v)])
                    })?;
                    let d = at_out(l, o, i);
                    l.b.ins().store(frame_flags(), acc[0], d, 0);
                    Ok(())
                })
            })
        };
        if inner % 4 == 0 {
            columns(self, types::F32X4, 4)?;
        } else if inner == 1 && len % 16 == 0 {
            // Four independent f32x4 accumulators (16 elements a step), combined at the end.
            self.for_const(0, outer, 1, |l, o| {
                let zero = l.iconst(0);
                let mut init = Vec::new();
                for j in 0..4 {
                    let a = at_x(l, o, zero, zero);
                    init.push(l.b.ins().load(types::F32X4, xflags, a, 16 * j));
                }
                let (sixteen, end) = (l.iconst(16), l.iconst(len));
                let (_, acc) = l.for_carry(sixteen, end, 16, init, |l, k, acc| {
                    let a = at_x(l, o, k, zero);
                    let mut next = Vec::new();
                    for (j, c) in acc.iter().enumerate() {
                        let v = l.b.ins().load(types::F32X4, xflags, a, 16 * j as i32);
                        next.push(l.combine(kind, *c, v));
                    }
                    Ok(next)
                })?;
                let p = l.combine(kind, acc[0], acc[1]);
                let q = l.combine(kind, acc[2], acc[3]);
                let v = l.combine(kind, p, q);
                let r = l.horizontal(kind, v);
                let d = at_out(l, o, zero);
                l.b.ins().store(frame_flags(), r, d, 0);
                Ok(())
            })?;
        } else if inner == 1 && len % 4 == 0 {
            self.for_const(0, outer, 1, |l, o| {
                let zero = l.iconst(0);
                let a0 = at_x(l, o, zero, zero);
                let init = l.b.ins().load(types::F32X4, xflags, a0, 0);
                let (four, end) = (l.iconst(4), l.iconst(len));
                let (_, acc) = l.for_carry(four, end, 4, vec![init], |l, k, acc| {
                    let a = at_x(l, o, k, zero);
                    let v = l.b.ins().load(types::F32X4, xflags, a, 0);
                    Ok(vec![l.combine(kind, acc[0], v)])
                })?;
                let r = l.horizontal(kind, acc[0]);
                let d = at_out(l, o, zero);
                l.b.ins().store(frame_flags(), r, d, 0);
                Ok(())
            })?;
        } else {
            columns(self, types::F32, 1)?;
        }
        self.set(single_result(op)?, Val::Tile(out))
    }

    /// Sum/max/min of a narrow float or integer tile, scalar, as the interpreter (see the
    /// module documentation).
    fn reduce_exact(
        &mut self,
        kind: Kind,
        x: &TileSlot,
        out: &TileSlot,
        outer: i64,
        len: i64,
        inner: i64,
    ) -> Result<()> {
        let d = x.dtype;
        let float = d.is_float();
        if len == 0 && !out.is_empty() {
            if let Kind::Max | Kind::Min = kind {
                return invalid(format!(
                    "tile.reduce: cannot take the maximum or minimum of an empty axis of shape {:?}",
                    x.shape
                ));
            }
        }
        let (xs, os) = (x.clone(), out.clone());
        self.for_const(0, outer, 1, |l, o| {
            l.for_const(0, inner, 1, |l, i| {
                let at = |l: &mut Self, k: ClValue| {
                    let a = l.mul_c(o, len * inner);
                    let b = l.mul_c(k, inner);
                    let e = l.b.ins().iadd(a, b);
                    let e = l.b.ins().iadd(e, i);
                    l.elem_addr(&xs, e)
                };
                let r = match kind {
                    Kind::Sum => {
                        let init = if float {
                            l.b.ins().f64const(0.0)
                        } else {
                            l.b.ins().iconst(types::I32, 0)
                        };
                        let (zero, end) = (l.iconst(0), l.iconst(len));
                        let (_, acc) = l.for_carry(zero, end, 1, vec![init], |l, k, acc| {
                            let a = at(l, k);
                            let e = l.load_elem(a, d, frame_flags())?;
                            let v = if float {
                                let e = l.b.ins().fpromote(types::F64, e);
                                l.b.ins().fadd(acc[0], e)
                            } else {
                                let e = if d == DType::I32 {
                                    e
                                } else {
                                    l.b.ins().sextend(types::I32, e)
                                };
                                l.b.ins().iadd(acc[0], e)
                            };
                            Ok(vec![v])
                        })?;
                        if float {
                            let r = l.b.ins().fdemote(types::F32, acc[0]);
                            l.round_narrow(r, d)?
                        } else if d == DType::I32 {
                            acc[0]
                        } else {
                            l.b.ins().ireduce(types::I8, acc[0])
                        }
                    }
                    Kind::Max | Kind::Min => {
                        let zero = l.iconst(0);
                        let a0 = at(l, zero);
                        let init = l.load_elem(a0, d, frame_flags())?;
                        let (one, end) = (l.iconst(1), l.iconst(len));
                        let max = matches!(kind, Kind::Max);
                        let (_, acc) = l.for_carry(one, end, 1, vec![init], |l, k, acc| {
                            let a = at(l, k);
                            let e = l.load_elem(a, d, frame_flags())?;
                            let v = if float {
                                // IEEE 754-2019 maximum/minimum, as the interpreter:
                                // NaN for good once seen, -0 below +0.
                                if max {
                                    l.b.ins().fmax(acc[0], e)
                                } else {
                                    l.b.ins().fmin(acc[0], e)
                                }
                            } else if max {
                                l.b.ins().smax(acc[0], e)
                            } else {
                                l.b.ins().smin(acc[0], e)
                            };
                            Ok(vec![v])
                        })?;
                        acc[0]
                    }
                };
                let oe = l.mul_c(o, inner);
                let oe = l.b.ins().iadd(oe, i);
                let dst = l.elem_addr(&os, oe);
                l.store_elem(r, d, dst, frame_flags())
            })
        })
    }

    /// `tile.reduce {kind = "argmax"}`: for each kept position, the first `k` along the
    /// axis with the largest value, `i32`. On floats a NaN is the maximum and the first one
    /// wins: the running best is replaced when it is not NaN and the element is NaN or
    /// greater (the interpreter's `reduce::argmax`).
    pub(super) fn argmax(&mut self, op: &Operation) -> Result<()> {
        let x = match op.operands.as_slice() {
            [x] => self.operand_slot(*x)?,
            _ => return invalid("tile.reduce expects one operand"),
        };
        let out = self.result_slot(op)?;
        // Narrow floats are widened exactly to f32 on load.
        let ty = arith_type(x.dtype);
        if out.dtype != DType::I32 {
            return invalid("tile.reduce argmax: the result must be an i32 tile");
        }
        let axis = op.attrs.int("axis").unwrap_or(-1);
        let Some(axis) = usize::try_from(axis).ok().filter(|a| *a < x.shape.len()) else {
            return invalid(format!(
                "tile.reduce: axis {axis} is not an axis of a rank-{} tile",
                x.shape.len()
            ));
        };
        let mut want = x.shape.clone();
        want.remove(axis);
        if want != out.shape {
            return invalid(format!(
                "tile.reduce: result shape {:?}, expected {want:?}",
                out.shape
            ));
        }
        let outer: i64 = x.shape[..axis].iter().product::<usize>() as i64;
        let len = x.shape[axis] as i64;
        let inner: i64 = x.shape[axis + 1..].iter().product::<usize>() as i64;
        if len == 0 && !out.is_empty() {
            return invalid(format!(
                "tile.reduce: cannot take the argmax of an empty axis {axis} of shape {:?}",
                x.shape
            ));
        }
        if i32::try_from(len).is_err() {
            return invalid("tile.reduce: argmax over more elements than an i32 can count");
        }
        let (xs, os) = (x.clone(), out.clone());
        self.for_const(0, outer, 1, |l, o| {
            l.for_const(0, inner, 1, |l, i| {
                let at = |l: &mut Self, k: ClValue| {
                    let a = l.mul_c(o, len * inner);
                    let b = l.mul_c(k, inner);
                    let e = l.b.ins().iadd(a, b);
                    let e = l.b.ins().iadd(e, i);
                    l.elem_addr(&xs, e)
                };
                let zero = l.iconst(0);
                let a0 = at(l, zero);
                let v0 = l.load_elem(a0, x.dtype, frame_flags())?;
                let (one, end) = (l.iconst(1), l.iconst(len));
                let (_, best) = l.for_carry(one, end, 1, vec![zero, v0], |l, k, c| {
                    let (bi, bv) = (c[0], c[1]);
                    let a = at(l, k);
                    let e = l.load_elem(a, x.dtype, frame_flags())?;
                    let take = if ty == types::F32 {
                        let e_nan = l.b.ins().fcmp(FloatCC::Unordered, e, e);
                        let gt = l.b.ins().fcmp(FloatCC::GreaterThan, e, bv);
                        let better = l.b.ins().bor(e_nan, gt);
                        let b_num = l.b.ins().fcmp(FloatCC::Ordered, bv, bv);
                        l.b.ins().band(better, b_num)
                    } else {
                        l.b.ins().icmp(IntCC::SignedGreaterThan, e, bv)
                    };
                    let ni = l.b.ins().select(take, k, bi);
                    let nv = l.b.ins().select(take, e, bv);
                    Ok(vec![ni, nv])
                })?;
                let r = l.b.ins().ireduce(types::I32, best[0]);
                let oe = l.mul_c(o, inner);
                let oe = l.b.ins().iadd(oe, i);
                let d = l.elem_addr(&os, oe);
                l.b.ins().store(frame_flags(), r, d, 0);
                Ok(())
            })
        })?;
        self.set(single_result(op)?, Val::Tile(out))
    }
}
