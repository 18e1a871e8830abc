//! Running a function as native code: the tiled function JIT-compiled by Cranelift into one
//! program, run by the runtime's plan executor on host buffers.

use crate::{Error, Program};
use tessera_codegen_cpu::run::{from_bytes, to_bytes};
use tessera_codegen_cpu::{CodegenError, JitBackend, JitProgram};
use tessera_dialects::Loc;
use tessera_runtime::plan::BufSpec;
use tessera_runtime::{ErrorCode, HostTensor, TsrTensor};
use tessera_tensor::convert::runtime_dtype;
use tessera_tensor::Tensor;

/// A result of [`CpuExecutable::run_f32`]: its values (row-major, as `f32`) and its shape.
pub type F32Result = (Vec<f32>, Vec<usize>);

/// A function lowered to tile IR with every kernel compiled to native code by Cranelift.
pub struct CpuExecutable {
    program: Program,
    func: String,
    /// The function's graph IR after the default passes (what was tiled).
    graph: tessera_dialects::Func,
    tiled: tessera_tiling::Tiled,
    jit: JitProgram,
    /// The hoisted operations on weights ([`Program::hoisted`]): run once per
    /// [`CpuExecutable::prepare`] on the original inputs; their results follow the kept
    /// inputs.
    weights: Option<Box<CpuExecutable>>,
    /// With hoisted operations: the indices of the original inputs this function still
    /// takes (the weights it no longer reads are not held).
    kept: Option<Vec<usize>>,
    /// The indices of this function's inputs that hold weights (the right operands of
    /// `matmul`s and the weights of `conv2d`s, as given or as hoisted):
    /// [`PreparedRun::weight_bytes`].
    weight_inputs: Vec<usize>,
}

/// Inputs and outputs of one call in the runtime's storage form, so that repeated runs
/// ([`CpuExecutable::run_prepared`], as `tessera bench` does) time the compiled code alone.
pub struct PreparedRun {
    inputs: Vec<HostTensor>,
    outputs: Vec<HostTensor>,
    weight_bytes: usize,
    /// The largest intermediate value under these inputs' sizes, for the error when the
    /// run cannot allocate the intermediates.
    largest_temp: Option<Sized>,
}

/// A value of the plan with its sizes bound: where it is computed, its type and bytes.
#[derive(Clone, Debug)]
struct Sized {
    loc: Loc,
    ty: String,
    bytes: u128,
}

impl Sized {
    /// `f32[262144, 262144] (274877906944 bytes)`.
    fn describe(&self) -> String {
        format!("{} ({} bytes)", self.ty, self.bytes)
    }
}

impl PreparedRun {
    /// The bytes held for weights: the buffers of the parameters used as the right
    /// operand of a `matmul` or the weight of a `conv2d` as written, or, with a lowered precision, of the values
    /// hoisted from them and of the weights still read as given. With `--precision bf16`
    /// the weights are held in `bf16`: half the bytes of `f32`.
    pub fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }
}

fn host_error(e: tessera_runtime::Error) -> Error {
    Error::msg(e.message)
}

/// A buffer of `dtype` and the sizes of expressions `dims` under `values`.
fn sized(loc: Loc, dtype: tessera_runtime::DType, dims: &[u32], values: &[i64]) -> Sized {
    let dims: Vec<i64> = dims.iter().map(|&d| values[d as usize]).collect();
    let bytes = dims.iter().fold(dtype.size_bytes() as u128, |n, &d| {
        n.saturating_mul(d.max(0) as u128)
    });
    let ty = if dims.is_empty() {
        dtype.name().to_string()
    } else {
        let d: Vec<String> = dims.iter().map(i64::to_string).collect();
        format!("{}[{}]", dtype.name(), d.join(", "))
    };
    Sized { loc, ty, bytes }
}

impl CpuExecutable {
    /// Compiles every kernel of `tiled` (the lowering of `func` of `program`).
    pub fn new(
        program: Program,
        func: &str,
        tiled: tessera_tiling::Tiled,
    ) -> Result<CpuExecutable, Error> {
        let backend = JitBackend::new().map_err(|e| Error::msg(e.to_string()))?;
        let jit = JitProgram::compile(&backend, &tiled).map_err(|e| Error::msg(e.to_string()))?;
        let graph = program
            .optimized_for(func)?
            .func(func)
            .cloned()
            .ok_or_else(|| Error::msg(format!("no function `{func}`")))?;
        Ok(CpuExecutable {
            program,
            func: func.to_string(),
            graph,
            tiled,
            jit,
            weights: None,
            kept: None,
            weight_inputs: Vec::new(),
        })
    }

    /// This executable with its inputs `weight_inputs` counted as weights
    /// ([`PreparedRun::weight_bytes`]).
    pub fn holding(mut self, weight_inputs: Vec<usize>) -> CpuExecutable {
        self.weight_inputs = weight_inputs;
        self
    }

    /// This executable (whose function takes the original inputs `kept`, then the
    /// hoisted values) preceded by `weights`, which computes the hoisted values from the
    /// original inputs; `weight_params` are the original inputs that are weights.
    pub fn with_weights(
        mut self,
        weights: CpuExecutable,
        kept: Vec<usize>,
        weight_params: &std::collections::BTreeSet<usize>,
    ) -> CpuExecutable {
        let hoisted = weights.tiled.results.len();
        self.weight_inputs = kept
            .iter()
            .enumerate()
            .filter(|(_, i)| weight_params.contains(i))
            .map(|(j, _)| j)
            .chain(kept.len()..kept.len() + hoisted)
            .collect();
        self.kept = Some(kept);
        self.weights = Some(Box::new(weights));
        self
    }

    /// With hoisted operations on weights, the indices of the original inputs this
    /// function still takes, first; the hoisted values follow them.
    pub fn kept(&self) -> Option<&[usize]> {
        self.kept.as_deref()
    }

    /// The executable of the hoisted operations on weights, if any.
    pub fn weights(&self) -> Option<&CpuExecutable> {
        self.weights.as_deref()
    }

    /// The program this function comes from.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.func
    }

    /// The Cranelift IR of every kernel, in order of definition.
    pub fn clif(&self) -> String {
        self.tiled
            .kernels
            .funcs
            .iter()
            .zip(self.jit.clif())
            .map(|(k, c)| format!("; kernel @{}\n{c}", k.name))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The tile IR and launch plan that were compiled.
    pub fn tiled(&self) -> &tessera_tiling::Tiled {
        &self.tiled
    }

    /// The runtime plan (arguments, buffers, launches).
    pub fn plan(&self) -> &tessera_runtime::plan::Plan {
        self.jit.plan()
    }

    /// Checks `inputs` against the function's parameters (errors point at the parameter's
    /// declaration) and that no value would be empty (errors point at the operation), and
    /// converts them, with zeroed outputs of the result shapes. With hoisted operations on
    /// weights, they run here, once.
    pub fn prepare(&self, inputs: Vec<Tensor>) -> Result<PreparedRun, Error> {
        let inputs = self.hoisted_inputs(inputs)?;
        if let Err(e) = tessera_interp::check_inputs_and_sizes(&self.graph, &inputs) {
            return Err(self.program.runtime_error(&self.func, e));
        }
        // Weights held in column panels are packed here, once.
        let inputs = self.tiled.pack_inputs(inputs).map_err(Error::msg)?;
        let mut host = Vec::with_capacity(inputs.len());
        for t in &inputs {
            let sizes: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
            host.push(
                HostTensor::from_bytes(runtime_dtype(t.dtype()), &sizes, &to_bytes(t))
                    .map_err(host_error)?,
            );
        }
        let shapes: Vec<&[i64]> = host.iter().map(|h| h.sizes()).collect();
        let values =
            tessera_runtime::exec::size_values(self.plan(), &shapes).map_err(host_error)?;
        // Outputs are allocated here; one that cannot be is an error at its operation.
        let outputs = self
            .plan()
            .args
            .iter()
            .filter(|a| a.output)
            .enumerate()
            .map(|(i, a)| {
                let s: Vec<i64> = a.dims.iter().map(|&e| values[e as usize]).collect();
                HostTensor::zeros(a.dtype, &s).map_err(|e| {
                    if e.code != ErrorCode::OutOfMemory {
                        return host_error(e);
                    }
                    let loc = self
                        .tiled
                        .results
                        .get(i)
                        .map(|&b| self.tiled.buffers[b].loc);
                    let out = sized(loc.unwrap_or_default(), a.dtype, &a.dims, &values);
                    let m = format!(
                        "cannot allocate result {i}, {}, this operation's result ({})",
                        out.describe(),
                        e.message
                    );
                    self.located(m, out.loc)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let largest_temp = self
            .plan()
            .buffers
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match b {
                BufSpec::Temp { dtype, dims } => {
                    let loc = self.tiled.buffers.get(i).map(|t| t.loc);
                    Some(sized(loc.unwrap_or_default(), *dtype, dims, &values))
                }
                BufSpec::Arg(_) => None,
            })
            .fold(None::<Sized>, |best, t| match best {
                Some(b) if b.bytes >= t.bytes => Some(b),
                _ => Some(t),
            });
        let weight_bytes = self
            .weight_inputs
            .iter()
            .filter_map(|&i| host.get(i))
            .map(|h| h.as_bytes().len())
            .sum();
        Ok(PreparedRun {
            inputs: host,
            outputs,
            weight_bytes,
            largest_temp,
        })
    }

    /// The original inputs as this function takes them: with hoisted operations on
    /// weights, the kept inputs followed by the hoisted values, computed here.
    fn hoisted_inputs(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        let mut inputs = inputs;
        if let Some(w) = &self.weights {
            let prepared = w.run(inputs.clone())?;
            if let Some(kept) = &self.kept {
                let mut all: Vec<Option<Tensor>> = inputs.into_iter().map(Some).collect();
                inputs = kept
                    .iter()
                    .filter_map(|&i| all.get_mut(i).and_then(Option::take))
                    .collect();
            }
            inputs.extend(prepared);
        }
        Ok(inputs)
    }

    /// What [`CpuExecutable::prepare`] does to the inputs, without sizing the function's
    /// intermediates: the hoisted values computed, the inputs checked against the
    /// parameters (dtypes, ranks, symbolic sizes), weights packed into panels. For
    /// `tessera compile --weights`, whose other inputs are stand-ins.
    pub fn prepared_inputs(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        let inputs = self.hoisted_inputs(inputs)?;
        if let Err(e) = tessera_interp::check_inputs(&self.graph, &inputs) {
            return Err(self.program.runtime_error(&self.func, e));
        }
        self.tiled.pack_inputs(inputs).map_err(Error::msg)
    }

    /// Runs the compiled function on prepared buffers, writing its outputs there.
    pub fn run_prepared(&self, run: &mut PreparedRun) -> Result<(), Error> {
        self.run_prepared_timed(run, None)
    }

    /// [`CpuExecutable::run_prepared`], adding each launch's seconds to `timings` (one
    /// slot per launch, in `self.tiled().launches` order) when given.
    pub fn run_prepared_timed(
        &self,
        run: &mut PreparedRun,
        timings: Option<&mut [f64]>,
    ) -> Result<(), Error> {
        let descs: Vec<TsrTensor> = run
            .inputs
            .iter_mut()
            .chain(run.outputs.iter_mut())
            .map(|t| t.descriptor())
            .collect();
        let ptrs: Vec<*const TsrTensor> = descs.iter().map(|d| d as *const TsrTensor).collect();
        // SAFETY: every descriptor describes a live `HostTensor` of `run`, borrowed mutably
        // for the call, so nothing else reads or writes them; outputs are distinct tensors.
        unsafe { self.jit.run_raw_timed(&ptrs, timings) }.map_err(|e| {
            match (e, &run.largest_temp) {
                // The intermediates cannot be allocated: located at the largest one's operation,
                // as the checks of `prepare` locate theirs.
                (CodegenError::OutOfMemory(m), Some(t)) => self.located(
                    format!(
                        "cannot allocate the intermediate values ({m}); the largest, {}, is this \
                     operation's result",
                        t.describe()
                    ),
                    t.loc,
                ),
                (e, _) => Error::msg(e.to_string()),
            }
        })
    }

    /// An error at the operation at `loc` of the function's source (none if unknown).
    fn located(&self, message: String, loc: Loc) -> Error {
        self.program
            .runtime_error(&self.func, tessera_interp::InterpError::new(message, loc))
    }

    /// The outputs of a prepared run as tensors.
    pub fn outputs(&self, run: &PreparedRun) -> Result<Vec<Tensor>, Error> {
        run.outputs
            .iter()
            .zip(&self.tiled.results)
            .map(|(h, &b)| {
                let dtype = self.tiled.buffers[b].ty.dtype;
                let shape: Vec<usize> = h.sizes().iter().map(|&d| d as usize).collect();
                Tensor::new(dtype, shape, from_bytes(dtype, h.as_bytes()))
                    .map_err(|e| Error::msg(format!("internal error: {e}")))
            })
            .collect()
    }

    /// Runs the function: inputs checked at the parameters, then the native code.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        let mut prepared = self.prepare(inputs)?;
        self.run_prepared(&mut prepared)?;
        self.outputs(&prepared)
    }

    /// Runs a function whose parameters are all `f32` on plain slices: each input is its
    /// row-major data and its shape; each result comes back the same way.
    pub fn run_f32(&self, inputs: &[(&[f32], &[usize])]) -> Result<Vec<F32Result>, Error> {
        let tensors = inputs
            .iter()
            .map(|(data, shape)| {
                Tensor::from_f32(tessera_dialects::DType::F32, shape.to_vec(), data.to_vec())
                    .map_err(|e| Error::msg(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .run(tensors)?
            .into_iter()
            .map(|t| (t.to_f32_vec(), t.shape().to_vec()))
            .collect())
    }
}
