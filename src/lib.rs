//! Tessera: the library facade over the compiler pipeline.
//!
//! ```text
//! .tsr --parse, check, lower (tessera-frontend)--> graph IR --passes (tessera-passes)--> graph IR
//!      --interpret (tessera-interp)--> tensors
//! ```
//! [`Program`] holds a checked source file; its methods select the entry function, run the
//! default pass pipeline and run the reference interpreter. Errors are [`Error`]s that
//! render with the source line underlined.

pub mod aot;
pub mod cpu;
pub mod dump;
pub mod error;
pub mod inputs;
pub mod precision;
pub mod repl;

pub use cpu::{CpuExecutable, F32Result, PreparedRun};
pub use error::Error;
pub use tessera_dialects as ir;
pub use tessera_frontend::Diagnostic;
pub use tessera_tensor::Tensor;

use std::collections::BTreeMap;
use std::path::Path;
use tessera_dialects::{Module, Span};
use tessera_frontend::ast;

/// Compiles function `func` of the `.tsr` file at `path` (by default its only function, or
/// `main`) to native code for this machine, ready to run many times:
///
/// ```no_run
/// let mlp = tessera::compile("examples/mlp.tsr", None)?;
/// # let (x, w1, b1, w2, b2, w3, b3) = (vec![0f32; 4 * 784], vec![0f32; 784 * 1024],
/// #     vec![0f32; 1024], vec![0f32; 1024 * 1024], vec![0f32; 1024], vec![0f32; 10240], vec![0f32; 10]);
/// let out = mlp.run_f32(&[
///     (&x, &[4, 784]), (&w1, &[784, 1024]), (&b1, &[1024]),
///     (&w2, &[1024, 1024]), (&b2, &[1024]), (&w3, &[1024, 10]), (&b3, &[10]),
/// ])?;
/// let (probs, shape) = &out[0]; // shape == [4, 10]
/// # Ok::<(), tessera::Error>(())
/// ```
pub fn compile(path: impl AsRef<Path>, func: Option<&str>) -> Result<CpuExecutable, Error> {
    let program = Program::load(path.as_ref())?;
    let name = program.entry(func)?;
    program.cpu_executable(&name)
}

/// A checked `.tsr` program.
#[derive(Debug, Clone)]
pub struct Program {
    pub file: String,
    pub src: String,
    pub ast: ast::Program,
    /// The graph IR as lowered, before any pass.
    pub module: Module,
    /// Who chooses the kernel boundaries before tiling.
    pub fusion: Fusion,
    /// Sizes of symbolic dimensions the cost model assumes (`--shapes`); others are 64.
    pub sizes: BTreeMap<String, i64>,
    /// The precision contractions are lowered to (`--precision`): applied after the
    /// default pipeline, so every back end (the interpreter included) runs the lowered
    /// program.
    pub precision: tessera_egraph::Precision,
    /// The lowering `--precision auto` chose ([`Program::choose_precision`]); it replaces
    /// its function after the default pipeline.
    pub auto: BTreeMap<String, precision::AutoChoice>,
    /// Functions that replace (or join) the module's after the default pipeline and the
    /// precision lowering: the two halves of a function split by weight hoisting.
    overrides: BTreeMap<String, tessera_dialects::Func>,
    /// When set, only the parameters of these names count as weights
    /// ([`Program::weight_params`]): `compile --weights` prepares (hoists, packs) only
    /// the weights it holds in the artifact.
    pub(crate) weight_names: Option<std::collections::BTreeSet<String>>,
}

/// Who chooses the kernel boundaries (`--fusion`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fusion {
    /// The e-graph optimiser: extraction by the cost model picks the kernels
    /// (`dump --ir graph-opt` shows them).
    #[default]
    EGraph,
    /// Only trivially safe elementwise chains and norm prologues, decided during tiling
    /// (the CPU back end of the previous release; for comparisons).
    Basic,
    /// No fusion at all: every operation its own kernel (for comparisons).
    None,
}

/// Reads a source file, as a user error when it cannot be read or is not UTF-8 (the error
/// names the line and column of the first bad byte). Bounded as
/// [`tessera_tensor::read::read_bounded`].
pub fn read_file(path: &Path) -> Result<String, Error> {
    let bytes = tessera_tensor::read::read_bounded(path)
        .map_err(|e| Error::msg(format!("cannot read `{}`: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        // Columns count characters, as the diagnostics do.
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let col = std::str::from_utf8(&good[line_start..]).map_or(0, |t| t.chars().count()) + 1;
        let bad = e.as_bytes()[good.len()];
        Error::msg(format!(
            "{}:{line}:{col}: the source is not UTF-8 (byte 0x{bad:02x})",
            path.display()
        ))
    })
}

impl Program {
    /// Parses, checks and lowers a source text.
    pub fn from_source(file: &str, src: &str) -> Result<Program, Error> {
        let source_error = |diags| Error::Source {
            file: file.to_string(),
            src: src.to_string(),
            diags,
        };
        let ast = tessera_frontend::parser::parse(src).map_err(source_error)?;
        let module = tessera_frontend::check::check_and_lower(&ast).map_err(source_error)?;
        Ok(Program {
            file: file.to_string(),
            src: src.to_string(),
            ast,
            module,
            fusion: Fusion::default(),
            sizes: BTreeMap::new(),
            precision: tessera_egraph::Precision::F32,
            auto: BTreeMap::new(),
            overrides: BTreeMap::new(),
            weight_names: None,
        })
    }

    /// Reads and compiles a `.tsr` file.
    pub fn load(path: &Path) -> Result<Program, Error> {
        let src = read_file(path)?;
        Program::from_source(&path.display().to_string(), &src)
    }

    /// The function `--fn` names; by default the only function, else `main`.
    pub fn entry(&self, name: Option<&str>) -> Result<String, Error> {
        let names: Vec<&str> = self.module.funcs.iter().map(|f| f.name.as_str()).collect();
        match name {
            Some(n) if names.contains(&n) => Ok(n.to_string()),
            Some(n) => Err(Error::msg(format!(
                "no function `{n}` in {}; its functions are: {}",
                self.file,
                names.join(", ")
            ))),
            None if names.len() == 1 => Ok(names[0].to_string()),
            None if names.contains(&"main") => Ok("main".to_string()),
            None => Err(Error::msg(format!(
                "{} has several functions and none is `main`; choose one with --fn: {}",
                self.file,
                names.join(", ")
            ))),
        }
    }

    /// The graph IR after the default pipeline (inline, canonicalize, cse, dce) and, with
    /// a precision other than `f32`, the e-graph's precision lowering of every graph
    /// function.
    pub fn optimized(&self) -> Result<Module, Error> {
        let mut m = self.module.clone();
        tessera_passes::PassManager::default_pipeline()
            .run(&mut m)
            .map_err(|e| Error::msg(e.to_string()))?;
        self.lower_precision(m)
    }

    /// [`Program::optimized`] for the one function `func`: the module holds only `func`,
    /// identical to its version in `optimized()`, in time linear in its inlined size (the
    /// other functions are not inlined themselves: a chain of 1000 calls inlines once, not
    /// 1000 times). What compiling or interpreting one function uses.
    pub fn optimized_for(&self, func: &str) -> Result<Module, Error> {
        let m = self.inlined_for(func)?;
        self.lower_precision(m)
    }

    /// [`Program::optimized_for`] before precision lowering: `func` inlined, after the
    /// default pipeline, with the source locations of the inlined operations.
    fn inlined_for(&self, func: &str) -> Result<Module, Error> {
        let mut m = self.module.clone();
        tessera_passes::inline::entry(&mut m, func).map_err(|e| Error::msg(e.to_string()))?;
        // The default pipeline after its `inline` (done above, for `func` only).
        let rest: Vec<&str> = tessera_passes::DEFAULT_PIPELINE
            .iter()
            .copied()
            .filter(|p| *p != "inline")
            .collect();
        tessera_passes::PassManager::new(&rest)
            .and_then(|pm| pm.run(&mut m))
            .map_err(|e| Error::msg(e.to_string()))?;
        Ok(m)
    }

    /// With a precision other than `f32`, the e-graph's precision lowering of every graph
    /// function of `m`.
    fn lower_precision(&self, mut m: Module) -> Result<Module, Error> {
        if self.precision != tessera_egraph::Precision::F32 {
            let opts = tessera_egraph::Options {
                precision: self.precision,
                ..Default::default()
            };
            for f in m.funcs.iter_mut() {
                if f.kind != tessera_dialects::FuncKind::Graph {
                    continue;
                }
                *f = tessera_egraph::lower_precision(f, &opts)
                    .map_err(|e| Error::msg(format!("precision lowering: {e}")))?
                    .0;
            }
        }
        for a in self.auto.values() {
            m = precision::with_func(&m, &a.lowered);
        }
        for f in self.overrides.values() {
            m = precision::with_func(&m, f);
        }
        Ok(m)
    }

    /// The span of parameter `index` of `func` (name and type), for input errors.
    pub fn param_span(&self, func: &str, index: usize) -> Option<Span> {
        let f = self.ast.funcs.iter().find(|f| f.name.name == func)?;
        let p = f.params.get(index)?;
        Some(p.name.span.join(p.ty.span))
    }

    /// An input error rendered against the parameter's declaration.
    pub fn input_error(&self, func: &str, e: inputs::InputError) -> Error {
        let span = e.param.and_then(|i| self.param_span(func, i));
        match span {
            Some(span) => Error::Source {
                file: self.file.clone(),
                src: self.src.clone(),
                diags: vec![Diagnostic::error(e.message).primary(span, "parameter declared here")],
            },
            None => Error::msg(e.message),
        }
    }

    /// Orders named tensors as the parameters of `func`.
    pub fn bind(
        &self,
        func: &str,
        inputs: BTreeMap<String, Tensor>,
        weights: BTreeMap<String, Tensor>,
    ) -> Result<Vec<Tensor>, Error> {
        let f = self.func(func)?;
        inputs::collect(f, inputs, weights).map_err(|e| self.input_error(func, e))
    }

    fn func(&self, name: &str) -> Result<&tessera_dialects::Func, Error> {
        self.module
            .func(name)
            .ok_or_else(|| Error::msg(format!("no function `{name}`")))
    }

    /// Compiles `func` for the reference interpreter: the graph IR after the default
    /// pipeline (calls inlined, so a call tree costs its size once, not per call path).
    pub fn executable(&self, func: &str) -> Result<Executable<'_>, Error> {
        self.func(func)?;
        Ok(Executable {
            program: self,
            module: self.optimized_for(func)?,
            func: func.to_string(),
        })
    }

    /// The graph IR after the default pipeline and the e-graph optimiser on `func`: the
    /// module with `func` replaced, and the optimiser's report (`dump --ir graph-opt`).
    pub fn graph_opt(&self, func: &str) -> Result<(Module, tessera_egraph::Report), Error> {
        self.func(func)?;
        self.graph_opt_of(func, self.optimized_for(func)?)
    }

    /// [`Program::graph_opt`] from `module`, which [`Program::optimized_for`] gave.
    fn graph_opt_of(
        &self,
        func: &str,
        mut module: Module,
    ) -> Result<(Module, tessera_egraph::Report), Error> {
        let opts = tessera_egraph::Options {
            sizes: tessera_egraph::cost::Sizes {
                bound: self.sizes.clone(),
                ..Default::default()
            },
            ..Default::default()
        };
        let f = module
            .funcs
            .iter_mut()
            .find(|f| f.name == func)
            .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
        let o = tessera_egraph::optimize(f, &opts)
            .map_err(|e| Error::msg(format!("e-graph optimiser: {e}")))?;
        *f = o.func;
        let mut report = o.report;
        report.func = func.to_string();
        Ok((module, report))
    }

    /// `dump --ir graph-opt`: the optimiser's summary as `//` comments, with `explain` the
    /// reasons for each kernel, then the optimised function.
    pub fn graph_opt_text(&self, func: &str, explain: bool) -> Result<String, Error> {
        let (module, report) = self.graph_opt(func)?;
        let f = module
            .func(func)
            .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
        let mut out = format!("// @{func}\n{}", report.summary());
        if explain {
            out.push_str(&report.explain());
            // With `auto`, the error on the calibration data replaces the one on random
            // inputs.
            match self.auto.get(func) {
                Some(a) => out.push_str(&a.report.explain(&|l| self.line_col(l))),
                None => {
                    if self.precision != tessera_egraph::Precision::F32 {
                        out.push_str(&self.fixed_precision_text(func)?);
                    }
                    out.push_str(&self.measured_error(func, &module)?)
                }
            }
        }
        out.push_str(&tessera_dialects::print::print_func(f));
        Ok(out)
    }

    /// `--explain`'s measurement: `func` of `module` (the optimised graph) against the f32
    /// graph before optimisation, both in the reference interpreter, on deterministic
    /// uniform inputs in [-1, 1] with symbolic sizes from `self.sizes` (4 for the others).
    /// The figure is normwise: the largest difference over the largest reference value.
    fn measured_error(&self, func: &str, module: &Module) -> Result<String, Error> {
        let f = module
            .func(func)
            .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
        let mut sizes = std::collections::BTreeMap::new();
        for p in &f.params {
            for d in f.tensor_ty(*p).map(|t| t.shape.clone()).unwrap_or_default() {
                for n in d.names() {
                    let v = self.sizes.get(&n).copied().unwrap_or(4);
                    sizes.insert(n, v);
                }
            }
        }
        let mut inputs = Vec::new();
        for (i, p) in f.params.iter().enumerate() {
            let t = f
                .tensor_ty(*p)
                .ok_or_else(|| Error::msg("a parameter is not a tensor"))?;
            let shape = inputs::shape_under(t, &sizes)
                .ok_or_else(|| Error::msg(format!("cannot size `{t}`")))?;
            inputs.push(
                tessera_tensor::random::uniform(t.dtype, &shape, -1.0, 1.0, 1000 + i as u64)
                    .map_err(|e| Error::msg(e.to_string()))?,
            );
        }
        let mut reference = self.clone();
        reference.precision = tessera_egraph::Precision::F32;
        reference.auto.clear();
        let want = reference.run_interp(func, inputs.clone())?;
        let got =
            tessera_interp::run_func(module, func, inputs).map_err(|e| Error::msg(e.message))?;
        let shown: Vec<String> = sizes.iter().map(|(n, v)| format!("{n}={v}")).collect();
        Ok(format!(
            "// measured in the interpreter on random inputs{}: max |optimised - f32 graph| / max |f32 graph| = {:.2e}\n",
            if shown.is_empty() {
                String::new()
            } else {
                format!(" ({})", shown.join(", "))
            },
            precision::normwise_error(&got, &want)
        ))
    }

    /// Lowers `func` (after the default pipeline and the fusion `self.fusion` names) to
    /// tile-IR kernels and their launch plan, with the schedule of this host.
    pub fn tiled(&self, func: &str) -> Result<tessera_tiling::Tiled, Error> {
        self.func(func)?;
        // Slices over symbolic sizes are checked as the function is written, its calls
        // inlined (the e-graph may fuse or move slices; their locations are the source's).
        let inlined = self.inlined_for(func)?;
        let slice_checks = match inlined.func(func) {
            Some(f) => tessera_tiling::checks::slice_checks(f, &|l| self.line_col(l)),
            None => Vec::new(),
        };
        // The graph IR that tiling lowers: after the fusion `self.fusion` names.
        let optimized = self.lower_precision(inlined)?;
        let module = match self.fusion {
            Fusion::EGraph => self.graph_opt_of(func, optimized)?.0,
            Fusion::Basic | Fusion::None => optimized,
        };
        let mut tiled = tessera_tiling::lower_func_with(
            &module,
            func,
            &tessera_tiling::Schedule::host(),
            if self.fusion == Fusion::None {
                tessera_tiling::FusionPolicy::None
            } else {
                tessera_tiling::FusionPolicy::Trivial
            },
        )
        .map_err(|e| match e.loc.0 {
            Some(span) => Error::Source {
                file: self.file.clone(),
                src: self.src.clone(),
                diags: vec![Diagnostic::error(e.message.clone()).primary(span, "this operation")],
            },
            None => Error::msg(e.message),
        })?;
        tiled.slice_checks = slice_checks;
        Ok(tiled)
    }

    /// [`Program::tiled`] after the scheduling pass: the kernels with the schedule
    /// attributes the CPU back end reads (`tessera dump --ir scheduled`).
    pub fn scheduled(&self, func: &str) -> Result<tessera_tiling::Tiled, Error> {
        Ok(tessera_tiling::schedule::apply(&self.tiled(func)?))
    }

    /// Lowers `func` to tile IR and runs its kernels in the reference interpreter: the
    /// lowering checked on real inputs, before any machine code.
    pub fn run_tiled(&self, func: &str, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        let tiled = self.tiled(func)?;
        // Inputs are checked against the signature first, with errors at the parameter,
        // then the sizes they bind (empty values, slices out of range), with errors at the
        // operation, as the CPU back end does (the plan's own checks stay as a backstop).
        self.func(func)?;
        let graph = self.optimized_for(func)?;
        let f = graph
            .func(func)
            .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
        if let Err(e) = tessera_interp::check_inputs_and_sizes(f, &inputs) {
            return Err(self.runtime_error(func, e));
        }
        tiled
            .execute(inputs, &mut |m, k, bufs, sizes| {
                tessera_interp::run_kernel(m, k, bufs, sizes).map_err(|e| e.message)
            })
            .map_err(Error::Message)
    }

    /// Lowers `func` to tile IR and compiles every kernel with Cranelift into one native
    /// program (an operation or dtype the back end does not compile is a clear error).
    ///
    /// With a lowered precision, the operations on weights alone (their quantisation,
    /// scales and casts) are hoisted into a second function that runs once, when
    /// [`CpuExecutable::prepare`] binds the inputs ([`Program::hoisted`]).
    pub fn cpu_executable(&self, func: &str) -> Result<CpuExecutable, Error> {
        let weights = self.weight_params(func)?;
        if let Some(h) = self.hoisted(func)? {
            let p = &h.program;
            // The weights `func` still takes as given and the hoisted ones (`bf16` or `f16`
            // with `--precision bf16|f16`) held in panels too, in their own dtype.
            let scheduled = p.scheduled(func)?;
            let held: std::collections::BTreeSet<usize> = h
                .kept
                .iter()
                .enumerate()
                .filter(|(_, i)| weights.contains(i))
                .map(|(j, _)| j)
                .chain(h.kept.len()..scheduled.params.len())
                .collect();
            let (tiled, _) = tessera_tiling::prepack::prepack_weights(&scheduled, &held);
            let main = CpuExecutable::new(p.clone(), func, tiled)?;
            let prep = CpuExecutable::new(p.clone(), &h.prep, p.scheduled(&h.prep)?)?;
            return Ok(main.with_weights(prep, h.kept, &weights));
        }
        // f32 weights held in the micro-kernel's column panels, packed once by `prepare`
        // (`tessera_tiling::prepack`).
        let (tiled, _) = tessera_tiling::prepack::prepack_weights(&self.scheduled(func)?, &weights);
        Ok(CpuExecutable::new(self.clone(), func, tiled)?.holding(weights.into_iter().collect()))
    }

    /// Compiles and runs `func` once in the reference interpreter.
    pub fn run_interp(&self, func: &str, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        self.executable(func)?.run(inputs)
    }

    /// A runtime error rendered at the parameter it concerns, else at the operation that
    /// raised it.
    pub fn runtime_error(&self, func: &str, e: tessera_interp::InterpError) -> Error {
        if let Some(param) = &e.param {
            let index = self
                .module
                .func(func)
                .and_then(|f| inputs::params(f).iter().position(|(n, _)| n == param));
            if index.is_some() {
                return self.input_error(
                    func,
                    inputs::InputError {
                        param: index,
                        message: e.message.clone(),
                    },
                );
            }
        }
        match e.loc.0 {
            Some(span) => Error::Source {
                file: self.file.clone(),
                src: self.src.clone(),
                diags: vec![
                    Diagnostic::error(e.message.clone()).primary(span, "while computing this")
                ],
            },
            None => Error::msg(e.message.clone()),
        }
    }
}

/// A function compiled for the reference interpreter, ready to run many times.
#[derive(Debug, Clone)]
pub struct Executable<'p> {
    program: &'p Program,
    module: Module,
    func: String,
}

impl Executable<'_> {
    /// The graph IR that runs.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Runs the function; input problems are reported at the parameter's declaration.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        tessera_interp::run_func(&self.module, &self.func, inputs)
            .map_err(|e| self.program.runtime_error(&self.func, e))
    }
}
