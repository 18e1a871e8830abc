//! `tessera opt`: read graph IR (or a program), verify it, run passes, print the result.

use crate::cli::args::OptArgs;
use tessera::{Diagnostic, Error, Program};
use tessera_dialects::Module;
use tessera_passes::PassManager;

pub fn opt(a: OptArgs) -> Result<(), Error> {
    let file = a.file.display().to_string();
    let src = tessera::read_file(&a.file)?;
    let module = if a.file.extension().is_some_and(|e| e == "tsr") {
        Program::from_source(&file, &src)?.module
    } else {
        parse_tir(&file, &src)?
    };
    verify(&file, &src, &module, "the input")?;
    let names: Vec<String> = match &a.passes {
        Some(p) => p
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => tessera_passes::registry::DEFAULT_PIPELINE
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut pm = PassManager::new(&names).map_err(|e| Error::usage(e.to_string()))?;
    pm.print_after_all = a.print_ir_after_all;
    pm.verify_each = a.verify_each;
    let mut m = module;
    let log = pm.run(&mut m).map_err(|e| Error::msg(e.to_string()))?;
    if a.print_ir_after_all {
        crate::cli::out(&log)?;
    } else {
        crate::cli::out(tessera_dialects::print::print_module(&m))?;
    }
    Ok(())
}

fn parse_tir(file: &str, src: &str) -> Result<Module, Error> {
    tessera_dialects::parse::parse_module(src).map_err(|e| Error::Source {
        file: file.to_string(),
        src: src.to_string(),
        diags: vec![Diagnostic::error(e.message.clone()).primary(e.span, "here")],
    })
}

fn verify(file: &str, src: &str, m: &Module, what: &str) -> Result<(), Error> {
    let Err(errs) = tessera_dialects::verify::verify_module(m) else {
        return Ok(());
    };
    let diags = errs
        .iter()
        .map(|e| {
            let d = Diagnostic::error(format!("{what} is invalid: {}", e.message));
            match e.loc.0 {
                Some(span) => d.primary(span, "here"),
                None => d,
            }
        })
        .collect();
    Err(Error::Source {
        file: file.to_string(),
        src: src.to_string(),
        diags,
    })
}
