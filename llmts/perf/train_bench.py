"""``llmts-bench``'s training section: ``train_step`` itself (what ``llmts`` runs) timed at each
B x L of ``bench.train_shapes`` for each recipe of ``bench.paths``, on fresh seeded weights."""

from __future__ import annotations

import contextlib
import logging
import statistics

import torch
from omegaconf import DictConfig, OmegaConf

from llmts.config.choices import BenchPath
from llmts.perf.measure import peak_flops, peak_mb, reset_peak, timed

log = logging.getLogger("llmts.perf.bench")
TOKENS = (11, 27)  # token IDs 11..26: , - . / 0-9 : ; (Qwen2's IDs; the tiny tokenizer shares them)


def train_section(cfg: DictConfig, fresh, fast_cfg, name: str) -> dict:
    """Every path at every B x L, each on fresh weights (the same seeded ones)."""
    from llmts.train.loop import make_accelerator

    accelerator = make_accelerator(cfg.train.precision)
    naive_cfg = OmegaConf.merge(cfg.model, {"attn_implementation": "eager", "dtype": "float32"})
    shapes = []
    for shape in cfg.bench.train_shapes:
        res = {"batch_size": shape[0], "seq_len": shape[1]}
        for path in cfg.bench.paths:
            net = fresh(naive_cfg, kernels=False) if path == "naive" else fresh(fast_cfg)
            res[path] = bench_train(cfg, net, path, list(shape), accelerator, name)
            del net
        if "naive" in res and "fast" in res:
            res["speedup"] = res["fast"]["tokens_per_s"] / res["naive"]["tokens_per_s"]
            res["initial_loss_diff"] = abs(
                res["fast"]["initial_loss"] - res["naive"]["initial_loss"]
            )
        if "compiled" in res and "fast" in res:
            res["compile_speedup"] = res["compiled"]["tokens_per_s"] / res["fast"]["tokens_per_s"]
        shapes.append(res)
    first = shapes[0].get("fast") or shapes[0][cfg.bench.paths[0]]
    return {
        "train_speedup": shapes[0].get("speedup"),
        "mfu": first["mfu_study"],
        "mfu_gqa": first["mfu_gqa"],
        "dtype": first["dtype"],
        "train": {"paths": [str(p) for p in cfg.bench.paths], "shapes": shapes},
    }


def bench_train(cfg: DictConfig, net, path: str, shape: list[int], accelerator, name: str) -> dict:
    """Time ``train_step`` (what ``llmts`` runs: Accelerate, autocast, clipping, fused AdamW,
    LR schedule, the batch's copy to the device) on B x L = ``shape`` random digit/separator
    batches for the ``path`` recipe: "fast" (the run's config, uncompiled), "naive" (fp32
    without autocast, full logits) or "compiled" (fast + ``train.compile``'s mode, regions when
    that is none; its first, compiling step reported apart)."""
    from llmts.codec.windows import Windows
    from llmts.perf.flops import counted_flops, train_step_flops
    from llmts.train.loop import device_batch, make_step_parts, train_step
    from llmts.train.loss import CHUNK, make_loss

    b, fast, device = cfg.bench, path != "naive", accelerator.device
    bsz, seq = shape
    chunked = fast and cfg.train.chunked_loss
    n = b.warmup + b.repeats + 1
    mode = str(cfg.train.compile)  # the compiled path's; regions when the run's is none
    compiled = "none" if path != "compiled" else mode if mode != "none" else "regions"
    parts, _, _ = make_step_parts(
        net, cfg.optimizer, n, accelerator, chunked=chunked, compiled=compiled, autocast=fast
    )
    ids = torch.randint(*TOKENS, (n * bsz, seq), generator=torch.Generator().manual_seed(cfg.seed))
    windows = Windows(ids, torch.full((len(ids),), seq))  # unpadded
    amp = fast and accelerator.native_amp
    net.train()
    with torch.no_grad(), accelerator.autocast() if amp else contextlib.nullcontext():
        initial = float(
            make_loss(net, chunked, compiled="none")(  # uncompiled: step 1 compiles
                **device_batch(windows, list(range(bsz)), device)
            )
        )
    calls = iter(range(1 << 62))

    def step():
        i = next(calls) % n
        train_step(parts, [device_batch(windows, list(range(i * bsz, (i + 1) * bsz)), device)])

    reset_peak(device)
    first = timed(step, 0, 1, device)[0]
    secs = timed(step, b.warmup, b.repeats, device)
    # The matmuls this step really ran (frozen weights get no weight gradients); a compiled step
    # runs the same math, so it is counted eagerly, once, outside the timing.
    counted = counted_flops(step) if compiled == "none" else None
    accelerator.free_memory()  # drop Accelerate's references to this path's model/optimizer
    med = statistics.median(secs)
    weights = str(next(net.parameters()).dtype).removeprefix("torch.")
    dtype = {"bf16": "bfloat16", "fp16": "float16"}.get(accelerator.mixed_precision, weights)
    dtype = dtype if amp else weights
    peak, _ = peak_flops(name, dtype)
    log.info("train %s B%d L%d: %.1f ms/step", path, bsz, seq, 1e3 * med)
    out = {
        "attn_implementation": net.config._attn_implementation,
        "loss": f"chunked CE ({CHUNK})" if chunked else "full logits",
        "dtype": dtype,
        "autocast": amp,
        "initial_loss": initial,
        "first_step_s": first,
        "compiled": compiled != "none",
        "compile_mode": compiled,
        "ms_per_step": 1e3 * med,
        "ms_all": [1e3 * s for s in secs],
        "tokens_per_s": bsz * seq / med,
        "peak_memory_mb": peak_mb(device),
    }
    for acc, gqa in (("study", False), ("gqa", True)):
        flops = train_step_flops(cfg.model, bsz, seq, gqa=gqa)
        out[f"achieved_tflops_{acc}"] = flops / med / 1e12
        out[f"mfu_{acc}"] = flops / med / peak if peak else None
    out["counted_flops_per_step"] = counted
    out["mfu_counted"] = counted / med / peak if peak and counted else None
    return out


def train_lines(r: dict) -> list[str]:
    pct = lambda x: "-" if x is None else f"{x:.1%}"  # noqa: E731
    out = []
    for t in r["train"]["shapes"]:
        head = f"train step, B={t['batch_size']} L={t['seq_len']}"
        out.append(
            f"{head:<39}{'ms/step':>9}{'tokens/s':>11}{'TFLOP/s':>9}{'MFU stdy':>9}"
            f"{'MFU gqa':>9}{'MFU cnt':>9}{'peak MB':>9}"
        )
        for path in [str(k) for k in BenchPath if k in t]:
            p = t[path]
            what = f"{path} ({p['attn_implementation']}, {p['loss'].split(' (')[0]}, {p['dtype']})"
            out.append(
                f"  {what:<37}{p['ms_per_step']:9.1f}{p['tokens_per_s']:11.0f}"
                f"{p['achieved_tflops_study']:9.2f}{pct(p['mfu_study']):>9}"
                f"{pct(p['mfu_gqa']):>9}{pct(p.get('mfu_counted')):>9}"
                f"{p['peak_memory_mb']:9.0f}"
            )
        if "speedup" in t:
            out.append(
                f"  speedup (fast / naive tokens/s): {t['speedup']:.2f}x; initial loss "
                f"naive {t['naive']['initial_loss']:.4f}, fast {t['fast']['initial_loss']:.4f}"
            )
        if "compiled" in t:
            c = t["compiled"]
            out.append(
                f"  compiled: first step (compiling) {c['first_step_s']:.1f} s"
                + (f", then {t['compile_speedup']:.2f}x fast's tokens/s" if "fast" in t else "")
                + f"; initial loss {c['initial_loss']:.4f}"
            )
    return out
