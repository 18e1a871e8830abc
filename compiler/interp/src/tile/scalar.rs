//! The graph operations a kernel may apply to element values: those of a `tile.map`
//! region (and 0-d tensor arithmetic in a kernel body). Only elementwise operations are
//! accepted, so evaluating a region once on whole tiles (each operand's elements laid out
//! in the tile's shape) gives exactly the per-element results, with the graph kernels'
//! numerics.

use crate::kernels::binary::{self, BinaryOp, CompareOp};
use crate::kernels::unary::{self, UnaryOp};
use crate::kernels::{quant, KResult};
use tessera_dialects::{Attrs, GraphOp};
use tessera_tensor::Tensor;

/// Runs elementwise graph operation `g` on `a`.
pub(crate) fn elementwise(g: GraphOp, at: &Attrs, a: &[&Tensor]) -> KResult<Tensor> {
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
    let dtype = || at.dtype("dtype").ok_or("missing dtype attribute `dtype`");
    match g {
        G::Constant => {
            arity(0)?;
            let value = at.get("value").ok_or("missing attribute `value`")?;
            quant::constant(value, dtype()?)
        }
        G::Cast => {
            arity(1)?;
            quant::cast(a[0], dtype()?)
        }
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
        G::Select => {
            arity(3)?;
            binary::select(a[0], a[1], a[2])
        }
        other => Err(format!(
            "graph.{} is not an elementwise operation; a kernel applies only elementwise \
             graph operations to elements",
            other.def().name
        )),
    }
}
