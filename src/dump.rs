//! The IR levels of a program as text: what `tessera dump --ir LEVEL` prints and what the
//! REPL's `:ir LEVEL` and `:explain` print, from these functions, so the two never differ.

use crate::{Error, Program};

/// An IR level that can be printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrLevel {
    /// The syntax tree.
    Ast,
    /// Graph IR as lowered from the source.
    Graph,
    /// The graph after the e-graph optimiser, with its summary.
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

/// The fusion and precision decisions for `func` (the REPL's `:explain`): what
/// `tessera dump --ir graph-opt --explain` prints, the e-graph optimiser's summary, the
/// reasons for each kernel, then the optimised function.
pub fn explain(prog: &Program, func: &str) -> Result<String, Error> {
    prog.graph_opt_text(func, true)
}

/// The text of one IR level of `prog`, exactly as `tessera dump --ir LEVEL [--fn NAME]
/// [--explain]` prints it, for the function `func` names, else the entry function
/// ([`Program::entry`]: the only one, else `main`); `graph` adds the functions it calls.
/// `explain` adds the optimiser's reasons for each kernel to `graph-opt`.
pub fn render(
    prog: &Program,
    func: Option<&str>,
    level: IrLevel,
    explain: bool,
) -> Result<String, Error> {
    // Every level shows one function: `--fn`, else the only one, else `main` (DSL.md).
    let entry = || prog.entry(func);
    match level {
        IrLevel::Ast => {
            let name = entry()?;
            let texts: Vec<String> = prog
                .ast
                .funcs
                .iter()
                .filter(|f| f.name.name == name)
                .map(tessera_frontend::ast_print::print_fn)
                .collect();
            Ok(texts.join("\n"))
        }
        IrLevel::Graph => {
            // The entry function and the functions it calls, in the module's order: a
            // module that `tessera opt` reads back.
            let name = entry()?;
            let mut keep = std::collections::BTreeSet::from([name.clone()]);
            let mut todo = vec![name];
            while let Some(n) = todo.pop() {
                let Some(f) = prog.module.func(&n) else {
                    return Err(Error::msg(format!("no function `{n}`")));
                };
                let calls = f.body.ops.iter().filter(|o| {
                    o.op == tessera_dialects::Op::Graph(tessera_dialects::GraphOp::Call)
                });
                for callee in calls.filter_map(|o| o.attrs.symbol("callee")) {
                    if keep.insert(callee.to_string()) {
                        todo.push(callee.to_string());
                    }
                }
            }
            let mut m = prog.module.clone();
            m.funcs.retain(|f| keep.contains(&f.name));
            Ok(tessera_dialects::print::print_module(&m))
        }
        IrLevel::GraphOpt => prog.graph_opt_text(&entry()?, explain),
        IrLevel::Tile => Ok(prog.tiled(&entry()?)?.to_string()),
        IrLevel::Scheduled => Ok(prog.scheduled(&entry()?)?.to_string()),
        IrLevel::Clif => Ok(prog.cpu_executable(&entry()?)?.clif()),
        IrLevel::Mlir | IrLevel::Llvm | IrLevel::Ptx => Err(Error::msg(
            "the `mlir`, `llvm` and `ptx` levels come with the GPU back end, which is not \
             available yet: `--ir clif` shows the CPU back end's code",
        )),
    }
}
