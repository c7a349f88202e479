"""``llmts-bench`` on the tiny model (CPU): the JSON and table it writes, its speedups recorded
(finite, positive) and the fast loss equal to the naive one. Speeds and their ratios are never
asserted: on a loaded machine they are noise (their size is what ``llmts-bench`` reports)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from llmts.cli.bench import format_table
from llmts.errors import LlmtsError
from llmts.model.build import build_model
from llmts.perf.bench import run
from llmts.perf.flops import forward_flops
from llmts.perf.measure import peak_flops
from llmts.train.loss import CausalLMLoss
from tests.helpers import REPO, compose

TOP_KEYS = {
    "device",
    "dtype",
    "torch",
    "transformers",
    "train_speedup",
    "eval_speedup_greedy",
    "eval_speedup_sampling",
    "mfu",
    "mfu_note",
    "train",
    "eval",
    "sections",
}
TRAIN_KEYS = {
    "attn_implementation",
    "loss",
    "dtype",
    "initial_loss",
    "ms_per_step",
    "tokens_per_s",
    "achieved_tflops_study",
    "achieved_tflops_gqa",
    "mfu_study",
    "mfu_gqa",
    "counted_flops_per_step",
    "mfu_counted",
    "peak_memory_mb",
}
EVAL_KEYS = {
    "series",
    "rows",
    "batch_rows",
    "s_per_repeat",
    "series_per_s",
    "new_tokens",
    "new_tokens_per_s",
    "parse_rate",
    "peak_memory_mb",
}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    # CPU only, one thread: on shared, busy cores OpenMP's barriers stall for a scheduler tick per
    # parallel op, which would time the neighbours rather than llmts. Short contexts keep it fast.
    env = dict(
        os.environ,
        LLMTS_CACHE=str(out / "cache"),
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS="1",
        WANDB_MODE="offline",
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from llmts.cli.bench import entry; entry()",
            "model=tiny",
            "logger=none",
            "bench.repeats=2",
            "bench.warmup=1",
            "bench.train_shapes=[[4,128],[8,64]]",
            "bench.eval_series=40",
            "bench.eval_samples=4",
            "bench.sequential_series=3",
            "bench.context_steps=6",
            "bench.horizon=3",
            "bench.hf_sampling=true",
            f"hydra.run.dir={out / 'run'}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "run" / "bench.json").read_text()), proc.stdout


@pytest.mark.slow
def test_bench_writes_json_and_prints_table(bench):
    result, stdout = bench
    assert TOP_KEYS <= set(result)
    assert result["device_type"] == "cpu" and result["dtype"] == "float32"
    assert result["mfu"] is None and "not computed" in result["mfu_note"]  # no peak for a CPU
    shapes = result["train"]["shapes"]
    assert [(t["batch_size"], t["seq_len"]) for t in shapes] == [(4, 128), (8, 64)]
    for t in shapes:
        for path in ("naive", "fast"):
            assert TRAIN_KEYS <= set(t[path])
            assert len(t[path]["ms_all"]) == 2
            assert t[path]["tokens_per_s"] == pytest.approx(
                t["batch_size"] * t["seq_len"] / (t[path]["ms_per_step"] / 1e3)
            )
        assert t["naive"]["attn_implementation"] == "eager"
        assert t["fast"]["attn_implementation"] == "sdpa"
    assert result["sections"] == ["train", "eval"]
    for mode in (
        "sequential_greedy",
        "batched_greedy",
        "batched_greedy_hf_static",
        "batched_greedy_hf_dynamic",
        "batched_sampling",
        "batched_sampling_hf_static",
    ):
        assert EVAL_KEYS <= set(result["eval"][mode])
        assert result["eval"][mode]["parse_rate"] == 1.0  # constrained decoding always parses
    assert result["eval"]["batched_sampling"]["rows"] == 160
    # the same greedy forecasts from both engines: the same number of generated tokens
    assert (
        result["eval"]["batched_greedy"]["new_tokens"]
        == result["eval"]["batched_greedy_hf_static"]["new_tokens"]
    )
    first = result["train"]["shapes"][0]
    assert result["train_speedup"] == pytest.approx(
        first["fast"]["tokens_per_s"] / first["naive"]["tokens_per_s"]
    )
    assert "llmts-bench: tiny-qwen2" in stdout and "speedup vs sequential" in stdout
    assert "batched sampling x4, llmts" in stdout and "batched greedy, hf dynamic" in stdout
    assert "llmts engine / hf static: greedy" in stdout and "static / dynamic KV cache" in stdout
    assert "train step, B=8 L=64" in stdout
    assert all("compiled" not in t for t in shapes)  # not among the default paths


@pytest.mark.slow  # inductor compiles for seconds
def test_bench_compiled_path_is_timed_apart(monkeypatch, tmp_path):
    """bench.paths=[fast,compiled]; dynamo's eager backend stands in for inductor here (the
    inductor path itself is tested in test_train). The train section alone, written once."""
    import accelerate.utils

    real = accelerate.utils.compile_regions
    monkeypatch.setattr(
        accelerate.utils, "compile_regions", lambda m, **kw: real(m, backend="eager", **kw)
    )
    cfg = bench_cfg(
        "bench.paths=[fast,compiled]",
        "bench.sections=[train]",
        "bench.repeats=1",
        "bench.warmup=0",
        "bench.train_shapes=[[2,32]]",
    )
    result = run(cfg, tmp_path)
    t = result["train"]["shapes"][0]
    compiled, fast = t["compiled"], t["fast"]
    assert TRAIN_KEYS <= set(compiled) and compiled["compiled"] and not fast["compiled"]
    assert 0 < compiled["first_step_s"] < float("inf")  # step 1 (tracing) is timed apart
    assert t["compile_speedup"] == pytest.approx(compiled["tokens_per_s"] / fast["tokens_per_s"])
    assert "naive" not in t and "speedup" not in t
    assert abs(compiled["initial_loss"] - fast["initial_loss"]) < 1e-4  # same fresh weights
    assert "compiled: first step (compiling)" in format_table(result)
    assert "eval" not in result and json.loads((tmp_path / "bench.json").read_text())[
        "sections"
    ] == ["train"]


@pytest.mark.slow
def test_batched_greedy_speedup_is_recorded(bench):
    result, _ = bench
    speedup, ev = result["eval_speedup_greedy"], result["eval"]
    assert 0 < speedup < float("inf"), ev  # recorded; its size is llmts-bench's to report
    assert speedup == pytest.approx(
        ev["batched_greedy"]["series_per_s"] / ev["sequential_greedy"]["series_per_s"]
    )
    for t in result["train"]["shapes"]:
        assert t["initial_loss_diff"] < 1e-4  # same weights, same batch, both fp32


def test_fast_loss_and_grads_equal_naive():
    """eager attention + full-vocab logits vs sdpa + chunked CE (several chunks, padded rows)."""
    cfg = compose("model=tiny", "logger=none")
    eager = OmegaConf.merge(cfg.model, {"attn_implementation": "eager"})
    naive_model, fast_model = build_model(eager, cfg.lora, 0), build_model(cfg.model, cfg.lora, 0)
    ids = torch.randint(11, 27, (3, 64), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 40:] = 0  # a right-padded row, as make_windows writes them
    labels = ids.masked_fill(mask == 0, -100)
    losses, grads = [], []
    for model, chunk in ((naive_model, 0), (fast_model, 37)):
        loss = CausalLMLoss(model, chunk)(input_ids=ids, attention_mask=mask, labels=labels)
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-5)
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6)


def test_peak_flops_by_device_name():
    assert peak_flops("NVIDIA H100 80GB HBM3", "bfloat16")[0] == 989e12
    assert peak_flops("NVIDIA H200", "bfloat16")[0] == 989e12
    assert peak_flops("NVIDIA A100-SXM4-80GB", "bfloat16")[0] == 312e12
    assert peak_flops("NVIDIA H100 PCIe", "bfloat16")[0] == 756e12
    assert peak_flops("NVIDIA H100 80GB HBM3", "float32")[0] is None  # fp32: no MFU
    peak, note = peak_flops("Some Future GPU", "bfloat16")
    assert peak is None and "no known" in note


def bench_cfg(*overrides):
    return compose("model=tiny", *overrides, config_name="bench")


def test_bad_bench_sizes_fail_before_any_work():
    with pytest.raises(LlmtsError, match="repeats"):
        run(bench_cfg("bench.repeats=0"))
    with pytest.raises(LlmtsError, match="sequential_series"):
        run(bench_cfg("bench.eval_series=2", "bench.sequential_series=3"))
    with pytest.raises(LlmtsError, match="bench.paths"):
        run(bench_cfg("bench.paths=[]"))
    with pytest.raises(LlmtsError, match="train_shapes"):
        run(bench_cfg("bench.train_shapes=[[4,512,1]]"))


def test_an_unknown_section_or_path_fails_at_composition():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="evil"):
        bench_cfg("bench.sections=[train,evil]")
    with pytest.raises(ConfigCompositionException, match="fastest"):
        bench_cfg("bench.paths=[fastest]")


def test_bench_keys_are_not_part_of_a_training_run():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="bench.repeats"):
        compose("bench.repeats=3")
    assert "bench" not in compose("model=tiny") and bench_cfg().bench.repeats >= 1


def test_bench_json_is_written_after_each_section(tmp_path, monkeypatch):
    """A run cut short in its second section keeps the first section's results on disk."""
    import llmts.perf.bench

    def broken(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(llmts.perf.bench, "bench_eval", broken)
    cfg = bench_cfg(
        "bench.sections=[train,eval]",
        "bench.paths=[fast]",
        "bench.repeats=1",
        "bench.warmup=0",
        "bench.train_shapes=[[2,16]]",
    )
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["sections"] == ["train"] and saved["train"]["shapes"][0]["fast"]["ms_per_step"] > 0


def test_bench_times_the_production_train_step(monkeypatch):
    """Every timed step is llmts.train.loop.train_step (Accelerate, clipping, scheduler)."""
    import llmts.train.loop

    seen = []
    real = llmts.train.loop.train_step
    monkeypatch.setattr(
        llmts.train.loop,
        "train_step",
        lambda parts, batches: seen.append(parts) or real(parts, batches),
    )
    cfg = bench_cfg(
        "bench.sections=[train]",
        "bench.paths=[naive,fast]",
        "bench.repeats=2",
        "bench.warmup=1",
        "bench.train_shapes=[[2,16]]",
    )
    result = run(cfg)
    assert len(seen) == 2 * (1 + 1 + 2 + 1)  # per path: first step, warmup, repeats, counted
    assert all(p.scheduler.last_epoch >= 1 and p.max_grad_norm == 1.0 for p in seen)
    assert [p.autocast for p in seen] == [False] * 5 + [True] * 5
    # FlopCounterMode's count of that step: LoRA freezes the base, so besides the forward only
    # input gradients are computed: about 2 forwards, not the full step's 3.
    forward = forward_flops(cfg.model, 2, 16, gqa=True)
    for path in ("naive", "fast"):
        counted = result["train"]["shapes"][0][path]["counted_flops_per_step"]
        assert 1.9 * forward < counted < 2.1 * forward


def test_counted_flops_under_bf16_autocast():
    """The GPU recipe on CPU: the fast path trains under bf16 autocast, and FlopCounterMode
    counts that step as it counts the fp32 one (the same matmuls)."""
    cfg = bench_cfg(
        "bench.sections=[train]",
        "bench.paths=[naive,fast]",
        "bench.repeats=1",
        "bench.warmup=0",
        "bench.train_shapes=[[2,16]]",
        "train.precision=bf16",
    )
    t = run(cfg)["train"]["shapes"][0]
    assert t["fast"]["autocast"] and t["fast"]["dtype"] == "bfloat16" and not t["naive"]["autocast"]
    # (eager attention's score matmuls are counted, CPU's fused sdpa kernel is not: 2 % here)
    assert t["fast"]["counted_flops_per_step"] == pytest.approx(
        t["naive"]["counted_flops_per_step"], rel=0.02
    )


def test_bench_builds_the_model_as_a_run_does():
    """model.output_vocab=numeric needs the tokenizer and the codec; the bench crashed on it."""
    result = run(
        bench_cfg(
            "model.output_vocab=numeric",
            "bench.sections=[train]",
            "bench.paths=[fast]",
            "bench.repeats=1",
            "bench.warmup=0",
            "bench.train_shapes=[[2,16]]",
        )
    )
    assert result["train"]["shapes"][0]["fast"]["ms_per_step"] > 0


def test_the_profile_section_lists_the_sampling_decodes_ops(tmp_path):
    """Ops by self time over one eager sampled forecast: the model's matmuls among them, shares
    of one total, the profiler's table on disk and in the printed table."""
    cfg = bench_cfg(
        "bench.sections=[profile]",
        "bench.eval_series=3",
        "bench.eval_samples=2",
        "bench.context_steps=6",
        "bench.profile_horizon=1",
        "bench.profile_rows=40",
    )
    result = run(cfg, tmp_path)
    p = result["profile"]
    assert result["sections"] == ["profile"] and p["rows"] == 6 and p["horizon"] == 1
    assert p["sort"] == "self_cpu_time_total" and len(p["top"]) == 40
    ms = [t["ms"] for t in p["top"]]
    assert ms == sorted(ms, reverse=True) and sum(ms) <= p["total_ms"] + 1e-6
    assert sum(t["share"] for t in p["top"]) == pytest.approx(sum(ms) / p["total_ms"])
    assert {"aten::mm", "aten::addmm"} & {t["op"] for t in p["top"]}
    assert "aten::" in (tmp_path / "profile.txt").read_text()
    assert "profile, batched sampling 6 rows x 1 steps" in format_table(result)
    assert json.loads((tmp_path / "bench.json").read_text())["profile"] == p
