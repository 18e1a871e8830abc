//! Precision lowering as rewrites (`--precision`, docs/egraph.md "Precision"). Each rule
//! states that an `f32` contraction (`matmul`, `einsum`, `conv2d`) equals a
//! form whose operands are narrowed, so the e-graph
//! holds both; the table runs only when a precision is asked for ([`crate::Options`]),
//! and [`choose`] then takes the lowered form wherever one exists.
//!
//! - `lower-matmul-bf16`, `lower-matmul-f16`: `a @ w = (a as T as f32) @ (w as T as f32)`:
//!   operands rounded once to `T`, products exact in `f32`, accumulation and result `f32`
//!   (no rounding of the result to `T`).
//! - `lower-matmul-f8e4m3`: operands quantised to E4M3 with a per-tensor scale for the
//!   activation (`max|a| / 448`) and a per-output-channel scale for the 2-D weight
//!   (`max_k |w[k, n]| / 448`), dequantised, multiplied in `f32`.
//! - `lower-matmul-int8` (the form of `--precision int8`): `a @ w = (qa @ qw) as f32 *
//!   s_w * s_a` with one scale per row of `a` (per token) at run time, `s_a =
//!   max(max_k |a[.., m, k]| / 127, tiny)` kept as `[.., M, 1]`, `qa = a / s_a as i8` (what `quantize(a,
//!   s_a)` computes, written elementwise so that it fuses, and the dequantisation with it
//!   into the matmul's epilogue), and one scale per output channel of the 2-D weight,
//!   `s_w[n] = max(max_k |w[k, n]| / 127, tiny)`, `qw = quantize(w, i8, s_w, axis: 1)`; the
//!   `i8 @ i8` product accumulates exactly in `i32`. `tiny` (the smallest normal `f32`) guards all-zero
//!   rows and columns: their quantised values are then all zero.
//! - `lower-matmul-int8-tensor`: the same with one activation scale for the whole tensor,
//!   `(qa @ qw) as f32 * (s_w * s_a)`: coarser, and a 0-d scale fuses everywhere.
//! - `lower-matmul-int8-block32`: scales per block of 32 along the reduction axis for both
//!   operands (for a static `K`, a multiple of 32, at least 64): with `a` viewed as
//!   `[.., M, K/32, 32]` and `w` as `[K/32, 32, N]`, each block quantised with its own
//!   scale, `a @ w = sum_b (qa_b @ qw_b) * s_a[.., m, b] * s_w[b, n]`. Up to 32 blocks
//!   (`K <= 1024`): per block an `i8` matmul of the block's slices (`qa[.., 32 b .. 32 b
//!   + 32]`, `qw[32 b .. 32 b + 32, ..]`) into `i32`, scaled in `f32`, the blocks added
//!   in one elementwise kernel; beyond, one `i8` einsum into `[.., M, K/32, N]` partial
//!   products, scaled and summed over the blocks (a graph that does not grow with `K`).
//!   Finer, and dearer: one `i32` partial product per block is materialised.
//! - `lower-einsum-bf16`, `lower-einsum-f16`: `einsum(s, a, b) = einsum(s, a as T as f32,
//!   b as T as f32)`, any spec, of two or more operands (every operand rounded once).
//! - `lower-einsum-f8e4m3`: every operand quantised to E4M3 with one scale per tensor
//!   (`max |x| / 448`), dequantised, `f32` einsum; two or more operands. The `int8`
//!   einsum forms below take two operands (one exact `i32` contraction).
//! - `lower-einsum-int8-tensor`: `einsum(s, a, b) = einsum(s, a / s_a as i8, b / s_b as
//!   i8) as f32 * (s_a * s_b)`, one scale per tensor each; `lower-einsum-int8` (what
//!   `--precision int8` uses): one scale per slice of each operand over its contracted
//!   labels (for `"bhqd,bhkd->bhqk"`: per query row and per key row), each laid out along
//!   the output's labels. Both need a label contracted across the operands and none
//!   summed within one operand (the `i8` einsum must be one exact `i32` contraction). A
//!   scale that does not vary along the contracted labels factors out of the sum:
//!   `sum_k (qa s_a)(qb s_b) = s_a s_b sum_k qa qb`.
//! - `lower-einsum-int8-block32`: for the last contracted label `r` (in the first
//!   operand's order; static size `K`, a multiple of 32, at least 64), one scale per
//!   block of 32 along `r` and per slice of each operand's kept labels (the maximum over
//!   the block and the other contracted labels): `einsum(s, a, b) = sum_blk einsum(s,
//!   qa_blk, qb_blk) as f32 * s_a[.., blk] * s_b[.., blk]`, `qa_blk` the block's `i8`
//!   slice (`r` in `32 blk .. 32 blk + 32`): the einsum as written, per block, into
//!   `i32`, and the scaled blocks added (beyond 32 blocks, as `matmul`'s form: one `i8`
//!   einsum keeping the block label, summed over it).
//! - `lower-conv2d-bf16`, `lower-conv2d-f16`: `conv2d(x, w) = conv2d(x as T as f32, w as T
//!   as f32)`, attributes unchanged.
//! - `lower-conv2d-f8e4m3`: the activation quantised with one scale per tensor, the OIHW
//!   weight with one per output channel (`max_{c, kh, kw} |w[o]| / 448`), dequantised,
//!   `f32` conv2d.
//! - `lower-conv2d-int8-tensor`, `lower-conv2d-int8` (the form of `--precision int8`):
//!   `conv2d(x, w) = conv2d(x / s_x as i8, qw) as f32 * s_w[o] * s_x`, `qw = quantize(w,
//!   i8, s_w, axis: 0)` per output channel, `s_x` per tensor or per image (`[N, 1, 1,
//!   1]`); the `i8` convolution accumulates exactly in `i32`.
//! - `lower-conv2d-int8-block32` (`groups = 1`, a static `C`, a multiple of 32, from 64 to
//!   1024): one scale per (image, block of 32 input channels) for `x` and per (output
//!   channel, block) for `w`: `conv2d(x, w) = sum_b conv2d(qx_b, qw_b) as f32 * s_w[o, b] *
//!   s_x[n, b]`, `qx_b`, `qw_b` the block's channels (`slice`s of the quantised tensors):
//!   one `i8` convolution (the implicit GEMM) per block, the scaled blocks added.
//! - `cast-roundtrip`: `(x as T as f32) as T = x as T` for a narrow float `T` (widening to
//!   `f32` is exact).
//! - `quantize-dequantize`: `quantize(dequantize(q, s), dtype(q), s) = q` for a 0-d
//!   literal scale with `1e-30 <= |s| <= 1e30` (then `q * s / s` rounds back to `q`).
//!
//! Only `matmul`s with rank-2 weights are lowered to int8 and fp8 (the MLP and
//! transformer case); the float forms apply to every `f32` contraction. Every form has a
//! rule for each contraction (`int8/block32` included); `--precision int8/block32`
//! ([`Precision::Int8Block32`]) runs the block forms alone, a contraction they do not fit
//! staying `f32`. With one
//! precision asked for, the choice is not the cost model's: [`choose`] takes, per
//! e-class, the smallest term with the fewest `f32` contractions left unlowered. With `--precision auto`, every form is an alternative
//! and the cost model and the accuracy budget choose per contraction (`crate::auto`).

use super::algebra::FnRule;
use super::{class_rule, Found, Rule};
use crate::analysis::{ty, Graph, Types};
use crate::lang::{Head, Node, OpAttrs};
use egg::{Id, PatternAst, Rewrite, SearchMatches, Subst, Symbol, Var};
use std::collections::{BTreeMap, BTreeSet};
use tessera_dialects::{Attr, Attrs, DType, GraphOp, SymExpr, TensorType};

/// A requested precision of contractions (`--precision`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// As written: the precision table does not run.
    #[default]
    F32,
    Bf16,
    F16,
    /// FP8 E4M3 storage with per-tensor / per-channel scales, `f32` compute.
    Fp8,
    /// `i8` operands, `i32` accumulation.
    Int8,
    /// `i8` operands with scales per block of 32 along the reduction axis
    /// (`int8/block32`); contractions the form does not fit stay `f32`.
    Int8Block32,
}

impl Precision {
    /// The form every contraction is lowered to (`None` for `f32`).
    pub fn form(self) -> Option<Form> {
        match self {
            Precision::F32 => None,
            Precision::Bf16 => Some(Form::Float(DType::BF16)),
            Precision::F16 => Some(Form::Float(DType::F16)),
            Precision::Fp8 => Some(Form::Scaled(DType::F8E4M3)),
            Precision::Int8 => Some(Form::Int8(Scales::Row)),
            Precision::Int8Block32 => Some(Form::Int8(Scales::Block32)),
        }
    }

    /// The lowering rule of this precision (`None` for `f32`).
    pub fn rule(self) -> Option<&'static str> {
        self.form().map(Form::rule)
    }

    /// Its name on the command line (`--precision`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
            Precision::Fp8 => "fp8",
            Precision::Int8 => "int8",
            Precision::Int8Block32 => "int8/block32",
        }
    }
}

/// One lowered form of a contraction: an alternative of the precision table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Form {
    /// Operands rounded to a narrow float, computed in `f32`.
    Float(DType),
    /// Quantised to FP8 with scales (per-tensor activation, per-channel weights),
    /// dequantised, computed in `f32`.
    Scaled(DType),
    /// `i8` x `i8` -> `i32`, dequantised, with activation scales as given and weight
    /// scales to match.
    Int8(Scales),
}

/// The granularity of the scales of an `i8` form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scales {
    /// One activation scale per tensor, one weight scale per output channel.
    Tensor,
    /// One activation scale per row (token), one weight scale per output channel.
    Row,
    /// One scale per block of 32 along the reduction axis, for both operands.
    Block32,
}

impl Form {
    /// Every form, in the table's order.
    pub const ALL: [Form; 6] = [
        Form::Float(DType::BF16),
        Form::Float(DType::F16),
        Form::Scaled(DType::F8E4M3),
        Form::Int8(Scales::Tensor),
        Form::Int8(Scales::Row),
        Form::Int8(Scales::Block32),
    ];

    /// The rule that adds this form.
    pub fn rule(self) -> &'static str {
        match self {
            Form::Float(DType::F16) => "lower-matmul-f16",
            Form::Float(_) => "lower-matmul-bf16",
            Form::Scaled(_) => "lower-matmul-f8e4m3",
            Form::Int8(Scales::Tensor) => "lower-matmul-int8-tensor",
            Form::Int8(Scales::Row) => "lower-matmul-int8",
            Form::Int8(Scales::Block32) => "lower-matmul-int8-block32",
        }
    }

    /// A short name (`--explain`).
    pub fn name(self) -> &'static str {
        match self {
            Form::Float(DType::F16) => "f16",
            Form::Float(_) => "bf16",
            Form::Scaled(_) => "fp8-e4m3",
            Form::Int8(Scales::Tensor) => "int8/tensor",
            Form::Int8(Scales::Row) => "int8/row",
            Form::Int8(Scales::Block32) => "int8/block32",
        }
    }

    /// The dtypes and scales of the form, in words (`--explain`).
    pub fn describe(self) -> &'static str {
        match self {
            Form::Float(DType::F16) => "operands rounded to f16, f32 products and accumulation",
            Form::Float(_) => "operands rounded to bf16, f32 products and accumulation",
            Form::Scaled(_) => {
                "operands quantised to f8e4m3 (activation scale per tensor, weight scales per \
                 output channel), f32 compute"
            }
            Form::Int8(Scales::Tensor) => {
                "i8 operands (activation scale per tensor, weight scales per output channel), \
                 i32 accumulation"
            }
            Form::Int8(Scales::Row) => {
                "i8 operands (activation scale per row, weight scales per output channel), \
                 i32 accumulation"
            }
            Form::Int8(Scales::Block32) => {
                "i8 operands (scales per block of 32 along the reduction axis for both), i32 \
                 partial sums per block"
            }
        }
    }
}

/// The contraction a lowering applies to: each has its rules (one per form that applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contraction {
    MatMul,
    /// An `einsum` (the `int8` forms: of two operands).
    Einsum,
    Conv2d,
}

impl Contraction {
    /// Every contraction, in the table's order.
    pub const ALL: [Contraction; 3] = [
        Contraction::MatMul,
        Contraction::Einsum,
        Contraction::Conv2d,
    ];

    /// The graph operation.
    pub fn op(self) -> GraphOp {
        match self {
            Contraction::MatMul => GraphOp::MatMul,
            Contraction::Einsum => GraphOp::Einsum,
            Contraction::Conv2d => GraphOp::Conv2d,
        }
    }

    /// The contraction of a graph operation, if it is one.
    pub fn of(op: GraphOp) -> Option<Contraction> {
        Contraction::ALL.into_iter().find(|c| c.op() == op)
    }

    /// The operation's name (`matmul`, `einsum`, `conv2d`).
    pub fn name(self) -> &'static str {
        self.op().name()
    }

    /// `matmul #n (f32[B, 784] @ f32[784, 1024])`, `einsum #n ("ij,jk->ik", ...)`: how
    /// `--explain` names the `n`-th contraction of this kind with these operand types.
    pub fn label(self, n: usize, spec: Option<&str>, operands: &[&str]) -> String {
        let how = match self {
            Contraction::MatMul => operands.join(" @ "),
            Contraction::Einsum => format!("\"{}\", {}", spec.unwrap_or(""), operands.join(", ")),
            Contraction::Conv2d => operands.join(", "),
        };
        format!("{} #{n} ({how})", self.name())
    }

    /// The rule that adds `form` for this contraction (every form applies to every
    /// contraction; `Option` for the callers that ask before a form exists).
    pub fn rule(self, form: Form) -> Option<&'static str> {
        use Contraction::*;
        Some(match (self, form) {
            (MatMul, f) => f.rule(),
            (Einsum, Form::Float(DType::F16)) => "lower-einsum-f16",
            (Einsum, Form::Float(_)) => "lower-einsum-bf16",
            (Einsum, Form::Scaled(_)) => "lower-einsum-f8e4m3",
            (Einsum, Form::Int8(Scales::Tensor)) => "lower-einsum-int8-tensor",
            (Einsum, Form::Int8(Scales::Row)) => "lower-einsum-int8",
            (Einsum, Form::Int8(Scales::Block32)) => "lower-einsum-int8-block32",
            (Conv2d, Form::Float(DType::F16)) => "lower-conv2d-f16",
            (Conv2d, Form::Float(_)) => "lower-conv2d-bf16",
            (Conv2d, Form::Scaled(_)) => "lower-conv2d-f8e4m3",
            (Conv2d, Form::Int8(Scales::Tensor)) => "lower-conv2d-int8-tensor",
            (Conv2d, Form::Int8(Scales::Row)) => "lower-conv2d-int8",
            (Conv2d, Form::Int8(Scales::Block32)) => "lower-conv2d-int8-block32",
        })
    }

    /// The dtypes and scales of `form` on this contraction, in words (`--explain`).
    pub fn describe(self, form: Form) -> &'static str {
        match (self, form) {
            (Contraction::MatMul, f) | (_, f @ Form::Float(_)) => f.describe(),
            (Contraction::Einsum, Form::Scaled(_)) => {
                "operands quantised to f8e4m3 (one scale per tensor each), f32 compute"
            }
            (Contraction::Einsum, Form::Int8(Scales::Row)) => {
                "i8 operands (scales per slice of each operand's kept labels), i32 \
                 accumulation"
            }
            (Contraction::Einsum, Form::Int8(Scales::Block32)) => {
                "i8 operands (scales per block of 32 along the last contracted label and per \
                 slice of the kept labels), i32 partial sums per block"
            }
            (Contraction::Einsum, _) => "i8 operands (one scale per tensor each), i32 accumulation",
            (Contraction::Conv2d, Form::Scaled(_)) => {
                "operands quantised to f8e4m3 (activation scale per tensor, weight scales per \
                 output channel), f32 compute"
            }
            (Contraction::Conv2d, Form::Int8(Scales::Row)) => {
                "i8 operands (activation scale per image, weight scales per output channel), \
                 i32 accumulation"
            }
            (Contraction::Conv2d, Form::Int8(Scales::Block32)) => {
                "i8 operands (scales per block of 32 input channels: per image for the \
                 activation, per output channel for the weight), i32 convolution per block"
            }
            (Contraction::Conv2d, _) => {
                "i8 operands (activation scale per tensor, weight scales per output channel), \
                 i32 accumulation"
            }
        }
    }
}

/// The rules that cancel conversions; they run with every lowering.
pub const CANCELLING: [&str; 2] = ["cast-roundtrip", "quantize-dequantize"];

/// The precision table: every lowering rule (per contraction, per form) and the
/// cancelling rules.
pub fn rules() -> Vec<Rule> {
    let mut out: Vec<Rule> = Contraction::ALL
        .into_iter()
        .flat_map(|op| {
            Form::ALL
                .into_iter()
                .filter_map(move |form| lower(op, form))
        })
        .collect();
    out.extend(cancelling());
    out
}

fn cancelling() -> [Rule; 2] {
    [
        class_rule("cast-roundtrip", FnRule(cast_roundtrip)),
        class_rule("quantize-dequantize", FnRule(quantize_dequantize)),
    ]
}

/// The rules to run for `form`: its lowering of every contraction it applies to and the
/// cancelling rules.
pub fn rules_for(form: Form) -> Vec<Rule> {
    let mut out: Vec<Rule> = Contraction::ALL
        .into_iter()
        .filter_map(|op| lower(op, form))
        .collect();
    out.extend(cancelling());
    out
}

/// A rewrite that adds a multi-node term (egg patterns cannot carry attributes).
pub(crate) struct Lower {
    pub(crate) op: Contraction,
    pub(crate) form: Form,
}

fn lower(op: Contraction, form: Form) -> Option<Rule> {
    let name = op.rule(form)?;
    Some(
        Rewrite::new(name, Lower { op, form }, Lower { op, form })
            .unwrap_or_else(|e| unreachable!("a lowering binds no variables: {e}")),
    )
}

fn dtype(g: &Graph, id: Id) -> Option<DType> {
    ty(g, id).map(|t| t.dtype)
}

/// Whether the class holds an operand already lowered: a widening `cast` to `f32` of a
/// narrow float, or a `dequantize`.
pub fn is_lowered_operand(g: &Graph, id: Id) -> bool {
    g[id].nodes.iter().any(|n| match &n.head {
        Head::Op(GraphOp::Cast, a) => {
            a.attrs().dtype("dtype") == Some(DType::F32)
                && dtype(g, n.children[0]).is_some_and(|d| d.is_float() && d != DType::F32)
        }
        Head::Op(GraphOp::Dequantize, _) => true,
        _ => false,
    })
}

/// Whether `n` is an `f32` contraction of the precision table with an operand not yet
/// lowered: a `matmul`, an `einsum` (of two or more operands) or a `conv2d` of `f32`
/// operands.
fn unlowered_contraction(g: &Graph, n: &Node) -> Option<Contraction> {
    let c = Contraction::of(n.graph_op()?)?;
    let kids = n.children.as_slice();
    let arity = match c {
        Contraction::Einsum => kids.len() >= 2,
        Contraction::MatMul | Contraction::Conv2d => kids.len() == 2,
    };
    let f32s = kids.iter().all(|k| dtype(g, *k) == Some(DType::F32));
    (arity && f32s && !kids.iter().all(|k| is_lowered_operand(g, *k))).then_some(c)
}

/// The labels of a two-operand einsum spec: (first term, second term, output), for a spec
/// without `...`, repeated labels within a term, or non-letters.
fn einsum_terms(n: &Node) -> Option<(Vec<char>, Vec<char>, Vec<char>)> {
    let Head::Op(GraphOp::Einsum, a) = &n.head else {
        return None;
    };
    let spec: String = a
        .attrs()
        .str("spec")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let (lhs, out) = spec.split_once("->")?;
    let (x, y) = lhs.split_once(',')?;
    let terms: Vec<Vec<char>> = [x, y, out].iter().map(|t| t.chars().collect()).collect();
    let ok = |t: &[char]| {
        t.iter().all(|c| c.is_ascii_alphabetic())
            && t.iter().enumerate().all(|(i, c)| !t[..i].contains(c))
    };
    if !terms.iter().all(|t| ok(t)) {
        return None;
    }
    let mut it = terms.into_iter();
    Some((it.next()?, it.next()?, it.next()?))
}

/// The contracted labels of an einsum, if it can be lowered to `i8` exactly: at least one
/// label shared by both operands and absent from the output, and every other label of
/// each operand in the output (no label summed within one operand, which would need an
/// `i32` sum of `i8` values before the product).
fn int8_contracted(x: &[char], y: &[char], out: &[char]) -> Option<Vec<char>> {
    let k: Vec<char> = x
        .iter()
        .filter(|l| y.contains(l) && !out.contains(l))
        .copied()
        .collect();
    let kept = x.iter().chain(y).all(|l| out.contains(l) || k.contains(l));
    (!k.is_empty() && kept).then_some(k)
}

impl Lower {
    /// The nodes of `class` this rule lowers: `f32` contractions of its kind, with an
    /// operand not yet lowered, of a form this lowering takes.
    pub(crate) fn sites(&self, g: &Graph, class: Id) -> Vec<Node> {
        let mut out = Vec::new();
        let here = g.find(class);
        if g.analysis.keep_f32.iter().any(|k| g.find(*k) == here) {
            return out;
        }
        for n in &g[class].nodes {
            if unlowered_contraction(g, n) != Some(self.op) {
                continue;
            }
            let (a, w) = (n.children[0], n.children[1]);
            let (Some(ta), Some(tw)) = (ty(g, a), ty(g, w)) else {
                continue;
            };
            let ok = match (self.op, self.form) {
                (_, Form::Float(_)) => true,
                (
                    Contraction::MatMul,
                    Form::Scaled(_) | Form::Int8(Scales::Tensor | Scales::Row),
                ) => tw.rank() == 2 && ta.rank() >= 2,
                (Contraction::MatMul, Form::Int8(Scales::Block32)) => {
                    tw.rank() == 2 && ta.rank() >= 2 && blocks(tw).is_some()
                }
                (Contraction::Einsum, Form::Int8(Scales::Block32)) => {
                    einsum_terms(n).is_some_and(|(x, y, o)| einsum_block(&x, &y, &o, ta).is_some())
                }
                // Per-tensor scales take any number of operands.
                (Contraction::Einsum, Form::Scaled(_)) => {
                    n.children.len() > 2 || einsum_terms(n).is_some()
                }
                (Contraction::Einsum, Form::Int8(Scales::Tensor | Scales::Row)) => {
                    einsum_terms(n).is_some_and(|(x, y, o)| int8_contracted(&x, &y, &o).is_some())
                }
                (
                    Contraction::Conv2d,
                    Form::Scaled(_) | Form::Int8(Scales::Tensor | Scales::Row),
                ) => ta.rank() == 4 && tw.rank() == 4,
                (Contraction::Conv2d, Form::Int8(Scales::Block32)) => {
                    let Head::Op(_, attrs) = &n.head else {
                        continue;
                    };
                    ta.rank() == 4
                        && tw.rank() == 4
                        && attrs.attrs().int("groups").unwrap_or(1) == 1
                        && conv_blocks(tw).is_some()
                }
            };
            if ok {
                out.push(n.clone());
            }
        }
        out
    }

    /// Adds the lowered form of the contraction `n` of e-class `class` (one of
    /// [`Self::sites`]) and returns its class; `None` when the form's type is not the
    /// contraction's (never for the sites this rule finds; a guard against a wrong
    /// union).
    pub(crate) fn build(&self, g: &mut Graph, class: Id, n: &Node) -> Option<Id> {
        let (a, w) = (*n.children.first()?, *n.children.get(1)?);
        let Head::Op(_, attrs) = &n.head else {
            return None;
        };
        let id = match self.op {
            Contraction::MatMul => self.build_matmul(g, a, w),
            Contraction::Einsum if n.children.len() > 2 => {
                self.build_einsum_n(g, &n.children, attrs.clone())
            }
            Contraction::Einsum => self.build_einsum(g, a, w, attrs.clone(), n),
            Contraction::Conv2d => self.build_conv(g, a, w, attrs.clone()),
        }?;
        (ty(g, id).is_some() && ty(g, id) == ty(g, class)).then_some(id)
    }

    /// Adds the lowered form of an einsum of three or more operands (the float forms and
    /// per-tensor `fp8` only: one `i8` contraction of more than two operands is not an
    /// exact `i32` product) and returns its class: `einsum(s, x1, .., xn) = einsum(s, x1
    /// as T as f32, .., xn as T as f32)`, or each operand quantised to E4M3 with one scale
    /// per tensor and dequantised.
    fn build_einsum_n(&self, g: &mut Graph, kids: &[Id], attrs: OpAttrs) -> Option<Id> {
        let mut lowered = Vec::with_capacity(kids.len());
        for &x in kids {
            lowered.push(match self.form {
                Form::Float(t) => widen(g, x, t),
                Form::Scaled(t) => {
                    let rank = ty(g, x)?.rank();
                    let (q, s) = quant_tensor(g, x, rank, t, 448.0);
                    op(g, GraphOp::Dequantize, Attrs::new(), vec![q, s])
                }
                Form::Int8(_) => return None,
            });
        }
        Some(g.add(Node::op(GraphOp::Einsum, attrs, lowered)))
    }

    /// Adds the lowered form of `a @ w` and returns its class.
    fn build_matmul(&self, g: &mut Graph, a: Id, w: Id) -> Option<Id> {
        let ra = ty(g, a)?.rank();
        match self.form {
            Form::Float(t) => {
                let la = widen(g, a, t);
                let lw = widen(g, w, t);
                Some(op(g, GraphOp::MatMul, Attrs::new(), vec![la, lw]))
            }
            Form::Scaled(t) => {
                let (qa, sa) = quant_tensor(g, a, ra, t, 448.0);
                let (qw, sw) = quant_columns(g, w, t, 448.0);
                let da = op(g, GraphOp::Dequantize, Attrs::new(), vec![qa, sa]);
                let dw = op(g, GraphOp::Dequantize, axis(1), vec![qw, sw]);
                Some(op(g, GraphOp::MatMul, Attrs::new(), vec![da, dw]))
            }
            Form::Int8(Scales::Tensor) => {
                // Elementwise, as the per-row form, so that it fuses.
                let m = reduce_max(g, a, (0..ra as i64).collect());
                let sa = scale(g, m, 127.0);
                let x = op(g, GraphOp::Div, Attrs::new(), vec![a, sa]);
                let qa = cast(g, x, DType::I8);
                let (qw, sw) = quant_columns(g, w, DType::I8, 127.0);
                let acc = op(g, GraphOp::MatMul, Attrs::new(), vec![qa, qw]);
                let s = op(g, GraphOp::Mul, Attrs::new(), vec![sw, sa]);
                let wide = cast(g, acc, DType::F32);
                Some(op(g, GraphOp::Mul, Attrs::new(), vec![wide, s]))
            }
            Form::Int8(Scales::Row) => {
                // Written with elementwise operations only (`quantize(x, s)` is `x / s as
                // i8`, `dequantize(q, s)` is `q as f32 * s`), so that the activation's
                // quantisation and the dequantisation fuse: the latter into the matmul's
                // epilogue.
                let last = ra as i64 - 1;
                let (x, sa) = scaled_keepdims(g, a, vec![last], 127.0);
                let qa = cast(g, x, DType::I8);
                let (qw, sw) = quant_columns(g, w, DType::I8, 127.0);
                let acc = op(g, GraphOp::MatMul, Attrs::new(), vec![qa, qw]);
                let wide = cast(g, acc, DType::F32);
                let d = op(g, GraphOp::Mul, Attrs::new(), vec![wide, sw]);
                Some(op(g, GraphOp::Mul, Attrs::new(), vec![d, sa]))
            }
            Form::Int8(Scales::Block32) => {
                let ta = ty(g, a)?.clone();
                let tw = ty(g, w)?.clone();
                let nb = blocks(&tw)?;
                let lead = &ta.shape[..ra - 1];
                let n = tw.shape[1].clone();
                if nb <= MAX_BLOCKS {
                    return matmul_block_slices(g, a, w, &ta, &tw, nb);
                }
                // a as [.., M, K/32, 32], w as [K/32, 32, N], quantised per block.
                let mut a_dims: Vec<SymExpr> = lead.to_vec();
                a_dims.extend([SymExpr::lit(nb), SymExpr::lit(32)]);
                let a4 = reshape(g, a, a_dims);
                let (qa, sa) = quant_keepdims(g, a4, vec![ra as i64], DType::I8, 127.0);
                let w3 = reshape(g, w, vec![SymExpr::lit(nb), SymExpr::lit(32), n.clone()]);
                let (qw, sw) = quant_keepdims(g, w3, vec![1], DType::I8, 127.0);
                // Partial products per block: [.., M, K/32, N] in i32.
                let labels: String = "acdefghijlopqrs".chars().take(ra - 1).collect();
                let spec = format!("{labels}bk,bkn->{labels}bn");
                let attrs = Attrs::new().with("spec", Attr::Str(spec));
                let acc = op(g, GraphOp::Einsum, attrs, vec![qa, qw]);
                let wide = op(
                    g,
                    GraphOp::Cast,
                    Attrs::new().with("dtype", Attr::DType(DType::F32)),
                    vec![acc],
                );
                let sw2 = reshape(g, sw, vec![SymExpr::lit(nb), n]);
                let by_a = op(g, GraphOp::Mul, Attrs::new(), vec![wide, sa]);
                let by_w = op(g, GraphOp::Mul, Attrs::new(), vec![by_a, sw2]);
                let attrs = Attrs::new()
                    .with("axes", Attr::Ints(vec![ra as i64 - 1]))
                    .with("keepdims", Attr::Bool(false));
                Some(op(g, GraphOp::ReduceSum, attrs, vec![by_w]))
            }
        }
    }

    /// Adds the lowered form of the two-operand `einsum` `n` of `a` and `b`:
    /// - `bf16`/`f16`: `einsum(a as T as f32, b as T as f32)`;
    /// - `fp8`: each operand quantised with one scale per tensor, dequantised, `f32`
    ///   einsum (per-tensor scales: an einsum's operands have no fixed weight layout);
    /// - `int8/tensor`: `einsum(a / s_a as i8, b / s_b as i8) as f32 * (s_a * s_b)`;
    /// - `int8/row`: one scale per slice of each operand over its contracted labels
    ///   (`s_a[kept labels of a]`, `max(max_k |a| / 127, tiny)`, likewise `s_b`): the
    ///   scales are constant along the reduction, so `sum_k qa qb * s_a * s_b` factors,
    ///   and the result is `einsum(qa, qb) as f32 * s_a * s_b`, each scale laid out along
    ///   the output's labels (a transpose where the output orders them differently, size
    ///   1 for the other operand's labels). For `"bhqd,bhkd->bhqk"`: a scale per query
    ///   row and per key row, as `int8/row` of `matmul` takes one per row of the
    ///   activation and one per output channel of the weight.
    /// - `int8/block32`: the last contracted label `r` (static size `K`, a multiple of
    ///   32, at least 64: [`einsum_block`]) split into blocks, `r = 32 blk + inb`.
    ///   Each operand, reshaped with `r` as (`blk`, `inb`), is quantised with one scale
    ///   per block and per slice of its kept labels (the maximum over `inb` and the
    ///   other contracted labels). Identity: `einsum(s, a, b)[o] = sum_blk sum_{inb, k'}
    ///   a[.., blk, inb] b[.., blk, inb] ~ sum_blk s_a[.., blk] s_b[.., blk] sum_{inb, k'}
    ///   qa qb` (`k'` the other contracted labels: the scales do not vary along what the
    ///   inner sum runs over, so they factor out of it). Each inner sum is the einsum as
    ///   written of the block's `i8` slices (`r` restricted to `32 blk .. 32 blk + 32`),
    ///   into `i32`, cast to `f32`, multiplied by the block's scales laid out along the
    ///   output's labels; the blocks' results are added. *Why slices*: the
    ///   one-operation alternative, an `i8` einsum keeping `blk` as an output label and a
    ///   sum over it, makes `blk` a batch axis of the contraction and the scaled sum a
    ///   reduction over an axis of `K / 32` elements: 4.1 times the instructions of
    ///   this form (2.6 times its time) on `"bqd,bkd->bqk"` with `d = 64`
    ///   (docs/BENCHMARKS.md, "Session 8"). Slices of `i8` operands are cheap copies,
    ///   and each block's einsum is the written one, on the `i8` micro-kernel. Beyond
    ///   [`MAX_BLOCKS`] blocks (`K > 1024`) that one-operation form is taken (`blk` kept
    ///   as the output's last label: `"bqd,bkd->bqk"` becomes `"bqac,bkac->bqka"`), so
    ///   that the graph does not grow with `K`.
    fn build_einsum(&self, g: &mut Graph, a: Id, b: Id, attrs: OpAttrs, n: &Node) -> Option<Id> {
        let (x, y, out) = einsum_terms(n)?;
        let einsum = |g: &mut Graph, l: Id, r: Id| {
            g.add(Node::op(GraphOp::Einsum, attrs.clone(), vec![l, r]))
        };
        match self.form {
            Form::Float(t) => {
                let la = widen(g, a, t);
                let lb = widen(g, b, t);
                Some(einsum(g, la, lb))
            }
            Form::Scaled(t) => {
                let (qa, sa) = quant_tensor(g, a, x.len(), t, 448.0);
                let (qb, sb) = quant_tensor(g, b, y.len(), t, 448.0);
                let da = op(g, GraphOp::Dequantize, Attrs::new(), vec![qa, sa]);
                let db = op(g, GraphOp::Dequantize, Attrs::new(), vec![qb, sb]);
                Some(einsum(g, da, db))
            }
            Form::Int8(Scales::Tensor) => {
                int8_contracted(&x, &y, &out)?;
                let (xa, sa) = scaled_tensor(g, a, x.len(), 127.0);
                let (xb, sb) = scaled_tensor(g, b, y.len(), 127.0);
                let (qa, qb) = (cast(g, xa, DType::I8), cast(g, xb, DType::I8));
                let acc = einsum(g, qa, qb);
                let wide = cast(g, acc, DType::F32);
                let s = op(g, GraphOp::Mul, Attrs::new(), vec![sa, sb]);
                Some(op(g, GraphOp::Mul, Attrs::new(), vec![wide, s]))
            }
            Form::Int8(Scales::Row) => {
                let k = int8_contracted(&x, &y, &out)?;
                let axes = |t: &[char]| -> Vec<i64> {
                    (0..t.len() as i64)
                        .filter(|i| k.contains(&t[*i as usize]))
                        .collect()
                };
                let (xa, sa) = scaled_keepdims(g, a, axes(&x), 127.0);
                let (xb, sb) = scaled_keepdims(g, b, axes(&y), 127.0);
                let (qa, qb) = (cast(g, xa, DType::I8), cast(g, xb, DType::I8));
                let acc = einsum(g, qa, qb);
                let wide = cast(g, acc, DType::F32);
                let sa = along_output(g, sa, &x, &out)?;
                let sb = along_output(g, sb, &y, &out)?;
                let d = op(g, GraphOp::Mul, Attrs::new(), vec![wide, sa]);
                Some(op(g, GraphOp::Mul, Attrs::new(), vec![d, sb]))
            }
            Form::Int8(Scales::Block32) => {
                let ta = ty(g, a)?.clone();
                let tb = ty(g, b)?.clone();
                let (r, nb) = einsum_block(&x, &y, &out, &ta)?;
                let k = int8_contracted(&x, &y, &out)?;
                // Two fresh labels: `blk` for the block, `inb` for the position in it.
                let mut fresh = ('a'..='z')
                    .chain('A'..='Z')
                    .filter(|l| !x.contains(l) && !y.contains(l) && !out.contains(l));
                let (blk, inb) = (fresh.next()?, fresh.next()?);
                // Each operand with `r` split into (`blk`, `inb`), then quantised with one
                // scale per block and per slice of its other kept labels: the maximum over
                // `inb` and the other contracted labels, kept as size 1.
                let split = |g: &mut Graph, v: Id, t: &[char], vt: &TensorType| {
                    let mut labels = Vec::new();
                    let mut dims = Vec::new();
                    for (l, d) in t.iter().zip(&vt.shape) {
                        if *l == r {
                            labels.extend([blk, inb]);
                            dims.extend([SymExpr::lit(nb), SymExpr::lit(32)]);
                        } else {
                            labels.push(*l);
                            dims.push(d.clone());
                        }
                    }
                    let axes: Vec<i64> = (0..labels.len() as i64)
                        .filter(|i| {
                            let l = labels[*i as usize];
                            l == inb || (l != r && k.contains(&l))
                        })
                        .collect();
                    let v = reshape(g, v, dims);
                    let (xs, s) = scaled_keepdims(g, v, axes, 127.0);
                    (cast(g, xs, DType::I8), s, labels)
                };
                let (qa, sa, xa) = split(g, a, &x, &ta);
                let (qb, sb, yb) = split(g, b, &y, &tb);
                if nb > MAX_BLOCKS {
                    // One i8 einsum keeping the block label last ([out.., K/32] in i32),
                    // scaled, summed over that axis: a graph that does not grow with K.
                    let mut blocked = out.clone();
                    blocked.push(blk);
                    let text = |t: &[char]| t.iter().collect::<String>();
                    let spec = format!("{},{}->{}", text(&xa), text(&yb), text(&blocked));
                    let attrs = Attrs::new().with("spec", Attr::Str(spec));
                    let acc = op(g, GraphOp::Einsum, attrs, vec![qa, qb]);
                    let wide = cast(g, acc, DType::F32);
                    let sa = along_output(g, sa, &xa, &blocked)?;
                    let sb = along_output(g, sb, &yb, &blocked)?;
                    let d = op(g, GraphOp::Mul, Attrs::new(), vec![wide, sa]);
                    let d = op(g, GraphOp::Mul, Attrs::new(), vec![d, sb]);
                    let attrs = Attrs::new()
                        .with("axes", Attr::Ints(vec![out.len() as i64]))
                        .with("keepdims", Attr::Bool(false));
                    return Some(op(g, GraphOp::ReduceSum, attrs, vec![d]));
                }
                // Seen as written again (a view), then sliced per block along `r`.
                let qa = reshape(g, qa, ta.shape.clone());
                let qb = reshape(g, qb, tb.shape.clone());
                let (pa, pb) = (
                    x.iter().position(|l| *l == r)?,
                    y.iter().position(|l| *l == r)?,
                );
                let (ba, bb) = (
                    xa.iter().position(|l| *l == blk)?,
                    yb.iter().position(|l| *l == blk)?,
                );
                let mut total = None;
                for i in 0..nb {
                    let qa_i = slice_axis(g, qa, pa, 32 * i, 32 * i + 32)?;
                    let qb_i = slice_axis(g, qb, pb, 32 * i, 32 * i + 32)?;
                    let acc = einsum(g, qa_i, qb_i);
                    let wide = cast(g, acc, DType::F32);
                    let sa_i = slice_axis(g, sa, ba, i, i + 1)?;
                    let sa_i = along_output(g, sa_i, &xa, &out)?;
                    let sb_i = slice_axis(g, sb, bb, i, i + 1)?;
                    let sb_i = along_output(g, sb_i, &yb, &out)?;
                    add_scaled_block(g, &mut total, wide, sa_i, sb_i);
                }
                total
            }
        }
    }

    /// Adds the lowered form of `conv2d(x, w)` (NCHW, OIHW; the attributes of `attrs`):
    /// - `bf16`/`f16`: `conv2d(x as T as f32, w as T as f32)`;
    /// - `fp8`: the activation quantised with one scale per tensor, the weight with one
    ///   per output channel (`max_{c, kh, kw} |w[o]| / 448`), dequantised, `f32` conv2d;
    /// - `int8/tensor` and `int8/row`: `conv2d(x / s_x as i8, qw) as f32 * s_w[o] * s_x`
    ///   with `qw = quantize(w, i8, s_w, axis: 0)` per output channel, and `s_x` one
    ///   scale per tensor (`int8/tensor`) or per image (`int8/row`, `[N, 1, 1, 1]`: an
    ///   image's result does not depend on the others in its batch). Each output element
    ///   sums products of one image and one output channel, so the scales factor out of
    ///   the exact `i32` sum.
    /// - `int8/block32` (`groups = 1`, a static `C`, a multiple of 32, from 64 to 1024:
    ///   [`conv_blocks`]): one scale per (image, block of 32 input channels) for `x`,
    ///   per (output channel, block) for `w`. Identity: `conv2d(x, w)[n, o, p, q] =
    ///   sum_b sum_{c in b, taps} x w ~ sum_b s_x[n, b] s_w[o, b] conv2d(qx_b, qw_b)[n, o,
    ///   p, q]`, with `qx_b` and `qw_b` the block's 32 channels (a `slice` of the
    ///   quantised tensors): the scales are constant over the inner sum, and a padded
    ///   position is zero before and after quantisation. *Why slices*: each block is
    ///   then a `groups = 1` `i8` convolution, which tiling lowers to the `i8` implicit
    ///   GEMM; the one-operation alternative, a convolution with `groups = C/32` of `x`
    ///   and the weight re-laid as `[C/32 * O, 32, KH, KW]`, is lowered as a direct
    ///   (scalar-broadcast) convolution, not the micro-kernel. The cost is one `i8`
    ///   slice of `x` per block (a copy of a quarter of its `f32` bytes) and one
    ///   convolution per block; the partial results are scaled and summed in one
    ///   elementwise kernel (conv3x3, 64 channels: 7% more instructions than
    ///   `int8/row`).
    fn build_conv(&self, g: &mut Graph, x: Id, w: Id, attrs: OpAttrs) -> Option<Id> {
        let conv = |g: &mut Graph, l: Id, r: Id| {
            g.add(Node::op(GraphOp::Conv2d, attrs.clone(), vec![l, r]))
        };
        match self.form {
            Form::Float(t) => {
                let lx = widen(g, x, t);
                let lw = widen(g, w, t);
                Some(conv(g, lx, lw))
            }
            Form::Scaled(t) => {
                let (qx, sx) = quant_tensor(g, x, 4, t, 448.0);
                let (qw, sw) = quant_out_channels(g, w, t, 448.0);
                let dx = op(g, GraphOp::Dequantize, Attrs::new(), vec![qx, sx]);
                let dw = op(g, GraphOp::Dequantize, axis(0), vec![qw, sw]);
                Some(conv(g, dx, dw))
            }
            Form::Int8(Scales::Block32) => {
                let tx = ty(g, x)?.clone();
                let tw = ty(g, w)?.clone();
                let nb = conv_blocks(&tw)?;
                let [n, _, h, wd] = tx.shape.as_slice() else {
                    return None;
                };
                let [o, _, kh, kw] = tw.shape.as_slice() else {
                    return None;
                };
                let lit = SymExpr::lit;
                // x as [N, C/32, 32 * H * W]: one scale per (image, block), the maximum
                // over the block's 32 channels and the whole image; w as [O, C/32, 32 *
                // KH * KW]: one per (output channel, block). Both quantised, then seen
                // as NCHW / OIHW again (reshapes: views, no copies).
                let rows = |d1: &SymExpr, d2: &SymExpr| lit(32).mul(d1).mul(d2);
                let x3 = reshape(g, x, vec![n.clone(), lit(nb), rows(h, wd)]);
                let (xs, sx) = scaled_keepdims(g, x3, vec![2], 127.0);
                let qx3 = cast(g, xs, DType::I8);
                let qx = reshape(g, qx3, tx.shape.clone());
                let w3 = reshape(g, w, vec![o.clone(), lit(nb), rows(kh, kw)]);
                let (qw3, sw) = quant_keepdims(g, w3, vec![2], DType::I8, 127.0);
                let qw = reshape(g, qw3, tw.shape.clone());
                let mut total = None;
                for b in 0..nb {
                    let ch = |end: &SymExpr, last: Vec<SymExpr>| {
                        let mut start = vec![lit(0), lit(32 * b)];
                        start.extend(last.iter().map(|_| lit(0)));
                        let mut stop = vec![end.clone(), lit(32 * b + 32)];
                        stop.extend(last);
                        (start, stop)
                    };
                    let (s0, s1) = ch(n, vec![h.clone(), wd.clone()]);
                    let qxb = slice(g, qx, s0, s1);
                    let (s0, s1) = ch(o, vec![kh.clone(), kw.clone()]);
                    let qwb = slice(g, qw, s0, s1);
                    let acc = conv(g, qxb, qwb);
                    let wide = cast(g, acc, DType::F32);
                    let at = |g: &mut Graph, s: Id, d: &SymExpr, dims: Vec<SymExpr>| {
                        let s = slice(
                            g,
                            s,
                            vec![lit(0), lit(b), lit(0)],
                            vec![d.clone(), lit(b + 1), lit(1)],
                        );
                        reshape(g, s, dims)
                    };
                    let swb = at(g, sw, o, vec![o.clone(), lit(1), lit(1)]);
                    let sxb = at(g, sx, n, vec![n.clone(), lit(1), lit(1), lit(1)]);
                    add_scaled_block(g, &mut total, wide, swb, sxb);
                }
                total
            }
            Form::Int8(s) => {
                let (xs, sx) = match s {
                    Scales::Tensor => scaled_tensor(g, x, 4, 127.0),
                    _ => scaled_keepdims(g, x, vec![1, 2, 3], 127.0),
                };
                let qx = cast(g, xs, DType::I8);
                let (qw, sw) = quant_out_channels(g, w, DType::I8, 127.0);
                let acc = conv(g, qx, qw);
                let wide = cast(g, acc, DType::F32);
                let o = ty(g, w)?.shape.first()?.clone();
                let sw = reshape(g, sw, vec![o, SymExpr::lit(1), SymExpr::lit(1)]);
                let d = op(g, GraphOp::Mul, Attrs::new(), vec![wide, sw]);
                Some(op(g, GraphOp::Mul, Attrs::new(), vec![d, sx]))
            }
        }
    }
}

/// A scale `s` of an einsum operand with labels `t` (its contracted axes kept as size 1)
/// laid out along the output's labels `out`: its kept labels in the output's order, size 1
/// for the output's other labels, so that it broadcasts against the result.
fn along_output(g: &mut Graph, s: Id, t: &[char], out: &[char]) -> Option<Id> {
    let shape = ty(g, s)?.shape.clone();
    let kept: Vec<(char, SymExpr)> = t
        .iter()
        .zip(&shape)
        .filter(|(l, _)| out.contains(l))
        .map(|(l, d)| (*l, d.clone()))
        .collect();
    let at = |l: char| out.iter().position(|o| *o == l);
    let mut order: Vec<usize> = (0..kept.len()).collect();
    order.sort_by_key(|i| at(kept[*i].0));
    let mut s = s;
    if order.iter().enumerate().any(|(i, p)| i != *p) {
        let dims = kept.iter().map(|(_, d)| d.clone()).collect();
        s = reshape(g, s, dims);
        let perm = order.iter().map(|p| *p as i64).collect();
        s = op(
            g,
            GraphOp::Transpose,
            Attrs::new().with("perm", Attr::Ints(perm)),
            vec![s],
        );
    }
    let dims: Vec<SymExpr> = out
        .iter()
        .map(|l| match kept.iter().find(|(k, _)| k == l) {
            Some((_, d)) => d.clone(),
            None => SymExpr::lit(1),
        })
        .collect();
    if ty(g, s)?.shape != dims {
        s = reshape(g, s, dims);
    }
    Some(s)
}

/// `x` divided by one scale for the whole tensor: (`x / s`, `s`), `s` 0-d.
fn scaled_tensor(g: &mut Graph, x: Id, rank: usize, top: f64) -> (Id, Id) {
    let m = reduce_max(g, x, (0..rank as i64).collect());
    let s = scale(g, m, top);
    (op(g, GraphOp::Div, Attrs::new(), vec![x, s]), s)
}

/// An OIHW weight quantised with one scale per output channel (`max |w[o]| / top`, the
/// maximum over `c, kh, kw`): (quantised, scales `[O]`).
fn quant_out_channels(g: &mut Graph, w: Id, t: DType, top: f64) -> (Id, Id) {
    let m = reduce_max(g, w, vec![1, 2, 3]);
    let s = scale(g, m, top);
    let attrs = axis(0).with("dtype", Attr::DType(t));
    (op(g, GraphOp::Quantize, attrs, vec![w, s]), s)
}

/// `int8/block32` of `a @ w` (`a` of type `ta`, rank >= 2; `w` of type `tw`, `[K, N]`;
/// `nb = K / 32` blocks, at most [`MAX_BLOCKS`]) as per-block slices: `a` seen as `[..,
/// M, K/32, 32]` and quantised with one scale per (row, block) (elementwise, so that it
/// fuses), `w` as `[K/32, 32, N]` with one per (block, column), both seen as written
/// again (views); then per block `(qa[.., 32 b .. 32 b + 32] @ qw[32 b .. 32 b + 32, ..])
/// as f32 * s_w[b, n] * s_a[.., m, b]`, the blocks added in one elementwise kernel. Each
/// block is a plain `i8` matmul on the micro-kernel, and no `[.., M, K/32, N]` tensor is
/// laid out block-major and summed over a middle axis: on the MLP (B=256) 1.7 times
/// faster than the einsum form (docs/BENCHMARKS.md, "Session 8").
fn matmul_block_slices(
    g: &mut Graph,
    a: Id,
    w: Id,
    ta: &TensorType,
    tw: &TensorType,
    nb: i64,
) -> Option<Id> {
    let ra = ta.rank();
    let lead = &ta.shape[..ra - 1];
    let n = tw.shape.get(1)?.clone();
    let mut a_dims: Vec<SymExpr> = lead.to_vec();
    a_dims.extend([SymExpr::lit(nb), SymExpr::lit(32)]);
    let a4 = reshape(g, a, a_dims);
    let (xa, sa) = scaled_keepdims(g, a4, vec![ra as i64], 127.0);
    let qa = cast(g, xa, DType::I8);
    let qa = reshape(g, qa, ta.shape.clone());
    let w3 = reshape(g, w, vec![SymExpr::lit(nb), SymExpr::lit(32), n.clone()]);
    let (qw, sw) = quant_keepdims(g, w3, vec![1], DType::I8, 127.0);
    let qw = reshape(g, qw, tw.shape.clone());
    let mut total = None;
    for i in 0..nb {
        let qa_i = slice_axis(g, qa, ra - 1, 32 * i, 32 * i + 32)?;
        let qw_i = slice_axis(g, qw, 0, 32 * i, 32 * i + 32)?;
        let acc = op(g, GraphOp::MatMul, Attrs::new(), vec![qa_i, qw_i]);
        let wide = cast(g, acc, DType::F32);
        let sa_i = slice_axis(g, sa, ra - 1, i, i + 1)?;
        let mut s_dims: Vec<SymExpr> = lead.to_vec();
        s_dims.push(SymExpr::lit(1));
        let sa_i = reshape(g, sa_i, s_dims);
        let sw_i = slice_axis(g, sw, 0, i, i + 1)?;
        let sw_i = reshape(g, sw_i, vec![n.clone()]);
        add_scaled_block(g, &mut total, wide, sw_i, sa_i);
    }
    total
}

/// The number of blocks of 32 along the reduction axis of a 2-D weight `[K, N]`: `K / 32`
/// for a static `K` that is a multiple of 32 and at least 64 (one block is the per-row
/// and per-channel form).
fn blocks(w: &TensorType) -> Option<i64> {
    block_count(w.shape.first()?)
}

/// `K / 32` for a static `K` that is a multiple of 32 and at least 64.
fn block_count(k: &SymExpr) -> Option<i64> {
    match k.as_const()? {
        k if k >= 64 && k % 32 == 0 => Some(k / 32),
        _ => None,
    }
}

/// The reduction axis of a two-operand einsum's `int8/block32` form: its last contracted
/// label (in the first operand's order), when the einsum can be lowered to `i8` exactly
/// ([`int8_contracted`]) and that label's size in `a` (the first operand's type) is a
/// static multiple of 32, at least 64. Returns (the label, the number of blocks).
fn einsum_block(x: &[char], y: &[char], out: &[char], a: &TensorType) -> Option<(char, i64)> {
    let k = int8_contracted(x, y, out)?;
    let r = *k.last()?;
    let at = x.iter().position(|l| *l == r)?;
    Some((r, block_count(a.shape.get(at)?)?))
}

/// The most blocks of 32 that `int8/block32` computes as one `i8` contraction per block
/// (a reduction of at most 1024), so that the graph does not grow without bound: beyond,
/// `matmul` and `einsum` keep the block as a label of one `i8` einsum and sum over it,
/// and `conv2d` has no block form.
const MAX_BLOCKS: i64 = 32;

/// The number of blocks of 32 input channels of an OIHW weight for `int8/block32`: `C /
/// 32` for a static `C`, a multiple of 32, at least 64, at most [`MAX_BLOCKS`] blocks.
fn conv_blocks(w: &TensorType) -> Option<i64> {
    block_count(w.shape.get(1)?).filter(|b| *b <= MAX_BLOCKS)
}

/// `x[lo:hi]` along `axis`, whole along the others.
fn slice_axis(g: &mut Graph, x: Id, axis: usize, lo: i64, hi: i64) -> Option<Id> {
    let shape = ty(g, x)?.shape.clone();
    let start = (0..shape.len())
        .map(|a| SymExpr::lit(if a == axis { lo } else { 0 }))
        .collect();
    let mut end = shape;
    *end.get_mut(axis)? = SymExpr::lit(hi);
    Some(slice(g, x, start, end))
}

/// `x[start:end]` along every axis.
fn slice(g: &mut Graph, x: Id, start: Vec<SymExpr>, end: Vec<SymExpr>) -> Id {
    let attrs = Attrs::new()
        .with("start", Attr::Sizes(start))
        .with("end", Attr::Sizes(end));
    op(g, GraphOp::Slice, attrs, vec![x])
}

fn reshape(g: &mut Graph, x: Id, dims: Vec<SymExpr>) -> Id {
    op(
        g,
        GraphOp::Reshape,
        Attrs::new().with("shape", Attr::Sizes(dims)),
        vec![x],
    )
}

/// `x` divided by one scale per slice along `axes` (kept as size-1 dimensions): (`x / s`,
/// `s`).
fn scaled_keepdims(g: &mut Graph, x: Id, axes: Vec<i64>, top: f64) -> (Id, Id) {
    let ab = op(g, GraphOp::Abs, Attrs::new(), vec![x]);
    let attrs = Attrs::new()
        .with("axes", Attr::Ints(axes))
        .with("keepdims", Attr::Bool(true));
    let m = op(g, GraphOp::ReduceMax, attrs, vec![ab]);
    let s = scale(g, m, top);
    (op(g, GraphOp::Div, Attrs::new(), vec![x, s]), s)
}

/// `x` quantised with one scale per slice along `axes` (kept as size-1 dimensions):
/// (`quantize(x / s, t, scale: 1)`, `s`).
fn quant_keepdims(g: &mut Graph, x: Id, axes: Vec<i64>, t: DType, top: f64) -> (Id, Id) {
    let (x, s) = scaled_keepdims(g, x, axes, top);
    let one = constant(g, 1.0);
    let attrs = Attrs::new().with("dtype", Attr::DType(t));
    (op(g, GraphOp::Quantize, attrs, vec![x, one]), s)
}

/// Adds one block's partial product `wide`, scaled by its two operands' scales, to the
/// running sum over the blocks (`total`, `None` before the first block).
fn add_scaled_block(g: &mut Graph, total: &mut Option<Id>, wide: Id, s1: Id, s2: Id) {
    let d = op(g, GraphOp::Mul, Attrs::new(), vec![wide, s1]);
    let d = op(g, GraphOp::Mul, Attrs::new(), vec![d, s2]);
    *total = Some(match *total {
        None => d,
        Some(t) => op(g, GraphOp::Add, Attrs::new(), vec![t, d]),
    });
}

/// `x as t`.
fn cast(g: &mut Graph, x: Id, t: DType) -> Id {
    op(
        g,
        GraphOp::Cast,
        Attrs::new().with("dtype", Attr::DType(t)),
        vec![x],
    )
}

fn op(g: &mut Graph, o: GraphOp, attrs: Attrs, kids: Vec<Id>) -> Id {
    g.add(Node::op(o, OpAttrs::new(attrs), kids))
}

fn axis(a: i64) -> Attrs {
    Attrs::new().with("axis", Attr::Int(a))
}

fn constant(g: &mut Graph, v: f64) -> Id {
    let attrs = Attrs::new()
        .with("value", Attr::Float(v))
        .with("dtype", Attr::DType(DType::F32));
    op(g, GraphOp::Constant, attrs, Vec::new())
}

/// `x as t as f32`.
fn widen(g: &mut Graph, x: Id, t: DType) -> Id {
    let n = op(
        g,
        GraphOp::Cast,
        Attrs::new().with("dtype", Attr::DType(t)),
        vec![x],
    );
    op(
        g,
        GraphOp::Cast,
        Attrs::new().with("dtype", Attr::DType(DType::F32)),
        vec![n],
    )
}

/// `max(m / top, tiny)`: a scale from a maximum magnitude.
fn scale(g: &mut Graph, m: Id, top: f64) -> Id {
    let c = constant(g, top);
    let tiny = constant(g, f64::from(f32::MIN_POSITIVE));
    let d = op(g, GraphOp::Div, Attrs::new(), vec![m, c]);
    op(g, GraphOp::Max, Attrs::new(), vec![d, tiny])
}

fn reduce_max(g: &mut Graph, x: Id, axes: Vec<i64>) -> Id {
    let ab = op(g, GraphOp::Abs, Attrs::new(), vec![x]);
    let attrs = Attrs::new()
        .with("axes", Attr::Ints(axes))
        .with("keepdims", Attr::Bool(false));
    op(g, GraphOp::ReduceMax, attrs, vec![ab])
}

/// `x` quantised with one scale for the whole tensor: (quantised, scale).
fn quant_tensor(g: &mut Graph, x: Id, rank: usize, t: DType, top: f64) -> (Id, Id) {
    let m = reduce_max(g, x, (0..rank as i64).collect());
    let s = scale(g, m, top);
    let attrs = Attrs::new().with("dtype", Attr::DType(t));
    (op(g, GraphOp::Quantize, attrs, vec![x, s]), s)
}

/// A 2-D `w` quantised with one scale per column: (quantised, scales).
fn quant_columns(g: &mut Graph, w: Id, t: DType, top: f64) -> (Id, Id) {
    let m = reduce_max(g, w, vec![0]);
    let s = scale(g, m, top);
    let attrs = axis(1).with("dtype", Attr::DType(t));
    (op(g, GraphOp::Quantize, attrs, vec![w, s]), s)
}

impl egg::Searcher<Node, Types> for Lower {
    fn search_eclass_with_limit(
        &self,
        g: &Graph,
        class: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, Node>> {
        (limit > 0 && !self.sites(g, class).is_empty()).then(|| SearchMatches {
            eclass: class,
            substs: vec![Subst::default()],
            ast: None,
        })
    }

    fn vars(&self) -> Vec<Var> {
        Vec::new()
    }
}

impl egg::Applier<Node, Types> for Lower {
    fn apply_one(
        &self,
        g: &mut Graph,
        class: Id,
        _subst: &Subst,
        _ast: Option<&PatternAst<Node>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        let mut changed = Vec::new();
        for n in self.sites(g, class) {
            if let Some(id) = self.build(g, class, &n) {
                if g.union(id, class) {
                    changed.push(class);
                }
            }
        }
        changed
    }
}

fn cast_to(g: &Graph, class: Id) -> Vec<(DType, Id)> {
    g[class]
        .nodes
        .iter()
        .filter_map(|n| match &n.head {
            Head::Op(GraphOp::Cast, a) => Some((a.attrs().dtype("dtype")?, n.children[0])),
            _ => None,
        })
        .collect()
}

fn cast_roundtrip(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    for (t, wide) in cast_to(g, class) {
        if !t.is_float() || t == DType::F32 {
            continue;
        }
        for (f, narrow) in cast_to(g, wide) {
            if f == DType::F32 && dtype(g, narrow) == Some(t) {
                out.push(Found::Class(narrow));
            }
        }
    }
    out
}

fn quantize_dequantize(g: &Graph, class: Id) -> Vec<Found> {
    let mut out = Vec::new();
    for n in &g[class].nodes {
        let Head::Op(GraphOp::Quantize, qa) = &n.head else {
            continue;
        };
        let s = n.children[1];
        let ok_scale = g[s]
            .data
            .constant
            .is_some_and(|v| (1e-30..=1e30).contains(&v.abs()))
            && ty(g, s).is_some_and(|t| t.rank() == 0 && t.dtype == DType::F32);
        if !ok_scale {
            continue;
        }
        for d in &g[n.children[0]].nodes {
            let Head::Op(GraphOp::Dequantize, da) = &d.head else {
                continue;
            };
            let q = d.children[0];
            if g.find(d.children[1]) == g.find(s)
                && da.attrs().int("axis") == qa.attrs().int("axis")
                && dtype(g, q) == qa.attrs().dtype("dtype")
                && ty(g, q).map(|t| &t.shape) == ty(g, class).map(|t| &t.shape)
            {
                out.push(Found::Class(q));
            }
        }
    }
    out
}

/// Per e-class, the node of the term with the fewest distinct unlowered `f32`
/// contractions (`matmul`, `einsum`, `conv2d`; counted as a set of e-classes,
/// so that a subterm two operands share, such as an activation and its own scale, counts
/// once: a tree count would make the lowered form of a contraction fed by unlowerable
/// ones look worse than leaving it in `f32`), then the fewest nodes (a tree count; ties:
/// the first node found). Deterministic.
pub fn choose(g: &Graph) -> BTreeMap<Id, Node> {
    let mut classes: Vec<Id> = g.classes().map(|c| c.id).collect();
    classes.sort();
    // Per class: the f32 contractions its term leaves unlowered, as a set (a subterm
    // shared by two operands, such as an activation and its scale, counts once), the
    // term's size, and the node.
    let mut best: BTreeMap<Id, (BTreeSet<Id>, u64, Node)> = BTreeMap::new();
    loop {
        let mut changed = false;
        for c in &classes {
            for n in &g[*c].nodes {
                let mut unlowered = BTreeSet::new();
                if dtype(g, *c) == Some(DType::F32) && unlowered_contraction(g, n).is_some() {
                    unlowered.insert(g.find(*c));
                }
                let mut size = 1u64;
                let mut seen = BTreeSet::new();
                let mut ok = true;
                for k in &n.children {
                    let k = g.find(*k);
                    if !seen.insert(k) {
                        continue;
                    }
                    match best.get(&k) {
                        Some((u, s, _)) => {
                            unlowered.extend(u.iter().copied());
                            size = size.saturating_add(*s);
                        }
                        None => {
                            ok = false;
                            break;
                        }
                    }
                }
                if !ok {
                    continue;
                }
                let cost = (unlowered.len(), size);
                let better = best.get(c).is_none_or(|(u, s, _)| cost < (u.len(), *s));
                if better {
                    best.insert(*c, (unlowered, size, n.clone()));
                    changed = true;
                }
            }
        }
        if !changed {
            return best.into_iter().map(|(c, (_, _, n))| (c, n)).collect();
        }
    }
}
