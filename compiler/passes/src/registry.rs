//! The table of passes: each declared once with its name and what it does.

use crate::manager::PassError;
use tessera_dialects::Module;

/// A pass over a module. It returns a one-line summary of what it changed.
pub struct Pass {
    pub name: &'static str,
    pub summary: &'static str,
    pub run: fn(&mut Module) -> Result<String, PassError>,
}

/// Every pass, in the order of the default pipeline.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "inline",
        summary: "inline every graph.call (the callee's sizes bind to the caller's)",
        run: |m| {
            let n = crate::inline::run(m).map_err(|e| PassError::Failed(e.to_string()))?;
            Ok(format!("inlined {n} call(s)"))
        },
    },
    Pass {
        name: "canonicalize",
        summary: "local simplifications to a fixpoint (identity casts, reshapes, transposes, x*1, scalar folding), then DCE",
        run: |m| {
            let stats = crate::canonicalize::run(m);
            let fired: Vec<String> = stats
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(p, n)| format!("{p} x{n}"))
                .collect();
            Ok(if fired.is_empty() {
                "no pattern applied".into()
            } else {
                fired.join(", ")
            })
        },
    },
    Pass {
        name: "cse",
        summary: "merge identical pure operations",
        run: |m| Ok(format!("merged {} operation(s)", crate::cse::run(m))),
    },
    Pass {
        name: "dce",
        summary: "remove pure operations whose results are unused",
        run: |m| Ok(format!("removed {} operation(s)", crate::dce::run(m))),
    },
];

/// The default pipeline of `tessera opt` and of compilation.
pub const DEFAULT_PIPELINE: &[&str] = &["inline", "canonicalize", "cse", "dce"];

/// Looks a pass up by name.
pub fn lookup(name: &str) -> Option<&'static Pass> {
    PASSES.iter().find(|p| p.name == name)
}
