//! Binding a kernel's parameters: global buffers are checked against their `buf<...>`
//! types with the bound sizes and copied into host storage; scratch buffers are allocated;
//! 0-d tensor parameters are checked and kept as values.

use super::value::{checked_count, HostBuf, Val};
use crate::bind::param_name;
use crate::InterpError;
use std::collections::BTreeMap;
use tessera_dialects::{Func, MemSpace, SymExpr, Type};
use tessera_tensor::Tensor;

/// Evaluates a size expression with the caller's bindings.
pub(crate) fn eval_size(e: &SymExpr, sizes: &BTreeMap<String, i64>) -> Result<i64, String> {
    e.eval_map(sizes)
        .map_err(|err| format!("size `{e}`: {err}"))
}

/// Evaluates a declared buffer shape; every size must be non-negative.
fn eval_shape(shape: &[SymExpr], sizes: &BTreeMap<String, i64>) -> Result<Vec<usize>, String> {
    shape
        .iter()
        .map(|e| {
            let v = eval_size(e, sizes)?;
            usize::try_from(v).map_err(|_| format!("size `{e}` is {v}, which is negative"))
        })
        .collect()
}

/// The parameters bound: the value of each parameter, and the buffer table.
pub(crate) struct Bound {
    pub params: Vec<Val>,
    pub bufs: Vec<HostBuf>,
    /// For each buffer, the parameter it came from (to write global buffers back).
    pub origin: Vec<usize>,
}

/// Checks `buffers` against `func`'s parameters and binds them.
pub(crate) fn bind_params(
    func: &Func,
    buffers: &[Tensor],
    sizes: &BTreeMap<String, i64>,
) -> Result<Bound, InterpError> {
    let loc = func.loc;
    if buffers.len() != func.params.len() {
        return Err(InterpError::new(
            format!(
                "kernel `{}` takes {} buffer{}, got {}",
                func.name,
                func.params.len(),
                if func.params.len() == 1 { "" } else { "s" },
                buffers.len()
            ),
            loc,
        ));
    }
    let mut out = Bound {
        params: Vec::new(),
        bufs: Vec::new(),
        origin: Vec::new(),
    };
    for (i, (p, t)) in func.params.iter().zip(buffers).enumerate() {
        let name = param_name(func, i);
        let err = |m: String| InterpError::input(format!("parameter `{name}`: {m}"), loc, &name);
        let ty = func
            .values
            .get(p.index())
            .map(|d| &d.ty)
            .ok_or_else(|| err("not in the value table".into()))?;
        match ty {
            Type::Buffer(bt) => {
                let shape = eval_shape(&bt.elem.shape, sizes).map_err(&err)?;
                let matches = t.dtype() == bt.elem.dtype && t.shape() == shape.as_slice();
                if bt.space == MemSpace::Global {
                    if !matches {
                        return Err(err(format!(
                            "expects `{bt}` = {} {shape:?}, got a {} tensor of shape {:?}",
                            bt.elem.dtype,
                            t.dtype(),
                            t.shape()
                        )));
                    }
                    out.params.push(Val::Buf(out.bufs.len()));
                    out.bufs.push(HostBuf {
                        dtype: t.dtype(),
                        shape,
                        data: t.data().clone(),
                        private: false,
                    });
                } else {
                    if !matches && !t.is_empty() {
                        return Err(err(format!(
                            "expects `{bt}` = {} {shape:?} or an empty placeholder, got a {} \
                             tensor of shape {:?}",
                            bt.elem.dtype,
                            t.dtype(),
                            t.shape()
                        )));
                    }
                    checked_count(&shape).map_err(|m| err(format!("scratch buffer: {m}")))?;
                    out.params.push(Val::Buf(out.bufs.len()));
                    out.bufs
                        .push(HostBuf::poisoned(bt.elem.dtype, shape).map_err(&err)?);
                }
                out.origin.push(i);
            }
            Type::Tensor(tt) if tt.rank() == 0 => {
                if t.dtype() != tt.dtype || t.rank() != 0 {
                    return Err(err(format!(
                        "expects a 0-d {} tensor, got a {} tensor of shape {:?}",
                        tt.dtype,
                        t.dtype(),
                        t.shape()
                    )));
                }
                out.params.push(Val::Tensor(t.clone()));
            }
            other => {
                return Err(err(format!(
                    "has type `{other}`; a kernel parameter must be a buffer or a 0-d tensor"
                )))
            }
        }
    }
    Ok(out)
}
