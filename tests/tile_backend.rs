//! Every program we have (examples, the conformance corpus, the checker's good files),
//! lowered to tile IR and run in the tile interpreter, gives the graph interpreter's results
//! on random inputs. A program that does not lower must fail with the "not lowered to tile
//! IR yet" error (docs/tiling.md lists what is lowered), and the programs that lower today
//! must keep lowering.

mod common;

use common::{differential, Outcome};

#[test]
fn lowered_programs_match_the_graph_interpreter() {
    let (matched, refused) = differential(&|prog, f, xs| match prog.tiled(f) {
        Ok(_) => Ok(Outcome::Ran(prog.run_tiled(f, xs))),
        Err(e) if e.to_string().contains("not lowered to tile IR yet") => Ok(Outcome::Refused),
        Err(e) => Err(format!("lowering failed: {e}")),
    });
    assert!(
        matched.len() >= 96 && refused.is_empty(),
        "only {} functions lower: {refused:#?}",
        matched.len()
    );
}
