//! The declaration of every `graph` operation.

use crate::declare_dialect;
use crate::dialect::{Operands, Results};

const X: Operands = Operands::Fixed(&["x"]);
const LR: Operands = Operands::Fixed(&["lhs", "rhs"]);
const ONE: Results = Results::Fixed(1);

declare_dialect! {
    dialect "graph", enum GraphOp;

    // ---- constants and conversions ----
    Constant = "constant" {
        operands: Operands::Fixed(&[]), results: ONE,
        attrs: [("value", Scalar, Req, "the value; integers and booleans stay exact"), ("dtype", DType, Req, "the element type")],
        traits: [Pure],
        summary: "A 0-d tensor holding a literal; the result type gives its dtype.",
        example: "%0 = graph.constant {value = 0.5, dtype = f32} : () -> f32",
    },
    Cast = "cast" {
        operands: X, results: ONE,
        attrs: [
            ("dtype", DType, Req, "the target dtype"),
            ("round", Str, Opt, "`\"arith\"` (compiler-made, never written by `as`): an `f32` value rounded to a narrow float as arithmetic rounds, overflow to inf (NaN in f8e4m3), instead of saturating; the rounding of a widened einsum's result"),
        ],
        traits: [Pure, Elementwise],
        summary: "Converts elements: round to nearest even, saturating for f8e4m3 and integers (DSL.md §7).",
        example: "%1 = graph.cast %0 {dtype = bf16} : (f32[4]) -> bf16[4]",
    },

    // ---- elementwise unary ----
    Neg = "neg" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "-x", example: "%1 = graph.neg %0 : (f32[4]) -> f32[4]" },
    Abs = "abs" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "|x|", example: "%1 = graph.abs %0 : (f32[4]) -> f32[4]" },
    Exp = "exp" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "e^x", example: "%1 = graph.exp %0 : (f32[4]) -> f32[4]" },
    Log = "log" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "natural logarithm", example: "%1 = graph.log %0 : (f32[4]) -> f32[4]" },
    Sqrt = "sqrt" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "square root", example: "%1 = graph.sqrt %0 : (f32[4]) -> f32[4]" },
    Rsqrt = "rsqrt" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "1 / sqrt(x)", example: "%1 = graph.rsqrt %0 : (f32[4]) -> f32[4]" },
    Recip = "recip" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "1 / x", example: "%1 = graph.recip %0 : (f32[4]) -> f32[4]" },
    Tanh = "tanh" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "hyperbolic tangent", example: "%1 = graph.tanh %0 : (f32[4]) -> f32[4]" },
    Sigmoid = "sigmoid" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "1 / (1 + e^-x)", example: "%1 = graph.sigmoid %0 : (f32[4]) -> f32[4]" },
    Relu = "relu" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "max(x, 0)", example: "%1 = graph.relu %0 : (f32[4]) -> f32[4]" },
    Gelu = "gelu" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "x * (1 + erf(x / sqrt(2))) / 2 (exact form)", example: "%1 = graph.gelu %0 : (f32[4]) -> f32[4]" },
    GeluTanh = "gelu_tanh" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2",
        example: "%1 = graph.gelu_tanh %0 : (f32[4]) -> f32[4]" },
    Silu = "silu" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "x * sigmoid(x)", example: "%1 = graph.silu %0 : (f32[4]) -> f32[4]" },
    Erf = "erf" { operands: X, results: ONE, attrs: [], traits: [Pure, Elementwise],
        summary: "the error function", example: "%1 = graph.erf %0 : (f32[4]) -> f32[4]" },

    // ---- elementwise binary, broadcasting ----
    Add = "add" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs + rhs", example: "%2 = graph.add %0, %1 : (f32[B, 4], f32[4]) -> f32[B, 4]" },
    Sub = "sub" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs - rhs", example: "%2 = graph.sub %0, %1 : (f32[4], f32) -> f32[4]" },
    Mul = "mul" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs * rhs", example: "%2 = graph.mul %0, %1 : (f32[4], f32[4]) -> f32[4]" },
    Div = "div" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs / rhs (integers: floor division like np.floor_divide, 0 when dividing by 0)",
        example: "%2 = graph.div %0, %1 : (f32[4], f32[4]) -> f32[4]" },
    Max = "max" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "elementwise maximum (NaN wins)", example: "%2 = graph.max %0, %1 : (f32[4], f32) -> f32[4]" },
    Min = "min" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "elementwise minimum (NaN wins)", example: "%2 = graph.min %0, %1 : (f32[4], f32) -> f32[4]" },
    Pow = "pow" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs ^ rhs", example: "%2 = graph.pow %0, %1 : (f32[4], f32) -> f32[4]" },
    Lt = "lt" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs < rhs, bool result", example: "%2 = graph.lt %0, %1 : (f32[4], f32[4]) -> bool[4]" },
    Le = "le" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs <= rhs, bool result", example: "%2 = graph.le %0, %1 : (f32[4], f32[4]) -> bool[4]" },
    Gt = "gt" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs > rhs, bool result", example: "%2 = graph.gt %0, %1 : (f32[4], f32[4]) -> bool[4]" },
    Ge = "ge" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs >= rhs, bool result", example: "%2 = graph.ge %0, %1 : (f32[4], f32[4]) -> bool[4]" },
    Eq = "eq" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs == rhs, bool result", example: "%2 = graph.eq %0, %1 : (f32[4], f32[4]) -> bool[4]" },
    Ne = "ne" { operands: LR, results: ONE, attrs: [], traits: [Pure, Elementwise, Broadcast],
        summary: "lhs != rhs, bool result", example: "%2 = graph.ne %0, %1 : (f32[4], f32[4]) -> bool[4]" },
    Select = "select" {
        operands: Operands::Fixed(&["cond", "on_true", "on_false"]), results: ONE, attrs: [],
        traits: [Pure, Elementwise, Broadcast],
        summary: "where(cond, on_true, on_false)",
        example: "%3 = graph.select %0, %1, %2 : (bool[4], f32[4], f32) -> f32[4]",
    },

    // ---- contractions ----
    MatMul = "matmul" {
        operands: LR, results: ONE, attrs: [], traits: [Pure],
        summary: "NumPy matmul on rank >= 2 operands; leading dimensions broadcast; i8 gives i32",
        example: "%2 = graph.matmul %0, %1 : (f32[B, 784], f32[784, 10]) -> f32[B, 10]",
    },
    Einsum = "einsum" {
        operands: Operands::Variadic { name: "operands", min: 1 }, results: ONE,
        attrs: [("spec", Str, Req, "the equation, with an explicit `->`")],
        traits: [Pure],
        summary: "Einstein summation; i8 gives i32",
        example: "%2 = graph.einsum %0, %1 {spec = \"ij,jk->ik\"} : (f32[2, 3], f32[3, 4]) -> f32[2, 4]",
    },

    // ---- reductions ----
    ReduceSum = "reduce_sum" {
        operands: X, results: ONE,
        attrs: [("axes", Ints, Req, "non-negative, sorted"), ("keepdims", Bool, Req, "keep reduced axes as size 1")],
        traits: [Pure, Reduction],
        summary: "sum over axes (f32 accumulation for floats, wrapping i32 for integers)",
        example: "%1 = graph.reduce_sum %0 {axes = [1], keepdims = false} : (f32[B, 4]) -> f32[B]",
    },
    ReduceMean = "reduce_mean" {
        operands: X, results: ONE,
        attrs: [("axes", Ints, Req, "non-negative, sorted"), ("keepdims", Bool, Req, "keep reduced axes as size 1")],
        traits: [Pure, Reduction],
        summary: "mean over axes",
        example: "%1 = graph.reduce_mean %0 {axes = [0, 1], keepdims = true} : (f32[B, 4]) -> f32[1, 1]",
    },
    ReduceMax = "reduce_max" {
        operands: X, results: ONE,
        attrs: [("axes", Ints, Req, "non-negative, sorted"), ("keepdims", Bool, Req, "keep reduced axes as size 1")],
        traits: [Pure, Reduction],
        summary: "maximum over axes",
        example: "%1 = graph.reduce_max %0 {axes = [1], keepdims = false} : (f32[B, 4]) -> f32[B]",
    },
    ReduceMin = "reduce_min" {
        operands: X, results: ONE,
        attrs: [("axes", Ints, Req, "non-negative, sorted"), ("keepdims", Bool, Req, "keep reduced axes as size 1")],
        traits: [Pure, Reduction],
        summary: "minimum over axes",
        example: "%1 = graph.reduce_min %0 {axes = [1], keepdims = false} : (f32[B, 4]) -> f32[B]",
    },
    Argmax = "argmax" {
        operands: X, results: ONE,
        attrs: [("axis", Int, Req, "non-negative"), ("keepdims", Bool, Req, "keep the axis as size 1")],
        traits: [Pure, Reduction],
        summary: "index of the first maximum along axis, as i32",
        example: "%1 = graph.argmax %0 {axis = 1, keepdims = false} : (f32[B, 10]) -> i32[B]",
    },

    // ---- normalisation ----
    Softmax = "softmax" {
        operands: X, results: ONE, attrs: [("axis", Int, Req, "non-negative")], traits: [Pure],
        summary: "exp(x - max) / sum(exp(x - max)) along axis",
        example: "%1 = graph.softmax %0 {axis = 1} : (f32[B, 10]) -> f32[B, 10]",
    },
    LogSoftmax = "log_softmax" {
        operands: X, results: ONE, attrs: [("axis", Int, Req, "non-negative")], traits: [Pure],
        summary: "x - max - log(sum(exp(x - max))) along axis",
        example: "%1 = graph.log_softmax %0 {axis = 1} : (f32[B, 10]) -> f32[B, 10]",
    },
    LayerNorm = "layernorm" {
        operands: Operands::Fixed(&["x", "gamma", "beta"]), results: ONE,
        attrs: [("axis", Int, Req, "non-negative"), ("eps", Float, Req, "added to the biased variance")],
        traits: [Pure],
        summary: "(x - mean) / sqrt(var + eps) * gamma + beta over one axis",
        example: "%3 = graph.layernorm %0, %1, %2 {axis = 1, eps = 1e-5} : (f32[B, 8], f32[8], f32[8]) -> f32[B, 8]",
    },
    RmsNorm = "rmsnorm" {
        operands: Operands::Fixed(&["x", "gamma"]), results: ONE,
        attrs: [("axis", Int, Req, "non-negative"), ("eps", Float, Req, "added to the mean square")],
        traits: [Pure],
        summary: "x / sqrt(mean(x^2) + eps) * gamma over one axis",
        example: "%2 = graph.rmsnorm %0, %1 {axis = 1, eps = 1e-6} : (f32[B, 8], f32[8]) -> f32[B, 8]",
    },

    // ---- shape ----
    Reshape = "reshape" {
        operands: X, results: ONE, attrs: [("shape", Sizes, Req, "the new shape, fully resolved")],
        traits: [Pure, Shape],
        summary: "same elements in C order, new shape",
        example: "%1 = graph.reshape %0 {shape = sizes[B, 2, 2]} : (f32[B, 4]) -> f32[B, 2, 2]",
    },
    Transpose = "transpose" {
        operands: X, results: ONE, attrs: [("perm", Ints, Req, "result axis i is input axis perm[i]")],
        traits: [Pure, Shape],
        summary: "permutes axes",
        example: "%1 = graph.transpose %0 {perm = [1, 0]} : (f32[B, 4]) -> f32[4, B]",
    },
    BroadcastTo = "broadcast_to" {
        operands: X, results: ONE, attrs: [("shape", Sizes, Req, "the target shape")],
        traits: [Pure, Shape],
        summary: "NumPy broadcast_to",
        example: "%1 = graph.broadcast_to %0 {shape = sizes[B, 4]} : (f32[4]) -> f32[B, 4]",
    },
    Concat = "concat" {
        operands: Operands::Variadic { name: "inputs", min: 1 }, results: ONE,
        attrs: [("axis", Int, Req, "non-negative")],
        traits: [Pure, Shape],
        summary: "joins tensors along axis",
        example: "%2 = graph.concat %0, %1 {axis = 0} : (f32[2, 4], f32[B, 4]) -> f32[B + 2, 4]",
    },
    Slice = "slice" {
        operands: X, results: ONE,
        attrs: [("start", Sizes, Req, "first index per axis"), ("end", Sizes, Req, "one past the last index per axis")],
        traits: [Pure, Shape],
        summary: "a contiguous block, same rank (integer indices become a slice and a reshape)",
        example: "%1 = graph.slice %0 {start = sizes[0, 1], end = sizes[B, 3]} : (f32[B, 4]) -> f32[B, 2]",
    },

    // ---- convolution and pooling (NCHW / OIHW) ----
    Conv2d = "conv2d" {
        operands: Operands::Fixed(&["x", "w"]), results: ONE,
        attrs: [
            ("stride", Ints, Req, "[sh, sw]"),
            ("padding", Ints, Req, "[ph, pw], zeros on both sides"),
            ("dilation", Ints, Req, "[dh, dw]"),
            ("groups", Int, Req, "channel groups"),
        ],
        traits: [Pure],
        summary: "2-D cross-correlation, NCHW input, OIHW weights; i8 gives i32",
        example: "%2 = graph.conv2d %0, %1 {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : (f32[N, 3, 8, 8], f32[4, 3, 3, 3]) -> f32[N, 4, 8, 8]",
    },
    MaxPool2d = "maxpool2d" {
        operands: X, results: ONE,
        attrs: [("kernel", Ints, Req, "[kh, kw]"), ("stride", Ints, Req, "[sh, sw]"), ("padding", Ints, Req, "[ph, pw], ignored by the maximum")],
        traits: [Pure],
        summary: "maximum over each window",
        example: "%1 = graph.maxpool2d %0 {kernel = [2, 2], stride = [2, 2], padding = [0, 0]} : (f32[N, 4, 8, 8]) -> f32[N, 4, 4, 4]",
    },
    AvgPool2d = "avgpool2d" {
        operands: X, results: ONE,
        attrs: [("kernel", Ints, Req, "[kh, kw]"), ("stride", Ints, Req, "[sh, sw]"), ("padding", Ints, Req, "[ph, pw], not counted in the mean")],
        traits: [Pure],
        summary: "mean over the input elements inside each window",
        example: "%1 = graph.avgpool2d %0 {kernel = [2, 2], stride = [2, 2], padding = [0, 0]} : (f32[N, 4, 8, 8]) -> f32[N, 4, 4, 4]",
    },

    // ---- precision ----
    Quantize = "quantize" {
        operands: Operands::Fixed(&["x", "scale"]), results: ONE,
        attrs: [("dtype", DType, Req, "i8, f8e4m3 or f8e5m2"), ("axis", Int, Opt, "the axis of a 1-D scale (per channel)")],
        traits: [Pure],
        summary: "x / scale rounded to the nearest value of dtype, ties to even, saturated",
        example: "%2 = graph.quantize %0, %1 {dtype = i8} : (f32[4], f32) -> i8[4]",
    },
    Dequantize = "dequantize" {
        operands: Operands::Fixed(&["q", "scale"]), results: ONE,
        attrs: [("axis", Int, Opt, "the axis of a 1-D scale (per channel)")],
        traits: [Pure],
        summary: "q * scale in f32",
        example: "%2 = graph.dequantize %0, %1 {axis = 0} : (i8[4, 8], f32[4]) -> f32[4, 8]",
    },

    // ---- functions ----
    Call = "call" {
        operands: Operands::Variadic { name: "args", min: 0 }, results: Results::Variadic,
        attrs: [("callee", Symbol, Req, "the called function")],
        traits: [Pure],
        summary: "calls a function of the module; inlined before optimisation",
        example: "%1 = graph.call %0 {callee = @layer} : (f32[B, 4]) -> f32[B, 4]",
    },
    Fused = "fused" {
        operands: Operands::Variadic { name: "inputs", min: 1 }, results: ONE,
        attrs: [
            ("kind", Str, Req, "how it is lowered: `elementwise`, `matmul` (a matmul with an elementwise epilogue), `conv` (an f32 conv2d with one group and an elementwise epilogue), `row` (a softmax or norm over the last axis with an elementwise prologue), `reduce` (a sum, mean, max or min over the last axis with an elementwise prologue) or `attention` (`softmax(q @ k^T [* c] [+ mask]) @ v` over the last axis, with an online softmax over key tiles)"),
            ("rules", Str, Opt, "the e-graph rules that formed it, comma-separated (for `--explain`)"),
        ],
        traits: [Pure, HasRegions],
        summary: "one kernel chosen by the e-graph optimiser: its region (arguments = the inputs, graph operations only, ended by `graph.yield`) computes the result",
        example: "%2 = graph.fused %0, %1 {kind = \"elementwise\"} : (f32[4], f32[4]) -> f32[4] (%a: f32[4], %b: f32[4]) {\n  %s = graph.add %a, %b : (f32[4], f32[4]) -> f32[4]\n  %r = graph.relu %s : (f32[4]) -> f32[4]\n  graph.yield %r : f32[4]\n}",
    },
    Yield = "yield" {
        operands: Operands::Fixed(&["result"]), results: Results::Fixed(0),
        attrs: [], traits: [Terminator],
        summary: "ends the region of a `graph.fused`, giving its result",
        example: "graph.yield %r : f32[4]",
    },
    Return = "return" {
        operands: Operands::Variadic { name: "results", min: 1 }, results: Results::Fixed(0),
        attrs: [], traits: [Terminator],
        summary: "returns the function's results",
        example: "graph.return %3 : f32[B, 10]",
    },
}
