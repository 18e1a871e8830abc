//! `quantize` and `dequantize` as elementwise kernels. The scale is a scalar (per tensor)
//! or a 1-D tensor along `axis` (per channel), seen as `[n, 1, ..., 1]` so that it
//! broadcasts along that axis. `quantize` is `cast(x / s)` in `f32`: `graph.cast` does the
//! `as` conversion, which for `i8` rounds half to even, saturates and maps NaN to 0, and
//! for the FP8 formats rounds half to even and saturates as the graph interpreter's
//! `quantize` does. `dequantize` is `f32(q) * f32(s)`.

use super::elementwise::{kernel, Seen};
use super::{Ctx, TilingError};
use crate::template::KernelText;
use tessera_dialects::{DType, GraphOp, Operation, SymExpr};

pub(super) fn quant(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let de = op.op.as_graph() == Some(GraphOp::Dequantize);
    let (x, s, y) = (
        ctx.buf(op.operands[0]),
        ctx.buf(op.operands[1]),
        ctx.buf(op.results[0]),
    );
    let (xt, st) = (ctx.ty(x).clone(), ctx.ty(s).clone());
    let r = xt.rank();
    let scale = match op.attrs.int("axis") {
        None => Seen::of(ctx, s),
        Some(a) => {
            let a = if a < 0 { a + r as i64 } else { a };
            if a < 0 || a as usize >= r || st.rank() != 1 {
                return Err(TilingError::at(
                    op,
                    format!(
                        "a per-channel scale of shape {st} along axis {a} of a rank-{r} operand"
                    ),
                ));
            }
            let mut shape = vec![st.shape[0].clone()];
            shape.extend(std::iter::repeat_n(SymExpr::lit(1), r - 1 - a as usize));
            Seen::viewed(ctx, s, shape)
        }
    };
    if !st.dtype.is_float() || (!de && !xt.dtype.is_float()) {
        return Err(TilingError::at(
            op,
            "quantisation with a non-float scale or operand is not lowered to tile IR yet",
        ));
    }
    let out = Seen::of(ctx, y);
    let target = out.dtype;
    let region = move |k: &mut KernelText, a: &[String], d: &[DType]| -> String {
        let widen = |k: &mut KernelText, v: &str, dt: DType| -> String {
            if dt == DType::F32 {
                return v.to_string();
            }
            let w = k.fresh("w");
            k.line(format!(
                "%{w} = graph.cast %{v} {{dtype = f32}} : ({dt}) -> f32"
            ));
            w
        };
        let (xv, sv) = (widen(k, &a[0], d[0]), widen(k, &a[1], d[1]));
        let v = k.fresh("v");
        let g = if de { "mul" } else { "div" };
        k.line(format!("%{v} = graph.{g} %{xv}, %{sv} : (f32, f32) -> f32"));
        if de {
            return v;
        }
        let q = k.fresh("q");
        k.line(format!(
            "%{q} = graph.cast %{v} {{dtype = {target}}} : (f32) -> {target}"
        ));
        q
    };
    let inputs = vec![Seen::of(ctx, x), scale];
    let what = if de { "dequantize" } else { "quantize" };
    kernel(ctx, op, what, &inputs, &out, &region)
}
