"""The benchmark behind ``llmts-bench`` (:mod:`llmts.cli.bench`; schema
:mod:`llmts.config.bench`): what llmts's speed choices buy, measured in one process; every
number is the median of ``bench.repeats`` device-synchronised repeats after ``bench.warmup``.
``bench.sections`` chooses and orders the sections; ``bench.json`` is rewritten after each.

train (llmts/perf/train_bench.py): the production ``train_step`` at each B x L of
``bench.train_shapes``, for each of ``bench.paths``: NAIVE (fp32, eager attention, full-vocab
logits: the study's setup) vs FAST (the run's config: sdpa, chunked CE; on CUDA bf16 autocast,
and with LoRA the frozen base stored in bf16) vs COMPILED (fast + ``train.compile``, its
compiling first step apart), same seeded weights.
eval: sequential greedy (a ``forecast`` per series) vs batched greedy and sampling with llmts's
decode loop vs HF ``generate`` with the static and the dynamic KV cache (batches halved on CUDA
OOM, batch recorded), on simulated Lotka-Volterra.
profile (only when asked for): one eager sampled forecast under ``torch.profiler``, its ops by
self time. MFU is null unless bf16 on a GPU of known
peak (``mfu_note`` says why); "stdy"/"gqa" divide the analytic FLOPs of a full step (study /
true shapes), "cnt" those FlopCounterMode counted in one production step (LoRA's true cost, so
lower). Memory:
CUDA max allocated or peak RSS (per phase via /proc/self/clear_refs where allowed). Writes
``bench.json`` in the run dir; prints a table."""

from __future__ import annotations

import gc
import logging
import math
import os
import platform
import statistics
from dataclasses import replace
from pathlib import Path

import torch
import transformers
from omegaconf import DictConfig, OmegaConf

from llmts.config.bench import BenchRunConfig
from llmts.perf.estimate import architecture
from llmts.perf.measure import peak_flops, peak_mb, reset_peak, timed
from llmts.perf.train_bench import train_section
from llmts.tracking.files import write_json
from llmts.tracking.machine import device_name

log = logging.getLogger("llmts.perf.bench")


def eval_inputs(cfg: DictConfig):
    """The eval and profile sections' inputs: ``bench.eval_series`` contexts of simulated
    Lotka-Volterra (``bench.context_steps`` steps at the default data's time step), and the
    greedy and sampling (Qwen's generation config, ``bench.eval_samples`` a series) decodings."""
    from llmts.config.schema import DecodingConfig
    from llmts.data.series import simulate_lotka_volterra

    b, d = cfg.bench, cfg.data
    steps = b.context_steps + b.horizon
    t_max = d.t_max * (steps - 1) / max(d.num_steps - 1, 1)
    series, _ = simulate_lotka_volterra(b.eval_series, steps, t_max, cfg.seed)
    base = DecodingConfig(**OmegaConf.to_container(cfg.decoding, resolve=True))
    # The grammar's integer-digit cap is per series, so every mode decodes the same grammar.
    greedy = replace(base, do_sample=False, num_samples=1)
    sampling = replace(
        base, do_sample=True, temperature=0.7, top_k=20, top_p=0.8, num_samples=b.eval_samples
    )
    return series[:, : b.context_steps], greedy, sampling


def bench_profile(cfg: DictConfig, net, codec, device, out_dir: Path | None) -> dict:
    """The eval section's batched sampling (all its rows in one batch), forecasting
    ``bench.profile_horizon`` steps eagerly (no CUDA graph, so each op is seen) under
    ``torch.profiler`` after one warm-up call: the ``bench.profile_rows`` ops of most self
    device time (self CPU time on a CPU), in ms over the call and as a share of the total;
    the profiler's table is written to ``profile.txt``."""
    from torch.profiler import ProfilerActivity, profile

    from llmts.forecast.batch import forecast

    b, cuda = cfg.bench, device.type == "cuda"
    ctx, _, sampling = eval_inputs(cfg)
    dec = replace(sampling, engine="llmts", cuda_graphs=False)
    rows = len(ctx) * dec.num_samples
    net.eval()

    def call():
        return forecast(net, codec, ctx, b.profile_horizon, dec, batch_size=rows, seed=cfg.seed)

    call()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        call()
        if cuda:
            torch.cuda.synchronize()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    averages = prof.key_averages()
    ops = sorted(averages, key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in ops)  # microseconds
    if out_dir is not None:
        (out_dir / "profile.txt").write_text(
            averages.table(sort_by=key, row_limit=b.profile_rows) + "\n"
        )
    log.info(
        "profile: %d rows x %d steps, %.1f ms of %s", rows, b.profile_horizon, total / 1e3, key
    )
    return {
        "rows": rows,
        "horizon": b.profile_horizon,
        "sort": key,
        "total_ms": total / 1e3,
        "top": [
            {
                "op": e.key,
                "calls": e.count,
                "ms": getattr(e, key) / 1e3,
                "share": getattr(e, key) / total if total else 0.0,
            }
            for e in ops[: b.profile_rows]
        ],
    }


def bench_eval(cfg: DictConfig, net, codec, device) -> dict:
    """Series/s of sequential greedy and of batched greedy and sampling with llmts's decode loop
    (``decoding.engine=llmts``) beside HF ``generate`` (static and dynamic KV cache)."""
    from llmts.forecast.batch import forecast

    b = cfg.bench
    ctx, greedy, sampling = eval_inputs(cfg)
    net.eval()

    def mode(contexts, dec, batch: int, per_series: bool) -> dict:
        last = {}
        decoders: dict = {}  # as a long-lived Forecaster: CUDA graphs captured while warming up

        def call():
            parts = (
                [contexts[i : i + 1] for i in range(len(contexts))] if per_series else [contexts]
            )
            last["res"] = [
                forecast(
                    net,
                    codec,
                    c,
                    b.horizon,
                    dec,
                    batch_size=batch,
                    seed=cfg.seed,
                    decoders=decoders,
                )
                for c in parts
            ]

        while True:
            reset_peak(device)
            try:
                secs = timed(call, b.warmup, b.repeats, device)
                break
            except torch.cuda.OutOfMemoryError:
                if device.type != "cuda" or batch == 1:
                    raise
            batch = math.ceil(batch / 2)  # out here the failed call's tensors are gone
            log.warning("CUDA out of memory: retrying with batch %d rows", batch)
            last.clear(), decoders.clear(), gc.collect(), torch.cuda.empty_cache()
        med, res = statistics.median(secs), last["res"]
        texts = [t for r in res for t in r.texts]
        new_tokens = sum(map(len, codec.tokenizer(texts, add_special_tokens=False)["input_ids"]))
        log.info(
            "eval %s: %.3f s for %d series",
            "sequential" if per_series else f"batched x{dec.num_samples if dec.do_sample else 1}",
            med,
            len(contexts),
        )
        return {
            "series": len(contexts),
            "rows": len(texts),
            "batch_rows": batch,
            "s_per_repeat": med,
            "s_all": secs,
            "series_per_s": len(contexts) / med,
            "new_tokens": new_tokens,
            "new_tokens_per_s": new_tokens / med,
            "parse_rate": sum(r.parsed_steps for r in res) / sum(r.total_steps for r in res),
            "peak_memory_mb": peak_mb(device),
        }

    seq = mode(ctx[: b.sequential_series], greedy, 1, per_series=True)
    hf = replace(greedy, engine="hf")
    rows = {
        "batched_greedy": mode(ctx, replace(greedy, engine="llmts"), b.eval_series, False),
        "batched_greedy_hf_static": mode(
            ctx, replace(hf, cache_implementation="static"), b.eval_series, False
        ),
        "batched_greedy_hf_dynamic": mode(
            ctx, replace(hf, cache_implementation="dynamic"), b.eval_series, False
        ),
        "batched_sampling": mode(
            ctx, replace(sampling, engine="llmts"), b.eval_series * b.eval_samples, False
        ),
    }
    if b.hf_sampling:  # HF generate with 20 samples a series is slow: optional
        rows["batched_sampling_hf_static"] = mode(
            ctx,
            replace(sampling, engine="hf", cache_implementation="static"),
            b.eval_series * b.eval_samples,
            False,
        )
    per_s = {k: v["series_per_s"] for k, v in rows.items()}
    out = {
        "series": b.eval_series,
        "context_steps": b.context_steps,
        "horizon": b.horizon,
        "samples": b.eval_samples,
        "sequential_greedy": seq,
        **rows,
        "speedup_greedy": per_s["batched_greedy"] / seq["series_per_s"],
        "speedup_sampling": per_s["batched_sampling"] / seq["series_per_s"],
        "engine_speedup_greedy": per_s["batched_greedy"] / per_s["batched_greedy_hf_static"],
        "static_cache_speedup": per_s["batched_greedy_hf_static"]
        / per_s["batched_greedy_hf_dynamic"],
    }
    if b.hf_sampling:
        out["engine_speedup_sampling"] = (
            per_s["batched_sampling"] / per_s["batched_sampling_hf_static"]
        )
    return out


def run(cfg: DictConfig, out_dir: Path | None = None) -> dict:
    """The chosen sections in order; ``bench.json`` is (re)written in ``out_dir`` after each,
    so a run cut short keeps what it measured."""
    from llmts.codec.codec import Codec
    from llmts.codec.tokenizer import load_tokenizer
    from llmts.model.build import build_model, count_parameters, resolve_dtype
    from llmts.model.kernels import apply_kernels

    b = cfg.bench
    BenchRunConfig.check(cfg)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = device_name(device)
    codec = Codec.build(cfg.data, load_tokenizer(cfg.model))
    log.info("benchmarking %s on %s", cfg.model.name, name)

    def fresh(model_cfg, kernels: bool = True) -> torch.nn.Module:
        """The same seeded weights for every path, built as a run builds them; ``kernels``:
        the run's ``train.kernels`` (not on the naive path)."""
        gc.collect()
        torch.cuda.empty_cache() if device.type == "cuda" else None
        net = build_model(model_cfg, cfg.lora, cfg.seed, codec, device).to(device)
        if kernels:
            apply_kernels(net, cfg.train.kernels)
        return net

    fast_cfg = cfg.model  # model.dtype=auto: on CUDA with LoRA the base in bf16, adapters fp32
    memory = "cuda max_memory_allocated" if device.type == "cuda" else "peak RSS (ru_maxrss)"
    weights = str(resolve_dtype(fast_cfg.dtype, cfg.lora.enabled)).removeprefix("torch.")
    result = {
        "device": name,
        "device_type": device.type,
        "weights_dtype": weights,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "model": cfg.model.name,
        "architecture": architecture(cfg.model),
        "sections": [],
        "memory": memory + (" per phase" if reset_peak(device) else ", whole process so far"),
        "bench": OmegaConf.to_container(b, resolve=True),
    }
    for section in b.sections:
        if section == "train":
            result.update(train_section(cfg, fresh, fast_cfg, name))
        elif section == "profile":
            net = fresh(fast_cfg)
            result["profile"] = bench_profile(cfg, net, codec, device, out_dir)
            del net
        else:
            net = fresh(fast_cfg)
            result["params_trainable"], result["params_total"] = count_parameters(net)
            evaluation = result["eval"] = bench_eval(cfg, net, codec, device)
            del net
            result["eval_speedup_greedy"] = evaluation["speedup_greedy"]
            result["eval_speedup_sampling"] = evaluation["speedup_sampling"]
        result["sections"].append(section)
        result["peak_flops"], result["mfu_note"] = peak_flops(name, result.get("dtype", weights))
        if out_dir is not None:
            write_json(out_dir / "bench.json", result)
    return result
