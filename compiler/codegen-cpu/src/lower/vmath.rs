//! Transcendental functions on `f32x4`, generated inline as Cranelift IR: `exp`, `log`,
//! `tanh`, `erf`, `sigmoid`, `silu`, `gelu` (exact, erf form), `gelu_tanh` and `rsqrt`.
//!
//! Every function is one straight-line sequence on four lanes (both sides of a branch are
//! computed and blended with `bitselect`); a scalar element is splatted, computed on four
//! lanes and lane 0 extracted, so the vector body and the scalar tail of a map give
//! bit-identical results. The methods (range reduction, polynomials fitted for this file
//! by a Lawson/minimax iteration with coefficients rounded to `f32`, edge handling) and the
//! measured errors against the `f64` reference rounded once are documented in
//! `docs/numerics-cpu.md`; `compiler/codegen-cpu/tests/vmath.rs` sweeps every function and
//! asserts those bounds.
//!
//! - `exp(x)`: `x` clamped to `[-104, 89]`, `n = round(x / ln 2)` by the shifter trick,
//!   `r = x - n ln 2` (Cody-Waite, two `fma`), `e^r = 1 + r + r^2 P(r)` (degree 6), then
//!   `* 2^n1 * 2^n2` with `n1 = n >> 1`, `n2 = n - n1`, so overflow gives `inf`, and results
//!   below `2^-126` are denormals rounded once (underflow to `+0`). NaN gives NaN.
//! - `log(x)`: denormals scaled by `2^23`; `x = m 2^e` with `m` in `[sqrt(1/2), sqrt 2)`,
//!   `log(1 + f) = f + f^2 P(f)` (`P` of degree 8), plus `e ln 2` in two parts. `x < 0` and
//!   NaN give NaN, `±0` gives `-inf`, `inf` gives `inf`.
//! - `tanh(x)`: `|x| < 0.9`: `x + x^3 P(x^2)` (degree 6 in `x^2`); else
//!   `sign(x) (1 - e) / (1 + e)` with `e = exp(-2|x|)` (no cancellation, `±1` for large `x`).
//! - `erf(x)`: `|x| < 1`: `x P(x^2)`; else `sign(x) (1 - erfc |x|)` with
//!   `erfc(a) = exp(-a^2 + S(a))`, `S` a degree-11 fit of `log erfc(a) + a^2` on `[0.5, 6]`
//!   (`0` beyond 6).
//! - `gelu(x) = x/2 (1 + erf(z))`, `z = x / sqrt 2`, as `x/2 (2 - erfc |z|)` for `z >= 0`
//!   and `x/2 erfc |z|` below (no cancellation anywhere), `erfc(a) = exp(-x^2/2 + S(a))`
//!   with `S` a degree-13 fit on `[0, 6]` (`-0` below `x = -6 sqrt 2`, and at `-inf`).
//! - `sigmoid(x) = s / (1 + e)`, `e = exp(-|x|)`, `s = 1` for `x >= 0` else `e`;
//!   `silu(x) = x s / (1 + e)`, for `x < 0` with `e`'s last power-of-two factor applied
//!   after the division (a denormal result is rounded once), `-0` below `-120`;
//!   `gelu_tanh(x) = x / (1 + 2^v)`, `v = -2u log2(e)`, `u = sqrt(2/pi) (x + 0.044715
//!   x^3)`: `x` clamped into `[-10.05, 10]` for `v` (and raised to at least `-10.05` for the
//!   numerator: `-0` at `-inf`), `2^v = 2^f 2^n` with `n = round(v)` by the shifter trick
//!   (the shifter carries the exponent bias, so `2^n` is one shift), `2^f` a degree-5
//!   polynomial on `[-1/2, 1/2]`, `1 + 2^f 2^n` one `fma` (`v_gelu_tanh`): 3.5 ulp for
//!   `x >= -1`, absolute error under `5e-8` below.
//! - `rsqrt(x) = 1 / sqrt(x)` (two correctly rounded operations).

// The constants are written with the exact decimal expansion of each `f32` coefficient.
#![allow(clippy::excessive_precision)]

use super::Lowerer;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, ConstantData, InstBuilder, MemFlagsData, Value as ClValue};
use tessera_dialects::GraphOp;

/// The graph ops computed here.
pub(crate) const VMATH_OPS: &[GraphOp] = &[
    GraphOp::Exp,
    GraphOp::Log,
    GraphOp::Tanh,
    GraphOp::Erf,
    GraphOp::Sigmoid,
    GraphOp::Silu,
    GraphOp::Gelu,
    GraphOp::GeluTanh,
    GraphOp::Rsqrt,
];

// exp
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
const SHIFTER: f32 = 12_582_912.0;
/// ln 2 = LN2_HI + LN2_LO, LN2_HI with 15 significant bits.
const LN2_HI: f32 = 0.693_145_751_953_125;
const LN2_LO: f32 = 1.428_606_765_330_187e-6;
/// (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2], relative error of e^r 4e-9.
const EXP_P: [f32; 5] = [
    0.499_999_940_395_355_2,
    0.166_665_196_418_762_2,
    0.041_668_407_618_999_48,
    0.008_368_914_015_591_145,
    0.001_381_418_900_564_313,
];
// log
/// (log1p(f) - f) / f^2 on [sqrt(1/2) - 1, sqrt 2 - 1], relative error of log1p 5e-9.
const LOG_P: [f32; 9] = [
    -0.499_999_880_790_710_45,
    0.333_333_253_860_473_63,
    -0.250_015_884_637_832_64,
    0.200_019_940_733_909_6,
    -0.166_089_743_375_778_2,
    0.141_813_948_750_495_9,
    -0.132_434_710_860_252_38,
    0.129_073_694_348_335_27,
    -0.076_241_746_544_837_95,
];
/// ln 2 in two parts for `e ln 2` (LOG_HI has 9 significant bits).
const LOG_HI: f32 = 0.693_359_375;
const LOG_LO: f32 = -2.121_944_4e-4;
// tanh
/// (tanh(x) - x) / x^3 as a polynomial in x^2 on |x| < 0.9, relative error 4e-9.
const TANH_P: [f32; 7] = [
    -0.333_333_224_058_151_25,
    0.133_329_778_909_683_23,
    -0.053_929_299_116_134_644,
    0.021_663_539_111_614_227,
    -0.008_264_536_969_363_69,
    0.002_582_661_807_537_079,
    -0.000_455_457_862_699_404_36,
];
const TANH_SMALL: f32 = 0.9;
// erf
/// erf(x) / x as a polynomial in x^2 on |x| < 1, relative error 7e-8 (the f32 leading
/// coefficient).
const ERF_P: [f32; 7] = [
    1.128_379_106_521_606_4,
    -0.376_126_259_565_353_4,
    0.112_835_854_291_915_9,
    -0.026_853_812_858_462_334,
    0.005_188_327_748_328_447,
    -0.000_801_019_312_348_216_8,
    7.853_857_823_647_559e-5,
];
/// log(erfc(a)) + a^2 as a polynomial in s = (a - 3.25) / 2.75 on a in [0.5, 6], absolute
/// error 1.9e-7.
const ERFC_S: [f32; 12] = [
    -1.793749213218689,
    -0.7803421020507812,
    0.28372615575790405,
    -0.12891459465026855,
    0.06200823560357094,
    -0.02993050217628479,
    0.013695482164621353,
    -0.005901576951146126,
    0.0031040417961776257,
    -0.0014616555999964476,
    -7.068569539114833e-05,
    0.0002754293673206121,
];
/// log(erfc(a)) + a^2 as a polynomial in s = a / 3 - 1 on a in [0, 6], absolute error
/// 1e-7 (gelu: no small-argument branch, as gelu never cancels).
const GELU_S: [f32; 14] = [
    -1.7203630208969116,
    -0.9112610220909119,
    0.3834553062915802,
    -0.2001233845949173,
    0.10956446081399918,
    -0.05967800319194794,
    0.03173649683594704,
    -0.01568920910358429,
    0.006054082419723272,
    -0.0023325500078499317,
    0.002102695871144533,
    -0.0004148956504650414,
    -0.0013305202592164278,
    0.0007184639107435942,
];
/// Where silu's `exp` is clamped and its result is `-0` below (`silu(-108.8)` underflows).
const SILU_LO: f32 = -120.0;
/// gelu_tanh's `v = -2u / ln 2 = x (GELU_K + GELU_KC x^2)`: `-2 sqrt(2/pi) log2(e)` and
/// that times 0.044715.
const GELU_K: f32 = -2.302_208_185_195_922_851_562_5;
const GELU_KC: f32 = -0.102_943_241_596_221_923_828_125;
/// `2^f` on `[-1/2, 1/2]` as `1 + f P(f)` (`P` of degree 4), relative error 1.6e-7 (with
/// the `f32` rounding of Horner's rule; 1.2e-7 for the polynomial alone).
const EXP2_P: [f32; 5] = [
    0.693_147_003_650_665_283_203_125,
    0.240_222_424_268_722_534_179_687_5,
    0.055_507_335_811_853_408_813_476_562_5,
    0.009_671_512_991_189_956_665_039_062_5,
    0.001_326_472_731_307_148_933_410_644_531_25,
];
/// gelu_tanh clamps `x` into `[GELU_LO, GELU_HI]` for its exponent: `v(GELU_LO)` is about
/// 127.6, so `2^v` is `+inf` there (`n = 128`), and `v(GELU_HI)` about -125.96, so `2^n`
/// is normal down there (`n = -126`).
const GELU_LO: f32 = -10.05;
const GELU_HI: f32 = 10.0;
/// 1.5 * 2^23 + 127: adding it to `v` rounds `v` to an integer `n` held in the low
/// mantissa bits as `n + 127`, the biased exponent of `2^n`.
const SHIFTER_BIASED: f32 = 12_583_039.0;

impl Lowerer<'_, '_> {
    /// `op` applied to `x`, an `f32x4` value (`lanes`) or an `f32` scalar.
    pub(super) fn vmath(&mut self, op: GraphOp, x: ClValue, lanes: bool) -> ClValue {
        let v = if lanes {
            x
        } else {
            self.b.ins().splat(types::F32X4, x)
        };
        let r = match op {
            GraphOp::Exp => {
                let e = self.v_exp(v);
                self.keep_nan(v, e)
            }
            GraphOp::Log => self.v_log(v),
            GraphOp::Tanh => self.v_tanh(v),
            GraphOp::Erf => self.v_erf(v),
            GraphOp::Gelu => self.v_gelu(v),
            GraphOp::Sigmoid => self.v_sigmoid(v),
            GraphOp::Silu => self.v_silu(v),
            GraphOp::GeluTanh => self.v_gelu_tanh(v),
            _ => {
                let s = self.b.ins().sqrt(v);
                let one = self.vc(1.0);
                self.b.ins().fdiv(one, s)
            }
        };
        if lanes {
            r
        } else {
            self.b.ins().extractlane(r, 0)
        }
    }

    /// A splatted `f32` constant: a 128-bit constant-pool value (folded into its use as a
    /// memory operand instead of a scalar constant splatted at every use).
    fn vc(&mut self, c: f32) -> ClValue {
        self.v128(types::F32X4, c.to_bits())
    }

    /// A splatted `i32` constant.
    fn vi(&mut self, c: i32) -> ClValue {
        self.v128(types::I32X4, c as u32)
    }

    fn v128(&mut self, ty: types::Type, bits: u32) -> ClValue {
        let mut bytes = [0u8; 16];
        for k in 0..4 {
            bytes[4 * k..4 * k + 4].copy_from_slice(&bits.to_le_bytes());
        }
        match self.vconst(ty, bytes) {
            Ok(v) => v,
            // The table is full (the frame's limit): a constant of the code instead.
            Err(_) => {
                let h = self
                    .b
                    .func
                    .dfg
                    .constants
                    .insert(ConstantData::from(bytes.to_vec()));
                self.b.ins().vconst(ty, h)
            }
        }
    }

    fn as_f32x4(&mut self, v: ClValue) -> ClValue {
        self.b.ins().bitcast(types::F32X4, MemFlagsData::new(), v)
    }

    fn as_i32x4(&mut self, v: ClValue) -> ClValue {
        self.b.ins().bitcast(types::I32X4, MemFlagsData::new(), v)
    }

    /// An all-ones / all-zeros lane mask (as `f32x4`) of `a cc b`.
    fn vcmp(&mut self, cc: FloatCC, a: ClValue, b: ClValue) -> ClValue {
        let m = self.b.ins().fcmp(cc, a, b);
        self.as_f32x4(m)
    }

    /// `m ? a : b` per lane.
    fn vsel(&mut self, m: ClValue, a: ClValue, b: ClValue) -> ClValue {
        self.b.ins().bitselect(m, a, b)
    }

    /// `a < b ? a : b` (`minps`; a NaN `a` gives `b`).
    fn vmin(&mut self, a: ClValue, b: ClValue) -> ClValue {
        let m = self.vcmp(FloatCC::LessThan, a, b);
        self.vsel(m, a, b)
    }

    /// `b < a ? a : b` (`maxps`; a NaN `a` gives `b`).
    fn vmax(&mut self, a: ClValue, b: ClValue) -> ClValue {
        let m = self.vcmp(FloatCC::LessThan, b, a);
        self.vsel(m, a, b)
    }

    /// Horner's rule: `c[0] + x (c[1] + x (...))`.
    fn horner(&mut self, x: ClValue, c: &[f32]) -> ClValue {
        let mut acc = self.vc(c[c.len() - 1]);
        for &k in c[..c.len() - 1].iter().rev() {
            let kc = self.vc(k);
            acc = self.b.ins().fma(acc, x, kc);
        }
        acc
    }

    /// `x` where `x` is NaN, else `y`.
    fn keep_nan(&mut self, x: ClValue, y: ClValue) -> ClValue {
        let nan = self.vcmp(FloatCC::Unordered, x, x);
        self.vsel(nan, x, y)
    }

    /// `|m|` with the sign of `s`.
    fn copysign(&mut self, m: ClValue, s: ClValue) -> ClValue {
        let sign = self.vc(-0.0);
        let sb = self.b.ins().band(s, sign);
        let a = self.b.ins().fabs(m);
        self.b.ins().bor(a, sb)
    }

    /// `exp(x)` for every `x` but NaN (a NaN gives some number: callers that can see a
    /// NaN restore it).
    fn v_exp(&mut self, x: ClValue) -> ClValue {
        let (y, s2) = self.v_exp_parts(x, -104.0);
        self.b.ins().fmul(y, s2)
    }

    /// `exp(x)` as `y * s2`, `s2 = 2^n2` a power of two and `y` normal, with `x` clamped
    /// to `[lo, 89]` (`lo >= -170`, so that `n2 >= -126`): a caller that multiplies `y` by
    /// other factors first and by `s2` last rounds a denormal result once. `exp` itself
    /// clamps at `-104`, where the result has underflowed to 0.
    fn v_exp_parts(&mut self, x: ClValue, lo: f32) -> (ClValue, ClValue) {
        let (lo, hi) = (self.vc(lo), self.vc(89.0));
        let xc = self.vmax(x, lo);
        let xc = self.vmin(xc, hi);
        let (l2e, sh) = (self.vc(LOG2E), self.vc(SHIFTER));
        let t = self.b.ins().fma(xc, l2e, sh);
        let n = self.b.ins().fsub(t, sh);
        let (h, l) = (self.vc(-LN2_HI), self.vc(-LN2_LO));
        let r = self.b.ins().fma(n, h, xc);
        let r = self.b.ins().fma(n, l, r);
        let p = self.horner(r, &EXP_P);
        let r2 = self.b.ins().fmul(r, r);
        let s = self.b.ins().fma(r2, p, r);
        let one = self.vc(1.0);
        let e = self.b.ins().fadd(s, one);
        // n as an integer: the shifter's bits plus n.
        let tb = self.as_i32x4(t);
        let base = self.vi(0x4B40_0000);
        let ni = self.b.ins().isub(tb, base);
        let n1 = self.b.ins().sshr_imm_u(ni, 1);
        let n2 = self.b.ins().isub(ni, n1);
        let bias = self.vi(127);
        let scale = |l: &mut Self, k: ClValue| {
            let b = l.b.ins().iadd(k, bias);
            let b = l.b.ins().ishl_imm_u(b, 23);
            l.as_f32x4(b)
        };
        let (s1, s2) = (scale(self, n1), scale(self, n2));
        (self.b.ins().fmul(e, s1), s2)
    }

    /// `gelu_tanh(x) = x sigmoid(2u) = x / (1 + 2^v)`, `v = -2u log2(e) = x (GELU_K +
    /// GELU_KC x^2)`: no cancellation on either side (for `x < 0` the power is large). The
    /// numerator is `x` raised to at least `GELU_LO` (`maxps` keeps a NaN `x`, which stays
    /// NaN through the division), and `v` is computed from `x` clamped into `[GELU_LO,
    /// GELU_HI]`: there `n = round(v)` lies in `[-126, 128]`, so `2^n` is one exponent field
    /// (`+inf` for `n = 128`, which gives `-0`: the true value is below `5e-38` from
    /// `x = -10.03` on; `-inf` gives `GELU_LO / inf = -0`, its limit), and above `GELU_HI`
    /// `2^v` is below `2^-125`, so the sum is 1. `2^v = 2^f 2^n` with `f = v - n` exact in
    /// `[-1/2, 1/2]` and `2^f` a polynomial ([`EXP2_P`]); `1 + 2^f 2^n` is one `fma`.
    /// Folding `log2(e)` into the constants costs nothing: `-2u` itself is a rounded
    /// product, with the same relative error as `v`.
    fn v_gelu_tanh(&mut self, x: ClValue) -> ClValue {
        let (lo, hi) = (self.vc(GELU_LO), self.vc(GELU_HI));
        let xl = self.vmax(lo, x);
        let xc = self.vmin(xl, hi);
        let x2 = self.b.ins().fmul(xc, xc);
        let (kc, k) = (self.vc(GELU_KC), self.vc(GELU_K));
        let p = self.b.ins().fma(x2, kc, k);
        let v = self.b.ins().fmul(xc, p);
        let sh = self.vc(SHIFTER_BIASED);
        let t = self.b.ins().fadd(v, sh);
        let n = self.b.ins().fsub(t, sh);
        let f = self.b.ins().fsub(v, n);
        let one = self.vc(1.0);
        let mut q = self.vc(EXP2_P[EXP2_P.len() - 1]);
        for &c in EXP2_P[..EXP2_P.len() - 1].iter().rev() {
            let kc = self.vc(c);
            q = self.b.ins().fma(q, f, kc);
        }
        let q = self.b.ins().fma(q, f, one);
        // 2^n: the low mantissa bits of `t` are `n + 127` (above them, the bits of
        // `1.5 * 2^23` and the exponent, which the shift moves out).
        let tb = self.as_i32x4(t);
        let b = self.b.ins().ishl_imm_u(tb, 23);
        let scale = self.as_f32x4(b);
        let den = self.b.ins().fma(q, scale, one);
        self.b.ins().fdiv(xl, den)
    }

    fn v_log(&mut self, x: ClValue) -> ClValue {
        // Denormals (and zero, fixed below) scaled by 2^23.
        let min = self.vc(f32::MIN_POSITIVE);
        let den = self.vcmp(FloatCC::LessThan, x, min);
        let big = self.vc(8_388_608.0);
        let xs = self.b.ins().fmul(x, big);
        let xs = self.vsel(den, xs, x);
        let (z, d23) = (self.vc(0.0), self.vc(23.0));
        let eb = self.vsel(den, d23, z);
        let bits = self.as_i32x4(xs);
        let off = self.vi(0x3F35_04F3);
        let k = self.b.ins().isub(bits, off);
        let e = self.b.ins().sshr_imm_u(k, 23);
        let es = self.b.ins().ishl_imm_u(e, 23);
        let mb = self.b.ins().isub(bits, es);
        let m = self.as_f32x4(mb);
        let one = self.vc(1.0);
        let f = self.b.ins().fsub(m, one);
        let p = self.horner(f, &LOG_P);
        let f2 = self.b.ins().fmul(f, f);
        let ef = self.b.ins().fcvt_from_sint(types::F32X4, e);
        let ef = self.b.ins().fsub(ef, eb);
        let lo = self.vc(LOG_LO);
        let t = self.b.ins().fmul(ef, lo);
        let t = self.b.ins().fma(f2, p, t);
        let t = self.b.ins().fadd(t, f);
        let hi = self.vc(LOG_HI);
        let y = self.b.ins().fma(ef, hi, t);
        // Edges: +inf, ±0, negative or NaN.
        let inf = self.vc(f32::INFINITY);
        let is_inf = self.vcmp(FloatCC::Equal, x, inf);
        let y = self.vsel(is_inf, inf, y);
        let ninf = self.vc(f32::NEG_INFINITY);
        let is_zero = self.vcmp(FloatCC::Equal, x, z);
        let y = self.vsel(is_zero, ninf, y);
        let nan = self.vc(f32::NAN);
        let bad = self.vcmp(FloatCC::UnorderedOrLessThan, x, z);
        self.vsel(bad, nan, y)
    }

    fn v_tanh(&mut self, x: ClValue) -> ClValue {
        let a = self.b.ins().fabs(x);
        // small: x + x^3 P(x^2)
        let x2 = self.b.ins().fmul(x, x);
        let p = self.horner(x2, &TANH_P);
        let x3 = self.b.ins().fmul(x2, x);
        let small = self.b.ins().fma(x3, p, x);
        // large: (1 - e) / (1 + e), e = exp(-2|x|)
        let m2 = self.vc(-2.0);
        let t = self.b.ins().fmul(a, m2);
        let e = self.v_exp(t);
        let one = self.vc(1.0);
        let num = self.b.ins().fsub(one, e);
        let den = self.b.ins().fadd(one, e);
        let q = self.b.ins().fdiv(num, den);
        let large = self.copysign(q, x);
        let th = self.vc(TANH_SMALL);
        let is_small = self.vcmp(FloatCC::LessThan, a, th);
        let y = self.vsel(is_small, small, large);
        self.keep_nan(x, y)
    }

    /// `s / (1 + e)` with `e = exp(-|v|)` and `s = 1` for `v >= 0` else `e`: sigmoid(v).
    fn v_sigmoid(&mut self, v: ClValue) -> ClValue {
        let a = self.b.ins().fabs(v);
        let na = self.b.ins().fneg(a);
        let e = self.v_exp(na);
        let (one, z) = (self.vc(1.0), self.vc(0.0));
        let den = self.b.ins().fadd(one, e);
        let pos = self.vcmp(FloatCC::GreaterThanOrEqual, v, z);
        let s = self.vsel(pos, one, e);
        let y = self.b.ins().fdiv(s, den);
        self.keep_nan(v, y)
    }

    /// `silu(x) = x s / (1 + e)` as `sigmoid`, with `e = y 2^n2` ([`Self::v_exp_parts`])
    /// and, for `x < 0`, the factor `2^n2` applied last: `((x y) / (1 + e)) 2^n2`, so a
    /// denormal result (`x < -91.8`) is rounded once rather than computed from a denormal
    /// `e` (`x < -87.3`). `exp` is clamped at `-120` here; below, the result is `-0` (the
    /// true value is below `1e-50`), `silu(-inf)` included; NaN stays NaN.
    fn v_silu(&mut self, x: ClValue) -> ClValue {
        let a = self.b.ins().fabs(x);
        let na = self.b.ins().fneg(a);
        let (y, s2) = self.v_exp_parts(na, SILU_LO);
        let e = self.b.ins().fmul(y, s2);
        let (one, z) = (self.vc(1.0), self.vc(0.0));
        let den = self.b.ins().fadd(one, e);
        let pos = self.vcmp(FloatCC::GreaterThanOrEqual, x, z);
        let s = self.vsel(pos, one, y);
        let sc = self.vsel(pos, one, s2);
        let num = self.b.ins().fmul(x, s);
        let q = self.b.ins().fdiv(num, den);
        let r = self.b.ins().fmul(q, sc);
        let lim = self.vc(SILU_LO);
        let far = self.vcmp(FloatCC::LessThan, x, lim);
        let nz = self.vc(-0.0);
        let r = self.vsel(far, nz, r);
        self.keep_nan(x, r)
    }

    /// `gelu(x) = x/2 (2 - erfc(|z|))` for `z = x / sqrt 2 >= 0`, `x/2 erfc(|z|)` below,
    /// with `erfc(a) = exp(-x^2 / 2 + S(a))` for `a <= 6` and 0 beyond: no cancellation
    /// anywhere, one polynomial and one `exp`.
    fn v_gelu(&mut self, x: ClValue) -> ClValue {
        let k = self.vc(std::f32::consts::FRAC_1_SQRT_2);
        let z = self.b.ins().fmul(x, k);
        let a = self.b.ins().fabs(z);
        let six = self.vc(6.0);
        let ac = self.vmin(a, six);
        let (c, d) = (self.vc(1.0 / 3.0), self.vc(-1.0));
        let s = self.b.ins().fma(ac, c, d);
        let q = self.horner(s, &GELU_S);
        let h = self.vc(-0.5);
        let hx = self.b.ins().fmul(x, h);
        let arg = self.b.ins().fma(hx, x, q);
        let e = self.v_exp(arg);
        let zero = self.vc(0.0);
        let beyond = self.vcmp(FloatCC::GreaterThan, a, six);
        let e = self.vsel(beyond, zero, e);
        let two = self.vc(2.0);
        let pos_far = self.b.ins().fsub(two, e);
        let pos = self.vcmp(FloatCC::GreaterThanOrEqual, z, zero);
        let opl = self.vsel(pos, pos_far, e);
        let half = self.vc(0.5);
        let hx = self.b.ins().fmul(x, half);
        let y = self.b.ins().fmul(hx, opl);
        let y = self.neg_inf_to_neg_zero(x, y);
        self.keep_nan(x, y)
    }

    /// `y`, except `-0` where `x` is `-inf`: the limit of the gelus there (`-inf * 0`
    /// would be NaN).
    fn neg_inf_to_neg_zero(&mut self, x: ClValue, y: ClValue) -> ClValue {
        let ninf = self.vc(f32::NEG_INFINITY);
        let at = self.vcmp(FloatCC::Equal, x, ninf);
        let nz = self.vc(-0.0);
        self.vsel(at, nz, y)
    }

    /// `erf(x)`: `x P(x^2)` for `|x| < 1`, else `sign(x) (1 - erfc |x|)`.
    fn v_erf(&mut self, x: ClValue) -> ClValue {
        let a = self.b.ins().fabs(x);
        // erf(a) for a < 1
        let a2 = self.b.ins().fmul(a, a);
        let p = self.horner(a2, &ERF_P);
        let p = self.b.ins().fmul(a, p);
        // erfc(a) = exp(-a^2 + S(a)) for 0.5 <= a <= 6, 0 beyond
        let (one, six, half) = (self.vc(1.0), self.vc(6.0), self.vc(0.5));
        let ac = self.vmax(a, half);
        let ac = self.vmin(ac, six);
        let (c, d) = (self.vc(1.0 / 2.75), self.vc(-3.25 / 2.75));
        let s = self.b.ins().fma(ac, c, d);
        let q = self.horner(s, &ERFC_S);
        let na = self.b.ins().fneg(a);
        let arg = self.b.ins().fma(na, a, q);
        let e = self.v_exp(arg);
        let zero = self.vc(0.0);
        let beyond = self.vcmp(FloatCC::GreaterThan, a, six);
        let e = self.vsel(beyond, zero, e);
        let small = self.vcmp(FloatCC::LessThan, a, one);
        let far = self.b.ins().fsub(one, e);
        let r = self.vsel(small, p, far);
        let y = self.copysign(r, x);
        self.keep_nan(x, y)
    }
}
