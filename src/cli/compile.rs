//! `tessera compile`: functions ahead of time into a `.o`, `.a` or `.so` and a C header.

use crate::cli::args::{CompileArgs, Target};
use crate::cli::data::shapes_map;
use tessera::{Error, Program};

pub fn compile(a: CompileArgs) -> Result<(), Error> {
    if a.target == Target::Cuda {
        return Err(Error::msg(
            "the cuda target is not available yet: compile with --target cpu",
        ));
    }
    // Check the output kind before any work.
    tessera::aot::ArtifactKind::from_path(&a.output)?;
    let prog = Program::load(&a.file)?;
    let artifact = prog.compile_aot(&a.funcs, &shapes_map(&a.shapes))?;
    artifact.write(&a.output, a.header.as_deref())
}
