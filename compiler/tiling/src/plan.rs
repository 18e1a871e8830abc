//! The plan of a tiled function: its buffers and the kernel launches, in order.

use crate::checks::SliceCheck;
use std::collections::BTreeMap;
use std::fmt;
use tessera_dialects::print::print_module;
use tessera_dialects::{Loc, Module, SymExpr, TensorType};
use tessera_tensor::Tensor;

/// A buffer of the plan, by index.
pub type BufId = usize;

/// What a buffer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufKind {
    /// A parameter of the function (an input).
    Param,
    /// An intermediate value.
    Temp,
    /// A parameter given as a `[rows, cols]` tensor and held in column panels of `width`
    /// (`[cols / width, rows, width]`, the buffer's type): packed once when the inputs are
    /// bound ([`crate::prepack`]).
    Panels {
        rows: usize,
        cols: usize,
        width: usize,
    },
}

/// One buffer: a tensor type with symbolic sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct BufferInfo {
    pub name: String,
    pub ty: TensorType,
    pub kind: BufKind,
    /// The graph operation whose value it holds (none for a parameter), for errors about
    /// the buffer at run time (it cannot be allocated).
    pub loc: Loc,
}

/// One kernel launch: each argument is a buffer, optionally seen with another shape of the
/// same element count (a view: reshapes and flattening cost nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct Launch {
    pub kernel: String,
    pub args: Vec<(BufId, Option<Vec<SymExpr>>)>,
    /// The graph operation it comes from, for dumps.
    pub from: String,
}

/// A graph function lowered to kernels.
#[derive(Clone, Debug, PartialEq)]
pub struct Tiled {
    pub name: String,
    pub kernels: Module,
    pub buffers: Vec<BufferInfo>,
    pub launches: Vec<Launch>,
    pub params: Vec<BufId>,
    pub results: Vec<BufId>,
    /// Slices over symbolic sizes to check when a call binds its sizes ([`crate::checks`]):
    /// those of the function lowered, or, set by a caller that knows the source, those of
    /// the function as written, with their locations.
    pub slice_checks: Vec<SliceCheck>,
}

/// Runs one kernel: (module, kernel name, buffers in parameter order, bound sizes).
pub type KernelRunner<'a> =
    dyn FnMut(&Module, &str, &mut [Tensor], &BTreeMap<String, i64>) -> Result<(), String> + 'a;

impl Tiled {
    /// Runs the plan: binds the sizes from the inputs, allocates every other buffer, runs the
    /// launches in order with `run`, and returns the results.
    pub fn execute(
        &self,
        inputs: Vec<Tensor>,
        run: &mut KernelRunner<'_>,
    ) -> Result<Vec<Tensor>, String> {
        if inputs.len() != self.params.len() {
            return Err(format!(
                "`{}` takes {} inputs, {} were given",
                self.name,
                self.params.len(),
                inputs.len()
            ));
        }
        let inputs = self.pack_inputs(inputs)?;
        let mut sizes: BTreeMap<String, i64> = BTreeMap::new();
        for (&b, t) in self.params.iter().zip(&inputs) {
            let ty = &self.buffers[b].ty;
            if t.dtype() != ty.dtype || t.rank() != ty.rank() {
                return Err(format!(
                    "input `{}` is {}{:?}, expected {ty}",
                    self.buffers[b].name,
                    t.dtype(),
                    t.shape()
                ));
            }
            for (d, &n) in ty.shape.iter().zip(t.shape()) {
                if let Some(name) = d.as_name() {
                    match sizes.insert(name.to_string(), n as i64) {
                        Some(prev) if prev != n as i64 => {
                            return Err(format!("size `{name}` is both {prev} and {n}"));
                        }
                        _ => {}
                    }
                }
            }
        }
        // Names that only dimensions such as `N + 1` or `2*N` give: solved, then checked with
        // every other dimension below.
        loop {
            let mut progress = false;
            for (&b, t) in self.params.iter().zip(&inputs) {
                for (d, &n) in self.buffers[b].ty.shape.iter().zip(t.shape()) {
                    let unbound: Vec<String> = d
                        .names()
                        .into_iter()
                        .filter(|x| !sizes.contains_key(x))
                        .collect();
                    if let [name] = unbound.as_slice() {
                        if let Some(v) = d.solve(name, n as i64, &sizes) {
                            sizes.insert(name.clone(), v);
                            progress = true;
                        }
                    }
                }
            }
            if !progress {
                break;
            }
        }
        for c in &self.slice_checks {
            if let Some(m) = c.violation(&sizes)? {
                return Err(m);
            }
        }
        let eval = |shape: &[SymExpr]| -> Result<Vec<usize>, String> {
            shape
                .iter()
                .map(|d| {
                    let v = d.eval_map(&sizes).map_err(|e| e.to_string())?;
                    usize::try_from(v).map_err(|_| format!("size {d} = {v} is negative"))
                })
                .collect()
        };
        let mut store: Vec<Option<Tensor>> = vec![None; self.buffers.len()];
        for (&b, t) in self.params.iter().zip(inputs) {
            if eval(&self.buffers[b].ty.shape)? != t.shape() {
                return Err(format!(
                    "input `{}` has shape {:?}, expected {}",
                    self.buffers[b].name,
                    t.shape(),
                    self.buffers[b].ty
                ));
            }
            store[b] = Some(t);
        }
        for (i, info) in self.buffers.iter().enumerate() {
            if store[i].is_none() {
                let t = Tensor::zeros(info.ty.dtype, eval(&info.ty.shape)?)
                    .map_err(|e| e.to_string())?;
                store[i] = Some(t);
            }
        }
        for l in &self.launches {
            let mut args: Vec<Tensor> = Vec::with_capacity(l.args.len());
            for (i, (b, view)) in l.args.iter().enumerate() {
                // A buffer passed twice (`x + x`) is copied for its later uses; otherwise the
                // kernel takes it (no copy) and gives it back.
                let t = match l.args[..i].iter().position(|(p, _)| p == b) {
                    Some(j) => args[j].clone(),
                    None => store[*b]
                        .take()
                        .ok_or_else(|| format!("{}: buffer {b} is missing", l.kernel))?,
                };
                // Each use with its own view (a buffer passed twice may be seen with two
                // shapes: a conv's input and its epilogue's residual).
                let shape = match view {
                    Some(shape) => eval(shape)?,
                    None => eval(&self.buffers[*b].ty.shape)?,
                };
                let t = t.into_shape(&shape).map_err(|e| e.to_string())?;
                args.push(t);
            }
            let r = run(&self.kernels, &l.kernel, &mut args, &sizes);
            for ((b, _), t) in l.args.iter().zip(args) {
                if store[*b].is_none() {
                    let shape = eval(&self.buffers[*b].ty.shape)?;
                    store[*b] = Some(t.into_shape(&shape).map_err(|e| e.to_string())?);
                }
            }
            r.map_err(|e| format!("{} (from {}): {e}", l.kernel, l.from))?;
        }
        self.results
            .iter()
            .map(|b| {
                store[*b]
                    .clone()
                    .ok_or_else(|| "a result buffer is missing".to_string())
            })
            .collect()
    }
}

impl Tiled {
    /// The inputs as the plan holds them: each parameter held in panels
    /// ([`BufKind::Panels`]) packed from its `[rows, cols]` input
    /// ([`crate::prepack::pack_panels`]); the others as given.
    pub fn pack_inputs(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, String> {
        inputs
            .into_iter()
            .zip(&self.params)
            .map(|(t, &b)| match self.buffers[b].kind {
                BufKind::Panels { rows, cols, width } => {
                    if t.shape() != [rows, cols] {
                        return Err(format!(
                            "input `{}` has shape {:?}, expected [{rows}, {cols}]",
                            self.buffers[b].name,
                            t.shape()
                        ));
                    }
                    crate::prepack::pack_panels(&t, width)
                }
                _ => Ok(t),
            })
            .collect()
    }
}

impl fmt::Display for Tiled {
    /// The kernels, then the plan: `// plan @f`, each buffer and each launch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", print_module(&self.kernels))?;
        writeln!(f, "\n// plan @{}", self.name)?;
        for (i, b) in self.buffers.iter().enumerate() {
            match b.kind {
                BufKind::Param => writeln!(f, "//   buffer #{i} param %{}: {}", b.name, b.ty)?,
                BufKind::Temp => writeln!(f, "//   buffer #{i} temp %{}: {}", b.name, b.ty)?,
                BufKind::Panels { rows, cols, width } => writeln!(
                    f,
                    "//   buffer #{i} param %{}: {} (given as [{rows}, {cols}], packed in panels of {width} when bound)",
                    b.name, b.ty
                )?,
            }
        }
        for l in &self.launches {
            let args: Vec<String> = l
                .args
                .iter()
                .map(|(b, v)| match v {
                    Some(shape) => format!(
                        "#{b} as [{}]",
                        shape
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => format!("#{b}"),
                })
                .collect();
            writeln!(
                f,
                "//   launch @{}({})  // {}",
                l.kernel,
                args.join(", "),
                l.from
            )?;
        }
        let res: Vec<String> = self.results.iter().map(|b| format!("#{b}")).collect();
        writeln!(f, "//   return {}", res.join(", "))?;
        for c in &self.slice_checks {
            writeln!(
                f,
                "//   check {}:{} inside axis {} of size {}  // {}",
                c.start, c.end, c.axis, c.dim, c.what
            )?;
        }
        Ok(())
    }
}
