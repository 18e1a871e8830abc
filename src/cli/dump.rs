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
    let mut prog = crate::cli::load(&a.source)?;
    prog.sizes = crate::cli::data::shapes_map(&a.shapes)?;
    // A size no function uses is a mistake, as in the other commands.
    let used: std::collections::BTreeSet<String> = prog
        .module
        .funcs
        .iter()
        .flat_map(|f| tessera::inputs::params(f).into_iter())
        .flat_map(|(_, t)| t.shape.iter().flat_map(|d| d.names()).collect::<Vec<_>>())
        .collect();
    if let Some(k) = prog.sizes.keys().find(|k| !used.contains(*k)) {
        return Err(Error::msg(format!(
            "--shapes names `{k}`, which no parameter uses; the sizes are: {}",
            used.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    // `auto` chooses for one function: the one `--fn` names (or the only one, or `main`).
    let funcs = match a.precision.precision {
        crate::cli::args::Precision::Auto => vec![prog.entry(a.source.func.as_deref())?],
        _ => Vec::new(),
    };
    let sizes = prog.sizes.clone();
    crate::cli::precision::apply(&mut prog, &funcs, &a.precision, &Default::default(), &sizes)?;
    let text = tessera::dump::render(&prog, a.source.func.as_deref(), a.ir.into(), a.explain)?;
    crate::cli::out(text)
}
