//! The rhs of an `f32` `tile.dot` held in `bf16` and widened while it is packed: the
//! matmul of a weight held narrow (`--precision bf16`, tiling's `widened_rhs`) reads
//!
//! ```text
//! %tn = tile.load %b, %k, %j : (buf<bf16[K, N]>, index, index) -> tile<KTxNTxbf16>
//! %tb = tile.cast %tn {dtype = f32} : (tile<KTxNTxbf16>) -> tile<KTxNTxf32>
//! %d  = tile.dot %ta, %tb, %c {pack = "rhs" | "both", ..}
//! ```
//!
//! The load and the cast are left to the dot ([`Lowerer::defer_widened_rhs`]), which
//! copies the `bf16` tile into its `f32` column panels in one pass
//! ([`Lowerer::pack_rhs_widened`]): four elements at a time, `uload16x4` (four `u16`
//! zero-extended to `i32x4`), a shift left by 16 and a bitcast to `f32x4` (a `bf16` is
//! the top half of the `f32` of the same value, so the widening is exact). Straight from
//! the buffer when the tile lies wholly inside it; otherwise the tile is first loaded as
//! `tile.load` does (padding included, in `bf16`) into a scratch slot and packed from
//! there. The micro-kernels then read `f32` panels as for any `f32` dot: the weight is
//! held in half the bytes, and the widening costs one pass over each rhs tile, the same
//! pass as the `f32` packing copy.

use super::dot::{stores, uses, DotPlan};
use super::memory::Access;
use super::{buf_flags, single_result, Lowerer, Val};
use crate::error::Result;
use crate::tile_layout::TileSlot;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Value as ClValue};
use tessera_dialects::{DType, Op, Operation, TileOp, Type, Value};

impl Lowerer<'_, '_> {
    /// Whether `ops[i]` is the `tile.load` of a `bf16` rhs that the `tile.cast` to `f32`
    /// right after it widens for an `f32` dot that packs its rhs: a 2-D tile of whole
    /// vectors loaded plainly from a 2-D buffer, the load used only by the cast, the cast
    /// only by the dot (as its rhs), with no `tile.store` in between. Both are then left
    /// to the dot ([`Self::load_deferred_widened`]).
    pub(super) fn defer_widened_rhs(&self, ops: &[Operation], i: usize) -> Result<bool> {
        let op = &ops[i];
        if op.op != Op::Tile(TileOp::Load) || op.operands.len() != 3 || op.results.len() != 1 {
            return Ok(false);
        }
        let v = op.results[0];
        let tile_2d = |l: &Self, v: Value, d: DType| match l.ty(v) {
            Ok(Type::Tile(t)) if t.dtype == d && t.shape.len() == 2 => {
                Some((t.shape[0], t.shape[1]))
            }
            _ => None,
        };
        match tile_2d(self, v, DType::BF16) {
            Some((k, n)) if k >= 1 && n >= 4 && n % 4 == 0 => {}
            _ => return Ok(false),
        }
        let Some(cast) = ops.get(i + 1) else {
            return Ok(false);
        };
        if cast.op != Op::Tile(TileOp::Cast)
            || cast.operands.as_slice() != [v]
            || cast.results.len() != 1
            || cast.attrs.dtype("dtype") != Some(DType::F32)
            || tile_2d(self, cast.results[0], DType::F32).is_none()
        {
            return Ok(false);
        }
        let w = cast.results[0];
        let body = &self.func.body;
        if !Access::of(&op.attrs, 2, "tile.load")?.is_plain()
            || uses(body, v) != 1
            || uses(body, w) != 1
        {
            return Ok(false);
        }
        let Some(j) = ops[i + 2..].iter().position(|o| o.operands.contains(&w)) else {
            return Ok(false);
        };
        let dot = &ops[i + 2 + j];
        Ok(dot.op == Op::Tile(TileOp::Dot)
            && dot.operands.len() == 3
            && dot.operands[1] == w
            && tile_2d(self, dot.operands[0], DType::F32).is_some()
            && tile_2d(self, dot.operands[2], DType::F32).is_some()
            && DotPlan::from_attrs(dot).is_ok_and(|p| p.pack_rhs)
            && !ops[i + 2..i + 2 + j].iter().any(stores))
    }

    /// The `bf16` `load` and the widening `cast` after it, left to the dot that packs the
    /// cast's result ([`Self::defer_widened_rhs`]): only the cast's slot.
    pub(super) fn load_deferred_widened(
        &mut self,
        load: &Operation,
        cast: &Operation,
    ) -> Result<()> {
        let slot = self.result_slot(cast)?;
        let w = single_result(cast)?;
        self.deferred_rhs.insert(w, load.clone());
        self.set(w, Val::Tile(slot))
    }

    /// Whether a deferred rhs `load` reads `bf16` (and so is widened while packed).
    pub(super) fn is_widened_load(&self, load: &Operation) -> bool {
        load.results
            .first()
            .is_some_and(|v| matches!(self.ty(*v), Ok(Type::Tile(t)) if t.dtype == DType::BF16))
    }

    /// Packs the `k x n` `bf16` rhs tile of the deferred `load` into the `f32` panels `p`,
    /// widening: straight from the buffer when the tile lies wholly inside it, else
    /// loaded as `tile.load` does (padding included) into a `bf16` scratch slot first.
    pub(super) fn pack_rhs_widened(
        &mut self,
        load: &Operation,
        p: &TileSlot,
        (k, n): (i64, i64),
        vecs: i64,
    ) -> Result<()> {
        let slot = self.frame.alloc(DType::BF16, &[k as usize, n as usize])?;
        let (src, row) = self.deferred_rows(load, &slot, (k, n))?;
        self.pack_rhs(src, row, buf_flags(), DType::BF16, p, k, n, vecs)
    }

    /// Four `bf16` elements at byte offset `from` of `ptr`, widened exactly to an `f32x4`
    /// (the bits shifted into the high half).
    pub(super) fn widen_bf16x4(&mut self, ptr: ClValue, from: i64, flags: MemFlagsData) -> ClValue {
        let x = self.b.ins().uload16x4(flags, ptr, from as i32);
        let x = self.b.ins().ishl_imm_u(x, 16);
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        self.b.ins().bitcast(types::F32X4, little, x)
    }
}
