//! `tile.load`, `tile.store`, `tile.zeros`, `tile.splat`, and the byte-copy and fill loops
//! they share (64 bytes per step, then 16, then one element per step).
//!
//! Addressing (docs/ir.md): tile axis `a` walks buffer axis `perm[a]` with element step
//! `strides[a]`, from `idx[perm[a]]` (`unit = "elements"`) or `idx[perm[a]] * t[a] *
//! strides[a]` (tile coordinates, the default). Tile element `e` of axis `a` is therefore at
//! buffer coordinate `c = start[a] + e * strides[a]` on axis `perm[a]`.
//!
//! Every coordinate is checked before it is used (`0 <= c < dim`, as one unsigned
//! compare). When the last tile axis walks the last buffer axis with step 1, each tile row
//! is checked as a whole on the outer axes and clipped on the last axis to `lo .. hi`, then
//! copied; otherwise every element of the row is checked on its own. Elements outside the
//! buffer read `pad` and are not written. Only elements inside the buffer are ever
//! addressed, whatever the indices (see `CompiledKernel::run_bytes` for the other half of
//! the safety argument).
//!
//! No index computation wraps: index values are bounded statically (see `index`); a value
//! whose bound exceeds `2^38` is clamped to `±2^38` first, which changes no result since
//! such a tile lies wholly outside any buffer (dimensions are at most `2^36`, tile extents
//! `t[a] * strides[a]` at most [`MAX_EXTENT`], checked at compile time), so starts and
//! coordinates stay below `2^63` in magnitude.

use super::{buf_flags, frame_flags, single_result, BufVal, Lowerer, Val};
use crate::error::{invalid, unsupported, Result};
use crate::helpers::encode_float;
use crate::tile_layout::{storage_type, TileSlot};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, MemFlagsData, Type as ClType, Value as ClValue};
use tessera_dialects::{Attr, Attrs, DType, Operation, Value};
use tessera_tensor::convert;

/// The largest extent `t[a] * strides[a]` of a tile axis in a buffer.
pub(crate) const MAX_EXTENT: u64 = 1 << 24;

/// Index values beyond this magnitude are clamped to it before addressing.
const CLAMP: i64 = 1 << 38;

/// How a load or store addresses its buffer (`unit`, `strides`, `perm`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Access {
    elements: bool,
    strides: Vec<i64>,
    perm: Vec<usize>,
}

impl Access {
    /// Reads and checks the addressing attributes for a rank-`r` buffer (as the
    /// interpreter does).
    pub(crate) fn of(attrs: &Attrs, r: usize, what: &str) -> Result<Access> {
        let elements = match attrs.str("unit") {
            None | Some("tiles") => false,
            Some("elements") => true,
            Some(u) => {
                return invalid(format!(
                    "{what}: `unit` must be tiles or elements, got \"{u}\""
                ))
            }
        };
        let strides = match attrs.ints("strides") {
            None => vec![1; r],
            Some(st) if st.len() == r && st.iter().all(|s| *s >= 1) => st.to_vec(),
            Some(st) => {
                return invalid(format!(
                    "{what}: `strides` needs {r} positive steps, got {st:?}"
                ))
            }
        };
        let perm = match attrs.ints("perm") {
            None => (0..r).collect(),
            Some(p) => {
                let perm: Vec<usize> = p.iter().filter_map(|x| usize::try_from(*x).ok()).collect();
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if perm.len() != p.len() || sorted != (0..r).collect::<Vec<_>>() {
                    return invalid(format!(
                        "{what}: `perm` must be a permutation of 0..{r}, got {p:?}"
                    ));
                }
                perm
            }
        };
        Ok(Access {
            elements,
            strides,
            perm,
        })
    }

    /// Whether tile axis `a` walks buffer axis `a` with step 1 on every axis.
    pub(crate) fn is_plain(&self) -> bool {
        self.strides.iter().all(|&s| s == 1) && self.perm.iter().enumerate().all(|(a, &b)| a == b)
    }

    /// Whether a tile of `shape` moved with this access is one contiguous run of a
    /// buffer row: every tile axis but the last has one element, and the last walks the
    /// buffer's last axis with step 1. Such a tile can be read and written in place
    /// ([`super::View`]).
    pub(crate) fn contiguous(&self, shape: &[usize]) -> bool {
        let r = shape.len();
        r > 0
            && shape[..r - 1].iter().all(|&t| t == 1)
            && self.perm[r - 1] == r - 1
            && self.strides[r - 1] == 1
    }
}

/// The storage bits of the constant `value` as dtype `d` (as `graph.constant` converts).
pub(crate) fn const_bits(value: &Attr, d: DType) -> Result<u32> {
    Ok(match (value, d) {
        // As the interpreter: one rounding from the literal's f64 value.
        (Attr::Float(v), d) if d.is_float() => encode_float(convert::round_arith_f64(d, *v), d),
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

/// A `tile.load`'s buffer (value and description), indices, result slot (of the
/// buffer's dtype), pad bits and access.
struct LoadParts<'o> {
    bv: Value,
    buf: BufVal,
    idx: &'o [Value],
    slot: TileSlot,
    pad: u32,
    acc: Access,
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
        // 64 bytes per step (four vectors: the loop's add, compare and branch are paid
        // once per four), then 16, then one element. The two pointers are carried by the
        // loops (rather than `src + i` and `dst + i` in the body, whose address arithmetic
        // Cranelift re-evaluates every iteration).
        let (i, p) = self.for_carry(zero, bytes, 64, vec![src, dst], |l, _, p| {
            for k in 0..4 {
                let v = l.b.ins().load(types::I8X16, sflags, p[0], 16 * k);
                l.b.ins().store(dflags, v, p[1], 16 * k);
            }
            Ok(vec![l.add_c(p[0], 64), l.add_c(p[1], 64)])
        })?;
        let (i, _) = self.for_carry(i, bytes, 16, p, |l, _, p| {
            let v = l.b.ins().load(types::I8X16, sflags, p[0], 0);
            l.b.ins().store(dflags, v, p[1], 0);
            Ok(vec![l.add_c(p[0], 16), l.add_c(p[1], 16)])
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
        let i = self.for_loop(zero, bytes, 64, |l, i| {
            let d = l.b.ins().iadd(dst, i);
            for k in 0..4 {
                l.b.ins().store(flags, vec, d, 16 * k);
            }
            Ok(())
        })?;
        let i = self.for_loop(i, bytes, 16, |l, i| {
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

    /// What a `tile.load` reads and writes, checked.
    fn load_parts<'o>(&mut self, op: &'o Operation) -> Result<LoadParts<'o>> {
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
        let acc = Access::of(&op.attrs, buf.dims.len(), "tile.load")?;
        Ok(LoadParts {
            bv,
            buf,
            idx,
            slot,
            pad,
            acc,
        })
    }

    /// `tile.prefetch`: one byte read from every 64-byte line of rows `idx * rows ..
    /// (idx + 1) * rows` when they lie inside the buffer (none when `idx * rows` is before
    /// its first row; those past its end are left out; buffers are row-major, so the rows
    /// are one run), in groups of four lines (a tail of fewer is left out), the results
    /// unused. The reads may trap, so Cranelift keeps them though nothing uses their
    /// values (it has no prefetch instruction); they lie inside the buffer and never do. A row kernel issues them for its next row while it works on
    /// the current one from L1, so that the next row's first pass does not wait on memory.
    pub(super) fn prefetch(&mut self, op: &Operation) -> Result<()> {
        let [b, i] = op.operands[..] else {
            return invalid("tile.prefetch expects a buffer and an index");
        };
        let rows = match op.attrs.int("rows") {
            Some(r) if (1..=MAX_EXTENT as i64).contains(&r) => r,
            _ => return invalid(format!("tile.prefetch needs `rows` in 1..={MAX_EXTENT}")),
        };
        let buf = self.buffer(b)?;
        if buf.dims.is_empty() {
            return invalid("tile.prefetch: a 0-d buffer has no rows");
        }
        // The index clamped as `tile.load`'s are (so that `idx * rows` cannot wrap), and
        // no rows at all before the buffer's first.
        let idx = self.index(i)?;
        let (lo, hi) = (self.iconst(-CLAMP), self.iconst(CLAMP));
        let idx = self.b.ins().smax(idx, lo);
        let idx = self.b.ins().smin(idx, hi);
        let zero = self.iconst(0);
        let first = self.mul_c(idx, rows);
        let room = self.b.ins().isub(buf.dims[0], first);
        let limit = self.iconst(rows);
        let count = self.b.ins().smin(room, limit);
        let count = self.b.ins().smax(count, zero);
        let before = self.b.ins().icmp(IntCC::SignedLessThan, first, zero);
        let count = self.b.ins().select(before, zero, count);
        let esz = i64::from(crate::tile_layout::elem_bytes(buf.dtype));
        let row_bytes = self.mul_c(buf.strides[0], esz);
        let start = self.b.ins().imul(first, row_bytes);
        let at = self.b.ins().iadd(buf.base, start);
        let bytes = self.b.ins().imul(count, row_bytes);
        // Four lines per iteration; a last part of fewer than four lines is left out.
        self.for_loop(zero, bytes, 4 * 64, |l, off| {
            let p = l.b.ins().iadd(at, off);
            for line in 0..4 {
                l.b.ins().load(types::I8, MemFlagsData::new(), p, line * 64);
            }
            Ok(())
        })?;
        Ok(())
    }

    /// `tile.load`.
    pub(super) fn load(&mut self, op: &Operation) -> Result<()> {
        let LoadParts {
            bv: _,
            buf,
            idx,
            slot,
            pad,
            acc,
        } = self.load_parts(op)?;
        self.transfer(&buf, idx, &slot, Some(pad), &acc)?;
        if slot.shape.len() == 2 && acc.perm[0] == 0 && acc.strides[0] == 1 {
            // Tile rows from `dims[0] - start` on lie past the buffer's end.
            let start = self.tile_starts(idx, &slot.shape, &acc)?[0];
            let room = self.b.ins().isub(buf.dims[0], start);
            let t0 = self.iconst(slot.shape[0] as i64);
            let zero = self.iconst(0);
            let live = self.b.ins().smin(room, t0);
            let live = self.b.ins().smax(live, zero);
            self.live_rows.insert(single_result(op)?, live);
        }
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
        let acc = Access::of(&op.attrs, buf.dims.len(), "tile.store")?;
        self.transfer(&buf, &op.operands[2..], &slot, None, &acc)
    }

    /// Stores a slot's tile into `buf` at `idx` as `tile.store` does.
    pub(super) fn store_slot(
        &mut self,
        buf: &super::BufVal,
        idx: &[Value],
        slot: &TileSlot,
        acc: &Access,
    ) -> Result<()> {
        self.transfer(buf, idx, slot, None, acc)
    }

    /// Moves a tile between a buffer and its slot: a load when `pad` is given (elements
    /// outside the buffer become `pad`), else a store (they are skipped).
    pub(super) fn transfer(
        &mut self,
        buf: &super::BufVal,
        idx: &[Value],
        slot: &TileSlot,
        pad: Option<u32>,
        acc: &Access,
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
        let (st, perm) = (acc.strides.clone(), acc.perm.clone());
        let starts = self.tile_starts(idx, &t, acc)?;
        let dims: Vec<ClValue> = perm.iter().map(|&b| buf.dims[b]).collect();
        let bstr: Vec<ClValue> = perm.iter().map(|&b| buf.strides[b]).collect();
        let rows_whole = perm[r - 1] == r - 1 && st[r - 1] == 1;
        let tl = t[r - 1] as i64;
        let (s, bl) = (starts[r - 1], dims[r - 1]);
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
        let base = buf.base;
        let move_row = |l: &mut Self, row: ClValue| -> Result<()> {
            // The outer coordinates of this row, and whether they are all inside.
            let mut rest = row;
            let mut ok = l.b.ins().iconst(types::I8, 1);
            let mut off = l.iconst(0);
            for a in (0..r - 1).rev() {
                let ta = l.iconst(t[a] as i64);
                let e = l.b.ins().urem(rest, ta);
                rest = l.b.ins().udiv(rest, ta);
                let e = l.mul_c(e, st[a]);
                let c = l.b.ins().iadd(starts[a], e);
                let inside = l.b.ins().icmp(IntCC::UnsignedLessThan, c, dims[a]);
                ok = l.b.ins().band(ok, inside);
                let co = l.b.ins().imul(c, bstr[a]);
                off = l.b.ins().iadd(off, co);
            }
            let row_off = l.mul_c(row, tl);
            let tile_row = l.elem_addr(slot, row_off);
            if !rows_whole {
                return l.transfer_row_by_elements(
                    (base, bflags, dims[r - 1], bstr[r - 1]),
                    (ok, off, s, st[r - 1], tl),
                    tile_row,
                    esz,
                    pad_bits,
                );
            }
            let hi_row = l.b.ins().select(ok, hi, lo);
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
            let baddr = l.b.ins().iadd(base, first);
            let lo_b = l.mul_c(lo, i64::from(esz));
            let taddr = l.b.ins().iadd(tile_row, lo_b);
            if pad.is_some() {
                l.copy_elems(taddr, baddr, count, esz, frame_flags(), bflags)
            } else {
                l.copy_elems(baddr, taddr, count, esz, bflags, frame_flags())
            }
        };
        // A one-row tile (row kernels' chunks) needs no loop over rows: its row index is
        // the constant 0, and its outer coordinates fold.
        if nrows == 1 {
            let row = self.iconst(0);
            move_row(self, row)
        } else {
            self.for_const(0, nrows, 1, move_row)
        }
    }

    /// The buffer coordinate of tile element 0 along each tile axis (clamped, see the
    /// module documentation).
    pub(super) fn tile_starts(
        &mut self,
        idx: &[Value],
        t: &[usize],
        acc: &Access,
    ) -> Result<Vec<ClValue>> {
        let (st, perm) = (&acc.strides, &acc.perm);
        let mut starts = Vec::with_capacity(t.len());
        for a in 0..t.len() {
            let ext = (t[a] as u128) * (st[a] as u128);
            if ext > u128::from(MAX_EXTENT) {
                return unsupported(format!(
                    "a tile axis of {} elements with stride {} (extents above 2^24 elements)",
                    t[a], st[a]
                ));
            }
            let iv = idx[perm[a]];
            let mut x = self.index(iv)?;
            if self.index_bound(iv) > CLAMP as u64 {
                let (lo, hi) = (self.iconst(-CLAMP), self.iconst(CLAMP));
                x = self.b.ins().smax(x, lo);
                x = self.b.ins().smin(x, hi);
            }
            starts.push(if acc.elements {
                x
            } else {
                self.mul_c(x, ext as i64)
            });
        }
        Ok(starts)
    }

    /// A `tile.load` whose tile is one contiguous run of a buffer row
    /// ([`Access::contiguous`]) and whose every use reads it in place (see
    /// `Lowerer::block`): no copy now; the consumer reads the buffer directly when the
    /// run lies wholly inside it, and otherwise copies it (with its pad) into the slot
    /// first ([`Lowerer::materialise`]).
    pub(super) fn load_view(&mut self, op: &Operation) -> Result<()> {
        let LoadParts {
            bv,
            buf,
            idx,
            slot,
            pad,
            acc,
        } = self.load_parts(op)?;
        if idx.len() != buf.dims.len() || slot.shape.len() != buf.dims.len() {
            return invalid("tile.load: indices, buffer and tile ranks differ");
        }
        let (ptr, full) = self.run_in_place(&buf, idx, &slot, &acc)?;
        let view = super::View {
            slot,
            ptr,
            full,
            buf: bv,
            idx: idx.to_vec(),
            pad,
            acc,
        };
        self.set(single_result(op)?, Val::View(view))
    }

    /// For a contiguous tile ([`Access::contiguous`]) of `buf` at `idx`: the address of
    /// its element 0 in the buffer and whether the whole run lies inside the buffer (an
    /// `i8` truth value; the address is only meaningful when it does).
    pub(super) fn run_in_place(
        &mut self,
        buf: &super::BufVal,
        idx: &[Value],
        slot: &TileSlot,
        acc: &Access,
    ) -> Result<(ClValue, ClValue)> {
        let r = buf.dims.len();
        if !acc.contiguous(&slot.shape) {
            return invalid("internal error: an in-place tile must be one contiguous run");
        }
        let starts = self.tile_starts(idx, &slot.shape, acc)?;
        let mut ok = self.b.ins().iconst(types::I8, 1);
        let mut off = self.iconst(0);
        for (&start, &ba) in starts.iter().zip(&acc.perm).take(r - 1) {
            let inside = self
                .b
                .ins()
                .icmp(IntCC::UnsignedLessThan, start, buf.dims[ba]);
            ok = self.b.ins().band(ok, inside);
            let co = self.b.ins().imul(start, buf.strides[ba]);
            off = self.b.ins().iadd(off, co);
        }
        // 0 <= s and s + tl <= dim, as `s <= dim - tl` unsigned with `dim >= tl`.
        let s = starts[r - 1];
        let tl = slot.shape[r - 1] as i64;
        let room = self.add_c(buf.dims[r - 1], -tl);
        let fits = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, s, room);
        let wide = self
            .b
            .ins()
            .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, room, 0);
        ok = self.b.ins().band(ok, fits);
        ok = self.b.ins().band(ok, wide);
        let e = self.b.ins().iadd(off, s);
        let e = self.mul_c(e, i64::from(slot.esz()));
        let ptr = self.b.ins().iadd(buf.base, e);
        Ok((ptr, ok))
    }

    /// Copies a view's tile into its slot (with its pad), as `tile.load` would have.
    pub(super) fn materialise(&mut self, v: &super::View) -> Result<()> {
        let buf = self.buffer(v.buf)?;
        self.transfer(&buf, &v.idx, &v.slot, Some(v.pad), &v.acc)
    }

    /// Where an operand tile's elements are: its slot, or for a view the buffer when the
    /// run lies inside it and else its slot, filled here (under a branch). Returns the
    /// tile's slot (its type), the address of element 0 and the memory flags to read with.
    pub(super) fn operand_base(&mut self, v: Value) -> Result<(TileSlot, ClValue, MemFlagsData)> {
        match self.get(v)?.clone() {
            Val::Tile(t) => {
                let a = self.slot_addr(&t);
                Ok((t, a, frame_flags()))
            }
            Val::View(view) => {
                let fill = self.b.create_block();
                let join = self.b.create_block();
                self.b.ins().brif(view.full, join, &[], fill, &[]);
                self.b.switch_to_block(fill);
                self.materialise(&view)?;
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(join);
                let a = self.slot_addr(&view.slot);
                let p = self.b.ins().select(view.full, view.ptr, a);
                // Not the frame's flags even for a private buffer: they promise an
                // alignment that a run inside a buffer lacks.
                Ok((view.slot, p, buf_flags()))
            }
            _ => invalid(format!("%{} must be a tile", v.0)),
        }
    }

    /// An operand tile in its slot: a view is copied in first (for consumers that read
    /// slots only).
    pub(super) fn operand_slot(&mut self, v: Value) -> Result<TileSlot> {
        match self.get(v)?.clone() {
            Val::View(view) => {
                self.materialise(&view)?;
                Ok(view.slot)
            }
            _ => self.tile(v),
        }
    }

    /// Moves one element of type `ty` between the buffer address `baddr` and the tile
    /// address `taddr + toff`: into the tile for a load, out of it for a store.
    fn move_elem(
        &mut self,
        ty: ClType,
        (baddr, bflags): (ClValue, MemFlagsData),
        (taddr, toff): (ClValue, i32),
        load: bool,
    ) {
        if load {
            let v = self.b.ins().load(ty, bflags, baddr, 0);
            self.b.ins().store(frame_flags(), v, taddr, toff);
        } else {
            let v = self.b.ins().load(ty, frame_flags(), taddr, toff);
            self.b.ins().store(bflags, v, baddr, 0);
        }
    }

    /// One tile row whose last axis is strided or permuted: element `j` is at coordinate
    /// `c = s + j * step` of a buffer axis of size `dim` and stride `bstride`, and is moved
    /// only when the row's outer coordinates are inside (`ok`) and `0 <= c < dim`; a load
    /// stores `pad` for the others.
    fn transfer_row_by_elements(
        &mut self,
        (base, bflags, dim, bstride): (ClValue, MemFlagsData, ClValue, ClValue),
        (ok, off, s, step, tl): (ClValue, ClValue, ClValue, i64, i64),
        tile_row: ClValue,
        esz: u32,
        pad: Option<ClValue>,
    ) -> Result<()> {
        let ty = match esz {
            4 => types::I32,
            2 => types::I16,
            _ => types::I8,
        };
        // A row wholly inside (its outer coordinates, its first and its last coordinate:
        // the steps are positive) moves with no check per element: a transposed or strided
        // copy then costs a load and a store per element, not a bounds check each.
        let last = self.iconst((tl - 1) * step);
        let last = self.b.ins().iadd(s, last);
        let first_in = self.b.ins().icmp(IntCC::UnsignedLessThan, s, dim);
        let last_in = self.b.ins().icmp(IntCC::UnsignedLessThan, last, dim);
        let whole = self.b.ins().band(first_in, last_in);
        let whole = self.b.ins().band(whole, ok);
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(whole, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        let c0 = self.b.ins().imul(s, bstride);
        let e0 = self.b.ins().iadd(off, c0);
        let e0 = self.mul_c(e0, i64::from(esz));
        let b0 = self.b.ins().iadd(base, e0);
        let bstep = self.mul_c(bstride, step * i64::from(esz));
        // Four elements per step when they divide the row; the two addresses are carried
        // by the loop (Cranelift would re-evaluate `b0 + j * bstep` in the body).
        let unroll: i64 = if tl % 4 == 0 { 4 } else { 1 };
        let (zero, end) = (self.iconst(0), self.iconst(tl));
        self.for_carry(zero, end, unroll, vec![b0, tile_row], |l, _, p| {
            let (mut baddr, taddr) = (p[0], p[1]);
            for u in 0..unroll {
                let toff = (u * i64::from(esz)) as i32;
                l.move_elem(ty, (baddr, bflags), (taddr, toff), pad.is_some());
                baddr = l.b.ins().iadd(baddr, bstep);
            }
            Ok(vec![baddr, l.add_c(taddr, unroll * i64::from(esz))])
        })?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(slow);
        self.for_const(0, tl, 1, |l, j| {
            let js = l.mul_c(j, step);
            let c = l.b.ins().iadd(s, js);
            let inside = l.b.ins().icmp(IntCC::UnsignedLessThan, c, dim);
            let inside = l.b.ins().band(inside, ok);
            let jb = l.mul_c(j, i64::from(esz));
            let taddr = l.b.ins().iadd(tile_row, jb);
            let yes = l.b.create_block();
            let no = l.b.create_block();
            let join = l.b.create_block();
            l.b.ins().brif(inside, yes, &[], no, &[]);
            l.b.switch_to_block(yes);
            let co = l.b.ins().imul(c, bstride);
            let e = l.b.ins().iadd(off, co);
            let eb = l.mul_c(e, i64::from(esz));
            let baddr = l.b.ins().iadd(base, eb);
            l.move_elem(ty, (baddr, bflags), (taddr, 0), pad.is_some());
            l.b.ins().jump(join, &[]);
            l.b.switch_to_block(no);
            if let Some(p) = pad {
                l.b.ins().store(frame_flags(), p, taddr, 0);
            }
            l.b.ins().jump(join, &[]);
            l.b.switch_to_block(join);
            Ok(())
        })?;
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        Ok(())
    }
}
