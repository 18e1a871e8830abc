#!/usr/bin/env python3
"""bench/report.py: turn one bench/run.sh run into a markdown table.

Usage: report.py RESULTS/tessera.jsonl [RESULTS/peers.json]
       report.py --probes RESULTS/fma_peak.jsonl RESULTS/compile.jsonl RESULTS/tessera.jsonl

For each workload case (peers.py's case names and work counts: flops for
GFLOP/s, bytes read + written for GB/s), prints Tessera's interp and cpu
times (best round median, as peers.py reports its peers, with the spread of
round medians), the metric, the best peer of the same run (at the highest
thread count it ran) and the ratios to that peer and to the machine limits
peers.py measured (f32 FMA peaks with 128-bit and 256-bit vectors, STREAM
triad), plus the compile times (`compile_ms` of `tessera bench`).
Only the standard library is used; peers.py is imported for the work counts.
"""
import importlib.util
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_PY = os.path.join(HERE, "..", "..", "shared", "bench", "peers.py")


def load_cases():
    spec = importlib.util.spec_from_file_location("peers", PEERS_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {c: (w, u, work) for w, c, u, work in mod.cases()}


def tessera_summary(path):
    """(case, backend) -> dict(best, spread, compile_ms, rounds) or dict(refused)."""
    by = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                by.setdefault((r["case"], r["backend"]), []).append(r)
    out = {}
    for key, rs in by.items():
        ok = [r for r in rs if "run_ms" in r]
        if ok:
            meds = [r["run_ms"]["median"] for r in ok]
            best = min(meds)
            out[key] = dict(best_ms=best, spread_pct=(max(meds) - best) / best * 100,
                            compile_ms=statistics.median(r["compile_ms"] for r in ok),
                            compile_min_ms=min(r["compile_ms"] for r in ok),
                            rounds=len(ok), iters=ok[0]["iters"], failed=len(rs) - len(ok))
        else:
            out[key] = dict(refused=rs[0].get("refused", "?"), rc=rs[0].get("rc"))
    return out


def peers_summary(doc):
    """case -> (peer, value, ms) best correct peer at the highest thread count; limits."""
    summ = [s for s in doc.get("summary", []) if "value" in s and s.get("check_ok", True)]
    tmax = max((s["threads"] for s in summ), default=None)
    best = {}
    for s in summ:
        if s["threads"] != tmax:
            continue
        if s["case"] not in best or s["value"] > best[s["case"]]["value"]:
            best[s["case"]] = s
    lim = doc.get("limits", {})
    peak = next((r for r in lim.get("c_peak", []) if r.get("threads") == tmax), None)
    stream = next((r for r in lim.get("c_stream", []) if r.get("threads") == tmax), None)
    return best, tmax, peak, stream


def probes(peak_path, compile_path, tessera_path):
    """The Cranelift f32x4 FMA peak, each case's cpu GFLOP/s as a fraction of it, and the
    compile time of every example."""
    peaks = {}
    with open(peak_path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                peaks[r["threads"]] = r["gflops"]
    tmax = max(peaks) if peaks else None
    print()
    print("Cranelift f32x4 FMA peak (same run): " +
          ", ".join(f"{g:.1f} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t, g in sorted(peaks.items())))
    cases = load_cases()
    ts = tessera_summary(tessera_path)
    if tmax:
        print()
        print(f"| case | cpu GFLOP/s | of the Cranelift f32x4 peak ({peaks[tmax]:.1f}) |")
        print("| --- | --- | --- |")
        for c, (wl, unit, work) in cases.items():
            s = ts.get((c, "cpu"))
            if unit != "GFLOP/s" or not s or "refused" in s:
                continue
            g = work / (s["best_ms"] * 1e-3) / 1e9
            print(f"| {c} | {g:.1f} | {g / peaks[tmax]:.2f} |")
    by = {}
    with open(compile_path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                by.setdefault(r["file"], []).append(r["compile_ms"])
    print()
    print("JIT compile time of each example (load + check + lower + Cranelift, best / median ms):")
    print()
    print("| example | best ms | median ms |")
    print("| --- | --- | --- |")
    for file, ms in sorted(by.items()):
        print(f"| {file} | {min(ms):.1f} | {statistics.median(ms):.1f} |")


# Flops per element of the bandwidth-bound cases, counting each arithmetic operation of
# the definition once and a transcendental function as one (the convention of roofline
# analyses; an implementation spends more). gelu_ln: x * a + b (2); gelu_tanh(u) = 0.5 u
# (1 + tanh(c (u + 0.044715 u^3))) (9: u^2, u^3, the scale, + u, * c, tanh, + 1, * u,
# * 0.5); layernorm (7: the sum, centring, square, the sum of squares, * rstd, * gamma,
# + beta; per-row work is negligible).
FLOPS_PER_ELEMENT = {"gelu_ln": 18}


def roofline_ms(case, work_bytes, triad_gbs, fma128_gflops):
    """Issue 3's roofline of a bandwidth-bound case: the larger of its bytes over the STREAM
    triad and its flops over the f32x4 FMA peak (None if a term is unknown)."""
    per = next((f for p, f in FLOPS_PER_ELEMENT.items() if case.startswith(p)), None)
    if per is None or not triad_gbs or not fma128_gflops:
        return None
    elements = work_bytes / 8  # read x and write y, 4 bytes each
    return max(work_bytes / (triad_gbs * 1e9), per * elements / (fma128_gflops * 1e9)) * 1e3


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--probes":
        probes(*sys.argv[2:])
        return
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    cases = load_cases()
    ts = tessera_summary(sys.argv[1])
    best, tmax, peak, stream = ({}, None, None, None)
    if len(sys.argv) == 3:
        with open(sys.argv[2]) as f:
            best, tmax, peak, stream = peers_summary(json.load(f))
    fma128 = peak.get("fma128_gflops") if peak else None
    fma256 = peak.get("fma256_gflops") if peak else None
    triad = stream.get("triad_best_gbs") if stream else None

    def fmt_t(s):
        if s is None:
            return "-", None
        if "refused" in s:
            return "refused", None
        return f"{s['best_ms']:.2f} (±{s['spread_pct']:.0f}%)", s["best_ms"]

    order = [c for c in cases if any(k[0] == c for k in ts)]
    print(f"Tessera: best round median in ms (spread of round medians); peers at {tmax} threads.")
    if peak:
        print(f"Machine limits (peers.py, {tmax} threads): FMA128 {fma128:.1f} GFLOP/s, "
              f"FMA256 {fma256:.1f} GFLOP/s, clock {peak.get('clock_ghz', 0):.2f} GHz"
              + (f", STREAM triad {triad:.1f} GB/s" if triad else ""))
    print()
    print("| case | id | unit | interp ms | cpu ms | interp | cpu | best peer | peer ms | peer | "
          "cpu / peer | cpu / limit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in order:
        wl, unit, work = cases[c]
        ti, vi = fmt_t(ts.get((c, "interp")))
        tc, vc = fmt_t(ts.get((c, "cpu")))
        val = lambda ms: work / (ms * 1e-3) / 1e9
        mi = f"{val(vi):.2f}" if vi else "-"
        mc = f"{val(vc):.2f}" if vc else "-"
        b = best.get(c)
        if b:
            bp, bms, bv = b["peer"], f"{b['best_median_s'] * 1e3:.2f}", f"{b['value']:.1f}"
            rp = f"{val(vc) / b['value']:.3f}" if vc else "-"
        else:
            bp = bms = bv = rp = "-"
        lim = triad if unit == "GB/s" else fma128
        lname = "triad" if unit == "GB/s" else "FMA128"
        rl = f"{val(vc) / lim:.3f} of {lname}" if (vc and lim) else "-"
        roof = roofline_ms(c, work, triad, fma128) if unit == "GB/s" else None
        if vc and roof:
            rl += f"; {roof / vc:.3f} of roofline {roof:.2f} ms"
        print(f"| {c} | {wl} | {unit} | {ti} | {tc} | {mi} | {mc} | {bp} | {bms} | {bv} | {rp} | {rl} |")
    print()
    print("Compile time (`compile_ms` of `tessera bench`: load + check + lower + JIT, median over rounds):")
    print()
    print("| case | interp compile ms | cpu compile ms |")
    print("| --- | --- | --- |")
    for c in order:
        row = []
        for be in ("interp", "cpu"):
            s = ts.get((c, be))
            row.append("-" if s is None else ("refused" if "refused" in s else f"{s['compile_ms']:.1f}"))
        print(f"| {c} | {row[0]} | {row[1]} |")
    refusals = [(k, s) for k, s in ts.items() if "refused" in s]
    if refusals:
        print()
        print("Refusals / failures:")
        for (c, be), s in sorted(refusals):
            msg = " ".join(s["refused"].split())[:300]
            print(f"- {c} {be} (exit {s['rc']}): {msg}")


if __name__ == "__main__":
    main()
