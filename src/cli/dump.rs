//! `tessera dump`: print an IR level of a program (the text comes from `tessera::dump`, which
//! the REPL's `:ir` uses too).

use crate::cli::args::{DumpArgs, IrLevel};
use tessera::dump::IrLevel as Level;
use tessera::Error;

impl From<IrLevel> for Level {
    fn from(l: IrLevel) -> Level {
        match l {
            IrLevel::Ast => Level::Ast,
            IrLevel::Graph => Level::Graph,
            IrLevel::GraphOpt => Level::GraphOpt,
            IrLevel::Tile => Level::Tile,
            IrLevel::Scheduled => Level::Scheduled,
            IrLevel::Clif => Level::Clif,
            IrLevel::Mlir => Level::Mlir,
            IrLevel::Llvm => Level::Llvm,
            IrLevel::Ptx => Level::Ptx,
        }
    }
}

pub fn dump(a: DumpArgs) -> Result<(), Error> {
    let prog = crate::cli::load(&a.source)?;
    let text = tessera::dump::render(&prog, a.source.func.as_deref(), a.ir.into(), a.explain)?;
    crate::cli::out(text)
}
