//! `--precision`, `--max-error` and `--calibrate`: the precision of a program's
//! contractions, chosen per contraction on calibration data with `auto`.

use crate::cli::args::{Binding, Calibration, Precision, PrecisionArgs};
use crate::cli::data::{concrete_shape, random_param, Named};
use std::collections::BTreeMap;
use tessera::{Error, Program, Tensor};

/// The budget of `--precision auto` without `--max-error`.
pub const DEFAULT_MAX_ERROR: f64 = 1e-2;

/// Applies `a` to `prog` for `funcs`: a fixed precision for every contraction, or with
/// `auto` the accuracy loop on calibration data. `bound` holds tensors the command binds
/// anyway (its inputs and weights), the calibration data of parameters `--calibrate`
/// does not give; `sizes` sizes random data for the rest.
pub fn apply(
    prog: &mut Program,
    funcs: &[String],
    a: &PrecisionArgs,
    bound: &Named,
    sizes: &BTreeMap<String, i64>,
) -> Result<(), Error> {
    prog.precision = a.precision.lowering();
    if a.precision != Precision::Auto {
        if a.max_error.is_some() || !a.calibrate.is_empty() {
            return Err(Error::usage(
                "--max-error and --calibrate go with --precision auto",
            ));
        }
        return Ok(());
    }
    let max_error = a.max_error.unwrap_or(DEFAULT_MAX_ERROR);
    if !(max_error.is_finite() && max_error >= 0.0) {
        return Err(Error::usage(format!(
            "--max-error must be a finite non-negative number, got {max_error}"
        )));
    }
    for func in funcs {
        check_names(prog, func, a)?;
    }
    let params: std::collections::BTreeSet<String> = funcs
        .iter()
        .filter_map(|f| prog.module.func(f))
        .flat_map(|f| tessera::inputs::params(f).into_iter().map(|(n, _)| n))
        .collect();
    let (given, files) = read(a, &|n| params.contains(n))?;
    // A calibration file of tensors must name some parameter of the functions calibrated.
    for (path, names) in files {
        {
            let named = funcs.iter().filter_map(|f| prog.module.func(f)).any(|f| {
                tessera::inputs::params(f)
                    .iter()
                    .any(|(n, _)| names.contains(n))
            });
            if !named {
                return Err(Error::msg(format!(
                    "--calibrate {}: none of its tensors ({}) names a parameter of {}",
                    path.display(),
                    names.into_iter().collect::<Vec<_>>().join(", "),
                    funcs.join(", ")
                )));
            }
        }
    }
    for func in funcs {
        let (data, known) = calibration(prog, func, &given, bound, sizes)?;
        // The cost model sizes symbolic dimensions as the calibration data does, unless
        // `--shapes` says otherwise.
        for (name, v) in known {
            prog.sizes.entry(name).or_insert(v);
        }
        let choice = prog.choose_precision(func, max_error, data)?;
        let forms: Vec<&str> = choice.report.sites.iter().map(|s| s.chosen).collect();
        eprintln!(
            "note: --precision auto for `{func}`: [{}] per contraction, error {:.2e} on the calibration \
             data (max-error {max_error:.2e}); `tessera dump --ir graph-opt --explain` says why",
            forms.join(", "),
            choice.report.error
        );
    }
    Ok(())
}

/// Rejects `--calibrate NAME=...` for a name that is not a parameter of `func`.
fn check_names(prog: &Program, func: &str, a: &PrecisionArgs) -> Result<(), Error> {
    let f = prog
        .module
        .func(func)
        .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
    let params = tessera::inputs::params(f);
    for c in &a.calibrate {
        if let Calibration::Param(Binding { name, .. }) = c {
            if !params.iter().any(|(n, _)| n == name) {
                let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
                return Err(Error::msg(format!(
                    "`{func}` has no parameter `{name}` (given by --calibrate); its parameters are {}",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// The tensor names of each `--calibrate` file of tensors.
type FileNames<'a> = Vec<(&'a std::path::Path, std::collections::BTreeSet<String>)>;

/// `--calibrate` files read: by parameter name, each read in full; and the names each file
/// of tensors holds.
fn read<'a>(
    a: &'a PrecisionArgs,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<(Named, FileNames<'a>), Error> {
    let mut out = Named::new();
    let mut files = Vec::new();
    for c in &a.calibrate {
        match c {
            Calibration::Param(Binding { name, path }) => {
                let t = tessera_tensor::npy::read_npy_file(path, None).map_err(|e| {
                    Error::msg(format!("--calibrate {name} ({}): {e}", path.display()))
                })?;
                if out.insert(name.clone(), t).is_some() {
                    return Err(Error::usage(format!("--calibrate {name} is given twice")));
                }
            }
            Calibration::Weights(path) => {
                let bytes = tessera_tensor::read::read_bounded(path)
                    .map_err(|e| Error::msg(format!("cannot read `{}`: {e}", path.display())))?;
                // Only the parameters' tensors are read (others may have any dtype).
                let (tensors, skipped) =
                    tessera_tensor::safetensors_io::read_safetensors_named(&bytes, wanted)
                        .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
                files.push((
                    path.as_path(),
                    tensors
                        .iter()
                        .map(|(n, _)| n.clone())
                        .chain(skipped)
                        .collect(),
                ));
                for (name, t) in tensors {
                    out.entry(name).or_insert(t);
                }
            }
        }
    }
    Ok((out, files))
}

/// A tensor per parameter of `func`: from `--calibrate`, else from `bound`, else random
/// (symbolic sizes from the given tensors' shapes, then `sizes`); and the sizes used.
fn calibration(
    prog: &Program,
    func: &str,
    given: &Named,
    bound: &Named,
    sizes: &BTreeMap<String, i64>,
) -> Result<(Vec<Tensor>, BTreeMap<String, i64>), Error> {
    let f = prog
        .module
        .func(func)
        .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
    let params = tessera::inputs::params(f);
    let mut known = sizes.clone();
    let pick = |name: &str| given.get(name).or_else(|| bound.get(name));
    for (name, ty) in &params {
        let Some(t) = pick(name) else { continue };
        for (d, &n) in ty.shape.iter().zip(t.shape()) {
            if let [s] = d.names().as_slice() {
                if d.to_string() == *s {
                    known.entry(s.clone()).or_insert(n as i64);
                }
            }
        }
    }
    let mut data = Vec::new();
    for (i, (name, ty)) in params.iter().enumerate() {
        let t = match pick(name) {
            Some(t) if t.dtype() != ty.dtype => {
                return Err(prog.input_error(
                    func,
                    tessera::inputs::InputError {
                        param: Some(i),
                        message: format!(
                            "calibration data for `{name}` is {}, the parameter is {ty}",
                            t.dtype()
                        ),
                    },
                ))
            }
            Some(t) => t.clone(),
            None => random_param(ty, concrete_shape(name, ty, &known)?, 0, i)?,
        };
        data.push(t);
    }
    Ok((data, known))
}
