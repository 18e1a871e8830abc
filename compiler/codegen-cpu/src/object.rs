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
//!
//! An input can be held in the object instead ([`Baked`], `tessera compile --weights`): its
//! bytes, sizes and descriptor are read-only data of the object, the entry points do not
//! take it, and they pass the plan that descriptor in its place.
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
    /// The plan it runs: its arguments are the entry point's parameters, less the baked
    /// ones.
    pub plan: Plan,
    /// Per argument of the plan, whether the object holds it ([`Baked`]).
    pub baked: Vec<bool>,
}

/// An input held in the object: its value in the runtime's storage form (what the plan's
/// argument expects: dtype, sizes, and the bytes of a dense row-major buffer).
#[derive(Clone, Debug)]
pub struct Baked {
    pub dtype: tessera_runtime::DType,
    pub sizes: Vec<i64>,
    pub bytes: Vec<u8>,
}

/// A function to compile into an object, with the inputs it holds: `baked[i]` for plan
/// argument `i` (shorter than the arguments, or empty: the rest are taken), and the sizes
/// those inputs fix (the plan is specialised to them, as to the object's fixed sizes).
pub struct ObjectFunction<'a> {
    pub tiled: &'a Tiled,
    pub baked: Vec<Option<Baked>>,
    pub fixed: BTreeMap<String, i64>,
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

/// Compiles `functions` (each a tiled function, with the inputs it holds) into one object
/// file named `object_name`. Symbolic sizes named in `fixed` are fixed to their values: the
/// entry points then accept only those sizes ([`Plan::specialize`]).
pub fn compile_object(
    backend: &JitBackend,
    object_name: &str,
    functions: &[ObjectFunction<'_>],
    fixed: &BTreeMap<String, i64>,
) -> Result<ObjectArtifact> {
    let isa = backend.object_isa()?;
    let builder = ObjectBuilder::new(isa, object_name, default_libcall_names()).map_err(cl_err)?;
    let mut module = ObjectModule::new(builder);
    let mut entries = Vec::new();
    for f in functions {
        entries.push(define_function(&mut module, f, fixed)?);
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
    function: &ObjectFunction<'_>,
    fixed: &BTreeMap<String, i64>,
) -> Result<ObjectEntry> {
    let tiled = function.tiled;
    let name = &tiled.name;
    let defined = define_kernels(module, tiled, &format!("tsr_k_{name}_"))?;
    let ids: Vec<_> = defined.iter().map(|d| d.id).collect();
    let sigs: Vec<Signature> = defined.into_iter().map(|d| d.signature).collect();
    let mut plan = build_plan(tiled, &sigs)?;
    for (n, v) in fixed.iter().chain(&function.fixed) {
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

    let mut sources = Vec::with_capacity(plan.args.len());
    let mut baked = Vec::with_capacity(plan.args.len());
    for (i, a) in plan.args.iter().enumerate() {
        match function.baked.get(i).and_then(Option::as_ref) {
            Some(b) if !a.output => {
                let id = define_baked(module, &format!("tsr_baked_{name}_{i}"), b)?;
                sources.push(ArgSource::Baked(id));
                baked.push(true);
            }
            Some(_) => {
                return Err(CodegenError::Invalid(format!(
                    "`{name}`: output `{}` cannot be held in the object",
                    a.name
                )))
            }
            None => {
                sources.push(ArgSource::Param);
                baked.push(false);
            }
        }
    }
    let symbol = entry_symbol(name);
    let plan_ref = PlanRef {
        data: plan_id,
        len: plan_len,
    };
    define_forwarder(
        module,
        &symbol,
        &sources,
        run_id,
        plan_ref,
        Trailing::KernelTable {
            table: table_id,
            n_kernels: ids.len(),
        },
    )?;
    let input_sources: Vec<ArgSource> = plan
        .args
        .iter()
        .zip(&sources)
        .filter(|(a, _)| !a.output)
        .map(|(_, s)| *s)
        .collect();
    let n_sizes: usize = plan
        .args
        .iter()
        .filter(|a| a.output)
        .map(|a| a.dims.len())
        .sum();
    define_forwarder(
        module,
        &sizes_symbol(name),
        &input_sources,
        sizes_id,
        plan_ref,
        Trailing::SizesOut { n_sizes },
    )?;
    Ok(ObjectEntry {
        symbol,
        plan,
        baked,
    })
}

/// Where a forwarder takes one argument of the plan from.
#[derive(Clone, Copy)]
enum ArgSource {
    /// The entry point's next parameter.
    Param,
    /// The descriptor of a baked input, in the object's data.
    Baked(cranelift_module::DataId),
}

/// Defines `symbol` and its two companions, read-only: the bytes of `b` (64-byte aligned,
/// as the runtime's buffers are), its sizes, and a `TsrTensor` descriptor of them (data
/// pointer, dtype, rank, sizes pointer: the layout of `runtime/include/tessera_runtime.h`),
/// whose id is returned.
fn define_baked(
    module: &mut ObjectModule,
    symbol: &str,
    b: &Baked,
) -> Result<cranelift_module::DataId> {
    let mut define = |name: String, bytes: Vec<u8>, align: u64| -> Result<_> {
        let id = module
            .declare_data(&name, Linkage::Local, false, false)
            .map_err(cl_err)?;
        let mut desc = DataDescription::new();
        // At least one byte: an empty object could share its address with another.
        let bytes = if bytes.is_empty() { vec![0] } else { bytes };
        desc.define(bytes.into_boxed_slice());
        desc.set_align(align);
        module.define_data(id, &desc).map_err(cl_err)?;
        Ok(id)
    };
    let data = define(format!("{symbol}_data"), b.bytes.clone(), 64)?;
    let sizes: Vec<u8> = b.sizes.iter().flat_map(|s| s.to_le_bytes()).collect();
    let sizes = define(format!("{symbol}_sizes"), sizes, 8)?;
    let id = module
        .declare_data(symbol, Linkage::Local, false, false)
        .map_err(cl_err)?;
    let mut desc = DataDescription::new();
    let mut bytes = vec![0u8; 24];
    bytes[8..12].copy_from_slice(&(b.dtype as u32).to_le_bytes());
    bytes[12..16].copy_from_slice(&(b.sizes.len() as u32).to_le_bytes());
    desc.define(bytes.into_boxed_slice());
    desc.set_align(8);
    let data_gv = module.declare_data_in_data(data, &mut desc);
    desc.write_data_addr(0, data_gv, 0);
    let sizes_gv = module.declare_data_in_data(sizes, &mut desc);
    desc.write_data_addr(16, sizes_gv, 0);
    module.define_data(id, &desc).map_err(cl_err)?;
    Ok(id)
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

/// Defines the exported `symbol(p0, ..., p{m-1}[, sizes]) -> int32_t`, which gathers the
/// plan's `n` arguments (`sources`: each the next parameter, or a baked descriptor) into an
/// array on its stack and returns the runtime's `callee(plan, plan_len, [table,
/// n_kernels,] array, n[, sizes, n_sizes])`.
fn define_forwarder(
    module: &mut ObjectModule,
    symbol: &str,
    sources: &[ArgSource],
    callee: cranelift_module::FuncId,
    plan: PlanRef,
    trailing: Trailing,
) -> Result<()> {
    let ptr = module.target_config().pointer_type();
    let ptr_bytes = ptr.bytes() as usize;
    let n = sources.len();
    let taken = sources
        .iter()
        .filter(|s| matches!(s, ArgSource::Param))
        .count();
    let mut sig = module.make_signature();
    let extra = matches!(trailing, Trailing::SizesOut { .. });
    for _ in 0..taken + usize::from(extra) {
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
        let mut next = params.iter();
        for (i, source) in sources.iter().enumerate() {
            let p = match source {
                ArgSource::Param => *next.next().expect("one parameter per taken argument"),
                ArgSource::Baked(id) => {
                    let gv = module.declare_data_in_func(*id, b.func);
                    b.ins().symbol_value(ptr, gv)
                }
            };
            b.ins().stack_store(ptr, p, slot, (i * ptr_bytes) as i32);
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
                args.extend([array, count, params[taken], ns]);
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
