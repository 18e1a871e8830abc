//! Index arithmetic: `tile.index`, `tile.affine` and `tile.iota`, with the static bounds
//! that keep every index computation exact in `i64`.
//!
//! Every index value has a *bound* `B` known at compile time with `|v| <= B`: grid and
//! loop indices and size-table values are within [`MAX_SIZE_VALUE`] (the runner checks
//! the table), a constant is its own bound, and `tile.affine` adds up `|offset| +
//! sum |c_i| * B_i` in `u128`. An affine whose bound exceeds [`MAX_INDEX_BOUND`] is refused
//! at compile time, so the `i64` arithmetic emitted for it never wraps. `tile.iota`
//! produces `i32` elements: when the bound of its base does not prove that every element
//! fits, the code checks at run time and raises the kernel's error flag (the run then
//! fails, as the interpreter does), see [`crate::run`].

use super::{single_result, Lowerer, Val};
use crate::error::{invalid, unsupported, Result};
use crate::run::MAX_SIZE_VALUE;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, InstBuilder, Value as ClValue};
use tessera_dialects::{DType, Operation, SymExpr};

/// The largest bound an index value may have (`2^62`): sums of two such values, and
/// products with tile extents after clamping, stay within `i64`.
pub(crate) const MAX_INDEX_BOUND: u64 = 1 << 62;

/// Error codes written to the kernel's status word (the runtime renders them).
pub(crate) use tessera_runtime::exec::STATUS_IOTA_OVERFLOW;

impl Lowerer<'_, '_> {
    /// The value and bound of a size expression from an attribute: constants inline,
    /// anything else from the size table (evaluated and checked by the caller).
    fn size_value(&mut self, e: &SymExpr) -> Result<(ClValue, u64)> {
        if let Some(c) = e.as_const() {
            return Ok((self.iconst(c), c.unsigned_abs()));
        }
        let i = self.table.index(e)?;
        Ok((self.sizes[i], MAX_SIZE_VALUE as u64))
    }

    /// `tile.index {value = sizes[e]}`.
    pub(super) fn index_op(&mut self, op: &Operation) -> Result<()> {
        if !op.operands.is_empty() {
            return invalid("tile.index takes no operands");
        }
        let (v, bound) = match op.attrs.sizes("value") {
            Some([e]) => self.size_value(&e.clone())?,
            _ => return invalid("tile.index: `value` must hold exactly one size"),
        };
        if bound > MAX_INDEX_BOUND {
            return unsupported(format!(
                "tile.index: the constant {bound} is beyond ±2^62 (index arithmetic could overflow)"
            ));
        }
        self.set_index(single_result(op)?, v, bound)
    }

    /// `tile.affine %a, ... {coeffs, offset}`: `offset + sum coeffs[i] * a_i`.
    pub(super) fn affine(&mut self, op: &Operation) -> Result<()> {
        let Some(coeffs) = op.attrs.ints("coeffs").map(<[i64]>::to_vec) else {
            return invalid("tile.affine: missing integer list `coeffs`");
        };
        if coeffs.len() != op.operands.len() {
            return invalid(format!(
                "tile.affine: `coeffs` has {} entries for {} operands",
                coeffs.len(),
                op.operands.len()
            ));
        }
        let (mut acc, off_bound) = match op.attrs.sizes("offset") {
            None => (self.iconst(0), 0u64),
            Some([e]) => self.size_value(&e.clone())?,
            Some(_) => return invalid("tile.affine: `offset` must hold exactly one size"),
        };
        let mut bound = u128::from(off_bound);
        for (&c, &v) in coeffs.iter().zip(&op.operands) {
            let x = self.index(v)?;
            bound += u128::from(c.unsigned_abs()) * u128::from(self.index_bound(v));
            let t = self.mul_c(x, c);
            acc = self.b.ins().iadd(acc, t);
        }
        if bound > u128::from(MAX_INDEX_BOUND) {
            return unsupported(format!(
                "tile.affine: coefficients {coeffs:?} on operands bounded by ±{} could exceed ±2^62 (index arithmetic could overflow)",
                op.operands
                    .iter()
                    .map(|v| self.index_bound(*v))
                    .max()
                    .unwrap_or(0)
            ));
        }
        // Every partial sum is bounded by `bound <= 2^62`, so no step wraps.
        self.set_index(single_result(op)?, acc, bound as u64)
    }

    /// `tile.iota %base? {axis}`: element `(.., c_axis, ..)` is `base + c_axis` (`i32`).
    pub(super) fn iota(&mut self, op: &Operation) -> Result<()> {
        let (base, bbound) = match op.operands.as_slice() {
            [] => (self.iconst(0), 0u64),
            [b] => (self.index(*b)?, self.index_bound(*b)),
            _ => return invalid("tile.iota takes at most one base index"),
        };
        let out = self.result_slot(op)?;
        if out.dtype != DType::I32 {
            return invalid(format!(
                "tile.iota: the result must be an i32 tile, not {}",
                out.dtype
            ));
        }
        let axis = op.attrs.int("axis").unwrap_or(-1);
        let Some(axis) = usize::try_from(axis).ok().filter(|a| *a < out.shape.len()) else {
            return invalid(format!(
                "tile.iota: axis {axis} is not an axis of the rank-{} tile",
                out.shape.len()
            ));
        };
        let n = out.shape[axis] as i64;
        let outer: i64 = out.shape[..axis].iter().product::<usize>() as i64;
        let inner: i64 = out.shape[axis + 1..].iter().product::<usize>() as i64;
        if out.is_empty() {
            return self.set(single_result(op)?, Val::Tile(out));
        }
        // Values base .. base + n - 1 must fit in i32: proven statically, else checked.
        let fits = u128::from(bbound) + (n as u128) <= i32::MAX as u128;
        if !fits {
            let lo_ok =
                self.b
                    .ins()
                    .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, base, i64::from(i32::MIN));
            let last = self.add_c(base, n - 1);
            let hi_ok =
                self.b
                    .ins()
                    .icmp_imm_s(IntCC::SignedLessThanOrEqual, last, i64::from(i32::MAX));
            let ok = self.b.ins().band(lo_ok, hi_ok);
            self.raise_unless(ok, STATUS_IOTA_OVERFLOW)?;
        }
        let os = out.clone();
        self.for_const(0, n, 1, |l, c| {
            let v = l.b.ins().iadd(base, c);
            let v = l.b.ins().ireduce(types::I32, v);
            l.for_const(0, outer, 1, |l, o| {
                let e = l.mul_c(o, n * inner);
                let ci = l.mul_c(c, inner);
                let e = l.b.ins().iadd(e, ci);
                let dst = l.elem_addr(&os, e);
                let cnt = l.iconst(inner);
                l.fill_elems(dst, cnt, 4, v, super::frame_flags())
            })
        })?;
        self.set(single_result(op)?, Val::Tile(out))
    }
}
