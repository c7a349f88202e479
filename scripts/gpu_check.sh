#!/usr/bin/env bash
# gpu_check.sh: llmts's speed on one CUDA GPU, no network, in about 6 minutes.
#
#   bash scripts/gpu_check.sh [OUT_DIR]          # from the repo root; OUT_DIR default outputs/gpu_check/<time>
#
# 1. llmts-bench (python -m llmts.cli.bench) bench=gpu on model=qwen2.5-0.5b-arch: the real
#    Qwen2.5-0.5B shapes with seeded random weights (no download): naive vs fast vs compiled
#    (train.compile, regions unless set) training step (the production train_step) at B4 and
#    B32 x L512, sequential vs batched greedy (static and dynamic KV cache) vs batched sampling
#    (20 samples a series), MFU, then a profile of the sampling decode (ops by GPU time)
#                                                 -> OUT_DIR/bench/bench.json, bench/profile.txt
#    (rewritten after each section: a bench cut short by BENCH_TIMEOUT keeps its train rows)
# 2. a 50-step train + eval of the same model with llmts itself (100 test series, greedy, no
#    baselines)                                                       -> OUT_DIR/run/
# 3. one table: bench.json's key numbers, the run's wall time and tokens/s (train_history.csv).
#
# Installs nothing. Needs torch (CUDA), transformers, peft, accelerate, h5py, scipy, matplotlib and
# hydra-core/omegaconf: install missing wheels yourself and pass them on PYTHONPATH, e.g.
#   pip install --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
# The repo root is put in front of PYTHONPATH, so llmts need not be installed. Also runs on CPU
# (slowly; shrink it with the variables below).
# Environment (optional):
#   BENCH_ARGS     more Hydra overrides for the bench; later ones win (e.g. "model=tiny", or
#                  "train.compile=step" to time the CUDA-graph step instead: its cold start can
#                  take minutes, so raise BENCH_TIMEOUT with it)
#   RUN_ARGS       more Hydra overrides for the 50-step run, likewise
#   BENCH_TIMEOUT  seconds for step 1 (default 330);  RUN_TIMEOUT  seconds for step 2 (default 140)
#   LLMTS_CACHE    simulated-data cache (default OUT_DIR/cache)
# Exit status: 0 when both steps finished, 1 otherwise (the table shows what there is).
set -uo pipefail

OUT_DIR=${1:-outputs/gpu_check/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export LLMTS_CACHE=${LLMTS_CACHE:-$OUT_DIR/cache}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled PYTHONUNBUFFERED=1
PY=${PYTHON:-python}
MODEL=model=qwen2.5-0.5b-arch

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv,noheader
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

# Sizes (conf/bench/gpu.yaml, trimmed): B4 and B32 x L512 training steps, 100 series x 20 steps
# ahead after 51, 20 samples per series for sampling (2000 rows in one batch; the profile
# forecasts 2 steps of it), 2 series timed one at a time.
t0=$(date +%s.%N)
# shellcheck disable=SC2086  # BENCH_ARGS is a list of overrides
timeout "${BENCH_TIMEOUT:-330}" "$PY" -m llmts.cli.bench $MODEL bench=gpu \
    "bench.sections=[train,eval,profile]" "bench.paths=[naive,fast,compiled]" \
    bench.warmup=1 bench.repeats=2 bench.sequential_series=2 \
    ${BENCH_ARGS:-} hydra.run.dir="$OUT_DIR/bench" 2>&1 | tee "$OUT_DIR/bench.log"
bench_rc=${PIPESTATUS[0]}
t1=$(date +%s.%N)
# shellcheck disable=SC2086
timeout "${RUN_TIMEOUT:-140}" "$PY" -m llmts $MODEL logger=none train.max_steps=50 \
    train.eval_every=50 train.val_batches=4 eval.num_series=100 eval.baselines=false \
    ${RUN_ARGS:-} hydra.run.dir="$OUT_DIR/run" 2>&1 | tee "$OUT_DIR/run.log"
run_rc=${PIPESTATUS[0]}
t2=$(date +%s.%N)

"$PY" - "$OUT_DIR" "$bench_rc" "$run_rc" "$t0" "$t1" "$t2" <<'EOF'
import csv, json, statistics, sys
from pathlib import Path

out, bench_rc, run_rc = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t0, t1, t2 = map(float, sys.argv[4:7])
rows = [("bench exit status / wall s", f"{bench_rc} / {t1 - t0:.0f}")]
pct = lambda x: "-" if x is None else f"{x:.1%}"
try:
    b = json.loads((out / "bench" / "bench.json").read_text())
    rows += [("device", b["device"]), ("torch / transformers", f"{b['torch']} / {b['transformers']}"),
             ("bench sections done", ", ".join(b["sections"]))]
    for t in b.get("train", {}).get("shapes", []):
        shape = f"B{t['batch_size']} x L{t['seq_len']}"
        for p in [p for p in ("naive", "fast", "compiled") if p in t]:
            s = t[p]
            rows.append((f"train {shape} {p} ({s['attn_implementation']}, {s['loss']}, {s['dtype']})",
                         f"{s['ms_per_step']:.1f} ms/step, {s['tokens_per_s']:.0f} tok/s, "
                         f"{s['achieved_tflops_study']:.1f} TFLOP/s, MFU {pct(s['mfu_study'])} "
                         f"(gqa {pct(s['mfu_gqa'])}), {s['peak_memory_mb']:.0f} MB"))
        if "speedup" in t:
            rows.append((f"train {shape} speedup (fast/naive)", f"{t['speedup']:.2f}x"))
        if "compiled" in t and "compile_speedup" in t:
            rows.append((f"train {shape} compile: first step / speedup",
                         f"{t['compiled']['first_step_s']:.0f} s / {t['compile_speedup']:.2f}x fast"))
    e = b["eval"]
    for m in [k for k in e if k.startswith(("sequential_", "batched_"))]:
        s = e[m]
        rows.append((f"eval {m.replace('_', ' ')} (bs {s['batch_rows']})",
                     f"{s['series_per_s']:.2f} series/s, {s['new_tokens_per_s']:.0f} tok/s, "
                     f"{s['peak_memory_mb']:.0f} MB"))
    rows += [("eval speedup greedy / sampling",
              f"{b['eval_speedup_greedy']:.1f}x / {b['eval_speedup_sampling']:.1f}x"),
             ("static / dynamic KV cache (greedy)", f"{e['static_cache_speedup']:.2f}x"),
             ("llmts engine / hf static (greedy)", f"{e['engine_speedup_greedy']:.2f}x"),
             ("note", b["mfu_note"])]
    if "profile" in b:
        p = b["profile"]
        rows.append((f"profile: sampling {p['rows']} rows x {p['horizon']} steps, eager",
                     f"{p['total_ms']:.0f} ms of {p['sort']}"))
        rows += [(f"  {t['op'][:60]}", f"{t['ms']:.1f} ms ({t['share']:.0%}), {t['calls']} calls")
                 for t in p["top"][:8]]
except (OSError, KeyError, ValueError) as exc:
    rows.append(("bench.json", f"missing or unreadable ({exc})"))
rows.append(("50-step run exit status / wall s", f"{run_rc} / {t2 - t1:.0f}"))
try:
    with open(out / "run" / "train_history.csv") as f:
        hist = [r for r in csv.DictReader(f) if r["tokens_per_s"]]
    tok = [float(r["tokens_per_s"]) for r in hist[1:]] or [float(r["tokens_per_s"]) for r in hist]
    rows.append(("run train tokens/s (median, steps 2+)", f"{statistics.median(tok):.0f}"))
    losses = [float(r["loss"]) for r in hist]
    rows.append(("run train loss first -> last", f"{losses[0]:.3f} -> {losses[-1]:.3f}"))
    m = json.loads((out / "run" / "metrics.json").read_text())
    rows.append(("run eval", f"{m.get('num_series')} series, parse rate {m.get('parse_rate')}, "
                             f"status {m.get('status')}"))
except (OSError, KeyError, ValueError, IndexError) as exc:
    rows.append(("run history", f"missing or unreadable ({exc})"))
width = max(len(k) for k, _ in rows)
print("\n== gpu_check " + "=" * 60)
print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
print(f"files: {out}")
EOF
[ "$bench_rc" -eq 0 ] && [ "$run_rc" -eq 0 ]
