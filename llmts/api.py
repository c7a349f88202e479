"""Python API: forecast your own series with a trained run or checkpoint::

    from llmts import Forecaster
    fc = Forecaster.from_run("outputs/runs/2026-01-01_12-00-00")  # newest complete checkpoint
    pred = fc.predict(x, horizon=20)                  # x: (T, D), (n, T, D) or a list of (T_i, D)
    pred.point, pred.samples, pred.quantiles([0.1, 0.9]), pred.parse_rate, pred.scales

Forecasts come from :func:`llmts.forecast.batch.forecast`, the very batched constrained decoding the
evaluation uses, with the run's codec settings (``data.*``: precision, scaling, missing values,
digit separator). Every array is in the input's original units.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import DictConfig, OmegaConf

from llmts.data.readers import check_values
from llmts.errors import LlmtsError, first_line

if TYPE_CHECKING:
    from llmts.codec.codec import Codec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """Forecasts of one series (arrays without the leading n) or of many (with it)."""

    samples: np.ndarray  # ([n,] s, h, D) every sampled forecast (s = 1 for greedy)
    point: np.ndarray  # ([n,] h, D) median (or mean, ``point``) over the samples
    scales: np.ndarray  # ([n,] D) the α each series was encoded with (original units per unit)
    parsed_steps: int  # forecast steps read from the model's text
    malformed_steps: int  # steps that did not parse (filled with the last valid value)
    filled_steps: int  # steps filled (malformed or missing)
    texts: list[str]  # the generated text, row = series × s + sample
    offsets: np.ndarray | None = None  # ([n,] D) the offset of each (data.scale=affine; else 0)

    @property
    def parse_rate(self) -> float:
        return self.parsed_steps / max(self.parsed_steps + self.filled_steps, 1)

    def quantiles(self, q: float | Sequence[float]) -> np.ndarray:
        """Per-point sample quantiles (numpy's linear interpolation): ``(len(q), [n,] h, D)``, or
        ``([n,] h, D)`` for one level. With one sample (greedy) every level is the forecast."""
        axis = self.samples.ndim - 3
        return np.quantile(self.samples, q, axis=axis)


class Forecaster:
    """A trained model with its codec (and the codec's tokenizer), ready to forecast arrays."""

    def __init__(
        self, model, codec: Codec, cfg: DictConfig, variables: Sequence[str] | None = None
    ) -> None:
        self.model, self.codec, self.cfg = model, codec, cfg
        self.variables = tuple(variables) if variables is not None else None  # as trained
        self.decoders: dict = {}  # the last decode loop (and CUDA graph), reused by predict

    @property
    def tokenizer(self):
        return self.codec.tokenizer

    @classmethod
    def from_run(
        cls, run_dir: str | Path, step: int | None = None, overrides: Sequence[str] = ()
    ) -> Forecaster:
        """The run's saved ``.hydra/config.yaml`` and the checkpoint it evaluated (by its
        ``train.select``; else its newest complete one; ``step``: ``checkpoints/step-N``);
        ``overrides``: dotlist, e.g. ``["decoding.num_samples=20"]``."""
        from llmts.train.checkpoint import checkpoint_root, find_selected

        run_dir = Path(run_dir).expanduser()
        saved = run_dir / ".hydra" / "config.yaml"
        if not saved.is_file():
            raise LlmtsError(f"{run_dir}: not an llmts run dir (no .hydra/config.yaml)")
        cfg = typed_config(OmegaConf.load(saved), overrides)
        root = checkpoint_root(run_dir)
        path = root / f"step-{step}" if step is not None else find_selected(run_dir)
        if path is None:
            raise LlmtsError(f"{run_dir}: no complete checkpoint in {checkpoint_root(run_dir)}")
        fc = cls.build(cfg, path)
        if (run_dir / "data.json").is_file():  # runs since data.json was written
            fc.variables = tuple(json.loads((run_dir / "data.json").read_text())["variables"])
        return fc

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        model: str | None = None,
        lora: str | None = None,
        overrides: Sequence[str] = (),
    ) -> Forecaster:
        """A checkpoint folder (``RUN/checkpoints/step-N``) with the model, LoRA and data settings
        saved with its run (``RUN/.hydra/config.yaml``); where none is saved, ``model`` / ``lora``
        name llmts's config options it was trained with (default: ``qwen2.5-0.5b-instruct``,
        ``default``). ``model``/``lora`` and ``overrides`` (Hydra overrides over llmts's
        composed config: ``["data.scale=per_variable"]``) win over the saved settings."""
        from hydra import compose
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        from llmts.config.compose import llmts_hydra, register_configs
        from llmts.config.errors import composition_error
        from llmts.train.run_config import as_trained, trained_hint

        given = [
            *([f"model={model}"] if model else []),
            *([f"lora={lora}"] if lora else []),
            *overrides,
        ]
        register_configs()
        try:  # llmts's own configs, also from inside another Hydra app
            with llmts_hydra():
                cfg = compose("config", overrides=given)
        except (HydraException, OmegaConfBaseException) as exc:
            raise LlmtsError(f"config: {composition_error(exc)}") from None
        path = Path(path).expanduser()
        cfg, run = as_trained(cfg, path, given)
        try:
            fc = cls.build(typed_config(cfg), path)
        except LlmtsError as exc:
            hint = trained_hint(path, "pass the model= and lora= options it was trained with")
            raise LlmtsError(f"{exc}{hint}") from None
        if run is not None and (run / "data.json").is_file():
            fc.variables = tuple(json.loads((run / "data.json").read_text())["variables"])
        return fc

    @classmethod
    def build(cls, cfg: DictConfig, checkpoint: Path | None) -> Forecaster:
        """Tokenizer + model of ``cfg`` with ``checkpoint``'s trained weights, on the GPU if any."""
        import torch

        from llmts.codec.codec import Codec
        from llmts.codec.tokenizer import load_tokenizer
        from llmts.model.build import build_model
        from llmts.train.checkpoint import load_checkpoint

        codec = Codec.build(cfg.data, load_tokenizer(cfg.model))
        net = build_model(cfg.model, cfg.lora, cfg.seed, codec)
        if checkpoint is not None:
            load_checkpoint(checkpoint, net)
            log.info("loaded checkpoint %s", checkpoint)
        return cls(net.to("cuda" if torch.cuda.is_available() else "cpu"), codec, cfg)

    def predict(
        self, x, horizon: int, num_samples: int | None = None, seed: int | None = None
    ) -> Prediction:
        """Forecast ``horizon`` steps after ``x``: one series (T, D) or (T,), many (n, T, D), or a
        list of (T_i, D) of different lengths. ``num_samples`` > 1 samples (with the decoding's
        temperature / top-k / top-p); default: as ``decoding`` says. ``seed``: default the run's."""
        from llmts.forecast.batch import forecast
        from llmts.metrics.point import point_forecast

        series, single = as_series(x, self.codec.missing)
        if horizon < 1:
            raise LlmtsError(f"horizon={horizon}: must be >= 1")
        dec = self.cfg.decoding.copy()
        if num_samples is not None:
            if num_samples < 1:
                raise LlmtsError(f"num_samples={num_samples}: must be >= 1")
            dec.num_samples, dec.do_sample = num_samples, num_samples > 1 or dec.do_sample
        d = series[0].shape[1]
        if self.variables is not None and d != len(self.variables):
            log.warning(
                "this model was trained on D=%d variables (%s); the input has D=%d: its "
                "forecasts may not mean much",
                len(self.variables),
                ", ".join(self.variables),
                d,
            )
        codec = self.codec.for_series(series)  # a sign where the input needs one
        res = forecast(
            self.model,
            codec,
            series,
            horizon,
            dec,
            batch_size=self.cfg.eval.batch_size,
            seed=self.cfg.seed if seed is None else seed,
            decoders=self.decoders,
        )
        point = point_forecast(res.samples, self.cfg.eval.point)
        first = (lambda a: a[0]) if single else (lambda a: a)  # noqa: E731
        return Prediction(
            first(res.samples),
            first(point),
            first(res.scales),
            res.parsed_steps,
            res.malformed_steps,
            res.filled_steps,
            res.texts,
            first(res.offsets),
        )


def typed_config(raw: DictConfig, overrides: Sequence[str] = ()) -> DictConfig:
    """``raw`` (a saved run config, or groups) checked against the schema: missing keys get their
    defaults (a run saved before a key existed), top-level keys a run no longer has (an old
    ``bench`` block) are dropped; unknown group keys, wrong types, bad choices and out-of-range
    values are one line."""
    from omegaconf.errors import OmegaConfBaseException

    from llmts.config.schema import Config, check

    schema = OmegaConf.structured(Config)
    try:
        raw = {k: v for k, v in OmegaConf.to_container(raw).items() if k in schema}
        train = raw.get("train") or {}
        if isinstance(train.get("compile"), bool):  # runs saved before train.compile had modes
            train["compile"] = "regions" if train["compile"] else "none"
        cfg = OmegaConf.merge(schema, raw, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as exc:
        key = f"{exc.full_key}: " if getattr(exc, "full_key", None) else ""
        raise LlmtsError(f"config: {key}{first_line(exc)}") from None
    check(cfg)
    return cfg


def as_series(x, gaps: bool) -> tuple[list[np.ndarray], bool]:
    """(list of (T_i, D) float arrays, whether ``x`` was one series), validated: numeric, same
    D, T_i >= 1, no ±inf, and NaN only when the codec writes gaps (``data.missing=encode``)."""
    one = not isinstance(x, (list, tuple)) and np.ndim(x) in (1, 2)
    try:
        items = [x] if one else list(x)
        series = [np.asarray(s, dtype=np.float64) for s in items]
    except (TypeError, ValueError) as exc:
        raise LlmtsError(f"input: not numeric ({str(exc).splitlines()[0]})") from None
    series = [s[:, None] if s.ndim == 1 else s for s in series]
    if not series or any(s.ndim != 2 or len(s) == 0 or s.shape[1] == 0 for s in series):
        raise LlmtsError(
            "input: need one series (T, D), many (n, T, D) or a list of (T_i, D), "
            f"non-empty; got shapes {[s.shape for s in series[:3]]}"
        )
    if len({s.shape[1] for s in series}) > 1:
        raise LlmtsError(
            f"input: series have different numbers of variables "
            f"{sorted({s.shape[1] for s in series})}"
        )
    check_values(series, "input", gaps)
    for i, s in enumerate(series):
        if np.isnan(s).all():
            raise LlmtsError(f"input: series {i} has no observed value")
    return series, one
