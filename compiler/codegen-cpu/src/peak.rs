//! The machine limit the CPU back end is measured against: the `f32x4` FMA peak, measured
//! with code that Cranelift itself generates (a loop of independent `fma.f32x4`
//! accumulators, nothing but FMAs), on one or more threads. Benchmarks report their
//! GFLOP/s as a fraction of this figure, taken in the same run.

use crate::error::{CodegenError, Result};
use crate::jit::{cl_err, JitBackend};
use cranelift_codegen::ir::{types, AbiParam, BlockArg, InstBuilder, UserFuncName};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{Linkage, Module as _};
use std::time::Instant;

/// Independent accumulators: enough to cover the FMA latency on both FMA pipes.
const ACCUMULATORS: usize = 12;

/// `fn(iters: i64) -> f32`: `iters` rounds of `ACCUMULATORS` `fma.f32x4`.
type PeakFn = unsafe extern "C" fn(i64) -> f32;

/// Floating-point operations of one loop round (an FMA is two).
const FLOPS_PER_ROUND: f64 = (ACCUMULATORS * 4 * 2) as f64;

/// Measures the `f32x4` FMA throughput in GFLOP/s on `threads` threads (each runs the loop
/// for about `seconds`), best of `repeats` runs.
pub fn fma_f32x4_gflops(
    backend: &JitBackend,
    threads: usize,
    seconds: f64,
    repeats: usize,
) -> Result<f64> {
    if !backend.has_fma() {
        return Err(CodegenError::Unsupported(
            "this CPU has no FMA instructions: the f32x4 FMA peak is not defined".into(),
        ));
    }
    let mut jit = backend.jit_module();
    let mut sig = jit.make_signature();
    sig.params.push(AbiParam::new(types::I64));
    sig.returns.push(AbiParam::new(types::F32));
    let id = jit
        .declare_function("tsr_fma_peak", Linkage::Local, &sig)
        .map_err(cl_err)?;
    let mut ctx = jit.make_context();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    let mut fbc = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fbc);
        let entry = b.create_block();
        let body = b.create_block();
        let exit = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let iters = b.block_params(entry)[0];
        let one = b.ins().f32const(1.000_000_1);
        let tiny = b.ins().f32const(1e-7);
        let a = b.ins().splat(types::F32X4, one);
        let c = b.ins().splat(types::F32X4, tiny);
        let zero = b.ins().iconst(types::I64, 0);
        let mut init: Vec<BlockArg> = vec![BlockArg::Value(zero)];
        for k in 0..ACCUMULATORS {
            let v = b.ins().f32const(k as f32 * 1e-3);
            init.push(BlockArg::Value(b.ins().splat(types::F32X4, v)));
        }
        b.append_block_param(body, types::I64);
        for _ in 0..ACCUMULATORS {
            b.append_block_param(body, types::F32X4);
            b.append_block_param(exit, types::F32X4);
        }
        b.ins().jump(body, &init);
        b.switch_to_block(body);
        let params = b.block_params(body).to_vec();
        let i = params[0];
        let mut next: Vec<BlockArg> = Vec::new();
        let i1 = b.ins().iadd_imm_s(i, 1);
        next.push(BlockArg::Value(i1));
        let mut accs = Vec::new();
        for &acc in &params[1..] {
            let v = b.ins().fma(acc, a, c);
            accs.push(BlockArg::Value(v));
        }
        next.extend(accs.iter().cloned());
        let more = b.ins().icmp(
            cranelift_codegen::ir::condcodes::IntCC::SignedLessThan,
            i1,
            iters,
        );
        b.ins().brif(more, body, &next, exit, &accs);
        b.switch_to_block(exit);
        let outs = b.block_params(exit).to_vec();
        let mut sum = outs[0];
        for &v in &outs[1..] {
            sum = b.ins().fadd(sum, v);
        }
        let lane = b.ins().extractlane(sum, 0);
        b.ins().return_(&[lane]);
        b.seal_all_blocks();
        b.finalize(jit.isa().frontend_config());
    }
    jit.define_function(id, &mut ctx)
        .map_err(|e| CodegenError::Cranelift(format!("{e:?}")))?;
    jit.finalize_definitions().map_err(cl_err)?;
    let ptr = jit.get_finalized_function(id);
    // SAFETY: `ptr` is the finalized code of the function just defined with signature
    // `(i64) -> f32`, which is `PeakFn`'s C ABI; `jit` outlives every call below.
    let f: PeakFn = unsafe { std::mem::transmute::<*const u8, PeakFn>(ptr) };
    let run = |iters: i64| -> f64 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(move || {
                    // SAFETY: the function only computes on registers.
                    std::hint::black_box(unsafe { f(iters) })
                });
            }
        });
        t.elapsed().as_secs_f64()
    };
    // Calibrate the round count to the requested time on one round of threads.
    let mut iters: i64 = 1 << 16;
    while run(iters) < seconds / 4.0 && iters < 1 << 40 {
        iters *= 2;
    }
    let mut best = 0f64;
    for _ in 0..repeats.max(1) {
        let secs = run(iters);
        let gflops = FLOPS_PER_ROUND * iters as f64 * threads as f64 / secs / 1e9;
        best = best.max(gflops);
    }
    // SAFETY: `f` is not used after this point.
    unsafe { jit.free_memory() };
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_compiles_and_reports_a_positive_rate() {
        let backend = JitBackend::new().unwrap();
        match fma_f32x4_gflops(&backend, 1, 0.001, 1) {
            Ok(g) => assert!(g > 0.0 && g.is_finite()),
            Err(CodegenError::Unsupported(m)) => assert!(m.contains("FMA")),
            Err(e) => panic!("{e}"),
        }
    }
}
