//! The e-graph language, derived from the graph dialect's declaration: an e-node is a
//! function parameter, a graph operation (any `GraphOp`, with its attributes) or a fused
//! kernel whose body is a small expression over its inputs.

use egg::{Id, Language};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tessera_dialects::print::attr_dict;
use tessera_dialects::{Attrs, GraphOp};

/// An operation's attributes, compared and hashed by their printed form (floats included,
/// so equality is exact and deterministic).
#[derive(Clone, Debug)]
pub struct OpAttrs {
    key: String,
    attrs: Attrs,
}

impl OpAttrs {
    pub fn new(attrs: Attrs) -> OpAttrs {
        let key = if attrs.is_empty() {
            String::new()
        } else {
            attr_dict(&attrs)
        };
        OpAttrs { key, attrs }
    }

    pub fn none() -> OpAttrs {
        OpAttrs::new(Attrs::new())
    }

    pub fn attrs(&self) -> &Attrs {
        &self.attrs
    }

    /// The printed form, `{a = 1}`, or empty.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl PartialEq for OpAttrs {
    fn eq(&self, other: &OpAttrs) -> bool {
        self.key == other.key
    }
}
impl Eq for OpAttrs {}
impl Hash for OpAttrs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state)
    }
}
impl PartialOrd for OpAttrs {
    fn partial_cmp(&self, other: &OpAttrs) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OpAttrs {
    fn cmp(&self, other: &OpAttrs) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// How a fused kernel is lowered (the `kind` of its `graph.fused`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelKind {
    /// Elementwise operations of one shape: one pass over memory.
    Elementwise,
    /// One `matmul` with an elementwise epilogue applied before the result is stored.
    Matmul,
    /// One `conv2d` (f32, one group) with an elementwise epilogue (bias, activation,
    /// residual) applied to each output tile before it is stored.
    Conv,
    /// A softmax, log-softmax, layernorm or rmsnorm over the last axis with an elementwise
    /// prologue computed in the row kernel's first loop.
    Row,
    /// A `sum`, `mean`, `max` or `min` over the last axis with an elementwise prologue
    /// computed tile by tile in the reduction's loop: the prologue's result is never
    /// written.
    Reduce,
    /// `softmax(q @ k^T [* c]) @ v` over the last axis, batched: one kernel with an online
    /// softmax over key tiles that never materialises the score matrix.
    Attention,
}

impl KernelKind {
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Elementwise => "elementwise",
            KernelKind::Matmul => "matmul",
            KernelKind::Conv => "conv",
            KernelKind::Row => "row",
            KernelKind::Reduce => "reduce",
            KernelKind::Attention => "attention",
        }
    }

    pub fn from_name(s: &str) -> Option<KernelKind> {
        [
            KernelKind::Elementwise,
            KernelKind::Matmul,
            KernelKind::Conv,
            KernelKind::Row,
            KernelKind::Reduce,
            KernelKind::Attention,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// One node of a kernel body: a kernel input or a graph operation on earlier nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BodyNode {
    /// The kernel's input `i` (its `i`-th child e-class).
    Arg(usize),
    /// An operation on earlier body nodes (by index).
    Op(GraphOp, OpAttrs, Vec<usize>),
}

/// A fused kernel: its kind and its body, in topological order with the result last.
/// Every input is used, and inputs are numbered in order of first use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kernel {
    pub kind: KernelKind,
    pub body: Vec<BodyNode>,
}

impl Kernel {
    /// The number of operations (arguments and 0-d constants not counted).
    pub fn op_count(&self) -> usize {
        self.body
            .iter()
            .filter(|n| matches!(n, BodyNode::Op(g, _, _) if *g != GraphOp::Constant))
            .count()
    }

    /// The operations, in body order.
    pub fn ops(&self) -> impl Iterator<Item = GraphOp> + '_ {
        self.body.iter().filter_map(|n| match n {
            BodyNode::Op(g, _, _) => Some(*g),
            BodyNode::Arg(_) => None,
        })
    }

    /// The number of inputs.
    pub fn arity(&self) -> usize {
        self.body
            .iter()
            .filter_map(|n| match n {
                BodyNode::Arg(i) => Some(*i + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// A shared kernel with its hash computed once: e-graph operations hash and compare nodes
/// constantly, and a kernel body is long. Ordered by that hash first (a deterministic,
/// arbitrary order), then by content.
#[derive(Clone, Debug)]
pub struct KernelRef {
    hash: u64,
    kernel: Arc<Kernel>,
}

impl KernelRef {
    pub fn new(kernel: Kernel) -> KernelRef {
        // SipHash with fixed keys: the same on every run and machine.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        kernel.hash(&mut h);
        KernelRef {
            hash: h.finish(),
            kernel: Arc::new(kernel),
        }
    }
}

impl std::ops::Deref for KernelRef {
    type Target = Kernel;
    fn deref(&self) -> &Kernel {
        &self.kernel
    }
}

impl PartialEq for KernelRef {
    fn eq(&self, other: &KernelRef) -> bool {
        self.hash == other.hash
            && (Arc::ptr_eq(&self.kernel, &other.kernel) || self.kernel == other.kernel)
    }
}
impl Eq for KernelRef {}
impl Hash for KernelRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.hash.hash(state)
    }
}
impl PartialOrd for KernelRef {
    fn partial_cmp(&self, other: &KernelRef) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KernelRef {
    fn cmp(&self, other: &KernelRef) -> Ordering {
        self.hash.cmp(&other.hash).then_with(|| {
            if Arc::ptr_eq(&self.kernel, &other.kernel) {
                Ordering::Equal
            } else {
                self.kernel.cmp(&other.kernel)
            }
        })
    }
}

/// What an e-node is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Head {
    /// The function's parameter `i`.
    Param(usize),
    /// A graph operation.
    Op(GraphOp, OpAttrs),
    /// A fused kernel; its children are its inputs.
    Kernel(KernelRef),
}

/// An e-node of the graph language.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    pub head: Head,
    pub children: Vec<Id>,
}

impl Node {
    pub fn op(g: GraphOp, attrs: OpAttrs, children: Vec<Id>) -> Node {
        Node {
            head: Head::Op(g, attrs),
            children,
        }
    }

    /// The graph operation, if this is one.
    pub fn graph_op(&self) -> Option<GraphOp> {
        match &self.head {
            Head::Op(g, _) => Some(*g),
            _ => None,
        }
    }

    pub fn kernel(&self) -> Option<&Kernel> {
        match &self.head {
            Head::Kernel(k) => Some(k),
            _ => None,
        }
    }
}

impl Language for Node {
    type Discriminant = Head;

    fn discriminant(&self) -> Head {
        self.head.clone()
    }

    fn matches(&self, other: &Node) -> bool {
        self.head == other.head && self.children.len() == other.children.len()
    }

    fn children(&self) -> &[Id] {
        &self.children
    }

    fn children_mut(&mut self) -> &mut [Id] {
        &mut self.children
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.head {
            Head::Param(i) => write!(f, "param{i}"),
            Head::Op(g, a) => write!(f, "{}{}", g.def().name, a.key()),
            Head::Kernel(k) => write!(f, "kernel.{}[{}]", k.kind.name(), k.body.len()),
        }
    }
}

/// Patterns name attribute-free graph operations by their dialect name (`neg`, `relu`);
/// rules on operations with attributes are written in Rust.
impl egg::FromOp for Node {
    type Error = String;

    fn from_op(op: &str, children: Vec<Id>) -> Result<Node, String> {
        let g = GraphOp::from_name(op).ok_or_else(|| format!("no graph operation `{op}`"))?;
        if !g.def().attrs.is_empty() {
            return Err(format!(
                "`{op}` has attributes: write rules on it in Rust, not as a pattern"
            ));
        }
        Ok(Node::op(g, OpAttrs::none(), children))
    }
}
