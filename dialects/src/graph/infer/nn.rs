//! Inference for convolution, pooling (NCHW / OIHW) and (de)quantisation.

use super::{shape_str, window_output_size, Cx, InferError};
use crate::dtype::DType;
use crate::sym::SymExpr;
use crate::types::TensorType;

/// The largest stride, padding, dilation, kernel size or group count accepted; keeps the
/// size arithmetic far from overflow.
const MAX_PARAM: i64 = i32::MAX as i64;

/// Checks each value of a 2-value attribute against `min`.
fn check_pair(cx: &Cx, name: &str, v: [i64; 2], min: i64) -> Result<(), InferError> {
    for x in v {
        if x < min {
            let what = if min == 0 {
                "non-negative"
            } else {
                "at least 1"
            };
            return Err(cx.err(format!(
                "`{name}` values must be {what}, got [{}, {}]",
                v[0], v[1]
            )));
        }
        if x > MAX_PARAM {
            return Err(cx.err(format!("`{name}` value {x} is too large")));
        }
    }
    Ok(())
}

/// The output size of one spatial axis; an error (on `operand`) when it would be < 1.
fn spatial(
    cx: &Cx,
    axis_name: &str,
    size: &SymExpr,
    kernel: &SymExpr,
    stride: i64,
    padding: i64,
    dilation: i64,
) -> Result<SymExpr, InferError> {
    let out = window_output_size(size, kernel, stride, padding, dilation)
        .ok_or_else(|| cx.err("`stride` values must be at least 1"))?;
    if let Some(v) = out.as_const() {
        if v < 1 {
            let window = SymExpr::lit(dilation)
                .mul(&kernel.sub(&SymExpr::lit(1)))
                .add(&SymExpr::lit(1));
            return Err(cx
                .err_at(
                    0,
                    format!(
                        "the output {axis_name} would be {v}: the input {axis_name} {size} with padding {padding} \
                         is smaller than the window {window}"
                    ),
                )
                .with_hint("use a larger input, more padding or a smaller kernel"));
        }
    }
    Ok(out)
}

fn need_rank4(cx: &Cx, i: usize, layout: &str) -> Result<[SymExpr; 4], InferError> {
    let t = cx.operand(i)?;
    match t.shape.as_slice() {
        [a, b, c, d] => Ok([a.clone(), b.clone(), c.clone(), d.clone()]),
        _ => Err(cx.err_at(
            i,
            format!(
                "expects a rank-4 {layout} tensor, got {t} (rank {})",
                t.rank()
            ),
        )),
    }
}

pub(crate) fn conv2d(cx: &Cx) -> Result<TensorType, InferError> {
    let x = cx.operand(0)?;
    let w = cx.operand(1)?;
    let [n, c, h, wd] = need_rank4(cx, 0, "NCHW input")?;
    let [o, i, kh, kw] = need_rank4(cx, 1, "OIHW weight")?;
    cx.same_dtype(0, 1)?;
    cx.need_numeric(0, "the operands")?;
    let stride = cx.pair("stride")?;
    let padding = cx.pair("padding")?;
    let dilation = cx.pair("dilation")?;
    check_pair(cx, "stride", stride, 1)?;
    check_pair(cx, "padding", padding, 0)?;
    check_pair(cx, "dilation", dilation, 1)?;
    let groups = cx.int("groups")?;
    if !(1..=MAX_PARAM).contains(&groups) {
        return Err(cx.err(format!("`groups` must be at least 1, got {groups}")));
    }
    let expected = i.mul(&SymExpr::lit(groups));
    if c != expected {
        let msg = if groups == 1 {
            format!("the input has {c} channels but the weight {w} expects {i}")
        } else {
            format!(
                "the input has {c} channels but the weight {w} expects {i} per group \
                 times {groups} groups = {expected}"
            )
        };
        let e = cx.err_at(1, msg).with_hint(
            "the weight is OIHW: its second size times `groups` must equal the input channels",
        );
        return Err(e);
    }
    if let Some(oc) = o.as_const() {
        if oc % groups != 0 {
            return Err(cx.err_at(
                1,
                format!("{oc} output channels are not divisible by {groups} groups"),
            ));
        }
    }
    for k in [&kh, &kw] {
        if k.as_const().is_some_and(|v| v < 1) {
            return Err(cx.err_at(1, format!("the kernel of {w} is empty")));
        }
    }
    let oh = spatial(cx, "height", &h, &kh, stride[0], padding[0], dilation[0])?;
    let ow = spatial(cx, "width", &wd, &kw, stride[1], padding[1], dilation[1])?;
    let dtype = if x.dtype == DType::I8 {
        DType::I32
    } else {
        x.dtype
    };
    Ok(TensorType::new(dtype, vec![n, o, oh, ow]))
}

/// `maxpool2d` (numeric) and `avgpool2d` (floats only).
pub(crate) fn pool2d(cx: &Cx, avg: bool) -> Result<TensorType, InferError> {
    let x = if avg {
        cx.need_float(0, "the input")?
    } else {
        cx.need_numeric(0, "the input")?
    };
    let [n, c, h, w] = need_rank4(cx, 0, "NCHW input")?;
    let kernel = cx.pair("kernel")?;
    let stride = cx.pair("stride")?;
    let padding = cx.pair("padding")?;
    check_pair(cx, "kernel", kernel, 1)?;
    check_pair(cx, "stride", stride, 1)?;
    check_pair(cx, "padding", padding, 0)?;
    for (p, k) in padding.iter().zip(&kernel) {
        if p.saturating_mul(2) > *k {
            return Err(cx
                .err(format!(
                    "padding {} is more than half the kernel {}",
                    shape_str(&padding.map(SymExpr::lit)),
                    shape_str(&kernel.map(SymExpr::lit))
                ))
                .with_hint("every window must overlap the input: padding at most kernel / 2"));
        }
    }
    let [kh, kw] = kernel.map(SymExpr::lit);
    let oh = spatial(cx, "height", &h, &kh, stride[0], padding[0], 1)?;
    let ow = spatial(cx, "width", &w, &kw, stride[1], padding[1], 1)?;
    Ok(TensorType::new(x.dtype, vec![n, c, oh, ow]))
}

/// Checks the scale (operand 1) against the tensor (operand 0) and the optional `axis`.
fn check_scale(cx: &Cx) -> Result<(), InferError> {
    let x = cx.operand(0)?;
    let s = cx.need_float(1, "the scale")?;
    match cx.opt_int("axis")? {
        None => {
            if s.rank() != 0 {
                return Err(cx
                    .err_at(1, format!("the scale must be a scalar, got {s}"))
                    .with_hint("a 1-D scale is per channel: give its `axis`"));
            }
        }
        Some(axis) => {
            let a = cx.check_axis("axis", axis, x)?;
            let Some(size) = x.shape.get(a) else {
                return Err(cx.err(format!("axis {axis} is out of range for {x}")));
            };
            match s.shape.as_slice() {
                [d] if d == size => {}
                [d] => {
                    let e = cx.err_at(
                        1,
                        format!("the scale has size {d} but axis {a} of {x} has size {size}"),
                    );
                    return Err(super::maybe_hint(e, super::size_hint(d, size)));
                }
                _ => {
                    return Err(cx
                        .err_at(1, format!("a per-channel scale must be 1-D, got {s}"))
                        .with_hint(format!("give one scale per element of axis {a} ({size})")))
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn quantize(cx: &Cx) -> Result<TensorType, InferError> {
    let x = cx.need_float(0, "the input")?;
    let dtype = cx.dtype("dtype")?;
    if !matches!(dtype, DType::I8 | DType::F8E4M3 | DType::F8E5M2) {
        return Err(cx
            .err(format!(
                "the target dtype must be i8, f8e4m3 or f8e5m2, got {dtype}"
            ))
            .with_hint("for other conversions use `as`"));
    }
    check_scale(cx)?;
    Ok(x.with_dtype(dtype))
}

pub(crate) fn dequantize(cx: &Cx) -> Result<TensorType, InferError> {
    let q = cx.operand(0)?;
    if !matches!(
        q.dtype,
        DType::I8 | DType::I32 | DType::F8E4M3 | DType::F8E5M2
    ) {
        return Err(cx
            .err_at(
                0,
                format!("the input must be quantized (i8, i32, f8e4m3 or f8e5m2), got {q}"),
            )
            .with_hint("for other conversions use `as`"));
    }
    check_scale(cx)?;
    Ok(q.with_dtype(DType::F32))
}
