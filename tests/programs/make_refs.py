#!/usr/bin/env python3
"""Reference data for the Tessera conformance corpus (tests/programs).

How to run (from the repository root):

    pip install numpy ml_dtypes          # used here: Python 3.11, numpy 2.4.6, ml_dtypes 0.6.0
    python3 tests/programs/make_refs.py

It deletes and rewrites tests/programs/data/ (inputs and expected outputs as
small .npy files, one folder per case, plus a few .safetensors weight files) and
tests/programs/cases.json (the manifest read by tests/conformance.rs).  It is
deterministic: every case draws from its own numpy Generator with a fixed seed,
so running it twice gives identical files.

Reference semantics are NumPy's, computed in float64 (int64 for integers) from
the exact values of the inputs and converted to the result dtype with the rules
of DSL.md section 7 (round to nearest even, saturation of finite values, NaN ->
0 for integers, infinities kept where the format has them).  Results that are
f16 / bf16 / fp8 are rounded float64 -> float32 -> format, as an implementation
that computes in f32 does (at most one ulp away from a direct rounding).

.npy conventions (shared with the `tessera` CLI): f32 '<f4', f16 '<f2', i8 '|i1',
i32 '<i4', bool '|b1'; bf16 as NumPy saves ml_dtypes.bfloat16 ('<V2', raw
bits); fp8 as raw bytes '|V1' (one input is given as '|u1', also accepted).
"""
import json
import math
import os
import shutil
import struct

import ml_dtypes
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")

BF16 = ml_dtypes.bfloat16
E4M3 = ml_dtypes.float8_e4m3fn
E5M2 = ml_dtypes.float8_e5m2
NP = {"f32": np.float32, "f16": np.float16, "bf16": BF16, "f8e4m3": E4M3, "f8e5m2": E5M2,
      "i8": np.int8, "i32": np.int32, "bool": np.bool_}
FLOATS = ("f32", "f16", "bf16", "f8e4m3", "f8e5m2")
MAXF = {"f32": float(np.finfo(np.float32).max), "f16": 65504.0,
        "bf16": float(ml_dtypes.finfo(BF16).max), "f8e4m3": 448.0, "f8e5m2": 57344.0}
INT_RANGE = {"i8": (-128, 127), "i32": (-2 ** 31, 2 ** 31 - 1)}
ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16", "f8e4m3": "F8_E4M3", "f8e5m2": "F8_E5M2",
            "i8": "I8", "i32": "I32", "bool": "BOOL"}


def dname(arr):
    for k, v in NP.items():
        if arr.dtype == np.dtype(v):
            return k
    raise TypeError(arr.dtype)


# ---------------------------------------------------------------------------
# Conversions (DSL.md section 7)
# ---------------------------------------------------------------------------
def convert(x, dtype):
    """`x as dtype` for x any numpy array (exact source values)."""
    x = np.asarray(x)
    src_bool = x.dtype == np.bool_
    if dtype == "bool":
        return x != 0
    if src_bool:
        x = x.astype(np.int64)
    if dtype in INT_RANGE:
        lo, hi = INT_RANGE[dtype]
        if np.issubdtype(x.dtype, np.integer):
            return np.clip(x.astype(np.int64), lo, hi).astype(NP[dtype])
        v = x.astype(np.float64)
        r = np.rint(v)                      # half to even
        r[np.isnan(v)] = 0
        r = np.clip(r, lo, hi)              # infinities saturate too
        return r.astype(np.int64).astype(NP[dtype])
    # float target
    if np.issubdtype(x.dtype, np.integer):
        v = x.astype(np.float64)  # exact for |x| < 2**53
    else:
        v = x.astype(np.float64)
    v = v.copy()
    m = MAXF[dtype]
    fin = np.isfinite(v)
    v[fin] = np.clip(v[fin], -m, m)
    if dtype == "f8e4m3":  # no infinities: saturate
        inf = np.isinf(v)
        v[inf] = np.sign(v[inf]) * m
    if dtype == "f32":
        return v.astype(np.float32)
    if dtype == "f16":
        if x.dtype in (np.float64,):
            return v.astype(np.float32).astype(np.float16)
        return v.astype(np.float16)  # numpy rounds f64 -> f16 directly (exact source)
    # bf16 / fp8: from the (exact) float32 value
    return v.astype(np.float32).astype(NP[dtype])


def result(v64, dtype):
    """A float64 reference result rounded to the result dtype."""
    v64 = np.asarray(v64, dtype=np.float64)
    if dtype == "f32":
        return convert(v64.astype(np.float32), "f32")
    if dtype in FLOATS:
        return convert(v64.astype(np.float32), dtype)
    return convert(v64, dtype)


def rd(v, dtype):
    """Round a float64 value to dtype and widen it back (models one op's rounding)."""
    return f64(result(v, dtype))


def f64(a):
    a = np.asarray(a)
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    return a.astype(np.float64)


# ---------------------------------------------------------------------------
# float64 reference operators
# ---------------------------------------------------------------------------
_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


def sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _along(v, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def layernorm(x, g, b, axis=-1, eps=1e-5):
    mu = x.mean(axis=axis, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axis, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * _along(g, x.ndim, axis) + _along(b, x.ndim, axis)


def rmsnorm(x, g, axis=-1, eps=1e-6):
    ms = (x * x).mean(axis=axis, keepdims=True)
    return x / np.sqrt(ms + eps) * _along(g, x.ndim, axis)


def conv2d(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    assert C == Cg * groups and O % groups == 0
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    out = np.zeros((N, O, OH, OW), dtype=x.dtype)
    og = O // groups
    for o in range(O):
        g = o // og
        for i in range(KH):
            for j in range(KW):
                patch = xp[:, g * Cg:(g + 1) * Cg,
                           i * dh: i * dh + sh * (OH - 1) + 1: sh,
                           j * dw: j * dw + sw * (OW - 1) + 1: sw]
                out[:, o] += np.einsum("nchw,c->nhw", patch, w[o, :, i, j])
    return out


def pool2d(x, kind, kernel=(2, 2), stride=None, padding=(0, 0)):
    stride = stride or kernel
    N, C, H, W = x.shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    OH = (H + 2 * ph - kh) // sh + 1
    OW = (W + 2 * pw - kw) // sw + 1
    out = np.zeros((N, C, OH, OW))
    for a in range(OH):
        for b in range(OW):
            h0, w0 = a * sh - ph, b * sw - pw
            h1, w1 = min(h0 + kh, H), min(w0 + kw, W)
            h0, w0 = max(h0, 0), max(w0, 0)
            win = x[:, :, h0:h1, w0:w1]
            out[:, :, a, b] = win.max(axis=(2, 3)) if kind == "max" else win.mean(axis=(2, 3))
    return out


# ---------------------------------------------------------------------------
# Case registry and file writers
# ---------------------------------------------------------------------------
CASES = []
RUNTIME = []


def save_npy(path, arr, as_u1=False):
    arr = np.asarray(arr).copy(order="C")
    d = dname(arr)
    if d in ("f8e4m3", "f8e5m2"):
        arr = arr.view(np.uint8) if as_u1 else arr.view(np.uint8).view("V1")
    np.save(path, arr, allow_pickle=False)


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        arr = np.asarray(arr).copy(order="C")
        b = arr.view(np.uint8).tobytes() if arr.dtype.itemsize == 1 else arr.tobytes()
        header[name] = {"dtype": ST_DTYPE[dname(arr)], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def case(name, program, inputs, outputs, fn=None, weights=None, rtol=None, atol=None,
         exact=False, mode=None, u1_inputs=(), note=""):
    """Declare a case.  inputs/weights: dict name -> typed numpy array.
    outputs: list of typed numpy arrays (the expected results, in order)."""
    assert not any(c["name"] == name for c in CASES), name
    d = os.path.join(DATA, name)
    os.makedirs(d, exist_ok=True)
    ins = {}
    for k, v in inputs.items():
        p = os.path.join(d, f"{k}.npy")
        save_npy(p, v, as_u1=k in u1_inputs)
        ins[k] = os.path.relpath(p, HERE)
    wpath = None
    if weights:
        p = os.path.join(d, "weights.safetensors")
        save_safetensors(p, weights)
        wpath = os.path.relpath(p, HERE)
    outs = []
    for i, o in enumerate(outputs):
        o = np.asarray(o)
        p = os.path.join(d, f"expected{i}.npy")
        save_npy(p, o)
        ent = {"file": os.path.relpath(p, HERE), "dtype": dname(o), "shape": list(o.shape)}
        if exact:
            ent["exact"] = True
        if rtol is not None:
            ent["rtol"] = rtol
        if atol is not None:
            ent["atol"] = atol
        outs.append(ent)
    CASES.append({"name": name, "program": program, "fn": fn, "inputs": ins, "weights": wpath,
                  "output_mode": mode or ("file" if len(outputs) == 1 else "dir"),
                  "outputs": outs, "note": note})


def rng_for(name):
    seed = sum((i + 1) * ord(c) for i, c in enumerate(name)) + 20260101
    return np.random.default_rng(seed)


def randn(r, *shape, scale=1.0, dtype="f32"):
    return convert(r.standard_normal(shape) * scale, dtype) if dtype != "f32" else \
        (r.standard_normal(shape) * scale).astype(np.float32)


def uniform(r, lo, hi, *shape):
    return r.uniform(lo, hi, shape).astype(np.float32)


def R(arrs, dtype="f32"):
    return [result(a, dtype) for a in arrs]


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------
def build_cases():
    # -- elementwise and broadcasting -------------------------------------
    r = rng_for("add_broadcast")
    x, row, col, t = randn(r, 3, 4), randn(r, 4), randn(r, 3, 1), randn(r, 2, 3, 4)
    s = np.array(1.75, np.float32)
    X, ROW, COL, S, T = map(f64, (x, row, col, s, t))
    xs = x.copy()
    xs[np.abs(xs) < 0.1] = 0.5  # keep t / x well conditioned
    X = f64(xs)
    case("add_broadcast", "add_broadcast.tsr", dict(x=xs, row=row, col=col, s=s, t=t),
         R([X + S, X - ROW, X * COL, T / X, COL + ROW, S - T * ROW]))

    r = rng_for("arith_literals")
    x = randn(r, 2, 5)
    X = f64(x)
    case("arith_literals", "arith_literals.tsr", dict(x=x),
         R([X * 2 + 0.5, 1 - X / 4, X - 2, -X + 6 - np.float64(np.float32(0.1)), X * -150 + 0.75]))

    r = rng_for("precedence")
    a, b = randn(r, 2, 3), randn(r, 3, 4, dtype="f16")
    x, y, z = randn(r, 2, 3), uniform(r, 0.5, 2, 2, 3), uniform(r, 0.5, 2, 2, 3)
    A, B, X, Y, Z = map(f64, (a, b, x, y, z))
    case("precedence", "precedence.tsr", dict(a=a, b=b, x=x, y=y, z=z),
         R([A @ B, X - Y - Z, X / Y / Z, X + Y * Z - X, (-A @ B) * 2]))

    r = rng_for("unary_a")
    x = uniform(r, -3, 3, 3, 6)
    x[0, :3] = [0.0, -0.0, 1.0]
    X = f64(x)
    case("unary_a", "unary_a.tsr", dict(x=x),
         R([-X, np.abs(X), np.exp(X), np.tanh(X), sigmoid(X), np.maximum(X, 0), gelu(X),
            gelu_tanh(X), X * sigmoid(X), _erf(X), -X]))

    r = rng_for("unary_b")
    x = uniform(r, 0.05, 5, 4, 5)
    X = f64(x)
    case("unary_b", "unary_b.tsr", dict(x=x),
         R([np.log(X), np.sqrt(X), 1 / np.sqrt(X), 1 / X]))

    r = rng_for("unary_f16")
    h, b = randn(r, 2, 8, dtype="f16"), randn(r, 2, 8, dtype="bf16")
    H, B = f64(h), f64(b)
    case("unary_f16", "unary_f16.tsr", dict(h=h, b=b),
         R([np.exp(H), gelu(H)], "f16") + R([np.tanh(B), rd(sigmoid(B), "bf16") * 2], "bf16"))

    r = rng_for("binary_fns")
    a, b = randn(r, 3, 4), randn(r, 3, 4)
    p, x = uniform(r, 0.2, 3, 3, 4), randn(r, 3, 4) * 2
    a[0, 0] = b[0, 0]
    A, B, P, X = map(f64, (a, b, p, x))
    case("binary_fns", "binary_fns.tsr", dict(a=a, b=b, p=p, x=x),
         R([np.maximum(A, B), np.minimum(A, B), P ** B, np.maximum(X, 0), np.minimum(X, 1),
            X ** 2, np.sqrt(P)]))

    r = rng_for("compare_where")
    x = r.integers(-3, 4, (3, 4)).astype(np.float32) * 0.5
    y = r.integers(-3, 4, (3, 4)).astype(np.float32) * 0.5
    y[0] = x[0]
    c = np.array([[True], [False], [True]])
    X, Y = f64(x), f64(y)
    case("compare_where", "compare_where.tsr", dict(x=x, y=y, c=c),
         [X < Y, X <= Y, X > Y, X >= Y, X == Y, X != Y] +
         R([np.where(c, X, Y), np.where(X > 0, X, 0)]) + [X + 1 < Y * 2])

    r = rng_for("compare_int")
    i = r.integers(-5, 6, (2, 5)).astype(np.int32)
    j = r.integers(-5, 6, (2, 5)).astype(np.int32)
    j[0, :2] = i[0, :2]
    i[1, 0] = 0
    case("compare_int", "compare_int.tsr", dict(i=i, j=j),
         [i < 3, i == j, np.where(i >= j, i, j).astype(np.int32), np.where(i != 0, i, -1).astype(np.int32)])

    c = np.array([[True, False, True], [False, False, True]])
    d = np.array([[True, True, False], [False, True, True]])
    case("bool_ops", "bool_ops.tsr", dict(c=c, d=d),
         [c == d, np.where(c, d, c != d), c.astype(np.float32),
          (d.astype(np.int32) + c.astype(np.int32)).astype(np.int32), c.copy()])

    # -- matmul ------------------------------------------------------------
    for bsz in (2, 7):
        r = rng_for(f"matmul_2d_b{bsz}")
        x, w, b = randn(r, bsz, 5), randn(r, 5, 3), randn(r, 3)
        case(f"matmul_2d_b{bsz}", "matmul_2d.tsr", dict(x=x, w=w, b=b),
             R([f64(x) @ f64(w) + f64(b)]), note="same program, two batch sizes")

    r = rng_for("matmul_batch")
    a, b, c, d, e = randn(r, 2, 1, 3, 4), randn(r, 5, 4, 6), randn(r, 3, 4), randn(r, 2, 4, 5), randn(r, 2, 3, 4)
    A, B, C, D, E = map(f64, (a, b, c, d, e))
    case("matmul_batch", "matmul_batch.tsr", dict(a=a, b=b, c=c, d=d, e=e),
         R([A @ B, C @ D, E @ D, C @ B[0:2] + 1]))

    r = rng_for("epilogue_reads_operand")
    x, w, xs, xr, wr = randn(r, 3, 4, 4), randn(r, 4, 4), randn(r, 4, 4), randn(r, 5, 4), randn(r, 1, 4)
    X, W, XS, XR, WR = map(f64, (x, w, xs, xr, wr))
    case("epilogue_reads_operand_batched", "epilogue_reads_operand.tsr", dict(x=x, w=w),
         R([X @ W + W]), fn="batched", note="a batched matmul's epilogue reads its weight")
    case("epilogue_reads_operand_square", "epilogue_reads_operand.tsr", dict(x=xs),
         R([np.maximum(XS @ XS + XS, 0)]), fn="square")
    case("epilogue_reads_operand_row", "epilogue_reads_operand.tsr", dict(x=xr, w=wr),
         R([(XR * 2 + WR) * WR]), fn="row_weight")

    r = rng_for("matmul_f16")
    a, b = randn(r, 4, 32, dtype="f16"), randn(r, 32, 3, scale=0.2, dtype="f16")
    c, d = randn(r, 4, 32, dtype="bf16"), randn(r, 32, 3, scale=0.2, dtype="bf16")
    case("matmul_f16", "matmul_f16.tsr", dict(a=a, b=b, c=c, d=d),
         R([f64(a) @ f64(b)], "f16") + R([rd(f64(c) @ f64(d), "bf16") + 1], "bf16"))

    case("narrow_accumulator_overflow", "narrow_accumulator_overflow.tsr",
         dict(x=np.array([60000, 60000], np.float16), y=np.array([448, 448], E4M3),
              a=np.full((1, 4), 448, E4M3), b=np.full((4, 1), 448, E4M3),
              c=np.array([[3e38, 3e38]], BF16), d=np.array([[1], [1]], BF16)),
         [np.array(np.inf, np.float16), np.array(np.nan, E4M3), np.full((1, 1), np.nan, E4M3),
          np.full((1, 1), np.inf, BF16), np.array(np.inf, np.float16),
          np.full((2, 2), np.nan, E4M3)],
         note="overflow of an f32 accumulator rounded to a narrow float")

    r = rng_for("matmul_i8")
    a = r.integers(-128, 128, (3, 8)).astype(np.int8)
    b = r.integers(-128, 128, (8, 5)).astype(np.int8)
    a[0, :] = -128
    b[:, 0] = -128
    p = (a.astype(np.int64) @ b.astype(np.int64))
    case("matmul_i8", "matmul_i8.tsr", dict(a=a, b=b),
         [p.astype(np.int32), p.T.astype(np.int32), (p + 1).astype(np.int32)])

    # -- reductions --------------------------------------------------------
    r = rng_for("reduce_sum")
    x = randn(r, 2, 3, 4)
    X = f64(x)
    case("reduce_sum", "reduce_sum.tsr", dict(x=x),
         R([X.sum(), X.sum(axis=1), X.sum(axis=(0, 2)), X.sum(axis=-1, keepdims=True),
            X.sum(axis=(0, 1, 2), keepdims=True), X.sum(axis=-1)]))

    r = rng_for("reduce_mean_max_min")
    x = randn(r, 2, 3, 4)
    X = f64(x)
    case("reduce_mean_max_min", "reduce_mean_max_min.tsr", dict(x=x),
         R([X.mean(axis=0), X.max(axis=1), X.min(axis=(0, 2), keepdims=True), X.max(), X.min(),
            X.mean(axis=-1), X.max(axis=1, keepdims=True)]))

    r = rng_for("reduce_long")
    x = (r.standard_normal((2, 4096)) + 0.5).astype(np.float32)
    X = f64(x)
    case("reduce_long", "reduce_long.tsr", dict(x=x),
         R([X.sum(axis=1), X.mean(), (X * X).mean(axis=-1)]), rtol=1e-3, atol=1e-3,
         note="long reductions: looser tolerance")

    r = rng_for("reduce_int")
    i = r.integers(-1000, 1000, (3, 4)).astype(np.int32)
    q = r.integers(-128, 128, (3, 4)).astype(np.int8)
    case("reduce_int", "reduce_int.tsr", dict(i=i, q=q),
         [i.astype(np.int64).sum(axis=0).astype(np.int32), np.array(i.astype(np.int64).sum(), np.int32),
          i.max(axis=1), q.min(axis=1), q.max(axis=0)])

    r = rng_for("argmax")
    x = r.integers(0, 3, (3, 5)).astype(np.float32)   # many ties
    y = r.integers(0, 4, (2, 3, 4)).astype(np.float32)
    case("argmax", "argmax.tsr", dict(x=x, y=y),
         [np.argmax(x, axis=1).astype(np.int32), np.argmax(x, axis=0).astype(np.int32),
          np.argmax(x, axis=-1).astype(np.int32), np.argmax(y, axis=1).astype(np.int32),
          np.argmax(y, axis=2).astype(np.int32)])

    r = rng_for("manual_softmax")
    x = randn(r, 3, 7) * 3
    X = f64(x)
    case("manual_softmax", "manual_softmax.tsr", dict(x=x), R([softmax(X, 1), softmax(X, 1)]))

    # -- einsum ------------------------------------------------------------
    r = rng_for("einsum_basic")
    a, b, u, v = randn(r, 3, 4), randn(r, 4, 5), randn(r, 3), randn(r, 5)
    A, B, U, V = map(f64, (a, b, u, v))
    case("einsum_basic", "einsum_basic.tsr", dict(a=a, b=b, u=u, v=v),
         R([A @ B, np.outer(U, V), A.sum(1), A.T, A.sum(), U @ U]))

    r = rng_for("einsum_attention")
    q, k, v = randn(r, 2, 2, 5, 4), randn(r, 2, 2, 6, 4), randn(r, 2, 2, 6, 3)
    Q, K, V = map(f64, (q, k, v))
    s = np.einsum("bhqd,bhkd->bhqk", Q, K)
    p = softmax(s, -1)
    case("einsum_attention", "einsum_attention.tsr", dict(q=q, k=k, v=v),
         R([s, np.einsum("bhqk,bhkd->bhqd", p, V), np.einsum("bhqk,bhkd->bqhd", p, V)]))

    r = rng_for("einsum_three")
    a, b, c, x, y = randn(r, 2, 3), randn(r, 3, 4), randn(r, 4, 5), randn(r, 2, 3, 4), randn(r, 2, 4, 5)
    A, B, C, X, Y = map(f64, (a, b, c, x, y))
    case("einsum_three", "einsum_three.tsr", dict(a=a, b=b, c=c, x=x, y=y),
         R([A @ B @ C, X @ Y, np.einsum("bij,bjk->k", X, Y), np.einsum("ij,jk,ik->i", A, B, A @ B)]))

    # -- convolution and pooling -------------------------------------------
    r = rng_for("conv2d_basic")
    x, w = randn(r, 2, 3, 6, 5), randn(r, 4, 3, 3, 2)
    case("conv2d_basic", "conv2d_basic.tsr", dict(x=x, w=w), R([conv2d(f64(x), f64(w))]))

    r = rng_for("conv2d_stride_pad")
    x, w = randn(r, 1, 2, 7, 6), randn(r, 3, 2, 3, 3)
    X, W = f64(x), f64(w)
    case("conv2d_stride_pad", "conv2d_stride_pad.tsr", dict(x=x, w=w),
         R([conv2d(X, W, (2, 2), (1, 1)), conv2d(X, W, (1, 3), (2, 0)), conv2d(X, W, padding=(1, 1))]))

    r = rng_for("conv2d_dilation")
    x, w = randn(r, 2, 2, 8, 7), randn(r, 2, 2, 3, 3)
    X, W = f64(x), f64(w)
    case("conv2d_dilation", "conv2d_dilation.tsr", dict(x=x, w=w),
         R([conv2d(X, W, dilation=(2, 2)), conv2d(X, W, padding=(2, 2), dilation=(2, 2)),
            conv2d(X, W, stride=(2, 2), dilation=(2, 1))]))

    r = rng_for("conv2d_groups")
    x, wg, wd, wm = randn(r, 2, 4, 5, 5), randn(r, 6, 2, 3, 3), randn(r, 4, 1, 3, 3), randn(r, 8, 1, 3, 3)
    X = f64(x)
    case("conv2d_groups", "conv2d_groups.tsr", dict(x=x, wg=wg, wd=wd, wm=wm),
         R([conv2d(X, f64(wg), groups=2), conv2d(X, f64(wd), padding=(1, 1), groups=4),
            conv2d(X, f64(wm), groups=4)]))

    for nm, shp in (("conv2d_symbolic_a", (1, 2, 5, 4)), ("conv2d_symbolic_b", (2, 2, 3, 6))):
        r = rng_for(nm)
        x, w = randn(r, *shp), randn(r, 3, 2, 3, 3)
        case(nm, "conv2d_symbolic.tsr", dict(x=x, w=w),
             R([np.maximum(conv2d(f64(x), f64(w), padding=(1, 1)), 0)]), note="symbolic N, H, W")

    for nm, shp in (("conv2d_symbolic_stride_a", (1, 1, 7, 6)), ("conv2d_symbolic_stride_b", (2, 1, 4, 9))):
        r = rng_for(nm)
        x, w = randn(r, *shp), randn(r, 2, 1, 3, 3)
        case(nm, "conv2d_symbolic_stride.tsr", dict(x=x, w=w),
             R([conv2d(f64(x), f64(w), (2, 2), (1, 1))]))

    r = rng_for("conv2d_i8")
    x = r.integers(-128, 128, (1, 2, 4, 4)).astype(np.int8)
    w = r.integers(-128, 128, (3, 2, 2, 2)).astype(np.int8)
    x[0, :, 0, 0] = -128
    w[0, :, 0, 0] = -128
    case("conv2d_i8", "conv2d_i8.tsr", dict(x=x, w=w),
         [conv2d(x.astype(np.int64), w.astype(np.int64)).astype(np.int32)])

    r = rng_for("conv2d_bias_relu")
    x, w, b = randn(r, 2, 3, 8, 8), randn(r, 4, 3, 3, 3), randn(r, 4)
    y = np.maximum(conv2d(f64(x), f64(w), padding=(1, 1)) + f64(b).reshape(4, 1, 1), 0)
    case("conv2d_bias_relu", "conv2d_bias_relu.tsr", dict(x=x, w=w, b=b), R([pool2d(y, "max")]))

    r = rng_for("maxpool")
    x = -uniform(r, 0.5, 3, 2, 2, 6, 5)   # all negative: padding must not count as 0
    X = f64(x)
    case("maxpool", "maxpool.tsr", dict(x=x),
         R([pool2d(X, "max"), pool2d(X, "max", (3, 3), (2, 2), (1, 1)),
            pool2d(X, "max", (2, 3), (1, 2)), pool2d(X, "max", (2, 2), None, (1, 1))]))

    r = rng_for("avgpool")
    x = uniform(r, 1, 3, 2, 2, 6, 5)
    X = f64(x)
    case("avgpool", "avgpool.tsr", dict(x=x),
         R([pool2d(X, "avg"), pool2d(X, "avg", (3, 3), (2, 2), (1, 1)),
            pool2d(X, "avg", (2, 3), (1, 2)), pool2d(X, "avg", (2, 2), None, (1, 1))]))

    # -- slicing and shapes ------------------------------------------------
    x = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    case("slicing", "slicing.tsr", dict(x=x),
         [x[1:3, :, 3], x[-3:-1, 0:2, 0], x[2, 1, 0:4], x[-1, -1, -1], x[0:3, 1:5, -2:6]], exact=True)
    case("slicing_open", "slicing_open.tsr", dict(x=x), [x[1:, :2, -2:], x[0], x[:, 2, -1]], exact=True)
    for bsz in (2, 5):
        x = np.arange(bsz * 6, dtype=np.float32).reshape(bsz, 6) - 3
        case(f"slice_symbolic_b{bsz}", "slice_symbolic.tsr", dict(x=x),
             [x[1:, 2:5], x[-1, :], x[:, 0]], exact=True)

    for bsz in (1, 3):
        x = np.arange(bsz * 12, dtype=np.float32).reshape(bsz, 3, 4) * 0.5
        case(f"reshape_b{bsz}", "reshape.tsr", dict(x=x),
             [x.reshape(bsz, -1), x.reshape(bsz * 3, 4), x.reshape(-1), x.reshape(2, bsz, 6),
              x.reshape(bsz, 2, -1)], exact=True)

    r = rng_for("transpose")
    a, x, y = randn(r, 3, 4), randn(r, 2, 3, 4), randn(r, 2, 3, 4, 5)
    case("transpose", "transpose.tsr", dict(a=a, x=x, y=y),
         [a.T.copy(), x.transpose(2, 0, 1).copy(), x.transpose(1, 0, 2).copy(), y.transpose(3, 1, 0, 2).copy()],
         exact=True)

    r = rng_for("broadcast_to")
    c, row, x = randn(r, 3, 1), randn(r, 4), randn(r, 3, 2)
    s = np.array(-2.5, np.float32)
    case("broadcast_to", "broadcast_to.tsr", dict(c=c, s=s, row=row, x=x),
         [np.broadcast_to(c, (2, 3, 4)).copy(), np.broadcast_to(s, (2, 2)).copy(),
          np.broadcast_to(row, (3, 4)).copy()], exact=True)

    r = rng_for("concat")
    a, b, c, x, y = randn(r, 2, 3), randn(r, 2, 1), randn(r, 2, 2), randn(r, 3, 2), randn(r, 1, 2)
    case("concat", "concat.tsr", dict(a=a, b=b, c=c, x=x, y=y),
         [np.concatenate([a, b, c], 1), np.concatenate([a, a]), np.concatenate([c, a], -1),
          np.concatenate([x, y], 0)], exact=True)

    # -- conversions ---------------------------------------------------------
    vals = [0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 3.5, 127.5, 128.4, -129.0, 300.0, 1e6,
            70000.0, 65519.0, 65520.0, 3.4e38, np.inf, -np.inf, np.nan, 1e-8,
            449.0, 464.0, 63000.0, 0.1, 1 / 3, 2.5e9, -3e9, 15.5, 17.0, 1e-3, -0.75, 2 ** -10]
    x = np.array(vals, np.float32)
    assert x.shape == (32,)
    case("casts_f32", "casts_f32.tsr", dict(x=x),
         [convert(x, d) for d in ("f32", "f16", "bf16", "f8e4m3", "f8e5m2", "i8", "i32", "bool")], exact=True,
         note="as: rounding half to even, saturation, inf/NaN rules of DSL 7")

    i = np.array([0, 1, -1, 17, 257, 2049, 100000, -100000, 16777217, 300, -300, 2 ** 31 - 1], np.int32)
    case("casts_i32", "casts_i32.tsr", dict(i=i),
         [convert(i, d) for d in ("f32", "f16", "bf16", "f8e4m3", "f8e5m2", "i8", "i32", "bool")], exact=True)

    h = np.array([0.0, 1.0, -2.5, 65504.0, 1000.0, 0.0999755859375, -np.inf, np.nan], np.float16)
    b = convert(np.array([1.0, -3.0, 3e38, 1e5, 0.1, 70000.0, np.inf, np.nan], np.float32), "bf16")
    e = convert(np.array([0.0, 1.0, -448.0, 0.015625, 3.5, 240.0, 17.0, np.nan], np.float32), "f8e4m3")
    m = convert(np.array([0.0, 1.0, -57344.0, 1024.0, np.inf, 0.375, 3.0, np.nan], np.float32), "f8e5m2")
    q = np.array([0, 1, -1, 127, -128, 64, -3, 100], np.int8)
    case("casts_low", "casts_low.tsr", dict(h=h, b=b, e=e, m=m, q=q),
         [convert(h, "f32"), convert(h, "bf16"), convert(h, "f8e4m3"), convert(b, "f32"), convert(b, "f16"),
          convert(b, "f8e5m2"), convert(e, "f32"), convert(e, "f16"), convert(m, "f32"), convert(m, "f8e4m3"),
          convert(q, "i32"), convert(q, "f32"), convert(q, "f16")], exact=True)

    c = np.array([True, False, True, False])
    q = np.array([0, -5, 1, 0], np.int8)
    h = np.array([0.0, -0.0, np.nan, 0.5], np.float16)
    case("casts_bool", "casts_bool.tsr", dict(c=c, q=q, h=h),
         [convert(c, "f32"), convert(c, "i8"), convert(c, "i32"), convert(c, "bf16"), convert(c, "f8e4m3"),
          q != 0, np.array([False, False, True, True])], exact=True, note="NaN as bool is true (not zero)")

    # -- literals adapting, integer arithmetic ---------------------------------
    r = rng_for("weak_literals_bf16")
    x, y = randn(r, 2, 4, dtype="bf16"), randn(r, 2, 4, dtype="bf16")
    X, Y = f64(x), f64(y)
    lit = lambda v, d: float(f64(convert(np.array(v, np.float32), d)))
    case("weak_literals_bf16", "weak_literals_bf16.tsr", dict(x=x, y=y),
         R([rd(X * 0.5, "bf16") + 1, rd(X * 3, "bf16") - Y, np.maximum(X, 0)], "bf16") + [X > 0.25] +
         R([np.where(X < Y, X, 2.5)], "bf16"))

    r = rng_for("weak_literals_f16")
    x, y = randn(r, 2, 4, dtype="f16"), randn(r, 2, 4, dtype="f16")
    X, Y = f64(x), f64(y)
    case("weak_literals_f16", "weak_literals_f16.tsr", dict(x=x, y=y),
         R([rd(X / 3, "f16") + lit(1e-3, "f16"), np.where(X > 0, X, lit(0.1, "f16")), rd(X * Y, "f16") - 2,
            rd(X ** 2, "f16") + np.minimum(Y, 1)], "f16"))

    q = np.array([-60, -1, 0, 5, 60], np.int8)
    i = np.array([-7, 0, 3, 100, -2], np.int32)
    case("weak_literals_int", "weak_literals_int.tsr", dict(q=q, i=i),
         [(q * 2).astype(np.int8), (q + 2).astype(np.int8), (i * 5).astype(np.int32), np.maximum(i, 0)])

    i = np.array([65536, 65537, 1, -1, 2 ** 31 - 1, -2 ** 31], np.int32)
    j = np.array([-2 ** 31, 5, -2 ** 31, 2 ** 31 - 1, -1, 1], np.int32)
    wrap = lambda v: ((np.asarray(v, np.int64) + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)
    I, J = i.astype(np.int64), j.astype(np.int64)
    case("i32_wrap", "i32_wrap.tsr", dict(i=i, j=j), [wrap(I * 65536), wrap(I + 2 ** 31 - 1), wrap(-J), wrap(I - J)])

    i = np.array([7, -7, 7, -7, 5, 0, -2 ** 31, 9], np.int32)
    j = np.array([2, 2, -2, -2, 0, 0, -1, 3], np.int32)
    I, J = i.astype(np.int64), j.astype(np.int64)
    div = np.where(J == 0, 0, I // np.where(J == 0, 1, J))
    case("int_division", "int_division.tsr", dict(i=i, j=j), [wrap(div)],
         note="Decision: floor division, x / 0 = 0, MIN / -1 wraps")

    x = np.array([1.0, -1.0, 0.0, 2.0], np.float32)
    z = np.array([0.0, 0.0, 0.0, 4.0], np.float32)
    X, Z = f64(x), f64(z)
    with np.errstate(all="ignore"):
        case("float_special", "float_special.tsr", dict(x=x, z=z),
             R([X / Z, np.exp(X * 100), np.log(Z), np.sqrt(Z - 1), sigmoid(X * 1000)]))

    x = np.array([[1.0, np.nan, 3.0], [-1.0, 2.0, 0.5]], np.float32)
    y = np.array([[np.nan, 0.0, 4.0], [0.0, np.nan, -0.5]], np.float32)
    case("nan_propagation", "nan_propagation.tsr", dict(x=x, y=y),
         R([np.maximum(x, y), np.minimum(x, y), x.max(axis=1), x.sum(axis=1)]),
         note="NumPy semantics: NaN propagates through maximum/minimum")

    s, t = np.array(3.0, np.float32), np.array(-0.5, np.float32)
    x = np.array([1.0, 2.0, -4.0], np.float32)
    case("scalar_params", "scalar_params.tsr", dict(s=s, t=t, x=x),
         R([f64(s) * f64(t) + 1, f64(x) * 3 + 0.5, np.sum(f64(x) ** 2) / 3]))

    r = rng_for("let_annot_shadow")
    x, w = randn(r, 3, 4), randn(r, 4, 2)
    X, W = f64(x), f64(w)
    case("let_annot_shadow", "let_annot_shadow.tsr", dict(x=x, w=w), R([X @ W - 1, X * 2 + 1]))

    r = rng_for("call_functions")
    a, c, w, b, w2, b2 = randn(r, 3, 4), randn(r, 5, 4), randn(r, 4, 4, scale=0.5), randn(r, 4), randn(r, 4, 2), randn(r, 2)
    A, C, W, B, W2, B2 = map(f64, (a, c, w, b, w2, b2))
    blk = lambda v: np.maximum(v @ W + B, 0) + v
    case("call_functions", "call_functions.tsr", dict(a=a, c=c, w=w, b=b, w2=w2, b2=b2),
         R([np.concatenate([blk(A), blk(blk(C))]) @ W2 + B2]), mode="dir",
         note="one result written with --output-dir")

    r = rng_for("multi_result_call")
    x = randn(r, 3, 5)
    X = f64(x)
    hi, mu = X.max(1, keepdims=True), X.mean(1, keepdims=True)
    case("multi_result_call", "multi_result_call.tsr", dict(x=x),
         R([X - hi, hi - mu]) + [np.argmax(x, axis=1).astype(np.int32)])

    x = np.array([1.0, -2.0, 3.0], np.float32)
    case("fn_select_default", "fn_select.tsr", dict(x=x), R([2 * f64(x) ** 2]))
    case("fn_select_square", "fn_select.tsr", dict(x=x), R([f64(x) ** 2]), fn="square")
    case("fn_select_double", "fn_select.tsr", dict(x=x), R([2 * f64(x)]), fn="double")

    # -- quantization --------------------------------------------------------
    x = np.array([0.0, 0.125, 0.375, -0.375, 0.625, 1.0, 31.9, 32.0, 40.0, -40.0, -0.1, 100.0], np.float32)
    s = np.array(0.3, np.float32)

    def quant(v, sc, d):
        return convert((v.astype(np.float32) / np.asarray(sc, np.float32)).astype(np.float32), d)
    q = quant(x, 0.25, "i8")
    q8 = quant(x, s, "f8e4m3")
    case("quantize_tensor", "quantize_tensor.tsr", dict(x=x, s=s),
         [q, result(f64(q) * 0.25, "f32"), quant(x, s, "i8"), quant(x, 0.25, "f8e4m3"), quant(x, s, "f8e5m2"),
          result(f64(q8) * f64(s), "f32")], exact=True,
         note="x / s rounded half to even then saturated")

    r = rng_for("quantize_channel")
    s0 = np.array([0.05, 0.1, 0.02, 0.5], np.float32)
    s1 = np.array([0.05, 0.1, 0.02, 0.5, 0.25, 0.01], np.float32)
    k = r.integers(-150, 150, (4, 6)) + r.uniform(-0.4, 0.4, (4, 6))
    w = (k * s0[:, None]).astype(np.float32)
    q0 = quant(w, s0[:, None], "i8")
    q1 = quant(w, s1[None, :], "i8")
    case("quantize_channel", "quantize_channel.tsr", dict(w=w, s0=s0, s1=s1),
         [q0, result(f64(q0) * f64(s0)[:, None], "f32"), q1, result(f64(q1) * f64(s1)[None, :], "f32")])

    a = convert(np.array([0.5, 1.5, -2.0, 3.0, 10.0, -0.25, 20.0, 0.0], np.float32), "f8e4m3")
    b = convert(np.array([2.0, 1.25, 3.0, -0.5, 30.0, 4.0, 0.125, 7.0], np.float32), "f8e4m3")
    m = convert(np.array([1.0, -3.0, 0.5, 96.0, 1e4, 0.25, 6.0, 2.0], np.float32), "f8e5m2")
    A, B, M = f64(a), f64(b), f64(m)
    case("fp8_arith", "fp8_arith.tsr", dict(a=a, b=b, m=m),
         R([A * B, A + 1], "f8e4m3") + R([M * 0.5], "f8e5m2") + R([A + M]), u1_inputs=("b",),
         note="b is given as a '|u1' file")

    # -- workloads at small sizes ------------------------------------------
    for n in (3, 8):
        r = rng_for(f"gelu_layernorm_n{n}")
        d = 16
        x, a, b = randn(r, n, d), randn(r, d), randn(r, d, scale=0.1)
        g, beta = (1 + randn(r, d, scale=0.1)).astype(np.float32), randn(r, d, scale=0.1)
        case(f"gelu_layernorm_n{n}", "gelu_layernorm.tsr", dict(x=x, a=a, b=b, g=g, beta=beta),
             R([layernorm(gelu_tanh(f64(x) * f64(a) + f64(b)), f64(g), f64(beta))]))

    r = rng_for("mlp_small")
    x = randn(r, 4, 16)
    dims = (16, 32, 32, 10)
    wts = {}
    for i in range(3):
        wts[f"w{i}"] = randn(r, dims[i], dims[i + 1], scale=1 / math.sqrt(dims[i]))
        wts[f"b{i}"] = randn(r, dims[i + 1], scale=0.1)
    P = {k: f64(v) for k, v in wts.items()}
    h = np.maximum(f64(x) @ P["w0"] + P["b0"], 0)
    h = np.maximum(h @ P["w1"] + P["b1"], 0)
    case("mlp_small", "mlp_small.tsr", dict(x=x), R([softmax(h @ P["w2"] + P["b2"])]), weights=wts,
         note="weights bound by name from a safetensors file")

    r = rng_for("encoder_small")
    B, S, D, H, F = 2, 5, 16, 2, 32
    dh = D // H
    p = dict(x=randn(r, B, S, D),
             ln1_g=(1 + randn(r, D, scale=0.1)).astype(np.float32), ln1_b=randn(r, D, scale=0.1),
             wqkv=randn(r, D, 3 * D, scale=1 / math.sqrt(D)), bqkv=randn(r, 3 * D, scale=0.1),
             wo=randn(r, D, D, scale=1 / math.sqrt(D)), bo=randn(r, D, scale=0.1),
             ln2_g=(1 + randn(r, D, scale=0.1)).astype(np.float32), ln2_b=randn(r, D, scale=0.1),
             w1=randn(r, D, F, scale=1 / math.sqrt(D)), b1=randn(r, F, scale=0.1),
             w2=randn(r, F, D, scale=1 / math.sqrt(F)), b2=randn(r, D, scale=0.1))
    P = {k: f64(v) for k, v in p.items()}
    X = P["x"]
    hh = layernorm(X, P["ln1_g"], P["ln1_b"])
    qkv = (hh @ P["wqkv"] + P["bqkv"]).reshape(B, S, 3, H, dh).transpose(2, 0, 3, 1, 4)
    sc = (qkv[0] @ qkv[1].transpose(0, 1, 3, 2)) / math.sqrt(dh)
    att = (softmax(sc) @ qkv[2]).transpose(0, 2, 1, 3).reshape(B, S, D)
    x1 = X + att @ P["wo"] + P["bo"]
    h2 = layernorm(x1, P["ln2_g"], P["ln2_b"])
    out = x1 + gelu_tanh(h2 @ P["w1"] + P["b1"]) @ P["w2"] + P["b2"]
    case("encoder_small", "encoder_small.tsr", p, R([out]), note="W4 structure (peers.py np_encoder)")

    r = rng_for("softmax_axes")
    x = randn(r, 2, 3, 4) * 2
    big = (randn(r, 2, 5) * 10 + 1000).astype(np.float32)
    big[1] -= 2000
    X, BG = f64(x), f64(big)
    case("softmax_axes", "softmax_axes.tsr", dict(x=x, big=big),
         R([softmax(X, -1), softmax(X, 0), softmax(X, 1), log_softmax(X, -1), log_softmax(X, -2),
            softmax(BG, -1), log_softmax(BG, -1)]))

    r = rng_for("layernorm_axes")
    x = randn(r, 2, 3, 4) * 2 + 1
    g4, b4, g3, b3 = randn(r, 4), randn(r, 4), randn(r, 3), randn(r, 3)
    X = f64(x)
    case("layernorm_axes", "layernorm_axes.tsr", dict(x=x, g4=g4, b4=b4, g3=g3, b3=b3),
         R([layernorm(X, f64(g4), f64(b4)), layernorm(X, f64(g3), f64(b3), axis=1),
            layernorm(X, f64(g4), f64(b4), eps=0.5)]))

    r = rng_for("rmsnorm_axes")
    x, g4, g3 = randn(r, 3, 4), randn(r, 4), randn(r, 3)
    X = f64(x)
    case("rmsnorm_axes", "rmsnorm_axes.tsr", dict(x=x, g4=g4, g3=g3),
         R([rmsnorm(X, f64(g4)), rmsnorm(X, f64(g3), axis=0), rmsnorm(X, f64(g4), eps=0.25)]))

    x = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    X = f64(x)
    case("comments_layout", "comments_layout.tsr", dict(x=x), R([X * X + 1 - X]))

    # -- further edge cases ------------------------------------------------------
    q = np.array([100, -100, 64, -128, 5], np.int8)
    p = np.array([100, -100, 127, -1, -6], np.int8)
    w8 = lambda v: ((np.asarray(v, np.int64) + 128) % 256 - 128).astype(np.int8)
    Q, P_ = q.astype(np.int64), p.astype(np.int64)
    case("i8_wrap", "i8_wrap.tsr", dict(q=q, p=p), [w8(Q * 2), w8(Q + P_), w8(P_ - Q)],
         note="Decision: i8 arithmetic wraps")

    i = np.array([-5, 0, 7, -2 ** 31, 2 ** 31 - 1], np.int32)
    q = np.array([-5, 0, 7, -128, 127], np.int8)
    case("int_unary", "int_unary.tsr", dict(i=i, q=q),
         [wrap(-i.astype(np.int64)), wrap(np.abs(i.astype(np.int64))), w8(np.abs(q.astype(np.int64))),
          w8(-q.astype(np.int64))], note="abs(MIN) wraps to MIN as in NumPy")

    r = rng_for("lowp_reductions")
    h = np.ones(4096, np.float16)
    b = np.ones((2, 1000), np.float32)
    b[1] *= 0.5
    b = convert(b, "bf16")
    sm = randn(r, 2, 6, dtype="bf16")
    n = randn(r, 3, 8, dtype="f16")
    g, beta = randn(r, 8, dtype="f16"), randn(r, 8, dtype="f16")
    case("lowp_reductions", "lowp_reductions.tsr", dict(h=h, b=b, s=sm, n=n, g=g, beta=beta),
         R([f64(h).sum(), f64(h).mean()], "f16") + R([f64(b).sum(1), softmax(f64(sm))], "bf16") +
         R([layernorm(f64(n), f64(g), f64(beta))], "f16"),
         note="an f16 sum of 4096 ones is 4096 (f32 accumulation)")

    r = rng_for("f8e4m3_row_reductions")
    x8 = randn(r, 3, 5, dtype="f8e4m3")
    x8f = f64(x8)
    case("f8e4m3_row_reductions", "f8e4m3_row_reductions.tsr", dict(x=x8),
         R([x8f.max(1), x8f.min(0), softmax(x8f), log_softmax(x8f)], "f8e4m3") +
         [x8f.argmax(1).astype(np.int32)],
         note="f8e4m3 has no infinities: max/min/softmax must not start from -inf")

    x = np.array([300.0, -300.0, 2.0], np.float16)
    b = convert(np.array([3e38, -1e38, 1.0], np.float32), "bf16")
    m = convert(np.array([512.0, -1024.0, 2.0], np.float32), "f8e5m2")
    ieee = lambda v, d: np.asarray(v, np.float64).astype(np.float32).astype(NP[d])
    case("f16_overflow", "f16_overflow.tsr", dict(x=x, b=b, m=m),
         [ieee(f64(x) ** 2, "f16"), ieee(f64(b) * 10, "bf16"), ieee(f64(m) ** 2, "f8e5m2"), ieee(120000.0, "f16")],
         exact=True, note="NumPy semantics: arithmetic overflow in f16/bf16/f8e5m2 gives inf (not saturation)")

    x = np.array([1.0, -2.0, 3.5], np.float32)
    case("identity_results", "identity_results.tsr", dict(x=x, unused=np.zeros(2, np.float32)),
         [x, x, -x], exact=True)

    c = np.array([True, False, False, True])
    x = np.array([1.0, -2.0, 3.5, 0.25], np.float32)
    case("literal_only", "literal_only.tsr", dict(c=c, x=x),
         [np.where(c, 1, 0).astype(np.int32)] + R([f64(x) * 0.5, np.where(c, f64(x), 1.5), f64(x) + 6]),
         note="where(c, 1, 0): literals meeting no tensor are i32")
    r = rng_for("literal_division")
    x, i = randn(r, 3), r.integers(-5, 6, 3).astype(np.int32)
    case("literal_division", "literal_division.tsr", dict(x=x, i=i),
         R([f64(x) * 0.5]) + [(i * 3).astype(np.int32)] + R([f64(x) - 3.5]) + [np.array(0.25, np.float32)],
         note="integer literal expressions meeting float and integer tensors")
    r = rng_for("literal_casts")
    x = randn(r, 3)
    case("literal_casts", "literal_casts.tsr", dict(x=x),
         R([f64(x) + 1]) + [np.array(3, np.int8), np.array(65504, np.float16),
                            np.array(2, np.int32), np.array(3, np.float16)],
         note="kernels of literals alone")

    r = rng_for("einsum_more")
    a, b, c, x = randn(r, 3, 4), randn(r, 4, 5), randn(r, 5, 4), randn(r, 2, 3, 4)
    A, B, C, X = map(f64, (a, b, c, x))
    case("einsum_more", "einsum_more.tsr", dict(a=a, b=b, c=c, x=x),
         R([(A @ B).sum(1), A @ C.T, X.transpose(0, 2, 1), np.einsum("bij,ij->j", X, A)]))

    x = np.array([[1.0], [-1000.0], [50.0]], np.float32)
    case("softmax_size1", "softmax_size1.tsr", dict(x=x), R([np.ones((3, 1)), np.zeros((3, 1))]))

    r = rng_for("fp8_matmul")
    a = convert(r.standard_normal((4, 16)), "f8e4m3")
    b = convert(r.standard_normal((16, 3)), "f8e4m3")
    case("fp8_matmul", "fp8_matmul.tsr", dict(a=a, b=b), R([f64(a) @ f64(b)], "f8e4m3") + R([f64(a) @ f64(b)]))

    r = rng_for("conv2d_bf16")
    x, w = randn(r, 1, 2, 5, 5, dtype="bf16"), randn(r, 2, 2, 3, 3, dtype="bf16")
    h = randn(r, 1, 2, 4, 4, dtype="f16")
    case("conv2d_bf16", "conv2d_bf16.tsr", dict(x=x, w=w, h=h),
         R([conv2d(f64(x), f64(w))], "bf16") + R([pool2d(f64(h), "max"), pool2d(f64(h), "avg")], "f16"))

    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], np.float32)
    case("scalar_output", "scalar_output.tsr", dict(x=x), R([(f64(x) ** 2).mean()]))

    # -- runtime bind baseline (the error cases below vary it) ------------------
    r = rng_for("runtime_bind")
    al, be, ga = randn(r, 2, 4), randn(r, 2, 4), randn(r, 4)
    case("runtime_bind", "runtime/bind.tsr", dict(alpha_in=al, beta_in=be), R([f64(al) + f64(be) * f64(ga)]),
         weights=dict(gamma_w=ga), note="baseline for the runtime error cases")
    act = randn(r, 2, 2, dtype="bf16")
    code = convert(np.array([1.5, -0.25], np.float32), "f8e4m3")
    case("runtime_lowp", "runtime/lowp.tsr", dict(act_bf=act, code_e4=code),
         R([f64(act) * 2], "bf16") + R([f64(code)]))


# ---------------------------------------------------------------------------
# Runtime (input) errors and command-line errors
# ---------------------------------------------------------------------------
def build_runtime_errors():
    d = os.path.join(DATA, "_runtime")
    os.makedirs(d, exist_ok=True)
    rel = lambda n: os.path.relpath(os.path.join(d, n), HERE)
    r = rng_for("_runtime")
    files = {
        "a24.npy": randn(r, 2, 4), "b24.npy": randn(r, 2, 4), "b34.npy": randn(r, 3, 4),
        "b25.npy": randn(r, 2, 5), "b241.npy": randn(r, 2, 4, 1), "g4.npy": randn(r, 4),
        "b24_i32.npy": np.zeros((2, 4), np.int32), "b24_f16.npy": np.zeros((2, 4), np.float16),
        "act_f32.npy": randn(r, 2, 2), "act_f16.npy": np.zeros((2, 2), np.float16),
        "code_i8.npy": np.zeros(2, np.int8), "inp2.npy": randn(r, 2), "v2.npy": randn(r, 2),
        "code_ok.npy": convert(np.array([1.0, 2.0], np.float32), "f8e4m3"),
    }
    for n, a in files.items():
        save_npy(os.path.join(d, n), a)
    with open(os.path.join(d, "corrupt.npy"), "wb") as f:
        f.write(bytes(r.integers(0, 256, 100, dtype=np.uint8)))
    good = open(os.path.join(d, "b24.npy"), "rb").read()
    with open(os.path.join(d, "truncated.npy"), "wb") as f:
        f.write(good[:-7])
    with open(os.path.join(d, "badheader.npy"), "wb") as f:
        f.write(good[:10] + b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), " + b" " * 60)
    save_safetensors(os.path.join(d, "no_gamma.safetensors"), dict(other=randn(r, 4)))
    save_safetensors(os.path.join(d, "gamma5.safetensors"), dict(gamma_w=randn(r, 5)))
    save_safetensors(os.path.join(d, "gamma4.safetensors"), dict(gamma_w=randn(r, 4)))
    with open(os.path.join(d, "corrupt.safetensors"), "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + b"\x00" * 8)

    bind = "runtime/bind.tsr"
    gw = ["--weights", rel("gamma4.safetensors")]

    def err(name, args, contains, status=(1,)):
        RUNTIME.append({"name": name, "args": args, "status": list(status), "stderr_any": contains})

    def run(prog, *rest):
        return ["run", prog, "--backend", "interp", *rest]
    A, B = ["--input", "alpha_in=" + rel("a24.npy")], ["--input", "beta_in=" + rel("b24.npy")]
    err("missing_input", run(bind, *A, *B), ["gamma_w"])
    err("missing_input_no_weights", run(bind, *A, *gw), ["beta_in"])
    err("wrong_npy_dtype", run(bind, *A, "--input", "beta_in=" + rel("b24_i32.npy"), *gw), ["beta_in"])
    err("wrong_npy_dtype_f16", run(bind, *A, "--input", "beta_in=" + rel("b24_f16.npy"), *gw), ["beta_in"])
    err("wrong_shape", run(bind, *A, "--input", "beta_in=" + rel("b25.npy"), *gw), ["beta_in"])
    err("wrong_rank", run(bind, *A, "--input", "beta_in=" + rel("b241.npy"), *gw), ["beta_in"])
    err("symbolic_conflict", run(bind, *A, "--input", "beta_in=" + rel("b34.npy"), *gw), ["beta_in", "alpha_in"])
    err("corrupt_npy", run(bind, *A, "--input", "beta_in=" + rel("corrupt.npy"), *gw), ["beta_in", "corrupt.npy"])
    err("truncated_npy", run(bind, *A, "--input", "beta_in=" + rel("truncated.npy"), *gw), ["beta_in", "truncated.npy"])
    err("bad_npy_header", run(bind, *A, "--input", "beta_in=" + rel("badheader.npy"), *gw), ["beta_in", "badheader.npy"])
    err("missing_npy_file", run(bind, *A, "--input", "beta_in=" + rel("does_not_exist.npy"), *gw),
        ["beta_in", "does_not_exist.npy"])
    err("weights_missing_tensor", run(bind, *A, *B, "--weights", rel("no_gamma.safetensors")), ["gamma_w"])
    err("weights_wrong_shape", run(bind, *A, *B, "--weights", rel("gamma5.safetensors")), ["gamma_w"])
    err("weights_corrupt", run(bind, *A, *B, "--weights", rel("corrupt.safetensors")),
        ["corrupt.safetensors", "safetensors", "weights"])
    err("weights_missing_file", run(bind, *A, *B, "--weights", rel("nope.safetensors")), ["nope.safetensors"])
    err("bf16_given_f32", run("runtime/lowp.tsr", "--input", "act_bf=" + rel("act_f32.npy"),
                              "--input", "code_e4=" + rel("code_ok.npy")), ["act_bf"])
    err("bf16_given_f16", run("runtime/lowp.tsr", "--input", "act_bf=" + rel("act_f16.npy"),
                              "--input", "code_e4=" + rel("code_ok.npy")), ["act_bf"])
    err("fp8_given_i8", run("runtime/lowp.tsr", "--input", "act_bf=" + rel("act_f32.npy"),
                            "--input", "code_e4=" + rel("code_i8.npy")), ["act_bf", "code_e4"])
    err("missing_program", run("runtime/no_such_program.tsr"), ["no_such_program.tsr"])
    err("unknown_fn", run(bind, "--fn", "nosuch", *A, *B, *gw), ["nosuch"], status=(1, 2))
    err("no_main_no_fn", run("runtime/pair.tsr", "--input", "v=" + rel("v2.npy")),
        ["first_fn", "second_fn"], status=(1, 2))
    err("two_results_one_output", run("runtime/two.tsr", "--input", "inp_a=" + rel("inp2.npy")), ["output"],
        status=(1, 2))
    err("unknown_input_name", run(bind, *A, *B, *gw, "--input", "zeta_in=" + rel("g4.npy")), ["zeta_in"],
        status=(1, 2))
    # Command-line errors: status 2.
    err("cli_unknown_subcommand", ["frobnicate", bind], ["frobnicate"], status=(2,))
    err("cli_run_without_file", ["run", "--backend", "interp"], ["FILE", "file", "required", "Usage", "usage"],
        status=(2,))
    err("cli_unknown_flag", run(bind, *A, *B, *gw, "--bogus-flag"), ["bogus"], status=(2,))
    err("cli_input_without_eq", run(bind, "--input", "alpha_in", *B, *gw), ["alpha_in", "NAME=PATH", "="],
        status=(2,))
    err("cli_bad_backend", ["run", bind, *A, *B, *gw, "--backend", "teapot"], ["teapot"], status=(2,))


def main():
    if os.path.isdir(DATA):
        shutil.rmtree(DATA)
    os.makedirs(DATA)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        build_cases()
        build_runtime_errors()
    manifest = {"generator": "tests/programs/make_refs.py",
                "numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__,
                "cases": CASES, "runtime_errors": RUNTIME}
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(DATA) for fn in fns)
    print(f"{len(CASES)} cases, {len(RUNTIME)} runtime/CLI error cases, data {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
