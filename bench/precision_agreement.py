#!/usr/bin/env python3
"""Top-1 agreement of a lowered precision with f32 on examples/mlp.tsr (issue 4).

A random MLP and 1,000 inputs x ~ N(0, 1) per seed; runs `tessera run` once in f32 and
once per precision, and prints the share of inputs whose arg-max class agrees with f32 and
the largest probability gap, per seed and averaged. Weights: `--init he` (w ~ N(0, 2 /
fan_in), b ~ N(0, 0.01)) or `--init peers` (w ~ N(0, 1 / fan_in), b ~ N(0, 0.1): the MLP
of ../shared/bench/peers.py make_inputs). `auto` calibrates on 256 other inputs from the
same distribution (--max-error 1e-2). An untrained network's top two classes are often
close (the smallest 1% of top-1 margins are below 0.003 in probability), so agreement
moves by about 0.5% between seeds: use several.

    python3 bench/precision_agreement.py [--tessera target/release/tessera] [--seeds 0,1,2]
        [--init he|peers] [PRECISION ...]
"""
import argparse
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tessera", default="target/release/tessera")
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--seeds", default="0", help="comma-separated numpy seeds")
    ap.add_argument("--init", choices=["he", "peers"], default="he")
    ap.add_argument("precisions", nargs="*", default=["int8", "bf16", "f16", "fp8"])
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    agree = {p: [] for p in a.precisions}
    for seed in seeds:
        print(f"seed {seed} ({a.init} init):")
        for p, v in one_seed(a, seed).items():
            agree[p].append(v)
    if len(seeds) > 1:
        for p, v in agree.items():
            print(f"{p}: mean top-1 agreement {np.mean(v):.2f}% over seeds {a.seeds} "
                  f"(min {min(v):.1f}%, max {max(v):.1f}%)")
    return 0


def one_seed(a, seed):
    """Runs every precision on one seed's network and inputs; returns the agreements."""
    rng = np.random.default_rng(seed)
    sizes = [784, 1024, 1024, 10]
    w_var, b_std = (2.0, 0.01) if a.init == "he" else (1.0, 0.1)
    weights = {}
    for i in range(3):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        weights[f"w{i + 1}"] = rng.normal(0, np.sqrt(w_var / fan_in), (fan_in, fan_out))
        weights[f"b{i + 1}"] = rng.normal(0, b_std, (fan_out,))
    x = rng.normal(0, 1, (a.rows, 784)).astype(np.float32)
    result = {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        write_safetensors(d / "w.safetensors", weights)
        np.save(d / "x.npy", x)
        np.save(d / "calib.npy", rng.normal(0, 1, (256, 784)).astype(np.float32))

        def run(precision):
            out = d / (precision.replace("/", "_") + ".npy")
            extra = []
            if precision == "auto":
                extra = ["--max-error", "1e-2", "--calibrate", f"x={d / 'calib.npy'}"]
            subprocess.run([a.tessera, "run", "examples/mlp.tsr", "--input", f"x={d / 'x.npy'}",
                            "--weights", str(d / "w.safetensors"), "--precision", precision,
                            "--output", str(out)] + extra, check=True)
            return np.load(out)

        ref = run("f32")
        top = ref.argmax(axis=1)
        print(f"  f32: {len(set(top.tolist()))} distinct top-1 classes over {a.rows} inputs")
        for p in a.precisions:
            got = run(p)
            agree = (got.argmax(axis=1) == top).mean() * 100
            gap = np.abs(got - ref).max()
            print(f"  {p}: top-1 agreement {agree:.1f}%, max |dp| {gap:.2e}")
            result[p] = agree
    return result


if __name__ == "__main__":
    sys.exit(main())
