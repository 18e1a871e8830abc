//! `tile.dot` on `i8` tiles into an `i32` accumulator: a register-blocked SIMD
//! micro-kernel on `pmaddwd` (8 products of 16-bit integers, adjacent pairs summed into
//! four 32-bit lanes), or `vpdpbusd` where the host has it, exact.
//!
//! Cranelift's x86-64 back end has 128-bit vectors and no single "widening pairwise dot
//! product" instruction any more (0.135): it lowers the tree
//! `iadd_pairwise(imul(swiden_low x, swiden_low y), imul(swiden_high x, swiden_high y))`
//! on `i16x8` operands to one `pmaddwd` ([`pmaddwd`], tested below). Both operands are packed
//! first, sign-extended to `i16`, so that one such product covers two `k` steps of four
//! output columns:
//! - the rhs (`k x n`) as column panels of `vecs` vectors (`vecs * 4` columns, the last
//!   panel narrower): for each pair of rows `(2p, 2p + 1)`, one `i16x8` per four columns,
//!   `b[2p, j] b[2p+1, j] b[2p, j+1] b[2p+1, j+1] ...` ([`Lowerer::pack_rhs_i8`]);
//! - the lhs (`m x k`) widened to `i16` rows of even length, so that the pair
//!   `a[r, 2p], a[r, 2p+1]` is one 32-bit word ([`Lowerer::pack_lhs_i8`]); before the
//!   panels of a block of rows, that block's words are broadcast to four lanes
//!   ([`Lowerer::broadcast_pairs`]: row blocks outside, panels inside, so the k loop reads
//!   each as one vector load; Cranelift does not fold a load into a broadcast whose result
//!   is used more than once, which cost a `mov`, a `vmovd` and a `vpbroadcastd` per row
//!   and pair).
//!
//! An odd `k` is padded with a zero row of the rhs and a zero column of the lhs; the last
//! `n % 4` columns are one more vector whose pack has zero columns, accumulated from zero
//! and added to the accumulator lane by lane at the end. The output is cut into blocks
//! of `rows x vecs` `i32x4` accumulators (`block` schedule attribute, as for `f32`) held in
//! registers across the whole `k` loop (unrolled `unroll` times, over pairs): per pair,
//! `vecs` rhs loads, `rows` lhs loads, `rows * vecs` `pmaddwd` and `paddd`.
//!
//! On hosts with AVX-VNNI or AVX512-VNNI the same blocks run on `vpdpbusd` instead
//! (`dot_vnni.rs`: sixteen byte products summed by fours into each `i32` lane and added,
//! one instruction): the lhs packed as biased bytes by quads of `k`, the rhs in panels of
//! quads of rows, and each column's compensation subtracted from its accumulators.
//!
//! Exactness: an `i8` product is at most `2^14` in magnitude, a pair sum at most `2^15`,
//! so `pmaddwd` never meets its one wrapping case (`-2^15 * -2^15` twice); the sums are
//! `i32` additions that wrap like the interpreter's, and wrapping addition is associative,
//! so the result is bit-identical to the interpreter's in any order.

use super::dot_vnni::vpdpbusd;
use super::{frame_flags, Lowerer};
use crate::error::{invalid, Result};
use crate::tile_layout::TileSlot;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, ConstantData, Endianness, InstBuilder, MemFlagsData, Value as ClValue,
};
use cranelift_frontend::FunctionBuilder;
use tessera_dialects::{DType, Operation};

/// How an `i8` `tile.dot` is blocked: `block = [rows, vecs]` (`rows x vecs` `i32x4`
/// accumulators, default 4 x 2), `unroll` (of the loop over pairs of `k`, default 1).
/// Both operands are always packed (the kernel's layout needs it): `pack` may only be
/// `"both"`; `madd` does not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntDotPlan {
    pub rows: i64,
    pub vecs: i64,
    pub unroll: i64,
}

impl IntDotPlan {
    pub(crate) fn from_attrs(op: &Operation) -> Result<IntDotPlan> {
        let (rows, vecs) = super::dot::block_attr(op, (4, 2))?;
        let unroll = super::dot::unroll_attr(op)?;
        match op.attrs.str("pack") {
            None | Some("both") => {}
            Some(p) => {
                return invalid(format!(
                "tile.dot: an i8 dot always packs both operands (`pack = \"both\"`), got \"{p}\""
            ))
            }
        }
        if op.attrs.get("madd").is_some() {
            return invalid("tile.dot: `madd` applies to f32 dots only");
        }
        Ok(IntDotPlan { rows, vecs, unroll })
    }
}

/// The operands of one `i8` dot as the micro-kernel addresses them.
struct IntGemm {
    /// The lhs widened to `i16`, `m` rows of `kp` (held as `i32` words: one per pair), or
    /// with VNNI biased bytes, `m` rows of `kq` (a word per quad, `dot_vnni.rs`).
    a: TileSlot,
    /// The rhs packed in column panels of pairs (see the module docs) or quads.
    b: TileSlot,
    c: TileSlot,
    out: TileSlot,
    /// With VNNI: the columns' compensations, subtracted from the accumulators.
    comp: Option<TileSlot>,
    /// The 32-bit words of an lhs row (and of a packed rhs column): the steps of the
    /// `k` loop, pairs (`kp / 2`) or quads (`kq / 4`).
    words: i64,
    n: i64,
    /// The flags of vector accesses to rows of `n` `i32` elements.
    vflags: MemFlagsData,
}

/// One column panel: its first column, its vectors, and the valid lanes of its last one.
#[derive(Clone, Copy)]
pub(super) struct Panel {
    pub vecs: i64,
    pub last_lanes: i64,
}

/// `pmaddwd x, y` on two `i16x8` values: `[x0 y0 + x1 y1, ..., x6 y6 + x7 y7]` as
/// `i32x4`, written as the tree Cranelift's x64 back end lowers to that instruction.
pub(super) fn pmaddwd(b: &mut FunctionBuilder<'_>, x: ClValue, y: ClValue) -> ClValue {
    let (xl, yl) = (b.ins().swiden_low(x), b.ins().swiden_low(y));
    let lo = b.ins().imul(xl, yl);
    let (xh, yh) = (b.ins().swiden_high(x), b.ins().swiden_high(y));
    let hi = b.ins().imul(xh, yh);
    b.ins().iadd_pairwise(lo, hi)
}

/// Little-endian lane reinterpretation (the memory order of the packed operands).
pub(super) fn little() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl Lowerer<'_, '_> {
    /// `acc + a @ b` for `i8` tiles `a` (`m x k`) and `b` (`k x n`) and an `i32` `c`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dot_i8(
        &mut self,
        a: &TileSlot,
        b: &TileSlot,
        c: &TileSlot,
        out: &TileSlot,
        m: i64,
        k: i64,
        n: i64,
        plan: IntDotPlan,
        cols: Option<ClValue>,
    ) -> Result<()> {
        if m == 0 || n == 0 {
            return Ok(());
        }
        // Vectors of four columns: the complete ones in full panels, the rest (and a
        // partial vector of `n % 4` columns) in one last panel.
        let (whole, part) = (n / 4, n % 4);
        let vecs = plan.vecs;
        let full = whole / vecs;
        let last = Panel {
            vecs: whole % vecs + i64::from(part > 0),
            last_lanes: if part > 0 { part } else { 4 },
        };
        let (pa, pb, comp, words) = if self.has_vnni() {
            let kq = (k + 3) / 4 * 4;
            let pa = self.pack_lhs_biased(a, m, k, kq)?;
            let (pb, comp) = self.pack_rhs_quads(b, k, n, kq, vecs, full, last)?;
            (pa, pb, Some(comp), kq / 4)
        } else {
            let kp = k + k % 2;
            let pa = self.pack_lhs_i8(a, m, k, kp)?;
            let pb = self.pack_rhs_i8(b, k, n, kp, vecs, full, last)?;
            (pa, pb, None, kp / 2)
        };
        let g = IntGemm {
            a: pa,
            b: pb,
            c: c.clone(),
            out: out.clone(),
            comp,
            words,
            n,
            vflags: if n % 4 == 0 {
                frame_flags()
            } else {
                MemFlagsData::new().with_notrap()
            },
        };
        // Row blocks outside, column panels inside: each block's lhs pair words are
        // broadcast once into `pw` (`pairs x rows` `i16x8` vectors, 8 KiB for 4 x 256)
        // and read by every panel from L1, while the rhs panels stream.
        let rows = plan.rows.min(m);
        let pw = self
            .frame
            .alloc(DType::I32, &[(words * rows * 4).max(1) as usize])?;
        let bw = vecs * 4;
        let whole = Panel {
            vecs,
            last_lanes: 4,
        };
        // With `cols` (the dot's fourth operand: the leading result columns that are ever
        // read), only the panels that start before it (a convolution's 64-column tile on a
        // 56-pixel row: 7 of 8); the others are left undefined.
        let block = |l: &mut Self, row0: ClValue, rows: i64| -> Result<()> {
            l.broadcast_pairs(&g, row0, rows, &pw)?;
            if full > 0 {
                let body = |l: &mut Self, jb: ClValue| {
                    let col0 = l.mul_c(jb, bw);
                    l.micro_kernel_i8(&g, &pw, row0, col0, rows, whole, plan.unroll)
                };
                match cols {
                    None => l.for_const(0, full, 1, body)?,
                    Some(cols) => {
                        // min(ceil(cols / bw), full) panels (a negative `cols`: none).
                        let zero = l.iconst(0);
                        let cols = l.b.ins().smax(cols, zero);
                        let up = l.add_c(cols, bw - 1);
                        let bw_c = l.iconst(bw);
                        let panels = l.b.ins().udiv(up, bw_c);
                        let full_c = l.iconst(full);
                        let panels = l.b.ins().umin(panels, full_c);
                        l.for_loop(zero, panels, 1, body)?;
                    }
                }
            }
            if last.vecs > 0 {
                let col0 = l.iconst(full * bw);
                match cols {
                    None => l.micro_kernel_i8(&g, &pw, row0, col0, rows, last, plan.unroll)?,
                    Some(cols) => {
                        let needed = l.b.ins().icmp(IntCC::SignedGreaterThan, cols, col0);
                        let then = l.b.create_block();
                        let join = l.b.create_block();
                        l.b.ins().brif(needed, then, &[], join, &[]);
                        l.b.switch_to_block(then);
                        l.micro_kernel_i8(&g, &pw, row0, col0, rows, last, plan.unroll)?;
                        l.b.ins().jump(join, &[]);
                        l.b.switch_to_block(join);
                    }
                }
            }
            Ok(())
        };
        let (fr, rr) = (m / rows, m % rows);
        if fr > 0 {
            self.for_const(0, fr, 1, |l, ib| {
                let row0 = l.mul_c(ib, rows);
                block(l, row0, rows)
            })?;
        }
        if rr > 0 {
            let row0 = self.iconst(fr * rows);
            block(self, row0, rr)?;
        }
        Ok(())
    }

    /// Copies the pair words of rows `row0 .. row0 + rows` of the widened lhs into `pw`,
    /// each broadcast to an `i16x8` (the pair repeated four times): pair `p` of row `r` at
    /// vector `p * rows + r`.
    fn broadcast_pairs(
        &mut self,
        g: &IntGemm,
        row0: ClValue,
        rows: i64,
        pw: &TileSlot,
    ) -> Result<()> {
        let pairs = g.words;
        let e = self.mul_c(row0, pairs);
        let src = self.elem_addr(&g.a, e);
        let dst = self.slot_addr(pw);
        let (zero, end) = (self.iconst(0), self.iconst(pairs));
        self.for_carry(zero, end, 1, vec![src, dst], |l, _, p| {
            for r in 0..rows {
                let w =
                    l.b.ins()
                        .load(types::I32, frame_flags(), p[0], (r * pairs * 4) as i32);
                let v = l.b.ins().splat(types::I32X4, w);
                l.b.ins().store(frame_flags(), v, p[1], (r * 16) as i32);
            }
            Ok(vec![l.add_c(p[0], 4), l.add_c(p[1], rows * 16)])
        })?;
        Ok(())
    }

    /// One register block: `rows x p.vecs` `i32x4` accumulators (a partial last vector
    /// starts from zero), the loop over the `kp / 2` pairs of `k` counted by the lhs
    /// pointer, then the stores (a partial vector lane by lane, added to `c`).
    #[allow(clippy::too_many_arguments)]
    fn micro_kernel_i8(
        &mut self,
        g: &IntGemm,
        pw: &TileSlot,
        row0: ClValue,
        col0: ClValue,
        rows: i64,
        p: Panel,
        unroll: i64,
    ) -> Result<()> {
        let (n, vecs) = (g.n, p.vecs);
        let pairs = g.words;
        let partial = p.last_lanes < 4;
        let e = self.mul_c(row0, n);
        let e = self.b.ins().iadd(e, col0);
        let pc = self.elem_addr(&g.c, e);
        let po = self.elem_addr(&g.out, e);
        let zero = {
            let z = self.b.ins().iconst(types::I32, 0);
            self.b.ins().splat(types::I32X4, z)
        };
        // With VNNI, each column's compensation is subtracted first.
        let comps: Vec<Option<ClValue>> = match &g.comp {
            Some(comp) => {
                let at = self.elem_addr(comp, col0);
                (0..vecs)
                    .map(|v| {
                        let off = (v * 16) as i32;
                        Some(self.b.ins().load(types::I32X4, frame_flags(), at, off))
                    })
                    .collect()
            }
            None => vec![None; vecs as usize],
        };
        let mut accs = Vec::new();
        for r in 0..rows {
            for v in 0..vecs {
                let acc = if partial && v == vecs - 1 {
                    zero
                } else {
                    let off = ((r * n + v * 4) * 4) as i32;
                    self.b.ins().load(types::I32X4, g.vflags, pc, off)
                };
                accs.push(match comps[v as usize] {
                    Some(s) => self.b.ins().isub(acc, s),
                    None => acc,
                });
            }
        }
        // The block's broadcast lhs pairs (`rows` vectors a pair) and the rhs panel
        // (`vecs` vectors a pair, from word `col0 * kp / 2`).
        let pa = self.slot_addr(pw);
        let eb = self.mul_c(col0, g.words);
        let pb = self.elem_addr(&g.b, eb);
        let (astep, bstep, arow) = (rows * 16, vecs * 16, 16);
        let rflags = frame_flags().with_readonly().with_can_move();
        // A pair (`i16x8` operands, `pmaddwd` and `paddd`) or with VNNI a quad (`i8x16`
        // operands, one `vpdpbusd`: the lhs bytes unsigned, the rhs bytes signed).
        let vnni = g.comp.is_some();
        let ty = if vnni { types::I8X16 } else { types::I16X8 };
        let step = |l: &mut Self, pa: ClValue, pb: ClValue, t: i64, accs: &mut [ClValue]| {
            let bv: Vec<ClValue> = (0..vecs)
                .map(|v| {
                    let off = (t * bstep + v * 16) as i32;
                    l.b.ins().load(ty, rflags, pb, off)
                })
                .collect();
            for r in 0..rows {
                let off = (r * arow + t * astep) as i32;
                let x = l.b.ins().load(ty, rflags, pa, off);
                for (v, &y) in bv.iter().enumerate() {
                    let i = r as usize * vecs as usize + v;
                    accs[i] = if vnni {
                        vpdpbusd(&mut l.b, accs[i], x, y)
                    } else {
                        let d = pmaddwd(&mut l.b, x, y);
                        l.b.ins().iadd(accs[i], d)
                    };
                }
            }
        };
        let u = unroll.clamp(1, pairs.max(1));
        // The loop of the f32 micro-kernel, over pairs of `k`.
        let st = self.counted_loop(accs, (pa, pb), pairs, u, (astep, bstep), &step);
        for r in 0..rows {
            for v in 0..vecs {
                let acc = st[(r * vecs + v) as usize];
                let off = ((r * n + v * 4) * 4) as i32;
                if partial && v == vecs - 1 {
                    for lane in 0..p.last_lanes {
                        let o = off + (lane * 4) as i32;
                        let x = self.b.ins().extractlane(acc, lane as u8);
                        let y = self.b.ins().load(types::I32, frame_flags(), pc, o);
                        let s = self.b.ins().iadd(x, y);
                        self.b.ins().store(frame_flags(), s, po, o);
                    }
                } else {
                    self.b.ins().store(g.vflags, acc, po, off);
                }
            }
        }
        Ok(())
    }

    /// Widens the `m x k` `i8` tile `a` to `i16` rows of `kp` elements (a zero last
    /// column when `k` is odd): eight elements per `sload8x8`, the rest one by one. With
    /// an even `k` the rows are contiguous in both layouts: one run of `m * k`.
    fn pack_lhs_i8(&mut self, a: &TileSlot, m: i64, k: i64, kp: i64) -> Result<TileSlot> {
        let p = self
            .frame
            .alloc(DType::I32, &[(m * kp / 2).max(1) as usize])?;
        let (runs, len) = if k == kp { (1, m * k) } else { (m, k) };
        let flags = MemFlagsData::new().with_notrap();
        let widen = |l: &mut Self, src: ClValue, dst: ClValue| -> Result<()> {
            let (zero, end) = (l.iconst(0), l.iconst(len / 8));
            let (_, ptrs) = l.for_carry(zero, end, 1, vec![src, dst], |l, _, p| {
                let x = l.b.ins().sload8x8(flags, p[0], 0);
                l.b.ins().store(flags, x, p[1], 0);
                Ok(vec![l.add_c(p[0], 8), l.add_c(p[1], 16)])
            })?;
            for e in 0..len % 8 {
                let x = l.b.ins().sload8(types::I16, flags, ptrs[0], e as i32);
                l.b.ins().store(flags, x, ptrs[1], (2 * e) as i32);
            }
            if len < kp {
                // `ptrs[1]` is past the whole groups of eight: the padding element follows
                // the tail.
                let z = l.b.ins().iconst(types::I16, 0);
                l.b.ins().store(flags, z, ptrs[1], (2 * (len % 8)) as i32);
            }
            Ok(())
        };
        self.lhs_runs(a, &p, (runs, k), kp / 2, &widen)?;
        Ok(p)
    }

    /// Calls `run(src, dst)` on the rows of the `i8` tile `a` packed into `p` at `words`
    /// 32-bit words a row: once for the whole tile when `runs` is 1 (rows contiguous in
    /// both layouts), else once per row of `k` elements.
    pub(super) fn lhs_runs(
        &mut self,
        a: &TileSlot,
        p: &TileSlot,
        (runs, k): (i64, i64),
        words: i64,
        run: &dyn Fn(&mut Self, ClValue, ClValue) -> Result<()>,
    ) -> Result<()> {
        if runs == 1 {
            let (src, dst) = (self.slot_addr(a), self.slot_addr(p));
            return run(self, src, dst);
        }
        self.for_const(0, runs, 1, |l, r| {
            let e = l.mul_c(r, k);
            let src = l.elem_addr(a, e);
            let e = l.mul_c(r, words);
            let dst = l.elem_addr(p, e);
            run(l, src, dst)
        })
    }

    /// Calls `panel(col0, panel)` on the `full` column panels of `vecs` vectors, then on
    /// `last` (when it has vectors).
    pub(super) fn each_panel(
        &mut self,
        vecs: i64,
        full: i64,
        last: Panel,
        panel: &dyn Fn(&mut Self, ClValue, Panel) -> Result<()>,
    ) -> Result<()> {
        let bw = vecs * 4;
        let whole = Panel {
            vecs,
            last_lanes: 4,
        };
        if full > 0 {
            self.for_const(0, full, 1, |l, jb| {
                let col0 = l.mul_c(jb, bw);
                panel(l, col0, whole)
            })?;
        }
        if last.vecs > 0 {
            let col0 = self.iconst(full * bw);
            panel(self, col0, last)?;
        }
        Ok(())
    }

    /// Packs the `k x n` `i8` tile `b` into column panels of pairs of rows (module docs):
    /// `full` panels of `vecs` vectors, then `last`. The panel from column `col0` starts
    /// at word `col0 * kp / 2`; within it, pair `p` is `panel vectors x 16` bytes at
    /// `p * panel vectors * 16`.
    #[allow(clippy::too_many_arguments)]
    fn pack_rhs_i8(
        &mut self,
        b: &TileSlot,
        k: i64,
        n: i64,
        kp: i64,
        vecs: i64,
        full: i64,
        last: Panel,
    ) -> Result<TileSlot> {
        let cols = (full * vecs + last.vecs) * 4;
        let p = self
            .frame
            .alloc(DType::I32, &[(cols * kp / 2).max(1) as usize])?;
        let panel = |l: &mut Self, col0: ClValue, pn: Panel| -> Result<()> {
            let src = l.elem_addr(b, col0);
            let e = l.mul_c(col0, kp / 2);
            let dst = l.elem_addr(&p, e);
            let (zero, end) = (l.iconst(0), l.iconst(k / 2));
            let (_, ptrs) = l.for_carry(zero, end, 1, vec![src, dst], |l, _, q| {
                let next = l.add_c(q[0], n);
                l.pack_pair(q[0], Some(next), q[1], pn)?;
                Ok(vec![l.add_c(q[0], 2 * n), l.add_c(q[1], pn.vecs * 16)])
            })?;
            if k % 2 == 1 {
                l.pack_pair(ptrs[0], None, ptrs[1], pn)?;
            }
            Ok(())
        };
        self.each_panel(vecs, full, last, &panel)?;
        Ok(p)
    }

    /// One pair of rows of one panel: rows at `r0` and `r1` (`None`: a zero row) of the
    /// panel's columns, interleaved into `pn.vecs` `i16x8` vectors at `dst`. Two complete
    /// vectors at a time from eight bytes of each row (`sload8x8`, then `punpcklwd` /
    /// `punpckhwd`); a single complete vector from four bytes (`punpcklbw`, then
    /// sign-extension); a partial vector element by element, with zero columns.
    fn pack_pair(
        &mut self,
        r0: ClValue,
        r1: Option<ClValue>,
        dst: ClValue,
        pn: Panel,
    ) -> Result<()> {
        let flags = MemFlagsData::new().with_notrap();
        let complete = pn.vecs - i64::from(pn.last_lanes < 4);
        let mut v = 0;
        while v + 2 <= complete {
            let x = self.b.ins().sload8x8(flags, r0, (v * 4) as i32);
            let y = match r1 {
                Some(r1) => self.b.ins().sload8x8(flags, r1, (v * 4) as i32),
                None => {
                    let z = self.b.ins().iconst(types::I16, 0);
                    self.b.ins().splat(types::I16X8, z)
                }
            };
            let lo = self.interleave(x, y, 0, 2);
            let hi = self.interleave(x, y, 8, 2);
            self.b.ins().store(frame_flags(), lo, dst, (v * 16) as i32);
            self.b
                .ins()
                .store(frame_flags(), hi, dst, (v * 16 + 16) as i32);
            v += 2;
        }
        if v < complete {
            let word = |l: &mut Self, r: Option<ClValue>| -> ClValue {
                let w = match r {
                    Some(r) => l.b.ins().load(types::I32, flags, r, (v * 4) as i32),
                    None => l.b.ins().iconst(types::I32, 0),
                };
                l.b.ins().scalar_to_vector(types::I32X4, w)
            };
            let (x, y) = (word(self, Some(r0)), word(self, r1));
            let z = self.interleave(x, y, 0, 1);
            let z = self.b.ins().swiden_low(z);
            self.b.ins().store(frame_flags(), z, dst, (v * 16) as i32);
            v += 1;
        }
        if v < pn.vecs {
            // The partial vector: `last_lanes` columns, then zero columns.
            let zero = self.b.ins().iconst(types::I16, 0);
            for j in 0..4 {
                for (h, r) in [Some(r0), r1].into_iter().enumerate() {
                    let x = match r {
                        Some(r) if j < pn.last_lanes => {
                            self.b
                                .ins()
                                .sload8(types::I16, flags, r, (v * 4 + j) as i32)
                        }
                        _ => zero,
                    };
                    let off = (v * 16 + j * 4 + h as i64 * 2) as i32;
                    self.b.ins().store(frame_flags(), x, dst, off);
                }
            }
        }
        Ok(())
    }

    /// Interleaves lanes of `esz` bytes of the low (`from = 0`) or high (`from = 8`) halves
    /// of `x` and `y` (`punpckl*` / `punpckh*`), as bytes; the result has `x`'s type for
    /// `esz = 2` and is `i8x16` for `esz = 1`.
    fn interleave(&mut self, x: ClValue, y: ClValue, from: u8, esz: u8) -> ClValue {
        let ty = self.b.func.dfg.value_type(x);
        let xb = self.b.ins().bitcast(types::I8X16, little(), x);
        let yb = self.b.ins().bitcast(types::I8X16, little(), y);
        let mut mask = Vec::with_capacity(16);
        for lane in 0..8 / esz {
            for src in [0u8, 16] {
                for byte in 0..esz {
                    mask.push(src + from + lane * esz + byte);
                }
            }
        }
        let imm = self.b.func.dfg.immediates.push(ConstantData::from(mask));
        let z = self.b.ins().shuffle(xb, yb, imm);
        if esz == 1 {
            z
        } else {
            self.b.ins().bitcast(ty, little(), z)
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use cranelift_codegen::ir::{AbiParam, Function, Signature, UserFuncName};
    use cranelift_codegen::isa::CallConv;
    use cranelift_codegen::settings::Configurable;
    use cranelift_codegen::{control::ControlPlane, settings, Context};
    use cranelift_frontend::FunctionBuilderContext;

    /// The machine code, as Cranelift prints it, of a function of `params` returning one
    /// `i32x4` computed by `body`, on the host's ISA with the flags in `off` turned off.
    pub(in crate::lower) fn host_code(
        off: &[&str],
        params: &[types::Type],
        body: impl FnOnce(&mut FunctionBuilder<'_>, &[ClValue]) -> ClValue,
    ) -> String {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").unwrap();
        let mut builder = cranelift_native::builder().unwrap();
        for f in off {
            builder.set(f, "false").unwrap();
        }
        let isa = builder.finish(settings::Flags::new(flags)).unwrap();
        let mut sig = Signature::new(CallConv::SystemV);
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        sig.returns.push(AbiParam::new(types::I32X4));
        let mut func = Function::with_name_signature(UserFuncName::user(0, 0), sig);
        let mut fbc = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut func, &mut fbc);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let r = body(&mut b, &p);
        b.ins().return_(&[r]);
        b.seal_all_blocks();
        b.finalize(isa.frontend_config());
        let mut ctx = Context::for_function(func);
        ctx.set_disasm(true);
        let code = ctx.compile(&*isa, &mut ControlPlane::default()).unwrap();
        code.vcode.clone().unwrap_or_default()
    }

    #[test]
    fn the_tree_is_one_pmaddwd_on_x64() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        // `acc + pmaddwd(x, y)`.
        let code = host_code(&[], &[types::I16X8; 3], |b, p| {
            let d = pmaddwd(b, p[0], p[1]);
            let acc = b.ins().bitcast(types::I32X4, little(), p[2]);
            b.ins().iadd(acc, d)
        });
        assert_eq!(code.matches("pmaddwd").count(), 1, "{code}");
        for slow in ["pmulld", "pmovsx", "phaddd", "shufps"] {
            assert!(!code.contains(slow), "{slow} in\n{code}");
        }
    }
}
