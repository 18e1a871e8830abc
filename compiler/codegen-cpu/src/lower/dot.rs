//! `tile.dot`: `acc + lhs @ rhs` on 2-D tiles.
//!
//! `f32`: for each row `m` and each block of columns, the accumulators stay in registers
//! across the whole `k` loop: `acc = fma(splat(lhs[m, k]), rhs[k, n..n+4], acc)`, with up
//! to four `f32x4` accumulators per block (16 columns) when `N` is a multiple of 4, one
//! scalar accumulator otherwise. Accumulation is in `f32`, sequential in `k`; the
//! interpreter rounds once from `f64`, so results agree within about `K * eps * sum |a b|`.
//! `i8`/`i32` operands with an `i32` accumulator: scalar, wrapping, exact.
//! Narrow float operands (`f16`, `bf16`, `f8e4m3`, `f8e5m2`, both of one dtype) with any
//! float accumulator, or `f32` operands with a narrow accumulator: scalar, exactly the
//! interpreter's computation: operands widened exactly, `acc + sum_k a * b` in `f64` in `k`
//! order (each product of two narrow floats is exact in `f64`), rounded once to `f32` and
//! then to the accumulator's dtype (`round_arith`), so bit-identical to the interpreter.

use super::{frame_flags, single_result, Lowerer, Val};
use crate::error::{invalid, unsupported, Result};
use crate::tile_layout::TileSlot;
use cranelift_codegen::ir::{types, InstBuilder, Value as ClValue};
use tessera_dialects::{DType, Operation};

impl Lowerer<'_, '_> {
    pub(super) fn dot(&mut self, op: &Operation) -> Result<()> {
        let [a, b, c] = match op.operands.as_slice() {
            [a, b, c] => [self.tile(*a)?, self.tile(*b)?, self.tile(*c)?],
            _ => return invalid("tile.dot expects lhs, rhs and acc"),
        };
        let out = self.result_slot(op)?;
        let (m, k, n) = match (a.shape.as_slice(), b.shape.as_slice(), c.shape.as_slice()) {
            ([m, k], [k2, n], [m2, n2]) if m == m2 && n == n2 && k == k2 => {
                (*m as i64, *k as i64, *n as i64)
            }
            (x, y, z) => {
                return invalid(format!(
                    "tile.dot: shapes do not fit (MxK, KxN, MxN): {x:?}, {y:?}, {z:?}"
                ))
            }
        };
        if out.shape != c.shape || out.dtype != c.dtype {
            return invalid("tile.dot: the result must have the accumulator's type");
        }
        match (a.dtype, b.dtype, c.dtype) {
            (DType::F32, DType::F32, DType::F32) => self.dot_f32(&a, &b, &c, &out, m, k, n)?,
            (DType::I8, DType::I8, DType::I32) | (DType::I32, DType::I32, DType::I32) => {
                self.dot_int(&a, &b, &c, &out, m, k, n)?
            }
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
        m: i64,
        k: i64,
        n: i64,
    ) -> Result<()> {
        let (ty, lanes) = if n % 4 == 0 {
            (types::F32X4, 4)
        } else {
            (types::F32, 1)
        };
        let nacc: i64 = if lanes == 4 {
            [4, 2, 1]
                .into_iter()
                .find(|v| (n / 4) % v == 0)
                .unwrap_or(1)
        } else {
            1
        };
        let block = lanes * nacc;
        self.for_const(0, m, 1, |l, mi| {
            l.for_const(0, n, block, |l, nb| {
                let mut init = Vec::new();
                for j in 0..nacc {
                    let col = l.add_c(nb, j * lanes);
                    let p = l.at2(c, mi, col, n);
                    init.push(l.b.ins().load(ty, frame_flags(), p, 0));
                }
                let (zero, kend) = (l.iconst(0), l.iconst(k));
                let (_, accs) = l.for_carry(zero, kend, 1, init, |l, kk, accs| {
                    let pa = l.at2(a, mi, kk, k);
                    let av = l.b.ins().load(types::F32, frame_flags(), pa, 0);
                    let av = if lanes == 4 {
                        l.b.ins().splat(types::F32X4, av)
                    } else {
                        av
                    };
                    let mut next = Vec::new();
                    for (j, acc) in accs.into_iter().enumerate() {
                        let col = l.add_c(nb, j as i64 * lanes);
                        let pb = l.at2(b, kk, col, n);
                        let bv = l.b.ins().load(ty, frame_flags(), pb, 0);
                        next.push(l.b.ins().fma(av, bv, acc));
                    }
                    Ok(next)
                })?;
                for (j, acc) in accs.into_iter().enumerate() {
                    let col = l.add_c(nb, j as i64 * lanes);
                    let p = l.at2(out, mi, col, n);
                    l.b.ins().store(frame_flags(), acc, p, 0);
                }
                Ok(())
            })
        })
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
