//! Ahead-of-time compilation: functions of a program into an object file, a static library
//! or a shared library, with a C header declaring one entry point per function.
//!
//! ```text
//! let program = Program::load("examples/mlp.tsr".as_ref())?;
//! let artifact = program.compile_aot(&["mlp".to_string()], &BTreeMap::new())?;
//! artifact.write("model.so".as_ref(), Some("model.h".as_ref()))?;
//! ```
//!
//! The kind of file follows the extension: `.o` is the object itself; `.a` an archive of it
//! with a symbol index (written in-process); `.so` a shared library linked by the system C
//! compiler (`cc -shared`), whose runtime symbols resolve when the program that loads it
//! links the Tessera runtime. Every file is written atomically: on an error nothing is left.

use crate::{Error, Program};
use std::collections::BTreeMap;
use std::path::Path;
use tessera_codegen_cpu::{compile_object, JitBackend, ObjectArtifact};
use tessera_runtime::plan::Plan;

/// What `-o` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    Object,
    StaticLib,
    SharedLib,
}

impl ArtifactKind {
    /// The kind for an output path, from its extension.
    pub fn from_path(path: &Path) -> Result<ArtifactKind, Error> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("o") => Ok(ArtifactKind::Object),
            Some("a") => Ok(ArtifactKind::StaticLib),
            Some("so") => Ok(ArtifactKind::SharedLib),
            _ => Err(Error::msg(format!(
                "cannot tell what to write from `{}`: the output must end in .o, .a or .so",
                path.display()
            ))),
        }
    }
}

/// Compiled functions: an object file and its C header.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub object: ObjectArtifact,
    /// The source file, for the header's comment.
    pub source: String,
    /// The signature of each function as written in the source, for the header.
    pub signatures: Vec<String>,
}

impl Program {
    /// Compiles `funcs` (every function when empty) ahead of time for this machine's CPU.
    /// Sizes in `fixed` (`B` = 32) are fixed: the entry points accept only those sizes.
    pub fn compile_aot(
        &self,
        funcs: &[String],
        fixed: &BTreeMap<String, i64>,
    ) -> Result<Artifact, Error> {
        let names: Vec<String> = if funcs.is_empty() {
            self.module.funcs.iter().map(|f| f.name.clone()).collect()
        } else {
            for f in funcs {
                self.entry(Some(f))?;
            }
            funcs.to_vec()
        };
        if let Some(n) = names.iter().find(|n| {
            n.strip_suffix("_output_sizes")
                .is_some_and(|base| names.iter().any(|m| m == base))
        }) {
            return Err(Error::msg(format!(
                "`{n}` would clash with the output-size entry point of `{}`: rename it or compile them separately",
                n.trim_end_matches("_output_sizes")
            )));
        }
        let tiled = names
            .iter()
            .map(|n| self.scheduled(n))
            .collect::<Result<Vec<_>, _>>()?;
        for name in fixed.keys() {
            let known = names.iter().any(|f| {
                self.module.func(f).is_some_and(|func| {
                    crate::inputs::params(func)
                        .iter()
                        .any(|(_, ty)| ty.shape.iter().any(|d| d.names().contains(name)))
                })
            });
            if !known {
                return Err(Error::msg(format!(
                    "--shapes names `{name}`, which is not a size of any compiled function's parameters"
                )));
            }
        }
        let backend = JitBackend::new().map_err(|e| Error::msg(e.to_string()))?;
        let refs: Vec<&tessera_tiling::Tiled> = tiled.iter().collect();
        let object = compile_object(&backend, &self.file, &refs, fixed)
            .map_err(|e| Error::msg(format!("cannot compile: {e}")))?;
        let signatures = names.iter().map(|n| self.signature_text(n)).collect();
        Ok(Artifact {
            object,
            source: self.file.clone(),
            signatures,
        })
    }

    /// `name(x: f32[B, 784], ...) -> f32[B, 10]`, as the source writes it.
    fn signature_text(&self, name: &str) -> String {
        let Some(f) = self.ast.funcs.iter().find(|f| f.name.name == name) else {
            return name.to_string();
        };
        let start = f.name.span.start as usize;
        let text = self.src.get(start..).unwrap_or("");
        let head = text.split('{').next().unwrap_or(text);
        // Comments inside the signature are dropped.
        let head: Vec<&str> = head
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect();
        head.join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("( ", "(")
            .replace(" )", ")")
    }
}

/// C keywords (and names the header itself uses) that a parameter may not be called.
const C_RESERVED: &[&str] = &[
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    "bool",
    "true",
    "false",
    "class",
    "new",
    "delete",
    "this",
    "template",
    "typename",
    "namespace",
    "private",
    "public",
    "protected",
    "operator",
    "friend",
    "virtual",
    "TsrTensor",
];

/// A C identifier for a parameter name.
fn c_name(name: &str) -> String {
    if C_RESERVED.contains(&name) {
        format!("{name}_")
    } else {
        name.to_string()
    }
}

/// The type of a plan argument, `f32[B, 10]`.
fn arg_type(plan: &Plan, i: usize) -> String {
    let a = &plan.args[i];
    let dims: Vec<String> = a
        .dims
        .iter()
        .map(|&e| render_size(plan, &plan.exprs[e as usize]))
        .collect();
    if dims.is_empty() {
        a.dtype.name().to_string()
    } else {
        format!("{}[{}]", a.dtype.name(), dims.join(", "))
    }
}

/// A size expression in infix form for comments.
fn render_size(plan: &Plan, e: &tessera_runtime::plan::SizeExpr) -> String {
    use tessera_runtime::plan::SizeOp;
    let mut st: Vec<String> = Vec::new();
    for op in &e.0 {
        match op {
            SizeOp::Const(c) => st.push(c.to_string()),
            SizeOp::Sym(k) => st.push(plan.symbols[*k as usize].clone()),
            _ => {
                let b = st.pop().unwrap_or_default();
                let a = st.pop().unwrap_or_default();
                let sym = match op {
                    SizeOp::Add => "+",
                    SizeOp::Mul => "*",
                    _ => "/",
                };
                st.push(format!("({a} {sym} {b})"));
            }
        }
    }
    st.pop().unwrap_or_default()
}

impl Artifact {
    /// The C header declaring every entry point; `guard` names the include guard.
    pub fn header(&self, guard: &str) -> String {
        let mut h = String::new();
        h.push_str(&format!(
            "/* Generated by `tessera compile` from {}. Do not edit.\n",
            self.source
        ));
        h.push_str(
            " *\n * Link with the compiled object or library and the Tessera runtime\n \
             * (libtessera_runtime.a or libtessera_runtime.so); include runtime/include/ on the\n \
             * header path. Each function takes one TsrTensor descriptor per parameter (the\n \
             * inputs), then one per result (the outputs, allocated by the caller with the\n \
             * result's shape). Symbolic sizes are bound from the inputs at call time; every\n \
             * descriptor's dtype and shape is checked before anything runs. The return value is\n \
             * TSR_OK (0) or a TSR_* error code, with the message in tsr_last_error().\n */\n",
        );
        h.push_str(&format!("#ifndef {guard}\n#define {guard}\n\n"));
        h.push_str("#include <stdint.h>\n\n#include \"tessera_runtime.h\"\n\n");
        h.push_str("#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
        for (e, sig) in self.object.entries.iter().zip(&self.signatures) {
            let plan = &e.plan;
            h.push_str(&format!("/* {sig}\n"));
            let mut params = Vec::new();
            for (i, a) in plan.args.iter().enumerate() {
                let role = if a.output { "output" } else { "input" };
                h.push_str(&format!(" *   {}: {role} {}\n", a.name, arg_type(plan, i)));
                let qual = if a.output { "" } else { "const " };
                params.push(format!("{qual}TsrTensor *{}", c_name(&a.name)));
            }
            h.push_str(" */\n");
            h.push_str(&format!("int32_t {}({});\n", e.symbol, params.join(", ")));
            let outs: Vec<String> = plan
                .args
                .iter()
                .enumerate()
                .filter(|(_, a)| a.output)
                .map(|(i, a)| format!("{} ({} values)", a.name, plan.args[i].dims.len()))
                .collect();
            let n_sizes: usize = plan
                .args
                .iter()
                .filter(|a| a.output)
                .map(|a| a.dims.len())
                .sum();
            h.push_str(&format!(
                "/* The sizes of {} for these inputs, written to sizes[0..{n_sizes}]: to allocate the\n \
                 * outputs before calling {}. Checks the inputs' descriptors; reads no data. */\n",
                outs.join(", then "),
                e.symbol
            ));
            let mut inputs: Vec<String> = params
                .iter()
                .zip(&plan.args)
                .filter(|(_, a)| !a.output)
                .map(|(p, _)| p.clone())
                .collect();
            inputs.push("int64_t *sizes".to_string());
            h.push_str(&format!(
                "int32_t {}({});\n\n",
                tessera_codegen_cpu::sizes_symbol(&plan.name),
                inputs.join(", ")
            ));
        }
        h.push_str("#ifdef __cplusplus\n}\n#endif\n\n");
        h.push_str(&format!("#endif /* {guard} */\n"));
        h
    }

    /// Writes the artifact to `out` (its kind from the extension) and, if asked, the
    /// header.
    pub fn write(&self, out: &Path, header: Option<&Path>) -> Result<(), Error> {
        let kind = ArtifactKind::from_path(out)?;
        let bytes = match kind {
            ArtifactKind::Object => self.object.bytes.clone(),
            ArtifactKind::StaticLib => self.archive(out)?,
            ArtifactKind::SharedLib => self.shared_lib(out)?,
        };
        if let Some(h) = header {
            let guard = include_guard(h);
            tessera_tensor::npy::write_atomic(h, self.header(&guard).as_bytes())
                .map_err(Error::msg)?;
        }
        tessera_tensor::npy::write_atomic(out, &bytes).map_err(Error::msg)
    }

    /// A GNU archive holding the object, with a symbol index.
    fn archive(&self, out: &Path) -> Result<Vec<u8>, Error> {
        let stem = out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let member = ar_archive_writer::NewArchiveMember::new(
            self.object.bytes.as_slice(),
            &ar_archive_writer::DEFAULT_OBJECT_READER,
            format!("{stem}.o"),
        );
        let mut buf = std::io::Cursor::new(Vec::new());
        ar_archive_writer::write_archive_to_stream(
            &mut buf,
            &[member],
            ar_archive_writer::ArchiveKind::Gnu,
            false,
            None,
        )
        .map_err(|e| Error::msg(format!("cannot write the archive: {e}")))?;
        Ok(buf.into_inner())
    }

    /// A shared library linked by the system C compiler (`$CC`, else `cc`).
    fn shared_lib(&self, out: &Path) -> Result<Vec<u8>, Error> {
        let dir = tempfile::tempdir()
            .map_err(|e| Error::msg(format!("cannot create a temporary directory: {e}")))?;
        let obj = dir.path().join("model.o");
        let so = dir.path().join("model.so");
        std::fs::write(&obj, &self.object.bytes)
            .map_err(|e| Error::msg(format!("cannot write {}: {e}", obj.display())))?;
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let output = std::process::Command::new(&cc)
            .arg("-shared")
            .arg("-o")
            .arg(&so)
            .arg(&obj)
            .output()
            .map_err(|e| {
                Error::msg(format!(
                    "cannot run the C compiler `{cc}` to link {} (a shared library needs one; \
                     write a .o or .a instead, or set CC): {e}",
                    out.display()
                ))
            })?;
        if !output.status.success() {
            return Err(Error::msg(format!(
                "`{cc} -shared` failed to link {}:\n{}",
                out.display(),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        std::fs::read(&so).map_err(|e| Error::msg(format!("cannot read {}: {e}", so.display())))
    }
}

/// `MODEL_H` for `path/to/model.h`.
fn include_guard(path: &Path) -> String {
    let stem = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tessera_model.h".into());
    let mut g: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if g.starts_with(|c: char| c.is_ascii_digit()) {
        g.insert(0, '_');
    }
    g
}
