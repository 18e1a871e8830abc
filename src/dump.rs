//! The IR levels of a program as text: what `tessera dump --ir LEVEL` prints and what the
//! REPL's `:ir LEVEL` prints, from this one function, so the two never differ.

use crate::{Error, Program};

/// An IR level that can be printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrLevel {
    /// The syntax tree.
    Ast,
    /// Graph IR as lowered from the source.
    Graph,
    /// The graph after equality saturation (the e-graph optimiser; not available yet).
    GraphOpt,
    /// Tile-IR kernels and the launch plan (after the default pass pipeline).
    Tile,
    /// The tile IR after the scheduling pass.
    Scheduled,
    /// The Cranelift IR of every kernel.
    Clif,
    /// GPU levels (not available yet).
    Mlir,
    Llvm,
    Ptx,
}

impl IrLevel {
    /// Every level, in pipeline order, with its name on the command line.
    pub const ALL: [(IrLevel, &'static str); 9] = [
        (IrLevel::Ast, "ast"),
        (IrLevel::Graph, "graph"),
        (IrLevel::GraphOpt, "graph-opt"),
        (IrLevel::Tile, "tile"),
        (IrLevel::Scheduled, "scheduled"),
        (IrLevel::Clif, "clif"),
        (IrLevel::Mlir, "mlir"),
        (IrLevel::Llvm, "llvm"),
        (IrLevel::Ptx, "ptx"),
    ];

    /// The level named `name` (`graph-opt`, ...).
    pub fn from_name(name: &str) -> Option<IrLevel> {
        IrLevel::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(l, _)| *l)
    }

    /// The level's name on the command line.
    pub fn name(self) -> &'static str {
        IrLevel::ALL
            .iter()
            .find(|(l, _)| *l == self)
            .map_or("?", |(_, n)| n)
    }
}

/// The graph IR after the e-graph optimiser (`--ir graph-opt`, and `:explain` in the REPL),
/// of `func` or of the entry function. The optimiser is not available yet: this is the one
/// place that says so.
pub fn graph_opt(_prog: &Program, _func: Option<&str>) -> Result<tessera_dialects::Module, Error> {
    Err(Error::msg(
        "the `graph-opt` level comes with the e-graph optimiser, which is not available yet: \
         `--ir graph` shows the graph IR, `--ir tile` and `--ir scheduled` its kernels",
    ))
}

/// The fusion and precision decisions for `func` (the REPL's `:explain`): the e-graph
/// optimiser's rewrites, then the kernels tiling made and the graph operations each one
/// computes.
pub fn explain(prog: &Program, func: &str) -> Result<String, Error> {
    let optimized = graph_opt(prog, Some(func))?;
    let mut out = String::from("graph after the e-graph optimiser:\n");
    if let Some(f) = optimized.func(func) {
        out.push_str(&tessera_dialects::print::print_func(f));
    }
    out.push_str("kernels:\n");
    for l in &prog.tiled(func)?.launches {
        out.push_str(&format!("  @{}  ({})\n", l.kernel, l.from));
    }
    Ok(out)
}

/// The text of one IR level of `prog`, exactly as `tessera dump --ir LEVEL [--fn NAME]`
/// prints it. `func` selects one function; without it, `ast` and `graph` print every
/// function and the other levels print the entry function ([`Program::entry`]).
pub fn render(prog: &Program, func: Option<&str>, level: IrLevel) -> Result<String, Error> {
    let selected = match func {
        Some(name) => Some(prog.entry(Some(name))?),
        None => None,
    };
    let entry = || prog.entry(func);
    match level {
        IrLevel::Ast => {
            let texts: Vec<String> = prog
                .ast
                .funcs
                .iter()
                .filter(|f| selected.as_ref().is_none_or(|n| *n == f.name.name))
                .map(tessera_frontend::ast_print::print_fn)
                .collect();
            Ok(texts.join("\n"))
        }
        IrLevel::Graph => match &selected {
            Some(name) => {
                let f = prog
                    .module
                    .func(name)
                    .ok_or_else(|| Error::msg(format!("no function `{name}`")))?;
                Ok(tessera_dialects::print::print_func(f))
            }
            None => Ok(tessera_dialects::print::print_module(&prog.module)),
        },
        IrLevel::GraphOpt => Ok(tessera_dialects::print::print_module(&graph_opt(
            prog,
            selected.as_deref(),
        )?)),
        IrLevel::Tile => Ok(prog.tiled(&entry()?)?.to_string()),
        IrLevel::Scheduled => Ok(prog.scheduled(&entry()?)?.to_string()),
        IrLevel::Clif => Ok(prog.cpu_executable(&entry()?)?.clif()),
        IrLevel::Mlir | IrLevel::Llvm | IrLevel::Ptx => Err(Error::msg(
            "the `mlir`, `llvm` and `ptx` levels come with the GPU back end, which is not \
             available yet: `--ir clif` shows the CPU back end's code",
        )),
    }
}
