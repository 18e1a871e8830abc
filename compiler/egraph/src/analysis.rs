//! The e-class analysis: every e-class knows its tensor type (from the dialect's one
//! inference function) and, for a 0-d literal, its value. Rules read both.

use crate::lang::{BodyNode, Head, Kernel, KernelRef, Node};
use egg::{DidMerge, EGraph, Id};
use std::collections::BTreeMap;
use tessera_dialects::graph::infer::infer;
use tessera_dialects::{Attr, GraphOp, TensorType};

/// The graph e-graph.
pub type Graph = EGraph<Node, Types>;

/// What is known of an e-class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassData {
    /// The type of every term in the class (`None` only if inference failed, which rules
    /// never cause: such classes are left alone).
    pub ty: Option<TensorType>,
    /// The value of a 0-d `graph.constant` in the class.
    pub constant: Option<f64>,
}

/// The analysis: parameter types, and which rules formed each fused kernel (for
/// `--explain`).
#[derive(Debug, Default)]
pub struct Types {
    pub params: Vec<TensorType>,
    pub provenance: BTreeMap<KernelRef, Vec<&'static str>>,
    /// Contractions the precision table leaves in `f32` (attention's, see
    /// `rules::fusion::attention_contractions`), as e-classes when the phase began.
    pub keep_f32: std::collections::BTreeSet<egg::Id>,
    /// Every kernel made so far, so that equal kernels share one allocation and compare
    /// by pointer (a long program repeats the same body in many e-classes).
    interned: std::sync::Mutex<std::collections::HashMap<Kernel, KernelRef>>,
}

impl Types {
    pub fn new(params: Vec<TensorType>) -> Types {
        Types {
            params,
            ..Types::default()
        }
    }

    /// The shared reference to a kernel equal to `k`.
    pub fn intern(&self, k: Kernel) -> KernelRef {
        let mut table = self.interned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = table.get(&k) {
            return r.clone();
        }
        let r = KernelRef::new(k.clone());
        table.insert(k, r.clone());
        r
    }

    /// Records that `rule` formed `k` from kernels with the given histories.
    pub fn record(&mut self, k: &KernelRef, rule: &'static str, from: &[&KernelRef]) {
        if self.provenance.contains_key(k) {
            return;
        }
        let mut rules: Vec<&'static str> = Vec::new();
        for p in from {
            for r in self.provenance.get(*p).into_iter().flatten() {
                if !rules.contains(r) {
                    rules.push(r);
                }
            }
        }
        if !rules.contains(&rule) {
            rules.push(rule);
        }
        self.provenance.insert(k.clone(), rules);
    }
}

/// The type of the class `id`.
pub fn ty(g: &Graph, id: Id) -> Option<&TensorType> {
    g[id].data.ty.as_ref()
}

/// The types of every node of a kernel body, given its inputs' types.
pub fn body_types(k: &Kernel, args: &[TensorType]) -> Option<Vec<TensorType>> {
    let mut out: Vec<TensorType> = Vec::with_capacity(k.body.len());
    for n in &k.body {
        let t = match n {
            BodyNode::Arg(i) => args.get(*i)?.clone(),
            BodyNode::Op(g, a, kids) => {
                let tys: Vec<TensorType> = kids
                    .iter()
                    .map(|c| out.get(*c).cloned())
                    .collect::<Option<_>>()?;
                infer(*g, a.attrs(), &tys).ok()?.into_iter().next()?
            }
        };
        out.push(t);
    }
    Some(out)
}

impl egg::Analysis<Node> for Types {
    type Data = ClassData;

    fn make(egraph: &mut Graph, enode: &Node, _id: Id) -> ClassData {
        let kid_types = || -> Option<Vec<TensorType>> {
            enode
                .children
                .iter()
                .map(|c| egraph[*c].data.ty.clone())
                .collect()
        };
        let (ty, constant) = match &enode.head {
            Head::Param(i) => (egraph.analysis.params.get(*i).cloned(), None),
            Head::Op(g, a) => {
                let ty = kid_types().and_then(|tys| {
                    infer(*g, a.attrs(), &tys)
                        .ok()
                        .and_then(|r| r.into_iter().next())
                });
                let constant = match (*g, a.attrs().get("value")) {
                    (GraphOp::Constant, Some(Attr::Float(v))) => Some(*v),
                    (GraphOp::Constant, Some(Attr::Int(v))) => Some(*v as f64),
                    _ => None,
                };
                (ty, constant)
            }
            Head::Kernel(k) => (
                kid_types()
                    .and_then(|tys| body_types(k, &tys))
                    .and_then(|t| t.last().cloned()),
                None,
            ),
        };
        ClassData { ty, constant }
    }

    fn merge(&mut self, a: &mut ClassData, b: ClassData) -> DidMerge {
        let mut changed_a = false;
        if a.ty.is_none() && b.ty.is_some() {
            a.ty = b.ty.clone();
            changed_a = true;
        }
        if a.constant.is_none() && b.constant.is_some() {
            a.constant = b.constant;
            changed_a = true;
        }
        DidMerge(changed_a, *a != b)
    }
}
