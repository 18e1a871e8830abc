//! The JIT back end: one Cranelift ISA for the host, and the compilation of one kernel
//! into native code held by a [`CompiledKernel`].

use crate::abi::{grid_exprs, param_kinds, param_name, KernelFn, Signature, SizeTable};
use crate::error::{invalid, CodegenError, Result};
use crate::helpers;
use crate::lower::{kernel_signature, lower_kernel};
use cranelift_codegen::ir::UserFuncName;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module as _};
use tessera_dialects::{FuncKind, Module};

pub(crate) fn cl_err(e: impl std::fmt::Display) -> CodegenError {
    CodegenError::Cranelift(e.to_string())
}

/// Compiles tile kernels for the host CPU.
pub struct JitBackend {
    isa: OwnedTargetIsa,
    /// ISA flags turned off although the host has them ([`JitBackend::without_vnni`]).
    off: &'static [&'static str],
}

impl std::fmt::Debug for JitBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitBackend")
            .field("triple", &self.isa.triple().to_string())
            .finish()
    }
}

impl JitBackend {
    /// The host's ISA (from `cranelift_native`, so `has_fma` and the other CPU features
    /// are detected), `opt_level=speed`, and the IR verifier on in debug builds.
    pub fn new() -> Result<JitBackend> {
        Ok(JitBackend {
            isa: host_isa(false, &[])?,
            off: &[],
        })
    }

    /// The host's ISA with AVX-VNNI and AVX512-VNNI turned off: `i8` dots use the
    /// `pmaddwd` micro-kernel (as on hosts without them) instead of `vpdpbusd`. For
    /// comparisons and for testing that kernel on any host.
    pub fn without_vnni() -> Result<JitBackend> {
        let off = &crate::lower::VNNI_FLAGS;
        Ok(JitBackend {
            isa: host_isa(false, off)?,
            off,
        })
    }

    /// Whether `i8` dots compile to `vpdpbusd` (the host has AVX-VNNI or AVX512-VNNI and
    /// they are not turned off).
    pub fn has_vnni(&self) -> bool {
        crate::lower::vnni_in(&self.isa.isa_flags())
    }

    /// Whether the ISA emits fused multiply-add instructions.
    pub fn has_fma(&self) -> bool {
        self.isa
            .isa_flags()
            .iter()
            .any(|v| v.name == "has_fma" && v.as_bool() == Some(true))
    }

    /// Compiles kernel `name` of `module` (a `tile.kernel`).
    pub fn compile(&self, module: &Module, name: &str) -> Result<CompiledKernel> {
        let mut jit = self.jit_module();
        let k = define_kernel(
            &mut jit,
            module,
            name,
            &format!("tsr_kernel_{name}"),
            Linkage::Export,
        )?;
        jit.finalize_definitions().map_err(cl_err)?;
        let ptr = jit.get_finalized_function(k.id);
        // SAFETY: `ptr` is the finalized code of a function declared with
        // `kernel_signature`, which is exactly `KernelFn`'s C ABI (three pointers, two
        // 64-bit integers, no result); the code lives as long as `jit`, which the
        // `CompiledKernel` owns and frees only on drop.
        let entry: KernelFn = unsafe { std::mem::transmute::<*const u8, KernelFn>(ptr) };
        Ok(CompiledKernel {
            jit: Some(jit),
            entry,
            signature: k.signature,
            clif: k.clif,
        })
    }

    /// A JIT module for this ISA with the runtime's helper functions resolvable.
    pub(crate) fn jit_module(&self) -> JITModule {
        let mut jb = JITBuilder::with_isa(self.isa.clone(), default_libcall_names());
        for (sym, addr) in helpers::symbols() {
            jb.symbol(sym, addr);
        }
        JITModule::new(jb)
    }

    /// The ISA, for object files: the same CPU features, position-independent code.
    pub(crate) fn object_isa(&self) -> Result<OwnedTargetIsa> {
        host_isa(true, self.off)
    }
}

/// The host's ISA (from `cranelift_native`, so `has_fma` and the other CPU features are
/// detected) but for the flags in `off`, `opt_level=speed`, the IR verifier on in debug
/// builds.
fn host_isa(pic: bool, off: &[&str]) -> Result<OwnedTargetIsa> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(cl_err)?;
    let verify = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    flags.set("enable_verifier", verify).map_err(cl_err)?;
    if pic {
        flags.set("is_pic", "true").map_err(cl_err)?;
    }
    let mut isa = cranelift_native::builder().map_err(cl_err)?;
    for f in off {
        isa.set(f, "false").map_err(cl_err)?;
    }
    isa.finish(settings::Flags::new(flags)).map_err(cl_err)
}

/// A kernel defined in a Cranelift module (not yet finalized).
pub(crate) struct DefinedKernel {
    pub id: FuncId,
    pub signature: Signature,
    pub clif: String,
}

/// Lowers kernel `name` of `module` and defines it in `target` under `symbol`.
pub(crate) fn define_kernel(
    target: &mut dyn cranelift_module::Module,
    module: &Module,
    name: &str,
    symbol: &str,
    linkage: Linkage,
) -> Result<DefinedKernel> {
    let Some(func) = module.func(name) else {
        return invalid(format!("no kernel named `{name}`"));
    };
    if func.kind != FuncKind::Kernel {
        return invalid(format!(
            "`{name}` is a {}, not a tile.kernel",
            func.kind.keyword()
        ));
    }
    let table = SizeTable::of(func)?;
    let params = param_kinds(func, &table)?;
    let grid = grid_exprs(func)?
        .iter()
        .map(|e| table.index(e))
        .collect::<Result<Vec<_>>>()?;
    let sig = kernel_signature(target);
    let id = target
        .declare_function(symbol, linkage, &sig)
        .map_err(cl_err)?;
    let mut ctx = target.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    let mut fbc = FunctionBuilderContext::new();
    let frame = {
        let b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
        lower_kernel(b, target, func, &table)?
    };
    let clif = ctx.func.display().to_string();
    target
        .define_function(id, &mut ctx)
        .map_err(|e| CodegenError::Cranelift(format!("{e:?}")))?;
    target.clear_context(&mut ctx);
    Ok(DefinedKernel {
        id,
        signature: Signature {
            name: name.to_string(),
            param_names: (0..func.params.len())
                .map(|i| param_name(func, i))
                .collect(),
            params,
            size_exprs: table.exprs,
            n_names: table.n_names,
            grid,
            frame_bytes: frame.bytes,
            status_offset: frame.status,
        },
        clif,
    })
}

/// A kernel compiled to native code; run it with [`CompiledKernel::run_bytes`] or
/// [`CompiledKernel::run_tensors`].
pub struct CompiledKernel {
    jit: Option<JITModule>,
    pub(crate) entry: KernelFn,
    pub(crate) signature: Signature,
    clif: String,
}

impl std::fmt::Debug for CompiledKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledKernel")
            .field("signature", &self.signature)
            .finish()
    }
}

impl CompiledKernel {
    /// The parameters and size table the caller must provide.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The Cranelift IR of the kernel as generated (before Cranelift's optimisations).
    pub fn clif(&self) -> &str {
        &self.clif
    }
}

/// The Cranelift IR of a compiled kernel (deterministic: the same IR gives the same text).
pub fn clif_text(kernel: &CompiledKernel) -> String {
    kernel.clif.clone()
}

impl Drop for CompiledKernel {
    fn drop(&mut self) {
        if let Some(jit) = self.jit.take() {
            // SAFETY: the only pointer into this module's code is `self.entry`, which is
            // dropped with `self`; `run_*` borrow `self`, so no call is running now.
            unsafe { jit.free_memory() };
        }
    }
}
