"""``llmts-benchmark``: the composed model configuration (zero-shot, LoRA-tuned, ablations) and
the field's statistical baselines on many tasks, one leaderboard (:mod:`llmts.recipes.benchmark`),
over ``conf/benchmark.yaml`` (schema: :mod:`llmts.config.benchmark`)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from llmts.config.benchmark import BenchmarkRunConfig, register
from llmts.config.preflight import preflight
from llmts.config.schema import CONF_DIR
from llmts.errors import exit_on_error

APP = "llmts-benchmark"
HELP = """\
llmts-benchmark: does the LLM beat ETS? The model (zero-shot, LoRA-tuned, ablations) and
statsforecast's baselines on every task, scored as fev/GIFT-Eval score (MASE, WQL relative to
seasonal naive); writes results.csv, leaderboard.csv/.md and a plot.

  llmts-benchmark model=mini benchmark.paths=[a.csv,b.parquet]
  llmts-benchmark model=mini benchmark=default           # 13 shipped series (.[benchmark])
  llmts-benchmark model=mini benchmark=default benchmark.finetune=true train.max_steps=60
  llmts-benchmark benchmark.merge=[RUN_A,RUN_B]          # one leaderboard of earlier runs"""


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="benchmark")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from llmts.recipes.benchmark import run_benchmark

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    exit_on_error(APP, run_benchmark, cfg, run_dir)


def entry() -> None:
    register(HELP)
    exit_on_error(APP, preflight, sys.argv[1:], "benchmark", BenchmarkRunConfig.check)
    main()


if __name__ == "__main__":
    entry()
