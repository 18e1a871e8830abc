//! Layout identities: transposes and reshapes that compose or cancel. Each is exact (they
//! move elements without computing).

use super::algebra::FnRule;
use super::{class_rule, Found, Rule};
use crate::analysis::{ty, Graph};
use crate::lang::{Head, Node, OpAttrs};
use egg::Id;
use tessera_dialects::{Attr, Attrs, GraphOp};

/// The layout table.
pub fn rules() -> Vec<Rule> {
    vec![
        // transpose(transpose(x, p), q) = transpose(x, [p[q[0]], p[q[1]], ...]), and
        // transpose(x, identity) = x.
        class_rule("transpose-transpose", FnRule(transpose_transpose)),
        class_rule("transpose-identity", FnRule(transpose_identity)),
        // reshape(reshape(x, s1), s2) = reshape(x, s2): C order is kept by both.
        class_rule("reshape-reshape", FnRule(reshape_reshape)),
        // reshape(x, shape(x)) = x.
        class_rule("reshape-identity", FnRule(reshape_identity)),
    ]
}

fn nodes_of(g: &Graph, class: Id, op: GraphOp) -> Vec<(Attrs, Vec<Id>)> {
    g[class]
        .nodes
        .iter()
        .filter_map(|n| match &n.head {
            Head::Op(o, a) if *o == op => Some((a.attrs().clone(), n.children.clone())),
            _ => None,
        })
        .collect()
}

fn transpose_transpose(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    for (outer, kids) in nodes_of(g, class, GraphOp::Transpose) {
        let Some(q) = outer.ints("perm") else {
            continue;
        };
        for (inner, inner_kids) in nodes_of(g, kids[0], GraphOp::Transpose) {
            let Some(p) = inner.ints("perm") else {
                continue;
            };
            let r: Option<Vec<i64>> = q
                .iter()
                .map(|i| usize::try_from(*i).ok().and_then(|i| p.get(i).copied()))
                .collect();
            let Some(r) = r else { continue };
            let x = inner_kids[0];
            if r.iter().enumerate().all(|(i, v)| *v == i as i64) {
                out.push(Found::Class(x));
            } else {
                let attrs = Attrs::new().with("perm", Attr::Ints(r));
                out.push(Found::Node(
                    Node::op(GraphOp::Transpose, OpAttrs::new(attrs), vec![x]),
                    Vec::new(),
                ));
            }
        }
    }
    out
}

fn transpose_identity(g: &Graph, class: Id) -> Vec<Found> {
    nodes_of(g, class, GraphOp::Transpose)
        .into_iter()
        .filter(|(a, _)| {
            a.ints("perm")
                .is_some_and(|p| p.iter().enumerate().all(|(i, v)| *v == i as i64))
        })
        .map(|(_, kids)| Found::Class(kids[0]))
        .collect()
}

fn reshape_reshape(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    for (outer, kids) in nodes_of(g, class, GraphOp::Reshape) {
        for (_, inner_kids) in nodes_of(g, kids[0], GraphOp::Reshape) {
            out.push(Found::Node(
                Node::op(GraphOp::Reshape, OpAttrs::new(outer.clone()), inner_kids),
                Vec::new(),
            ));
        }
    }
    out
}

fn reshape_identity(g: &Graph, class: Id) -> Vec<Found> {
    nodes_of(g, class, GraphOp::Reshape)
        .into_iter()
        .filter(|(_, kids)| ty(g, kids[0]).is_some() && ty(g, kids[0]) == ty(g, class))
        .map(|(_, kids)| Found::Class(kids[0]))
        .collect()
}
