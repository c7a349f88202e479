"""``llmts-bench`` (or ``python -m llmts.perf.bench``): its own primary config (``conf/bench.yaml``:
a run's groups plus ``bench``); what llmts's speed choices buy, measured in one process; every
number is the median of ``bench.repeats`` device-synchronised repeats after ``bench.warmup``.
``bench.sections`` chooses and orders the sections; ``bench.json`` is rewritten after each.

train (llmts/perf/train_bench.py): the production ``train_step`` at each B x L of
``bench.train_shapes``, for each of ``bench.paths``: NAIVE (fp32, eager attention, full-vocab
logits: the study's setup) vs FAST (the run's config: sdpa, chunked CE; on CUDA bf16 autocast,
and with LoRA the frozen base stored in bf16) vs COMPILED (fast + ``train.compile``, its
compiling first step apart), same seeded weights.
eval: sequential greedy (a ``forecast`` per series) vs batched greedy and sampling with llmts's
decode loop vs HF ``generate`` with the static and the dynamic KV cache (batches halved on CUDA
OOM, batch recorded), on simulated Lotka-Volterra. MFU is null unless bf16 on a GPU of known
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
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import List

import hydra
import torch
import transformers
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from llmts.config.compose import preflight, register_configs
from llmts.config.choices import option
from llmts.config.schema import CONF_DIR, Config, check
from llmts.errors import LlmtsError, exit_on_error
from llmts.perf.estimate import architecture
from llmts.tracking.files import write_json
from llmts.perf.measure import device_name, peak_flops, peak_mb, reset_peak, timed
from llmts.perf.train_bench import PATHS, train_lines, train_section

log = logging.getLogger("llmts.perf.bench")


def bench_eval(cfg: DictConfig, net, codec, device) -> dict:
    """Series/s of sequential greedy and of batched greedy and sampling with llmts's decode loop
    (``decoding.engine=llmts``) beside HF ``generate`` (static and dynamic KV cache)."""
    from llmts.config.schema import DecodingConfig
    from llmts.data.series import simulate_lotka_volterra
    from llmts.forecast.batch import forecast

    b, d = cfg.bench, cfg.data
    steps = b.context_steps + b.horizon
    t_max = d.t_max * (steps - 1) / max(d.num_steps - 1, 1)  # the default data's time step
    series, _ = simulate_lotka_volterra(b.eval_series, steps, t_max, cfg.seed)
    ctx = series[:, : b.context_steps]
    base = DecodingConfig(**OmegaConf.to_container(cfg.decoding, resolve=True))
    # The grammar's integer-digit cap is per series, so every mode decodes the same grammar.
    greedy = replace(base, do_sample=False, num_samples=1)
    sampling = replace(base, do_sample=True, temperature=0.7, top_k=20, top_p=0.8,
                       num_samples=b.eval_samples)
    net.eval()

    def mode(contexts, dec, batch: int, per_series: bool) -> dict:
        last = {}
        decoders: dict = {}  # as a long-lived Forecaster: CUDA graphs captured while warming up

        def call():
            parts = [contexts[i:i + 1] for i in range(len(contexts))] if per_series else [contexts]
            last["res"] = [forecast(net, codec, c, b.horizon, dec, batch, cfg.seed, decoders)
                           for c in parts]
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
        log.info("eval %s: %.3f s for %d series", "sequential" if per_series else
                 f"batched x{dec.num_samples if dec.do_sample else 1}", med, len(contexts))
        return {"series": len(contexts), "rows": len(texts), "batch_rows": batch,
                "s_per_repeat": med, "s_all": secs, "series_per_s": len(contexts) / med,
                "new_tokens": new_tokens, "new_tokens_per_s": new_tokens / med,
                "parse_rate": sum(r.parsed_steps for r in res) / sum(r.total_steps for r in res),
                "peak_memory_mb": peak_mb(device)}

    seq = mode(ctx[: b.sequential_series], greedy, 1, per_series=True)
    hf = replace(greedy, engine="hf")
    rows = {"batched_greedy": mode(ctx, replace(greedy, engine="llmts"), b.eval_series, False),
            "batched_greedy_hf_static": mode(ctx, replace(hf, cache_implementation="static"),
                                             b.eval_series, False),
            "batched_greedy_hf_dynamic": mode(ctx, replace(hf, cache_implementation="dynamic"),
                                              b.eval_series, False),
            "batched_sampling": mode(ctx, replace(sampling, engine="llmts"),
                                     b.eval_series * b.eval_samples, False)}
    if b.hf_sampling:  # HF generate with 20 samples a series is slow: optional
        rows["batched_sampling_hf_static"] = mode(
            ctx, replace(sampling, engine="hf", cache_implementation="static"),
            b.eval_series * b.eval_samples, False)
    per_s = {k: v["series_per_s"] for k, v in rows.items()}
    out = {"series": b.eval_series, "context_steps": b.context_steps, "horizon": b.horizon,
           "samples": b.eval_samples, "sequential_greedy": seq, **rows,
           "speedup_greedy": per_s["batched_greedy"] / seq["series_per_s"],
           "speedup_sampling": per_s["batched_sampling"] / seq["series_per_s"],
           "engine_speedup_greedy": per_s["batched_greedy"] / per_s["batched_greedy_hf_static"],
           "static_cache_speedup": per_s["batched_greedy_hf_static"]
           / per_s["batched_greedy_hf_dynamic"]}
    if b.hf_sampling:
        out["engine_speedup_sampling"] = (per_s["batched_sampling"]
                                          / per_s["batched_sampling_hf_static"])
    return out


SECTIONS = ("train", "eval")


@dataclass
class BenchConfig:
    """``bench``: what ``llmts-bench`` times (after ``warmup`` untimed repeats, the median of
    ``repeats``). The defaults finish in minutes on a 2-core CPU with ``model=tiny``;
    ``bench=gpu`` has the study's sizes."""
    sections: List[str] = option(list(SECTIONS), "sections to run, in order: train, eval")
    paths: List[str] = option(["naive", "fast"], "training paths: naive, fast, compiled")
    train_shapes: List[List[int]] = option([[4, 512], [32, 512]], "B x L of the train section")
    warmup: int = option(1, "untimed repeats first")
    repeats: int = option(3, "timed repeats (median reported)")
    eval_series: int = option(10, "series forecast in the eval section")
    eval_samples: int = option(2, "sampled forecasts per series (batched sampling)")
    sequential_series: int = option(1, "series timed one at a time")
    horizon: int = option(10, "steps forecast")
    context_steps: int = option(51, "steps of context")
    hf_sampling: bool = option(False, "also time sampling with HF generate (slow)")


@dataclass
class BenchRunConfig(Config):
    """``llmts-bench``'s primary config (``conf/bench.yaml``): a run's groups + ``bench``."""
    bench: BenchConfig = field(default_factory=BenchConfig)


def check_all(cfg: DictConfig) -> None:
    check(cfg)
    check_bench(cfg.bench)


def check_bench(b: DictConfig) -> None:
    """Sizes and names, before any work: one line naming what is wrong."""
    sizes = {k: v for k, v in b.items() if isinstance(v, int) and not isinstance(v, bool)}
    bad = [k for k, v in sizes.items() if v < (k != "warmup")]
    if bad or b.sequential_series > b.eval_series:
        raise LlmtsError(f"bench: {', '.join(bad) or 'sequential_series'} out of range (all >= 1, "
                         "warmup >= 0, sequential_series <= eval_series)")
    for key, allowed in (("sections", SECTIONS), ("paths", PATHS)):
        if not b[key] or set(b[key]) - set(allowed):
            raise LlmtsError(f"bench.{key}: {list(b[key])} (choose from {list(allowed)})")
    if not b.train_shapes or any(len(s) != 2 or min(s) < 1 for s in b.train_shapes):
        raise LlmtsError(f"bench.train_shapes: {OmegaConf.to_container(b.train_shapes)} "
                         "(a list of [batch_size, seq_len], each >= 1)")


def run(cfg: DictConfig, out_dir: Path | None = None) -> dict:
    """The chosen sections in order; ``bench.json`` is (re)written in ``out_dir`` after each,
    so a run cut short keeps what it measured."""
    from llmts.model.kernels import apply_kernels
    from llmts.model.build import build_model, count_parameters, resolve_dtype
    from llmts.codec.codec import Codec
    from llmts.codec.tokenizer import load_tokenizer

    b = cfg.bench
    check_all(cfg)
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
    result = {"device": name, "device_type": device.type, "weights_dtype": weights,
              "torch": torch.__version__, "transformers": transformers.__version__,
              "python": platform.python_version(),
              "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
              "model": cfg.model.name, "architecture": architecture(cfg.model), "sections": [],
              "memory": memory + (" per phase" if reset_peak(device) else ", whole process so far"),
              "bench": OmegaConf.to_container(b, resolve=True)}
    for section in b.sections:
        if section == "train":
            result.update(train_section(cfg, fresh, fast_cfg, name))
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


def format_table(r: dict) -> str:
    out = [f"llmts-bench: {r['model']} on {r['device']} (torch {r['torch']}, transformers "
           f"{r['transformers']})"] + (train_lines(r) if "train" in r else [])
    if "eval" not in r:
        return "\n".join(out + [f"{r['mfu_note']}; memory: {r['memory']}"])
    e = r["eval"]
    head = f"eval, {e['context_steps']} -> {e['horizon']} steps"
    out.append(f"{head:<46}{'s/repeat':>9}{'series/s':>11}{'tokens/s':>11}{'parse':>7}"
               f"{'peak MB':>9}")
    labels = {"sequential_greedy": "sequential greedy",
              "batched_greedy": "batched greedy, llmts engine",
              "batched_greedy_hf_static": "batched greedy, hf static",
              "batched_greedy_hf_dynamic": "batched greedy, hf dynamic",
              "batched_sampling": f"batched sampling x{e['samples']}, llmts",
              "batched_sampling_hf_static": f"batched sampling x{e['samples']}, hf static"}
    for key, label in labels.items():
        if key not in e:
            continue
        m = e[key]
        what = f"{label} ({m['series']} series, bs {m['batch_rows']})"
        out.append(f"  {what:<44}{m['s_per_repeat']:9.3f}{m['series_per_s']:11.2f}"
                   f"{m['new_tokens_per_s']:11.0f}{m['parse_rate']:7.0%}{m['peak_memory_mb']:9.0f}")
    engine = f"greedy {e['engine_speedup_greedy']:.2f}x" + (
        f", sampling {e['engine_speedup_sampling']:.2f}x" if "engine_speedup_sampling" in e else "")
    out.append(f"  speedup vs sequential (series/s): greedy {e['speedup_greedy']:.1f}x, "
               f"sampling {e['speedup_sampling']:.1f}x; llmts engine / hf static: {engine}; "
               f"hf static / dynamic KV cache {e['static_cache_speedup']:.2f}x")
    return "\n".join(out + [f"{r['mfu_note']}; memory: {r['memory']}"])


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="bench")
def main(cfg: DictConfig) -> dict:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    result = exit_on_error("llmts-bench", run, cfg, run_dir)
    print(format_table(result))
    print(f"wrote {run_dir / 'bench.json'}")
    return result


def register() -> None:
    """``conf/bench.yaml``'s schema, the ``bench`` group's default option, the help page."""
    from hydra.core.config_store import ConfigStore

    register_configs("llmts-bench", BenchRunConfig, "llmts_bench_schema")
    ConfigStore.instance().store(group="bench", name="default", node=BenchConfig)


def entry() -> None:
    register()
    exit_on_error("llmts-bench", preflight, sys.argv[1:], "bench", check_all)
    main()


if __name__ == "__main__":
    entry()
