#!/usr/bin/env bash
# examples/c/build.sh: compile examples/mlp.tsr ahead of time, build the Tessera runtime
# library, link them with main.c, and run the result.
#
# Usage: examples/c/build.sh [BATCH]      (from anywhere; writes examples/c/build/)
# Needs a C compiler (`cc`, or $CC) and cargo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/examples/c/build"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$OUT"
cd "$ROOT"

# 1. The runtime as a static library (target/release/libtessera_runtime.a).
cargo build --release -p tessera-runtime
# 2. The model: an object file and its header.
cargo run --release -- compile examples/mlp.tsr --target cpu -o "$OUT/mlp.o" --header "$OUT/mlp.h"
# 3. Link: the program, the model, the runtime and what a Rust static library needs.
"${CC:-cc}" -std=c99 -O2 -I runtime/include -I "$OUT" examples/c/main.c "$OUT/mlp.o" \
    "$TARGET/release/libtessera_runtime.a" -lpthread -lm -ldl -o "$OUT/mlp_demo"
# 4. Run.
"$OUT/mlp_demo" "${1:-3}"
