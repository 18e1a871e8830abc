//! The cost model: a trait that prices whole kernels, and the analytic roofline model that
//! implements it for now (the learned model comes with the tuner). Every operation outside
//! a fused kernel is a kernel of its own; a fused kernel is priced as one kernel, from all
//! the work of its body and only the bytes of its inputs and result. An `attention` kernel
//! is thus priced from both contractions, the scale and the softmax, and the bytes of q, k,
//! v and its result: never the `[.., S, T]` scores the unfused form writes and reads.

use crate::analysis::{body_types, ty, Graph};
use crate::lang::{BodyNode, Head, Node};
use std::collections::BTreeMap;
use tessera_dialects::{DType, GraphOp, TensorType};

/// The work of one kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelStats {
    /// Floating-point (and `i32`) operations.
    pub flops: f64,
    /// Multiply-adds of `i8` contractions, counted as two operations each: they run on
    /// the integer dot products (`vpdpbusd`: sixteen products per instruction).
    pub int8_ops: f64,
    /// Bytes read from and written to memory (inputs once each, the result once).
    pub bytes: f64,
}

/// Prices a kernel in predicted seconds.
pub trait CostModel {
    fn seconds(&self, k: &KernelStats) -> f64;
}

/// The roofline: the larger of work over peak and bytes over bandwidth, plus a fixed cost
/// per kernel launch. The defaults are this project's reference machine (two cores,
/// f32x4 FMA, AVX-VNNI, DDR): 100 GFLOP/s, 25 GB/s, 2 µs per launch, and `i8`
/// contractions at four times the `f32` rate (a 128-bit `vpdpbusd` does sixteen products
/// where an `f32x4` FMA does four; the `i8` MLP at B=256 runs 2.6 times faster than `f32`
/// with its quantisation, docs/BENCHMARKS.md, session 10). The model is the same on every
/// host, so that decisions are too: on a host without VNNI the `pmaddwd` kernel does
/// eight products per instruction, twice the `f32` rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roofline {
    pub flops_per_s: f64,
    pub int8_ops_per_s: f64,
    pub bytes_per_s: f64,
    pub launch_s: f64,
}

impl Default for Roofline {
    fn default() -> Roofline {
        Roofline {
            flops_per_s: 100e9,
            int8_ops_per_s: 400e9,
            bytes_per_s: 25e9,
            launch_s: 2e-6,
        }
    }
}

impl CostModel for Roofline {
    fn seconds(&self, k: &KernelStats) -> f64 {
        let work = k.flops / self.flops_per_s + k.int8_ops / self.int8_ops_per_s;
        work.max(k.bytes / self.bytes_per_s) + self.launch_s
    }
}

/// Concrete values for symbolic sizes: the bound ones, and a default for the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct Sizes {
    pub bound: BTreeMap<String, i64>,
    pub default: i64,
}

impl Default for Sizes {
    fn default() -> Sizes {
        Sizes {
            bound: BTreeMap::new(),
            default: 64,
        }
    }
}

impl Sizes {
    /// The number of elements of `t`.
    pub fn numel(&self, t: &TensorType) -> f64 {
        t.shape
            .iter()
            .map(|d| {
                d.eval(&|n| Some(self.bound.get(n).copied().unwrap_or(self.default)))
                    .map(|v| v.max(1) as f64)
                    .unwrap_or(self.default as f64)
            })
            .product()
    }

    fn dim(&self, t: &TensorType, axis: usize) -> f64 {
        t.shape
            .get(axis)
            .map(|d| {
                d.eval(&|n| Some(self.bound.get(n).copied().unwrap_or(self.default)))
                    .map(|v| v.max(1) as f64)
                    .unwrap_or(self.default as f64)
            })
            .unwrap_or(1.0)
    }

    pub fn bytes(&self, t: &TensorType) -> f64 {
        self.numel(t) * t.dtype.size_bytes() as f64
    }
}

/// Operations per element of an elementwise operation (transcendentals as their
/// polynomial evaluations cost).
fn per_element(g: GraphOp) -> f64 {
    use GraphOp as G;
    match g {
        G::Div | G::Recip | G::Sqrt | G::Rsqrt => 4.0,
        G::Exp | G::Log | G::Sigmoid => 12.0,
        G::Tanh | G::Erf => 16.0,
        G::Gelu | G::GeluTanh | G::Silu => 20.0,
        G::Pow => 28.0,
        G::Softmax => 16.0,
        G::LogSoftmax => 18.0,
        G::LayerNorm => 8.0,
        G::RmsNorm => 5.0,
        _ => 1.0,
    }
}

/// Whether elementwise operation `g` is expensive enough (a transcendental: a polynomial
/// evaluation per element) that extraction never computes it in two kernels
/// ([`crate::extract`]).
pub fn expensive(g: GraphOp) -> bool {
    use GraphOp as G;
    matches!(
        g,
        G::Exp | G::Log | G::Sigmoid | G::Tanh | G::Erf | G::Gelu | G::GeluTanh | G::Silu | G::Pow
    )
}

impl KernelStats {
    /// Adds the work of one operation: to `int8_ops` for an `i8` matmul, einsum or
    /// conv2d, else to `flops`.
    fn add_op(
        &mut self,
        g: GraphOp,
        attrs: &tessera_dialects::Attrs,
        ins: &[TensorType],
        out: &TensorType,
        s: &Sizes,
    ) {
        let work = op_flops(g, attrs, ins, out, s);
        let i8s = ins.first().is_some_and(|t| t.dtype == DType::I8);
        match g {
            // The `i8` implicit GEMM of the CPU back end runs on the `i8` micro-kernel as
            // `i8` matmuls do, with the same live-column bound as the `f32` one: its
            // kernel takes 0.55 times the instructions of the `f32` convolution (conv3x3
            // 64 -> 64 channels, 2 x 56 x 56: 137 M against 248 M, callgrind; the whole
            // int8 program with its quantisation 40 M against 67 M on one 28 x 56 image),
            // so it is priced at the `i8` rate too.
            GraphOp::MatMul | GraphOp::Einsum | GraphOp::Conv2d if i8s => self.int8_ops += work,
            _ => self.flops += work,
        }
    }
}

/// The operations one graph operation performs, from its operand and result types.
pub fn op_flops(
    g: GraphOp,
    attrs: &tessera_dialects::Attrs,
    ins: &[TensorType],
    out: &TensorType,
    s: &Sizes,
) -> f64 {
    use GraphOp as G;
    let n_out = s.numel(out);
    match g {
        G::Constant | G::Reshape | G::Transpose | G::BroadcastTo | G::Concat | G::Slice => 0.0,
        G::MatMul => {
            let k = ins
                .first()
                .map(|a| s.dim(a, a.rank().saturating_sub(1)))
                .unwrap_or(1.0);
            2.0 * n_out * k
        }
        G::Einsum => {
            // 2 x the product of every label's size.
            let spec = attrs.str("spec").unwrap_or("");
            let lhs = spec.split("->").next().unwrap_or("");
            let mut size: BTreeMap<char, f64> = BTreeMap::new();
            for (labels, t) in lhs.split(',').zip(ins) {
                for (i, c) in labels.trim().chars().enumerate() {
                    size.insert(c, s.dim(t, i));
                }
            }
            2.0 * size.values().product::<f64>()
        }
        G::Conv2d => {
            let w = ins.get(1).map(|w| s.numel(w) / s.dim(w, 0)).unwrap_or(1.0);
            2.0 * n_out * w
        }
        G::MaxPool2d | G::AvgPool2d => {
            let k: f64 = attrs
                .ints("kernel")
                .map(|k| k.iter().map(|v| *v as f64).product())
                .unwrap_or(1.0);
            n_out * k
        }
        G::ReduceSum | G::ReduceMean | G::ReduceMax | G::ReduceMin | G::Argmax => {
            ins.first().map(|x| s.numel(x)).unwrap_or(n_out)
        }
        G::Quantize | G::Dequantize => 2.0 * n_out,
        _ => per_element(g) * n_out,
    }
}

/// The work of the kernel an e-node of `class` stands for, or `None` for nodes that cost nothing
/// (parameters and 0-d literals, which are folded into their users).
pub fn node_stats(g: &Graph, class: egg::Id, n: &Node, s: &Sizes) -> Option<KernelStats> {
    let out = ty(g, class)?.clone();
    let ins: Vec<TensorType> = n
        .children
        .iter()
        .map(|c| ty(g, *c).cloned())
        .collect::<Option<_>>()?;
    stats_with_types(n, &ins, &out, s)
}

/// [`node_stats`] with the types given.
pub fn stats_with_types(
    n: &Node,
    ins: &[TensorType],
    out: &TensorType,
    s: &Sizes,
) -> Option<KernelStats> {
    let mut seen = std::collections::BTreeSet::new();
    let in_bytes: f64 = n
        .children
        .iter()
        .zip(ins)
        .filter(|(c, _)| seen.insert(**c))
        .map(|(_, t)| s.bytes(t))
        .sum();
    let mut stats = KernelStats {
        bytes: in_bytes + s.bytes(out),
        ..KernelStats::default()
    };
    match &n.head {
        Head::Param(_) => return None,
        Head::Op(GraphOp::Constant, _) if out.rank() == 0 => return None,
        Head::Op(g, a) => stats.add_op(*g, a.attrs(), ins, out, s),
        Head::Kernel(k) => {
            let tys = body_types(k, ins)?;
            for (b, t) in k.body.iter().zip(&tys) {
                if let BodyNode::Op(g, a, c) = b {
                    let ci: Vec<TensorType> = c.iter().map(|i| tys[*i].clone()).collect();
                    stats.add_op(*g, a.attrs(), &ci, t, s);
                }
            }
        }
    }
    Some(stats)
}
