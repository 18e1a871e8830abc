//! `tessera compile`: functions ahead of time into a `.o`, `.a` or `.so` and a C header.

use crate::cli::args::{CompileArgs, Target};
use tessera::{Error, Program};

pub fn compile(a: CompileArgs) -> Result<(), Error> {
    if a.target == Target::Cuda {
        return Err(Error::msg(
            "the cuda target is not available yet: compile with --target cpu",
        ));
    }
    // Check the request before any work.
    tessera::aot::ArtifactKind::from_path(&a.output)?;
    if a.header.as_deref() == Some(a.output.as_path()) {
        return Err(Error::usage(format!(
            "the header and the output are the same file `{}`",
            a.output.display()
        )));
    }
    let mut sizes = std::collections::BTreeMap::new();
    for (name, value) in a.shapes.iter().flatten() {
        if let Some(prev) = sizes.insert(name.clone(), *value) {
            if prev != *value {
                return Err(Error::usage(format!(
                    "--shapes gives `{name}` twice: {prev} and {value}"
                )));
            }
        }
    }
    // A function named twice is compiled once.
    let mut funcs: Vec<String> = Vec::new();
    for f in &a.funcs {
        if !funcs.contains(f) {
            funcs.push(f.clone());
        }
    }
    let mut prog = Program::load(&a.file)?;
    prog.fusion = a.fusion.fusion();
    prog.sizes = sizes.clone();
    // Without --fn, the entry function (the only one, else `main`), as every command.
    let exported = if funcs.is_empty() {
        vec![prog.entry(None)?]
    } else {
        funcs.clone()
    };
    crate::cli::precision::apply(
        &mut prog,
        &exported,
        &a.precision,
        &Default::default(),
        &sizes,
    )?;
    let params: std::collections::BTreeSet<String> = exported
        .iter()
        .filter_map(|f| prog.module.func(f))
        .flat_map(|f| tessera::inputs::params(f).into_iter().map(|(n, _)| n))
        .collect();
    let (weights, unused) = match &a.weights {
        Some(path) => {
            let funcs: Vec<&str> = exported.iter().map(String::as_str).collect();
            crate::cli::data::read_weights(&prog, &funcs, path, &|n| params.contains(n))?
        }
        None => Default::default(),
    };
    check_fixed_sizes(&prog, &exported, &sizes)?;
    if weights.is_empty() && !unused.is_empty() {
        return Err(tessera::aot::weights_name_no_parameter(
            &exported,
            unused.iter(),
        ));
    }
    if !unused.is_empty() && !weights.is_empty() {
        let shown: Vec<&str> = unused.iter().take(10).map(|n| n.as_str()).collect();
        eprintln!(
            "note: {} tensor(s) of --weights name no parameter and are not held: {}{}",
            unused.len(),
            shown.join(", "),
            if unused.len() > 10 { ", ..." } else { "" }
        );
    }
    let artifact = prog.compile_aot_baked(&exported, &sizes, &weights)?;
    artifact.write(&a.output, a.header.as_deref())
}

/// With the sizes `--shapes` fixes, every parameter whose sizes are all known must fit in
/// memory: a byte count beyond `isize::MAX` can never be allocated, so no call could
/// succeed.
fn check_fixed_sizes(
    prog: &Program,
    funcs: &[String],
    sizes: &std::collections::BTreeMap<String, i64>,
) -> Result<(), Error> {
    for f in funcs.iter().filter_map(|f| prog.module.func(f)) {
        for (name, ty) in tessera::inputs::params(f) {
            let Ok(dims) = ty
                .shape
                .iter()
                .map(|d| d.eval_map(sizes))
                .collect::<Result<Vec<i64>, _>>()
            else {
                continue;
            };
            let bytes = dims.iter().try_fold(ty.dtype.size_bytes() as i64, |n, &d| {
                n.checked_mul(d.max(0))
            });
            if bytes.is_none_or(|b| b > isize::MAX as i64) {
                return Err(Error::msg(format!(
                    "with --shapes as given, parameter `{name}` of `{}` ({ty} with sizes {dims:?}) \
                     would hold more bytes than any allocation can",
                    f.name
                )));
            }
        }
    }
    Ok(())
}
