//! Tensor files for the CLI: reading inputs and weights, writing results, random data.

use crate::cli::args::{Binding, InputArgs};
use std::collections::BTreeMap;
use std::path::Path;
use tessera::{Error, Program, Tensor};
use tessera_dialects::TensorType;

/// Tensors by parameter name.
pub type Named = BTreeMap<String, Tensor>;

/// Reads `--input` and `--weights` for `func`; each input is read as its parameter's dtype.
pub fn load_named(prog: &Program, func: &str, io: &InputArgs) -> Result<(Named, Named), Error> {
    let f = prog
        .module
        .func(func)
        .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
    let params = tessera::inputs::params(f);
    let mut inputs = BTreeMap::new();
    for Binding { name, path } in &io.inputs {
        let Some(idx) = params.iter().position(|(n, _)| n == name) else {
            let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::msg(format!(
                "`{func}` has no parameter `{name}` (given by --input); its parameters are {}",
                names.join(", ")
            )));
        };
        let dtype = params[idx].1.dtype;
        let t = tessera_tensor::npy::read_npy_file(path, Some(dtype)).map_err(|e| {
            prog.input_error(
                func,
                tessera::inputs::InputError {
                    param: Some(idx),
                    message: format!("input `{name}` ({}): {e}", path.display()),
                },
            )
        })?;
        if inputs.insert(name.clone(), t).is_some() {
            return Err(Error::usage(format!("--input {name} is given twice")));
        }
    }
    let weights = match &io.weights {
        Some(path) => {
            // The parameters `--input` does not bind (it wins over the weights).
            let names: Vec<&str> = params
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| !inputs.contains_key(*n))
                .collect();
            read_weights(prog, &[func], path, &|n| names.contains(&n))?.0
        }
        None => BTreeMap::new(),
    };
    Ok((inputs, weights))
}

/// The tensors of a `.safetensors` file that `wanted` names, by name, and the names of the
/// others, which are not read, whatever their dtype. A wanted tensor of a dtype Tessera
/// does not have is an error at the parameter of that name (of the first of `funcs` that
/// has one).
pub fn read_weights(
    prog: &Program,
    funcs: &[&str],
    path: &Path,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<(Named, Vec<String>), Error> {
    use tessera_tensor::safetensors_io::{read_safetensors_named, SafetensorsError};
    let bytes = tessera_tensor::read::read_bounded(path)
        .map_err(|e| Error::msg(format!("cannot read `{}`: {e}", path.display())))?;
    let (tensors, skipped) = read_safetensors_named(&bytes, wanted).map_err(|e| {
        let message = format!("{}: {e}", path.display());
        let SafetensorsError::UnsupportedDtype { name, .. } = &e else {
            return Error::msg(message);
        };
        let at = funcs.iter().find_map(|f| {
            let params = tessera::inputs::params(prog.module.func(f)?);
            let idx = params.iter().position(|(n, _)| n == name)?;
            Some((*f, idx))
        });
        match at {
            Some((f, idx)) => prog.input_error(
                f,
                tessera::inputs::InputError {
                    param: Some(idx),
                    message,
                },
            ),
            None => Error::msg(message),
        }
    })?;
    Ok((tensors.into_iter().collect(), skipped))
}

/// Writes one tensor as .npy, atomically (no partial file on failure).
pub fn write_npy(path: &Path, t: &Tensor) -> Result<(), Error> {
    tessera_tensor::npy::write_npy_file(path, t).map_err(|e| Error::msg(e.to_string()))
}

/// The most elements a generated tensor may have (the interpreter's limit too).
const MAX_ELEMENTS: u128 = 1 << 31;

/// The concrete shape of a parameter type under `sizes`.
pub fn concrete_shape(
    name: &str,
    ty: &TensorType,
    sizes: &BTreeMap<String, i64>,
) -> Result<Vec<usize>, Error> {
    let shape: Vec<usize> = ty
        .shape
        .iter()
        .map(|d| {
            let v = d.eval_map(sizes).map_err(|e| {
                let hint = d.names().first().cloned().unwrap_or_else(|| "B".to_string());
                Error::msg(format!("parameter `{name}` ({ty}): {e}; give its sizes with --shapes, e.g. --shapes {hint}=4"))
            })?;
            usize::try_from(v)
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| Error::msg(format!("parameter `{name}`: size {d} = {v} is not positive")))
        })
        .collect::<Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128));
    match count {
        Some(n) if n <= MAX_ELEMENTS => Ok(shape),
        _ => Err(Error::msg(format!(
            "parameter `{name}` ({ty}) would have shape {shape:?}, more than 2^31 elements"
        ))),
    }
}

/// Rejects `--shapes` names that no parameter of the function uses (a likely typo).
pub fn check_shape_names(
    func: &str,
    params: &[(String, TensorType)],
    sizes: &BTreeMap<String, i64>,
) -> Result<(), Error> {
    let used: std::collections::BTreeSet<String> = params
        .iter()
        .flat_map(|(_, t)| t.shape.iter().flat_map(|d| d.names()))
        .collect();
    match sizes.keys().find(|k| !used.contains(*k)) {
        Some(k) => Err(Error::msg(format!(
            "--shapes names `{k}`, which no parameter of `{func}` uses; its sizes are: {}",
            used.into_iter().collect::<Vec<_>>().join(", ")
        ))),
        None => Ok(()),
    }
}

/// Deterministic random data for a parameter: normal floats scaled by 1/sqrt(fan-in)
/// (rank 4: O·H·W of OIHW weights; rank 2-3: the second-to-last size; else 1), small
/// uniform integers, fair booleans. Each parameter has its own stream from `seed`.
pub fn random_param(
    ty: &TensorType,
    shape: Vec<usize>,
    seed: u64,
    index: usize,
) -> Result<Tensor, Error> {
    let stream = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(index as u64 + 1);
    let fan_in = match shape.len() {
        4 => shape[1..].iter().product::<usize>(),
        2 | 3 => shape[shape.len() - 2],
        _ => 1,
    }
    .max(1);
    let d = ty.dtype;
    let t = if d.is_float() {
        tessera_tensor::random::normal(d, &shape, 0.0, 1.0 / (fan_in as f32).sqrt(), stream)
    } else if d.is_int() {
        tessera_tensor::random::uniform(d, &shape, -8.0, 8.0, stream)
    } else {
        tessera_tensor::random::uniform(d, &shape, 0.0, 1.0, stream)
    };
    t.map_err(|e| Error::msg(format!("cannot make random data of type {ty}: {e}")))
}

/// Merges `--shapes` occurrences; a name given two different values is a bad command line.
pub fn shapes_map(shapes: &[Vec<(String, i64)>]) -> Result<BTreeMap<String, i64>, Error> {
    let mut out = BTreeMap::new();
    for (name, value) in shapes.iter().flatten() {
        if let Some(prev) = out.insert(name.clone(), *value) {
            if prev != *value {
                return Err(Error::usage(format!(
                    "--shapes gives `{name}` twice: {prev} and {value}"
                )));
            }
        }
    }
    Ok(out)
}
