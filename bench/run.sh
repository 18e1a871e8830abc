#!/usr/bin/env bash
# bench/run.sh: the benchmark pipeline for the reference workloads W1-W5 of
# ../shared/bench (see docs/BENCHMARKS.md).
#
# 1. builds tessera once in release mode (`cargo build --release`);
# 2. for ROUNDS rounds, runs `tessera bench ... --json` on every workload with
#    --backend interp and --backend cpu (a refusal, an error or a timeout is
#    recorded as such, it does not stop the run);
# 3. measures the f32x4 FMA peak with a Cranelift-generated loop on 1 and 2 threads
#    (`cargo bench -p tessera-codegen-cpu --bench fma_peak`) and the compile time of
#    every example (load + check + lower + JIT, `tessera bench --iters 1`);
# 4. runs ../shared/bench/peers.py (NumPy, PyTorch, torch.compile, JAX, ONNX
#    Runtime: whatever the venv .peers-venv has) in the same run, including the
#    machine limits (clock, FMA peaks, STREAM);
# 5. writes raw JSON under bench/results/<timestamp>/ (git-ignored) and prints a
#    table (bench/report.py).
#
# Usage: bench/run.sh                      (from anywhere; paths are repo-relative)
# Environment knobs (defaults in brackets):
#   ROUNDS [3]          tessera rounds per (workload, backend)
#   PEER_ROUNDS [3]     peers.py --rounds
#   PEER_ARGS []        extra arguments for peers.py (e.g. "--peers numpy,ort --retries 0")
#   THREADS [2]         peers.py --threads and TESSERA_NUM_THREADS for the cpu backend
#   TIMEOUT [600]       seconds allowed to one `tessera bench` invocation
#   ONLY []             comma list of case names to restrict to (e.g. sgemm_1024,mlp_b32)
#   BACKENDS ["interp cpu"]  which back ends to time (the interpreter is slow on big cases)
#   SKIP_PROBES [0]     1 = skip the Cranelift FMA peak probe and the example compile times
#   SKIP_PEERS [0]      1 = do not run peers.py
#   SKIP_BUILD [0]      1 = reuse an existing target/release/tessera
#   CARGO_TARGET_DIR    [<repo>/target]
# The machine is shared: numbers are noisy (see docs/BENCHMARKS.md); compare only
# within one run.
set -euo pipefail

die() { echo "run.sh: error: $*" >&2; exit 1; }
note() { echo "run.sh: $*" >&2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
PEER_ROUNDS="${PEER_ROUNDS:-3}"
PEER_ARGS="${PEER_ARGS:-}"
THREADS="${THREADS:-2}"
TIMEOUT="${TIMEOUT:-600}"
ONLY="${ONLY:-}"
SKIP_PEERS="${SKIP_PEERS:-0}"
SKIP_BUILD="${SKIP_BUILD:-0}"
SKIP_PROBES="${SKIP_PROBES:-0}"
BACKENDS="${BACKENDS:-interp cpu}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TESSERA="$CARGO_TARGET_DIR/release/tessera"
PY="$ROOT/.peers-venv/bin/python"
PEERS_PY="$ROOT/../shared/bench/peers.py"

# case | workload | program | --shapes | interp iters | cpu iters | cpu warm-up runs
# (the case names are peers.py's, so the report can pair them). The cpu warm-up lasts
# about 0.3 s: on this VM a process's first few dozen milliseconds often run both threads
# on one core (the scheduler places the worker with the caller until it balances them;
# per-call times of a C program calling examples/mlp.tsr B=32: 2.2 ms for the first 10 to
# 30 calls, then 1.1 ms), and peers.py times steady state after its own warm-up.
CASES=(
  "sgemm_256|W1|bench/workloads/sgemm.tsr|N=256|20|20|600"
  "sgemm_512|W1|bench/workloads/sgemm.tsr|N=512|10|10|100"
  "sgemm_1024|W1|bench/workloads/sgemm.tsr|N=1024|5|10|15"
  "sgemm_2048|W1|bench/workloads/sgemm.tsr|N=2048|3|5|2"
  "mlp_b32|W2|examples/mlp.tsr|B=32|20|20|250"
  "mlp_b256|W2|examples/mlp.tsr|B=256|10|10|30"
  "gelu_ln_4096|W3|bench/workloads/gelu_layernorm.tsr|N=4096,D=4096|3|3|30"
  "encoder_b8_s128|W4|examples/transformer_block.tsr|B=8,S=128|5|5|15"
  "conv3x3_8x64x56|W5|bench/workloads/conv3x3.tsr|N=8,H=56,W=56|3|3|15"
)

command -v cargo >/dev/null || die "cargo not found"
command -v timeout >/dev/null || die "timeout (coreutils) not found"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"

STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="$ROOT/bench/results/$STAMP"
mkdir -p "$OUT"
note "results go to ${OUT#$ROOT/}"

if [[ "$SKIP_BUILD" != 1 ]]; then
  note "cargo build --release (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  cargo build --release >"$OUT/build.log" 2>&1 || { tail -n 20 "$OUT/build.log" >&2; die "release build failed (log: $OUT/build.log)"; }
  tail -n 1 "$OUT/build.log" >&2
fi
[[ -x "$TESSERA" ]] || die "$TESSERA missing (build it, or unset SKIP_BUILD)"

# Machine and revision, for the record.
{
  echo "date: $(date -Iseconds)"
  echo "git: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
  echo "loadavg: $(cat /proc/loadavg)"
  echo "rustc: $(rustc --version)"
  echo "threads: $THREADS"
} > "$OUT/meta.txt"
cat "$OUT/meta.txt" >&2

wanted() { [[ -z "$ONLY" || ",$ONLY," == *",$1,"* ]]; }

# One `tessera bench` invocation -> one JSON line appended to tessera.jsonl.
# A non-zero exit (refusal, error) or a timeout is recorded with its message.
bench_one() {
  local case="$1" wl="$2" file="$3" shapes="$4" backend="$5" iters="$6" round="$7" warmup="$8"
  local out err rc=0
  out="$(mktemp)"; err="$(mktemp)"
  TESSERA_NUM_THREADS="$THREADS" timeout "$TIMEOUT" "$TESSERA" bench "$file" --shapes "$shapes" \
    --backend "$backend" --warmup "$warmup" --iters "$iters" --json >"$out" 2>"$err" || rc=$?
  if [[ $rc -eq 0 ]]; then
    "$PY_ANY" - "$out" "$case" "$wl" "$file" "$shapes" "$backend" "$round" >>"$OUT/tessera.jsonl" <<'EOF'
import json, sys
out, case, wl, file, shapes, backend, rnd = sys.argv[1:]
d = json.loads(open(out).read())
d.update(case=case, workload=wl, file=file, shapes=shapes, backend=backend, round=int(rnd))
print(json.dumps(d))
EOF
    note "  $case $backend round $round: $(cat "$out")"
  else
    local why
    if [[ $rc -eq 124 ]]; then why="timeout after ${TIMEOUT}s"; else why="$(head -c 600 "$err")"; fi
    "$PY_ANY" - "$case" "$wl" "$file" "$shapes" "$backend" "$round" "$rc" "$why" >>"$OUT/tessera.jsonl" <<'EOF'
import json, sys
case, wl, file, shapes, backend, rnd, rc, why = sys.argv[1:]
print(json.dumps(dict(case=case, workload=wl, file=file, shapes=shapes, backend=backend,
                      round=int(rnd), rc=int(rc), refused=why.strip())))
EOF
    note "  $case $backend round $round: REFUSED/FAILED (rc $rc): $(echo "$why" | head -n 1)"
  fi
  rm -f "$out" "$err"
}

# Any python works for the JSON glue; prefer the venv's.
if [[ -x "$PY" ]]; then PY_ANY="$PY"; else PY_ANY="$(command -v python3)" || die "python3 not found"; fi

: >"$OUT/tessera.jsonl"
for ((r = 0; r < ROUNDS; r++)); do
  note "tessera round $((r + 1))/$ROUNDS"
  for c in "${CASES[@]}"; do
    IFS='|' read -r case wl file shapes it_interp it_cpu warm_cpu <<<"$c"
    wanted "$case" || continue
    [[ -f "$file" ]] || die "workload program $file missing"
    for be in $BACKENDS; do
      case "$be" in
        interp) bench_one "$case" "$wl" "$file" "$shapes" interp "$it_interp" "$r" 1 ;;
        cpu) bench_one "$case" "$wl" "$file" "$shapes" cpu "$it_cpu" "$r" "$warm_cpu" ;;
        *) die "unknown backend '$be' in BACKENDS" ;;
      esac
    done
  done
done

if [[ "$SKIP_PROBES" != 1 ]]; then
  note "Cranelift f32x4 FMA peak (cargo bench -p tessera-codegen-cpu --bench fma_peak)"
  TESSERA_PEAK_THREADS="1,$THREADS" cargo bench -q -p tessera-codegen-cpu --bench fma_peak \
    >"$OUT/fma_peak.jsonl" 2>"$OUT/fma_peak.log" || { cat "$OUT/fma_peak.log" >&2; die "fma_peak failed"; }
  cat "$OUT/fma_peak.jsonl" >&2
  note "compile time of every example"
  # example | --shapes for its symbolic sizes | --fn
  EXAMPLES=(
    "examples/mlp.tsr|B=32|mlp"
    "examples/cnn.tsr|N=8|cnn"
    "examples/transformer_block.tsr|B=8,S=128|encoder_block"
    "examples/layernorm_gelu.tsr|N=64,D=512|layernorm_gelu"
    "examples/quantized_linear.tsr|B=32|main"
    "examples/mixed_precision.tsr|B=32|main"
    "examples/multi_output.tsr|N=64,D=512|main"
  )
  : >"$OUT/compile.jsonl"
  for e in "${EXAMPLES[@]}"; do
    IFS='|' read -r file shapes fn <<<"$e"
    for ((r = 0; r < ROUNDS; r++)); do
      TESSERA_NUM_THREADS="$THREADS" "$TESSERA" bench "$file" --fn "$fn" --shapes "$shapes" \
        --backend cpu --warmup 0 --iters 1 --json 2>>"$OUT/compile.log" |
        "$PY_ANY" -c 'import json,sys; d=json.load(sys.stdin); d["file"]=sys.argv[1]; print(json.dumps(d))' "$file" \
        >>"$OUT/compile.jsonl" || note "  $file: compile-time run failed (see compile.log)"
    done
  done
fi

PEERS_JSON=""
if [[ "$SKIP_PEERS" != 1 ]]; then
  [[ -x "$PY" ]] || die "$PY missing: set up the venv as ../shared/bench/README.md says (or SKIP_PEERS=1)"
  [[ -f "$PEERS_PY" ]] || die "$PEERS_PY missing"
  sel=(--workloads W1,W2,W3,W4,W5)
  [[ -n "$ONLY" ]] && sel=(--cases "$ONLY")
  note "peers.py --threads $THREADS --rounds $PEER_ROUNDS ${sel[*]} $PEER_ARGS"
  # shellcheck disable=SC2086 # PEER_ARGS is a word list on purpose
  "$PY" "$PEERS_PY" --threads "$THREADS" --rounds "$PEER_ROUNDS" "${sel[@]}" $PEER_ARGS \
    --json "$OUT/peers.json" >"$OUT/peers.txt" 2>&1 || die "peers.py failed, see $OUT/peers.txt"
  PEERS_JSON="$OUT/peers.json"
fi

"$PY_ANY" "$ROOT/bench/report.py" "$OUT/tessera.jsonl" ${PEERS_JSON:+"$PEERS_JSON"} | tee "$OUT/table.md"
if [[ "$SKIP_PROBES" != 1 ]]; then
  "$PY_ANY" "$ROOT/bench/report.py" --probes "$OUT/fma_peak.jsonl" "$OUT/compile.jsonl" "$OUT/tessera.jsonl" | tee -a "$OUT/table.md"
fi
note "done: ${OUT#$ROOT/}"
