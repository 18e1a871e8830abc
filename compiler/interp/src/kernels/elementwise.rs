//! The elementwise graph operations (constants, casts, unary and binary functions,
//! comparisons, `select`) in one dispatch, shared by the graph evaluator and by the tile
//! interpreter's `tile.map` regions.

use super::binary::{self, BinaryOp, CompareOp};
use super::unary::{self, UnaryOp};
use super::{quant, KResult};
use tessera_dialects::{Attrs, GraphOp};
use tessera_tensor::Tensor;

/// Runs `g` on `a` when it is elementwise; `None` for every other operation.
pub fn apply(g: GraphOp, at: &Attrs, a: &[&Tensor]) -> Option<KResult<Tensor>> {
    use GraphOp as G;
    let n = a.len();
    let arity = |want: usize| -> KResult<()> {
        if n == want {
            Ok(())
        } else {
            Err(format!(
                "expects {want} operand{}, got {n}",
                if want == 1 { "" } else { "s" }
            ))
        }
    };
    let un = |u: UnaryOp| -> KResult<Tensor> {
        arity(1)?;
        unary::unary(u, a[0])
    };
    let bin = |b: BinaryOp| -> KResult<Tensor> {
        arity(2)?;
        binary::binary(b, a[0], a[1])
    };
    let cmp = |c: CompareOp| -> KResult<Tensor> {
        arity(2)?;
        binary::compare(c, a[0], a[1])
    };
    Some(match g {
        G::Constant => arity(0).and_then(|()| {
            let value = at.get("value").ok_or("missing attribute `value`")?;
            quant::constant(value, crate::attrs::dtype(at, "dtype")?)
        }),
        G::Cast => arity(1).and_then(|()| {
            let dtype = crate::attrs::dtype(at, "dtype")?;
            match at.str("round") {
                None => quant::cast(a[0], dtype),
                Some("arith") => quant::round_arith_tile(a[0], dtype),
                Some(r) => Err(format!("`round` must be \"arith\", got {r:?}")),
            }
        }),
        G::Neg => un(UnaryOp::Neg),
        G::Abs => un(UnaryOp::Abs),
        G::Exp => un(UnaryOp::Exp),
        G::Log => un(UnaryOp::Log),
        G::Sqrt => un(UnaryOp::Sqrt),
        G::Rsqrt => un(UnaryOp::Rsqrt),
        G::Recip => un(UnaryOp::Recip),
        G::Tanh => un(UnaryOp::Tanh),
        G::Sigmoid => un(UnaryOp::Sigmoid),
        G::Relu => un(UnaryOp::Relu),
        G::Gelu => un(UnaryOp::Gelu),
        G::GeluTanh => un(UnaryOp::GeluTanh),
        G::Silu => un(UnaryOp::Silu),
        G::Erf => un(UnaryOp::Erf),
        G::Add => bin(BinaryOp::Add),
        G::Sub => bin(BinaryOp::Sub),
        G::Mul => bin(BinaryOp::Mul),
        G::Div => bin(BinaryOp::Div),
        G::Max => bin(BinaryOp::Max),
        G::Min => bin(BinaryOp::Min),
        G::Pow => bin(BinaryOp::Pow),
        G::Lt => cmp(CompareOp::Lt),
        G::Le => cmp(CompareOp::Le),
        G::Gt => cmp(CompareOp::Gt),
        G::Ge => cmp(CompareOp::Ge),
        G::Eq => cmp(CompareOp::Eq),
        G::Ne => cmp(CompareOp::Ne),
        G::Select => arity(3).and_then(|()| binary::select(a[0], a[1], a[2])),
        _ => return None,
    })
}
