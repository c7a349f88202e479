"""``llmts-bench``: what llmts's speed choices buy, measured on this machine (training steps by
B x L, decoding engines; :mod:`llmts.perf.bench`), over ``conf/bench.yaml`` (schema:
:mod:`llmts.config.bench`); writes ``bench.json`` in the run dir and prints a table."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from llmts.config.bench import BenchRunConfig, register
from llmts.config.preflight import preflight
from llmts.config.schema import CONF_DIR
from llmts.errors import exit_on_error

APP = "llmts-bench"
HELP = """\
llmts-bench: what llmts's speed choices buy, measured on this machine (training steps by B x L,
decoding engines); writes bench.json.

  llmts-bench model=tiny                        # minutes on a CPU
  llmts-bench model=qwen2.5-0.5b-arch bench=gpu  # the study's sizes"""


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="bench")
def main(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig

    from llmts.perf.bench import run

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    result = exit_on_error(APP, run, cfg, run_dir)
    print(format_table(result))
    print(f"wrote {run_dir / 'bench.json'}")
    return result


def format_table(r: dict) -> str:
    """The printed table: the train section's lines, each eval mode's row, the profile's ops."""
    from llmts.perf.train_bench import train_lines

    out = [
        f"llmts-bench: {r['model']} on {r['device']} (torch {r['torch']}, transformers "
        f"{r['transformers']})"
    ] + (train_lines(r) if "train" in r else [])
    out += eval_lines(r["eval"]) if "eval" in r else []
    out += profile_lines(r["profile"]) if "profile" in r else []
    return "\n".join(out + [f"{r['mfu_note']}; memory: {r['memory']}"])


def eval_lines(e: dict) -> list[str]:
    """The eval section: one row per decoding mode, then the speedups."""
    head = f"eval, {e['context_steps']} -> {e['horizon']} steps"
    out = [f"{head:<46}{'s/repeat':>9}{'series/s':>11}{'tokens/s':>11}{'parse':>7}{'peak MB':>9}"]
    labels = {
        "sequential_greedy": "sequential greedy",
        "batched_greedy": "batched greedy, llmts engine",
        "batched_greedy_hf_static": "batched greedy, hf static",
        "batched_greedy_hf_dynamic": "batched greedy, hf dynamic",
        "batched_sampling": f"batched sampling x{e['samples']}, llmts",
        "batched_sampling_hf_static": f"batched sampling x{e['samples']}, hf static",
    }
    for key, label in labels.items():
        if key not in e:
            continue
        m = e[key]
        what = f"{label} ({m['series']} series, bs {m['batch_rows']})"
        out.append(
            f"  {what:<44}{m['s_per_repeat']:9.3f}{m['series_per_s']:11.2f}"
            f"{m['new_tokens_per_s']:11.0f}{m['parse_rate']:7.0%}{m['peak_memory_mb']:9.0f}"
        )
    engine = f"greedy {e['engine_speedup_greedy']:.2f}x" + (
        f", sampling {e['engine_speedup_sampling']:.2f}x" if "engine_speedup_sampling" in e else ""
    )
    out.append(
        f"  speedup vs sequential (series/s): greedy {e['speedup_greedy']:.1f}x, "
        f"sampling {e['speedup_sampling']:.1f}x; llmts engine / hf static: {engine}; "
        f"hf static / dynamic KV cache {e['static_cache_speedup']:.2f}x"
    )
    return out


def profile_lines(p: dict) -> list[str]:
    """The profile section: its ops by self time."""
    out = [
        f"profile, batched sampling {p['rows']} rows x {p['horizon']} steps, eager "
        f"({p['sort']}: {p['total_ms']:.1f} ms)"
    ]
    out += [f"  {t['ms']:9.2f} ms {t['share']:6.1%} {t['calls']:7d}x  {t['op']}" for t in p["top"]]
    return out


def entry() -> None:
    register(HELP)
    exit_on_error(APP, preflight, sys.argv[1:], "bench", BenchRunConfig.check)
    main()


if __name__ == "__main__":
    entry()
