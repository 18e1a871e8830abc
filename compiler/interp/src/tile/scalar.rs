//! The graph operations a kernel may apply to element values: those of a `tile.map`
//! region (and 0-d tensor arithmetic in a kernel body). Only elementwise operations are
//! accepted, so evaluating a region once on whole tiles (each operand's elements laid out
//! in the tile's shape) gives exactly the per-element results, with the graph kernels'
//! numerics.

use crate::kernels::KResult;
use tessera_dialects::{Attrs, GraphOp};
use tessera_tensor::Tensor;

/// Runs elementwise graph operation `g` on `a`.
pub(crate) fn elementwise(g: GraphOp, at: &Attrs, a: &[&Tensor]) -> KResult<Tensor> {
    crate::kernels::elementwise::apply(g, at, a).unwrap_or_else(|| {
        Err(format!(
            "graph.{} is not an elementwise operation; a kernel applies only elementwise \
             graph operations to elements",
            g.def().name
        ))
    })
}
