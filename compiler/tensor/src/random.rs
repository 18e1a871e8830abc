//! Deterministic pseudo-random tensors: the same numbers for a seed on every platform and run.
//!
//! The generator is ChaCha8 (`rand_chacha::ChaCha8Rng`) seeded with `from_seed` on a 32-byte
//! seed whose first 8 bytes are the little-endian `u64` seed and the rest zero. Floats use
//! 53-bit uniforms in f64; the normal distribution uses the Box-Muller transform with the
//! portable `libm` logarithm and trigonometric functions, so no platform `libm` is involved.

use crate::convert;
use crate::tensor::{element_count, Data, Tensor, TensorError};
use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_dialects::DType;

fn rng(seed: u64) -> ChaCha8Rng {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    ChaCha8Rng::from_seed(s)
}

/// A uniform f64 in [0, 1) with 53 random bits.
fn unit(r: &mut ChaCha8Rng) -> f64 {
    (r.next_u64() >> 11) as f64 * (1.0 / 9007199254740992.0)
}

/// A uniform integer in [0, n) for n >= 1, without modulo bias (rejection sampling).
fn below(r: &mut ChaCha8Rng, n: u64) -> u64 {
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = r.next_u64();
        if v < zone {
            return v % n;
        }
    }
}

fn count(shape: &[usize]) -> Result<usize, TensorError> {
    element_count(shape).ok_or(TensorError::TooLarge {
        shape: shape.to_vec(),
    })
}

fn int_range(dtype: DType) -> (i64, i64) {
    match dtype {
        DType::I8 => (-128, 127),
        _ => (i64::from(i32::MIN), i64::from(i32::MAX)),
    }
}

/// Uniform values in `[lo, hi)` for float dtypes (then rounded to the dtype, so `hi` itself
/// can appear); integers uniform in `[ceil(lo), floor(hi)]` clipped to the dtype's range
/// (a single value when that is empty); `bool` is 50/50 and ignores `lo`/`hi`.
pub fn uniform(
    dtype: DType,
    shape: &[usize],
    lo: f32,
    hi: f32,
    seed: u64,
) -> Result<Tensor, TensorError> {
    let n = count(shape)?;
    let mut r = rng(seed);
    let data = match dtype {
        DType::Bool => Data::Int((0..n).map(|_| (r.next_u32() >> 31) as i32).collect()),
        DType::I8 | DType::I32 => {
            let (min, max) = int_range(dtype);
            let to_int = |x: f64, up: bool| -> i64 {
                if x.is_nan() {
                    0
                } else {
                    let v = if up { x.ceil() } else { x.floor() };
                    v.clamp(min as f64, max as f64) as i64
                }
            };
            let a = to_int(f64::from(lo), true);
            let b = to_int(f64::from(hi), false).max(a);
            let span = (b - a) as u64 + 1;
            Data::Int(
                (0..n)
                    .map(|_| (a + below(&mut r, span) as i64) as i32)
                    .collect(),
            )
        }
        _ => {
            let (lo, hi) = (f64::from(lo), f64::from(hi));
            Data::Float(
                (0..n)
                    .map(|_| convert::round_to(dtype, (lo + (hi - lo) * unit(&mut r)) as f32))
                    .collect(),
            )
        }
    };
    Tensor::new(dtype, shape.to_vec(), data)
}

/// Normal values with the given mean and standard deviation, converted to `dtype` with `as`
/// semantics (integers round half to even and saturate); `bool` is 50/50.
pub fn normal(
    dtype: DType,
    shape: &[usize],
    mean: f32,
    std: f32,
    seed: u64,
) -> Result<Tensor, TensorError> {
    let n = count(shape)?;
    let mut r = rng(seed);
    if dtype == DType::Bool {
        let v = (0..n).map(|_| (r.next_u32() >> 31) as i32).collect();
        return Tensor::new(dtype, shape.to_vec(), Data::Int(v));
    }
    let (mean, std) = (f64::from(mean), f64::from(std));
    let mut vals = Vec::with_capacity(n);
    while vals.len() < n {
        // u1 in (0, 1] so the logarithm is finite.
        let u1 = 1.0 - unit(&mut r);
        let u2 = unit(&mut r);
        let rad = (-2.0 * libm::log(u1)).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        vals.push((mean + std * rad * libm::cos(theta)) as f32);
        if vals.len() < n {
            vals.push((mean + std * rad * libm::sin(theta)) as f32);
        }
    }
    Tensor::from_f32(dtype, shape.to_vec(), vals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let a = uniform(DType::F32, &[4, 5], -1.0, 2.0, 42).unwrap();
        let b = uniform(DType::F32, &[4, 5], -1.0, 2.0, 42).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, uniform(DType::F32, &[4, 5], -1.0, 2.0, 43).unwrap());
        assert!(a.to_f32_vec().iter().all(|&x| (-1.0..2.0).contains(&x)));
        let i = uniform(DType::I8, &[1000], -3.0, 3.0, 1).unwrap();
        let v = i.ints().unwrap();
        assert!(v.iter().all(|&x| (-3..=3).contains(&x)));
        for k in -3..=3 {
            assert!(v.contains(&k), "{k} appears");
        }
        let full = uniform(DType::I32, &[100], -1e30, 1e30, 1).unwrap();
        assert!(full.ints().unwrap().iter().any(|&x| x.abs() > 1 << 20));
        let b = uniform(DType::Bool, &[1000], 0.0, 1.0, 9).unwrap();
        let ones: i32 = b.ints().unwrap().iter().sum();
        assert!((400..600).contains(&ones), "{ones}");
        let e = uniform(DType::F8E4M3, &[100], -1000.0, 1000.0, 3).unwrap();
        let again = Tensor::from_f32(DType::F8E4M3, vec![100], e.to_f32_vec()).unwrap();
        assert_eq!(e, again);
        assert!(uniform(DType::F32, &[usize::MAX, 2], 0.0, 1.0, 0).is_err());
    }

    #[test]
    fn golden_values_are_stable() {
        // These exact values pin the generator: a change here changes every benchmark input.
        let a = uniform(DType::F32, &[3], 0.0, 1.0, 0).unwrap();
        let n = normal(DType::F32, &[3], 0.0, 1.0, 0).unwrap();
        let bits: Vec<u32> = a
            .to_f32_vec()
            .iter()
            .chain(&n.to_f32_vec())
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(
            bits,
            GOLDEN.to_vec(),
            "{:?}",
            (a.to_f32_vec(), n.to_f32_vec())
        );
    }

    const GOLDEN: [u32; 6] = [
        1062617184, 1059169545, 1047395947, 3215279837, 3216191599, 1057596750,
    ];

    #[test]
    fn normal_moments() {
        let t = normal(DType::F32, &[20001], 1.0, 2.0, 7).unwrap();
        let v = t.to_f64_vec();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.05, "{var}");
        let i = normal(DType::I8, &[100], 0.0, 1000.0, 7).unwrap();
        assert!(i.ints().unwrap().iter().any(|&x| x == 127 || x == -128));
        assert_eq!(
            normal(DType::BF16, &[5], 0.0, 1.0, 5).unwrap(),
            normal(DType::BF16, &[5], 0.0, 1.0, 5).unwrap()
        );
    }
}
