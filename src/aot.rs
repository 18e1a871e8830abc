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
//!
//! Weights can be held in the artifact ([`Program::compile_aot_baked`], `tessera compile
//! --weights FILE.safetensors`): every parameter the file names is then part of the object,
//! in the form the kernels read it (with a lowered precision, quantised or narrowed once
//! at compile time; `f32` matmul weights packed into the micro-kernel's panels), and the
//! entry point takes only the other parameters.

use crate::{Error, Program};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tessera_codegen_cpu::{compile_object, Baked, JitBackend, ObjectArtifact, ObjectFunction};
use tessera_runtime::plan::Plan;
use tessera_tensor::Tensor;

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
            _ => Err(Error::usage(format!(
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
    /// Per function, the parameters held in the artifact (`--weights`), in order.
    pub baked: Vec<Vec<String>>,
}

impl Program {
    /// Compiles `funcs` (every function when empty) ahead of time for this machine's CPU.
    /// Sizes in `fixed` (`B` = 32) are fixed: the entry points accept only those sizes.
    pub fn compile_aot(
        &self,
        funcs: &[String],
        fixed: &BTreeMap<String, i64>,
    ) -> Result<Artifact, Error> {
        self.compile_aot_baked(funcs, fixed, &BTreeMap::new())
    }

    /// [`Program::compile_aot`], holding the parameters named in `weights` in the artifact:
    /// each function's entry point takes only its other parameters. The work on weights
    /// alone (a lowered precision's quantisation, the packing of `f32` matmul weights) is
    /// done here, once, by running it on the host.
    pub fn compile_aot_baked(
        &self,
        funcs: &[String],
        fixed: &BTreeMap<String, i64>,
        weights: &BTreeMap<String, Tensor>,
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
        let prepared = names
            .iter()
            .map(|n| self.aot_function(n, fixed, weights))
            .collect::<Result<Vec<_>, _>>()?;
        if !weights.is_empty() && prepared.iter().all(|p| p.baked_names.is_empty()) {
            return Err(weights_name_no_parameter(&names, weights.keys()));
        }
        // A slice that the fixed sizes put out of range would refuse every call: an error
        // now, with the slice's location. (A check naming a size not fixed cannot be
        // evaluated here: `violation` refuses it, and the call checks it.)
        for c in prepared.iter().flat_map(|p| &p.tiled.slice_checks) {
            if let Ok(Some(m)) = c.violation(fixed) {
                return Err(Error::msg(format!("with --shapes as given, {m}")));
            }
        }
        let backend = JitBackend::new().map_err(|e| Error::msg(e.to_string()))?;
        let functions: Vec<ObjectFunction<'_>> = prepared
            .iter()
            .map(|p| ObjectFunction {
                tiled: &p.tiled,
                baked: p.baked.clone(),
                fixed: p.fixed.clone(),
            })
            .collect();
        let object = compile_object(&backend, &self.file, &functions, fixed)
            .map_err(|e| Error::msg(format!("cannot compile: {e}")))?;
        let signatures = names.iter().map(|n| self.signature_text(n)).collect();
        Ok(Artifact {
            object,
            source: self.file.clone(),
            signatures,
            baked: prepared.into_iter().map(|p| p.baked_names).collect(),
        })
    }

    /// Function `name` as tile IR, with the values of the parameters `weights` names
    /// prepared for the object: without any, the function as scheduled; with some, the
    /// function the JIT runs once its inputs are bound (hoisted weight work, packed
    /// weights; [`Program::cpu_executable`] with only those parameters as weights), and
    /// every argument of it that comes from them alone, computed now.
    fn aot_function(
        &self,
        name: &str,
        fixed: &BTreeMap<String, i64>,
        weights: &BTreeMap<String, Tensor>,
    ) -> Result<AotFunction, Error> {
        let func = self
            .module
            .func(name)
            .ok_or_else(|| Error::msg(format!("no function `{name}`")))?;
        let params = crate::inputs::params(func);
        let held: BTreeSet<usize> = (0..params.len())
            .filter(|&i| weights.contains_key(&params[i].0))
            .collect();
        if held.is_empty() {
            return Ok(AotFunction {
                tiled: self.scheduled(name)?,
                baked: Vec::new(),
                baked_names: Vec::new(),
                fixed: BTreeMap::new(),
            });
        }
        let mut p = self.clone();
        p.weight_names = Some(held.iter().map(|&i| params[i].0.clone()).collect());
        let exec = p.cpu_executable(name)?;
        // The held weights bind the sizes they name; the other parameters get zeros of
        // their declared shapes (1 for a size nothing binds), only so that the work on
        // weights can run: the function itself does not run here.
        let mut sizes = fixed.clone();
        for &i in &held {
            let shape = weights[&params[i].0].shape();
            for (d, &v) in params[i].1.shape.iter().zip(shape) {
                if let Some(n) = d.as_name() {
                    sizes.entry(n.to_string()).or_insert(v as i64);
                }
            }
        }
        let fixed_by_weights: BTreeSet<String> = sizes.keys().cloned().collect();
        let weight_sizes: BTreeMap<String, i64> = sizes
            .iter()
            .filter(|(n, _)| !fixed.contains_key(*n))
            .map(|(n, v)| (n.clone(), *v))
            .collect();
        let mut inputs = Vec::with_capacity(params.len());
        for (i, (pname, ty)) in params.iter().enumerate() {
            if held.contains(&i) {
                inputs.push(weights[pname].clone());
                continue;
            }
            for n in ty.shape.iter().flat_map(|d| d.names()) {
                sizes.entry(n).or_insert(1);
            }
            let shape = crate::inputs::shape_under(ty, &sizes).ok_or_else(|| {
                Error::msg(format!(
                    "cannot hold the weights of `{name}`: parameter `{pname}` ({ty}) has no \
                     positive shape with sizes {sizes:?}; fix them with --shapes"
                ))
            })?;
            inputs.push(Tensor::zeros(ty.dtype, shape).map_err(|e| Error::msg(e.to_string()))?);
        }
        let prepared = exec.prepared_inputs(inputs)?;
        let kept: Vec<usize> = match exec.kept() {
            Some(k) => k.to_vec(),
            None => (0..params.len()).collect(),
        };
        // Inputs of the compiled function: the kept parameters, then the hoisted values,
        // which come from held weights alone (only they were weights to hoist). A value
        // held must not depend on a size that only a taken input fixes.
        let tiled = exec.tiled();
        let mut baked = Vec::with_capacity(prepared.len());
        for (j, t) in prepared.iter().enumerate() {
            if !kept.get(j).is_none_or(|i| held.contains(i)) {
                baked.push(None);
                continue;
            }
            let ty = &tiled.buffers[tiled.params[j]].ty;
            if let Some(n) = ty
                .shape
                .iter()
                .flat_map(|d| d.names())
                .find(|n| !fixed_by_weights.contains(n))
            {
                return Err(Error::msg(format!(
                    "cannot hold the weights of `{name}`: a value computed from them ({ty}) \
                     has the size `{n}`, which no held weight fixes; fix it with --shapes {n}=..."
                )));
            }
            baked.push(Some(Baked {
                dtype: tessera_tensor::convert::runtime_dtype(t.dtype()),
                sizes: t.shape().iter().map(|&d| d as i64).collect(),
                bytes: tessera_codegen_cpu::run::to_bytes(t),
            }));
        }
        Ok(AotFunction {
            tiled: exec.tiled().clone(),
            baked,
            baked_names: held.iter().map(|&i| params[i].0.clone()).collect(),
            fixed: weight_sizes,
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

/// At most ten names, then how many more.
/// The error of `--weights` whose tensors name no parameter of the compiled functions
/// `funcs`.
pub fn weights_name_no_parameter<'a>(
    funcs: &[String],
    tensors: impl Iterator<Item = &'a String>,
) -> Error {
    Error::msg(format!(
        "the weights name no parameter of {}: their tensors are {}",
        funcs
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
        first_names(tensors)
    ))
}

fn first_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&String> = names.collect();
    let mut text = all
        .iter()
        .take(10)
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > 10 {
        text.push_str(&format!(" and {} more", all.len() - 10));
    }
    text
}

/// One function prepared for [`compile_object`].
struct AotFunction {
    tiled: tessera_tiling::Tiled,
    baked: Vec<Option<Baked>>,
    baked_names: Vec<String>,
    /// The sizes the held weights fix (the header shows them, the entry point checks
    /// them as constants).
    fixed: BTreeMap<String, i64>,
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
    // Macros and types of the standard headers a driver includes with this one.
    "NULL",
    "errno",
    "stdin",
    "stdout",
    "stderr",
    "EOF",
    "assert",
    "size_t",
    "int8_t",
    "int16_t",
    "int32_t",
    "int64_t",
    "uint8_t",
    "uint16_t",
    "uint32_t",
    "uint64_t",
    // The `_output_sizes` entry point's own parameter.
    "sizes",
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
        let none = Vec::new();
        for (k, (e, sig)) in self.object.entries.iter().zip(&self.signatures).enumerate() {
            let plan = &e.plan;
            h.push_str(&format!("/* {sig}\n"));
            let held = self.baked.get(k).unwrap_or(&none);
            if !held.is_empty() {
                h.push_str(&format!(
                    " *   held in the artifact (compiled with --weights): {}\n",
                    held.join(", ")
                ));
            }
            let mut params = Vec::new();
            // One C name per parameter: a program's `out0` or `sizes` must not meet the
            // outputs' or the sizes array's names.
            let mut taken = BTreeSet::new();
            let mut c_names = vec![String::new(); plan.args.len()];
            for (i, a) in plan.args.iter().enumerate() {
                if e.baked.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let role = if a.output { "output" } else { "input" };
                let mut name = c_name(&a.name);
                while !taken.insert(name.clone()) {
                    name.push('_');
                }
                h.push_str(&format!(" *   {name}: {role} {}\n", arg_type(plan, i)));
                let qual = if a.output { "" } else { "const " };
                params.push(format!("{qual}TsrTensor *{name}"));
                c_names[i] = name;
            }
            h.push_str(" */\n");
            h.push_str(&format!("int32_t {}({});\n", e.symbol, params.join(", ")));
            let outs: Vec<String> = plan
                .args
                .iter()
                .enumerate()
                .filter(|(_, a)| a.output)
                .map(|(i, a)| format!("{} ({} values)", c_names[i], a.dims.len()))
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
                .zip(
                    plan.args
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !e.baked.get(*i).copied().unwrap_or(false)),
                )
                .filter(|(_, (_, a))| !a.output)
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
        // Both files or neither.
        let mut files = tessera_tensor::staged::Staged::new();
        files.add(out, &bytes).map_err(Error::msg)?;
        if let Some(h) = header {
            let guard = include_guard(h);
            files
                .add(h, self.header(&guard).as_bytes())
                .map_err(Error::msg)?;
        }
        files.commit().map_err(Error::msg)
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
