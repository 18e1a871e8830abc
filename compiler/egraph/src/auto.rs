//! `--precision auto`: per contraction, the cheapest lowering whose end-to-end error on
//! calibration data stays within a budget.
//!
//! Every lowered form of the precision table ([`Form`]) is added to the e-class of each
//! `f32` contraction (`matmul`, `einsum`, `conv2d`), next to the contraction
//! as written (the forms that apply to it: `int8/block32` needs a static reduction of 32 *
//! n, from 64 on (`matmul`'s K, an einsum's last contracted label, a `groups = 1`
//! convolution's input channels, up to 1024 for the last), the `i8` forms of an
//! einsum need a label contracted across both operands and none summed within one).
//! Each alternative is priced by the cost
//! model as the whole program it gives with every other contraction as written: the
//! operations on weights alone hoisted out (they run once, when the weights are bound:
//! `tessera_passes::hoist`), the rest through the e-graph optimiser, so that what fuses
//! is priced fused. Extraction takes, per contraction, the cheapest alternative not
//! rejected yet; the caller measures the extracted program's
//! error against the `f32` program on its calibration data (the interpreter is the
//! oracle). Over the budget, the offending lowering is rejected: of the contractions
//! lowered in this round, the one whose form alone (every other contraction in `f32`)
//! gives the largest error. Extraction repeats. The `f32` form is never rejected and an
//! all-`f32` program has no error, so the loop ends, after at most one round per
//! alternative.

use crate::analysis::{ty, Graph};
use crate::lang::Node;
use crate::rules::precision::{Contraction, Form, Lower};
use crate::{convert, OptError, Options};
use egg::Id;
use std::collections::BTreeMap;
use tessera_dialects::{DType, Func, Loc};

/// One way to compute a contraction: as written (`form: None`) or lowered.
#[derive(Clone, Debug)]
pub struct Alternative {
    pub form: Option<Form>,
    /// The root e-node of the alternative's term, and its e-class before the union.
    node: Node,
    root: Id,
    /// The cost model's seconds for the whole program with this alternative and every
    /// other contraction as written (weight-only work excluded, fusion included).
    pub predicted_s: f64,
}

impl Alternative {
    /// The form's short name (`f32` as written).
    pub fn name(&self) -> &'static str {
        self.form.map_or("f32", Form::name)
    }
}

/// A contraction that can be lowered, and its alternatives, cheapest first.
#[derive(Clone, Debug)]
pub struct Site {
    /// `matmul #i`, `einsum #i` or `conv2d #i` (in body order per kind), with the
    /// operand types.
    pub label: String,
    /// Where the contraction is in the source.
    pub loc: Loc,
    /// The kind of contraction.
    pub kind: Contraction,
    class: Id,
    pub alternatives: Vec<Alternative>,
}

/// A function's e-graph with every lowered alternative of every contraction.
pub struct Candidates {
    func: Func,
    graph: Graph,
    roots: Vec<Id>,
    locs: BTreeMap<Id, tessera_dialects::Loc>,
    pub sites: Vec<Site>,
}

impl Candidates {
    /// Adds the alternatives of every `f32` contraction of `f` and prices them under
    /// `opts`' cost model.
    pub fn new(f: &Func, opts: &Options) -> Result<Candidates, OptError> {
        let built = convert::to_egraph(f)?;
        let mut g: Graph = built.egraph;
        let mut sites = Vec::new();
        let mut counts: BTreeMap<Contraction, usize> = BTreeMap::new();
        for (index, class) in &built.ops {
            let op = &f.body.ops[*index];
            let Some(kind) = op.op.as_graph().and_then(Contraction::of) else {
                continue;
            };
            let lowerable = Lower {
                op: kind,
                form: Form::Float(DType::BF16),
            };
            let Some(node) = lowerable.sites(&g, *class).into_iter().next() else {
                continue;
            };
            let operands: Vec<String> = node
                .children
                .iter()
                .filter_map(|c| ty(&g, *c).map(|t| t.to_string()))
                .collect();
            let count = counts.entry(kind).or_default();
            *count += 1;
            let texts: Vec<&str> = operands.iter().map(String::as_str).collect();
            let label = kind.label(*count, op.attrs.str("spec"), &texts);
            let mut alternatives = vec![Alternative {
                form: None,
                node: node.clone(),
                root: *class,
                predicted_s: 0.0,
            }];
            for form in Form::ALL {
                let lower = Lower { op: kind, form };
                if kind.rule(form).is_none() || lower.sites(&g, *class).is_empty() {
                    continue;
                }
                let Some(root) = lower.build(&mut g, *class, &node) else {
                    continue;
                };
                let node = g[root].nodes[0].clone();
                alternatives.push(Alternative {
                    form: Some(form),
                    node,
                    root,
                    predicted_s: 0.0,
                });
            }
            sites.push(Site {
                label,
                loc: op.loc,
                kind,
                class: *class,
                alternatives,
            });
        }
        for s in &sites {
            for a in &s.alternatives {
                g.union(a.root, s.class);
            }
        }
        g.rebuild();
        let roots = built.roots.iter().map(|r| g.find(*r)).collect();
        let locs = convert::locations(f, &built.ops, &g);
        let mut c = Candidates {
            func: f.clone(),
            graph: g,
            roots,
            locs,
            sites,
        };
        c.price(opts)?;
        Ok(c)
    }

    /// Prices every alternative as its whole program ([`Alternative::predicted_s`]) and
    /// sorts each site's alternatives cheapest first (ties keep the table's order, the
    /// form as written first).
    fn price(&mut self, opts: &Options) -> Result<(), OptError> {
        let weights = tessera_passes::hoist::contraction_weights(&self.func);
        let mut opts = opts.clone();
        opts.precision = crate::Precision::F32;
        let predict = |f: &Func| -> Result<f64, OptError> {
            let main = match tessera_passes::hoist::hoist_weights(f, &weights) {
                Some(h) => h.main,
                None => f.clone(),
            };
            Ok(crate::optimize(&main, &opts)?.report.after.0)
        };
        let as_written = self.uniform(None);
        let base = predict(&self.build(&as_written)?)?;
        for s in 0..self.sites.len() {
            for a in 0..self.sites[s].alternatives.len() {
                let cost = if self.sites[s].alternatives[a].form.is_none() {
                    base
                } else {
                    let mut plan = as_written.clone();
                    plan[s] = a;
                    predict(&self.build(&plan)?)?
                };
                self.sites[s].alternatives[a].predicted_s = cost;
            }
        }
        // Sorted once all are priced: `as_written` holds indices into the table's order.
        for site in self.sites.iter_mut() {
            site.alternatives
                .sort_by(|x, y| x.predicted_s.total_cmp(&y.predicted_s));
        }
        Ok(())
    }

    /// The function that computes site `i` with alternative `plan[i]` (an index into its
    /// alternatives) and every other operation as written.
    pub fn build(&self, plan: &[usize]) -> Result<Func, OptError> {
        let g = &self.graph;
        let mut chosen: BTreeMap<Id, Node> = BTreeMap::new();
        for (s, &a) in self.sites.iter().zip(plan) {
            let alt = s
                .alternatives
                .get(a)
                .ok_or_else(|| OptError::new(format!("{}: no alternative {a}", s.label)))?;
            chosen.insert(g.find(s.class), alt.node.clone());
        }
        let choose = |id: Id| -> Result<Node, OptError> {
            let id = g.find(id);
            match chosen.get(&id) {
                Some(n) => Ok(n.clone()),
                None => g[id]
                    .nodes
                    .first()
                    .cloned()
                    .ok_or_else(|| OptError::new("an empty e-class".into())),
            }
        };
        Ok(convert::from_choice(&self.func, g, &self.roots, &self.locs, &choose)?.0)
    }

    /// The plan that takes, per site, the alternative of `form` (`None`: as written), or
    /// the form as written where the site has no such alternative.
    pub fn uniform(&self, form: Option<Form>) -> Vec<usize> {
        self.sites
            .iter()
            .map(|s| {
                s.alternatives
                    .iter()
                    .position(|a| a.form == form)
                    .or_else(|| s.alternatives.iter().position(|a| a.form.is_none()))
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// One round of the accuracy loop.
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    /// The form of each site, by name.
    pub forms: Vec<&'static str>,
    /// The measured error of the round's program.
    pub error: f64,
    /// The lowering rejected after the round: site, form, and the error of that form alone.
    pub rejected: Option<(usize, &'static str, f64)>,
}

/// What the accuracy loop chose and why.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoReport {
    pub max_error: f64,
    /// Per site: its label, location, the chosen alternative (name, description,
    /// predicted seconds), and the rejected ones with the error each gave alone.
    pub sites: Vec<SiteNote>,
    pub rounds: Vec<Round>,
    /// The error of the chosen program on the calibration data.
    pub error: f64,
}

/// The decision for one contraction.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteNote {
    pub label: String,
    pub loc: Loc,
    pub chosen: &'static str,
    pub describe: &'static str,
    pub predicted_s: f64,
    /// Rejected alternatives: name, predicted seconds, error alone.
    pub rejected: Vec<(&'static str, f64, f64)>,
    /// The cheapest alternative that was not tried, if it is dearer than the chosen one.
    pub next: Option<(&'static str, f64)>,
}

/// The result of `--precision auto` on one function.
#[derive(Clone, Debug)]
pub struct Auto {
    pub func: Func,
    pub report: AutoReport,
}

/// Chooses a lowering per contraction of `f`: the cheapest under `opts`' cost model whose
/// program's error, as `measure` reports it, is at most `max_error` (the module doc).
pub fn choose(
    f: &Func,
    opts: &Options,
    max_error: f64,
    measure: &mut dyn FnMut(&Func) -> Result<f64, OptError>,
) -> Result<Auto, OptError> {
    let c = Candidates::new(f, opts)?;
    let mut rejected: Vec<BTreeMap<usize, f64>> = vec![BTreeMap::new(); c.sites.len()];
    let mut alone: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    let mut rounds = Vec::new();
    let as_written = c.uniform(None);
    loop {
        let plan: Vec<usize> = c
            .sites
            .iter()
            .zip(&rejected)
            .map(|(s, r)| {
                (0..s.alternatives.len())
                    .find(|i| s.alternatives[*i].form.is_none() || !r.contains_key(i))
                    .unwrap_or(0)
            })
            .collect();
        let func = c.build(&plan)?;
        let error = measure(&func)?;
        let forms = c
            .sites
            .iter()
            .zip(&plan)
            .map(|(s, a)| s.alternatives[*a].name())
            .collect();
        let lowered: Vec<usize> = (0..plan.len())
            .filter(|s| c.sites[*s].alternatives[plan[*s]].form.is_some())
            .collect();
        if error <= max_error || lowered.is_empty() {
            rounds.push(Round {
                forms,
                error,
                rejected: None,
            });
            let report = report(&c, &plan, &rejected, rounds, error, max_error);
            return Ok(Auto { func, report });
        }
        // The offending lowering: the largest error alone (NaN counts as the largest).
        let mut worst: Option<(usize, f64)> = None;
        for s in lowered {
            let a = plan[s];
            let e = match alone.get(&(s, a)) {
                Some(e) => *e,
                None => {
                    let mut only = as_written.clone();
                    only[s] = a;
                    let e = measure(&c.build(&only)?)?;
                    let e = if e.is_nan() { f64::INFINITY } else { e };
                    alone.insert((s, a), e);
                    e
                }
            };
            if worst.is_none_or(|(_, w)| e > w) {
                worst = Some((s, e));
            }
        }
        let (s, e) = worst.unwrap_or((0, f64::INFINITY));
        rejected[s].insert(plan[s], e);
        rounds.push(Round {
            forms,
            error,
            rejected: Some((s, c.sites[s].alternatives[plan[s]].name(), e)),
        });
    }
}

fn report(
    c: &Candidates,
    plan: &[usize],
    rejected: &[BTreeMap<usize, f64>],
    rounds: Vec<Round>,
    error: f64,
    max_error: f64,
) -> AutoReport {
    let sites = c
        .sites
        .iter()
        .zip(plan)
        .zip(rejected)
        .map(|((s, &a), r)| {
            let alt = &s.alternatives[a];
            SiteNote {
                label: s.label.clone(),
                loc: s.loc,
                chosen: alt.name(),
                describe: alt
                    .form
                    .map_or("as written: f32 operands and accumulation", |f| {
                        s.kind.describe(f)
                    }),
                predicted_s: alt.predicted_s,
                rejected: r
                    .iter()
                    .map(|(i, e)| {
                        let x = &s.alternatives[*i];
                        (x.name(), x.predicted_s, *e)
                    })
                    .collect(),
                next: s.alternatives.get(a + 1).map(|x| (x.name(), x.predicted_s)),
            }
        })
        .collect();
    AutoReport {
        max_error,
        sites,
        rounds,
        error,
    }
}

impl AutoReport {
    /// The decisions as `//` lines (`dump --ir graph-opt --explain`); `line_col` turns a
    /// location into `line:col` where it can.
    pub fn explain(&self, line_col: &dyn Fn(Loc) -> Option<String>) -> String {
        let mut out = format!(
            "// precision auto: the cheapest lowering per contraction within max-error {:.2e} on the calibration data\n\
             // (each lowering priced as the whole program with it and every other contraction in f32; work on weights alone runs once, when they are bound)\n",
            self.max_error
        );
        for (i, r) in self.rounds.iter().enumerate() {
            let verdict = match &r.rejected {
                Some((s, name, e)) => format!(
                    "over the budget; rejected {name} for {} (error {} alone)",
                    self.sites[*s].label,
                    fmt_error(*e)
                ),
                None if r.error <= self.max_error => "within the budget".to_string(),
                None => "over the budget with every contraction in f32".to_string(),
            };
            out.push_str(&format!(
                "//   round {}: [{}] -> error {}: {verdict}\n",
                i + 1,
                r.forms.join(", "),
                fmt_error(r.error)
            ));
        }
        for s in &self.sites {
            let at = line_col(s.loc)
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "// {}{at}: {} ({}); predicted program time with it: {}\n",
                s.label,
                s.chosen,
                s.describe,
                crate::report::us(s.predicted_s)
            ));
            for (name, p, e) in &s.rejected {
                out.push_str(&format!(
                    "//   rejected {name}: predicted {}, error {} alone\n",
                    crate::report::us(*p),
                    fmt_error(*e)
                ));
            }
            if let Some((name, p)) = s.next {
                out.push_str(&format!(
                    "//   next cheapest: {name}, predicted {}\n",
                    crate::report::us(p)
                ));
            }
        }
        out.push_str(&format!(
            "// measured error on the calibration data: {} (max-error {:.2e})\n",
            fmt_error(self.error),
            self.max_error
        ));
        out
    }
}

fn fmt_error(e: f64) -> String {
    if e.is_finite() {
        format!("{e:.2e}")
    } else {
        "not finite".to_string()
    }
}

impl std::fmt::Debug for Candidates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidates")
            .field("func", &self.func.name)
            .field("sites", &self.sites)
            .finish()
    }
}
