//! The `i8` dot's operands packed for `vpdpbusd` (AVX-VNNI or AVX512-VNNI hosts), and the
//! tree Cranelift turns into that instruction: per `i32` lane, four products of an
//! unsigned and a signed byte, summed and added to the accumulator, sixteen products in
//! one instruction where `pmaddwd` and `paddd` take two for eight.
//!
//! `vpdpbusd` multiplies unsigned bytes by signed ones, and both operands of the dot are
//! signed. The lhs is packed biased, `a + 128` (its sign bit flipped, `0 ..= 255`), which
//! adds `128 * sum_k b[k, j]` to each output of column `j`; that sum, the column's
//! compensation, is taken while the rhs is packed and subtracted from the accumulators
//! before the `k` loop. Exact: a lane's four products are at most `255 * 128` each in
//! magnitude, their sum is exact, and the rest are `i32` additions and subtractions that
//! wrap like the interpreter's; wrapping arithmetic is associative, so the result is
//! bit-identical to the interpreter's.
//!
//! Layouts, with `k` rounded up to a multiple of four (`kq`):
//! - the lhs: `m` rows of `kq` biased bytes, the padding `128` (a biased zero), so that
//!   `a[r, 4q .. 4q + 4]` is one 32-bit word, broadcast to four lanes before the panels
//!   of a block of rows as the `pmaddwd` kernel's pairs are;
//! - the rhs: column panels as for `pmaddwd`, by quads of rows: for quad `q`, one `i8x16`
//!   per four columns, `b[4q, j] b[4q+1, j] b[4q+2, j] b[4q+3, j] b[4q, j+1] ...`; rows
//!   past `k` and columns past `n` are zero, so the padding adds nothing;
//! - the compensation: one `i32` per packed column, `128 * sum_k b[k, j]`.

use super::dot_int::Panel;
use super::{frame_flags, Lowerer};
use crate::error::Result;
use crate::tile_layout::TileSlot;
use cranelift_codegen::ir::{types, ConstantData, InstBuilder, MemFlagsData, Value as ClValue};
use cranelift_frontend::FunctionBuilder;
use tessera_dialects::DType;

/// The ISA flags that turn VNNI off ([`crate::JitBackend::without_vnni`]).
pub(crate) const VNNI_FLAGS: [&str; 2] = ["has_avx_vnni", "has_avx512vnni"];

/// Whether Cranelift's x64 back end lowers [`vpdpbusd`]'s tree to the instruction with
/// these ISA flags: AVX-VNNI with AVX (the VEX form), or AVX512-VNNI with AVX512VL (the
/// EVEX form). Without, the tree is a long sequence and the `pmaddwd` kernel is used.
pub(crate) fn vnni_in(flags: &[cranelift_codegen::settings::Value]) -> bool {
    let on = |name: &str| {
        flags
            .iter()
            .any(|v| v.name == name && v.as_bool() == Some(true))
    };
    (on("has_avx") && on("has_avx_vnni")) || (on("has_avx512vl") && on("has_avx512vnni"))
}

/// `acc + dot4(u, s)`: in each `i32` lane of `acc`, the sum of the four products of the
/// lane's unsigned bytes of `u` and signed bytes of `s` (both `i8x16`), written as the
/// tree Cranelift's x64 back end lowers to one `vpdpbusd` (tested below).
pub(super) fn vpdpbusd(
    b: &mut FunctionBuilder<'_>,
    acc: ClValue,
    u: ClValue,
    s: ClValue,
) -> ClValue {
    let lo = {
        let x = b.ins().swiden_low(s);
        let y = b.ins().uwiden_low(u);
        b.ins().imul(x, y)
    };
    let hi = {
        let x = b.ins().swiden_high(s);
        let y = b.ins().uwiden_high(u);
        b.ins().imul(x, y)
    };
    let mut pairs = |v: ClValue| {
        let x = b.ins().swiden_low(v);
        let y = b.ins().swiden_high(v);
        b.ins().iadd_pairwise(x, y)
    };
    let (l, h) = (pairs(lo), pairs(hi));
    let d = b.ins().iadd_pairwise(l, h);
    b.ins().iadd(d, acc)
}

impl Lowerer<'_, '_> {
    /// Whether the target lowers [`vpdpbusd`]'s tree to the instruction (as
    /// [`crate::JitBackend::has_vnni`]).
    pub(super) fn has_vnni(&self) -> bool {
        vnni_in(&self.module.isa().isa_flags())
    }

    /// The `m x k` `i8` tile `a` as rows of `kq` biased bytes (`a + 128`, the padding
    /// `128`), held as `i32` words: sixteen bytes at a time, the rest one by one. With
    /// `k == kq` the rows are contiguous in both layouts: one run of `m * k`.
    pub(super) fn pack_lhs_biased(
        &mut self,
        a: &TileSlot,
        m: i64,
        k: i64,
        kq: i64,
    ) -> Result<TileSlot> {
        let p = self
            .frame
            .alloc(DType::I32, &[(m * kq / 4).max(1) as usize])?;
        let (runs, len) = if k == kq { (1, m * k) } else { (m, k) };
        let flags = MemFlagsData::new().with_notrap();
        let sign = self.b.ins().iconst(types::I8, -128);
        let signs = self.b.ins().splat(types::I8X16, sign);
        let bias = |l: &mut Self, src: ClValue, dst: ClValue| -> Result<()> {
            let (zero, end) = (l.iconst(0), l.iconst(len / 16));
            let (_, ptrs) = l.for_carry(zero, end, 1, vec![src, dst], |l, _, p| {
                let x = l.b.ins().load(types::I8X16, flags, p[0], 0);
                let y = l.b.ins().bxor(x, signs);
                l.b.ins().store(flags, y, p[1], 0);
                Ok(vec![l.add_c(p[0], 16), l.add_c(p[1], 16)])
            })?;
            for e in 0..len % 16 {
                let x = l.b.ins().load(types::I8, flags, ptrs[0], e as i32);
                let y = l.b.ins().bxor(x, sign);
                l.b.ins().store(flags, y, ptrs[1], e as i32);
            }
            // `ptrs[1]` is past the whole vectors: the tail and the padding are offsets
            // from there.
            for e in len % 16..(len % 16 + 3) / 4 * 4 {
                l.b.ins().store(flags, sign, ptrs[1], e as i32);
            }
            Ok(())
        };
        self.lhs_runs(a, &p, (runs, k), kq / 4, &bias)?;
        Ok(p)
    }

    /// Packs the `k x n` `i8` tile `b` into column panels of quads of rows (module docs):
    /// `full` panels of `vecs` vectors, then `last`; the panel from column `col0` starts
    /// at word `col0 * kq / 4`, and within it quad `q` is `panel vectors x 16` bytes at `q
    /// * panel vectors * 16`. Returns the panels and the columns' compensations.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pack_rhs_quads(
        &mut self,
        b: &TileSlot,
        k: i64,
        n: i64,
        kq: i64,
        vecs: i64,
        full: i64,
        last: Panel,
    ) -> Result<(TileSlot, TileSlot)> {
        let cols = (full * vecs + last.vecs) * 4;
        let p = self
            .frame
            .alloc(DType::I32, &[(cols * kq / 4).max(1) as usize])?;
        let comp = self.frame.alloc(DType::I32, &[cols.max(1) as usize])?;
        let panel = |l: &mut Self, col0: ClValue, pn: Panel| -> Result<()> {
            let src = l.elem_addr(b, col0);
            let e = l.mul_c(col0, kq / 4);
            let dst = l.elem_addr(&p, e);
            let zero = {
                let z = l.b.ins().iconst(types::I32, 0);
                l.b.ins().splat(types::I32X4, z)
            };
            let mut carried = vec![src, dst];
            carried.extend((0..pn.vecs).map(|_| zero));
            let (lo, end) = (l.iconst(0), l.iconst(k / 4));
            let (_, st) = l.for_carry(lo, end, 1, carried, |l, _, q| {
                let rows = [0, 1, 2, 3].map(|i| Some(l.add_c(q[0], i * n)));
                let mut sums = q[2..].to_vec();
                l.pack_quad(rows, q[1], pn, &mut sums)?;
                let mut next = vec![l.add_c(q[0], 4 * n), l.add_c(q[1], pn.vecs * 16)];
                next.extend(sums);
                Ok(next)
            })?;
            let mut sums = st[2..].to_vec();
            if k % 4 > 0 {
                let rows = [0, 1, 2, 3].map(|i| (i < k % 4).then(|| l.add_c(st[0], i * n)));
                l.pack_quad(rows, st[1], pn, &mut sums)?;
            }
            let at = l.elem_addr(&comp, col0);
            for (v, s) in sums.into_iter().enumerate() {
                let s = l.b.ins().ishl_imm_u(s, 7);
                l.b.ins().store(frame_flags(), s, at, (v * 16) as i32);
            }
            Ok(())
        };
        self.each_panel(vecs, full, last, &panel)?;
        Ok((p, comp))
    }

    /// One quad of rows of one panel: the rows at `rows` (`None`: a zero row) of the
    /// panel's columns, as `pn.vecs` `i8x16` vectors at `dst` (each four columns of four
    /// bytes), the sums of each vector's lanes added to `sums`. A complete vector from
    /// one 32-bit word of each row (bytes of rows 0 and 1 interleaved, then of rows 2 and
    /// 3, then the two as 16-bit lanes); a partial vector byte by byte, with zero
    /// columns.
    fn pack_quad(
        &mut self,
        rows: [Option<ClValue>; 4],
        dst: ClValue,
        pn: Panel,
        sums: &mut [ClValue],
    ) -> Result<()> {
        let flags = MemFlagsData::new().with_notrap();
        let complete = pn.vecs - i64::from(pn.last_lanes < 4);
        let ones = {
            let one = self.b.ins().iconst(types::I8, 1);
            self.b.ins().splat(types::I8X16, one)
        };
        for v in 0..pn.vecs {
            let off = (v * 16) as i32;
            if v < complete {
                let word = |l: &mut Self, r: Option<ClValue>| -> ClValue {
                    let w = match r {
                        Some(r) => l.b.ins().load(types::I32, flags, r, (v * 4) as i32),
                        None => l.b.ins().iconst(types::I32, 0),
                    };
                    let x = l.b.ins().scalar_to_vector(types::I32X4, w);
                    l.b.ins().bitcast(types::I8X16, super::dot_int::little(), x)
                };
                let w = rows.map(|r| word(self, r));
                let lo = self.interleave_bytes(w[0], w[1], 1);
                let hi = self.interleave_bytes(w[2], w[3], 1);
                let x = self.interleave_bytes(lo, hi, 2);
                self.b.ins().store(frame_flags(), x, dst, off);
                sums[v as usize] = vpdpbusd(&mut self.b, sums[v as usize], ones, x);
            } else {
                // The partial vector: `last_lanes` columns, then zero columns.
                let zero = self.b.ins().iconst(types::I8, 0);
                for j in 0..4 {
                    for (h, r) in rows.iter().enumerate() {
                        let x = match r {
                            Some(r) if j < pn.last_lanes => {
                                self.b.ins().load(types::I8, flags, *r, (v * 4 + j) as i32)
                            }
                            _ => zero,
                        };
                        self.b
                            .ins()
                            .store(frame_flags(), x, dst, off + (j * 4) as i32 + h as i32);
                    }
                }
                let x = self.b.ins().load(types::I8X16, frame_flags(), dst, off);
                sums[v as usize] = vpdpbusd(&mut self.b, sums[v as usize], ones, x);
            }
        }
        Ok(())
    }

    /// The low halves of `x` and `y` (`i8x16`) interleaved by lanes of `esz` bytes
    /// (`punpcklbw` / `punpcklwd`).
    fn interleave_bytes(&mut self, x: ClValue, y: ClValue, esz: u8) -> ClValue {
        let mut mask = Vec::with_capacity(16);
        for lane in 0..8 / esz {
            for src in [0u8, 16] {
                for byte in 0..esz {
                    mask.push(src + lane * esz + byte);
                }
            }
        }
        let imm = self.b.func.dfg.immediates.push(ConstantData::from(mask));
        self.b.ins().shuffle(x, y, imm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::dot_int::tests::host_code;

    /// The machine code of [`vpdpbusd`] on the host with the VNNI flags as detected, or
    /// all turned off.
    fn vnni_code(vnni: bool) -> String {
        let off: &[&str] = if vnni { &[] } else { &VNNI_FLAGS };
        let params = [types::I32X4, types::I8X16, types::I8X16];
        host_code(off, &params, |b, p| vpdpbusd(b, p[0], p[1], p[2]))
    }

    /// On a host with AVX-VNNI or AVX512-VNNI the tree is one `vpdpbusd`; with the flags
    /// off it is not (and the `pmaddwd` kernel is used instead).
    #[test]
    fn the_tree_is_one_vpdpbusd_where_the_host_has_vnni() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        let host = (std::is_x86_feature_detected!("avx")
            && std::is_x86_feature_detected!("avxvnni"))
            || (std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512vnni"));
        let code = vnni_code(true);
        assert_eq!(
            code.matches("vpdpbusd").count(),
            usize::from(host),
            "{code}"
        );
        if host {
            for slow in ["pmulld", "pmullw", "pmovsx", "phaddd", "pmaddwd"] {
                assert!(!code.contains(slow), "{slow} in\n{code}");
            }
        }
        assert!(!vnni_code(false).contains("vpdpbusd"));
    }
}
