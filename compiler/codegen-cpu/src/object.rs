//! Ahead-of-time compilation: tiled functions into one relocatable object file (ELF on
//! Linux, through `cranelift-object`) with a C entry point per function.
//!
//! For each function `f` the object holds, with local linkage, its kernels
//! (`tsr_k_f_<kernel>`), its plan in the runtime's binary form (`tsr_plan_f`) and its kernel
//! table (`tsr_kernels_f`: the kernels' addresses); and one exported entry point:
//!
//! ```c
//! int32_t tessera_f(const TsrTensor *in0, ..., const TsrTensor *inN, TsrTensor *out0, ...);
//! ```
//!
//! which gathers its arguments into an array and calls the runtime's `tsr_plan_run`, which
//! checks every argument against the plan (dtypes, ranks, sizes, symbolic sizes bound at
//! call time), runs the kernels, and returns a `TSR_*` code (message in `tsr_last_error()`);
//! and `int32_t tessera_f_output_sizes(const TsrTensor *in0, ..., int64_t *sizes)`, which
//! writes the outputs' sizes for those inputs (`tsr_plan_output_sizes`), so a caller can
//! allocate outputs of symbolic size.
//! The object's undefined symbols are `tsr_plan_run` and the kernel helpers
//! (`tsr_exp_f32`, ...), all in the runtime library. The code targets the compiling
//! machine's CPU features (as `-march=native` would), position-independent, so the object
//! links into executables and shared libraries alike.

use crate::abi::Signature;
use crate::error::{CodegenError, Result};
use crate::jit::{cl_err, JitBackend};
use crate::program::{build_plan, define_kernels};
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, StackSlotData, StackSlotKind};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{default_libcall_names, DataDescription, Linkage, Module as _};
use cranelift_object::{ObjectBuilder, ObjectModule};
use std::collections::BTreeMap;
use tessera_runtime::plan::Plan;
use tessera_tiling::Tiled;

/// One function of an object file.
#[derive(Clone, Debug)]
pub struct ObjectEntry {
    /// The exported C symbol (`tessera_<name>`).
    pub symbol: String,
    /// The plan it runs: its arguments are the entry point's parameters.
    pub plan: Plan,
}

/// An object file and what it exports.
#[derive(Clone, Debug)]
pub struct ObjectArtifact {
    pub bytes: Vec<u8>,
    pub entries: Vec<ObjectEntry>,
}

/// The exported symbol of function `name`.
pub fn entry_symbol(name: &str) -> String {
    format!("tessera_{name}")
}

/// Compiles `functions` (each a tiled function) into one object file named `object_name`.
/// Symbolic sizes named in `fixed` are fixed to their values: the entry points then accept
/// only those sizes ([`Plan::specialize`]).
pub fn compile_object(
    backend: &JitBackend,
    object_name: &str,
    functions: &[&Tiled],
    fixed: &BTreeMap<String, i64>,
) -> Result<ObjectArtifact> {
    let isa = backend.object_isa()?;
    let builder = ObjectBuilder::new(isa, object_name, default_libcall_names()).map_err(cl_err)?;
    let mut module = ObjectModule::new(builder);
    let mut entries = Vec::new();
    for tiled in functions {
        entries.push(define_function(&mut module, tiled, fixed)?);
    }
    let bytes = module
        .finish()
        .emit()
        .map_err(|e| CodegenError::Cranelift(e.to_string()))?;
    Ok(ObjectArtifact { bytes, entries })
}

/// Defines the kernels, plan, kernel table and entry point of one function.
fn define_function(
    module: &mut ObjectModule,
    tiled: &Tiled,
    fixed: &BTreeMap<String, i64>,
) -> Result<ObjectEntry> {
    let name = &tiled.name;
    let defined = define_kernels(module, tiled, &format!("tsr_k_{name}_"))?;
    let ids: Vec<_> = defined.iter().map(|d| d.id).collect();
    let sigs: Vec<Signature> = defined.into_iter().map(|d| d.signature).collect();
    let mut plan = build_plan(tiled, &sigs)?;
    for (n, v) in fixed {
        plan.specialize(n, *v);
    }
    let bytes = plan.encode();
    let plan_len = bytes.len() as i64;

    let plan_id = module
        .declare_data(&format!("tsr_plan_{name}"), Linkage::Local, false, false)
        .map_err(cl_err)?;
    let mut desc = DataDescription::new();
    desc.define(bytes.into_boxed_slice());
    desc.set_align(8);
    module.define_data(plan_id, &desc).map_err(cl_err)?;

    let ptr = module.target_config().pointer_type();
    let ptr_bytes = ptr.bytes() as usize;
    let table_id = module
        .declare_data(&format!("tsr_kernels_{name}"), Linkage::Local, false, false)
        .map_err(cl_err)?;
    let mut desc = DataDescription::new();
    // Explicit zeros, not `define_zeroinit`: a zero-initialised object goes to .bss, where
    // the relocations that fill in the addresses cannot apply.
    desc.define(vec![0u8; ids.len().max(1) * ptr_bytes].into_boxed_slice());
    desc.set_align(ptr_bytes as u64);
    for (i, id) in ids.iter().enumerate() {
        let f = module.declare_func_in_data(*id, &mut desc);
        desc.write_function_addr((i * ptr_bytes) as u32, f);
    }
    module.define_data(table_id, &desc).map_err(cl_err)?;

    let mut run_sig = module.make_signature();
    for t in [ptr, types::I64, ptr, types::I32, ptr, types::I32] {
        run_sig.params.push(AbiParam::new(t));
    }
    run_sig.returns.push(AbiParam::new(types::I32));
    let run_id = module
        .declare_function("tsr_plan_run", Linkage::Import, &run_sig)
        .map_err(cl_err)?;

    let mut sizes_sig = module.make_signature();
    for t in [ptr, types::I64, ptr, types::I32, ptr, types::I32] {
        sizes_sig.params.push(AbiParam::new(t));
    }
    sizes_sig.returns.push(AbiParam::new(types::I32));
    let sizes_id = module
        .declare_function("tsr_plan_output_sizes", Linkage::Import, &sizes_sig)
        .map_err(cl_err)?;

    let symbol = entry_symbol(name);
    let plan_ref = PlanRef {
        data: plan_id,
        len: plan_len,
    };
    define_forwarder(
        module,
        &symbol,
        plan.args.len(),
        run_id,
        plan_ref,
        Trailing::KernelTable {
            table: table_id,
            n_kernels: ids.len(),
        },
    )?;
    let n_inputs = plan.args.iter().filter(|a| !a.output).count();
    let n_sizes: usize = plan
        .args
        .iter()
        .filter(|a| a.output)
        .map(|a| a.dims.len())
        .sum();
    define_forwarder(
        module,
        &sizes_symbol(name),
        n_inputs,
        sizes_id,
        plan_ref,
        Trailing::SizesOut { n_sizes },
    )?;
    Ok(ObjectEntry { symbol, plan })
}

/// The exported symbol that computes function `name`'s output sizes.
pub fn sizes_symbol(name: &str) -> String {
    format!("tessera_{name}_output_sizes")
}

/// A function's plan in the object.
#[derive(Clone, Copy)]
struct PlanRef {
    data: cranelift_module::DataId,
    len: i64,
}

/// What a forwarder passes besides the plan and its pointer arguments.
enum Trailing {
    /// `tsr_plan_run`: the kernel table and its length come before the arguments.
    KernelTable {
        table: cranelift_module::DataId,
        n_kernels: usize,
    },
    /// `tsr_plan_output_sizes`: one more parameter (`int64_t *sizes`) passed after the
    /// arguments, with its length.
    SizesOut { n_sizes: usize },
}

/// Defines the exported `symbol(p0, ..., p{n-1}[, sizes]) -> int32_t`, which gathers
/// `p0 .. p{n-1}` into an array on its stack and returns the runtime's `callee(plan,
/// plan_len, [table, n_kernels,] array, n[, sizes, n_sizes])`.
fn define_forwarder(
    module: &mut ObjectModule,
    symbol: &str,
    n: usize,
    callee: cranelift_module::FuncId,
    plan: PlanRef,
    trailing: Trailing,
) -> Result<()> {
    let ptr = module.target_config().pointer_type();
    let ptr_bytes = ptr.bytes() as usize;
    let mut sig = module.make_signature();
    let extra = matches!(trailing, Trailing::SizesOut { .. });
    for _ in 0..n + usize::from(extra) {
        sig.params.push(AbiParam::new(ptr));
    }
    sig.returns.push(AbiParam::new(types::I32));
    let id = module
        .declare_function(symbol, Linkage::Export, &sig)
        .map_err(cl_err)?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    let mut fbc = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        let params = b.block_params(block).to_vec();
        let slot = b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (n.max(1) * ptr_bytes) as u32,
            3,
        ));
        for (i, p) in params[..n].iter().enumerate() {
            b.ins().stack_store(ptr, *p, slot, (i * ptr_bytes) as i32);
        }
        let array = b.ins().stack_addr(ptr, slot, 0);
        let plan_gv = module.declare_data_in_func(plan.data, b.func);
        let plan_ptr = b.ins().symbol_value(ptr, plan_gv);
        let len = b.ins().iconst(types::I64, plan.len);
        let count = b.ins().iconst(types::I32, n as i64);
        let mut args = vec![plan_ptr, len];
        match trailing {
            Trailing::KernelTable { table, n_kernels } => {
                let gv = module.declare_data_in_func(table, b.func);
                let table_ptr = b.ins().symbol_value(ptr, gv);
                let nk = b.ins().iconst(types::I32, n_kernels as i64);
                args.extend([table_ptr, nk, array, count]);
            }
            Trailing::SizesOut { n_sizes } => {
                let ns = b.ins().iconst(types::I32, n_sizes as i64);
                args.extend([array, count, params[n], ns]);
            }
        }
        let f = module.declare_func_in_func(callee, b.func);
        let call = b.ins().call(f, &args);
        let code = b.inst_results(call)[0];
        b.ins().return_(&[code]);
        b.seal_all_blocks();
        b.finalize(module.isa().frontend_config());
    }
    module
        .define_function(id, &mut ctx)
        .map_err(|e| CodegenError::Cranelift(format!("{e:?}")))?;
    module.clear_context(&mut ctx);
    Ok(())
}
