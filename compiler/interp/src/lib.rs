//! The reference interpreter: runs graph IR on host tensors with NumPy semantics.
//!
//! It is the numerical oracle every backend is tested against, so it favours exactness
//! and clear semantics over speed (while keeping contiguous loops and precomputed strides).
//! [`run_func`] checks the inputs against the signature, binds symbolic sizes, evaluates the
//! body in order and checks every result against its declared type. The kernels are public
//! in [`kernels`]; their module documentation states the numerics (`f64` accumulation,
//! one rounding per result, wrapping integers, floor division).
//!
//! [`run_kernel`] runs a `tile.kernel` on host buffers with the same numerics; its
//! semantics (binding, scratch buffers, masking, `tile.dot` rounding) are in [`tile`].

mod attrs;
mod bind;
mod error;
mod exec;
pub mod kernels;
pub mod tile;

pub use error::InterpError;
pub use exec::{run_func, MAX_CALL_DEPTH};
pub use tile::run_kernel;

/// Checks `inputs` as [`check_inputs`] does, that every value of `func` has sizes of at
/// least 1 with the sizes they bind, and that every slice's bounds lie inside its operand:
/// what a native back end checks before running, since the interpreter finds an empty
/// value or a slice out of range only when it computes it.
pub fn check_inputs_and_sizes(
    func: &tessera_dialects::Func,
    inputs: &[tessera_tensor::Tensor],
) -> Result<(), InterpError> {
    let bound = bind::bind_inputs(func, inputs)?;
    fn walk(
        ops: &[tessera_dialects::Operation],
        func: &tessera_dialects::Func,
        bound: &bind::Bound,
    ) -> Result<(), InterpError> {
        for op in ops {
            for r in &op.results {
                let Some(ty) = func.tensor_ty(*r) else {
                    continue;
                };
                let dims = bind::eval_shape(&ty.shape, bound)
                    .map_err(|m| InterpError::new(format!("{}: {m}", op.op.full_name()), op.loc))?;
                if let Some((axis, v)) = dims.iter().enumerate().find(|(_, &v)| v < 1) {
                    return Err(InterpError::new(
                        format!(
                            "{}: the result would be empty (dimension {axis} is {v}); sizes must be at least 1",
                            op.op.full_name()
                        ),
                        op.loc,
                    ));
                }
            }
            if op.op == tessera_dialects::Op::Graph(tessera_dialects::GraphOp::Slice) {
                check_slice(op, func, bound)?;
            }
            for region in &op.regions {
                walk(&region.ops, func, bound)?;
            }
        }
        Ok(())
    }
    walk(&func.body.ops, func, &bound)
}

/// Checks the bounds of a `graph.slice` against its operand's sizes as bound, as computing
/// it would: slices over symbolic sizes are checked before anything runs.
fn check_slice(
    op: &tessera_dialects::Operation,
    func: &tessera_dialects::Func,
    bound: &bind::Bound,
) -> Result<(), InterpError> {
    let fail = |m: String| InterpError::new(format!("{}: {m}", op.op.full_name()), op.loc);
    let Some(ty) = op.operands.first().and_then(|&v| func.tensor_ty(v)) else {
        return Ok(());
    };
    let dims = bind::eval_shape(&ty.shape, bound).map_err(fail)?;
    let start = attrs::sizes(&op.attrs, "start", bound).map_err(fail)?;
    let end = attrs::sizes(&op.attrs, "end", bound).map_err(fail)?;
    match slice_bounds_error(&op.attrs, &dims, &start, &end) {
        Some(m) => Err(fail(m)),
        None => Ok(()),
    }
}

/// Why the bounds `start..end` (as evaluated) are not a slice of `dims`, naming the bounds
/// as the program wrote them (`attrs`) when they are expressions of sizes, or `None`.
pub(crate) fn slice_bounds_error(
    attrs: &tessera_dialects::Attrs,
    dims: &[i64],
    start: &[i64],
    end: &[i64],
) -> Option<String> {
    let written = |name: &str, axis: usize| match attrs.get(name) {
        Some(tessera_dialects::Attr::Sizes(v)) => v.get(axis).map(|e| e.to_string()),
        _ => None,
    };
    for (axis, ((&d, &s), &e)) in dims.iter().zip(start).zip(end).enumerate() {
        if let Some(m) = kernels::layout::slice_bounds(d, s, e, axis) {
            return Some(match (written("start", axis), written("end", axis)) {
                (Some(a), Some(b)) if a.parse::<i64>().is_err() || b.parse::<i64>().is_err() => {
                    format!("{m} (bounds {a}:{b})")
                }
                _ => m,
            });
        }
    }
    None
}

/// Checks `inputs` against `func`'s signature (count, dtypes, ranks, symbolic sizes)
/// without running it: the same checks, and errors, as [`run_func`].
pub fn check_inputs(
    func: &tessera_dialects::Func,
    inputs: &[tessera_tensor::Tensor],
) -> Result<(), InterpError> {
    bind::bind_inputs(func, inputs).map(|_| ())
}
