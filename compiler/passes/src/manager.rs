//! The pass manager: runs passes in order, optionally printing the IR and verifying it
//! after each (`--print-ir-after-all`, `--verify-each`).

use crate::registry::{lookup, Pass};
use tessera_dialects::print::print_module;
use tessera_dialects::verify::verify_module;
use tessera_dialects::Module;

/// Why a pipeline stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassError {
    #[error("unknown pass `{0}`; the passes are: {1}")]
    Unknown(String, String),
    #[error("{0}")]
    Failed(String),
    #[error("the IR is invalid after `{pass}`:\n{errors}")]
    Invalid { pass: String, errors: String },
}

/// Runs a list of passes.
pub struct PassManager {
    passes: Vec<&'static Pass>,
    pub print_after_all: bool,
    pub verify_each: bool,
}

impl PassManager {
    /// A pipeline from pass names.
    pub fn new(names: &[&str]) -> Result<PassManager, PassError> {
        let mut passes = Vec::new();
        for n in names {
            let p = lookup(n).ok_or_else(|| {
                let all: Vec<&str> = crate::registry::PASSES.iter().map(|p| p.name).collect();
                PassError::Unknown(n.to_string(), all.join(", "))
            })?;
            passes.push(p);
        }
        Ok(PassManager {
            passes,
            print_after_all: false,
            verify_each: false,
        })
    }

    /// The default pipeline.
    pub fn default_pipeline() -> PassManager {
        PassManager::new(crate::registry::DEFAULT_PIPELINE)
            .expect("the default pipeline names known passes")
    }

    /// Runs the passes. With `print_after_all`, the IR after each pass is appended to the
    /// returned log, MLIR style; the log also holds each pass's summary line.
    pub fn run(&self, module: &mut Module) -> Result<String, PassError> {
        let mut log = String::new();
        for p in &self.passes {
            let summary = (p.run)(module)?;
            if self.verify_each {
                if let Err(errs) = verify_module(module) {
                    let errors: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
                    return Err(PassError::Invalid {
                        pass: p.name.to_string(),
                        errors: errors.join("\n"),
                    });
                }
            }
            if self.print_after_all {
                log.push_str(&format!(
                    "// -----// IR Dump After {} ({summary}) //----- //\n",
                    p.name
                ));
                log.push_str(&print_module(module));
                log.push('\n');
            }
        }
        Ok(log)
    }
}
