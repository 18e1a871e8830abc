//! Shared test helpers: tensor constructors, readers, tolerance checks and a seeded
//! generator (no randomness from outside the test).
#![allow(dead_code)]

use tessera_dialects::DType;
use tessera_tensor::{Data, Tensor};

pub fn f32t(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::new(DType::F32, shape.to_vec(), Data::Float(v.to_vec())).unwrap()
}

pub fn ft(dtype: DType, shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::new(dtype, shape.to_vec(), Data::Float(v.to_vec())).unwrap()
}

pub fn it(dtype: DType, shape: &[usize], v: &[i32]) -> Tensor {
    Tensor::new(dtype, shape.to_vec(), Data::Int(v.to_vec())).unwrap()
}

pub fn scalar(v: f32) -> Tensor {
    f32t(&[], &[v])
}

pub fn fl(t: &Tensor) -> Vec<f32> {
    t.floats().expect("a float tensor").to_vec()
}

pub fn ints(t: &Tensor) -> Vec<i32> {
    t.ints().expect("an integer tensor").to_vec()
}

/// Asserts elementwise closeness with an absolute-plus-relative tolerance.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= tol * (1.0 + w.abs());
        assert!(
            ok,
            "element {i}: got {g}, want {w} (tol {tol})\n got {got:?}\nwant {want:?}"
        );
    }
}

/// A small deterministic generator (64-bit LCG).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    /// Uniform in [-1, 1).
    pub fn f(&mut self) -> f32 {
        (self.next_u32() as f64 / (1u64 << 31) as f64 - 1.0) as f32
    }

    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }

    pub fn tensor(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        f32t(shape, &self.vec(n))
    }

    /// Integers in [lo, hi].
    pub fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next_u32() % ((hi - lo + 1) as u32)) as i32
    }
}
