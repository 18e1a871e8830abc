//! Every program we have that lowers to tile IR and whose kernels the Cranelift back end
//! compiles gives the graph interpreter's results on random inputs. A kernel the back end
//! does not compile yet must be refused with its "unsupported in the CPU back end" error,
//! never run wrongly; and the programs that compile today must keep compiling.

mod common;

use common::{mismatch, random_inputs, sources};
use tessera::Program;

#[test]
fn compiled_programs_match_the_graph_interpreter() {
    let (mut compiled, mut refused, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for path in sources() {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(&path).expect("readable");
        let Ok(prog) = Program::from_source(&name, &src) else {
            continue;
        };
        for f in &prog.module.funcs {
            let exe = match prog.cpu_executable(&f.name) {
                Ok(exe) => exe,
                Err(e) => {
                    let msg = e.to_string();
                    if msg.contains("not lowered to tile IR yet")
                        || msg.contains("unsupported in the CPU back end")
                    {
                        refused.push(format!("{name} @{}", f.name));
                    } else {
                        failures.push(format!("{name} @{}: compilation failed: {msg}", f.name));
                    }
                    continue;
                }
            };
            let xs = random_inputs(&prog, &f.name, 3);
            match (prog.run_interp(&f.name, xs.clone()), exe.run(xs)) {
                (Ok(want), Ok(got)) => match mismatch(&got, &want) {
                    None => compiled.push(format!("{name} @{}", f.name)),
                    Some(m) => failures.push(format!("{name} @{}: {m}", f.name)),
                },
                (Err(_), Err(_)) => compiled.push(format!("{name} @{}", f.name)),
                (Ok(_), Err(e)) => {
                    failures.push(format!("{name} @{}: the compiled run failed: {e}", f.name))
                }
                (Err(e), Ok(_)) => failures.push(format!(
                    "{name} @{}: only the interpreter failed: {e}",
                    f.name
                )),
            }
        }
    }
    println!(
        "{} functions compiled and matched; refused: {}",
        compiled.len(),
        refused.len()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        compiled.len() >= 40,
        "only {} functions compile: {refused:#?}",
        compiled.len()
    );
}
