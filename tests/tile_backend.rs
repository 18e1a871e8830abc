//! Every program we have (examples and the conformance corpus), lowered to tile IR and run
//! in the tile interpreter, gives the graph interpreter's results on random inputs. A
//! program that does not lower must fail with the "not lowered to tile IR yet" error (the
//! operations still to do are listed in docs/tiling.md), and at least the programs that
//! lower today must keep lowering.

mod common;

use common::{mismatch, random_inputs, sources};
use tessera::Program;

#[test]
fn lowered_programs_match_the_graph_interpreter() {
    let (mut lowered, mut not_yet, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for path in sources() {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(&path).expect("readable");
        let Ok(prog) = Program::from_source(&name, &src) else {
            continue;
        };
        for f in &prog.module.funcs {
            match prog.tiled(&f.name) {
                Ok(_) => {}
                Err(e) if e.to_string().contains("not lowered to tile IR yet") => {
                    not_yet.push(format!("{name} @{}", f.name));
                    continue;
                }
                Err(e) => {
                    failures.push(format!("{name} @{}: lowering failed:\n{e}", f.name));
                    continue;
                }
            }
            let xs = random_inputs(&prog, &f.name, 3);
            match (
                prog.run_interp(&f.name, xs.clone()),
                prog.run_tiled(&f.name, xs),
            ) {
                (Ok(want), Ok(got)) => match mismatch(&got, &want) {
                    None => lowered.push(format!("{name} @{}", f.name)),
                    Some(m) => failures.push(format!("{name} @{}: {m}", f.name)),
                },
                (Err(_), Err(_)) => lowered.push(format!("{name} @{}", f.name)),
                (Ok(_), Err(e)) => {
                    failures.push(format!("{name} @{}: the tiled run failed: {e}", f.name))
                }
                (Err(e), Ok(_)) => failures.push(format!(
                    "{name} @{}: only the interpreter failed: {e}",
                    f.name
                )),
            }
        }
    }
    println!(
        "{} functions lowered and matched; not lowered yet: {}",
        lowered.len(),
        not_yet.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        lowered.len() >= 54,
        "only {} functions lower: {lowered:#?}\nnot yet: {not_yet:#?}",
        lowered.len()
    );
}
