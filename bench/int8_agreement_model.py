#!/usr/bin/env python3
"""What top-1 agreement int8 can reach on the random MLP of bench/precision_agreement.py.

A NumPy model of W8A8 arithmetic (symmetric, round to nearest, exact integer products)
on the same networks and inputs, for several ways of choosing the scales. It reproduces
`tessera run --precision int8` (per-row activation scales, per-channel weight scales)
exactly, and shows how far finer scales or an f32 classifier would move agreement:

    python3 bench/int8_agreement_model.py [--seeds 0,1,2,3,4,5] [--rows 1000]
"""
import argparse

import numpy as np

SIZES = [784, 1024, 1024, 10]


def q_channel(w):
    """Per output channel (column) of a [K, N] weight."""
    s = np.abs(w).max(0, keepdims=True) / 127
    return np.clip(np.round(w / s), -127, 127) * s


def q_row(a):
    """Per row (token) of a [M, K] activation."""
    s = np.abs(a).max(1, keepdims=True) / 127
    s[s == 0] = 1
    return np.clip(np.round(a / s), -127, 127) * s


def q_block(t, axis):
    """Per block of 32 along `axis` (the reduction axis)."""
    t = np.moveaxis(t, axis, -1)
    shape = t.shape
    b = t.reshape(shape[:-1] + (shape[-1] // 32, 32)) if shape[-1] % 32 == 0 else \
        t.reshape(shape[:-1] + (shape[-1] // 16, 16))
    s = np.abs(b).max(-1, keepdims=True) / 127
    s[s == 0] = 1
    return np.moveaxis((np.clip(np.round(b / s), -127, 127) * s).reshape(shape), -1, axis)


def ident(t):
    return t


SCHEMES = {
    "row x channel (tessera int8)": ([q_row] * 3, [q_channel] * 3),
    "row x channel, f32 classifier": ([q_row, q_row, ident], [q_channel, q_channel, ident]),
    "block32 x block32": ([lambda a: q_block(a, 1)] * 3, [lambda w: q_block(w, 0)] * 3),
    "weights only (per channel)": ([ident] * 3, [q_channel] * 3),
}


def softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2,3,4,5")
    ap.add_argument("--rows", type=int, default=1000)
    a = ap.parse_args()
    for init, (w_var, b_std) in [("he", (2.0, 0.01)), ("peers", (1.0, 0.1))]:
        got = {k: [] for k in SCHEMES}
        for seed in [int(s) for s in a.seeds.split(",")]:
            rng = np.random.default_rng(seed)
            ws, bs = [], []
            for i in range(3):
                ws.append(rng.normal(0, np.sqrt(w_var / SIZES[i]), (SIZES[i], SIZES[i + 1])))
                bs.append(rng.normal(0, b_std, (SIZES[i + 1],)))
            x = rng.normal(0, 1, (a.rows, 784)).astype(np.float32)

            def run(qa, qw):
                h = x
                for i in range(3):
                    z = qa[i](h) @ qw[i](ws[i]) + bs[i]
                    h = np.maximum(z, 0) if i < 2 else softmax(z)
                return h.argmax(1)

            ref = run([ident] * 3, [ident] * 3)
            for k, (qa, qw) in SCHEMES.items():
                got[k].append((run(qa, qw) == ref).mean() * 100)
        for k, v in got.items():
            print(f"{init:5} {k:32} mean {np.mean(v):.2f}%  per seed {np.round(v, 1).tolist()}")


if __name__ == "__main__":
    main()
