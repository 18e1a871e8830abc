//! NumPy `matmul`: leading (batch) dimensions broadcast; a 1-D operand is a row (left) or
//! column (right) vector whose axis is dropped from the result. Floats accumulate each
//! dot product in `f64` (products of `f32` values are exact there) and round once; `i8`
//! and `i32` accumulate in wrapping `i32` and give `i32`.

use super::out::{elems, from_f64, from_i32, same_dtype, Elems};
use super::walk::{broadcast_shapes, broadcast_strides, numel, Walker};
use super::KResult;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

/// `a @ b`.
pub fn matmul(a: &Tensor, b: &Tensor) -> KResult<Tensor> {
    same_dtype(a, b)?;
    let dtype = a.dtype();
    if dtype == DType::Bool {
        return Err("the operands must be numeric, got bool".into());
    }
    if a.rank() == 0 || b.rank() == 0 {
        return Err(format!(
            "the operands must have rank >= 1, got shapes {:?} and {:?}",
            a.shape(),
            b.shape()
        ));
    }
    // Promote vectors to matrices, remembering which axes to drop.
    let mut ash = a.shape().to_vec();
    let mut bsh = b.shape().to_vec();
    let drop_m = ash.len() == 1;
    let drop_n = bsh.len() == 1;
    if drop_m {
        ash.insert(0, 1);
    }
    if drop_n {
        bsh.push(1);
    }
    let (m, k) = (ash[ash.len() - 2], ash[ash.len() - 1]);
    let (k2, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
    if k != k2 {
        return Err(format!(
            "contracted sizes differ: {k} vs {k2} (shapes {:?} and {:?})",
            a.shape(),
            b.shape()
        ));
    }
    let abatch = &ash[..ash.len() - 2];
    let bbatch = &bsh[..bsh.len() - 2];
    let batch = broadcast_shapes(abatch, bbatch).map_err(|e| format!("batch dimensions: {e}"))?;
    let nb = numel(&batch)?;
    let mut out_shape = batch.clone();
    if !drop_m {
        out_shape.push(m);
    }
    if !drop_n {
        out_shape.push(n);
    }
    let total = numel(&out_shape)?;
    // Batch offsets (in elements) of each operand.
    let a_mat = m * k;
    let b_mat = k * n;
    let astr: Vec<usize> = broadcast_strides(abatch, &batch)
        .into_iter()
        .map(|s| s * a_mat)
        .collect();
    let bstr: Vec<usize> = broadcast_strides(bbatch, &batch)
        .into_iter()
        .map(|s| s * b_mat)
        .collect();
    let mut w = Walker::new(&batch, vec![astr, bstr]);
    let check = |v: usize, len: usize| {
        if v > len {
            Err("internal error: matmul read out of bounds".to_string())
        } else {
            Ok(())
        }
    };
    match (elems(a), elems(b)) {
        (Elems::Float(x), Elems::Float(y)) => {
            let mut out = Vec::with_capacity(total);
            let mut acc = vec![0f64; n];
            for _ in 0..nb {
                let (ao, bo) = (w.off[0], w.off[1]);
                check(ao + a_mat, x.len())?;
                check(bo + b_mat, y.len())?;
                for i in 0..m {
                    acc.iter_mut().for_each(|v| *v = 0.0);
                    let arow = &x[ao + i * k..ao + (i + 1) * k];
                    for (kk, &av) in arow.iter().enumerate() {
                        let av = av as f64;
                        let brow = &y[bo + kk * n..bo + (kk + 1) * n];
                        for (s, &bv) in acc.iter_mut().zip(brow) {
                            *s += av * bv as f64;
                        }
                    }
                    out.extend(acc.iter().copied());
                }
                w.step();
            }
            from_f64(dtype, out_shape, out)
        }
        (Elems::Int(x), Elems::Int(y)) => {
            let mut out = Vec::with_capacity(total);
            let mut acc = vec![0i32; n];
            for _ in 0..nb {
                let (ao, bo) = (w.off[0], w.off[1]);
                check(ao + a_mat, x.len())?;
                check(bo + b_mat, y.len())?;
                for i in 0..m {
                    acc.iter_mut().for_each(|v| *v = 0);
                    let arow = &x[ao + i * k..ao + (i + 1) * k];
                    for (kk, &av) in arow.iter().enumerate() {
                        let brow = &y[bo + kk * n..bo + (kk + 1) * n];
                        for (s, &bv) in acc.iter_mut().zip(brow) {
                            *s = s.wrapping_add(av.wrapping_mul(bv));
                        }
                    }
                    out.extend(acc.iter().copied());
                }
                w.step();
            }
            from_i32(DType::I32, out_shape, out)
        }
        _ => Err("internal error: storage does not match the dtype".into()),
    }
}
