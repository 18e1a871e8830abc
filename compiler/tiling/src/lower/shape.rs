//! Shape operations. `reshape` is a view: its result is the input's buffer seen with the
//! new shape (same elements, C order), and no kernel runs. Only a reshape the function
//! returns copies the elements in order through flat views of both buffers, since a result
//! has its own output buffer.

use super::elementwise::{kernel, Seen};
use super::{Ctx, TilingError};
use tessera_dialects::{Operation, SymExpr};

/// The element count of a shape.
pub(crate) fn numel(shape: &[SymExpr]) -> SymExpr {
    shape.iter().fold(SymExpr::lit(1), |acc, d| acc.mul(d))
}

pub(super) fn reshape(ctx: &mut Ctx, op: &Operation) -> Result<(), TilingError> {
    let (x, y) = (ctx.buf(op.operands[0]), ctx.buf(op.results[0]));
    if !ctx.is_returned(op.results[0]) {
        ctx.alias(y, x);
        return Ok(());
    }
    let n = numel(&ctx.ty(x).shape);
    let input = Seen::viewed(ctx, x, vec![n.clone()]);
    let out = Seen::viewed(ctx, y, vec![n]);
    kernel(ctx, op, "reshape", &[input], &out, &|_, e: &[String], _| {
        e[0].clone()
    })
}
