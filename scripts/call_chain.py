#!/usr/bin/env python3
"""Writes a .tsr program whose functions form a call chain of depth N (default 1000):
`main` calls g1, each gK calls g(K+1) and adds its argument, the last one is a leaf.
Used to measure the compile time of deep call chains (docs/BENCHMARKS.md); the same
program is built by `chain_source` in benches/call_chain.rs and compiler/passes/tests."""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
lines = ["// A call chain of depth %d (scripts/call_chain.py)." % n]
lines.append("fn main(x: f32[B, 16]) -> f32[B, 16] {\n    g1(x) * 0.5\n}")
for k in range(1, n):
    lines.append("fn g%d(x: f32[B, 16]) -> f32[B, 16] {\n    g%d(x) + x\n}" % (k, k + 1))
lines.append("fn g%d(x: f32[B, 16]) -> f32[B, 16] {\n    tanh(x)\n}" % n)
print("\n".join(lines))
