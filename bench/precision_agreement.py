#!/usr/bin/env python3
"""Top-1 agreement of a lowered precision with f32 on examples/mlp.tsr (issue 4).

A He-initialised MLP (w ~ N(0, 2 / fan_in), b ~ N(0, 0.01), numpy seed 0) and 1,000
inputs x ~ N(0, 1); runs `tessera run` once in f32 and once per precision, and prints the
share of inputs whose arg-max class agrees with f32 and the largest probability gap.
`auto` calibrates on 256 other inputs from the same distribution (--max-error 1e-2).

    python3 bench/precision_agreement.py [--tessera target/release/tessera] [PRECISION ...]
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
    ap.add_argument("precisions", nargs="*", default=["int8", "bf16", "f16", "fp8"])
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    sizes = [784, 1024, 1024, 10]
    weights = {}
    for i in range(3):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        weights[f"w{i + 1}"] = rng.normal(0, np.sqrt(2 / fan_in), (fan_in, fan_out))
        weights[f"b{i + 1}"] = rng.normal(0, 0.01, (fan_out,))
    x = rng.normal(0, 1, (a.rows, 784)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        write_safetensors(d / "w.safetensors", weights)
        np.save(d / "x.npy", x)
        np.save(d / "calib.npy", rng.normal(0, 1, (256, 784)).astype(np.float32))

        def run(precision):
            out = d / f"{precision}.npy"
            extra = []
            if precision == "auto":
                extra = ["--max-error", "1e-2", "--calibrate", f"x={d / 'calib.npy'}"]
            subprocess.run([a.tessera, "run", "examples/mlp.tsr", "--input", f"x={d / 'x.npy'}",
                            "--weights", str(d / "w.safetensors"), "--precision", precision,
                            "--output", str(out)] + extra, check=True)
            return np.load(out)

        ref = run("f32")
        top = ref.argmax(axis=1)
        print(f"f32: {len(set(top.tolist()))} distinct top-1 classes over {a.rows} inputs")
        for p in a.precisions:
            got = run(p)
            agree = (got.argmax(axis=1) == top).mean() * 100
            gap = np.abs(got - ref).max()
            print(f"{p}: top-1 agreement {agree:.1f}%, max |dp| {gap:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
