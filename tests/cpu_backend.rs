//! Every program we have that lowers to tile IR and whose kernels the Cranelift back end
//! compiles gives the graph interpreter's results on random inputs. A kernel the back end
//! does not compile yet must be refused with its "unsupported in the CPU back end" error
//! (or the lowering's "not lowered" one), never run wrongly; and the programs that compile
//! today must keep compiling.

mod common;

use common::{differential, Outcome};

#[test]
fn compiled_programs_match_the_graph_interpreter() {
    let (matched, refused) = differential(&|prog, f, xs| match prog.cpu_executable(f) {
        Ok(exe) => Ok(Outcome::Ran(exe.run(xs))),
        Err(e) => {
            let msg = e.to_string();
            if msg.contains("not lowered to tile IR yet")
                || msg.contains("unsupported in the CPU back end")
            {
                Ok(Outcome::Refused)
            } else {
                Err(format!("compilation failed: {msg}"))
            }
        }
    });
    assert!(
        matched.len() >= 96 && refused.is_empty(),
        "only {} functions compile: {refused:#?}",
        matched.len()
    );
}

/// The previous release's kernels (`--fusion basic`: no e-graph) and the unfused program
/// (`--fusion none`) still compile and match.
#[test]
fn basic_and_unfused_programs_match_the_graph_interpreter() {
    for fusion in [tessera::Fusion::Basic, tessera::Fusion::None] {
        let (matched, refused) = differential(&|prog, f, xs| {
            let mut prog = prog.clone();
            prog.fusion = fusion;
            match prog.cpu_executable(f) {
                Ok(exe) => Ok(Outcome::Ran(exe.run(xs))),
                Err(e) => Err(format!("compilation failed: {e}")),
            }
        });
        assert!(
            matched.len() >= 96 && refused.is_empty(),
            "{fusion:?}: only {} functions compile: {refused:#?}",
            matched.len()
        );
    }
}
