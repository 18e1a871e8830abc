//! `--precision auto` in the library: the accuracy loop of `tessera_egraph::auto` run on
//! calibration data, with the reference interpreter as the oracle.

use crate::{Error, Program};
use tessera_dialects::{Func, Loc, Module};
use tessera_egraph::auto::AutoReport;
use tessera_tensor::Tensor;

/// A function split by weight hoisting ([`Program::hoisted`]).
#[derive(Debug, Clone)]
pub struct Hoist {
    /// The program in which the function takes the hoisted values as extra parameters.
    pub program: Program,
    /// The function that computes them from the original inputs.
    pub prep: String,
    /// The indices of the original parameters the function still takes, in order.
    pub kept: Vec<usize>,
}

/// The lowering `--precision auto` chose for one function.
#[derive(Debug, Clone)]
pub struct AutoChoice {
    /// The function it applies to.
    pub func: String,
    /// The function after the default pipeline and the chosen lowerings.
    pub lowered: Func,
    pub report: AutoReport,
}

/// The normwise relative error of `got` against `want`: per result, the largest absolute
/// difference over the largest reference magnitude (the largest absolute difference for
/// an all-zero reference); the largest over the results. Only positions where the
/// reference is finite count; a non-finite value there is infinitely wrong.
pub fn normwise_error(got: &[Tensor], want: &[Tensor]) -> f64 {
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(want) {
        let (mut diff, mut scale) = (0.0f64, 0.0f64);
        for (a, b) in g.to_f64_vec().iter().zip(w.to_f64_vec()) {
            if !b.is_finite() {
                continue;
            }
            scale = scale.max(b.abs());
            diff = if a.is_finite() {
                diff.max((a - b).abs())
            } else {
                f64::INFINITY
            };
        }
        worst = worst.max(if scale > 0.0 { diff / scale } else { diff });
    }
    worst
}

impl Program {
    /// Chooses, per contraction of `func`, the cheapest lowering (by the cost model) whose
    /// end-to-end error on `calibration` (a tensor per parameter, in order) stays within
    /// `max_error` (normwise, [`normwise_error`], against the `f32` program in the
    /// interpreter). Every later compilation of `func` uses the choice.
    pub fn choose_precision(
        &mut self,
        func: &str,
        max_error: f64,
        calibration: Vec<Tensor>,
    ) -> Result<&AutoChoice, Error> {
        if max_error.is_nan() || max_error < 0.0 {
            return Err(Error::msg(format!(
                "--max-error must be a non-negative number, got {max_error}"
            )));
        }
        self.auto.remove(func);
        self.precision = tessera_egraph::Precision::F32;
        let module = self.optimized_for(func)?;
        let f = module
            .func(func)
            .ok_or_else(|| Error::msg(format!("no function `{func}`")))?
            .clone();
        if let Err(e) = tessera_interp::check_inputs(&f, &calibration) {
            return Err(self.runtime_error(func, e));
        }
        let want = tessera_interp::run_func(&module, func, calibration.clone())
            .map_err(|e| self.runtime_error(func, e))?;
        let mut measure = |candidate: &Func| -> Result<f64, tessera_egraph::OptError> {
            let m = with_func(&module, candidate);
            let got = tessera_interp::run_func(&m, func, calibration.clone())
                .map_err(|e| tessera_egraph::OptError::new(e.message))?;
            Ok(normwise_error(&got, &want))
        };
        let opts = tessera_egraph::Options {
            sizes: tessera_egraph::cost::Sizes {
                bound: self.sizes.clone(),
                ..Default::default()
            },
            ..Default::default()
        };
        let auto = tessera_egraph::auto::choose(&f, &opts, max_error, &mut measure)
            .map_err(|e| Error::msg(format!("--precision auto: {e}")))?;
        Ok(self.auto.entry(func.to_string()).or_insert(AutoChoice {
            func: func.to_string(),
            lowered: auto.func,
            report: auto.report,
        }))
    }

    /// `func` after the default passes, before any precision lowering (as written, in
    /// `f32`).
    fn f32_graph(&self, func: &str) -> Result<tessera_dialects::Func, Error> {
        let mut plain = self.clone();
        plain.precision = tessera_egraph::Precision::F32;
        plain.auto.clear();
        plain.overrides.clear();
        plain
            .optimized_for(func)?
            .func(func)
            .cloned()
            .ok_or_else(|| Error::msg(format!("no function `{func}`")))
    }

    /// The weights of `func`: the indices of its parameters used as the right operand of
    /// a `matmul` or the weight of a `conv2d` as written (before any precision lowering),
    /// and, when [`Program::weight_names`] is set, named there.
    pub fn weight_params(&self, func: &str) -> Result<std::collections::BTreeSet<usize>, Error> {
        let f = self.f32_graph(func)?;
        let f = &f;
        let mut weights = tessera_passes::hoist::contraction_weights(f);
        if let Some(names) = &self.weight_names {
            let params = crate::inputs::params(f);
            weights.retain(|&i| params.get(i).is_some_and(|(n, _)| names.contains(n)));
        }
        Ok(weights)
    }

    /// With a lowered precision (fixed or `auto`), `func` split by weight hoisting
    /// (`tessera_passes::hoist`): a program in which `func` takes the hoisted values as
    /// extra parameters, the name of the function that computes them from the original
    /// inputs, and the indices of the original parameters `func` still takes (the weights
    /// it no longer reads are dropped: only their hoisted forms are held). The weights are
    /// the parameters used as the right operand of a `matmul` as written. `None` when
    /// there is nothing to hoist.
    pub fn hoisted(&self, func: &str) -> Result<Option<Hoist>, Error> {
        if self.precision == tessera_egraph::Precision::F32 && !self.auto.contains_key(func) {
            return Ok(None);
        }
        let missing = || Error::msg(format!("no function `{func}`"));
        let weights = self.weight_params(func)?;
        let lowered = self.optimized_for(func)?;
        let f = lowered.func(func).ok_or_else(missing)?;
        let Some(h) = tessera_passes::hoist::hoist_weights(f, &weights) else {
            return Ok(None);
        };
        let mut split = Module {
            funcs: vec![h.main, h.prep],
        };
        tessera_passes::PassManager::new(&["dce"])
            .and_then(|pm| pm.run(&mut split))
            .map_err(|e| Error::msg(format!("weight hoisting: {e}")))?;
        let prep = split.funcs[1].name.clone();
        let mut p = self.clone();
        p.module.funcs.push(split.funcs[1].clone());
        for f in split.funcs {
            p.overrides.insert(f.name.clone(), f);
        }
        Ok(Some(Hoist {
            program: p,
            prep,
            kept: h.kept,
        }))
    }

    /// `--explain`'s account of a fixed `--precision`: the rules that applied and, per
    /// contraction of `func`, the form it was lowered to or why it stays `f32`.
    pub(crate) fn fixed_precision_text(&self, func: &str) -> Result<String, Error> {
        let f = self.f32_graph(func)?;
        let f = &f;
        let opts = tessera_egraph::Options {
            precision: self.precision,
            ..Default::default()
        };
        let (notes, counts) = tessera_egraph::fixed::explain_fixed(f, &opts)
            .map_err(|e| Error::msg(format!("precision lowering: {e}")))?;
        Ok(tessera_egraph::fixed::explain_text(
            self.precision.name(),
            &notes,
            &counts,
            &|l| self.line_col(l),
        ))
    }

    /// `line:col` of a location in this program's source.
    pub fn line_col(&self, loc: Loc) -> Option<String> {
        let span = loc.0?;
        let (l, c) = tessera_frontend::diag::line_col(&self.src, span.start as usize);
        Some(format!("{}:{l}:{c}", self.file))
    }
}

/// `module` with the function of `f`'s name replaced by `f` (or `f` added).
pub(crate) fn with_func(module: &Module, f: &Func) -> Module {
    let mut m = module.clone();
    match m.funcs.iter_mut().find(|g| g.name == f.name) {
        Some(g) => *g = f.clone(),
        None => m.funcs.push(f.clone()),
    }
    m
}
