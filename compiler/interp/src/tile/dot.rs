//! `tile.dot`: `acc + lhs @ rhs` on 2-D tiles. Floats: each result element is
//! `acc + sum_k lhs[m, k] * rhs[k, n]` computed in `f64` and rounded once to the
//! accumulator's dtype. Integers: wrapping `i32`, wrapped to the accumulator's dtype.

use crate::kernels::out::{elems, from_f64, from_i32, Elems};
use tessera_dialects::DType;
use tessera_tensor::Tensor;

/// `acc + lhs @ rhs`.
pub(crate) fn dot(lhs: &Tensor, rhs: &Tensor, acc: &Tensor) -> Result<Tensor, String> {
    let (m, k, k2, n) = match (lhs.shape(), rhs.shape(), acc.shape()) {
        ([m, k], [k2, n], [m2, n2]) if m == m2 && n == n2 => (*m, *k, *k2, *n),
        (a, b, c) => {
            return Err(format!(
                "shapes do not fit (MxK, KxN, MxN): {a:?}, {b:?}, {c:?}"
            ))
        }
    };
    if k != k2 {
        return Err(format!("contracted sizes differ: {k} vs {k2}"));
    }
    if lhs.dtype() != rhs.dtype() {
        return Err(format!(
            "lhs and rhs dtypes differ: {} vs {}",
            lhs.dtype(),
            rhs.dtype()
        ));
    }
    if lhs.dtype() == DType::Bool || acc.dtype() == DType::Bool {
        return Err("the operands must be numeric, got bool".into());
    }
    match (elems(lhs), elems(rhs), elems(acc)) {
        (Elems::Float(a), Elems::Float(b), Elems::Float(c)) => {
            let mut out = Vec::with_capacity(m * n);
            let mut row = vec![0f64; n];
            for i in 0..m {
                for (s, &cv) in row.iter_mut().zip(&c[i * n..(i + 1) * n]) {
                    *s = cv as f64;
                }
                for (kk, &av) in a[i * k..(i + 1) * k].iter().enumerate() {
                    let av = av as f64;
                    for (s, &bv) in row.iter_mut().zip(&b[kk * n..(kk + 1) * n]) {
                        *s += av * bv as f64;
                    }
                }
                out.extend_from_slice(&row);
            }
            from_f64(acc.dtype(), vec![m, n], out)
        }
        (Elems::Int(a), Elems::Int(b), Elems::Int(c)) => {
            let mut out = Vec::with_capacity(m * n);
            for i in 0..m {
                let mut row = c[i * n..(i + 1) * n].to_vec();
                for (kk, &av) in a[i * k..(i + 1) * k].iter().enumerate() {
                    for (s, &bv) in row.iter_mut().zip(&b[kk * n..(kk + 1) * n]) {
                        *s = s.wrapping_add(av.wrapping_mul(bv));
                    }
                }
                out.extend_from_slice(&row);
            }
            from_i32(acc.dtype(), vec![m, n], out)
        }
        _ => Err(format!(
            "cannot accumulate {} products into a {} accumulator (both float or both integer)",
            lhs.dtype(),
            acc.dtype()
        )),
    }
}
