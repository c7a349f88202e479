"""``llmts-pretrain``: pretrain a small Qwen2-architecture model on the synthetic corpus (no
Lotka-Volterra) and write it as a Hugging Face folder with a model card::

    llmts-pretrain                                   # the shipped mini model's settings
    llmts-pretrain train.max_steps=20 output=/tmp/m  # any key of conf/pretrain.yaml

The settings are ``conf/pretrain.yaml`` over the schema in :mod:`llmts.config.pretrain`
(``llmts-pretrain --help`` lists every key). A mistake is one line,
``llmts-pretrain: error: ...``, and exit status 2, before any work.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from llmts.config.preflight import preflight
from llmts.config.pretrain import PretrainConfig, register
from llmts.config.schema import CONF_DIR
from llmts.errors import exit_on_error

APP = "llmts-pretrain"
HELP = """\
llmts-pretrain: pretrain a small Qwen2-architecture model from random weights on synthetic series
(no Lotka-Volterra) and write a Hugging Face folder with its model card.

  llmts-pretrain output=DIR                # the shipped mini model's recipe
  llmts-pretrain train.max_steps=20 corpus.num_series=200 output=/tmp/m"""


def run(cfg: DictConfig, run_dir: Path) -> dict:
    """Check the settings, then the pretraining recipe (:func:`llmts.recipes.pretrain.pretrain`)."""
    # imported here, not at the top: `llmts-pretrain --help` starts without torch
    from llmts.recipes.pretrain import pretrain

    PretrainConfig.check(cfg)
    return pretrain(cfg, run_dir)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="pretrain")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    exit_on_error(APP, run, cfg, Path(HydraConfig.get().runtime.output_dir))


def entry() -> None:
    register(HELP)
    exit_on_error(APP, preflight, sys.argv[1:], "pretrain", PretrainConfig.check)
    main()
