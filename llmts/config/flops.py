"""``llmts-flops``'s schema: a run's config (composed exactly as ``llmts`` composes it, from
``conf/config.yaml``'s defaults) plus what to do with the plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmts.config.choices import option
from llmts.config.compose import primary_defaults, register_configs
from llmts.config.schema import Config, check


@dataclass
class FlopsConfig(Config):
    """``llmts-flops``: a run's keys + ``bench_json`` and ``output``."""

    bench_json: str | None = option(
        None,
        "a bench.json of llmts-bench: adds the estimated "
        "wall time on the device it was measured on (only where "
        "it timed this model's architecture)",
    )
    output: str | None = option(
        None, "write the plan as JSON to this file; null: print only (no file, no run dir)"
    )

    @staticmethod
    def check(c: Any) -> None:
        check(c)


def register(header: str = "") -> None:
    """``flops``, llmts-flops's primary config: ``config.yaml``'s defaults over this schema, no
    run dir, no log file (it prints its plan and writes only ``output``)."""
    from hydra.core.config_store import ConfigStore

    register_configs("llmts-flops", FlopsConfig, "llmts_flops_schema", header=header)
    ConfigStore.instance().store(
        name="flops",
        node={
            "defaults": primary_defaults(
                "llmts_flops_schema", {"override hydra/job_logging": "disabled"}
            ),
            "hydra": {"output_subdir": None, "run": {"dir": "."}, "job": {"chdir": False}},
        },
    )
