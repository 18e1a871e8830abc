#!/usr/bin/env bash
# bench/compare.sh: the issue-4 comparisons, interleaved on one machine in one run:
# fused against unfused (`--fusion none`), and lowered precisions against f32, each pair
# alternated ROUNDS times so that machine drift hits both sides alike. Prints one line per
# measurement (medians of `tessera bench --json`) and a summary of ratios of medians.
#
# Usage: bench/compare.sh   (after `cargo build --release`; THREADS [2], ROUNDS [3], ITERS [20],
# WARMUP [30])
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
T="${CARGO_TARGET_DIR:-$ROOT/target}/release/tessera"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
ITERS="${ITERS:-20}"
# Warm-up runs before each measurement: enough for the first ~50 ms of a process, when
# both threads often share one core (see bench/run.sh), to be over.
WARMUP="${WARMUP:-30}"
export TESSERA_NUM_THREADS="$THREADS"

# name | program | shapes | flags
CASES=(
  "gelu_ln fused|bench/workloads/gelu_layernorm.tsr|N=4096,D=4096|"
  "gelu_ln unfused|bench/workloads/gelu_layernorm.tsr|N=4096,D=4096|--fusion none"
  "encoder fused|examples/transformer_block.tsr|B=8,S=128|"
  "encoder unfused|examples/transformer_block.tsr|B=8,S=128|--fusion none"
  "encoder int8|examples/transformer_block.tsr|B=8,S=128|--precision int8"
  "mlp256 f32|examples/mlp.tsr|B=256|"
  "mlp256 int8|examples/mlp.tsr|B=256|--precision int8"
  "mlp256 bf16|examples/mlp.tsr|B=256|--precision bf16"
  "mlp256 f16|examples/mlp.tsr|B=256|--precision f16"
  "mlp32 f32|examples/mlp.tsr|B=32|"
  "mlp32 bf16|examples/mlp.tsr|B=32|--precision bf16"
)
declare -A MED
for r in $(seq 1 "$ROUNDS"); do
  for c in "${CASES[@]}"; do
    IFS='|' read -r name prog shapes flags <<<"$c"
    # shellcheck disable=SC2086
    ms=$("$T" bench "$prog" --shapes "$shapes" $flags --warmup "$WARMUP" --iters "$ITERS" --json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["run_ms"]["median"])')
    echo "round $r  $name: $ms ms"
    MED["$name"]="${MED[$name]:-} $ms"
  done
done
ratio() { # slow fast: ratio of the medians over rounds
  python3 - "$1" "$2" "${MED[$1]}" "${MED[$2]}" <<'PY'
import statistics, sys
a, b = sys.argv[1], sys.argv[2]
x = statistics.median(map(float, sys.argv[3].split()))
y = statistics.median(map(float, sys.argv[4].split()))
print(f"{a} / {b}: {x:.2f} / {y:.2f} ms = {x / y:.2f}x")
PY
}
echo "--- ratios (median of round medians)"
ratio "gelu_ln unfused" "gelu_ln fused"
ratio "encoder unfused" "encoder fused"
ratio "encoder fused" "encoder int8"
ratio "mlp256 f32" "mlp256 int8"
ratio "mlp256 f32" "mlp256 bf16"
ratio "mlp256 f32" "mlp256 f16"
ratio "mlp32 f32" "mlp32 bf16"
