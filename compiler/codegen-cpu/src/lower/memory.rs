//! `tile.load`, `tile.store`, `tile.zeros`, `tile.splat`, and the byte-copy and fill loops
//! they share (16 bytes per step, then one element per step).
//!
//! A tile at tile coordinates `idx` covers elements `idx[a] * t[a] ..` along axis `a`. Each
//! tile row (last axis) is checked as a whole on the outer axes (`0 <= c < dim`, as one
//! unsigned compare) and clipped on the last axis to `lo .. hi`; only elements inside the
//! buffer are ever addressed, whatever the indices (see `CompiledKernel::run_bytes` for
//! the other half of the safety argument).

use super::{buf_flags, frame_flags, single_result, Lowerer, Val};
use crate::error::{invalid, Result};
use crate::helpers::encode_float;
use crate::tile_layout::{storage_type, TileSlot};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, MemFlagsData, Value as ClValue};
use tessera_dialects::{Attr, DType, Operation};
use tessera_tensor::convert;

/// The storage bits of the constant `value` as dtype `d` (as `graph.constant` converts).
pub(crate) fn const_bits(value: &Attr, d: DType) -> Result<u32> {
    Ok(match (value, d) {
        (Attr::Float(v), d) if d.is_float() => encode_float(convert::round_arith(d, *v as f32), d),
        (Attr::Int(v), d) if d.is_float() => {
            let x = match d {
                DType::F16 | DType::F8E4M3 | DType::F8E5M2 => convert::round_arith(d, *v as f32),
                _ => convert::int_to_float(d, *v),
            };
            encode_float(x, d)
        }
        (Attr::Int(v), DType::I8) => match i8::try_from(*v) {
            Ok(x) => u32::from(x as u8),
            Err(_) => return invalid(format!("the value {v} does not fit in i8")),
        },
        (Attr::Int(v), DType::I32) => match i32::try_from(*v) {
            Ok(x) => x as u32,
            Err(_) => return invalid(format!("the value {v} does not fit in i32")),
        },
        (Attr::Bool(b), DType::Bool) => u32::from(*b),
        (v, d) => return invalid(format!("the value `{v}` cannot have dtype {d}")),
    })
}

impl Lowerer<'_, '_> {
    /// Copies `count` elements of `esz` bytes from `src` to `dst`.
    pub fn copy_elems(
        &mut self,
        dst: ClValue,
        src: ClValue,
        count: ClValue,
        esz: u32,
        dflags: MemFlagsData,
        sflags: MemFlagsData,
    ) -> Result<()> {
        let bytes = self.mul_c(count, i64::from(esz));
        let zero = self.iconst(0);
        let i = self.for_loop(zero, bytes, 16, |l, i| {
            let s = l.b.ins().iadd(src, i);
            let v = l.b.ins().load(types::I8X16, sflags, s, 0);
            let d = l.b.ins().iadd(dst, i);
            l.b.ins().store(dflags, v, d, 0);
            Ok(())
        })?;
        let ty = match esz {
            4 => types::I32,
            2 => types::I16,
            _ => types::I8,
        };
        self.for_loop(i, bytes, i64::from(esz), |l, i| {
            let s = l.b.ins().iadd(src, i);
            let v = l.b.ins().load(ty, sflags, s, 0);
            let d = l.b.ins().iadd(dst, i);
            l.b.ins().store(dflags, v, d, 0);
            Ok(())
        })?;
        Ok(())
    }

    /// Stores `count` copies of the element `bits` (of `esz` bytes) from `dst`.
    pub fn fill_elems(
        &mut self,
        dst: ClValue,
        count: ClValue,
        esz: u32,
        bits: ClValue,
        flags: MemFlagsData,
    ) -> Result<()> {
        let (ty, vty) = match esz {
            4 => (types::I32, types::I32X4),
            2 => (types::I16, types::I16X8),
            _ => (types::I8, types::I8X16),
        };
        let vec = self.b.ins().splat(vty, bits);
        let bytes = self.mul_c(count, i64::from(esz));
        let zero = self.iconst(0);
        let i = self.for_loop(zero, bytes, 16, |l, i| {
            let d = l.b.ins().iadd(dst, i);
            l.b.ins().store(flags, vec, d, 0);
            Ok(())
        })?;
        let _ = ty;
        self.for_loop(i, bytes, i64::from(esz), |l, i| {
            let d = l.b.ins().iadd(dst, i);
            l.b.ins().store(flags, bits, d, 0);
            Ok(())
        })?;
        Ok(())
    }

    /// Copies one tile slot into another of the same type.
    pub fn copy_slot(&mut self, dst: &TileSlot, src: &TileSlot) -> Result<()> {
        if dst.dtype != src.dtype || dst.shape != src.shape {
            return invalid("internal error: copying between tiles of different types");
        }
        let (d, s) = (self.slot_addr(dst), self.slot_addr(src));
        let n = self.iconst(src.len() as i64);
        self.copy_elems(d, s, n, src.esz(), frame_flags(), frame_flags())
    }

    /// The constant `bits` in the storage type of `d`.
    pub fn bits_const(&mut self, bits: u32, d: DType) -> ClValue {
        let ty = storage_type(d);
        let v = match ty {
            types::I32 => i64::from(bits as i32),
            types::I16 => i64::from(bits as u16 as i16),
            _ => i64::from(bits as u8 as i8),
        };
        self.b.ins().iconst(ty, v)
    }

    /// `tile.zeros` and `tile.splat`.
    pub(super) fn splat(&mut self, op: &Operation) -> Result<()> {
        let slot = self.result_slot(op)?;
        let bits = match op.attrs.get("value") {
            Some(v) => const_bits(v, slot.dtype)?,
            None => 0,
        };
        let bits = self.bits_const(bits, slot.dtype);
        let dst = self.slot_addr(&slot);
        let n = self.iconst(slot.len() as i64);
        self.fill_elems(dst, n, slot.esz(), bits, frame_flags())?;
        self.set(single_result(op)?, Val::Tile(slot))
    }

    /// `tile.load`.
    pub(super) fn load(&mut self, op: &Operation) -> Result<()> {
        let Some((&bv, idx)) = op.operands.split_first() else {
            return invalid("tile.load expects a buffer");
        };
        let buf = self.buffer(bv)?;
        let slot = self.result_slot(op)?;
        if slot.dtype != buf.dtype {
            return invalid(format!(
                "tile.load: loads a {} tile from a {} buffer",
                slot.dtype, buf.dtype
            ));
        }
        let pad = match op.attrs.get("pad") {
            Some(v) => const_bits(v, slot.dtype)?,
            None => 0,
        };
        let idx = idx
            .iter()
            .map(|v| self.index(*v))
            .collect::<Result<Vec<_>>>()?;
        self.transfer(&buf, &idx, &slot, Some(pad))?;
        self.set(single_result(op)?, Val::Tile(slot))
    }

    /// `tile.store`.
    pub(super) fn store(&mut self, op: &Operation) -> Result<()> {
        if op.operands.len() < 2 {
            return invalid("tile.store expects a tile and a buffer");
        }
        let slot = self.tile(op.operands[0])?;
        let buf = self.buffer(op.operands[1])?;
        if slot.dtype != buf.dtype {
            return invalid(format!(
                "tile.store: cannot store a {} tile into a {} buffer",
                slot.dtype, buf.dtype
            ));
        }
        let idx = op.operands[2..]
            .iter()
            .map(|v| self.index(*v))
            .collect::<Result<Vec<_>>>()?;
        self.transfer(&buf, &idx, &slot, None)
    }

    /// Moves a tile between a buffer and its slot: a load when `pad` is given (elements
    /// outside the buffer become `pad`), else a store (they are skipped).
    fn transfer(
        &mut self,
        buf: &super::BufVal,
        idx: &[ClValue],
        slot: &TileSlot,
        pad: Option<u32>,
    ) -> Result<()> {
        let r = buf.dims.len();
        if idx.len() != r || slot.shape.len() != r || r == 0 {
            return invalid(format!(
                "a rank-{r} buffer needs {r} indices and a rank-{r} tile, got {} indices and a rank-{} tile",
                idx.len(),
                slot.shape.len()
            ));
        }
        let esz = slot.esz();
        let t = slot.shape.clone();
        let starts: Vec<ClValue> = idx
            .iter()
            .zip(&t)
            .map(|(&i, &ti)| self.mul_c(i, ti as i64))
            .collect();
        let tl = t[r - 1] as i64;
        let (s, bl) = (starts[r - 1], buf.dims[r - 1]);
        let zero = self.iconst(0);
        let tlv = self.iconst(tl);
        let neg_s = self.b.ins().ineg(s);
        let lo = self.b.ins().smin(neg_s, tlv);
        let lo = self.b.ins().smax(lo, zero);
        let room = self.b.ins().isub(bl, s);
        let hi = self.b.ins().smin(room, tlv);
        let hi = self.b.ins().smax(hi, zero);
        let nrows: i64 = t[..r - 1].iter().product::<usize>() as i64;
        let pad_bits = pad.map(|p| self.bits_const(p, slot.dtype));
        let bflags = if buf.private {
            frame_flags()
        } else {
            buf_flags()
        };
        self.for_const(0, nrows, 1, |l, row| {
            // The outer coordinates of this row, and whether they are all inside.
            let mut rest = row;
            let mut ok = l.b.ins().iconst(types::I8, 1);
            let mut off = l.iconst(0);
            for a in (0..r - 1).rev() {
                let ta = l.iconst(t[a] as i64);
                let e = l.b.ins().urem(rest, ta);
                rest = l.b.ins().udiv(rest, ta);
                let c = l.b.ins().iadd(starts[a], e);
                let inside = l.b.ins().icmp(IntCC::UnsignedLessThan, c, buf.dims[a]);
                ok = l.b.ins().band(ok, inside);
                let co = l.b.ins().imul(c, buf.strides[a]);
                off = l.b.ins().iadd(off, co);
            }
            let hi_row = l.b.ins().select(ok, hi, lo);
            let row_off = l.mul_c(row, tl);
            let tile_row = l.elem_addr(slot, row_off);
            if let Some(pad) = pad_bits {
                // Rows not wholly inside read the pad first.
                let partial_lo = l.b.ins().icmp_imm_s(IntCC::NotEqual, lo, 0);
                let partial_hi = l.b.ins().icmp(IntCC::NotEqual, hi_row, tlv);
                let partial = l.b.ins().bor(partial_lo, partial_hi);
                let fill = l.b.create_block();
                let join = l.b.create_block();
                l.b.ins().brif(partial, fill, &[], join, &[]);
                l.b.switch_to_block(fill);
                l.fill_elems(tile_row, tlv, esz, pad, frame_flags())?;
                l.b.ins().jump(join, &[]);
                l.b.switch_to_block(join);
            }
            let count = l.b.ins().isub(hi_row, lo);
            let count = l.b.ins().smax(count, zero);
            // Buffer element of this row's tile element `lo`: off + s + lo.
            let first = l.b.ins().iadd(off, s);
            let first = l.b.ins().iadd(first, lo);
            let first = l.mul_c(first, i64::from(esz));
            let baddr = l.b.ins().iadd(buf.base, first);
            let lo_b = l.mul_c(lo, i64::from(esz));
            let taddr = l.b.ins().iadd(tile_row, lo_b);
            if pad.is_some() {
                l.copy_elems(taddr, baddr, count, esz, frame_flags(), bflags)
            } else {
                l.copy_elems(baddr, taddr, count, esz, bflags, frame_flags())
            }
        })
    }
}
