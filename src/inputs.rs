//! Binding a function's parameters to tensors: dtypes, ranks and symbolic sizes checked,
//! with errors that name the parameter.

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

/// Checks `inputs` against the parameters and returns the bound size names.
pub fn bind_sizes(func: &Func, inputs: &[Tensor]) -> Result<BTreeMap<String, i64>, InputError> {
    let ps = params(func);
    if inputs.len() != ps.len() {
        return Err(InputError {
            param: None,
            message: format!(
                "`{}` takes {} inputs, {} were given",
                func.name,
                ps.len(),
                inputs.len()
            ),
        });
    }
    let mut bound: BTreeMap<String, (i64, usize)> = BTreeMap::new();
    for (i, ((name, ty), t)) in ps.iter().zip(inputs).enumerate() {
        if t.dtype() != ty.dtype {
            return Err(InputError {
                param: Some(i),
                message: format!(
                    "input `{name}` has dtype {} but the parameter is declared {ty}",
                    t.dtype()
                ),
            });
        }
        if t.rank() != ty.rank() {
            return Err(InputError {
                param: Some(i),
                message: format!(
                    "input `{name}` has shape {:?} (rank {}) but the parameter is declared {ty}",
                    t.shape(),
                    t.rank()
                ),
            });
        }
        for (d, &n) in ty.shape.iter().zip(t.shape()) {
            let Some(sym) = d.as_name() else { continue };
            let n = n as i64;
            match bound.get(sym) {
                Some(&(prev, j)) if prev != n => {
                    return Err(InputError {
                        param: Some(i),
                        message: format!(
                            "size `{sym}` is {n} in input `{name}` but {prev} in input `{}`",
                            ps[j].0
                        ),
                    });
                }
                Some(_) => {}
                None => {
                    bound.insert(sym.to_string(), (n, i));
                }
            }
        }
    }
    let sizes: BTreeMap<String, i64> = bound.into_iter().map(|(k, (v, _))| (k, v)).collect();
    for (i, ((name, ty), t)) in ps.iter().zip(inputs).enumerate() {
        for (d, &n) in ty.shape.iter().zip(t.shape()) {
            let want = d.eval_map(&sizes).map_err(|e| InputError {
                param: Some(i),
                message: format!("input `{name}`: {e}"),
            })?;
            if want != n as i64 {
                let how = if d.as_const().is_some() {
                    String::new()
                } else {
                    format!(" ({d} = {want})")
                };
                return Err(InputError {
                    param: Some(i),
                    message: format!(
                        "input `{name}` has shape {:?} but the parameter is declared {ty}{how}",
                        t.shape()
                    ),
                });
            }
        }
    }
    Ok(sizes)
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
