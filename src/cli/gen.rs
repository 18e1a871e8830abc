//! `tessera gen`: deterministic random values for every parameter of a function, so
//! that examples run out of the box (`--inputs` names go to .npy, the rest to --weights).

use crate::cli::args::GenArgs;
use crate::cli::data::{check_shape_names, concrete_shape, random_param, shapes_map};
use tessera::{Error, Tensor};

pub fn gen(a: GenArgs) -> Result<(), Error> {
    let prog = crate::cli::load(&a.source)?;
    let func = prog.entry(a.source.func.as_deref())?;
    let f = prog
        .module
        .func(&func)
        .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
    let params = tessera::inputs::params(f);
    let sizes = shapes_map(&a.shapes)?;
    check_shape_names(&func, &params, &sizes)?;
    // Every file once, every parameter once: a bad command line (status 2).
    let mut seen = std::collections::BTreeSet::new();
    for (i, b) in a.inputs.iter().enumerate() {
        if a.inputs[..i].iter().any(|p| p.name == b.name) {
            return Err(Error::usage(format!("--inputs {} is given twice", b.name)));
        }
        if !seen.insert(b.path.clone()) {
            return Err(Error::usage(format!(
                "`{}` is named twice as an output file",
                b.path.display()
            )));
        }
    }
    if let Some(w) = &a.weights {
        if seen.contains(w) {
            return Err(Error::usage(format!(
                "`{}` is named twice as an output file",
                w.display()
            )));
        }
    }
    for b in &a.inputs {
        if !params.iter().any(|(n, _)| *n == b.name) {
            let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::msg(format!(
                "`{func}` has no parameter `{}`; its parameters are {}",
                b.name,
                names.join(", ")
            )));
        }
    }
    let mut weights: Vec<(String, Tensor)> = Vec::new();
    let mut files = Vec::new();
    for (i, (name, ty)) in params.iter().enumerate() {
        let shape = concrete_shape(name, ty, &sizes)?;
        let t = random_param(ty, shape, a.seed, i)?;
        match a.inputs.iter().find(|b| b.name == *name) {
            Some(b) => files.push((b.path.clone(), t)),
            None => weights.push((name.clone(), t)),
        }
    }
    // Every file or none.
    let mut out = tessera_tensor::staged::Staged::new();
    // With --weights, the file is written even when empty, so a later `run --weights` works.
    if !weights.is_empty() || a.weights.is_some() {
        let Some(path) = &a.weights else {
            let names: Vec<&str> = weights.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::msg(format!(
                "parameters {} are not named by --inputs: give a --weights file for them",
                names.join(", ")
            )));
        };
        let bytes = tessera_tensor::safetensors_io::write_safetensors(&weights)
            .map_err(|e| Error::msg(e.to_string()))?;
        out.add(path, &bytes).map_err(Error::msg)?;
    }
    for (path, t) in &files {
        out.add(path, &tessera_tensor::npy::write_npy(t))
            .map_err(Error::msg)?;
    }
    out.commit().map_err(Error::msg)
}
