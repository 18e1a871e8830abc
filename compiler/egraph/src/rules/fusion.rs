//! Fusion as rewrites into kernel forms, so that extraction chooses the kernel boundaries.
//! A kernel e-node is equal to the operation it computes; its children are its inputs.
//!
//! - `fuse-elementwise`: an elementwise operation is a one-operation elementwise kernel
//!   (0-d literals become lines of its body).
//! - `fuse-producer`: an elementwise kernel reading the result of an elementwise operation
//!   of its own shape computes that operation itself (kernels grow one operation at a
//!   time); reading a 2-D-weight `matmul` of its shape (f32, or i8 with an i32 result)
//!   makes it that matmul's epilogue (kind `matmul`).
//! - `fuse-row-prologue`: a softmax, log-softmax, layernorm or rmsnorm over the last axis
//!   computes the elementwise kernel of its own type that produces its input (kind `row`).
//! - `fuse-reduce-prologue`: a `sum`, `mean`, `max` or `min` over the last axis computes
//!   the elementwise kernel that produces its input, tile by tile in its loop, so the
//!   input is never written (kind `reduce`, e.g. the int8 activation scale's
//!   `max(abs(x), axis: -1)`).
//! - `fuse-attention`: a batched `matmul(p, v)` whose `p` is `softmax(s [* c] [+ m])` or
//!   `softmax(where(b, s [* c], f))` over the last axis (a plain softmax or a row kernel,
//!   `c` and `f` 0-d literals, `m` an f32 additive mask and `b` a bool mask, true where a
//!   key is seen, that broadcast to the scores, such as a causal `[S, T]` or a padding `[B,
//!   1, 1, T]` mask) and whose `s` is `einsum "...qd,...kd->...qk"` of `q` and
//!   `k` is one attention kernel reading q, k, v and m (kind `attention`, lowered with an
//!   online softmax over key tiles).
//!
//! A kernel holds at most one matmul or norm (its anchor), at most [`MAX_OPS`] operations
//! and [`MAX_INPUTS`] inputs, and reads its other inputs whole, as a row broadcast over
//! the result's leading axes, as a column (`[.., M, 1]`, one value per row, such as the
//! int8 per-row activation scale), or as a scalar: what the tile lowering can load.

use super::algebra::FnRule;
use super::{class_rule, ClassRule, Found, Rule};
use crate::analysis::{ty, Graph};
use crate::lang::{BodyNode, Head, Kernel, KernelKind, KernelRef, Node};
use egg::Id;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use tessera_dialects::dialect::Trait;
use tessera_dialects::{DType, GraphOp, SymExpr, TensorType};

/// The most operations one kernel body holds.
pub const MAX_OPS: usize = 24;
/// The most inputs one kernel reads.
pub const MAX_INPUTS: usize = 8;

/// The fusion table.
pub fn rules() -> Vec<Rule> {
    vec![
        class_rule("fuse-elementwise", FnRule(fuse_elementwise)),
        class_rule("fuse-producer", Producer::default()),
        class_rule("fuse-row-prologue", FnRule(fuse_row_prologue)),
        class_rule("fuse-reduce-prologue", FnRule(fuse_reduce_prologue)),
        class_rule("fuse-attention", FnRule(fuse_attention)),
    ]
}

/// Whether `g` is computed element by element (and may be fused).
pub fn is_elementwise(g: GraphOp) -> bool {
    g.def().has_trait(Trait::Elementwise)
}

/// Whether `g` is a norm the row kernel computes.
pub fn is_row_op(g: GraphOp) -> bool {
    matches!(
        g,
        GraphOp::Softmax | GraphOp::LogSoftmax | GraphOp::LayerNorm | GraphOp::RmsNorm
    )
}

/// Whether `g` is a reduction the `reduce` kernel computes (over the last axis).
pub fn is_reduce_op(g: GraphOp) -> bool {
    matches!(
        g,
        GraphOp::ReduceSum | GraphOp::ReduceMean | GraphOp::ReduceMax | GraphOp::ReduceMin
    )
}

/// The canonical form of a kernel whose body `nodes` (the result at `root`) reads input
/// `args[i]` through `Arg(i)`: inputs that are the same e-class are one input, equal
/// operations are one node, nodes are in post-order from the root, and inputs are numbered
/// in order of first use. Returns the kernel and its children.
pub fn canonical(
    kind: KernelKind,
    nodes: &[BodyNode],
    root: usize,
    args: &[Id],
) -> (Kernel, Vec<Id>) {
    struct St<'a> {
        nodes: &'a [BodyNode],
        args: &'a [Id],
        memo: BTreeMap<usize, usize>,
        seen: BTreeMap<BodyNode, usize>,
        arg_of: BTreeMap<Id, usize>,
        out: Vec<BodyNode>,
        kids: Vec<Id>,
    }
    fn visit(st: &mut St, i: usize) -> usize {
        if let Some(v) = st.memo.get(&i) {
            return *v;
        }
        let n = match &st.nodes[i] {
            BodyNode::Arg(a) => {
                let class = st.args[*a];
                let k = match st.arg_of.get(&class) {
                    Some(k) => *k,
                    None => {
                        st.kids.push(class);
                        st.arg_of.insert(class, st.kids.len() - 1);
                        st.kids.len() - 1
                    }
                };
                BodyNode::Arg(k)
            }
            BodyNode::Op(g, a, c) => {
                let c: Vec<usize> = c.iter().map(|j| visit(st, *j)).collect();
                BodyNode::Op(*g, a.clone(), c)
            }
        };
        let v = match st.seen.get(&n) {
            Some(v) => *v,
            None => {
                st.out.push(n.clone());
                st.seen.insert(n, st.out.len() - 1);
                st.out.len() - 1
            }
        };
        st.memo.insert(i, v);
        v
    }
    let mut st = St {
        nodes,
        args,
        memo: BTreeMap::new(),
        seen: BTreeMap::new(),
        arg_of: BTreeMap::new(),
        out: Vec::new(),
        kids: Vec::new(),
    };
    visit(&mut st, root);
    (Kernel { kind, body: st.out }, st.kids)
}

/// Canonical form of a body whose inputs are numbered already (a `graph.fused` region).
pub fn compact(kind: KernelKind, nodes: &[BodyNode], root: usize) -> Kernel {
    let n = nodes
        .iter()
        .filter_map(|b| match b {
            BodyNode::Arg(i) => Some(*i + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let ids: Vec<Id> = (0..n).map(Id::from).collect();
    canonical(kind, nodes, root, &ids).0
}

/// A node of `class` seen as a kernel: a kernel node itself, an elementwise operation as a
/// one-operation elementwise kernel, or a `matmul` with a 2-D weight ([`matmul_fusable`])
/// as a matmul kernel without epilogue.
fn as_kernel(g: &Graph, n: &Node) -> Option<(KernelRef, Vec<Id>)> {
    match &n.head {
        Head::Kernel(k) => Some((k.clone(), n.children.clone())),
        Head::Op(op, a) if is_elementwise(*op) => {
            let mut nodes = Vec::new();
            let mut args = Vec::new();
            let mut kids = Vec::new();
            for c in &n.children {
                let lit = g[*c].nodes.iter().find(|m| {
                    m.graph_op() == Some(GraphOp::Constant)
                        && ty(g, *c).is_some_and(|t| t.rank() == 0)
                });
                match lit {
                    Some(Node {
                        head: Head::Op(_, la),
                        ..
                    }) => nodes.push(BodyNode::Op(GraphOp::Constant, la.clone(), Vec::new())),
                    _ => {
                        nodes.push(BodyNode::Arg(args.len()));
                        args.push(*c);
                    }
                }
                kids.push(nodes.len() - 1);
            }
            nodes.push(BodyNode::Op(*op, a.clone(), kids));
            let (k, ch) = canonical(KernelKind::Elementwise, &nodes, nodes.len() - 1, &args);
            Some((g.analysis.intern(k), ch))
        }
        Head::Op(GraphOp::Conv2d, a) if conv_fusable(g, &n.children, a) => {
            let nodes = vec![
                BodyNode::Arg(0),
                BodyNode::Arg(1),
                BodyNode::Op(GraphOp::Conv2d, a.clone(), vec![0, 1]),
            ];
            let (k, ch) = canonical(KernelKind::Conv, &nodes, 2, &n.children);
            Some((g.analysis.intern(k), ch))
        }
        Head::Op(GraphOp::MatMul, a) if matmul_fusable(g, &n.children) => {
            let nodes = vec![
                BodyNode::Arg(0),
                BodyNode::Arg(1),
                BodyNode::Op(GraphOp::MatMul, a.clone(), vec![0, 1]),
            ];
            let (k, ch) = canonical(KernelKind::Matmul, &nodes, 2, &n.children);
            Some((g.analysis.intern(k), ch))
        }
        _ => None,
    }
}

/// A matmul whose epilogue the tile lowering fuses: float operands of one dtype (narrow
/// ones widened and accumulated in `f32`, the epilogue reading the result rounded once),
/// or `i8` ones, whose `i32` accumulator the epilogue reads (the int8 dequantisation); a
/// 2-D right operand.
fn matmul_fusable(g: &Graph, kids: &[Id]) -> bool {
    let (Some(a), Some(b)) = (ty(g, kids[0]), ty(g, kids[1])) else {
        return false;
    };
    let dtypes = a.dtype == b.dtype && (a.dtype.is_float() || a.dtype == DType::I8);
    dtypes && a.rank() >= 2 && b.rank() == 2
}

/// A conv2d whose epilogue the tile lowering fuses: the implicit GEMM's, f32 operands and
/// one group.
fn conv_fusable(g: &Graph, kids: &[Id], a: &crate::lang::OpAttrs) -> bool {
    let (Some(x), Some(w)) = (ty(g, kids[0]), ty(g, kids[1])) else {
        return false;
    };
    x.dtype == DType::F32 && w.dtype == DType::F32 && a.attrs().int("groups").unwrap_or(1) == 1
}

/// Whether `shape` broadcasts to `out` (NumPy, right-aligned, no larger rank): each of its
/// axes is `out`'s or 1. What elementwise kernels and conv epilogues read (their tiles are
/// loaded with index 0 and size 1 on the broadcast axes).
pub fn broadcasts(shape: &[SymExpr], out: &[SymExpr]) -> bool {
    shape.len() <= out.len()
        && shape
            .iter()
            .zip(&out[out.len() - shape.len()..])
            .all(|(d, o)| d == o || d.as_const() == Some(1))
}

/// How a kernel of result type `out` may read an input of shape `shape`: whole, as a row
/// broadcast over the leading axes, as a column (one value per row: the result's leading
/// axes, last axis 1, e.g. a per-row scale `[.., M, 1]`; missing leading axes count as
/// ones), or as a scalar.
pub fn readable(shape: &[SymExpr], out: &[SymExpr]) -> bool {
    let one = |d: &SymExpr| d.as_const() == Some(1);
    if shape == out || shape.iter().all(one) || column(shape, out) {
        return true;
    }
    matches!(shape.split_last(), Some((last, lead)) if Some(last) == out.last() && lead.iter().all(one))
}

/// Whether `shape` is a column of `out`: with leading ones added to `out`'s rank, its
/// leading axes are `out`'s and its last axis is 1 (one value per row of `out`).
pub fn column(shape: &[SymExpr], out: &[SymExpr]) -> bool {
    let (r, rk) = (out.len(), shape.len());
    if r == 0 || rk > r {
        return false;
    }
    let one = |d: &SymExpr| d.as_const() == Some(1);
    let mut padded: Vec<&SymExpr> = Vec::with_capacity(r);
    let lit1 = SymExpr::lit(1);
    padded.extend(std::iter::repeat_n(&lit1, r - rk));
    padded.extend(shape.iter());
    one(padded[r - 1])
        && padded[..r - 1]
            .iter()
            .zip(&out[..r - 1])
            .all(|(a, b)| *a == b)
}

/// Whether kernel `k` with children `kids` and result type `out` is within the limits and
/// reads every input in a way its kind can lower. For a `reduce` kernel, `out` is the type
/// of the reduction's input (the prologue's result), which its inputs broadcast against.
fn lowerable(g: &Graph, k: &Kernel, kids: &[Id], out: &TensorType) -> bool {
    if k.op_count() > MAX_OPS || kids.len() > MAX_INPUTS {
        return false;
    }
    let anchors = k
        .ops()
        .filter(|o| {
            matches!(o, GraphOp::MatMul | GraphOp::Conv2d) || is_row_op(*o) || is_reduce_op(*o)
        })
        .count();
    let want = match k.kind {
        KernelKind::Elementwise => 0,
        KernelKind::Matmul | KernelKind::Conv | KernelKind::Row | KernelKind::Reduce => 1,
        // Formed whole by `fuse-attention`, never grown.
        KernelKind::Attention => return false,
    };
    if anchors != want {
        return false;
    }
    // Inputs read only by the anchor itself (matmul operands, norm parameters) are exempt;
    // one that the epilogue or prologue reads too (`x @ w + w`: `canonical` merges the
    // two reads into one input) must be readable there as well.
    let (mut anchor_inputs, mut other_inputs) = (Vec::new(), Vec::new());
    for n in &k.body {
        if let BodyNode::Op(o, _, c) = n {
            if matches!(o, GraphOp::MatMul | GraphOp::Conv2d) {
                anchor_inputs.extend(c.iter().copied());
            } else if is_row_op(*o) {
                other_inputs.extend(c.first().copied());
                anchor_inputs.extend(c.iter().skip(1).copied());
            } else {
                other_inputs.extend(c.iter().copied());
            }
        }
    }
    k.body.iter().enumerate().all(|(i, n)| match n {
        BodyNode::Arg(a) => {
            (anchor_inputs.contains(&i) && !other_inputs.contains(&i))
                || ty(g, kids[*a]).is_some_and(|t| match k.kind {
                    KernelKind::Elementwise | KernelKind::Conv => broadcasts(&t.shape, &out.shape),
                    _ => readable(&t.shape, &out.shape),
                })
        }
        _ => true,
    })
}

fn fuse_elementwise(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    for n in &g[class].nodes {
        if !n.graph_op().is_some_and(is_elementwise) {
            continue;
        }
        let (Some((k, kids)), Some(t)) = (as_kernel(g, n), ty(g, class)) else {
            continue;
        };
        if lowerable(g, &k, &kids, t) {
            out.push(Found::Node(
                Node {
                    head: Head::Kernel(k),
                    children: kids,
                },
                Vec::new(),
            ));
        }
    }
    out
}

/// Replaces input `j` of kernel `k` (children `kids`) with producer `p` (children `pkids`).
fn absorb(
    k: &Kernel,
    kids: &[Id],
    j: usize,
    p: &Kernel,
    pkids: &[Id],
    kind: KernelKind,
) -> (Kernel, Vec<Id>) {
    let base = kids.len();
    let mut nodes: Vec<BodyNode> = p
        .body
        .iter()
        .map(|n| match n {
            BodyNode::Arg(i) => BodyNode::Arg(base + i),
            BodyNode::Op(o, a, c) => BodyNode::Op(*o, a.clone(), c.clone()),
        })
        .collect();
    let p_root = nodes.len() - 1;
    let mut map: Vec<usize> = Vec::with_capacity(k.body.len());
    for n in &k.body {
        let at = match n {
            BodyNode::Arg(i) if *i == j => p_root,
            BodyNode::Arg(i) => {
                nodes.push(BodyNode::Arg(*i));
                nodes.len() - 1
            }
            BodyNode::Op(o, a, c) => {
                nodes.push(BodyNode::Op(
                    *o,
                    a.clone(),
                    c.iter().map(|x| map[*x]).collect(),
                ));
                nodes.len() - 1
            }
        };
        map.push(at);
    }
    let root = map.last().copied().unwrap_or(p_root);
    let mut args = kids.to_vec();
    args.extend_from_slice(pkids);
    canonical(kind, &nodes, root, &args)
}

/// `fuse-producer`, remembering the consumer kernels it has grown over every producer
/// operation of their inputs: a long chain is then searched once per new kernel, not once
/// per kernel and iteration. (A union that adds operations to an input's e-class changes
/// the kernel's canonical children, so it is searched again.)
#[derive(Default)]
struct Producer {
    grown: Mutex<BTreeSet<Node>>,
}

impl ClassRule for Producer {
    fn find(&self, g: &Graph, class: Id) -> Vec<Found> {
        let grown = self.grown.lock().unwrap_or_else(|e| e.into_inner());
        fuse_producer(g, class, &grown)
    }

    fn applied(&self, seen: &[Node]) {
        let mut grown = self.grown.lock().unwrap_or_else(|e| e.into_inner());
        for n in seen {
            if matches!(&n.head, Head::Kernel(k) if k.kind == KernelKind::Elementwise) {
                grown.insert(n.clone());
            }
        }
    }
}

fn fuse_producer(g: &Graph, class: Id, grown: &BTreeSet<Node>) -> Vec<Found> {
    let mut out = Vec::new();
    let Some(t) = ty(g, class) else { return out };
    for n in &g[class].nodes {
        let Head::Kernel(k) = &n.head else { continue };
        if k.kind != KernelKind::Elementwise {
            continue;
        }
        let mut canon = n.clone();
        canon.children.iter_mut().for_each(|c| *c = g.find(*c));
        if grown.contains(&canon) {
            continue;
        }
        for (j, a) in n.children.iter().enumerate() {
            if ty(g, *a).map(|x| &x.shape) != Some(&t.shape) {
                continue;
            }
            // Kernels grow one producer operation at a time (not by merging two kernels):
            // every connected group is still reachable, and a chain of n operations holds
            // at most MAX_OPS kernels per e-class instead of a quadratic number of merges.
            // A producer that reads its own class (`relu(C)` in C once `relu-relu` merged
            // `relu(relu(x))` with `relu(x)`) would only repeat itself in the kernel.
            let own = g.find(*a);
            for pn in g[*a].nodes.iter().filter(|n| {
                matches!(n.head, Head::Op(..)) && n.children.iter().all(|c| g.find(*c) != own)
            }) {
                let Some((p, pkids)) = as_kernel(g, pn) else {
                    continue;
                };
                if p.kind == KernelKind::Row {
                    continue;
                }
                let (m, mkids) = absorb(k, &n.children, j, &p, &pkids, p.kind);
                if lowerable(g, &m, &mkids, t) {
                    out.push(Found::Node(
                        Node {
                            head: Head::Kernel(g.analysis.intern(m)),
                            children: mkids,
                        },
                        vec![k.clone(), p.clone()],
                    ));
                }
            }
        }
    }
    out
}

fn fuse_row_prologue(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    let Some(t) = ty(g, class) else { return out };
    for n in &g[class].nodes {
        let Head::Op(op, attrs) = &n.head else {
            continue;
        };
        let last = attrs
            .attrs()
            .int("axis")
            .is_some_and(|a| t.rank() >= 1 && a == t.rank() as i64 - 1);
        if !is_row_op(*op) || !last || ty(g, n.children[0]) != Some(t) {
            continue;
        }
        // The norm as a one-operation kernel whose input 0 is its `x`.
        let mut nodes: Vec<BodyNode> = (0..n.children.len()).map(BodyNode::Arg).collect();
        nodes.push(BodyNode::Op(
            *op,
            attrs.clone(),
            (0..n.children.len()).collect(),
        ));
        let norm = Kernel {
            kind: KernelKind::Row,
            body: nodes,
        };
        absorb_prologues(g, &norm, &n.children, t, &mut out);
    }
    out
}

/// For each elementwise kernel in the e-class of `kernel`'s input 0 (`children[0]`), the
/// kernel with that producer absorbed as its prologue (of `kernel`'s kind), where the
/// result is still lowerable.
fn absorb_prologues(
    g: &Graph,
    kernel: &Kernel,
    children: &[Id],
    t: &TensorType,
    out: &mut Vec<Found>,
) {
    for pn in &g[children[0]].nodes {
        let Some((p, pkids)) = as_kernel(g, pn) else {
            continue;
        };
        if p.kind != KernelKind::Elementwise {
            continue;
        }
        let (m, mkids) = absorb(kernel, children, 0, &p, &pkids, kernel.kind);
        if lowerable(g, &m, &mkids, t) {
            out.push(Found::Node(
                Node {
                    head: Head::Kernel(g.analysis.intern(m)),
                    children: mkids,
                },
                vec![p.clone()],
            ));
        }
    }
}

fn fuse_reduce_prologue(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    for n in &g[class].nodes {
        let Head::Op(op, attrs) = &n.head else {
            continue;
        };
        if !is_reduce_op(*op) {
            continue;
        }
        let Some(tx) = ty(g, n.children[0]) else {
            continue;
        };
        let r = tx.rank() as i64;
        if r == 0 || attrs.attrs().ints("axes") != Some(&[r - 1][..]) {
            continue;
        }
        // The reduction as a one-operation kernel whose input 0 is its `x`.
        let red = Kernel {
            kind: KernelKind::Reduce,
            body: vec![BodyNode::Arg(0), BodyNode::Op(*op, attrs.clone(), vec![0])],
        };
        absorb_prologues(g, &red, &n.children, tx, &mut out);
    }
    out
}

/// Whether `spec` is `...qd,...kd->...qk` (batch labels shared, in order).
fn is_qk_spec(spec: &str) -> bool {
    let spec = spec.replace(' ', "");
    let Some((lhs, out)) = spec.split_once("->") else {
        return false;
    };
    let Some((a, b)) = lhs.split_once(',') else {
        return false;
    };
    let (a, b, o): (Vec<char>, Vec<char>, Vec<char>) = (
        a.chars().collect(),
        b.chars().collect(),
        out.chars().collect(),
    );
    let r = a.len();
    if r < 2 || b.len() != r || o.len() != r {
        return false;
    }
    let (q, d, k) = (a[r - 2], a[r - 1], b[r - 2]);
    let batch = &a[..r - 2];
    let mut all: Vec<char> = a.iter().chain([&k]).copied().collect();
    all.sort_unstable();
    all.dedup();
    all.len() == r + 1
        && b[..r - 2] == *batch
        && o[..r - 2] == *batch
        && b[r - 1] == d
        && o[r - 2] == q
        && o[r - 1] == k
}

/// The attention body's score part for the e-class `s`: `einsum "...qd,...kd->...qk"` of q
/// and k, or `matmul(q, transpose(k))` swapping k's last two axes; pushes the nodes
/// (q is `Arg(0)`, k `Arg(1)`) and returns the score node with q's and k's classes.
fn scores(g: &Graph, s: Id, nodes: &mut Vec<BodyNode>) -> Option<(usize, Id, Id)> {
    for n in &g[s].nodes {
        match &n.head {
            Head::Op(GraphOp::Einsum, a)
                if n.children.len() == 2 && a.attrs().str("spec").is_some_and(is_qk_spec) =>
            {
                nodes.extend([BodyNode::Arg(0), BodyNode::Arg(1)]);
                let at = nodes.len();
                nodes.push(BodyNode::Op(
                    GraphOp::Einsum,
                    a.clone(),
                    vec![at - 2, at - 1],
                ));
                return Some((at, n.children[0], n.children[1]));
            }
            Head::Op(GraphOp::MatMul, a) => {
                let r = ty(g, s)?.rank();
                for tn in &g[n.children[1]].nodes {
                    let Head::Op(GraphOp::Transpose, ta) = &tn.head else {
                        continue;
                    };
                    let mut swap: Vec<i64> = (0..r as i64).collect();
                    swap.swap(r - 2, r - 1);
                    if r < 3 || ta.attrs().ints("perm") != Some(&swap[..]) {
                        continue;
                    }
                    nodes.extend([BodyNode::Arg(0), BodyNode::Arg(1)]);
                    let at = nodes.len();
                    nodes.push(BodyNode::Op(GraphOp::Transpose, ta.clone(), vec![at - 1]));
                    nodes.push(BodyNode::Op(GraphOp::MatMul, a.clone(), vec![at - 2, at]));
                    return Some((at + 1, n.children[0], tn.children[0]));
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether q, k, v (and the result) are f32 tensors of one rank of at least 3 with the same
/// batch axes, q and k of one head size, k and v of one key count.
fn attention_types(g: &Graph, q: Id, k: Id, v: Id, out: &TensorType) -> bool {
    let (Some(tq), Some(tk), Some(tv)) = (ty(g, q), ty(g, k), ty(g, v)) else {
        return false;
    };
    let r = out.rank();
    if r < 3
        || [tq, tk, tv, out]
            .iter()
            .any(|t| t.rank() != r || t.dtype != DType::F32)
    {
        return false;
    }
    let b = &out.shape[..r - 2];
    tq.shape[..r - 2] == *b
        && tk.shape[..r - 2] == *b
        && tv.shape[..r - 2] == *b
        && tq.shape[r - 1] == tk.shape[r - 1]
        && tk.shape[r - 2] == tv.shape[r - 2]
        && out.shape[r - 2] == tq.shape[r - 2]
        && out.shape[r - 1] == tv.shape[r - 1]
}

/// An attention's mask: added to the scores, or a bool mask selecting between the scores
/// and a 0-d literal (`where(b, s, f)`).
#[derive(Clone)]
enum Mask {
    Add(Id),
    Select(Id, crate::lang::OpAttrs),
}

impl Mask {
    fn class(&self) -> Id {
        match self {
            Mask::Add(m) | Mask::Select(m, _) => *m,
        }
    }
}

/// One way to read an attention's probabilities: the softmax's attributes, the score
/// e-class `s`, the 0-d literal scale `c` and the mask.
type Probs = (
    crate::lang::OpAttrs,
    Id,
    Option<crate::lang::OpAttrs>,
    Option<Mask>,
);

/// The 0-d literal of e-class `c`, if it has one.
fn literal(g: &Graph, c: Id) -> Option<crate::lang::OpAttrs> {
    g[c].nodes.iter().find_map(|m| match &m.head {
        Head::Op(GraphOp::Constant, la) if ty(g, c).is_some_and(|t| t.rank() == 0) => {
            Some(la.clone())
        }
        _ => None,
    })
}

/// The readings of `x` as `s` or `s * c` with `c` a 0-d literal (either operand order):
/// (s, the literal's attributes).
fn scaled_scores(g: &Graph, x: Id) -> Vec<(Id, Option<crate::lang::OpAttrs>)> {
    let mut out = vec![(x, None)];
    for xn in &g[x].nodes {
        if xn.graph_op() != Some(GraphOp::Mul) {
            continue;
        }
        for (i, c) in xn.children.iter().enumerate() {
            if let Some(la) = literal(g, *c) {
                out.push((xn.children[1 - i], Some(la)));
            }
        }
    }
    out
}

/// Whether the mask of an attention over keys `k` with result `out` is an f32 tensor (to
/// add) or a bool one (to select with) that broadcasts (NumPy, no larger rank) to the
/// scores `[.., S, T]`: each of its axes is the scores' or a constant 1.
fn mask_fits(g: &Graph, mask: &Mask, k: Id, out: &TensorType) -> bool {
    let (Some(tm), Some(tk)) = (ty(g, mask.class()), ty(g, k)) else {
        return false;
    };
    let r = out.rank();
    let dtype = match mask {
        Mask::Add(_) => DType::F32,
        Mask::Select(..) => DType::Bool,
    };
    if tm.dtype != dtype || tm.rank() > r {
        return false;
    }
    let mut scores = out.shape[..r - 1].to_vec();
    scores.push(tk.shape[r - 2].clone());
    let off = r - tm.rank();
    tm.shape
        .iter()
        .enumerate()
        .all(|(i, d)| *d == scores[off + i] || d.as_const() == Some(1))
}

fn fuse_attention(g: &Graph, class: Id) -> Vec<Found> {
    attention_forms(g, class)
        .into_iter()
        .map(|(found, _)| found)
        .collect()
}

/// The e-classes of the two contractions of every attention `fuse-attention` would fuse
/// in `g`: the scores (`einsum` of q and k, or `matmul(q, transpose(k))`) and the final
/// `matmul(p, v)`. The precision table leaves them in `f32` (`lower_form`): the attention
/// kernel is `f32`, and it beats the lowered contractions run unfused.
pub fn attention_contractions(g: &Graph) -> BTreeSet<Id> {
    let mut out = BTreeSet::new();
    for c in g.classes() {
        for (_, s) in attention_forms(g, c.id) {
            out.insert(g.find(c.id));
            out.insert(g.find(s));
        }
    }
    out
}

/// The attention kernels of e-class `class`, each with the e-class of its scores.
fn attention_forms(g: &Graph, class: Id) -> Vec<(Found, Id)> {
    let mut out = Vec::new();
    let Some(t) = ty(g, class) else { return out };
    let r = t.rank();
    for n in &g[class].nodes {
        let Head::Op(GraphOp::MatMul, mm) = &n.head else {
            continue;
        };
        let (p, v) = (n.children[0], n.children[1]);
        let Some(tp) = ty(g, p) else { continue };
        if r < 3 || tp.rank() != r {
            continue;
        }
        // p: softmax over the last axis of `s`, `s * c`, or either plus a mask `m`, as
        // (softmax attrs, s, c, m).
        let mut probs: Vec<Probs> = Vec::new();
        let last = |a: &crate::lang::OpAttrs| a.attrs().int("axis") == Some(r as i64 - 1);
        for pn in &g[p].nodes {
            match &pn.head {
                Head::Op(GraphOp::Softmax, a) if last(a) => {
                    let x = pn.children[0];
                    for (s, c) in scaled_scores(g, x) {
                        probs.push((a.clone(), s, c, None));
                    }
                    for xn in &g[x].nodes {
                        match xn.graph_op() {
                            Some(GraphOp::Add) => {
                                for i in 0..2 {
                                    let (y, m) = (xn.children[i], xn.children[1 - i]);
                                    for (s, c) in scaled_scores(g, y) {
                                        probs.push((a.clone(), s, c, Some(Mask::Add(m))));
                                    }
                                }
                            }
                            Some(GraphOp::Select) => {
                                let [b, y, f] = xn.children[..] else { continue };
                                let Some(fill) = literal(g, f) else { continue };
                                for (s, c) in scaled_scores(g, y) {
                                    let m = Mask::Select(b, fill.clone());
                                    probs.push((a.clone(), s, c, Some(m)));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Head::Kernel(k) if k.kind == KernelKind::Row && pn.children.len() == 1 => {
                    let Some(BodyNode::Op(GraphOp::Softmax, a, c)) = k.body.last() else {
                        continue;
                    };
                    if !last(a) {
                        continue;
                    }
                    match &k.body[c[0]] {
                        BodyNode::Arg(0) => probs.push((a.clone(), pn.children[0], None, None)),
                        BodyNode::Op(GraphOp::Mul, _, m) if k.body.len() == 4 => {
                            let lit = m.iter().find_map(|i| match &k.body[*i] {
                                BodyNode::Op(GraphOp::Constant, la, _) => Some(la.clone()),
                                _ => None,
                            });
                            let arg = m.iter().any(|i| k.body[*i] == BodyNode::Arg(0));
                            if let (Some(la), true) = (lit, arg) {
                                probs.push((a.clone(), pn.children[0], Some(la), None));
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        for (sa, s, c, mask) in probs {
            let mut nodes = Vec::new();
            let Some((sc, q, k)) = scores(g, s, &mut nodes) else {
                continue;
            };
            if !attention_types(g, q, k, v, t)
                || mask.as_ref().is_some_and(|m| !mask_fits(g, m, k, t))
            {
                continue;
            }
            let x = match c {
                Some(la) => {
                    nodes.push(BodyNode::Op(GraphOp::Constant, la, Vec::new()));
                    nodes.push(BodyNode::Op(
                        GraphOp::Mul,
                        crate::lang::OpAttrs::none(),
                        vec![sc, nodes.len() - 1],
                    ));
                    nodes.len() - 1
                }
                None => sc,
            };
            let x = match &mask {
                Some(Mask::Add(_)) => {
                    nodes.push(BodyNode::Arg(3));
                    nodes.push(BodyNode::Op(
                        GraphOp::Add,
                        crate::lang::OpAttrs::none(),
                        vec![x, nodes.len() - 1],
                    ));
                    nodes.len() - 1
                }
                Some(Mask::Select(_, fill)) => {
                    nodes.push(BodyNode::Arg(3));
                    nodes.push(BodyNode::Op(GraphOp::Constant, fill.clone(), Vec::new()));
                    let at = nodes.len();
                    nodes.push(BodyNode::Op(
                        GraphOp::Select,
                        crate::lang::OpAttrs::none(),
                        vec![at - 2, x, at - 1],
                    ));
                    at
                }
                None => x,
            };
            nodes.push(BodyNode::Op(GraphOp::Softmax, sa, vec![x]));
            nodes.push(BodyNode::Arg(2));
            let at = nodes.len();
            nodes.push(BodyNode::Op(
                GraphOp::MatMul,
                mm.clone(),
                vec![at - 2, at - 1],
            ));
            let args: Vec<Id> = [q, k, v]
                .into_iter()
                .chain(mask.as_ref().map(Mask::class))
                .collect();
            let (kern, kids) = canonical(KernelKind::Attention, &nodes, at, &args);
            out.push((
                Found::Node(
                    Node {
                        head: Head::Kernel(g.analysis.intern(kern)),
                        children: kids,
                    },
                    Vec::new(),
                ),
                s,
            ));
        }
    }
    out
}
