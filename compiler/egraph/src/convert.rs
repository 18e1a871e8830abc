//! Between graph functions and the e-graph: a function's body becomes e-nodes (its
//! parameters `Param` nodes, a `graph.fused` a kernel node), and a choice of one e-node per
//! needed e-class becomes a function again, with fused kernels as `graph.fused` operations.

use crate::analysis::{Graph, Types};
use crate::lang::{BodyNode, Head, Kernel, KernelKind, KernelRef, Node, OpAttrs};
use crate::OptError;
use egg::Id;
use std::collections::BTreeMap;
use tessera_dialects::{
    Attr, Attrs, Func, GraphOp, Loc, Op, Operation, Region, TensorType, Type, Value,
};

/// A function's body in an e-graph, and the e-classes it returns.
pub struct Built {
    pub egraph: Graph,
    pub roots: Vec<Id>,
    /// The e-class of each operation of the body with a result, by its index in the body
    /// (before any rewrite: call `find` after unions).
    pub ops: Vec<(usize, Id)>,
}

fn tensor(f: &Func, v: Value) -> Result<TensorType, OptError> {
    match f.values.get(v.index()).map(|d| &d.ty) {
        Some(Type::Tensor(t)) => Ok(t.clone()),
        _ => Err(OptError::new(format!(
            "`{}`: value {} is not a tensor",
            f.name, v.0
        ))),
    }
}

/// Adds the body of graph function `f` (calls inlined) to a new e-graph.
pub fn to_egraph(f: &Func) -> Result<Built, OptError> {
    let params = f
        .params
        .iter()
        .map(|p| tensor(f, *p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut egraph = Graph::new(Types::new(params));
    let mut ids: BTreeMap<Value, Id> = BTreeMap::new();
    for (i, p) in f.params.iter().enumerate() {
        let id = egraph.add(Node {
            head: Head::Param(i),
            children: Vec::new(),
        });
        ids.insert(*p, id);
    }
    let lookup = |ids: &BTreeMap<Value, Id>, v: &Value| {
        ids.get(v).copied().ok_or_else(|| {
            OptError::new(format!(
                "`{}`: value {} is used before it is defined",
                f.name, v.0
            ))
        })
    };
    let mut ops = Vec::new();
    for (index, op) in f.body.ops.iter().enumerate() {
        let g = op
            .op
            .as_graph()
            .ok_or_else(|| OptError::new(format!("`{}` holds a tile operation", f.name)))?;
        let kids = op
            .operands
            .iter()
            .map(|v| lookup(&ids, v))
            .collect::<Result<Vec<_>, _>>()?;
        let node = match g {
            GraphOp::Return => {
                egraph.rebuild();
                let roots = kids.iter().map(|k| egraph.find(*k)).collect();
                return Ok(Built { egraph, roots, ops });
            }
            GraphOp::Call => {
                return Err(OptError::new(format!(
                    "`{}` calls another function: inline calls before optimising",
                    f.name
                )))
            }
            GraphOp::Fused => Node {
                head: Head::Kernel(egraph.analysis.intern(kernel_of(f, op)?)),
                children: kids,
            },
            _ => Node::op(g, OpAttrs::new(op.attrs.clone()), kids),
        };
        let id = egraph.add(node);
        if let Some(r) = op.results.first() {
            ids.insert(*r, id);
            ops.push((index, id));
        }
    }
    Err(OptError::new(format!(
        "`{}` does not end with graph.return",
        f.name
    )))
}

/// The kernel of a `graph.fused` operation, read from its region.
fn kernel_of(f: &Func, op: &Operation) -> Result<Kernel, OptError> {
    let bad = |m: &str| OptError::new(format!("`{}`: a graph.fused {m}", f.name));
    let kind = op
        .attrs
        .str("kind")
        .and_then(KernelKind::from_name)
        .ok_or_else(|| bad("has no known `kind`"))?;
    let region = op.regions.first().ok_or_else(|| bad("has no region"))?;
    let mut at: BTreeMap<Value, usize> = BTreeMap::new();
    let mut body = Vec::new();
    for (i, a) in region.args.iter().enumerate() {
        at.insert(*a, body.len());
        body.push(BodyNode::Arg(i));
    }
    for inner in &region.ops {
        let g = inner
            .op
            .as_graph()
            .ok_or_else(|| bad("holds a tile operation"))?;
        let kids = inner
            .operands
            .iter()
            .map(|v| {
                at.get(v)
                    .copied()
                    .ok_or_else(|| bad("uses a value from outside"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if g == GraphOp::Yield {
            let root = *kids.first().ok_or_else(|| bad("yields nothing"))?;
            return Ok(crate::rules::fusion::compact(kind, &body, root));
        }
        at.insert(
            *inner
                .results
                .first()
                .ok_or_else(|| bad("has an op without result"))?,
            body.len(),
        );
        body.push(BodyNode::Op(g, OpAttrs::new(inner.attrs.clone()), kids));
    }
    Err(bad("region does not end with graph.yield"))
}

/// The source location of each e-class of `built`: that of the first operation of `f`
/// in it, keyed by the e-class as `egraph` (the saturated e-graph) now names it.
pub fn locations(f: &Func, built_ops: &[(usize, Id)], egraph: &Graph) -> BTreeMap<Id, Loc> {
    let mut out = BTreeMap::new();
    for (index, class) in built_ops {
        let loc = f.body.ops[*index].loc;
        if loc.0.is_some() {
            out.entry(egraph.find(*class)).or_insert(loc);
        }
    }
    out
}

/// Rebuilds a function with `f`'s signature whose body computes `roots`, taking for every
/// needed e-class the node `choose` picks (and its location from `locs`). A kernel of one elementwise operation prints as
/// that operation. Also returns the e-class of each `graph.fused`, in body order.
pub fn from_choice(
    f: &Func,
    egraph: &Graph,
    roots: &[Id],
    locs: &BTreeMap<Id, Loc>,
    choose: &dyn Fn(Id) -> Result<Node, OptError>,
) -> Result<(Func, Vec<Id>), OptError> {
    let mut out = Func::new(f.kind, &f.name);
    out.attrs = f.attrs.clone();
    out.result_types = f.result_types.clone();
    out.loc = f.loc;
    let mut params = Vec::new();
    for p in &f.params {
        let d = &f.values[p.index()];
        params.push(out.add_param(d.ty.clone(), d.name.clone()));
    }
    let mut b = Emitter {
        egraph,
        locs,
        choose,
        out,
        params,
        done: BTreeMap::new(),
        fused: Vec::new(),
    };
    let mut rets = Vec::new();
    for r in roots {
        rets.push(b.class(*r)?);
    }
    b.out.body.ops.push(Operation::new(
        Op::Graph(GraphOp::Return),
        rets,
        Vec::new(),
        Attrs::new(),
    ));
    Ok((b.out, b.fused))
}

struct Emitter<'a> {
    egraph: &'a Graph,
    locs: &'a BTreeMap<Id, Loc>,
    choose: &'a dyn Fn(Id) -> Result<Node, OptError>,
    out: Func,
    params: Vec<Value>,
    done: BTreeMap<Id, Value>,
    fused: Vec<Id>,
}

impl Emitter<'_> {
    /// The value of e-class `root`, emitting the chosen node of every class it needs, each
    /// after its operands (depth first, operands in order). Iterative, so that a chain of
    /// tens of thousands of operations does not exhaust the stack.
    fn class(&mut self, root: Id) -> Result<Value, OptError> {
        let root = self.egraph.find(root);
        // A class with its chosen node once its operands are being emitted.
        let mut stack: Vec<(Id, Option<Node>)> = vec![(root, None)];
        let mut open = std::collections::BTreeSet::new();
        while let Some((id, node)) = stack.pop() {
            if self.done.contains_key(&id) {
                continue;
            }
            match node {
                None => {
                    if !open.insert(id) {
                        return Err(OptError::new("the extracted program is cyclic".into()));
                    }
                    let node = (self.choose)(id)?;
                    let kids: Vec<Id> = node
                        .children
                        .iter()
                        .map(|c| self.egraph.find(*c))
                        .filter(|c| !self.done.contains_key(c))
                        .collect();
                    stack.push((id, Some(node)));
                    stack.extend(kids.into_iter().rev().map(|c| (c, None)));
                }
                Some(node) => {
                    self.emit_class(id, &node)?;
                    open.remove(&id);
                }
            }
        }
        Ok(self.done[&root])
    }

    /// Emits e-class `id` as `node`, whose operands are emitted.
    fn emit_class(&mut self, id: Id, node: &Node) -> Result<(), OptError> {
        let ty = self.egraph[id]
            .data
            .ty
            .clone()
            .ok_or_else(|| OptError::new("an e-class without a type was extracted".into()))?;
        let kids: Vec<Value> = node
            .children
            .iter()
            .map(|c| self.done[&self.egraph.find(*c)])
            .collect();
        let first_new = self.out.body.ops.len();
        let v = match &node.head {
            Head::Param(i) => *self
                .params
                .get(*i)
                .ok_or_else(|| OptError::new(format!("no parameter #{i}")))?,
            Head::Op(g, a) => self.emit(*g, a.attrs().clone(), kids, ty),
            Head::Kernel(k) if k.kind == KernelKind::Elementwise && k.op_count() == 1 => {
                self.inline_body(k, &kids)?
            }
            Head::Kernel(k) => {
                self.fused.push(id);
                self.fused(k, kids, ty)?
            }
        };
        // The operations of this e-class carry the source location of the operation of
        // the function it came from.
        if let Some(loc) = self.locs.get(&id) {
            for op in &mut self.out.body.ops[first_new..] {
                if op.loc.0.is_none() {
                    op.loc = *loc;
                }
            }
        }
        self.done.insert(id, v);
        Ok(())
    }

    fn emit(&mut self, g: GraphOp, attrs: Attrs, operands: Vec<Value>, ty: TensorType) -> Value {
        let r = self.out.new_value(Type::Tensor(ty), None);
        self.out
            .body
            .ops
            .push(Operation::new(Op::Graph(g), operands, vec![r], attrs));
        r
    }

    /// The types of every node of `k`'s body on the inputs `kids`.
    fn body_types(&self, k: &Kernel, kids: &[Value]) -> Result<Vec<TensorType>, OptError> {
        let tys: Vec<TensorType> = kids
            .iter()
            .map(|v| self.out.ty(*v).as_tensor().cloned())
            .collect::<Option<_>>()
            .ok_or_else(|| OptError::new("a kernel input is not a tensor".into()))?;
        crate::analysis::body_types(k, &tys)
            .ok_or_else(|| OptError::new("a kernel body does not type-check".into()))
    }

    /// Emits a kernel's body directly into the function (for a one-operation kernel).
    fn inline_body(&mut self, k: &Kernel, kids: &[Value]) -> Result<Value, OptError> {
        let body_tys = self.body_types(k, kids)?;
        let mut vals: Vec<Value> = Vec::new();
        for (n, t) in k.body.iter().zip(body_tys) {
            let v = match n {
                BodyNode::Arg(i) => kids[*i],
                BodyNode::Op(g, a, c) => {
                    let ops = c.iter().map(|j| vals[*j]).collect();
                    self.emit(*g, a.attrs().clone(), ops, t)
                }
            };
            vals.push(v);
        }
        vals.last()
            .copied()
            .ok_or_else(|| OptError::new("an empty kernel body".into()))
    }

    /// Emits `graph.fused` with the kernel's body as its region.
    fn fused(
        &mut self,
        k: &KernelRef,
        kids: Vec<Value>,
        ty: TensorType,
    ) -> Result<Value, OptError> {
        let body_tys = self.body_types(k, &kids)?;
        let mut region = Region::default();
        let mut vals: Vec<Value> = Vec::new();
        for (n, t) in k.body.iter().zip(body_tys) {
            let v = match n {
                BodyNode::Arg(_) => {
                    let a = self.out.new_value(Type::Tensor(t), None);
                    region.args.push(a);
                    a
                }
                BodyNode::Op(g, a, c) => {
                    let ops = c.iter().map(|j| vals[*j]).collect();
                    let r = self.out.new_value(Type::Tensor(t), None);
                    region.ops.push(Operation::new(
                        Op::Graph(*g),
                        ops,
                        vec![r],
                        a.attrs().clone(),
                    ));
                    r
                }
            };
            vals.push(v);
        }
        let root = *vals
            .last()
            .ok_or_else(|| OptError::new("an empty kernel body".into()))?;
        region.ops.push(Operation::new(
            Op::Graph(GraphOp::Yield),
            vec![root],
            Vec::new(),
            Attrs::new(),
        ));
        let mut attrs = Attrs::new().with("kind", Attr::Str(k.kind.name().into()));
        if let Some(rules) = self.egraph.analysis.provenance.get(k) {
            attrs.set("rules", Attr::Str(rules.join(",")));
        }
        let r = self.out.new_value(Type::Tensor(ty), None);
        let mut op = Operation::new(Op::Graph(GraphOp::Fused), kids, vec![r], attrs);
        op.regions.push(region);
        self.out.body.ops.push(op);
        Ok(r)
    }
}
