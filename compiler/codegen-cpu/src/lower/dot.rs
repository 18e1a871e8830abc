//! `tile.dot`: `acc + lhs @ rhs` on 2-D tiles.
//!
//! `f32`: register-blocked micro-kernels. The output is cut into blocks of `rows x vecs`
//! `f32x4` accumulators (the `block` schedule attribute, e.g. 4 x 2) that stay in registers
//! across the whole `k` loop; each `k` step loads `vecs` vectors of `rhs` and, per row, one
//! broadcast element of `lhs`, then per accumulator one `vmulps` and one `vaddps` (`madd =
//! "mul_add"`) or one `fma` (`madd = "fma"`, each factor a fresh broadcast: Cranelift ties
//! an `fma`'s result to its first factor). The `k` loop, counted down by its own register
//! and tested at its bottom, is unrolled `unroll` times; with `pack = "rhs"` the right
//! operand is first copied into contiguous column panels of the block's width (so that a
//! panel streams through L1 without the set conflicts of a strided walk; one loop over its
//! rows fills every panel; when the rhs is a `tile.load` used only by this dot, the load is
//! left to the dot, which packs straight from the buffer when the tile lies wholly inside
//! it, and loads it as `tile.load` does, padding included, before packing when it does
//! not), with `pack = "lhs"` each block of lhs rows is copied as broadcast vectors (four
//! `k` per loop iteration) before the column panels that read it (row blocks are then the
//! outer loop), `"both"` does both. Ragged edges: a last column panel of fewer vectors, a
//! last block of fewer rows, and the last `N % 4` columns with scalar accumulators. With
//! `rows = "live"` (matmul kernels, whose result rows are only stored), row blocks that lie
//! wholly in the padding of a tile loaded past the end of its buffer are skipped: the bound
//! comes from the `tile.load` of the lhs at run time, so a 128-row tile costs a batch of 32
//! rows the multiply-adds of 32 rows. With a fourth operand (an index: the result columns
//! that are read, e.g. the convolution's output columns inside the image), the column
//! panels that start at or past it are skipped and those columns left undefined. An lhs in
//! broadcast row panels (`Q x K x R x 4`: each element in four lanes, the convolution's
//! weight taps, `tessera_tiling`'s `conv.rs`) is read in place as a packed lhs is, row
//! blocks of `R` rows outside (no lhs packing); result column `n` reads lane `n % 4`.
//! Accumulation is in `f32`, sequential in `k`; the interpreter rounds once from `f64`, so
//! results agree within about `K * eps * sum |a b|`. `i8` operands with an `i32`
//! accumulator: the SIMD micro-kernel of [`super::dot_int`] (`pmaddwd` on operands packed
//! as `i16` pairs, exact). `i32` operands: scalar, wrapping, exact. Narrow float operands
//! (`f16`, `bf16`, `f8e4m3`, `f8e5m2`, both of one dtype) with any float accumulator, or
//! `f32` operands with a narrow accumulator: scalar, exactly the interpreter's computation:
//! operands widened exactly, `acc + sum_k a * b` in `f64` in `k` order (each product of two
//! narrow floats is exact in `f64`), rounded once to `f32` and then to the accumulator's
//! dtype (`round_arith`), so bit-identical to the interpreter.

use super::memory::{const_bits, Access};
use super::{buf_flags, frame_flags, single_result, Lowerer, Val};
use crate::error::{invalid, unsupported, Result};
use crate::tile_layout::TileSlot;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, BlockArg, InstBuilder, MemFlagsData, Value as ClValue};
use tessera_dialects::{DType, Op, Operation, Region, TileOp, Value};

/// One step of a micro-kernel's `k` loop ([`Lowerer::counted_loop`]): given the lhs and
/// rhs pointers and the step's index within the unrolled body, updates the accumulators.
pub(super) type KStep<'s, 'a, 'm> =
    dyn Fn(&mut Lowerer<'a, 'm>, ClValue, ClValue, i64, &mut [ClValue]) + 's;

/// A dot's `block = [rows, vecs]` attribute (`default` without one), checked.
pub(crate) fn block_attr(op: &Operation, default: (i64, i64)) -> Result<(i64, i64)> {
    match op.attrs.ints("block") {
        None => Ok(default),
        Some(&[r, v]) if (1..=16).contains(&r) && (1..=8).contains(&v) => Ok((r, v)),
        Some(other) => invalid(format!(
            "tile.dot: `block` must be [rows in 1..=16, vectors in 1..=8], got {other:?}"
        )),
    }
}

/// A dot's `unroll` attribute (1 without one), checked.
pub(crate) fn unroll_attr(op: &Operation) -> Result<i64> {
    match op.attrs.int("unroll") {
        None => Ok(1),
        Some(u) if (1..=16).contains(&u) => Ok(u),
        Some(u) => invalid(format!("tile.dot: `unroll` must be in 1..=16, got {u}")),
    }
}

/// How an `f32` `tile.dot` is blocked, from its schedule attributes (written by the
/// tiling crate's scheduler, `tessera_tiling::schedule`): `block = [rows, vecs]` (the
/// register block: `rows x vecs` `f32x4` accumulators), `unroll` (of the `k` loop) and
/// `pack = "rhs"` (copy the right operand into column panels first). Without them (the
/// tile IR as lowered, before scheduling): one row of four vectors, no unrolling, no
/// packing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DotPlan {
    pub rows: i64,
    pub vecs: i64,
    pub unroll: i64,
    pub pack_rhs: bool,
    /// Copy each block of `rows` lhs rows, every element broadcast to four lanes, before
    /// the column panels that use it (`pack = "lhs"` or `"both"`).
    pub pack_lhs: bool,
    /// `fma` (one fused multiply-add per product) or separate `fmul` + `fadd`.
    pub fused: bool,
    /// Result rows whose lhs row is padding (past the end of the buffer the lhs was
    /// loaded from) are never read (`rows = "live"`): row blocks wholly past the end are
    /// skipped, and those rows of the result are left undefined.
    pub live_rows: bool,
}

impl DotPlan {
    pub(crate) fn from_attrs(op: &Operation) -> Result<DotPlan> {
        let (rows, vecs) = block_attr(op, (1, 4))?;
        let unroll = unroll_attr(op)?;
        let (pack_rhs, pack_lhs) = match op.attrs.str("pack") {
            None | Some("none") => (false, false),
            Some("rhs") => (true, false),
            Some("lhs") => (false, true),
            Some("both") => (true, true),
            Some(p) => {
                return invalid(format!(
                    "tile.dot: `pack` must be \"none\", \"rhs\", \"lhs\" or \"both\", got \"{p}\""
                ))
            }
        };
        let fused = match op.attrs.str("madd") {
            None | Some("fma") => true,
            Some("mul_add") => false,
            Some(p) => {
                return invalid(format!(
                    "tile.dot: `madd` must be \"fma\" or \"mul_add\", got \"{p}\""
                ))
            }
        };
        let live_rows = match op.attrs.str("rows") {
            None | Some("all") => false,
            Some("live") => true,
            Some(p) => {
                return invalid(format!(
                    "tile.dot: `rows` must be \"all\" or \"live\", got \"{p}\""
                ))
            }
        };
        Ok(DotPlan {
            rows,
            vecs,
            unroll,
            pack_rhs,
            pack_lhs,
            fused,
            live_rows,
        })
    }
}

/// The most rhs vectors [`Lowerer::pack_rhs`] copies per loop iteration (one row of up to
/// 256 columns: 64 loads and 64 stores).
const PACK_VECS: i64 = 64;

/// An `f32` dot's rhs that needs no packing: column panels of the block's width read
/// where they are (`tile.dot`'s `P x K x W` rhs form: the address of the first panel's
/// first row and the bytes between panels), or already packed in the rhs slot as `pack =
/// "rhs"` lays them out (narrow panels widened there, `dot_widen`).
#[derive(Clone, Copy)]
enum Ready {
    At(ClValue, ClValue),
    Packed,
}

/// The operands of one `f32` dot as the micro-kernels address them.
struct Gemm {
    a: TileSlot,
    /// `b` itself (`k x n`, row-major) or its packed copy.
    b: TileSlot,
    c: TileSlot,
    out: TileSlot,
    m: i64,
    k: i64,
    n: i64,
    packed: bool,
    /// A rhs already in column panels of the block's width (`tile.dot`'s `P x K x W` rhs
    /// form): the address of the first panel's first row and the bytes between panels.
    panels: Option<(ClValue, ClValue)>,
    /// An lhs in broadcast row panels of the block's rows (`Q x K x R x 4`): the same,
    /// read as the packed lhs is.
    a_panels: Option<(ClValue, ClValue)>,
    /// The flags of vector accesses to rows of `n` elements.
    vflags: MemFlagsData,
}

impl Lowerer<'_, '_> {
    pub(super) fn dot(&mut self, op: &Operation) -> Result<()> {
        let [a, b, c] = match op.operands.as_slice() {
            [a, b, c] | [a, b, c, _] => [self.tile(*a)?, self.tile(*b)?, self.tile(*c)?],
            _ => return invalid("tile.dot expects lhs, rhs and acc"),
        };
        let out = self.result_slot(op)?;
        // The lhs as M x K or in broadcast row panels (Q x K x R x 4: a convolution's weight
        // taps), the rhs as K x N or in column panels (P x K x W: `tessera_tiling::prepack`).
        let (lhs, rhs) = match (a.shape.as_slice(), b.shape.as_slice()) {
            (&[m, k], _) => (Some((m, k, None)), b.shape.as_slice()),
            (&[q, k, r, 4], _) if r > 0 => (Some((q * r, k, Some(r as i64))), b.shape.as_slice()),
            _ => (None, b.shape.as_slice()),
        };
        let rhs = match *rhs {
            [k, n] => Some((k, n, None)),
            [p, k, w] if w > 0 => Some((k, p * w, Some(w as i64))),
            _ => None,
        };
        let (m, k, n, lhs_panels, panels) = match (lhs, rhs, c.shape.as_slice()) {
            (Some((m, k, lp)), Some((k2, n, rp)), &[m2, n2]) if m == m2 && n == n2 && k == k2 => {
                (m as i64, k as i64, n as i64, lp, rp)
            }
            (_, _, z) => {
                return invalid(format!(
                    "tile.dot: shapes do not fit (MxK, KxN, MxN): {:?}, {:?}, {z:?}",
                    a.shape, b.shape
                ))
            }
        };
        if out.shape != c.shape || out.dtype != c.dtype {
            return invalid("tile.dot: the result must have the accumulator's type");
        }
        match (a.dtype, b.dtype, c.dtype) {
            _ if (panels.is_some() || lhs_panels.is_some())
                && (a.dtype, b.dtype, c.dtype) != (DType::F32, DType::F32, DType::F32) =>
            {
                return unsupported(format!(
                    "tile.dot with an operand in panels on {} x {} tiles into a {} accumulator",
                    a.dtype, b.dtype, c.dtype
                ))
            }
            (DType::F32, DType::F32, DType::F32) => {
                let plan = DotPlan::from_attrs(op)?;
                if let Some(r) = lhs_panels {
                    if r != plan.rows || n % 4 != 0 {
                        return unsupported(format!(
                            "tile.dot: lhs row panels of {r} rows with a register block of {} rows, {n} columns",
                            plan.rows
                        ));
                    }
                }
                if let Some(w) = panels {
                    if w != plan.vecs * 4 || n % w != 0 {
                        return unsupported(format!(
                            "tile.dot: rhs panels of {w} columns with a register block of {} columns",
                            plan.vecs * 4
                        ));
                    }
                }
                let live = match plan.live_rows {
                    true => self.live_rows.get(&op.operands[0]).copied(),
                    false => None,
                };
                let rhs_load = self.deferred_rhs.remove(&op.operands[1]);
                let lhs_load = self.deferred_rhs.remove(&op.operands[0]);
                let cols = op.operands.get(3).map(|v| self.index(*v)).transpose()?;
                let loads = [lhs_load, rhs_load];
                let plan = DotPlan {
                    pack_rhs: plan.pack_rhs && panels.is_none(),
                    pack_lhs: plan.pack_lhs && lhs_panels.is_none(),
                    ..plan
                };
                let b_panels = match panels {
                    Some(w) => {
                        let shape = [(n / w) as usize, k as usize, w as usize];
                        Some(self.panels_at(&b, loads[1].as_ref(), &shape)?)
                    }
                    None => None,
                };
                // Narrow panels (a `bf16` or `f16` weight packed when bound) are widened
                // once per tile into the rhs slot, which then holds the `f32` panels as
                // `pack = "rhs"` lays them out (`dot_widen`), and is read as such.
                let b_panels = match (b_panels, panels) {
                    (Some((at, between, d)), Some(w)) if d != DType::F32 => {
                        self.widen_panels((at, between), d, &b, (n / w, k, w))?;
                        Some(Ready::Packed)
                    }
                    (p, _) => p.map(|(at, between, _)| Ready::At(at, between)),
                };
                // Broadcast row panels: Q panels of K rows of R vectors.
                let a_panels = match lhs_panels {
                    Some(r) => {
                        let shape = [(m / r) as usize, k as usize, r as usize, 4];
                        let (at, between, _) = self.panels_at(&a, loads[0].as_ref(), &shape)?;
                        Some((at, between))
                    }
                    None => None,
                };
                let loads = [
                    loads[0].clone().filter(|_| a_panels.is_none()),
                    loads[1].clone().filter(|_| b_panels.is_none()),
                ];
                let live = live.filter(|_| a_panels.is_none());
                self.dot_f32(
                    &a,
                    &b,
                    &c,
                    &out,
                    (m, k, n),
                    [live, cols],
                    loads,
                    plan,
                    (a_panels, b_panels),
                )?
            }
            (DType::I8, DType::I8, DType::I32) => {
                let plan = super::dot_int::IntDotPlan::from_attrs(op)?;
                let cols = op.operands.get(3).map(|v| self.index(*v)).transpose()?;
                self.dot_i8(&a, &b, &c, &out, m, k, n, plan, cols)?
            }
            (DType::I32, DType::I32, DType::I32) => self.dot_int(&a, &b, &c, &out, m, k, n)?,
            (x, y, z) if x == y && x.is_float() && z.is_float() => {
                self.dot_f64(&a, &b, &c, &out, m, k, n)?
            }
            (x, y, z) => {
                return unsupported(format!(
                    "tile.dot on {x} x {y} tiles into a {z} accumulator"
                ))
            }
        }
        self.set(single_result(op)?, Val::Tile(out))
    }

    /// The address of element (r, col) of a row-major slot with `cols` columns.
    fn at2(&mut self, s: &TileSlot, r: ClValue, col: ClValue, cols: i64) -> ClValue {
        let e = self.mul_c(r, cols);
        let e = self.b.ins().iadd(e, col);
        self.elem_addr(s, e)
    }

    #[allow(clippy::too_many_arguments)]
    fn dot_f32(
        &mut self,
        a: &TileSlot,
        b: &TileSlot,
        c: &TileSlot,
        out: &TileSlot,
        (m, k, n): (i64, i64, i64),
        [live, cols]: [Option<ClValue>; 2],
        [lhs_load, rhs_load]: [Option<Operation>; 2],
        plan: DotPlan,
        (a_panels, ready): (Option<(ClValue, ClValue)>, Option<Ready>),
    ) -> Result<()> {
        let panels = match ready {
            Some(Ready::At(at, between)) => Some((at, between)),
            _ => None,
        };
        let n4 = n - n % 4;
        // Rows of `b`, `c` and `out` are 16-byte aligned only when `n` is a multiple of 4.
        let vflags = if n % 4 == 0 {
            frame_flags()
        } else {
            MemFlagsData::new().with_notrap()
        };
        if n4 > 0 {
            let g = Gemm {
                a: a.clone(),
                b: b.clone(),
                c: c.clone(),
                out: out.clone(),
                m,
                k,
                n,
                packed: plan.pack_rhs || ready.is_some(),
                panels,
                a_panels,
                vflags,
            };
            let g = if plan.pack_rhs && ready.is_none() {
                let p = self.frame.alloc(DType::F32, &[k as usize, n4 as usize])?;
                match rhs_load {
                    // A bf16 rhs, widened while packed (`dot_widen`).
                    Some(load) if self.is_widened_load(&load) => {
                        self.pack_rhs_widened(&load, &p, (k, n), plan.vecs)?
                    }
                    Some(load) => self.pack_rhs_loaded(&load, b, &p, (k, n), plan.vecs)?,
                    None => {
                        let src = self.slot_addr(b);
                        let row = self.iconst(n * 4);
                        self.pack_rhs(src, row, vflags, DType::F32, &p, k, n4, plan.vecs)?
                    }
                }
                Gemm { b: p, ..g }
            } else {
                g
            };
            let bw = plan.vecs * 4;
            let (full, rem) = (n4 / bw, (n4 % bw) / 4);
            if plan.pack_lhs {
                // Row blocks outside, column panels inside: each block of lhs rows is
                // broadcast once into `pa` (`k x rows` vectors, 16 KiB for 4 x 256) and
                // read by every column panel from L1.
                let rows = plan.rows.min(m).max(1);
                let pa = self
                    .frame
                    .alloc(DType::F32, &[(k * rows * 4).max(1) as usize])?;
                let (src, row) = match &lhs_load {
                    Some(load) => self.lhs_rows(load, a, (m, k))?,
                    None => (self.slot_addr(a), self.iconst(k * 4)),
                };
                let block = |l: &mut Self, row0: ClValue, rows: i64| -> Result<()> {
                    l.pack_lhs((src, row), row0, rows, k, &pa)?;
                    l.panel_range((full, rem, plan.vecs), cols, &|l, col0, vecs| {
                        l.micro_kernel(&g, Some(&pa), row0, col0, rows, vecs, plan)
                    })
                };
                self.row_block_range(m, rows, live, &block)?;
            } else if a_panels.is_some() {
                // Row blocks outside here too: a block's lhs panel (`k x rows` floats) is
                // read from L1 by every column panel.
                let block = |l: &mut Self, row0: ClValue, rows: i64| -> Result<()> {
                    l.panel_range((full, rem, plan.vecs), cols, &|l, col0, vecs| {
                        l.micro_kernel(&g, None, row0, col0, rows, vecs, plan)
                    })
                };
                self.row_block_range(m, plan.rows, None, &block)?;
            } else {
                self.panel_range((full, rem, plan.vecs), cols, &|l, col0, vecs| {
                    l.row_blocks(&g, col0, vecs, live, plan)
                })?;
            }
        }
        if n4 < n {
            // The last `n % 4` columns: one scalar accumulator each.
            self.for_const(0, m, 1, |l, mi| {
                l.for_const(n4, n, 1, |l, ni| {
                    let p = l.at2(c, mi, ni, n);
                    let init = l.b.ins().load(types::F32, frame_flags(), p, 0);
                    let (zero, kend) = (l.iconst(0), l.iconst(k));
                    let (_, acc) = l.for_carry(zero, kend, 1, vec![init], |l, kk, acc| {
                        let pa = l.at2(a, mi, kk, k);
                        let pb = l.at2(b, kk, ni, n);
                        let av = l.b.ins().load(types::F32, frame_flags(), pa, 0);
                        let bv = l.b.ins().load(types::F32, frame_flags(), pb, 0);
                        Ok(vec![l.b.ins().fma(av, bv, acc[0])])
                    })?;
                    let q = l.at2(out, mi, ni, n);
                    l.b.ins().store(frame_flags(), acc[0], q, 0);
                    Ok(())
                })
            })?;
        }
        Ok(())
    }

    /// Copies the first `n4` columns of a `k`-row tile (row `r` at `src + r * row` bytes,
    /// read with `flags`) into the scratch slot `p` laid out as the micro-kernel reads it:
    /// column panels of `vecs * 4` columns (the last one narrower), each `k` rows of its
    /// width, dense. The panel of columns from `col0` starts at element `col0 * k`. One
    /// loop over the rows copies a row into every panel (up to [`PACK_VECS`] vectors per
    /// iteration; wider tiles take several passes), so the loop's increments, compare and
    /// branch are paid once per row, not once per panel row.
    /// The source is `f32`, or `bf16` or `f16` (`elem`), widened exactly on the way (a
    /// weight held narrow, see `dot_widen.rs`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pack_rhs(
        &mut self,
        src: ClValue,
        row: ClValue,
        flags: MemFlagsData,
        elem: DType,
        p: &TileSlot,
        k: i64,
        n4: i64,
        vecs: i64,
    ) -> Result<()> {
        let bw = vecs * 4;
        let (full, rem) = (n4 / bw, (n4 % bw) / 4);
        let size = elem.size_bytes() as i64;
        // Four source elements at byte offset `from` as an f32x4.
        let read4 = |l: &mut Self, ptr: ClValue, from: i64| -> ClValue {
            match elem {
                DType::BF16 => l.widen_bf16x4(ptr, from, flags),
                DType::F16 => l.widen_f16x4(ptr, from, flags),
                _ => l.b.ins().load(types::F32X4, flags, ptr, from as i32),
            }
        };
        // One pass: `panels` full panels from panel `first`, then the narrower last panel
        // (`rem` vectors, which starts where the full panels end) when `rem > 0`.
        let pass = |l: &mut Self, first: ClValue, panels: i64, rem: i64| -> Result<()> {
            let col0 = l.mul_c(first, bw * size);
            let src = l.b.ins().iadd(src, col0);
            // The f32 panel of columns from `first * bw` starts at `first * bw * k` f32s.
            let off = l.mul_c(first, bw * 4 * k);
            let base = l.slot_addr(p);
            let dst = l.b.ins().iadd(base, off);
            let drem = l.add_c(dst, panels * bw * k * 4);
            let (zero, kend) = (l.iconst(0), l.iconst(k));
            l.for_carry(zero, kend, 1, vec![src, dst, drem], |l, _, ptrs| {
                for q in 0..panels {
                    for v in 0..vecs {
                        let x = read4(l, ptrs[0], (q * bw + v * 4) * size);
                        let to = (q * bw * k * 4 + v * 16) as i32;
                        l.b.ins().store(frame_flags(), x, ptrs[1], to);
                    }
                }
                for v in 0..rem {
                    let x = read4(l, ptrs[0], (panels * bw + v * 4) * size);
                    l.b.ins().store(frame_flags(), x, ptrs[2], (v * 16) as i32);
                }
                Ok(vec![
                    l.b.ins().iadd(ptrs[0], row),
                    l.add_c(ptrs[1], bw * 4),
                    l.add_c(ptrs[2], rem * 16),
                ])
            })?;
            Ok(())
        };
        let chunk = (PACK_VECS / vecs).max(1);
        let (passes, last) = (full / chunk, full % chunk);
        if passes > 0 {
            self.for_const(0, passes, 1, |l, c| {
                let first = l.mul_c(c, chunk);
                pass(l, first, chunk, 0)
            })?;
        }
        if last > 0 || rem > 0 {
            let first = self.iconst(passes * chunk);
            pass(self, first, last, rem)?;
        }
        Ok(())
    }

    /// Whether `ops[i]` is a `tile.load` to leave to the `tile.dot` after it that packs
    /// the loaded tile as its rhs ([`Self::pack_rhs_loaded`]) or as its lhs
    /// ([`Self::lhs_rows`]): an `f32` tile of whole vectors loaded plainly (unit steps, no
    /// permutation) from a 2-D buffer, used once in the kernel, by an `f32` dot of this
    /// region that packs that operand, with no `tile.store` in between.
    pub(super) fn defer_rhs(&self, ops: &[Operation], i: usize) -> Result<bool> {
        let op = &ops[i];
        if op.op != Op::Tile(TileOp::Load) || op.results.len() != 1 {
            return Ok(false);
        }
        if let Ok(tessera_dialects::Type::Tile(t)) = self.ty(op.results[0]) {
            if t.dtype == DType::F32
                && (3..=4).contains(&t.shape.len())
                && op.operands.len() == t.shape.len() + 1
            {
                return self.defer_panels(ops, i);
            }
        }
        if op.operands.len() != 3 {
            return Ok(false);
        }
        let v = op.results[0];
        let f32_2d = |l: &Self, v: Value| match l.ty(v) {
            Ok(tessera_dialects::Type::Tile(t)) if t.dtype == DType::F32 && t.shape.len() == 2 => {
                Some((t.shape[0], t.shape[1]))
            }
            _ => None,
        };
        match f32_2d(self, v) {
            Some((k, n)) if k >= 1 && n >= 4 && n % 4 == 0 => {}
            _ => return Ok(false),
        }
        if !Access::of(&op.attrs, 2, "tile.load")?.is_plain() || uses(&self.func.body, v) != 1 {
            return Ok(false);
        }
        let Some(j) = ops[i + 1..].iter().position(|o| o.operands.contains(&v)) else {
            return Ok(false);
        };
        let dot = &ops[i + 1 + j];
        // The lhs too when the dot packs it as broadcasts, has no live-row bound (which
        // `tile.load` computes) and no scalar last columns (which read the lhs tile).
        let whole_vectors = dot
            .operands
            .get(1)
            .and_then(|&b| f32_2d(self, b))
            .is_some_and(|(_, n)| n >= 4 && n % 4 == 0);
        let packs = |p: DotPlan| match dot.operands.iter().position(|&o| o == v) {
            Some(0) => p.pack_lhs && !p.live_rows && whole_vectors,
            Some(1) => p.pack_rhs,
            _ => false,
        };
        Ok(dot.op == Op::Tile(TileOp::Dot)
            && (3..=4).contains(&dot.operands.len())
            && f32_2d(self, dot.operands[0]).is_some()
            && f32_2d(self, dot.operands[1]).is_some()
            && f32_2d(self, dot.operands[2]).is_some()
            && DotPlan::from_attrs(dot).is_ok_and(packs)
            && !ops[i + 1..i + 1 + j].iter().any(stores))
    }

    /// Where the panels of an operand in panels are read (a `P x K x W` rhs tile, or a
    /// `Q x K x R x 4` lhs tile, `tile.dot`'s packed forms; `shape`): the first panel's
    /// first row, the bytes between panels and the dtype they are held in. A deferred
    /// `load` ([`Self::defer_rhs`], or a `bf16` or `f16` one that the dot widens,
    /// [`Self::defer_widened_rhs`]) is read in place when its tile lies wholly inside the
    /// buffer with contiguous panel rows (weights packed when bound or by the convolution's
    /// weight kernel: no copy at all), else loaded into a slot of its dtype as `tile.load`
    /// does, padding included; a tile in a slot is read there.
    fn panels_at(
        &mut self,
        slot: &TileSlot,
        load: Option<&Operation>,
        shape: &[usize],
    ) -> Result<(ClValue, ClValue, DType)> {
        let row: i64 = shape[1..].iter().product::<usize>() as i64;
        let Some(load) = load else {
            return Ok((self.slot_addr(slot), self.iconst(row * 4), DType::F32));
        };
        let elem = self.rhs_load_dtype(load);
        let size = elem.size_bytes() as i64;
        let slot = match elem {
            DType::F32 => slot.clone(),
            d => self.frame.alloc(d, shape)?,
        };
        let slot = &slot;
        let buf = self.buffer(load.operands[0])?;
        let idx = &load.operands[1..];
        let acc = Access::of(&load.attrs, shape.len(), "tile.load")?;
        let starts = self.tile_starts(idx, shape, &acc)?;
        let zero = self.iconst(0);
        let mut inside = self.b.ins().iconst(types::I8, 1);
        // Every axis past the first is whole and contiguous.
        for a in 1..shape.len() {
            let inner = self.iconst(shape[a + 1..].iter().product::<usize>() as i64);
            let dense = self.b.ins().icmp(IntCC::Equal, buf.strides[a], inner);
            inside = self.b.ins().band(inside, dense);
        }
        for (a, &t) in shape.iter().enumerate() {
            let end = self.add_c(starts[a], t as i64);
            let lo = self
                .b
                .ins()
                .icmp(IntCC::SignedGreaterThanOrEqual, starts[a], zero);
            let hi = self
                .b
                .ins()
                .icmp(IntCC::SignedLessThanOrEqual, end, buf.dims[a]);
            let both = self.b.ins().band(lo, hi);
            inside = self.b.ins().band(inside, both);
        }
        let (fast, slow, join) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        let at = self.b.append_block_param(join, types::I64);
        let between = self.b.append_block_param(join, types::I64);
        self.b.ins().brif(inside, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        let mut e = self.b.ins().imul(starts[0], buf.strides[0]);
        for (&st, &stride) in starts.iter().zip(&buf.strides).skip(1) {
            let t = self.b.ins().imul(st, stride);
            e = self.b.ins().iadd(e, t);
        }
        let off = self.mul_c(e, size);
        let p = self.b.ins().iadd(buf.base, off);
        let bytes = self.mul_c(buf.strides[0], size);
        self.b
            .ins()
            .jump(join, &[BlockArg::Value(p), BlockArg::Value(bytes)]);
        self.b.switch_to_block(slow);
        let pad = match load.attrs.get("pad") {
            Some(v) => const_bits(v, slot.dtype)?,
            None => 0,
        };
        self.transfer(&buf, idx, slot, Some(pad), &acc)?;
        let p = self.slot_addr(slot);
        let bytes = self.iconst(row * size);
        self.b
            .ins()
            .jump(join, &[BlockArg::Value(p), BlockArg::Value(bytes)]);
        self.b.switch_to_block(join);
        Ok((at, between, elem))
    }

    /// Whether `ops[i]`, a `tile.load` of an `f32` `P x K x W` tile, is the rhs in column
    /// panels (or the lhs in row panels) of the `f32` `tile.dot` after it that alone uses
    /// it, with no `tile.store` in between: left to the dot ([`Self::rhs_panels`]).
    fn defer_panels(&self, ops: &[Operation], i: usize) -> Result<bool> {
        let op = &ops[i];
        let v = op.results[0];
        let rank = match self.ty(v) {
            Ok(tessera_dialects::Type::Tile(t)) => t.shape.len(),
            _ => 0,
        };
        if !Access::of(&op.attrs, rank, "tile.load")?.is_plain() || uses(&self.func.body, v) != 1 {
            return Ok(false);
        }
        let Some(j) = ops[i + 1..].iter().position(|o| o.operands.contains(&v)) else {
            return Ok(false);
        };
        let dot = &ops[i + 1 + j];
        let f32_tile = |x: &Value| matches!(self.ty(*x), Ok(tessera_dialects::Type::Tile(t)) if t.dtype == DType::F32);
        // The rhs in column panels or the lhs in row panels, used once by the dot.
        let once = |at: usize| {
            dot.operands
                .iter()
                .enumerate()
                .all(|(o, &x)| (o == at) == (x == v))
        };
        Ok(dot.op == Op::Tile(TileOp::Dot)
            && (3..=4).contains(&dot.operands.len())
            && ((rank == 4 && once(0)) || (rank == 3 && once(1)))
            && dot.operands[..3].iter().all(f32_tile)
            && !ops[i + 1..i + 1 + j].iter().any(stores))
    }

    /// A `tile.load` left to the dot that packs it ([`Self::defer_rhs`]): only its slot.
    pub(super) fn load_deferred(&mut self, op: &Operation) -> Result<()> {
        let slot = self.result_slot(op)?;
        let v = single_result(op)?;
        self.deferred_rhs.insert(v, op.clone());
        self.set(v, Val::Tile(slot))
    }

    /// Packs the `k x n` rhs tile of the deferred `load` ([`Self::defer_rhs`]) into the
    /// panels `p`: from the buffer itself when the tile lies wholly inside it (one copy
    /// instead of the load's copy into `slot` and the packing copy), else from `slot`
    /// after the load as `tile.load` does it (padding included), see
    /// [`Self::deferred_rows`].
    fn pack_rhs_loaded(
        &mut self,
        load: &Operation,
        slot: &TileSlot,
        p: &TileSlot,
        (k, n): (i64, i64),
        vecs: i64,
    ) -> Result<()> {
        let (src, row) = self.deferred_rows(load, slot, (k, n))?;
        self.pack_rhs(src, row, buf_flags(), DType::F32, p, k, n, vecs)
    }

    /// Where the rows of a deferred lhs `load` are read from by [`Self::pack_lhs`] (the
    /// convolution's weight taps): see [`Self::deferred_rows`].
    fn lhs_rows(
        &mut self,
        load: &Operation,
        slot: &TileSlot,
        (m, k): (i64, i64),
    ) -> Result<(ClValue, ClValue)> {
        self.deferred_rows(load, slot, (m, k))
    }

    /// Where the rows of the `r x c` tile of a 2-D `load` left to a dot are read from: the
    /// buffer itself when the tile lies wholly inside it with unit column stride (no
    /// copy), else `slot` (of the load's dtype) after the load as `tile.load` does it,
    /// padding included. Returns the first row's address and the bytes between rows; both
    /// are read with [`buf_flags`].
    pub(super) fn deferred_rows(
        &mut self,
        load: &Operation,
        slot: &TileSlot,
        (r, c): (i64, i64),
    ) -> Result<(ClValue, ClValue)> {
        let buf = self.buffer(load.operands[0])?;
        let idx = &load.operands[1..];
        let acc = Access::of(&load.attrs, 2, "tile.load")?;
        let elem = slot.dtype.size_bytes() as i64;
        let starts = self.tile_starts(idx, &[r as usize, c as usize], &acc)?;
        let zero = self.iconst(0);
        let one = self.iconst(1);
        let (e0, e1) = (self.add_c(starts[0], r), self.add_c(starts[1], c));
        let conds = [
            self.b
                .ins()
                .icmp(IntCC::SignedGreaterThanOrEqual, starts[0], zero),
            self.b
                .ins()
                .icmp(IntCC::SignedLessThanOrEqual, e0, buf.dims[0]),
            self.b
                .ins()
                .icmp(IntCC::SignedGreaterThanOrEqual, starts[1], zero),
            self.b
                .ins()
                .icmp(IntCC::SignedLessThanOrEqual, e1, buf.dims[1]),
            self.b.ins().icmp(IntCC::Equal, buf.strides[1], one),
        ];
        let inside = conds[1..]
            .iter()
            .fold(conds[0], |a, &c| self.b.ins().band(a, c));
        let (fast, slow, join) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        let src = self.b.append_block_param(join, types::I64);
        let row = self.b.append_block_param(join, types::I64);
        self.b.ins().brif(inside, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        let e = self.b.ins().imul(starts[0], buf.strides[0]);
        let e = self.b.ins().iadd(e, starts[1]);
        let off = self.mul_c(e, elem);
        let at = self.b.ins().iadd(buf.base, off);
        let bytes = self.mul_c(buf.strides[0], elem);
        self.b
            .ins()
            .jump(join, &[BlockArg::Value(at), BlockArg::Value(bytes)]);
        self.b.switch_to_block(slow);
        let pad = match load.attrs.get("pad") {
            Some(v) => const_bits(v, slot.dtype)?,
            None => 0,
        };
        self.transfer(&buf, idx, slot, Some(pad), &acc)?;
        let at = self.slot_addr(slot);
        let bytes = self.iconst(c * elem);
        self.b
            .ins()
            .jump(join, &[BlockArg::Value(at), BlockArg::Value(bytes)]);
        self.b.switch_to_block(join);
        Ok((src, row))
    }

    /// Copies rows `row0 .. row0 + rows` of the `m x k` lhs (row `r` at `a + r * row`
    /// bytes: its tile slot, or the buffer it is loaded from, see [`Self::lhs_rows`]) into `pa` as the
    /// micro-kernel reads them with `pack = "lhs"`: for each `k`, the `rows` elements of
    /// that column, each broadcast to a four-lane vector (element `(r, kk)` at vector
    /// `kk * rows + r`). Four `k` per loop iteration, then the last `k % 4` one by one.
    fn pack_lhs(
        &mut self,
        (a, row): (ClValue, ClValue),
        row0: ClValue,
        rows: i64,
        k: i64,
        pa: &TileSlot,
    ) -> Result<()> {
        let e = self.b.ins().imul(row0, row);
        let src = self.b.ins().iadd(a, e);
        let offs: Vec<ClValue> = (0..rows).map(|r| self.mul_c(row, r)).collect();
        let dst = self.slot_addr(pa);
        let mut ptrs = vec![src, dst];
        for (start, end, step) in [(0, k - k % 4, 4), (k - k % 4, k, 1)] {
            if end <= start {
                continue;
            }
            let (s, e) = (self.iconst(start), self.iconst(end));
            let (_, out) = self.for_carry(s, e, step, ptrs, |l, _, p| {
                for t in 0..step {
                    for (r, &off) in offs.iter().enumerate() {
                        let r = r as i64;
                        let at = l.b.ins().iadd(p[0], off);
                        let x = l.b.ins().load(types::F32, buf_flags(), at, (t * 4) as i32);
                        let v = l.b.ins().splat(types::F32X4, x);
                        let to = ((t * rows + r) * 16) as i32;
                        l.b.ins().store(frame_flags(), v, p[1], to);
                    }
                }
                Ok(vec![
                    l.add_c(p[0], step * 4),
                    l.add_c(p[1], step * rows * 16),
                ])
            })?;
            ptrs = out;
        }
        Ok(())
    }

    /// The micro-kernels of one column panel (`vecs` vectors from `col0`): blocks of
    /// `plan.rows` rows, then one block of the remaining rows.
    fn row_blocks(
        &mut self,
        g: &Gemm,
        col0: ClValue,
        vecs: i64,
        live: Option<ClValue>,
        plan: DotPlan,
    ) -> Result<()> {
        self.row_block_range(g.m, plan.rows, live, &|l: &mut Self, row0, rows| {
            l.micro_kernel(g, None, row0, col0, rows, vecs, plan)
        })
    }

    /// Calls `panel(col0, vecs)` for the `full` column panels of `vecs` vectors, then for
    /// the narrower last panel of `rem` vectors. With `cols` (the dot's fourth operand: the
    /// number of leading result columns that are read, known at run time), only the
    /// panels that start before it; the others are left undefined.
    fn panel_range(
        &mut self,
        (full, rem, vecs): (i64, i64, i64),
        cols: Option<ClValue>,
        panel: &dyn Fn(&mut Self, ClValue, i64) -> Result<()>,
    ) -> Result<()> {
        let bw = vecs * 4;
        let Some(cols) = cols else {
            if full > 0 {
                self.for_const(0, full, 1, |l, jb| {
                    let col0 = l.mul_c(jb, bw);
                    panel(l, col0, vecs)
                })?;
            }
            if rem > 0 {
                let col0 = self.iconst(full * bw);
                panel(self, col0, rem)?;
            }
            return Ok(());
        };
        if full > 0 {
            // min(ceil(cols / bw), full) full panels (a negative `cols` counts as none).
            let zero = self.iconst(0);
            let cols = self.b.ins().smax(cols, zero);
            let up = self.add_c(cols, bw - 1);
            let bw_c = self.iconst(bw);
            let panels = self.b.ins().udiv(up, bw_c);
            let full_c = self.iconst(full);
            let panels = self.b.ins().umin(panels, full_c);
            self.for_loop(zero, panels, 1, |l, jb| {
                let col0 = l.mul_c(jb, bw);
                panel(l, col0, vecs)
            })?;
        }
        if rem > 0 {
            let col0 = self.iconst(full * bw);
            let needed = self.b.ins().icmp(IntCC::SignedGreaterThan, cols, col0);
            let then = self.b.create_block();
            let join = self.b.create_block();
            self.b.ins().brif(needed, then, &[], join, &[]);
            self.b.switch_to_block(then);
            panel(self, col0, rem)?;
            self.b.ins().jump(join, &[]);
            self.b.switch_to_block(join);
        }
        Ok(())
    }

    /// Calls `block(row0, rows)` for the blocks of `rows` rows of an `m`-row tile, then
    /// for the block of the remaining `m % rows` rows. With `live` (the number of leading
    /// rows that are not padding, known at run time), only the blocks that start before
    /// it.
    fn row_block_range(
        &mut self,
        m: i64,
        rows: i64,
        live: Option<ClValue>,
        block: &dyn Fn(&mut Self, ClValue, i64) -> Result<()>,
    ) -> Result<()> {
        let (full, rem) = (m / rows, m % rows);
        let Some(live) = live else {
            if full > 0 {
                self.for_const(0, full, 1, |l, ib| {
                    let row0 = l.mul_c(ib, rows);
                    block(l, row0, rows)
                })?;
            }
            if rem > 0 {
                let row0 = self.iconst(full * rows);
                block(self, row0, rem)?;
            }
            return Ok(());
        };
        if full > 0 {
            // min(ceil(live / rows), full) full blocks.
            let up = self.add_c(live, rows - 1);
            let rows_c = self.iconst(rows);
            let blocks = self.b.ins().udiv(up, rows_c);
            let full_c = self.iconst(full);
            let blocks = self.b.ins().umin(blocks, full_c);
            let zero = self.iconst(0);
            self.for_loop(zero, blocks, 1, |l, ib| {
                let row0 = l.mul_c(ib, rows);
                block(l, row0, rows)
            })?;
        }
        if rem > 0 {
            let row0 = self.iconst(full * rows);
            let needed = self.b.ins().icmp(IntCC::UnsignedGreaterThan, live, row0);
            let then = self.b.create_block();
            let join = self.b.create_block();
            self.b.ins().brif(needed, then, &[], join, &[]);
            self.b.switch_to_block(then);
            block(self, row0, rem)?;
            self.b.ins().jump(join, &[]);
            self.b.switch_to_block(join);
        }
        Ok(())
    }

    /// One register block: `rows x vecs` `f32x4` accumulators loaded from `c`, held in
    /// registers across the whole `k` loop (unrolled `unroll` times: per step, `vecs`
    /// vector loads of `b`, `rows` broadcast loads of `a`, `rows * vecs` fmas), stored to
    /// `out`. With `packed_a` (`pack_lhs`), the lhs rows are read as broadcast vectors
    /// from that slot (the block's copy, see [`Self::pack_lhs`]).
    #[allow(clippy::too_many_arguments)]
    fn micro_kernel(
        &mut self,
        g: &Gemm,
        packed_a: Option<&TileSlot>,
        row0: ClValue,
        col0: ClValue,
        rows: i64,
        vecs: i64,
        plan: DotPlan,
    ) -> Result<()> {
        let unroll = plan.unroll;
        let (k, n) = (g.k, g.n);
        let aflags = match g.a_panels {
            Some(_) => buf_flags(),
            None => frame_flags(),
        }
        .with_readonly()
        .with_can_move();
        let e = self.mul_c(row0, n);
        let e = self.b.ins().iadd(e, col0);
        let pc = self.elem_addr(&g.c, e);
        let po = self.elem_addr(&g.out, e);
        let mut accs = Vec::new();
        for r in 0..rows {
            for v in 0..vecs {
                let off = ((r * n + v * 4) * 4) as i32;
                accs.push(self.b.ins().load(types::F32X4, g.vflags, pc, off));
            }
        }
        // Bytes between the lhs elements of consecutive `k` and of consecutive rows.
        let (pa, astep, arow) = match (packed_a, g.a_panels) {
            (Some(s), _) => (self.slot_addr(s), rows * 16, 16),
            (None, Some((at, between))) => {
                // Row panel `row0 / rows` (every block is a whole panel), its elements
                // already broadcast: read as the packed lhs.
                let r = self.iconst(plan.rows);
                let q = self.b.ins().udiv(row0, r);
                let off = self.b.ins().imul(q, between);
                (self.b.ins().iadd(at, off), rows * 16, 16)
            }
            (None, None) => {
                let ea = self.mul_c(row0, k);
                (self.elem_addr(&g.a, ea), 4, k * 4)
            }
        };
        // The lhs element (r, t) as a four-lane vector: a broadcast from memory, or a
        // load of its packed broadcast copy. `base` differs per use where value numbering
        // must not merge two loads of one element.
        let broadcast = packed_a.is_some() || g.a_panels.is_some();
        let lhs = |l: &mut Self, base: ClValue, off: i64| -> ClValue {
            if broadcast {
                l.b.ins().load(types::F32X4, aflags, base, off as i32)
            } else {
                let x = l.b.ins().load(types::F32, aflags, base, off as i32);
                l.b.ins().splat(types::F32X4, x)
            }
        };
        let (pb, bstride) = match g.panels {
            Some((at, between)) => {
                // Panel `col0 / (vecs * 4)`: every panel but a last narrower one is full.
                let bw = self.iconst(plan.vecs * 4);
                let p = self.b.ins().udiv(col0, bw);
                let off = self.b.ins().imul(p, between);
                (self.b.ins().iadd(at, off), vecs * 4)
            }
            None if g.packed => {
                let eb = self.mul_c(col0, k);
                (self.elem_addr(&g.b, eb), vecs * 4)
            }
            None => (self.elem_addr(&g.b, col0), n),
        };
        // Operand loads inside the k loop are pure for Cranelift's e-graph (the k loop
        // writes no memory), so each is placed right before its use instead of all at the
        // top of the body, which would keep every loaded value live at once.
        let bflags = match g.panels {
            Some(_) => buf_flags(),
            None if g.packed => frame_flags(),
            None => g.vflags,
        };
        let bflags = bflags.with_readonly().with_can_move();
        let u = unroll.clamp(1, k.max(1));
        let step = |l: &mut Self, pa: ClValue, pb: ClValue, t: i64, accs: &mut [ClValue]| {
            let bv: Vec<ClValue> = (0..vecs)
                .map(|v| {
                    let off = ((t * bstride + v * 4) * 4) as i32;
                    l.b.ins().load(types::F32X4, bflags, pb, off)
                })
                .collect();
            for r in 0..rows {
                if !plan.fused {
                    // One broadcast of `a[r, k]` per row, multiplied by each rhs vector
                    // (in registers: two vector loads a cycle is the limit here) and added
                    // to its accumulator, whose register it keeps: no register is tied,
                    // no copies (`fma` ties its result to a factor).
                    let x = lhs(l, pa, r * arow + t * astep);
                    for (v, &y) in bv.iter().enumerate() {
                        let i = r as usize * vecs as usize + v;
                        let p = l.b.ins().fmul(x, y);
                        accs[i] = l.b.ins().fadd(accs[i], p);
                    }
                    continue;
                }
                for v in 0..vecs {
                    // Cranelift's x64 `fma` ties its result to the first factor: one fresh
                    // broadcast of `a[r, k]` per fma (a `vbroadcastss` from memory) keeps
                    // the accumulators and the rhs vectors in place without copies. The
                    // broadcasts of one element differ in their address value (`pa - 64 v`
                    // + `64 v`) so that value numbering does not merge them.
                    let base = if v == 0 { pa } else { l.add_c(pa, -64 * v) };
                    let x = lhs(l, base, r * arow + t * astep + 64 * v);
                    let i = (r * vecs + v) as usize;
                    accs[i] = l.b.ins().fma(x, bv[v as usize], accs[i]);
                }
            }
        };
        let st = self.counted_loop(accs, (pa, pb), k, u, (astep, bstride * 4), &step);
        for r in 0..rows {
            for v in 0..vecs {
                let off = ((r * n + v * 4) * 4) as i32;
                let acc = st[(r * vecs + v) as usize];
                self.b.ins().store(g.vflags, acc, po, off);
            }
        }
        Ok(())
    }

    /// Float dots other than all-`f32`: scalar `f64` accumulation (see the module docs).
    #[allow(clippy::too_many_arguments)]
    fn dot_f64(
        &mut self,
        a: &TileSlot,
        b: &TileSlot,
        c: &TileSlot,
        out: &TileSlot,
        m: i64,
        k: i64,
        n: i64,
    ) -> Result<()> {
        self.for_const(0, m, 1, |l, mi| {
            l.for_const(0, n, 1, |l, ni| {
                let p = l.at2(c, mi, ni, n);
                let init = l.load_elem(p, c.dtype, frame_flags())?;
                let init = l.b.ins().fpromote(types::F64, init);
                let (zero, kend) = (l.iconst(0), l.iconst(k));
                let (_, acc) = l.for_carry(zero, kend, 1, vec![init], |l, kk, acc| {
                    let pa = l.at2(a, mi, kk, k);
                    let pb = l.at2(b, kk, ni, n);
                    let av = l.load_elem(pa, a.dtype, frame_flags())?;
                    let bv = l.load_elem(pb, b.dtype, frame_flags())?;
                    let av = l.b.ins().fpromote(types::F64, av);
                    let bv = l.b.ins().fpromote(types::F64, bv);
                    // Separate multiply and add, as the interpreter.
                    let prod = l.b.ins().fmul(av, bv);
                    Ok(vec![l.b.ins().fadd(acc[0], prod)])
                })?;
                let r = l.b.ins().fdemote(types::F32, acc[0]);
                let r = l.round_narrow(r, out.dtype)?;
                let q = l.at2(out, mi, ni, n);
                l.store_elem(r, out.dtype, q, frame_flags())
            })
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn dot_int(
        &mut self,
        a: &TileSlot,
        b: &TileSlot,
        c: &TileSlot,
        out: &TileSlot,
        m: i64,
        k: i64,
        n: i64,
    ) -> Result<()> {
        let ety = if a.dtype == DType::I8 {
            types::I8
        } else {
            types::I32
        };
        self.for_const(0, m, 1, |l, mi| {
            l.for_const(0, n, 1, |l, ni| {
                let p = l.at2(c, mi, ni, n);
                let init = l.b.ins().load(types::I32, frame_flags(), p, 0);
                let (zero, kend) = (l.iconst(0), l.iconst(k));
                let (_, acc) = l.for_carry(zero, kend, 1, vec![init], |l, kk, acc| {
                    let pa = l.at2(a, mi, kk, k);
                    let pb = l.at2(b, kk, ni, n);
                    let mut av = l.b.ins().load(ety, frame_flags(), pa, 0);
                    let mut bv = l.b.ins().load(ety, frame_flags(), pb, 0);
                    if ety == types::I8 {
                        av = l.b.ins().sextend(types::I32, av);
                        bv = l.b.ins().sextend(types::I32, bv);
                    }
                    let prod = l.b.ins().imul(av, bv);
                    Ok(vec![l.b.ins().iadd(acc[0], prod)])
                })?;
                let q = l.at2(out, mi, ni, n);
                l.b.ins().store(frame_flags(), acc[0], q, 0);
                Ok(())
            })
        })
    }
}

/// The number of uses of `v` in `r` and the regions inside it.
pub(super) fn uses(r: &Region, v: Value) -> usize {
    r.ops
        .iter()
        .map(|o| {
            o.operands.iter().filter(|&&x| x == v).count()
                + o.regions.iter().map(|r| uses(r, v)).sum::<usize>()
        })
        .sum()
}

/// Whether `op` is or contains a `tile.store`.
pub(super) fn stores(op: &Operation) -> bool {
    op.op == Op::Tile(TileOp::Store) || op.regions.iter().any(|r| r.ops.iter().any(stores))
}

impl<'a, 'm> Lowerer<'a, 'm> {
    /// The `k` loop of a micro-kernel (f32 and i8): `steps` steps of `step(l, pa, pb, t,
    /// accs)`, `u` per iteration, over the accumulators `accs` and the lhs and rhs pointers
    /// `ptrs`, which advance by `strides` bytes per step; the last `steps % u` steps follow
    /// the loop. Returns the accumulators.
    ///
    /// The accumulators, the two pointers and a down-counter are the loop's carried
    /// values, and the loop is one block tested at its bottom (`steps` is static, so it
    /// runs at least once): per iteration the counter's decrement, two pointer
    /// increments, a test and one branch. The counter, not a pointer compare, decides the
    /// branch: the branch's condition is elaborated first, and a compare of the advanced
    /// pointer would place the increments before the loads, which fold `p + step` back
    /// into `p`, leaving the old and new pointers live at once (a register copy and a
    /// jump per iteration). The jump's arguments are placed in order, so the sums (and
    /// their loads) come before the increments, which then reuse their old registers.
    /// (The loop tested at the top in a header block before it made the register
    /// allocator reload five spilled integers in every iteration: 32 instructions per
    /// `k` of the 4 x 2 f32 kernel against 27 now. Walking frame offsets instead of
    /// pointers, to compare with a constant, needs the frame pointer in the loop, which
    /// the convolution's larger kernels spill and reload in every iteration.)
    pub(super) fn counted_loop(
        &mut self,
        accs: Vec<ClValue>,
        (pa, pb): (ClValue, ClValue),
        steps: i64,
        u: i64,
        (astep, bstep): (i64, i64),
        step: &KStep<'_, 'a, 'm>,
    ) -> Vec<ClValue> {
        let na = accs.len();
        let mut st = accs;
        st.extend([pa, pb]);
        if steps / u > 0 {
            // `steps` is static: the loop runs at least once, so it is one block tested
            // at its bottom, counted down by its own register.
            let count = self.iconst(steps / u);
            st.push(count);
            let body = self.b.create_block();
            let exit = self.b.create_block();
            for &v in &st {
                let ty = self.b.func.dfg.value_type(v);
                self.b.append_block_param(body, ty);
            }
            let args: Vec<BlockArg> = st.iter().copied().map(BlockArg::Value).collect();
            self.b.ins().jump(body, &args);
            self.b.switch_to_block(body);
            let mut cur = self.b.block_params(body).to_vec();
            // The branch's condition is placed first, so it depends on the counter
            // alone: were it a pointer compare, the advanced pointer would be computed
            // before the loads (which fold `p + step - step` back into `p`), and the old
            // and new pointers would both be live, with a copy per iteration.
            let left = self.add_c(cur[na + 2], -1);
            let more = self.b.ins().icmp_imm_s(IntCC::NotEqual, left, 0);
            let (pa, pb) = (cur[na], cur[na + 1]);
            for t in 0..u {
                step(self, pa, pb, t, &mut cur[..na]);
            }
            cur[na] = self.add_c(pa, u * astep);
            cur[na + 1] = self.add_c(pb, u * bstep);
            cur[na + 2] = left;
            let args: Vec<BlockArg> = cur.iter().copied().map(BlockArg::Value).collect();
            self.b.ins().brif(more, body, &args, exit, &[]);
            self.b.switch_to_block(exit);
            cur.truncate(na + 2);
            st = cur;
        }
        let (pa, pb) = (st[na], st[na + 1]);
        for t in 0..steps % u {
            step(self, pa, pb, t, &mut st[..na]);
        }
        st.truncate(na);
        st
    }
}
