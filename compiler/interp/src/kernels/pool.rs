//! 2-D pooling over NCHW input. `maxpool2d` takes the maximum of the in-bounds elements of
//! each window (padding is ignored; NaN wins); `avgpool2d` divides the `f64` sum of the
//! in-bounds elements by their count (padding is not counted). A padding as large as the
//! kernel is refused, since a window could then hold no input element.

use super::conv::Window;
use super::out::{elems, floats, from_f64, from_i32, Elems};
use super::walk::numel;
use super::KResult;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    wh: Window,
    ww: Window,
    oh: usize,
    ow: usize,
}

fn geometry(
    x: &Tensor,
    kernel: [i64; 2],
    stride: [i64; 2],
    padding: [i64; 2],
) -> KResult<Geometry> {
    let s = x.shape();
    if s.len() != 4 {
        return Err(format!(
            "pooling needs a rank-4 input (NCHW), got shape {s:?}"
        ));
    }
    let k = |v: i64| {
        usize::try_from(v)
            .ok()
            .filter(|&v| (1..=1 << 24).contains(&v))
            .ok_or_else(|| format!("kernel sizes must be between 1 and 2^24, got {v}"))
    };
    let (kh, kw) = (k(kernel[0])?, k(kernel[1])?);
    for (p, kk) in [(padding[0], kh), (padding[1], kw)] {
        if p >= kk as i64 {
            return Err(format!(
                "padding {p} must be smaller than the kernel size {kk}"
            ));
        }
    }
    let wh = Window::new(kh, stride[0], padding[0], 1)?;
    let ww = Window::new(kw, stride[1], padding[1], 1)?;
    let (oh, ow) = (wh.output(s[2])?, ww.output(s[3])?);
    numel(&[s[0], s[1], oh, ow])?;
    Ok(Geometry {
        n: s[0],
        c: s[1],
        h: s[2],
        w: s[3],
        wh,
        ww,
        oh,
        ow,
    })
}

/// Calls `f(plane_offset, window_inputs)` for each output element in C order.
fn windows(g: &Geometry, mut f: impl FnMut(&mut dyn Iterator<Item = usize>)) {
    for p in 0..g.n * g.c {
        let base = p * g.h * g.w;
        for y in 0..g.oh {
            for xo in 0..g.ow {
                let mut it = (0..g.wh.kernel).flat_map(|ky| {
                    (0..g.ww.kernel).filter_map(move |kx| {
                        let iy = g.wh.input(y, ky, g.h)?;
                        let ix = g.ww.input(xo, kx, g.w)?;
                        Some(base + iy * g.w + ix)
                    })
                });
                f(&mut it);
            }
        }
    }
}

fn out_shape(g: &Geometry) -> Vec<usize> {
    vec![g.n, g.c, g.oh, g.ow]
}

/// Max pooling; floats and integers.
pub fn maxpool2d(
    x: &Tensor,
    kernel: [i64; 2],
    stride: [i64; 2],
    padding: [i64; 2],
) -> KResult<Tensor> {
    let g = geometry(x, kernel, stride, padding)?;
    match elems(x) {
        Elems::Float(v) => {
            let mut out = Vec::new();
            windows(&g, |it| {
                let mut m = f32::NEG_INFINITY;
                for i in it {
                    m = super::binary::ieee_max(m, v[i]);
                }
                out.push(m as f64);
            });
            from_f64(x.dtype(), out_shape(&g), out)
        }
        Elems::Int(v) => {
            if x.dtype() == DType::Bool {
                return Err("the operand must be numeric, got bool".into());
            }
            let mut out = Vec::new();
            windows(&g, |it| {
                out.push(it.map(|i| v[i]).max().unwrap_or(i32::MIN))
            });
            from_i32(x.dtype(), out_shape(&g), out)
        }
    }
}

/// Average pooling over the in-bounds elements; floats only.
pub fn avgpool2d(
    x: &Tensor,
    kernel: [i64; 2],
    stride: [i64; 2],
    padding: [i64; 2],
) -> KResult<Tensor> {
    let v = floats(x, "the operand")?;
    let g = geometry(x, kernel, stride, padding)?;
    let mut out = Vec::new();
    windows(&g, |it| {
        let (mut s, mut cnt) = (0f64, 0usize);
        for i in it {
            s += v[i] as f64;
            cnt += 1;
        }
        out.push(s / cnt as f64);
    });
    from_f64(x.dtype(), out_shape(&g), out)
}
