//! `tile.load` and `tile.store`: moving a tile between a buffer and a host value, masking
//! the elements that fall outside the buffer. The common case (tile coordinates, unit
//! steps, no permutation) copies whole rows; `unit = "elements"`, `strides` and `perm`
//! take the general path, which maps every tile element to its buffer coordinate.

use super::value::HostBuf;
use crate::kernels::walk::strides;
use tessera_dialects::Attrs;
use tessera_tensor::{Data, Tensor};

/// How a load or store addresses its buffer (see `docs/ir.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Access {
    /// Indices are element offsets rather than tile coordinates.
    pub elements: bool,
    /// Element step along the buffer for each tile axis.
    pub strides: Vec<i64>,
    /// Tile axis `a` walks buffer axis `perm[a]`.
    pub perm: Vec<usize>,
}

impl Access {
    /// Reads the addressing attributes of an operation on a rank-`rank` buffer.
    pub(crate) fn from_attrs(attrs: &Attrs, rank: usize) -> Result<Access, String> {
        let elements = match attrs.str("unit") {
            None | Some("tiles") => false,
            Some("elements") => true,
            Some(u) => return Err(format!("`unit` must be tiles or elements, got \"{u}\"")),
        };
        let strides = match attrs.ints("strides") {
            None => vec![1; rank],
            Some(st) if st.len() == rank && st.iter().all(|s| *s >= 1) => st.to_vec(),
            Some(st) => return Err(format!("`strides` needs {rank} positive steps, got {st:?}")),
        };
        let perm = match attrs.ints("perm") {
            None => (0..rank).collect(),
            Some(p) => {
                let perm: Vec<usize> = p.iter().filter_map(|x| usize::try_from(*x).ok()).collect();
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if perm.len() != p.len() || sorted != (0..rank).collect::<Vec<_>>() {
                    return Err(format!(
                        "`perm` must be a permutation of 0..{rank}, got {p:?}"
                    ));
                }
                perm
            }
        };
        Ok(Access {
            elements,
            strides,
            perm,
        })
    }

    fn is_plain(&self) -> bool {
        !self.elements
            && self.strides.iter().all(|s| *s == 1)
            && self.perm.iter().enumerate().all(|(i, p)| i == *p)
    }

    /// The buffer offset of every tile element (C order), or `None` when it falls outside.
    fn offsets(
        &self,
        bshape: &[usize],
        idx: &[i64],
        tshape: &[usize],
    ) -> Result<Vec<Option<usize>>, String> {
        let r = tshape.len();
        let bstr = strides(bshape);
        // The start of the tile along each buffer axis.
        let mut start = vec![0i64; r];
        for (a, &b) in self.perm.iter().enumerate() {
            start[b] = if self.elements {
                idx[b]
            } else {
                let extent = (tshape[a] as i64)
                    .checked_mul(self.strides[a])
                    .ok_or("tile extent overflows")?;
                idx[b]
                    .checked_mul(extent)
                    .ok_or_else(|| format!("tile index {} overflows", idx[b]))?
            };
        }
        let n: usize = tshape.iter().product();
        let mut out = Vec::with_capacity(n);
        let mut t = vec![0usize; r];
        for _ in 0..n {
            let mut off: i64 = 0;
            let mut inside = true;
            for (a, &b) in self.perm.iter().enumerate() {
                let c = start[b].saturating_add((t[a] as i64).saturating_mul(self.strides[a]));
                if c < 0 || c >= bshape[b] as i64 {
                    inside = false;
                    break;
                }
                off += c * bstr[b] as i64;
            }
            out.push(inside.then_some(off as usize));
            for a in (0..r).rev() {
                t[a] += 1;
                if t[a] < tshape[a] {
                    break;
                }
                t[a] = 0;
            }
        }
        Ok(out)
    }
}

fn gather_general<T: Copy>(src: &[T], offsets: &[Option<usize>], pad: T) -> Result<Vec<T>, String> {
    offsets
        .iter()
        .map(|o| match o {
            Some(i) => src
                .get(*i)
                .copied()
                .ok_or_else(|| "internal error: load out of bounds".to_string()),
            None => Ok(pad),
        })
        .collect()
}

fn scatter_general<T: Copy>(
    dst: &mut [T],
    offsets: &[Option<usize>],
    src: &[T],
) -> Result<(), String> {
    for (o, v) in offsets.iter().zip(src) {
        if let Some(i) = o {
            *dst.get_mut(*i)
                .ok_or("internal error: store out of bounds")? = *v;
        }
    }
    Ok(())
}

/// The part of one tile row (the last axis) inside the buffer: the buffer offset of the
/// row's element 0 (as if it existed) and the valid element range `lo .. hi`.
struct Row {
    tile_off: usize,
    inside: Option<(i64, usize, usize)>,
}

/// Walks the rows of a tile placed at element coordinates `starts` in a buffer.
fn rows(
    bshape: &[usize],
    starts: &[i64],
    tshape: &[usize],
    mut f: impl FnMut(Row) -> Result<(), String>,
) -> Result<(), String> {
    let r = tshape.len();
    if r == 0 {
        return f(Row {
            tile_off: 0,
            inside: Some((0, 0, 1)),
        });
    }
    let bstr = strides(bshape);
    let t = tshape[r - 1];
    let (tl, bl) = (t as i64, bshape[r - 1] as i64);
    let s = starts[r - 1];
    let lo = s.saturating_neg().clamp(0, tl) as usize;
    let hi = bl.saturating_sub(s).clamp(0, tl) as usize;
    let outer = &tshape[..r - 1];
    let nrows: usize = outer.iter().product();
    let mut e = vec![0usize; r - 1];
    for row in 0..nrows {
        let mut off: i64 = 0;
        let mut ok = hi > lo;
        for a in 0..r - 1 {
            let c = starts[a].saturating_add(e[a] as i64);
            if c < 0 || c >= bshape[a] as i64 {
                ok = false;
                break;
            }
            off += c * bstr[a] as i64;
        }
        f(Row {
            tile_off: row * t,
            inside: ok.then_some((off + s, lo, hi)),
        })?;
        for a in (0..r - 1).rev() {
            e[a] += 1;
            if e[a] < outer[a] {
                break;
            }
            e[a] = 0;
        }
    }
    Ok(())
}

/// The element coordinates of tile coordinates `idx`.
fn element_starts(idx: &[i64], tshape: &[usize]) -> Result<Vec<i64>, String> {
    idx.iter()
        .zip(tshape)
        .map(|(&i, &t)| {
            i.checked_mul(t as i64)
                .ok_or_else(|| format!("tile index {i} times tile size {t} overflows"))
        })
        .collect()
}

fn gather<T: Copy>(
    src: &[T],
    bshape: &[usize],
    starts: &[i64],
    tshape: &[usize],
    pad: T,
) -> Result<Vec<T>, String> {
    let n: usize = tshape.iter().product();
    let mut out = vec![pad; n];
    rows(bshape, starts, tshape, |row| {
        if let Some((base, lo, hi)) = row.inside {
            let from = usize::try_from(base + lo as i64).map_err(|_| "bad offset".to_string())?;
            let seg = src
                .get(from..from + (hi - lo))
                .ok_or("internal error: load out of bounds")?;
            let dst = out
                .get_mut(row.tile_off + lo..row.tile_off + hi)
                .ok_or("internal error: tile row out of bounds")?;
            dst.copy_from_slice(seg);
        }
        Ok(())
    })?;
    Ok(out)
}

fn scatter<T: Copy>(
    dst: &mut [T],
    bshape: &[usize],
    starts: &[i64],
    tshape: &[usize],
    src: &[T],
) -> Result<(), String> {
    rows(bshape, starts, tshape, |row| {
        if let Some((base, lo, hi)) = row.inside {
            let to = usize::try_from(base + lo as i64).map_err(|_| "bad offset".to_string())?;
            let seg = src
                .get(row.tile_off + lo..row.tile_off + hi)
                .ok_or("internal error: tile row out of bounds")?;
            dst.get_mut(to..to + (hi - lo))
                .ok_or("internal error: store out of bounds")?
                .copy_from_slice(seg);
        }
        Ok(())
    })
}

fn check_rank(buf: &HostBuf, idx: &[i64], tshape: &[usize]) -> Result<(), String> {
    if idx.len() != buf.shape.len() || tshape.len() != buf.shape.len() {
        return Err(format!(
            "a rank-{} buffer needs {} indices and a rank-{} tile, got {} indices and a rank-{} tile",
            buf.shape.len(),
            buf.shape.len(),
            buf.shape.len(),
            idx.len(),
            tshape.len()
        ));
    }
    Ok(())
}

/// Reads the tile of shape `tshape` at tile coordinates `idx`; `pad` is a 0-d tensor of
/// the buffer's dtype.
pub(crate) fn load(
    buf: &HostBuf,
    idx: &[i64],
    tshape: &[usize],
    pad: &Tensor,
    access: &Access,
) -> Result<Tensor, String> {
    check_rank(buf, idx, tshape)?;
    if !access.is_plain() {
        let offs = access.offsets(&buf.shape, idx, tshape)?;
        let data = match (&buf.data, pad.data()) {
            (Data::Float(src), Data::Float(p)) => Data::Float(gather_general(
                src,
                &offs,
                p.first().copied().unwrap_or(0.0),
            )?),
            (Data::Int(src), Data::Int(p)) => {
                Data::Int(gather_general(src, &offs, p.first().copied().unwrap_or(0))?)
            }
            _ => return Err("internal error: pad and buffer storage differ".into()),
        };
        return Tensor::new(buf.dtype, tshape.to_vec(), data)
            .map_err(|e| format!("internal error: {e}"));
    }
    let starts = element_starts(idx, tshape)?;
    let data = match (&buf.data, pad.data()) {
        (Data::Float(src), Data::Float(p)) => Data::Float(gather(
            src,
            &buf.shape,
            &starts,
            tshape,
            p.first().copied().unwrap_or(0.0),
        )?),
        (Data::Int(src), Data::Int(p)) => Data::Int(gather(
            src,
            &buf.shape,
            &starts,
            tshape,
            p.first().copied().unwrap_or(0),
        )?),
        _ => return Err("internal error: pad and buffer storage differ".into()),
    };
    Tensor::new(buf.dtype, tshape.to_vec(), data).map_err(|e| format!("internal error: {e}"))
}

/// Writes `tile` at tile coordinates `idx`, skipping elements outside the buffer.
pub(crate) fn store(
    buf: &mut HostBuf,
    idx: &[i64],
    tile: &Tensor,
    access: &Access,
) -> Result<(), String> {
    let tshape = tile.shape().to_vec();
    check_rank(buf, idx, &tshape)?;
    if tile.dtype() != buf.dtype {
        return Err(format!(
            "cannot store a {} tile into a {} buffer",
            tile.dtype(),
            buf.dtype
        ));
    }
    if !access.is_plain() {
        let offs = access.offsets(&buf.shape, idx, &tshape)?;
        return match (&mut buf.data, tile.data()) {
            (Data::Float(dst), Data::Float(src)) => scatter_general(dst, &offs, src),
            (Data::Int(dst), Data::Int(src)) => scatter_general(dst, &offs, src),
            _ => Err("internal error: tile and buffer storage differ".into()),
        };
    }
    let starts = element_starts(idx, &tshape)?;
    match (&mut buf.data, tile.data()) {
        (Data::Float(dst), Data::Float(src)) => scatter(dst, &buf.shape, &starts, &tshape, src),
        (Data::Int(dst), Data::Int(src)) => scatter(dst, &buf.shape, &starts, &tshape, src),
        _ => Err("internal error: tile and buffer storage differ".into()),
    }
}
