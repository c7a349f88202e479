"""``llmts-bench`` (or ``python -m llmts.bench``), composed like ``llmts``, sizes from ``bench``:
what llmts's speed choices buy, measured in one process; every number is the median of
``bench.repeats`` device-synchronised repeats after ``bench.warmup``.

train: steps (forward + backward + AdamW) on random digit/separator batches, NAIVE (fp32, eager
attention, full-vocab logits: the report's setup) vs FAST (sdpa, chunked CE; on CUDA bf16
autocast, and with LoRA the frozen base stored in bf16), same seeded weights; with
``bench.compile`` also COMPILED (fast + ``train.compile``, its compiling first step apart).
eval: sequential greedy (a ``forecast`` per series) vs batched greedy and sampling with llmts's
decode loop vs HF ``generate`` with the static and the dynamic KV cache (batches halved on CUDA
OOM, batch recorded), on simulated Lotka-Volterra. MFU is null unless bf16 on a GPU of known peak (``mfu_note`` says why). Memory:
CUDA max allocated or peak RSS (per phase via /proc/self/clear_refs where allowed). Writes
``bench.json`` in the run dir; prints a table."""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import platform
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import hydra
import torch
import transformers
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from llmts.compose import register_configs
from llmts.config import CONF_DIR
from llmts.errors import LlmtsError
from llmts.files import write_json
from llmts.measure import device_name, peak_flops, peak_mb, reset_peak, timed

log = logging.getLogger("llmts.bench")
TOKENS = (11, 27)  # token IDs 11..26: , - . / 0-9 : ; (Qwen2's IDs; the tiny tokenizer shares them)


def bench_train(cfg: DictConfig, net, path: str, device, name: str) -> dict:
    """Time training steps of ``net`` on the ``path`` recipe: "naive", "fast", or "compiled"
    (fast + ``train.compile``; its first step, which compiles, is reported apart)."""
    from llmts.flops import train_step_flops
    from llmts.train import CHUNK, make_loss

    b, fast = cfg.bench, path != "naive"
    bsz, seq, amp = b.train_batch_size, b.train_seq_len, fast and device.type == "cuda"
    loss_model = make_loss(net, chunked=fast, compiled=path == "compiled")
    autocast = ((lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if amp
                else contextlib.nullcontext)
    o = cfg.optimizer
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=o.lr,
                            betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    n = b.warmup + b.repeats
    batches = [torch.randint(*TOKENS, (bsz, seq), generator=gen).to(device) for _ in range(n)]
    ones = torch.ones_like(batches[0])
    net.train()
    with torch.no_grad(), autocast():  # uncompiled: the first step below holds all compiling
        initial = float(make_loss(net, chunked=fast, compiled=False)(
            input_ids=batches[0], attention_mask=ones, labels=batches[0]))
    calls = iter(range(1 << 62))

    def step():
        ids = batches[next(calls) % n]
        with autocast():
            loss = loss_model(input_ids=ids, attention_mask=ones, labels=ids)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    reset_peak(device)
    first = timed(step, 0, 1, device)[0]
    secs = timed(step, b.warmup, b.repeats, device)
    med = statistics.median(secs)
    dtype = "bfloat16" if amp else str(next(net.parameters()).dtype).removeprefix("torch.")
    peak, _ = peak_flops(name, dtype)
    log.info("train %s: %.1f ms/step", path, 1e3 * med)
    out = {"attn_implementation": net.config._attn_implementation,
           "loss": f"chunked CE ({CHUNK})" if fast else "full logits",
           "dtype": dtype, "autocast": amp, "initial_loss": initial, "first_step_s": first,
           "compiled": path == "compiled", "ms_per_step": 1e3 * med,
           "ms_all": [1e3 * s for s in secs], "tokens_per_s": bsz * seq / med,
           "peak_memory_mb": peak_mb(device)}
    for acc, gqa in (("report", False), ("gqa", True)):
        flops = train_step_flops(cfg.model, bsz, seq, gqa=gqa)
        out[f"achieved_tflops_{acc}"] = flops / med / 1e12
        out[f"mfu_{acc}"] = flops / med / peak if peak else None
    return out


def bench_eval(cfg: DictConfig, net, tokenizer, device) -> dict:
    """Series/s of sequential greedy and of batched greedy and sampling with llmts's decode loop
    (``decoding.engine=llmts``) beside HF ``generate`` (static and dynamic KV cache)."""
    from llmts.config import DecodingConfig
    from llmts.data import simulate_lotka_volterra
    from llmts.forecast import forecast

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

        def call():
            parts = [contexts[i:i + 1] for i in range(len(contexts))] if per_series else [contexts]
            last["res"] = [forecast(net, tokenizer, c, b.horizon, dec, d, batch, cfg.seed)
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
            last.clear(), gc.collect(), torch.cuda.empty_cache()
        med, res = statistics.median(secs), last["res"]
        texts = [t for r in res for t in r.texts]
        new_tokens = sum(map(len, tokenizer(texts, add_special_tokens=False)["input_ids"]))
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


def run(cfg: DictConfig) -> dict:
    from llmts.model import build_model, count_parameters
    from llmts.tokenization import load_tokenizer

    b = cfg.bench
    bad = [k for k, v in b.items() if not isinstance(v, bool) and v < (k != "warmup")]
    if bad or b.sequential_series > b.eval_series:
        raise LlmtsError(f"bench: {', '.join(bad) or 'sequential_series'} out of range (all >= 1, "
                         "warmup >= 0, sequential_series <= eval_series)")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = device_name(device)
    tokenizer = load_tokenizer(cfg.model)
    log.info("benchmarking %s on %s", cfg.model.name, name)

    def fresh(model_cfg) -> torch.nn.Module:  # the same seeded weights for every path
        gc.collect()
        torch.cuda.empty_cache() if device.type == "cuda" else None
        return build_model(model_cfg, cfg.lora, cfg.seed).to(device)

    fast_cfg = cfg.model  # on CUDA with LoRA: the frozen base in bf16 (adapters stay fp32)
    if device.type == "cuda" and cfg.lora.enabled:
        fast_cfg = OmegaConf.merge(cfg.model, {"dtype": "bfloat16"})
    net = fresh(fast_cfg)  # eval leaves the weights as they are: the fast path trains them next
    trainable, total = count_parameters(net)
    evaluation = bench_eval(cfg, net, tokenizer, device)
    train = {"batch_size": b.train_batch_size, "seq_len": b.train_seq_len,
             "fast": bench_train(cfg, net, "fast", device, name)}
    del net
    naive_cfg = OmegaConf.merge(cfg.model, {"attn_implementation": "eager", "dtype": "float32"})
    naive = train["naive"] = bench_train(cfg, fresh(naive_cfg), "naive", device, name)
    fast = train["fast"]
    train["speedup"] = fast["tokens_per_s"] / naive["tokens_per_s"]
    train["initial_loss_diff"] = abs(fast["initial_loss"] - naive["initial_loss"])
    if b.compile:
        compiled = train["compiled"] = bench_train(cfg, fresh(fast_cfg), "compiled", device, name)
        train["compile_speedup"] = compiled["tokens_per_s"] / fast["tokens_per_s"]
    peak, note = peak_flops(name, fast["dtype"])
    memory = "cuda max_memory_allocated" if device.type == "cuda" else "peak RSS (ru_maxrss)"
    return {"device": name, "device_type": device.type, "dtype": fast["dtype"],
            "weights_dtype": fast_cfg.dtype, "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "model": cfg.model.name, "params_total": total, "params_trainable": trainable,
            "train_speedup": train["speedup"], "eval_speedup_greedy": evaluation["speedup_greedy"],
            "eval_speedup_sampling": evaluation["speedup_sampling"], "mfu": fast["mfu_report"],
            "mfu_gqa": fast["mfu_gqa"], "peak_flops": peak, "mfu_note": note,
            "memory": memory + (" per phase" if reset_peak(device) else ", whole process so far"),
            "bench": OmegaConf.to_container(b, resolve=True), "train": train, "eval": evaluation}


def format_table(r: dict) -> str:
    t, e = r["train"], r["eval"]
    pct = lambda x: "-" if x is None else f"{x:.1%}"  # noqa: E731
    head = f"train step, B={t['batch_size']} L={t['seq_len']}"
    out = [f"llmts-bench: {r['model']} on {r['device']} (torch {r['torch']}, transformers "
           f"{r['transformers']})", f"{head:<39}{'ms/step':>9}{'tokens/s':>11}{'TFLOP/s':>9}"
           f"{'MFU rep':>9}{'MFU gqa':>9}{'peak MB':>9}"]
    for path in [k for k in ("naive", "fast", "compiled") if k in t]:
        p = t[path]
        what = f"{path} ({p['attn_implementation']}, {p['loss'].split(' (')[0]}, {p['dtype']})"
        out.append(f"  {what:<37}{p['ms_per_step']:9.1f}{p['tokens_per_s']:11.0f}"
                   f"{p['achieved_tflops_report']:9.2f}{pct(p['mfu_report']):>9}"
                   f"{pct(p['mfu_gqa']):>9}{p['peak_memory_mb']:9.0f}")
    out.append(f"  speedup (fast / naive tokens/s): {t['speedup']:.2f}x; initial loss "
               f"naive {t['naive']['initial_loss']:.4f}, fast {t['fast']['initial_loss']:.4f}")
    if "compiled" in t:
        c = t["compiled"]
        out.append(f"  compiled: first step (compiling) {c['first_step_s']:.1f} s, then "
                   f"{t['compile_speedup']:.2f}x fast's tokens/s; initial loss {c['initial_loss']:.4f}")
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


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> dict:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        result = run(cfg)
    except LlmtsError as exc:
        print(f"llmts-bench: error: {exc}", file=sys.stderr)
        sys.exit(2)
    write_json(run_dir / "bench.json", result)
    print(format_table(result))
    print(f"wrote {run_dir / 'bench.json'}")
    return result


def entry() -> None:
    register_configs()
    main()


if __name__ == "__main__":
    entry()
