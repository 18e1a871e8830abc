//! NumPy-style text for tensors (`tessera run` prints results with it).
//!
//! The layout follows NumPy's `repr` of an array without the `array(...)` wrapper: nested
//! brackets, rows broken at 75 columns, blank lines between blocks of rank 3 and more, and
//! long axes abbreviated with `...`. Floats use NumPy's default "maxprec" mode: the shortest
//! text that reads back as the same value, with at most 8 fractional digits, and the same
//! number of fractional digits for every element (padded with spaces, `1.` for integral
//! values). Scientific notation is used when the largest magnitude is at least 1e8, or when
//! every non-zero magnitude is below 1e-4 (small values among larger ones are suppressed to
//! `0.` rather than switching the whole tensor to scientific notation). Integers print plainly
//! and booleans as `true`/`false`, as in the DSL.

use crate::tensor::{Data, Tensor};

const LINE_WIDTH: usize = 75;
/// Tensors with more elements than this are summarised (NumPy's `threshold`).
const THRESHOLD: usize = 1000;
/// Items shown at each end of a summarised axis (NumPy's `edgeitems`).
const EDGE_ITEMS: usize = 3;
const PRECISION: usize = 8;

/// "f32[2, 10]"; a 0-d tensor is its bare dtype ("f32"), as in the DSL.
pub fn describe(t: &Tensor) -> String {
    if t.rank() == 0 {
        return t.dtype().to_string();
    }
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    format!("{}[{}]", t.dtype(), dims.join(", "))
}

/// Which indices of an axis of length `n` are shown: all, or `edge` at each end.
fn shown(n: usize, edge: Option<usize>) -> (Vec<usize>, bool) {
    match edge {
        Some(e) if n > 2 * e => {
            let mut v: Vec<usize> = (0..e).collect();
            v.extend(n - e..n);
            (v, true)
        }
        _ => ((0..n).collect(), false),
    }
}

/// Formats a tensor like NumPy's `repr`. Axes longer than `max_per_axis` (and, as in NumPy,
/// every axis longer than 6 when the tensor has more than 1000 elements) are abbreviated
/// with `...`, keeping the first and last items (3 each for large tensors, else half of
/// `max_per_axis`, at least 1).
pub fn format_tensor(t: &Tensor, max_per_axis: usize) -> String {
    let shape = t.shape();
    let big = t.len() > THRESHOLD;
    let edges: Vec<Option<usize>> = shape
        .iter()
        .map(|&n| {
            if big {
                Some(EDGE_ITEMS.min((max_per_axis / 2).max(1)))
            } else if n > max_per_axis {
                Some((max_per_axis / 2).max(1))
            } else {
                None
            }
        })
        .collect();
    if t.is_empty() {
        let mut s = String::new();
        for _ in 0..t.rank().max(1) {
            s.push('[');
        }
        for _ in 0..t.rank().max(1) {
            s.push(']');
        }
        return s;
    }
    // The flat indices of the shown elements, in order.
    let strides = t.strides();
    let mut flat = Vec::new();
    collect(shape, &strides, &edges, 0, 0, &mut flat);
    let texts = element_texts(t, &flat);
    let width = texts.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut it = texts.into_iter();
    let mut out = String::new();
    render(shape, &edges, 0, width, &mut it, &mut out);
    out
}

fn collect(
    shape: &[usize],
    strides: &[usize],
    edges: &[Option<usize>],
    axis: usize,
    base: usize,
    out: &mut Vec<usize>,
) {
    if axis == shape.len() {
        out.push(base);
        return;
    }
    for i in shown(shape[axis], edges[axis]).0 {
        collect(
            shape,
            strides,
            edges,
            axis + 1,
            base + i * strides[axis],
            out,
        );
    }
}

fn render(
    shape: &[usize],
    edges: &[Option<usize>],
    axis: usize,
    width: usize,
    it: &mut impl Iterator<Item = String>,
    out: &mut String,
) {
    let rank = shape.len();
    if axis == rank {
        out.push_str(&format!("{:>width$}", it.next().unwrap_or_default()));
        return;
    }
    let (idx, cut) = shown(shape[axis], edges[axis]);
    let half = idx.len() / 2;
    out.push('[');
    if axis + 1 == rank {
        // A row: wrap at the line width, continuing under the first element.
        let indent = " ".repeat(axis + 1);
        let mut col = out.rsplit('\n').next().map_or(0, str::len);
        for (k, _) in idx.iter().enumerate() {
            let mut items = Vec::new();
            if cut && k == half {
                items.push("...".to_string());
            }
            items.push(format!("{:>width$}", it.next().unwrap_or_default()));
            for item in items {
                let first = out.ends_with('[');
                let sep = if first { "" } else { ", " };
                if !first && col + sep.len() + item.len() + 1 > LINE_WIDTH {
                    out.push_str(",\n");
                    out.push_str(&indent);
                    col = indent.len();
                } else {
                    out.push_str(sep);
                    col += sep.len();
                }
                out.push_str(&item);
                col += item.len();
            }
        }
    } else {
        let sep = format!(",{}{}", "\n".repeat(rank - axis - 1), " ".repeat(axis + 1));
        for (k, _) in idx.iter().enumerate() {
            if k > 0 {
                out.push_str(&sep);
            }
            if cut && k == half {
                out.push_str("...");
                out.push_str(&sep);
            }
            render(shape, edges, axis + 1, width, it, out);
        }
    }
    out.push(']');
}

/// The text of each shown element, before alignment.
fn element_texts(t: &Tensor, flat: &[usize]) -> Vec<String> {
    match t.data() {
        Data::Int(v) => {
            if t.dtype() == tessera_dialects::DType::Bool {
                flat.iter()
                    .map(|&i| if v[i] != 0 { "true" } else { "false" }.to_string())
                    .collect()
            } else {
                flat.iter().map(|&i| v[i].to_string()).collect()
            }
        }
        Data::Float(v) => float_texts(&flat.iter().map(|&i| v[i]).collect::<Vec<_>>()),
    }
}

/// Trims trailing zeros of a fraction ("1.2500" → "1.25", "2.000" → "2.").
fn trim_frac(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').to_string()
    } else {
        format!("{s}.")
    }
}

/// Shortest round-trip text of `x` with at most `PRECISION` fractional digits.
fn positional(x: f32) -> String {
    let short = format!("{x}");
    let frac = short.split_once('.').map_or(0, |(_, f)| f.len());
    if frac > PRECISION {
        trim_frac(&format!("{x:.PRECISION$}"))
    } else {
        trim_frac(&short)
    }
}

/// Shortest round-trip mantissa of `x` in scientific notation, at most `PRECISION`
/// fractional digits: ("1.25", -5).
fn scientific(x: f32) -> (String, i32) {
    let short = format!("{x:e}");
    let (m, e) = short.split_once('e').unwrap_or((&short, "0"));
    let frac = m.split_once('.').map_or(0, |(_, f)| f.len());
    let (m, e) = if frac > PRECISION {
        let s = format!("{x:.PRECISION$e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        (trim_frac(m), e.to_string())
    } else {
        (trim_frac(m), e.to_string())
    };
    (m, e.parse().unwrap_or(0))
}

fn float_texts(vals: &[f32]) -> Vec<String> {
    let finite: Vec<f32> = vals.iter().copied().filter(|x| x.is_finite()).collect();
    let max = finite.iter().fold(0f32, |m, x| m.max(x.abs()));
    let min_nonzero = finite
        .iter()
        .filter(|x| **x != 0.0)
        .fold(f32::INFINITY, |m, x| m.min(x.abs()));
    let sci = max >= 1e8 || (max > 0.0 && max < 1e-4 && min_nonzero.is_finite());
    let special = |x: f32| {
        if x.is_nan() {
            "nan".to_string()
        } else if x > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        }
    };
    if sci {
        let parts: Vec<Option<(String, i32)>> = vals
            .iter()
            .map(|&x| x.is_finite().then(|| scientific(x)))
            .collect();
        let digits = parts
            .iter()
            .flatten()
            .map(|(m, _)| m.split_once('.').map_or(0, |(_, f)| f.len()))
            .max()
            .unwrap_or(0);
        vals.iter()
            .zip(parts)
            .map(|(&x, p)| match p {
                None => special(x),
                Some((m, e)) => {
                    let (int, frac) = m.split_once('.').unwrap_or((&m, ""));
                    let sign = if e < 0 { '-' } else { '+' };
                    format!("{int}.{frac:0<digits$}e{sign}{:02}", e.unsigned_abs())
                }
            })
            .collect()
    } else {
        let parts: Vec<Option<String>> = vals
            .iter()
            .map(|&x| x.is_finite().then(|| positional(x)))
            .collect();
        let digits = parts
            .iter()
            .flatten()
            .map(|s| s.split_once('.').map_or(0, |(_, f)| f.len()))
            .max()
            .unwrap_or(0);
        vals.iter()
            .zip(parts)
            .map(|(&x, p)| match p {
                None => special(x),
                Some(s) => {
                    let pad = digits - s.split_once('.').map_or(0, |(_, f)| f.len());
                    format!("{s}{}", " ".repeat(pad))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_dialects::DType;

    fn f32s(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_f32(DType::F32, shape.to_vec(), v).unwrap()
    }

    #[test]
    fn describes() {
        assert_eq!(describe(&f32s(&[2, 10], vec![0.0; 20])), "f32[2, 10]");
        assert_eq!(describe(&Tensor::scalar_f32(DType::I8, 1.0)), "i8");
    }

    #[test]
    fn matches_numpy_layout() {
        assert_eq!(
            format_tensor(&f32s(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]), 100),
            "[[1., 2.],\n [3., 4.]]"
        );
        assert_eq!(
            format_tensor(&f32s(&[2], vec![1.5, 2.25]), 100),
            "[1.5 , 2.25]"
        );
        assert_eq!(
            format_tensor(&f32s(&[3], vec![-1.0, 0.5, 10.0]), 100),
            "[-1. ,  0.5, 10. ]"
        );
        assert_eq!(
            format_tensor(&f32s(&[2], vec![0.1, 0.3]), 100),
            "[0.1, 0.3]"
        );
        assert_eq!(
            format_tensor(&f32s(&[2], vec![1.0 / 3.0, 2.0]), 100),
            "[0.33333334, 2.        ]"
        );
        assert_eq!(format_tensor(&f32s(&[], vec![1.5]), 100), "1.5");
        assert_eq!(
            format_tensor(&f32s(&[3], vec![f32::NAN, f32::NEG_INFINITY, 1.0]), 100),
            "[ nan, -inf,   1.]"
        );
        let t = f32s(&[2, 1, 2], vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(format_tensor(&t, 100), "[[[1., 2.]],\n\n [[3., 4.]]]");
        let i = Tensor::from_i32(DType::I32, vec![3], vec![1, -20, 300]).unwrap();
        assert_eq!(format_tensor(&i, 100), "[  1, -20, 300]");
        let b = Tensor::from_i32(DType::Bool, vec![2], vec![1, 0]).unwrap();
        assert_eq!(format_tensor(&b, 100), "[ true, false]");
        assert_eq!(format_tensor(&f32s(&[2, 0], vec![]), 100), "[[]]");
    }

    #[test]
    fn scientific_and_suppression() {
        assert_eq!(
            format_tensor(&f32s(&[2], vec![1e8, 1.0]), 100),
            "[1.e+08, 1.e+00]"
        );
        assert_eq!(
            format_tensor(&f32s(&[2], vec![1.5e-5, 2.25e-6]), 100),
            "[1.50e-05, 2.25e-06]"
        );
        // Small among larger values: suppressed.
        assert_eq!(
            format_tensor(&f32s(&[2], vec![1e-10, 1.0]), 100),
            "[0., 1.]"
        );
    }

    #[test]
    fn abbreviates_long_axes() {
        let v: Vec<f32> = (0..2000).map(|i| i as f32).collect();
        let s = format_tensor(&f32s(&[2000], v), 100);
        assert_eq!(s, "[   0.,    1.,    2., ..., 1997., 1998., 1999.]");
        let i = Tensor::from_i32(DType::I32, vec![20], (0..20).collect()).unwrap();
        assert_eq!(format_tensor(&i, 6), "[ 0,  1,  2, ..., 17, 18, 19]");
        let m = Tensor::from_i32(DType::I32, vec![40, 40], (0..1600).collect()).unwrap();
        let s = format_tensor(&m, 1000);
        assert!(
            s.starts_with("[[   0,    1,    2, ...,   37,   38,   39],\n"),
            "{s}"
        );
        assert!(s.contains("\n ...,\n"), "{s}");
        assert!(
            s.ends_with("[1560, 1561, 1562, ..., 1597, 1598, 1599]]"),
            "{s}"
        );
    }

    #[test]
    fn wraps_long_rows() {
        let v: Vec<f32> = (0..20).map(|i| i as f32 + 0.125).collect();
        let s = format_tensor(&f32s(&[20], v), 100);
        assert!(s.lines().all(|l| l.len() <= LINE_WIDTH), "{s}");
        assert!(s.lines().count() > 1);
        assert!(s.lines().nth(1).unwrap().starts_with(' '));
    }
}
