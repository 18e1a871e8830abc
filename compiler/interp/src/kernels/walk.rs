//! Shape arithmetic: element counts with a size limit, C-order strides, NumPy broadcasting,
//! and [`Walker`], which visits an index space in C order while tracking one strided
//! offset per operand.

use super::KResult;

/// The most elements a tensor may hold; larger results are refused with an error.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// The number of elements of `shape`, refusing more than [`MAX_ELEMENTS`].
pub fn numel(shape: &[usize]) -> KResult<usize> {
    let mut n: usize = 1;
    for &d in shape {
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| too_big(shape))?;
    }
    if n > MAX_ELEMENTS {
        return Err(too_big(shape));
    }
    Ok(n)
}

fn too_big(shape: &[usize]) -> String {
    format!("a tensor of shape {shape:?} would exceed the limit of {MAX_ELEMENTS} elements")
}

/// Converts an evaluated size to `usize`, refusing negative values.
pub fn size(v: i64, what: &str) -> KResult<usize> {
    usize::try_from(v).map_err(|_| format!("{what} is {v}, a size cannot be negative"))
}

/// C-order strides in elements.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    let mut acc = 1usize;
    for i in (0..shape.len()).rev() {
        s[i] = acc;
        acc = acc.saturating_mul(shape[i]);
    }
    s
}

/// The product of `shape[lo..hi]` (sizes are known to fit, the tensor exists).
pub fn prod(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> KResult<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = Vec::with_capacity(rank);
    for i in 0..rank {
        let da = (i + a.len()).checked_sub(rank).map(|j| a[j]);
        let db = (i + b.len()).checked_sub(rank).map(|j| b[j]);
        let d = match (da, db) {
            (Some(x), Some(y)) if x == y => x,
            (Some(1), Some(y)) => y,
            (Some(x), Some(1)) => x,
            (Some(x), Some(y)) => {
                return Err(format!(
                    "cannot broadcast shapes {a:?} and {b:?}: sizes {x} and {y} differ"
                ))
            }
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => 1,
        };
        out.push(d);
    }
    numel(&out)?;
    Ok(out)
}

/// Strides that read a tensor of `shape` broadcast to `out` (0 along broadcast axes).
/// `shape` must broadcast to `out` (checked by the caller with [`broadcast_shapes`] or
/// [`check_broadcast_to`]).
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = strides(shape);
    let lead = out.len().saturating_sub(shape.len());
    (0..out.len())
        .map(|i| match i.checked_sub(lead) {
            Some(j) if shape[j] == out[i] && shape[j] != 1 => own[j],
            _ => 0,
        })
        .collect()
}

/// Whether `shape` broadcasts to exactly `out` (NumPy `broadcast_to`).
pub fn check_broadcast_to(shape: &[usize], out: &[usize]) -> KResult<()> {
    if shape.len() > out.len() {
        return Err(format!(
            "cannot broadcast shape {shape:?} to {out:?}: the target has fewer axes"
        ));
    }
    let lead = out.len() - shape.len();
    for (j, &d) in shape.iter().enumerate() {
        if d != 1 && d != out[lead + j] {
            return Err(format!(
                "cannot broadcast shape {shape:?} to {out:?}: size {d} does not match {}",
                out[lead + j]
            ));
        }
    }
    Ok(())
}

/// Normalises an axis (negative counts from the end) for a tensor of rank `rank`.
pub fn axis(a: i64, rank: usize) -> KResult<usize> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) {
        Ok(v as usize)
    } else if rank == 0 {
        Err(format!("axis {a} is out of range: the operand is a scalar"))
    } else {
        Err(format!("axis {a} is out of range for rank {rank}"))
    }
}

/// Visits every index of `dims` in C order, keeping one offset per operand:
/// `off[k] = base[k] + sum(idx[d] * strides[k][d])`.
pub struct Walker {
    dims: Vec<usize>,
    idx: Vec<usize>,
    strides: Vec<Vec<usize>>,
    base: Vec<usize>,
    /// The current offset of each operand.
    pub off: Vec<usize>,
}

impl Walker {
    /// `strides[k]` has one stride per dimension of `dims`.
    pub fn new(dims: &[usize], strides: Vec<Vec<usize>>) -> Walker {
        let n = strides.len();
        Walker {
            dims: dims.to_vec(),
            idx: vec![0; dims.len()],
            strides,
            base: vec![0; n],
            off: vec![0; n],
        }
    }

    /// Starts over at index zero with the given base offsets.
    pub fn reset(&mut self, base: &[usize]) {
        self.idx.iter_mut().for_each(|i| *i = 0);
        self.base.copy_from_slice(base);
        self.off.copy_from_slice(base);
    }

    /// Moves to the next index in C order (wrapping to zero after the last).
    #[inline]
    pub fn step(&mut self) {
        for d in (0..self.dims.len()).rev() {
            self.idx[d] += 1;
            if self.idx[d] < self.dims[d] {
                for (o, s) in self.off.iter_mut().zip(&self.strides) {
                    *o += s[d];
                }
                return;
            }
            for (o, s) in self.off.iter_mut().zip(&self.strides) {
                *o -= s[d] * (self.dims[d] - 1);
            }
            self.idx[d] = 0;
        }
    }
}

/// The offsets of a strided view, in C order of `dims` (`base + sum(idx * strides)`).
pub fn gather<T: Copy>(
    src: &[T],
    dims: &[usize],
    strides: &[usize],
    base: usize,
) -> KResult<Vec<T>> {
    let n = numel(dims)?;
    let mut out = Vec::with_capacity(n);
    let mut w = Walker::new(dims, vec![strides.to_vec()]);
    w.reset(&[base]);
    for _ in 0..n {
        let v = src
            .get(w.off[0])
            .copied()
            .ok_or_else(|| "internal error: strided read out of bounds".to_string())?;
        out.push(v);
        w.step();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walker_visits_in_c_order() {
        let mut w = Walker::new(&[2, 3], vec![vec![1, 2]]);
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(w.off[0]);
            w.step();
        }
        assert_eq!(seen, vec![0, 2, 4, 1, 3, 5]);
        assert_eq!(w.off[0], 0);
    }

    #[test]
    fn broadcasting_rules() {
        assert_eq!(
            broadcast_shapes(&[2, 1, 4], &[3, 1]).unwrap(),
            vec![2, 3, 4]
        );
        assert!(broadcast_shapes(&[2], &[3]).is_err());
        assert_eq!(broadcast_strides(&[3, 1], &[2, 3, 4]), vec![0, 1, 0]);
        assert!(numel(&[1 << 20, 1 << 20]).is_err());
        assert!(numel(&[usize::MAX, 2]).is_err());
        assert_eq!(numel(&[]).unwrap(), 1);
    }
}
