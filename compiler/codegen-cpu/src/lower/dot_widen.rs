//! The rhs of an `f32` `tile.dot` held in `bf16` or `f16` and widened while it is packed:
//! the matmul of a weight held narrow (`--precision bf16|f16`, tiling's `widened_rhs`)
//! reads
//!
//! ```text
//! %tn = tile.load %b, %k, %j : (buf<bf16[K, N]>, index, index) -> tile<KTxNTxbf16>
//! %tb = tile.cast %tn {dtype = f32} : (tile<KTxNTxbf16>) -> tile<KTxNTxf32>
//! %d  = tile.dot %ta, %tb, %c {pack = "rhs" | "both", ..}
//! ```
//!
//! The load and the cast are left to the dot ([`Lowerer::defer_widened_rhs`]), which
//! copies the narrow tile into its `f32` column panels in one pass
//! ([`Lowerer::pack_rhs_widened`]): four elements at a time, `uload16x4` (four `u16`
//! zero-extended to `i32x4`), then
//! - `bf16`: a shift left by 16 and a bitcast to `f32x4` (a `bf16` is the top half of the
//!   `f32` of the same value, so the widening is exact) ([`Lowerer::widen_bf16x4`]);
//! - `f16`: integer lane operations ([`widen_f16_lanes`]): the mantissa shifted into
//!   place and the exponent rebiased (`+ 112 << 23`) for normal numbers; exponent 31 to
//!   255 for infinities and NaNs (a NaN quieted, as `half`'s and `vcvtph2ps`'s
//!   conversions do); a subnormal or zero `m * 2^-24` as `2^-14 (1 + m / 1024) - 2^-14`,
//!   one exact `f32` subtraction of normal numbers (no subnormal `f32` is ever formed,
//!   so flush-to-zero modes cannot change it); the sign ORed back. Bit for bit the
//!   interpreter's `half::f16::to_f32` on all 65,536 inputs (tested).
//!
//! Straight from the buffer when the tile lies wholly inside it; otherwise the tile is
//! first loaded as `tile.load` does (padding included, in its narrow dtype) into a scratch
//! slot and packed from there. The micro-kernels then read `f32` panels as for any `f32`
//! dot: the weight is held in half the bytes, and the widening costs one pass over each
//! rhs tile, the same pass as the `f32` packing copy.
//!
//! A weight packed at bind time (`tessera_tiling::prepack`) is held in narrow panels and
//! read as a `P x K x W` tile:
//!
//! ```text
//! %tn = tile.load %b, %j, %k, %0 : (buf<bf16[N/W, K, W]>, index, index, index) -> tile<PxKTxWxbf16>
//! %tb = tile.cast %tn {dtype = f32} : (tile<PxKTxWxbf16>) -> tile<PxKTxWxf32>
//! %d  = tile.dot %ta, %tb, %c {..}
//! ```
//!
//! Both are again left to the dot ([`Lowerer::defer_widened_rhs`]), which reads the narrow
//! panels in place (or, for a tile past the buffer's end, from a narrow slot loaded as
//! `tile.load` does) and widens them once per tile, panel by panel, each a dense run, into
//! the `f32` panels the micro-kernel reads ([`Lowerer::widen_panels`]): a sequential read
//! of half the bytes instead of the strided rows of `[K, N]`. `bf16` inline as above; `f16`
//! by one call per panel of the runtime's `tsr_widen_f16_run` (`vcvtph2ps`, eight values
//! per instruction, where the CPU has F16C, which Cranelift does not emit; `half`'s exact
//! conversion otherwise): MLP B=32 `--precision f16` 74.7 M instructions per run with the
//! inline lane widening, 66.1 M with the helper. Widening in the
//! micro-kernel's rhs loads instead, `bf16` by `uload16x4` and a shift per vector, was
//! measured slower on 2 threads (MLP B=32 `--precision bf16`: 5.3 ms against 2.8 ms,
//! although with fewer instructions; probably the extra lane operations, repeated for
//! every row block, compete with the multiplies and adds for the FP pipes;
//! docs/BENCHMARKS.md, session 7), and `f16`'s 18 lane operations per vector more so
//! (about 2.6x the instructions at B=32).

use super::dot::{stores, uses, DotPlan};
use super::memory::Access;
use super::{buf_flags, single_result, Lowerer, Val};
use crate::error::Result;
use crate::tile_layout::TileSlot;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Value as ClValue};
use cranelift_frontend::FunctionBuilder;
use tessera_dialects::types::TileType;
use tessera_dialects::{DType, Op, Operation, TileOp, Type, Value};

impl Lowerer<'_, '_> {
    /// Whether `ops[i]` is the `tile.load` of a `bf16` or `f16` rhs that the `tile.cast` to
    /// `f32`
    /// right after it widens for an `f32` dot that packs its rhs: a 2-D tile of whole
    /// vectors loaded plainly from a 2-D buffer, the load used only by the cast, the cast
    /// only by the dot (as its rhs), with no `tile.store` in between. Both are then left
    /// to the dot ([`Self::load_deferred_widened`]).
    pub(super) fn defer_widened_rhs(&self, ops: &[Operation], i: usize) -> Result<bool> {
        let op = &ops[i];
        if op.op != Op::Tile(TileOp::Load) || op.results.len() != 1 {
            return Ok(false);
        }
        if op.operands.len() == 4 {
            return self.defer_widened_panels(ops, i);
        }
        if op.operands.len() != 3 {
            return Ok(false);
        }
        let v = op.results[0];
        let tile_2d = |l: &Self, v: Value, d: DType| match l.ty(v) {
            Ok(Type::Tile(t)) if t.dtype == d && t.shape.len() == 2 => {
                Some((t.shape[0], t.shape[1]))
            }
            _ => None,
        };
        let narrow = [DType::BF16, DType::F16]
            .into_iter()
            .find_map(|d| tile_2d(self, v, d));
        match narrow {
            Some((k, n)) if k >= 1 && n >= 4 && n % 4 == 0 => {}
            _ => return Ok(false),
        }
        let widened = |t: &TileType| t.dtype == DType::F32 && t.shape.len() == 2;
        let Some((w, j)) = self.widening_cast_use(ops, i, 2, widened)? else {
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

    /// Whether `ops[i]` (a `tile.load` with three indices) reads a `bf16` or `f16` `P x K x
    /// W` tile of a weight held in narrow panels (`tessera_tiling::prepack`) that the
    /// `tile.cast` to `f32` right after it widens for the `f32` `tile.dot` that alone uses
    /// the cast, as its rhs in panels, with no `tile.store` in between: both are left to
    /// the dot, which reads the narrow panels in place ([`Self::rhs_panels`]).
    fn defer_widened_panels(&self, ops: &[Operation], i: usize) -> Result<bool> {
        let op = &ops[i];
        let v = op.results[0];
        let tile = |v: Value| match self.ty(v) {
            Ok(Type::Tile(t)) => Some(t.clone()),
            _ => None,
        };
        let narrow = tile(v).filter(|t| {
            matches!(t.dtype, DType::BF16 | DType::F16) && t.shape.len() == 3 && t.shape[2] % 4 == 0
        });
        let Some(narrow) = narrow else {
            return Ok(false);
        };
        let widened = |t: &TileType| t.dtype == DType::F32 && t.shape == narrow.shape;
        let Some((w, j)) = self.widening_cast_use(ops, i, 3, widened)? else {
            return Ok(false);
        };
        let dot = &ops[i + 2 + j];
        let f32_2d =
            |x: &Value| tile(*x).is_some_and(|t| t.dtype == DType::F32 && t.shape.len() == 2);
        Ok(dot.op == Op::Tile(TileOp::Dot)
            && (3..=4).contains(&dot.operands.len())
            && dot.operands[1] == w
            && dot.operands[0] != w
            && dot.operands[2] != w
            && f32_2d(&dot.operands[0])
            && f32_2d(&dot.operands[2])
            && !ops[i + 2..i + 2 + j].iter().any(stores))
    }

    /// For the `tile.load` `ops[i]` (of `rank` indices, plain, its result used only once):
    /// the `tile.cast` to `f32` right after it that uses it, whose tile passes `widened`
    /// and whose result has one use, and the position after the cast of the operation
    /// that uses that result: `(the cast's result, j)` with the user at `ops[i + 2 + j]`.
    fn widening_cast_use(
        &self,
        ops: &[Operation],
        i: usize,
        rank: usize,
        widened: impl Fn(&TileType) -> bool,
    ) -> Result<Option<(Value, usize)>> {
        let (op, v) = (&ops[i], ops[i].results[0]);
        let Some(cast) = ops.get(i + 1) else {
            return Ok(None);
        };
        let cast_ok = cast.op == Op::Tile(TileOp::Cast)
            && cast.operands.as_slice() == [v]
            && cast.results.len() == 1
            && cast.attrs.dtype("dtype") == Some(DType::F32)
            && matches!(self.ty(cast.results[0]), Ok(Type::Tile(t)) if widened(t));
        if !cast_ok {
            return Ok(None);
        }
        let w = cast.results[0];
        let body = &self.func.body;
        if !Access::of(&op.attrs, rank, "tile.load")?.is_plain()
            || uses(body, v) != 1
            || uses(body, w) != 1
        {
            return Ok(None);
        }
        Ok(ops[i + 2..]
            .iter()
            .position(|o| o.operands.contains(&w))
            .map(|j| (w, j)))
    }

    /// The narrow `load` and the widening `cast` after it, left to the dot that packs the
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

    /// The narrow dtype (`bf16` or `f16`) a deferred rhs `load` reads, if it reads one
    /// (and so is widened while packed).
    fn widened_dtype(&self, load: &Operation) -> Option<DType> {
        match self.ty(*load.results.first()?) {
            Ok(Type::Tile(t)) if matches!(t.dtype, DType::BF16 | DType::F16) => Some(t.dtype),
            _ => None,
        }
    }

    /// Whether a deferred rhs `load` reads `bf16` or `f16` (and so is widened while
    /// packed).
    pub(super) fn is_widened_load(&self, load: &Operation) -> bool {
        self.widened_dtype(load).is_some()
    }

    /// The dtype of the tile a deferred rhs `load` reads: `f32`, or the narrow dtype it is
    /// widened from.
    pub(super) fn rhs_load_dtype(&self, load: &Operation) -> DType {
        self.widened_dtype(load).unwrap_or(DType::F32)
    }

    /// The `p` narrow panels of `k x w` elements (`elem`, `bf16` or `f16`) from `at`,
    /// `between` bytes apart, widened into the dense `f32` panels of `dst`: one pass over
    /// each panel's dense run, `bf16` four elements at a time, eight vectors per loop
    /// iteration, `f16` by the runtime's `tsr_widen_f16_run` (a weight held in narrow
    /// panels, see the module docs).
    pub(super) fn widen_panels(
        &mut self,
        (at, between): (ClValue, ClValue),
        elem: DType,
        dst: &TileSlot,
        (p, k, w): (i64, i64, i64),
    ) -> Result<()> {
        let size = elem.size_bytes() as i64;
        let base = self.slot_addr(dst);
        if elem == DType::F16 {
            // One call of the runtime's run widening per panel (`vcvtph2ps` with F16C,
            // a single instruction per eight values against about 36 lane operations).
            let ptr = types::I64;
            let f = self.helper(crate::helpers::WIDEN_F16_RUN, &[ptr, ptr, ptr], types::I32)?;
            return self.for_const(0, p, 1, |l, q| {
                let off = l.b.ins().imul(q, between);
                let src = l.b.ins().iadd(at, off);
                let off = l.mul_c(q, k * w * 4);
                let dst = l.b.ins().iadd(base, off);
                let count = l.iconst(k * w);
                l.b.ins().call(f, &[src, dst, count]);
                Ok(())
            });
        }
        // A panel's `k x w` elements are one dense run: `UNROLL` vectors per iteration,
        // then the last ones.
        const UNROLL: i64 = 8;
        let vecs = k * w / 4;
        let (whole, last) = (vecs - vecs % UNROLL, vecs % UNROLL);
        let widen = |l: &mut Self, src: ClValue, dst: ClValue, n: i64| {
            for v in 0..n {
                let x = match elem {
                    DType::F16 => l.widen_f16x4(src, v * 4 * size, buf_flags()),
                    _ => l.widen_bf16x4(src, v * 4 * size, buf_flags()),
                };
                l.b.ins()
                    .store(super::frame_flags(), x, dst, (v * 16) as i32);
            }
        };
        self.for_const(0, p, 1, |l, q| {
            let off = l.b.ins().imul(q, between);
            let src = l.b.ins().iadd(at, off);
            let off = l.mul_c(q, k * w * 4);
            let dst = l.b.ins().iadd(base, off);
            let mut ptrs = vec![src, dst];
            if whole > 0 {
                let (zero, end) = (l.iconst(0), l.iconst(whole));
                let (_, out) = l.for_carry(zero, end, UNROLL, ptrs, |l, _, ptrs| {
                    widen(l, ptrs[0], ptrs[1], UNROLL);
                    Ok(vec![
                        l.add_c(ptrs[0], UNROLL * 4 * size),
                        l.add_c(ptrs[1], UNROLL * 16),
                    ])
                })?;
                ptrs = out;
            }
            widen(l, ptrs[0], ptrs[1], last);
            Ok(())
        })
    }

    /// Packs the `k x n` narrow rhs tile of the deferred `load` into the `f32` panels
    /// `p`, widening: straight from the buffer when the tile lies wholly inside it, else
    /// loaded as `tile.load` does (padding included) into a narrow scratch slot first.
    pub(super) fn pack_rhs_widened(
        &mut self,
        load: &Operation,
        p: &TileSlot,
        (k, n): (i64, i64),
        vecs: i64,
    ) -> Result<()> {
        let d = self.widened_dtype(load).unwrap_or(DType::BF16);
        let slot = self.frame.alloc(d, &[k as usize, n as usize])?;
        let (src, row) = self.deferred_rows(load, &slot, (k, n))?;
        self.pack_rhs(src, row, buf_flags(), d, p, k, n, vecs)
    }

    /// Four `bf16` elements at byte offset `from` of `ptr`, widened exactly to an `f32x4`
    /// (the bits shifted into the high half).
    pub(super) fn widen_bf16x4(&mut self, ptr: ClValue, from: i64, flags: MemFlagsData) -> ClValue {
        let x = self.b.ins().uload16x4(flags, ptr, from as i32);
        let x = self.b.ins().ishl_imm_u(x, 16);
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        self.b.ins().bitcast(types::F32X4, little, x)
    }

    /// Four `f16` elements at byte offset `from` of `ptr`, widened exactly to an `f32x4`
    /// with integer lane operations (the module docs).
    pub(super) fn widen_f16x4(&mut self, ptr: ClValue, from: i64, flags: MemFlagsData) -> ClValue {
        let h = self.b.ins().uload16x4(flags, ptr, from as i32);
        widen_f16_lanes(&mut self.b, h)
    }
}

/// `f16` bits held zero-extended in the lanes of an `i32x4`, widened exactly to the
/// `f32x4` of their values (bit for bit `half::f16::to_f32`; the module docs). About 18
/// SSE instructions per four lanes (signed compares: the 15 bits of exponent and
/// mantissa are non-negative, so each test is one `pcmpgtd`).
pub(super) fn widen_f16_lanes(b: &mut FunctionBuilder<'_>, h: ClValue) -> ClValue {
    let splat = |b: &mut FunctionBuilder<'_>, v: i64| {
        let c = b.ins().iconst(types::I32, v);
        b.ins().splat(types::I32X4, c)
    };
    let and_const = |b: &mut FunctionBuilder<'_>, x: ClValue, v: i64| {
        let c = splat(b, v);
        b.ins().band(x, c)
    };
    // Exponent and mantissa (15 bits), moved to bits 13..28; the sign to bit 31.
    let em = and_const(b, h, 0x7fff);
    let sign = b.ins().bxor(h, em);
    let sign = b.ins().ishl_imm_u(sign, 16);
    let shifted = b.ins().ishl_imm_u(em, 13);
    let (c7bff, c7c00, c0400) = (splat(b, 0x7bff), splat(b, 0x7c00), splat(b, 0x0400));
    let is_special = b.ins().icmp(IntCC::SignedGreaterThan, em, c7bff);
    let is_nan = b.ins().icmp(IntCC::SignedGreaterThan, em, c7c00);
    let is_sub = b.ins().icmp(IntCC::SignedLessThan, em, c0400);
    // The exponent rebiased from 15 to 127 (+112); infinities and NaNs (exponent 31) by
    // 112 more, to 255; zeros and subnormals (exponent 0) to 113, that is 2^-14 (1 +
    // m / 1024), from which 2^-14 is subtracted below: m * 2^-24, exactly (both are
    // normal and within a factor of two: Sterbenz), so no subnormal f32 is ever formed.
    let special = and_const(b, is_special, 112 << 23);
    let sub = and_const(b, is_sub, 1 << 23);
    let adjust = b.ins().bor(special, sub);
    let rebias = splat(b, 112 << 23);
    let bits = b.ins().iadd(shifted, rebias);
    let bits = b.ins().iadd(bits, adjust);
    // A NaN quieted, as `half` and `vcvtph2ps` do.
    let quiet = and_const(b, is_nan, 0x0040_0000);
    let bits = b.ins().bor(bits, quiet);
    let little = MemFlagsData::new().with_endianness(Endianness::Little);
    let value = b.ins().bitcast(types::F32X4, little, bits);
    let fix = and_const(b, is_sub, 113 << 23);
    let fix = b.ins().bitcast(types::F32X4, little, fix);
    let value = b.ins().fsub(value, fix);
    let bits = b.ins().bitcast(types::I32X4, little, value);
    let bits = b.ins().bor(bits, sign);
    b.ins().bitcast(types::F32X4, little, bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cranelift_codegen::ir::AbiParam;
    use cranelift_codegen::settings::{self, Configurable};
    use cranelift_frontend::FunctionBuilderContext;
    use cranelift_jit::{JITBuilder, JITModule};
    use cranelift_module::{default_libcall_names, Linkage, Module};

    /// `widen(src, dst)`: four `f16` at `src` widened by [`widen_f16_lanes`] to four `f32`
    /// at `dst`, compiled for the host.
    fn compile() -> (JITModule, extern "C" fn(*const u16, *mut f32)) {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").expect("flag");
        let isa = cranelift_native::builder()
            .expect("host")
            .finish(settings::Flags::new(flags))
            .expect("isa");
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let mut ctx = module.make_context();
        let ptr = module.target_config().pointer_type();
        ctx.func.signature.params.push(AbiParam::new(ptr));
        ctx.func.signature.params.push(AbiParam::new(ptr));
        let mut fbc = FunctionBuilderContext::new();
        let frontend = module.isa().frontend_config();
        {
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let p = b.block_params(entry).to_vec();
            let h = b.ins().uload16x4(MemFlagsData::trusted(), p[0], 0);
            let w = widen_f16_lanes(&mut b, h);
            b.ins().store(MemFlagsData::trusted(), w, p[1], 0);
            b.ins().return_(&[]);
            b.seal_all_blocks();
            b.finalize(frontend);
        }
        let id = module
            .declare_function("widen", Linkage::Local, &ctx.func.signature)
            .expect("declares");
        module.define_function(id, &mut ctx).expect("compiles");
        module.finalize_definitions().expect("finalizes");
        let code = module.get_finalized_function(id);
        // SAFETY: the function was compiled with exactly this signature (two pointers,
        // no result) for the host's calling convention.
        let f =
            unsafe { std::mem::transmute::<*const u8, extern "C" fn(*const u16, *mut f32)>(code) };
        (module, f)
    }

    #[test]
    fn f16_widening_is_exact_on_every_input() {
        let (_module, widen) = compile();
        let all: Vec<u16> = (0..=u16::MAX).collect();
        let mut out = vec![0f32; all.len()];
        for (src, dst) in all.chunks(4).zip(out.chunks_mut(4)) {
            widen(src.as_ptr(), dst.as_mut_ptr());
        }
        for (h, got) in all.iter().zip(&out) {
            let want = tessera_runtime::scalar::f16_bits_to_f32(*h);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "f16 bits {h:#06x}: {got} vs {want}"
            );
        }
    }
}
