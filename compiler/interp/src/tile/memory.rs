//! `tile.load` and `tile.store`: moving a tile between a buffer and a host value at tile
//! coordinates, masking the elements that fall outside the buffer.

use super::value::HostBuf;
use crate::kernels::walk::strides;
use tessera_tensor::{Data, Tensor};

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
) -> Result<Tensor, String> {
    check_rank(buf, idx, tshape)?;
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
pub(crate) fn store(buf: &mut HostBuf, idx: &[i64], tile: &Tensor) -> Result<(), String> {
    let tshape = tile.shape().to_vec();
    check_rank(buf, idx, &tshape)?;
    if tile.dtype() != buf.dtype {
        return Err(format!(
            "cannot store a {} tile into a {} buffer",
            tile.dtype(),
            buf.dtype
        ));
    }
    let starts = element_starts(idx, &tshape)?;
    match (&mut buf.data, tile.data()) {
        (Data::Float(dst), Data::Float(src)) => scatter(dst, &buf.shape, &starts, &tshape, src),
        (Data::Int(dst), Data::Int(src)) => scatter(dst, &buf.shape, &starts, &tshape, src),
        _ => Err("internal error: tile and buffer storage differ".into()),
    }
}
