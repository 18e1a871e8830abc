//! `tessera gen`: deterministic random values for every parameter of a function, so
//! that examples run out of the box (`--inputs` names go to .npy, the rest to --weights).

use crate::cli::args::GenArgs;
use crate::cli::data::{check_shape_names, concrete_shape, random_param, shapes_map, write_npy};
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
    // With --weights, the file is written even when empty, so a later `run --weights` works.
    if !weights.is_empty() || a.weights.is_some() {
        let Some(path) = &a.weights else {
            let names: Vec<&str> = weights.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::msg(format!(
                "parameters {} are not named by --inputs: give a --weights file for them",
                names.join(", ")
            )));
        };
        tessera_tensor::safetensors_io::write_safetensors_file(path, &weights)
            .map_err(|e| Error::msg(e.to_string()))?;
    }
    for (path, t) in &files {
        write_npy(path, t)?;
    }
    Ok(())
}
