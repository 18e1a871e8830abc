//! `tile.dot`: `acc + lhs @ rhs` on 2-D tiles (the rhs possibly in column panels,
//! `P x K x W`, read as the `K x (P * W)` tile it holds; the lhs possibly in broadcast
//! row panels, `Q x K x R x L`, result column `n` reading lane `n % L` of them). Floats: each result element is
//! `acc + sum_k lhs[m, k] * rhs[k, n]` computed in `f64` and rounded once to the
//! accumulator's dtype. Integers: wrapping `i32`, wrapped to the accumulator's dtype.

use crate::kernels::out::{elems, from_f64, from_i32, Elems};
use tessera_dialects::DType;
use tessera_tensor::{Data, Tensor};

/// `acc + lhs @ rhs`.
pub(crate) fn dot(lhs: &Tensor, rhs: &Tensor, acc: &Tensor) -> Result<Tensor, String> {
    if let [q, k, r, lanes] = *lhs.shape() {
        // Broadcast row panels (`Q x K x R x L`, Q * R = M): result column `n` reads lane
        // `n % L`, so the dot is the one of the M x K tile of each lane, column by column.
        let m = q * r;
        let n = acc.shape().get(1).copied().unwrap_or(0);
        if acc.shape().first() != Some(&m) || lanes == 0 {
            return Err(format!(
                "lhs panels {:?} do not make the accumulator's {:?} rows",
                lhs.shape(),
                acc.shape()
            ));
        }
        let mut out: Option<Tensor> = None;
        for lane in 0..lanes.min(n.max(1)) {
            let idx: Vec<usize> = (0..m * k)
                .map(|e| {
                    let (row, kk) = (e / k, e % k);
                    (((row / r) * k + kk) * r + row % r) * lanes + lane
                })
                .collect();
            let data = match lhs.data() {
                Data::Float(v) => Data::Float(idx.iter().map(|&i| v[i]).collect()),
                Data::Int(v) => Data::Int(idx.iter().map(|&i| v[i]).collect()),
            };
            let plain = Tensor::new(lhs.dtype(), vec![m, k], data).map_err(|e| e.to_string())?;
            let full = dot(&plain, rhs, acc)?;
            out = Some(match out {
                None => full,
                Some(prev) => pick_lane(&prev, &full, lanes, lane)?,
            });
        }
        return out.ok_or_else(|| "empty lhs panels".to_string());
    }
    if let [p, k, w] = *rhs.shape() {
        // Column panels (`P x K x W`, P * W = N): the K x N tile they hold.
        let n = p * w;
        if acc.shape().get(1) != Some(&n) {
            return Err(format!(
                "rhs panels {:?} do not make the accumulator's {:?} columns",
                rhs.shape(),
                acc.shape()
            ));
        }
        let mut idx = Vec::with_capacity(k * n);
        for kk in 0..k {
            for col in 0..n {
                idx.push((col / w) * k * w + kk * w + col % w);
            }
        }
        let data = match rhs.data() {
            Data::Float(v) => Data::Float(idx.iter().map(|&i| v[i]).collect()),
            Data::Int(v) => Data::Int(idx.iter().map(|&i| v[i]).collect()),
        };
        let plain = Tensor::new(rhs.dtype(), vec![k, n], data).map_err(|e| e.to_string())?;
        return dot(lhs, &plain, acc);
    }
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

/// `prev` with the columns `n` of `n % lanes == lane` taken from `full` (same shapes).
fn pick_lane(prev: &Tensor, full: &Tensor, lanes: usize, lane: usize) -> Result<Tensor, String> {
    let n = prev.shape().get(1).copied().unwrap_or(1).max(1);
    let take = |i: usize| (i % n) % lanes == lane;
    let data = match (prev.data(), full.data()) {
        (Data::Float(p), Data::Float(f)) => Data::Float(
            p.iter()
                .zip(f)
                .enumerate()
                .map(|(i, (&a, &b))| if take(i) { b } else { a })
                .collect(),
        ),
        (Data::Int(p), Data::Int(f)) => Data::Int(
            p.iter()
                .zip(f)
                .enumerate()
                .map(|(i, (&a, &b))| if take(i) { b } else { a })
                .collect(),
        ),
        _ => return Err("internal error: dot results of different kinds".into()),
    };
    Tensor::new(prev.dtype(), prev.shape().to_vec(), data).map_err(|e| e.to_string())
}
