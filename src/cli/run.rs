//! `tessera run`: bind inputs, run, write or print the results.

use crate::cli::args::{Backend, RunArgs};
use crate::cli::data::{load_named, write_npy};
use tessera::Error;

pub fn run(a: RunArgs) -> Result<(), Error> {
    if let Some(e) = a.backend.and_then(Backend::unavailable) {
        return Err(e);
    }
    let mut prog = crate::cli::load(&a.source)?;
    let func = prog.entry(a.source.func.as_deref())?;
    let (inputs, weights) = load_named(&prog, &func, &a.io)?;
    let mut bound = weights.clone();
    bound.extend(inputs.iter().map(|(k, v)| (k.clone(), v.clone())));
    crate::cli::precision::apply(
        &mut prog,
        std::slice::from_ref(&func),
        &a.precision,
        &bound,
        &Default::default(),
    )?;
    let ordered = prog.bind(&func, inputs, weights)?;
    let results = match a.backend {
        Some(Backend::Interp) => prog.run_interp(&func, ordered)?,
        Some(Backend::Tile) => prog.run_tiled(&func, ordered)?,
        Some(Backend::Cpu | Backend::Gpu) => prog.cpu_executable(&func)?.run(ordered)?,
        None => match prog.cpu_executable(&func) {
            Ok(exe) => exe.run(ordered)?,
            Err(e) if e.is_unsupported() => {
                crate::cli::fallback_note(&func, &e);
                prog.run_interp(&func, ordered)?
            }
            Err(e) => return Err(e),
        },
    };
    if let Some(path) = &a.output {
        if results.len() != 1 {
            return Err(Error::usage(format!(
                "`{func}` has {} results: use --output-dir instead of --output",
                results.len()
            )));
        }
        return write_npy(path, &results[0]);
    }
    if let Some(dir) = &a.output_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::msg(format!("cannot create `{}`: {e}", dir.display())))?;
        return write_all(dir, &results);
    }
    for (i, t) in results.iter().enumerate() {
        if results.len() > 1 {
            crate::cli::out(format!("result {i}:") + "\n")?;
        }
        crate::cli::out(tessera_tensor::format::describe(t) + "\n")?;
        crate::cli::out(tessera_tensor::format::format_tensor(t, usize::MAX) + "\n")?;
    }
    Ok(())
}

/// Writes `out0.npy`, `out1.npy`, ... into `dir`, all or none: every result goes to a
/// temporary file in `dir` first, and only when all are written are they renamed into
/// place (a failure leaves no new file behind; temporaries delete themselves).
fn write_all(dir: &std::path::Path, results: &[tessera::Tensor]) -> Result<(), Error> {
    let mut staged = tessera_tensor::staged::Staged::new();
    for (i, t) in results.iter().enumerate() {
        let path = dir.join(format!("out{i}.npy"));
        staged
            .add(&path, &tessera_tensor::npy::write_npy(t))
            .map_err(Error::msg)?;
    }
    staged.commit().map_err(Error::msg)
}
