//! Data movement: `reshape`, `transpose`, `broadcast_to`, `concat` and `slice`. Sizes are
//! already evaluated (symbolic sizes resolved by the caller). Values are copied exactly.

use super::out::tensor;
use super::walk::{axis, broadcast_strides, check_broadcast_to, gather, numel, size, strides};
use super::KResult;
use tessera_tensor::{Data, Tensor};

/// Copies the strided view `base + sum(idx * strides)` of `x` with shape `dims`.
fn view(x: &Tensor, dims: Vec<usize>, st: &[usize], base: usize) -> KResult<Tensor> {
    let data = match x.data() {
        Data::Float(v) => Data::Float(gather(v, &dims, st, base)?),
        Data::Int(v) => Data::Int(gather(v, &dims, st, base)?),
    };
    tensor(x.dtype(), dims, data)
}

/// Same elements in C order, new shape; one `-1` is inferred.
pub fn reshape(x: &Tensor, shape: &[i64]) -> KResult<Tensor> {
    let mut dims = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &d) in shape.iter().enumerate() {
        if d == -1 {
            if infer.is_some() {
                return Err(format!("reshape to {shape:?}: only one -1 is allowed"));
            }
            infer = Some(i);
            dims.push(1);
        } else {
            dims.push(size(d, &format!("reshape size {i}"))?);
        }
    }
    let known = numel(&dims)?;
    if let Some(i) = infer {
        if known == 0 || !x.len().is_multiple_of(known) {
            return Err(format!(
                "cannot reshape shape {:?} ({} elements) to {shape:?}",
                x.shape(),
                x.len()
            ));
        }
        dims[i] = x.len() / known;
    }
    if numel(&dims)? != x.len() {
        return Err(format!(
            "cannot reshape shape {:?} ({} elements) to {dims:?} ({} elements)",
            x.shape(),
            x.len(),
            numel(&dims)?
        ));
    }
    tensor(x.dtype(), dims, x.data().clone())
}

/// Result axis `i` is input axis `perm[i]`.
pub fn transpose(x: &Tensor, perm: &[i64]) -> KResult<Tensor> {
    let rank = x.rank();
    if perm.len() != rank {
        return Err(format!(
            "the permutation {perm:?} has {} entries but the operand has rank {rank}",
            perm.len()
        ));
    }
    let mut seen = vec![false; rank];
    let mut p = Vec::with_capacity(rank);
    for &a in perm {
        let v = axis(a, rank)?;
        if seen[v] {
            return Err(format!("{perm:?} is not a permutation: axis {a} repeats"));
        }
        seen[v] = true;
        p.push(v);
    }
    let own = strides(x.shape());
    let dims: Vec<usize> = p.iter().map(|&a| x.shape()[a]).collect();
    let st: Vec<usize> = p.iter().map(|&a| own[a]).collect();
    view(x, dims, &st, 0)
}

/// NumPy `broadcast_to`.
pub fn broadcast_to(x: &Tensor, shape: &[i64]) -> KResult<Tensor> {
    let dims = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| size(d, &format!("target size {i}")))
        .collect::<KResult<Vec<_>>>()?;
    check_broadcast_to(x.shape(), &dims)?;
    let st = broadcast_strides(x.shape(), &dims);
    view(x, dims, &st, 0)
}

/// Joins tensors of one dtype and rank along `axis`; other sizes must agree.
pub fn concat(xs: &[&Tensor], ax: i64) -> KResult<Tensor> {
    let first = xs.first().ok_or("concat needs at least one operand")?;
    let a = axis(ax, first.rank())?;
    let mut total = 0usize;
    for (k, t) in xs.iter().enumerate() {
        if t.dtype() != first.dtype() {
            return Err(format!(
                "operand dtypes differ: {} vs {} (operand {k})",
                first.dtype(),
                t.dtype()
            ));
        }
        let ok = t.rank() == first.rank()
            && t.shape()
                .iter()
                .zip(first.shape())
                .enumerate()
                .all(|(i, (x, y))| i == a || x == y);
        if !ok {
            return Err(format!(
                "operand {k} has shape {:?}, which does not match {:?} outside axis {a}",
                t.shape(),
                first.shape()
            ));
        }
        total = total
            .checked_add(t.shape()[a])
            .ok_or("concatenated size overflows")?;
    }
    let mut dims = first.shape().to_vec();
    dims[a] = total;
    let n = numel(&dims)?;
    let outer: usize = dims[..a].iter().product();
    let inner: usize = dims[a + 1..].iter().product();
    fn join<T: Copy>(parts: &[(&[T], usize)], outer: usize, inner: usize, n: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(n);
        for o in 0..outer {
            for (v, d) in parts {
                let chunk = d * inner;
                out.extend_from_slice(&v[o * chunk..(o + 1) * chunk]);
            }
        }
        out
    }
    let data = match first.data() {
        Data::Float(_) => {
            let parts = xs
                .iter()
                .map(|t| t.floats().map(|v| (v, t.shape()[a])))
                .collect::<Option<Vec<_>>>()
                .ok_or("internal error: storage does not match the dtype")?;
            Data::Float(join(&parts, outer, inner, n))
        }
        Data::Int(_) => {
            let parts = xs
                .iter()
                .map(|t| t.ints().map(|v| (v, t.shape()[a])))
                .collect::<Option<Vec<_>>>()
                .ok_or("internal error: storage does not match the dtype")?;
            Data::Int(join(&parts, outer, inner, n))
        }
    };
    tensor(first.dtype(), dims, data)
}

/// Why `start..end` is not a slice of axis `axis` of size `d` (DSL.md: inside the axis,
/// not empty), or `None`. Bounds in graph IR are never wrapped: the frontend writes a
/// negative index of the source as `d + c`, so a negative bound is out of range. (The
/// compiled code checks with the runtime's own copy of this rule; this one is the
/// oracle's.)
pub fn slice_bounds(d: i64, s: i64, e: i64, axis: usize) -> Option<String> {
    if s < 0 || e > d || s > e {
        Some(format!(
            "slice {s}:{e} is out of range for axis {axis} of size {d}"
        ))
    } else if s == e {
        Some(format!(
            "slice {s}:{e} of axis {axis} (size {d}) is empty; slices must not be empty"
        ))
    } else {
        None
    }
}

/// The block `start[i]..end[i]` of every axis (same rank); the bounds must lie inside the
/// axis, not wrapped ([`slice_bounds`]), and not be empty.
pub fn slice(x: &Tensor, start: &[i64], end: &[i64]) -> KResult<Tensor> {
    let rank = x.rank();
    if start.len() != rank || end.len() != rank {
        return Err(format!(
            "slice bounds {start:?}..{end:?} do not have one entry per axis (rank {rank})"
        ));
    }
    let own = strides(x.shape());
    let mut dims = Vec::with_capacity(rank);
    let mut base = 0usize;
    for i in 0..rank {
        let d = x.shape()[i] as i64;
        if let Some(m) = slice_bounds(d, start[i], end[i], i) {
            return Err(m);
        }
        let (s, e) = (start[i], end[i]);
        dims.push((e - s) as usize);
        base += s as usize * own[i];
    }
    view(x, dims, &own, base)
}
