//! `tessera dump`: print an IR level of a program.

use crate::cli::args::{DumpArgs, IrLevel};
use tessera::Error;

pub fn dump(a: DumpArgs) -> Result<(), Error> {
    let prog = crate::cli::load(&a.source)?;
    let selected = match &a.source.func {
        Some(name) => Some(prog.entry(Some(name))?),
        None => None,
    };
    match a.ir {
        IrLevel::Ast => {
            let mut first = true;
            for f in &prog.ast.funcs {
                if selected.as_ref().is_none_or(|n| *n == f.name.name) {
                    if !first {
                        crate::cli::out("\n")?;
                    }
                    first = false;
                    crate::cli::out(tessera_frontend::ast_print::print_fn(f))?;
                }
            }
        }
        IrLevel::Tile => {
            let func = prog.entry(a.source.func.as_deref())?;
            crate::cli::out(prog.tiled(&func)?.to_string())?;
        }
        IrLevel::Scheduled => {
            let func = prog.entry(a.source.func.as_deref())?;
            crate::cli::out(prog.scheduled(&func)?.to_string())?;
        }
        IrLevel::Clif => {
            let func = prog.entry(a.source.func.as_deref())?;
            crate::cli::out(prog.cpu_executable(&func)?.clif())?;
        }
        IrLevel::GraphOpt => {
            let func = prog.entry(a.source.func.as_deref())?;
            crate::cli::out(prog.graph_opt_text(&func, a.explain)?)?;
        }
        IrLevel::Mlir | IrLevel::Llvm | IrLevel::Ptx => {
            return Err(Error::msg(
                "the `mlir`, `llvm` and `ptx` levels come with the GPU back end, which is not \
                 available yet: `--ir clif` shows the CPU back end's code",
            ))
        }
        IrLevel::Graph => match &selected {
            Some(name) => {
                let f = prog
                    .module
                    .func(name)
                    .ok_or_else(|| Error::msg(format!("no function `{name}`")))?;
                crate::cli::out(tessera_dialects::print::print_func(f))?;
            }
            None => crate::cli::out(tessera_dialects::print::print_module(&prog.module))?,
        },
    }
    Ok(())
}
