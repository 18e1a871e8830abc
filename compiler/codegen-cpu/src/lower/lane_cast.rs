//! `graph.cast` between `f32`, `i32` and `i8` on four lanes, and the `i8` operands and
//! results of four-lane maps (the quantisation kernels around int8 matmuls: `x / s as
//! i8`, `q as f32 * s`).
//!
//! In a four-lane map an `i8` value is an `i32x4` holding the sign-extended values: it is
//! loaded from four bytes (`pmovsxbw`, `pmovsxwd`) and stored as four bytes (two
//! saturating narrowings, exact on values in `-128..=127`); only casts touch such values
//! (the map's vector test, `Lowerer::vectorisable`, admits no other `i8` arithmetic).
//! The conversions are exactly the scalar `as` of `tsr_cast_bits`: float to integer
//! rounds half to even (`nearest`), saturates (`fcvt_to_sint_sat`, then a clamp to the
//! `i8` range) and maps NaN to 0; `i32` to `f32` rounds to nearest even (`cvtdq2ps`);
//! `i8` to `i32` or `f32` is exact.

use super::Lowerer;
use crate::error::{unsupported, Result};
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Value as ClValue};
use tessera_dialects::DType;

/// Whether a cast from `from` to `to` has a four-lane form.
pub(super) fn lane_cast_supported(from: DType, to: DType) -> bool {
    use DType::{F32, I32, I8};
    matches!(
        (from, to),
        (F32, I8) | (F32, I32) | (I32, F32) | (I8, F32) | (I8, I32)
    ) || (from == to && matches!(from, F32 | I32 | I8))
}

fn little() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl Lowerer<'_, '_> {
    /// `x as to` on four lanes (`x` an `f32x4`, or an `i32x4` for `i32` and `i8`).
    pub(super) fn lane_cast(&mut self, x: ClValue, from: DType, to: DType) -> Result<ClValue> {
        use DType::{F32, I32, I8};
        if from == to || (from, to) == (I8, I32) {
            return Ok(x);
        }
        Ok(match (from, to) {
            (I32 | I8, F32) => self.b.ins().fcvt_from_sint(types::F32X4, x),
            (F32, I32 | I8) => {
                let r = self.b.ins().nearest(x);
                let i = self.b.ins().fcvt_to_sint_sat(types::I32X4, r);
                if to == I32 {
                    return Ok(i);
                }
                let lo = self.b.ins().iconst(types::I32, -128);
                let lo = self.b.ins().splat(types::I32X4, lo);
                let hi = self.b.ins().iconst(types::I32, 127);
                let hi = self.b.ins().splat(types::I32X4, hi);
                let i = self.b.ins().smax(i, lo);
                self.b.ins().smin(i, hi)
            }
            _ => return unsupported(format!("a four-lane cast from {from} to {to}")),
        })
    }

    /// Four `i8` elements at `addr`, sign-extended to an `i32x4`.
    pub(super) fn load_i8_lanes(&mut self, addr: ClValue, flags: MemFlagsData) -> ClValue {
        let w = self.b.ins().load(types::I32, flags, addr, 0);
        let v = self.b.ins().scalar_to_vector(types::I32X4, w);
        let v = self.b.ins().bitcast(types::I8X16, little(), v);
        let v = self.b.ins().swiden_low(v);
        self.b.ins().swiden_low(v)
    }

    /// Stores the four lanes of `v` (an `i32x4` of values in `-128..=127`) as four `i8`
    /// elements at `addr`.
    pub(super) fn store_i8_lanes(&mut self, v: ClValue, addr: ClValue, flags: MemFlagsData) {
        let h = self.b.ins().snarrow(v, v);
        let q = self.b.ins().snarrow(h, h);
        let w = self.b.ins().bitcast(types::I32X4, little(), q);
        let w = self.b.ins().extractlane(w, 0);
        self.b.ins().store(flags, w, addr, 0);
    }
}
