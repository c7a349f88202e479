"""``llmts-forecast``'s schema (``conf/forecast.yaml``): the codec/model groups it reads, the
file to forecast and where to write it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llmts.config.choices import Point, option, require
from llmts.config.compose import primary_defaults, register_configs
from llmts.config.schema import GROUPS, DataConfig, DecodingConfig, LoraConfig, ModelConfig

OUTPUTS = (".h5", ".hdf5", ".csv")  # what llmts-forecast writes, chosen by the output's suffix


@dataclass
class ForecastConfig:
    """``llmts-forecast``: forecast a file of series with a trained run (``run=``: its config
    and checkpoint) or a checkpoint (``checkpoint=``, with the config saved beside it, or this
    config's ``model``/``lora``/``data``). ``decoding`` always comes from here."""

    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    data: DataConfig = field(default_factory=DataConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    run: str | None = option(None, "a run dir of `llmts` (its config + its evaluated checkpoint)")
    step: int | None = option(None, "with run=: checkpoints/step-N instead of the evaluated one")
    checkpoint: str | None = option(None, "a checkpoints/step-N folder (instead of run=)")
    input: str | None = option(
        None,
        ".csv or .parquet (wide: a time/date column + a column per variable; long: "
        "id,time,<variables>, unique_id,ds,y or item_id,timestamp,target), .h5 "
        "(`trajectories`, optional `time`), .npy or .npz",
    )
    horizon: int = option(20, "steps to forecast")
    output: str | None = option(
        None,
        ".h5 (point, samples, quantiles) or .csv (point; + "
        "quantiles when sampled), by its suffix; null: forecast.h5 "
        "in the run dir",
    )
    quantiles: list[float] = option(
        [0.1, 0.5, 0.9], "quantile levels written when sampling, in (0, 1)"
    )
    num_samples: int | None = option(None, "> 1: sample (with decoding's temperature etc.)")
    point: Point = option(Point.median, "point forecast over samples")
    batch_size: int = option(256, "rows (series x samples) decoded together")
    plot_series: int = option(5, "a plot for each of the first k series")
    seed: int | None = option(None, "null: the run's (or 42)")

    @staticmethod
    def check(c: Any) -> None:
        for name in GROUPS_READ:
            GROUPS[name].check(c[name])
        require(
            bool(c.run) != bool(c.checkpoint),
            "run/checkpoint",
            (c.run, c.checkpoint),
            "give exactly one of run=RUN_DIR or checkpoint=CHECKPOINT_DIR",
        )
        require(bool(c.input), "input", c.input, "input=FILE missing (.h5, .csv, .npy or .npz)")
        if c.output:
            require(
                Path(c.output).suffix.lower() in OUTPUTS,
                "output",
                c.output,
                f"unknown format: the suffix says which ({', '.join(OUTPUTS)})",
            )
        for key in ("horizon", "batch_size"):
            require(c[key] > 0, key, c[key], "must be > 0")
        require(
            bool(c.quantiles) and all(0 < q < 1 for q in c.quantiles),
            "quantiles",
            list(c.quantiles),
            "must be levels in (0, 1)",
        )
        if c.num_samples is not None:
            require(c.num_samples >= 1, "num_samples", c.num_samples, "must be >= 1")


# the config groups llmts-forecast reads (its schema's group-typed fields)
GROUPS_READ = tuple(f.name for f in fields(ForecastConfig) if f.name in GROUPS)


def register(header: str = "") -> None:
    """``conf/forecast.yaml``'s schema, the help page and its defaults
    (``llmts_forecast_defaults``: config.yaml's options of the groups it reads)."""
    from hydra.core.config_store import ConfigStore

    register_configs("llmts-forecast", ForecastConfig, "forecast_schema", header=header)
    ConfigStore.instance().store(
        name="llmts_forecast_defaults",
        node={"defaults": primary_defaults("forecast_schema", groups=GROUPS_READ)},
    )
