//! `tile.broadcast` (NumPy rules, or `dims` placing the operand's axes first; by rows: a row is copied when the last axis is kept and
//! filled from one element when it is broadcast) and `tile.cast` (`f32 -> i32` and
//! `i32 -> f32` inline; `bf16 -> f32`, `f16 -> f32` and `f32 -> bf16` four elements at a
//! time, inline (the widening of a narrow matmul's operand tiles and the rounding of its
//! result tile), and `f8e4m3 -> f32`, `f8e5m2 -> f32` likewise; every other pair of dtypes
//! through the `tsr_cast_bits` helper).

use super::{frame_flags, single_result, Lowerer, Val};
use crate::error::{invalid, Result};
use crate::helpers::{dtype_code, CAST};
use crate::tile_layout::{storage_type, TileSlot};
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData};
use tessera_dialects::{DType, Operation};

impl Lowerer<'_, '_> {
    pub(super) fn broadcast(&mut self, op: &Operation) -> Result<()> {
        let x = match op.operands.as_slice() {
            [x] => self.tile(*x)?,
            _ => return invalid("tile.broadcast expects one operand"),
        };
        let out = self.result_slot(op)?;
        if x.dtype != out.dtype {
            return invalid("tile.broadcast keeps the dtype");
        }
        let ro = out.shape.len();
        if x.shape.len() > ro {
            return invalid(format!(
                "tile.broadcast: cannot broadcast {:?} to {:?}",
                x.shape, out.shape
            ));
        }
        // The input's dims placed on the result's axes, 1 where missing: aligned to the
        // right (NumPy), or on the axes `dims` names (broadcast in dim).
        let ind = match op.attrs.ints("dims") {
            None => {
                let mut ind = vec![1usize; ro - x.shape.len()];
                ind.extend(&x.shape);
                ind
            }
            Some(dims) => {
                let ok = dims.len() == x.shape.len()
                    && dims.windows(2).all(|w| w[0] < w[1])
                    && dims.iter().all(|d| *d >= 0 && (*d as usize) < ro);
                if !ok {
                    return invalid(format!(
                        "tile.broadcast: `dims` {dims:?} does not map a rank-{} tile into rank {ro}",
                        x.shape.len()
                    ));
                }
                let mut ind = vec![1usize; ro];
                for (i, d) in dims.iter().enumerate() {
                    ind[*d as usize] = x.shape[i];
                }
                ind
            }
        };
        for (i, o) in ind.iter().zip(&out.shape) {
            if i != o && *i != 1 {
                return invalid(format!(
                    "tile.broadcast: cannot broadcast {:?} to {:?}",
                    x.shape, out.shape
                ));
            }
        }
        let esz = x.esz();
        if ro == 0 {
            self.copy_slot(&out, &x)?;
            return self.set(single_result(op)?, Val::Tile(out));
        }
        let mut istr = vec![1i64; ro];
        for a in (0..ro.saturating_sub(1)).rev() {
            istr[a] = istr[a + 1] * ind[a + 1] as i64;
        }
        let last = out.shape[ro - 1] as i64;
        let keep_last = ind[ro - 1] != 1 || last == 1;
        let nrows: i64 = out.shape[..ro - 1].iter().product::<usize>() as i64;
        let (xs, os, oshape) = (x.clone(), out.clone(), out.shape.clone());
        self.for_const(0, nrows, 1, |l, row| {
            let mut rest = row;
            let mut off = l.iconst(0);
            for a in (0..ro - 1).rev() {
                let ta = l.iconst(oshape[a] as i64);
                let e = l.b.ins().urem(rest, ta);
                rest = l.b.ins().udiv(rest, ta);
                if ind[a] != 1 {
                    let t = l.mul_c(e, istr[a]);
                    off = l.b.ins().iadd(off, t);
                }
            }
            let src = l.elem_addr(&xs, off);
            let ro_e = l.mul_c(row, last);
            let dst = l.elem_addr(&os, ro_e);
            let count = l.iconst(last);
            if keep_last {
                l.copy_elems(dst, src, count, esz, frame_flags(), frame_flags())
            } else {
                let bits =
                    l.b.ins()
                        .load(storage_type(xs.dtype), frame_flags(), src, 0);
                l.fill_elems(dst, count, esz, bits, frame_flags())
            }
        })?;
        // A broadcast element (a row statistic) is read once by the maps that use it.
        if x.len() == 1
            && matches!(x.dtype, DType::F32 | DType::I32)
            && !self.carried.contains(&x.offset)
        {
            self.splats.insert(single_result(op)?, x);
        }
        self.set(single_result(op)?, Val::Tile(out))
    }

    pub(super) fn cast(&mut self, op: &Operation) -> Result<()> {
        let x = match op.operands.as_slice() {
            [x] => self.tile(*x)?,
            _ => return invalid("tile.cast expects one operand"),
        };
        let out = self.result_slot(op)?;
        if op.attrs.dtype("dtype") != Some(out.dtype) || x.shape != out.shape {
            return invalid(
                "tile.cast: the result must have the operand's shape and the `dtype` attribute",
            );
        }
        if x.dtype == out.dtype {
            self.copy_slot(&out, &x)?;
            return self.set(single_result(op)?, Val::Tile(out));
        }
        let (from, to) = (x.dtype, out.dtype);
        let n = out.len() as i64;
        let arith = match op.attrs.str("round") {
            None => false,
            Some("arith") if from == DType::F32 && to.is_float() => true,
            Some(r) => {
                return invalid(format!(
                    "tile.cast: `round = {r:?}` (only \"arith\", from f32 to a float dtype)"
                ))
            }
        };
        if self.cast_lanes(&x, &out, arith)? {
            return self.set(single_result(op)?, Val::Tile(out));
        }
        if arith {
            // The rounding of arithmetic (`round_narrow`, overflow to inf), element by
            // element.
            let (xs, os) = (x.clone(), out.clone());
            self.for_const(0, n, 1, |l, i| {
                let src = l.elem_addr(&xs, i);
                let dst = l.elem_addr(&os, i);
                let v = l.b.ins().load(types::F32, frame_flags(), src, 0);
                let r = l.round_narrow(v, to)?;
                l.store_elem(r, to, dst, frame_flags())
            })?;
            return self.set(single_result(op)?, Val::Tile(out));
        }
        let (xs, os) = (x.clone(), out.clone());
        self.for_const(0, n, 1, |l, i| {
            let src = l.elem_addr(&xs, i);
            let dst = l.elem_addr(&os, i);
            let v = match (from, to) {
                (DType::F32, DType::I32) => {
                    // round half to even, saturate, NaN -> 0 (DSL §7)
                    let x = l.b.ins().load(types::F32, frame_flags(), src, 0);
                    let r = l.b.ins().nearest(x);
                    l.b.ins().fcvt_to_sint_sat(types::I32, r)
                }
                (DType::I32, DType::F32) => {
                    let x = l.b.ins().load(types::I32, frame_flags(), src, 0);
                    l.b.ins().fcvt_from_sint(types::F32, x)
                }
                // Exact and inline: the bits are the top half of the f32's.
                (DType::BF16, DType::F32) => l.load_elem(src, DType::BF16, frame_flags())?,
                _ => {
                    let st = storage_type(from);
                    let raw = l.b.ins().load(st, frame_flags(), src, 0);
                    let bits = if st == types::I32 {
                        raw
                    } else {
                        l.b.ins().uextend(types::I32, raw)
                    };
                    let f = l.helper(CAST, &[types::I32, types::I32, types::I32], types::I32)?;
                    let a = l.b.ins().iconst(types::I32, i64::from(dtype_code(from)));
                    let b = l.b.ins().iconst(types::I32, i64::from(dtype_code(to)));
                    let call = l.b.ins().call(f, &[bits, a, b]);
                    let r = l.b.inst_results(call)[0];
                    let tt = storage_type(to);
                    if tt == types::I32 {
                        r
                    } else {
                        l.b.ins().ireduce(tt, r)
                    }
                }
            };
            l.b.ins().store(frame_flags(), v, dst, 0);
            Ok(())
        })?;
        self.set(single_result(op)?, Val::Tile(out))
    }

    /// `tile.cast` of `x` into `out` four elements at a time, for the pairs that have an
    /// exact inline four-lane form and tiles of a multiple of four elements: `bf16 -> f32`
    /// (a shift), `f16 -> f32` (integer lane operations, `widen_f16x4`), `f32 -> bf16`
    /// (`round_bf16` on four lanes, then the top halves packed by `packusdw`; with `arith`,
    /// overflow to inf as arithmetic rounds). Bit for bit the scalar `tsr_cast_bits` (or
    /// `round_arith`). Returns whether it did the cast.
    fn cast_lanes(&mut self, x: &TileSlot, out: &TileSlot, arith: bool) -> Result<bool> {
        let n = out.len() as i64;
        let (from, to) = (x.dtype, out.dtype);
        let supported = matches!(
            (from, to),
            (
                DType::BF16 | DType::F16 | DType::F8E4M3 | DType::F8E5M2,
                DType::F32
            ) | (DType::F32, DType::BF16)
        );
        if !supported || n % 4 != 0 || n == 0 {
            return Ok(false);
        }
        let (xs, os) = (x.clone(), out.clone());
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        self.for_const(0, n, 4, |l, i| {
            let src = l.elem_addr(&xs, i);
            let dst = l.elem_addr(&os, i);
            match (from, to) {
                (_, DType::F32) => {
                    let v = match from {
                        DType::BF16 => l.widen_bf16x4(src, 0, frame_flags()),
                        DType::F16 => l.widen_f16x4(src, 0, frame_flags()),
                        _ => l.widen_f8x4(src, from, frame_flags()),
                    };
                    l.b.ins().store(frame_flags(), v, dst, 0);
                }
                _ => {
                    let v = l.b.ins().load(types::F32X4, frame_flags(), src, 0);
                    let r = l.round_bf16_with(v, true, !arith);
                    let bits = l.b.ins().bitcast(types::I32X4, little, r);
                    let top = l.b.ins().ushr_imm_u(bits, 16);
                    let packed = l.b.ins().unarrow(top, top);
                    let pair = l.b.ins().bitcast(types::I64X2, little, packed);
                    let lo = l.b.ins().extractlane(pair, 0);
                    l.b.ins().store(frame_flags(), lo, dst, 0);
                }
            }
            Ok(())
        })?;
        Ok(true)
    }
}
