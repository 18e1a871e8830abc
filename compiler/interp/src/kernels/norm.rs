//! Normalisations along one axis: `softmax`, `log_softmax` (max-subtraction), `layernorm`
//! (biased variance, `eps` inside the square root) and `rmsnorm`. Each lane is computed
//! in `f64` (statistics by two passes) and every result is rounded once to `f32`, then to
//! the dtype. Float operands only; `gamma`/`beta` are 1-D of the axis's size.

use super::out::{floats, from_f64};
use super::walk::axis;
use super::KResult;
use tessera_tensor::Tensor;

/// `(outer, n, inner)`: the sizes before, along and after the axis.
fn lanes(x: &Tensor, ax: i64) -> KResult<(usize, usize, usize)> {
    let a = axis(ax, x.rank())?;
    let s = x.shape();
    Ok((s[..a].iter().product(), s[a], s[a + 1..].iter().product()))
}

/// Calls `f(lane_in, lane_out)` for every lane along the axis, with `f64` scratch lanes.
fn per_lane(
    x: &[f32],
    (outer, n, inner): (usize, usize, usize),
    mut f: impl FnMut(&[f64], &mut [f64]),
) -> Vec<f64> {
    let mut out = vec![0f64; x.len()];
    let mut lin = vec![0f64; n];
    let mut lout = vec![0f64; n];
    for o in 0..outer {
        for i in 0..inner {
            let base = o * n * inner + i;
            for (k, l) in lin.iter_mut().enumerate() {
                *l = x[base + k * inner] as f64;
            }
            f(&lin, &mut lout);
            for (k, l) in lout.iter().enumerate() {
                out[base + k * inner] = *l;
            }
        }
    }
    out
}

fn lane_max(l: &[f64]) -> f64 {
    let mut m = f64::NEG_INFINITY;
    for &v in l {
        if v.is_nan() {
            return f64::NAN;
        }
        m = m.max(v);
    }
    m
}

/// `exp(x - max) / sum(exp(x - max))` along `axis`.
pub fn softmax(x: &Tensor, ax: i64) -> KResult<Tensor> {
    let v = floats(x, "the operand")?;
    let r = per_lane(v, lanes(x, ax)?, |l, o| {
        let m = lane_max(l);
        let mut s = 0f64;
        for (e, &v) in o.iter_mut().zip(l) {
            *e = (v - m).exp();
            s += *e;
        }
        o.iter_mut().for_each(|e| *e /= s);
    });
    from_f64(x.dtype(), x.shape().to_vec(), r)
}

/// `x - max - log(sum(exp(x - max)))` along `axis`. The sum is `c + t`: `c` maxima (each
/// an exact 1) and the sum `t` of the other terms, and `log(c + t) = log1p((c - 1) + t)`,
/// so a dominant entry gives `-t` (not the 0 of `log(1 + t)` with `t` below `f64`'s eps).
pub fn log_softmax(x: &Tensor, ax: i64) -> KResult<Tensor> {
    let v = floats(x, "the operand")?;
    let r = per_lane(v, lanes(x, ax)?, |l, o| {
        let m = lane_max(l);
        let (mut c, mut t) = (0f64, 0f64);
        for &v in l {
            let d = v - m;
            if d == 0.0 {
                c += 1.0;
            } else {
                t += d.exp();
            }
        }
        let ls = ((c - 1.0) + t).ln_1p();
        for (e, &v) in o.iter_mut().zip(l) {
            *e = (v - m) - ls;
        }
    });
    from_f64(x.dtype(), x.shape().to_vec(), r)
}

/// Checks a 1-D `gamma`/`beta` of size `n` and widens it to `f64`.
fn param(t: &Tensor, what: &str, n: usize) -> KResult<Vec<f64>> {
    let v = floats(t, what)?;
    if t.shape() != [n] {
        return Err(format!(
            "{what} must have shape [{n}] (the normalised axis), got {:?}",
            t.shape()
        ));
    }
    Ok(v.iter().map(|&g| g as f64).collect())
}

/// `(x - mean) / sqrt(var + eps) * gamma + beta` along `axis` (biased variance).
pub fn layernorm(x: &Tensor, gamma: &Tensor, beta: &Tensor, ax: i64, eps: f64) -> KResult<Tensor> {
    let v = floats(x, "the operand")?;
    let l3 = lanes(x, ax)?;
    let g = param(gamma, "gamma", l3.1)?;
    let b = param(beta, "beta", l3.1)?;
    let r = per_lane(v, l3, |l, o| {
        let n = l.len() as f64;
        let mean = l.iter().sum::<f64>() / n;
        let var = l.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let inv = 1.0 / (var + eps).sqrt();
        for (k, (e, &v)) in o.iter_mut().zip(l).enumerate() {
            *e = (v - mean) * inv * g[k] + b[k];
        }
    });
    from_f64(x.dtype(), x.shape().to_vec(), r)
}

/// `x / sqrt(mean(x^2) + eps) * gamma` along `axis`.
pub fn rmsnorm(x: &Tensor, gamma: &Tensor, ax: i64, eps: f64) -> KResult<Tensor> {
    let v = floats(x, "the operand")?;
    let l3 = lanes(x, ax)?;
    let g = param(gamma, "gamma", l3.1)?;
    let r = per_lane(v, l3, |l, o| {
        let ms = l.iter().map(|&v| v * v).sum::<f64>() / l.len() as f64;
        let inv = 1.0 / (ms + eps).sqrt();
        for (k, (e, &v)) in o.iter_mut().zip(l).enumerate() {
            *e = v * inv * g[k];
        }
    });
    from_f64(x.dtype(), x.shape().to_vec(), r)
}
