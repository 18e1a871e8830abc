//! `tessera dump`: print an IR level of a program.

use crate::cli::args::{DumpArgs, IrLevel};
use tessera::{Error, Program};

pub fn dump(a: DumpArgs) -> Result<(), Error> {
    let prog = Program::load(&a.source.file)?;
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
                        println!();
                    }
                    first = false;
                    print!("{}", tessera_frontend::ast_print::print_fn(f));
                }
            }
        }
        IrLevel::Tile => {
            let func = prog.entry(a.source.func.as_deref())?;
            print!("{}", prog.tiled(&func)?);
        }
        IrLevel::Graph => match &selected {
            Some(name) => {
                let f = prog
                    .module
                    .func(name)
                    .ok_or_else(|| Error::msg(format!("no function `{name}`")))?;
                print!("{}", tessera_dialects::print::print_func(f));
            }
            None => print!("{}", tessera_dialects::print::print_module(&prog.module)),
        },
    }
    Ok(())
}
