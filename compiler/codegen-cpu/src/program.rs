//! A whole tiled function compiled for the CPU: every kernel into one Cranelift module, and
//! its launch plan into the runtime's form ([`tessera_runtime::plan::Plan`]), which the
//! runtime's executor runs ([`tessera_runtime::exec::run_plan`]). The JIT ([`JitProgram`])
//! and object files ([`crate::object`]) share this: the same plan, the same kernels, the
//! same executor, so every JIT test also tests what an ahead-of-time artifact does.

use crate::abi::{KernelFn, ParamKind, Signature};
use crate::error::{invalid, CodegenError, Result};
use crate::jit::{cl_err, define_kernel, DefinedKernel, JitBackend};
use cranelift_jit::JITModule;
use cranelift_module::Linkage;
use tessera_dialects::{SymExpr, SymNode};
use tessera_runtime::plan::{
    ArgSpec, BufSpec, KernelArg, LaunchSpec, Plan, SizeExpr, SizeOp, SliceSpec,
};
use tessera_runtime::TsrTensor;
use tessera_tiling::{BufKind, Tiled};

/// The runtime dtype of a dialect dtype.
fn rt_dtype(d: tessera_dialects::DType) -> tessera_runtime::DType {
    tessera_tensor::convert::runtime_dtype(d)
}

/// Interns symbols and size expressions for a plan.
#[derive(Default)]
struct Sizes {
    symbols: Vec<String>,
    exprs: Vec<SymExpr>,
    code: Vec<SizeExpr>,
}

impl Sizes {
    fn expr(&mut self, e: &SymExpr) -> u32 {
        if let Some(i) = self.exprs.iter().position(|x| x == e) {
            return i as u32;
        }
        let mut code = Vec::new();
        for node in e.postfix() {
            code.push(match node {
                SymNode::Const(c) => SizeOp::Const(c),
                SymNode::Name(n) => SizeOp::Sym(self.symbol(n)),
                SymNode::Add => SizeOp::Add,
                SymNode::Mul => SizeOp::Mul,
                SymNode::FloorDiv => SizeOp::FloorDiv,
            });
        }
        self.exprs.push(e.clone());
        self.code.push(SizeExpr(code));
        (self.exprs.len() - 1) as u32
    }

    fn symbol(&mut self, n: &str) -> u32 {
        match self.symbols.iter().position(|s| s == n) {
            Some(i) => i as u32,
            None => {
                self.symbols.push(n.to_string());
                (self.symbols.len() - 1) as u32
            }
        }
    }

    fn exprs(&mut self, es: &[SymExpr]) -> Vec<u32> {
        es.iter().map(|e| self.expr(e)).collect()
    }
}

/// The name of output `i` in plans, headers and messages.
pub fn output_name(i: usize) -> String {
    format!("out{i}")
}

/// Builds the runtime plan of `tiled` whose kernels (in `tiled.kernels.funcs` order) have
/// the signatures `sigs`. Arguments are the function's parameters, then one output per
/// result, which the kernels write in place (a result that is a parameter, or a value
/// returned twice, is copied).
pub fn build_plan(tiled: &Tiled, sigs: &[Signature]) -> Result<Plan> {
    let mut sz = Sizes::default();
    // Parameters' own dimensions first, so their symbols come first and in order.
    let mut args = Vec::new();
    for &b in &tiled.params {
        let info = &tiled.buffers[b];
        args.push(ArgSpec {
            name: info.name.clone(),
            dtype: rt_dtype(info.ty.dtype),
            dims: sz.exprs(&info.ty.shape),
            output: false,
        });
    }
    let mut buffers: Vec<Option<BufSpec>> = vec![None; tiled.buffers.len()];
    for (i, &b) in tiled.params.iter().enumerate() {
        buffers[b] = Some(BufSpec::Arg(i as u32));
    }
    let mut copies = Vec::new();
    let mut extra = Vec::new();
    for (i, &b) in tiled.results.iter().enumerate() {
        let info = &tiled.buffers[b];
        let arg = args.len() as u32;
        args.push(ArgSpec {
            name: output_name(i),
            dtype: rt_dtype(info.ty.dtype),
            dims: sz.exprs(&info.ty.shape),
            output: true,
        });
        if info.kind == BufKind::Param || buffers[b].is_some() {
            copies.push((b as u32, (tiled.buffers.len() + extra.len()) as u32));
            extra.push(BufSpec::Arg(arg));
        } else {
            buffers[b] = Some(BufSpec::Arg(arg));
        }
    }
    let mut all = Vec::with_capacity(buffers.len() + extra.len());
    for (b, spec) in buffers.into_iter().enumerate() {
        all.push(match spec {
            Some(s) => s,
            None => {
                let info = &tiled.buffers[b];
                BufSpec::Temp {
                    dtype: rt_dtype(info.ty.dtype),
                    dims: sz.exprs(&info.ty.shape),
                }
            }
        });
    }
    all.extend(extra);
    let mut launches = Vec::new();
    for l in &tiled.launches {
        let Some(k) = tiled.kernels.funcs.iter().position(|f| f.name == l.kernel) else {
            return invalid(format!("launch of unknown kernel `{}`", l.kernel));
        };
        let sig = &sigs[k];
        let n_bound = sig
            .params
            .iter()
            .filter(|p| !matches!(p, ParamKind::Private { .. }))
            .count();
        // Launches list either every parameter, or only those that are not private.
        let every = l.args.len() == sig.params.len();
        if !every && l.args.len() != n_bound {
            return invalid(format!(
                "launch of `{}` passes {} buffers for {} parameters",
                l.kernel,
                l.args.len(),
                sig.params.len()
            ));
        }
        let mut next = l.args.iter();
        let mut kargs = Vec::new();
        for p in &sig.params {
            let arg = if every || !matches!(p, ParamKind::Private { .. }) {
                next.next()
            } else {
                None
            };
            kargs.push(match (p, arg) {
                (ParamKind::Private { .. }, _) => KernelArg::Private,
                (ParamKind::Global { dims, .. }, Some((b, _))) => KernelArg::Buffer {
                    buf: *b as u32,
                    dims: dims.iter().map(|&d| sz.expr(&sig.size_exprs[d])).collect(),
                },
                (ParamKind::Scalar { .. }, Some((b, _))) => KernelArg::Buffer {
                    buf: *b as u32,
                    dims: Vec::new(),
                },
                (_, None) => return invalid("internal error: launch arguments"),
            });
        }
        let sizes = sz.exprs(&sig.size_exprs);
        let grid = sig.grid.iter().map(|&g| sizes[g]).collect();
        launches.push(LaunchSpec {
            name: l.kernel.clone(),
            kernel: k as u32,
            args: kargs,
            sizes,
            grid,
            frame_bytes: sig.frame_bytes,
            status_offset: sig.status_offset,
        });
    }
    let slice_checks = tiled
        .slice_checks
        .iter()
        .map(|c| SliceSpec {
            dim: sz.expr(&c.dim),
            start: sz.expr(&c.start),
            end: sz.expr(&c.end),
            axis: c.axis as u32,
            what: c.what.clone(),
        })
        .collect();
    let plan = Plan {
        name: tiled.name.clone(),
        n_kernels: sigs.len() as u32,
        symbols: sz.symbols,
        exprs: sz.code,
        args,
        buffers: all,
        launches,
        copies,
        slice_checks,
    };
    plan.validate()
        .map_err(|e| CodegenError::Invalid(e.message))?;
    Ok(plan)
}

/// Defines every kernel of `tiled` in `target` with local linkage, as `{prefix}{kernel}`;
/// an error names the kernel and the graph operation it comes from.
pub(crate) fn define_kernels(
    target: &mut dyn cranelift_module::Module,
    tiled: &Tiled,
    prefix: &str,
) -> Result<Vec<DefinedKernel>> {
    let mut defined = Vec::new();
    for k in &tiled.kernels.funcs {
        let from = tiled
            .launches
            .iter()
            .find(|l| l.kernel == k.name)
            .map(|l| format!(" (from {})", l.from))
            .unwrap_or_default();
        let d = define_kernel(
            target,
            &tiled.kernels,
            &k.name,
            &format!("{prefix}{}", k.name),
            Linkage::Local,
        )
        .map_err(|e| e.in_kernel(&format!("kernel `{}`{from}", k.name)))?;
        defined.push(d);
    }
    Ok(defined)
}

/// A tiled function JIT-compiled: its kernels in one module, and its plan.
pub struct JitProgram {
    jit: Option<JITModule>,
    kernels: Vec<KernelFn>,
    signatures: Vec<Signature>,
    plan: Plan,
    clif: Vec<String>,
}

impl std::fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitProgram")
            .field("plan", &self.plan)
            .finish()
    }
}

impl JitProgram {
    /// Compiles every kernel of `tiled` and builds its plan.
    pub fn compile(backend: &JitBackend, tiled: &Tiled) -> Result<JitProgram> {
        let mut jit = backend.jit_module();
        let defined = define_kernels(&mut jit, tiled, "tsr_kernel_")?;
        jit.finalize_definitions().map_err(cl_err)?;
        let kernels = defined
            .iter()
            .map(|d| {
                let ptr = jit.get_finalized_function(d.id);
                // SAFETY: `ptr` is the finalized code of a function declared with
                // `kernel_signature`, which is exactly `KernelFn`'s C ABI; the code lives as
                // long as `jit`, which `JitProgram` owns and frees only on drop.
                unsafe { std::mem::transmute::<*const u8, KernelFn>(ptr) }
            })
            .collect();
        let signatures: Vec<Signature> = defined.iter().map(|d| d.signature.clone()).collect();
        let plan = build_plan(tiled, &signatures)?;
        Ok(JitProgram {
            jit: Some(jit),
            kernels,
            signatures,
            plan,
            clif: defined.into_iter().map(|d| d.clif).collect(),
        })
    }

    /// The runtime plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The signature of each kernel, in the plan's kernel order.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// The Cranelift IR of each kernel as generated, in the plan's kernel order.
    pub fn clif(&self) -> &[String] {
        &self.clif
    }

    /// Runs the function on argument descriptors: the inputs, then the outputs (which the
    /// caller allocates with the result shapes). Every argument is checked first.
    ///
    /// # Safety
    /// Each descriptor must describe live memory as [`TsrTensor`] documents (outputs
    /// writable and not overlapping any other argument), unchanged by anyone else during
    /// the call.
    pub unsafe fn run_raw(&self, args: &[*const TsrTensor]) -> Result<()> {
        // SAFETY: forwarded.
        unsafe { self.run_raw_timed(args, None) }
    }

    /// [`JitProgram::run_raw`], adding each launch's seconds to `timings` (one slot per
    /// launch of the plan) when given.
    ///
    /// # Safety
    /// As [`JitProgram::run_raw`].
    pub unsafe fn run_raw_timed(
        &self,
        args: &[*const TsrTensor],
        timings: Option<&mut [f64]>,
    ) -> Result<()> {
        // SAFETY: the kernels are this plan's (compiled together above); the descriptors'
        // validity is the caller's promise.
        unsafe { tessera_runtime::exec::run_plan_timed(&self.plan, &self.kernels, args, timings) }
            .map_err(|e| match e.code {
                tessera_runtime::ErrorCode::OutOfMemory => CodegenError::OutOfMemory(e.message),
                _ => CodegenError::Runtime(e.message),
            })
    }
}

impl Drop for JitProgram {
    fn drop(&mut self) {
        if let Some(jit) = self.jit.take() {
            // SAFETY: the only pointers into this module's code are `self.kernels`, dropped
            // with `self`; `run_raw` borrows `self`, so no call is running now.
            unsafe { jit.free_memory() };
        }
    }
}
