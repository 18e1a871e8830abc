//! 2-D convolution (cross-correlation), NCHW input and OIHW weights, with stride, zero
//! padding, dilation and groups. Output size per spatial axis is
//! `floor((H + 2p - d(k - 1) - 1) / s) + 1` (DSL §7). Floats accumulate in `f64` and round
//! once; `i8`/`i32` accumulate in wrapping `i32` and give `i32`.

use super::out::{elems, from_f64, from_i32, same_dtype, Elems};
use super::walk::numel;
use super::KResult;
use tessera_dialects::DType;
use tessera_tensor::Tensor;

/// Window geometry along one spatial axis.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
}

impl Window {
    /// Checks the attributes: stride and dilation at least 1, padding not negative.
    pub fn new(kernel: usize, stride: i64, padding: i64, dilation: i64) -> KResult<Window> {
        if stride < 1 {
            return Err(format!("stride must be at least 1, got {stride}"));
        }
        if dilation < 1 {
            return Err(format!("dilation must be at least 1, got {dilation}"));
        }
        if padding < 0 {
            return Err(format!("padding cannot be negative, got {padding}"));
        }
        let small = |v: i64| usize::try_from(v).ok().filter(|&v| v <= 1 << 24);
        match (small(stride), small(padding), small(dilation)) {
            (Some(stride), Some(padding), Some(dilation)) => Ok(Window {
                kernel,
                stride,
                padding,
                dilation,
            }),
            _ => Err("stride, padding or dilation is too large".into()),
        }
    }

    /// `floor((size + 2p - d(k - 1) - 1) / s) + 1`, or an error when the window does not fit.
    pub fn output(&self, size: usize) -> KResult<usize> {
        let span = self.dilation * self.kernel.saturating_sub(1) + 1;
        let padded = size + 2 * self.padding;
        if self.kernel == 0 || padded < span {
            return Err(format!(
                "the window (kernel {}, dilation {}) does not fit the padded input size {padded}",
                self.kernel, self.dilation
            ));
        }
        Ok((padded - span) / self.stride + 1)
    }

    /// The input index of output `o`, tap `k`, or `None` in the padding.
    #[inline]
    pub fn input(&self, o: usize, k: usize, size: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation)
            .checked_sub(self.padding)
            .filter(|&i| i < size)
    }
}

/// `conv2d(x, w)` with `stride`, `padding`, `dilation` as `[h, w]` pairs and `groups`.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    stride: [i64; 2],
    padding: [i64; 2],
    dilation: [i64; 2],
    groups: i64,
) -> KResult<Tensor> {
    same_dtype(x, w)?;
    if x.dtype() == DType::Bool {
        return Err("the operands must be numeric, got bool".into());
    }
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() != 4 || ws.len() != 4 {
        return Err(format!(
            "conv2d needs a rank-4 input (NCHW) and rank-4 weights (OIHW), got {xs:?} and {ws:?}"
        ));
    }
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let g = usize::try_from(groups)
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| format!("groups must be at least 1, got {groups}"))?;
    if !c.is_multiple_of(g) || !o.is_multiple_of(g) {
        return Err(format!(
            "groups {g} must divide the input channels {c} and the output channels {o}"
        ));
    }
    if cg != c / g {
        return Err(format!(
            "the weights have {cg} input channels per group, expected {} ({c} channels / {g} groups)",
            c / g
        ));
    }
    let wh = Window::new(kh, stride[0], padding[0], dilation[0])?;
    let ww = Window::new(kw, stride[1], padding[1], dilation[1])?;
    let (oh, ow) = (wh.output(h)?, ww.output(wd)?);
    let out_shape = vec![n, o, oh, ow];
    let total = numel(&out_shape)?;
    let og = o / g;
    // Visits every (output plane, weight, input pixel, output pixel) term in a fixed order.
    macro_rules! run {
        ($xv:expr, $wv:expr, $zero:expr, $acc:expr) => {{
            let (xv, wv) = ($xv, $wv);
            let mut out = Vec::with_capacity(total);
            let mut plane = vec![$zero; oh * ow];
            for b in 0..n {
                for oc in 0..o {
                    plane.iter_mut().for_each(|p| *p = $zero);
                    let grp = oc / og;
                    for ci in 0..cg {
                        let ic = grp * cg + ci;
                        let xbase = ((b * c + ic) * h) * wd;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let wval = wv[((oc * cg + ci) * kh + ky) * kw + kx];
                                for y in 0..oh {
                                    let Some(iy) = wh.input(y, ky, h) else {
                                        continue;
                                    };
                                    let row = xbase + iy * wd;
                                    for xo in 0..ow {
                                        if let Some(ix) = ww.input(xo, kx, wd) {
                                            $acc(&mut plane[y * ow + xo], wval, xv[row + ix]);
                                        }
                                    }
                                }
                            }
                        }
                    }
                    out.extend_from_slice(&plane);
                }
            }
            out
        }};
    }
    match (elems(x), elems(w)) {
        (Elems::Float(xv), Elems::Float(wv)) => {
            let out = run!(xv, wv, 0f64, |p: &mut f64, a: f32, b: f32| *p +=
                a as f64 * b as f64);
            from_f64(x.dtype(), out_shape, out)
        }
        (Elems::Int(xv), Elems::Int(wv)) => {
            let out = run!(xv, wv, 0i32, |p: &mut i32, a: i32, b: i32| *p =
                p.wrapping_add(a.wrapping_mul(b)));
            from_i32(DType::I32, out_shape, out)
        }
        _ => Err("internal error: storage does not match the dtype".into()),
    }
}
