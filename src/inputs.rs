//! Binding a function's parameters to tensors by name, with errors that name the parameter.
//! Dtypes, ranks and symbolic sizes are checked by the back end that runs the function.

use std::collections::BTreeMap;
use tessera_dialects::{Func, TensorType};
use tessera_tensor::Tensor;

/// A problem with the tensor given for one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The parameter's position.
    pub param: Option<usize>,
    pub message: String,
}

/// The declared type of each parameter, with its name.
pub fn params(func: &Func) -> Vec<(String, TensorType)> {
    func.params
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let d = &func.values[v.index()];
            let name = d.name.clone().unwrap_or_else(|| format!("arg{i}"));
            let ty =
                d.ty.as_tensor()
                    .cloned()
                    .unwrap_or_else(|| TensorType::scalar(tessera_dialects::DType::F32));
            (name, ty)
        })
        .collect()
}

/// The concrete shape of `ty` under `sizes`: `None` when a size is unbound or not
/// positive.
pub fn shape_under(ty: &TensorType, sizes: &BTreeMap<String, i64>) -> Option<Vec<usize>> {
    ty.shape
        .iter()
        .map(|d| {
            d.eval_map(sizes)
                .ok()
                .and_then(|v| usize::try_from(v).ok())
                .filter(|&v| v >= 1)
        })
        .collect()
}

/// Orders named tensors as the function's parameters; `inputs` wins over `weights`.
pub fn collect(
    func: &Func,
    mut inputs: BTreeMap<String, Tensor>,
    mut weights: BTreeMap<String, Tensor>,
) -> Result<Vec<Tensor>, InputError> {
    let ps = params(func);
    let mut out = Vec::new();
    for (i, (name, ty)) in ps.iter().enumerate() {
        match inputs.remove(name).or_else(|| weights.remove(name)) {
            Some(t) => out.push(t),
            None => {
                return Err(InputError {
                    param: Some(i),
                    message: format!(
                        "no value for parameter `{name}` ({ty}): pass `--input {name}=FILE.npy` or a --weights file holding `{name}`"
                    ),
                })
            }
        }
    }
    if let Some(extra) = inputs.keys().next() {
        let names: Vec<&str> = ps.iter().map(|(n, _)| n.as_str()).collect();
        return Err(InputError {
            param: None,
            message: format!(
                "`{}` has no parameter `{extra}`; its parameters are {}",
                func.name,
                names.join(", ")
            ),
        });
    }
    Ok(out)
}
