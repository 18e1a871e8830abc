//! `graph.cast` between `f32`, `i32` and `i8` on four lanes, and the `i8` operands and
//! results of four-lane maps (the quantisation kernels around int8 matmuls: `x / s as
//! i8`, `q as f32 * s`); `f32 -> bf16` and `f32 -> f16` inline on lanes and scalars
//! (`--precision bf16|f16`'s `x as bf16 as f32`, [`Lowerer::round_bf16`],
//! [`Lowerer::round_f16`]), a `bf16` or `f16` value being held as its exact `f32`.
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
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Value as ClValue};
use tessera_dialects::DType;

/// Whether a cast from `from` to `to` has a four-lane form.
pub(super) fn lane_cast_supported(from: DType, to: DType) -> bool {
    use DType::{BF16, F16, F32, I32, I8};
    matches!(
        (from, to),
        (F32, I8)
            | (F32, I32)
            | (I32, F32)
            | (I8, F32)
            | (I8, I32)
            | (F32, BF16)
            | (BF16, F32)
            | (F32, F16)
            | (F16, F32)
    ) || (from == to && matches!(from, F32 | I32 | I8 | BF16 | F16))
}

/// The integer and float types of a value on four lanes or on one.
fn bit_types(lanes: bool) -> (types::Type, types::Type) {
    if lanes {
        (types::I32X4, types::F32X4)
    } else {
        (types::I32, types::F32)
    }
}

fn little() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl Lowerer<'_, '_> {
    /// `x as to` on four lanes (`x` an `f32x4`, or an `i32x4` for `i32` and `i8`).
    pub(super) fn lane_cast(&mut self, x: ClValue, from: DType, to: DType) -> Result<ClValue> {
        use DType::{BF16, F16, F32, I32, I8};
        // A bf16 or f16 value is held as its exact f32 value: widening is the identity.
        if from == to || matches!((from, to), (I8, I32) | (BF16, F32) | (F16, F32)) {
            return Ok(x);
        }
        Ok(match (from, to) {
            (F32, BF16) => self.round_bf16(x, true),
            (F32, F16) => self.round_f16(x, true),
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

    /// The 32-bit constant `v`, splat to four lanes when `lanes`.
    fn lane_bits(&mut self, v: u32, lanes: bool) -> ClValue {
        let k = self.b.ins().iconst(types::I32, i64::from(v as i32));
        if lanes {
            self.b.ins().splat(types::I32X4, k)
        } else {
            k
        }
    }

    /// `x as bf16` held as an `f32` (`x` an `f32`, or an `f32x4` when `lanes`), inline
    /// and bit for bit as `tsr_cast_bits` (`half`'s `bf16::from_f32` with DSL saturation):
    /// round to nearest even on the top 16 bits (`b + 0x7fff + lsb`, then the low half
    /// cleared); a finite value that rounds to infinity saturates to +-max finite
    /// (`0x7f7f`); infinities stay; a NaN keeps its top bits and becomes quiet.
    pub(super) fn round_bf16(&mut self, x: ClValue, lanes: bool) -> ClValue {
        self.round_bf16_with(x, lanes, true)
    }

    /// [`Self::round_bf16`], or with `saturate` false the rounding of arithmetic: a finite
    /// value that rounds past the largest finite one becomes infinite (the rounding of an
    /// accumulator, `tile.cast {round = "arith"}`, and the interpreter's `round_arith`).
    pub(super) fn round_bf16_with(&mut self, x: ClValue, lanes: bool, saturate: bool) -> ClValue {
        let (ity, fty) = bit_types(lanes);
        let c = |l: &mut Self, v: u32| l.lane_bits(v, lanes);
        let b = self.b.ins().bitcast(ity, MemFlagsData::new(), x);
        let one = c(self, 1);
        let hi = self.b.ins().ushr_imm_u(b, 16);
        let lsb = self.b.ins().band(hi, one);
        let half = c(self, 0x7fff);
        let bias = self.b.ins().iadd(half, lsb);
        let r = self.b.ins().iadd(b, bias);
        let top = c(self, 0xffff_0000);
        let r = self.b.ins().band(r, top);
        // Magnitudes as non-negative i32: signed comparisons order them.
        let abs_mask = c(self, 0x7fff_ffff);
        let inf = c(self, 0x7f80_0000);
        let ab = self.b.ins().band(b, abs_mask);
        let ar = self.b.ins().band(r, abs_mask);
        let finite = self.b.ins().icmp(IntCC::SignedLessThan, ab, inf);
        let to_inf = self.b.ins().icmp(IntCC::Equal, ar, inf);
        let over = self.b.ins().band(finite, to_inf);
        let sign = c(self, 0x8000_0000);
        let s = self.b.ins().band(b, sign);
        let max = c(self, 0x7f7f_0000);
        let sat = self.b.ins().bor(s, max);
        let nan = self.b.ins().icmp(IntCC::SignedGreaterThan, ab, inf);
        let quiet = c(self, 0x0040_0000);
        let q = self.b.ins().bor(b, quiet);
        let q = self.b.ins().band(q, top);
        let r = match (lanes, saturate) {
            (true, true) => self.b.ins().bitselect(over, sat, r),
            (false, true) => self.b.ins().select(over, sat, r),
            (_, false) => r,
        };
        let r = if lanes {
            self.b.ins().bitselect(nan, q, r)
        } else {
            self.b.ins().select(nan, q, r)
        };
        self.b.ins().bitcast(fty, MemFlagsData::new(), r)
    }

    /// `x as f16` held as an `f32` (`x` an `f32`, or an `f32x4` when `lanes`), inline and
    /// bit for bit as `tsr_cast_bits` (`half`'s `f16::from_f32` with DSL saturation):
    /// - from 2^-14 up (f16 normals), round to nearest even on 10 mantissa bits (`b +
    ///   0xfff + lsb`, then the low 13 bits cleared);
    /// - below 2^-14 (f16 subnormals and zero), the nearest multiple of 2^-24, ties to
    ///   even, by the `f32` adder: `(|x| + 0.5) - 0.5` (the spacing of `f32` on [0.5, 1)
    ///   is 2^-24), with `x`'s sign;
    /// - a finite value beyond 65504 (or rounding past it) saturates to +-65504;
    ///   infinities stay; a NaN keeps its top 10 mantissa bits and becomes quiet.
    pub(super) fn round_f16(&mut self, x: ClValue, lanes: bool) -> ClValue {
        let (ity, fty) = bit_types(lanes);
        let c = |l: &mut Self, v: u32| l.lane_bits(v, lanes);
        let pick = |l: &mut Self, m: ClValue, a: ClValue, b: ClValue| {
            if lanes {
                l.b.ins().bitselect(m, a, b)
            } else {
                l.b.ins().select(m, a, b)
            }
        };
        let b = self.b.ins().bitcast(ity, MemFlagsData::new(), x);
        let abs_mask = c(self, 0x7fff_ffff);
        let ab = self.b.ins().band(b, abs_mask);
        let sign = c(self, 0x8000_0000);
        let s = self.b.ins().band(b, sign);
        // Normals: 10 mantissa bits, ties to even.
        let one = c(self, 1);
        let hi = self.b.ins().ushr_imm_u(b, 13);
        let lsb = self.b.ins().band(hi, one);
        let half_ulp = c(self, 0xfff);
        let bias = self.b.ins().iadd(half_ulp, lsb);
        let r = self.b.ins().iadd(b, bias);
        let top = c(self, 0xffff_e000);
        let r = self.b.ins().band(r, top);
        // Subnormals: multiples of 2^-24 by the f32 adder.
        let ax = self.b.ins().bitcast(fty, MemFlagsData::new(), ab);
        let h = c(self, 0.5f32.to_bits());
        let h = self.b.ins().bitcast(fty, MemFlagsData::new(), h);
        let t = self.b.ins().fadd(ax, h);
        let t = self.b.ins().fsub(t, h);
        let tb = self.b.ins().bitcast(ity, MemFlagsData::new(), t);
        let sub = self.b.ins().bor(tb, s);
        let min_normal = c(self, 0x3880_0000);
        let small = self.b.ins().icmp(IntCC::SignedLessThan, ab, min_normal);
        let r = pick(self, small, sub, r);
        // Finite values past the largest f16 saturate.
        let inf = c(self, 0x7f80_0000);
        let finite = self.b.ins().icmp(IntCC::SignedLessThan, ab, inf);
        let max = c(self, 0x477f_e000);
        let ar = self.b.ins().band(r, abs_mask);
        let past = self.b.ins().icmp(IntCC::SignedGreaterThan, ar, max);
        let over = self.b.ins().band(finite, past);
        let sat = self.b.ins().bor(s, max);
        let r = pick(self, over, sat, r);
        // NaN: quiet, top bits kept.
        let nan = self.b.ins().icmp(IntCC::SignedGreaterThan, ab, inf);
        let quiet = c(self, 0x0040_0000);
        let q = self.b.ins().bor(b, quiet);
        let q = self.b.ins().band(q, top);
        let r = pick(self, nan, q, r);
        self.b.ins().bitcast(fty, MemFlagsData::new(), r)
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

impl Lowerer<'_, '_> {
    /// Four `f8e4m3` or `f8e5m2` elements at `ptr` (four bytes), widened exactly to an
    /// `f32x4` with integer lane operations (bit for bit the interpreter's widening; a NaN
    /// is some NaN):
    /// - `f8e5m2` is the top byte of the `f16` of the same value: shifted into place, then
    ///   widened as `f16` ([`super::dot_widen::widen_f16_lanes`]);
    /// - `f8e4m3` (bias 7, three mantissa bits, no infinities, `S.1111.111` NaN): a normal
    ///   number's exponent rebiased (`+ 120 << 23`) and mantissa shifted (`<< 20`); a
    ///   subnormal `m 2^-9` as the exact `f32` product of `m` and `2^-9`; the sign ORed back.
    pub(super) fn widen_f8x4(&mut self, ptr: ClValue, d: DType, flags: MemFlagsData) -> ClValue {
        let word = self.b.ins().load(types::I32, flags, ptr, 0);
        let v = self.b.ins().scalar_to_vector(types::I32X4, word);
        let bytes = self.b.ins().bitcast(types::I8X16, little(), v);
        let halves = self.b.ins().uwiden_low(bytes);
        let lanes = self.b.ins().uwiden_low(halves);
        if d == DType::F8E5M2 {
            let h = self.b.ins().ishl_imm_u(lanes, 8);
            return super::dot_widen::widen_f16_lanes(&mut self.b, h);
        }
        let c = |l: &mut Self, v: u32| l.lane_bits(v, true);
        let sign_mask = c(self, 0x80);
        let sign = self.b.ins().band(lanes, sign_mask);
        let sign = self.b.ins().ishl_imm_u(sign, 24);
        let mag_mask = c(self, 0x7f);
        let mag = self.b.ins().band(lanes, mag_mask);
        // Normal: (mag << 20) + (120 << 23) puts exponent and mantissa in place.
        let shifted = self.b.ins().ishl_imm_u(mag, 20);
        let rebias = c(self, 120 << 23);
        let normal = self.b.ins().iadd(shifted, rebias);
        // Subnormal (exponent 0): m 2^-9, exact in f32.
        let m = self.b.ins().fcvt_from_sint(types::F32X4, mag);
        let tiny = self.b.ins().f32const(1.0 / 512.0);
        let tiny = self.b.ins().splat(types::F32X4, tiny);
        let sub = self.b.ins().fmul(m, tiny);
        let sub = self.b.ins().bitcast(types::I32X4, little(), sub);
        let eight = c(self, 8);
        let is_sub = self.b.ins().icmp(IntCC::SignedLessThan, mag, eight);
        let r = self.b.ins().bitselect(is_sub, sub, normal);
        let nan_bits = c(self, 0x7fc0_0000);
        let is_nan = self.b.ins().icmp(IntCC::Equal, mag, mag_mask);
        let r = self.b.ins().bitselect(is_nan, nan_bits, r);
        let r = self.b.ins().bor(r, sign);
        self.b.ins().bitcast(types::F32X4, little(), r)
    }
}
