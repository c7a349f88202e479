"""Evaluation stage, scoring: forecast the test split, score the model and the baselines on the
same rows and horizon. Arrays and config sections in, flat metrics and an :class:`Evaluation`
out; nothing is written here (:mod:`llmts.report.run` writes a run's forecasts, plots and
tables)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from llmts.codec.codec import Codec
from llmts.codec.llmtime import step_tokens
from llmts.config.schema import (
    DataConfig,
    DecodingConfig,
    EvalConfig,
    ModelConfig,
    baseline_names,
)
from llmts.data.series import Dataset
from llmts.data.split import Split, forecast_rows
from llmts.errors import LlmtsError
from llmts.forecast.batch import ForecastResult, forecast
from llmts.forecast.prompts import num_samples
from llmts.metrics import baselines, likelihood, physics, scaled, statistical
from llmts.metrics import bootstrap as stats
from llmts.metrics import point as metrics
from llmts.tracking.progress import phase

log = logging.getLogger(__name__)
POINT_KEYS = metrics.POINT_METRICS


def context_steps(ev: EvalConfig, data: DataConfig, num_vars: int) -> int:
    """``eval.context_steps``, or when null as many whole steps as fit in ``data.context_length``
    tokens: a step of D values with one integer digit is D·(1 + 1 + precision) + D tokens
    (digits, '.', separators), 10 for Lotka-Volterra at 2 decimals → 12 / 51 / 76 steps for
    128 / 512 / 768 tokens, the study's Table 10 contexts."""
    per_step = step_tokens(num_vars, data.precision)
    if data.context_length < per_step:
        raise LlmtsError(
            f"data.context_length={data.context_length}: too small to hold one "
            f"time step ({per_step} tokens for {num_vars} variables)"
        )
    if ev.context_steps is not None:
        return ev.context_steps
    return data.context_length // per_step


class EvalRows(NamedTuple):
    """Every forecast the evaluation makes, one row each: its series index (n,) and origin
    (n,), the context before the origin (n, c, D) and the truth after it (n, h, D); its whole
    history before the origin (o, D) each, what the statistical baselines fit; the season
    length m and each row's seasonal scale (n,) on that history, the denominator of MASE and
    SQL (:func:`llmts.metrics.scaled.seasonal_scale`)."""

    idx: np.ndarray
    origin: np.ndarray
    context: np.ndarray
    truth: np.ndarray
    history: list[np.ndarray]
    season: int
    scale: np.ndarray


def evaluation_rows(dataset: Dataset, split: Split, ev: EvalConfig, data: DataConfig) -> EvalRows:
    """The rows of the evaluation: one per test series, or one per origin of each series' test
    part with ``data.split=time`` (:func:`llmts.data.split.forecast_rows`)."""
    c = context_steps(ev, data, dataset.num_vars)
    idx, origin = forecast_rows(
        split,
        dataset.lengths,
        c,
        ev.horizon,
        num_series=ev.num_series,
        origins=ev.origins,
        stride=ev.origin_stride,
        source=dataset.source,
    )
    context = np.stack([dataset.series[i, o - c : o] for i, o in zip(idx, origin)])
    truth = np.stack([dataset.series[i, o : o + ev.horizon] for i, o in zip(idx, origin)])
    history = [dataset.series[i, :o] for i, o in zip(idx, origin)]
    m = season_length(ev, dataset)
    return EvalRows(idx, origin, context, truth, history, m, scaled.seasonal_scale(history, m))


def season_length(ev: EvalConfig, dataset: Dataset) -> int:
    """m of MASE, SQL and the seasonal baselines: ``eval.season_length``, else the one the
    data's frequency implies (:attr:`Dataset.season_length`; 1 when it has none)."""
    return int(ev.season_length or dataset.season_length)


def shuffled(context: np.ndarray, seed: int) -> np.ndarray:
    """``eval.shuffle_context`` (an ablation): each row's context steps in a random order (one
    permutation per row, the same for its D variables), seeded: does the model read the order?"""
    order = np.argsort(np.random.default_rng((seed, 39)).random(context.shape[:2]), axis=1)
    return np.take_along_axis(context, order[:, :, None], axis=1)


def resamples(ev: EvalConfig, n: int) -> np.ndarray | None:
    """The (``eval.bootstrap``, n) series-index matrix every interval of this run uses; None:
    off."""
    return stats.resample_indices(n, ev.bootstrap, ev.bootstrap_seed) if ev.bootstrap else None


def score_untrained(
    model,
    codec: Codec,
    rows: EvalRows,
    ev: EvalConfig,
    decoding: DecodingConfig,
    *,
    seed: int,
    label: str,
) -> tuple[dict, np.ndarray]:
    """``untrained/*``: the model's metrics before any training (the study's Table 2 row: the
    point metrics; MASE, sMAPE, WAPE and, sampled, WQL and SQL on the same scale as the trained
    model's), and its point forecast (n, h, D) of the rows, the reference of
    ``skill/untrained``. ``label``: what the log calls it (:func:`base_label`)."""
    context, truth = rows.context, rows.truth
    log.info("%s: forecasting %s", label, rows_text(rows.idx, num_samples(decoding)))
    with phase(label):
        res = forecast(
            model, codec, context, ev.horizon, decoding, batch_size=ev.batch_size, seed=seed
        )
    point = metrics.point_forecast(res.samples, ev.point)
    scored = {
        f"untrained/{k}": v
        for k, v in metrics.point_metrics(truth, point).items()
        if k in POINT_KEYS
    }
    scored["untrained/constant_forecasts"] = metrics.constant_share(point)
    q = scaled.sample_quantiles(res.samples) if res.samples.shape[1] > 1 else None
    for key, value in scaled.scaled_metrics(truth, point, rows.scale, q).items():
        scored[f"untrained/{key}"] = value
    nll = likelihood.nll_metrics(model, codec, context, truth, ev)
    scored["untrained/nll_per_dim"] = nll["nll_per_dim"]
    if (idx := resamples(ev, len(truth))) is not None:
        scored.update(stats.point_intervals(truth, point, idx, "untrained/"))
        scored.update(scaled.scaled_intervals(truth, point, rows.scale, idx, "untrained/", q))
    return scored, point


def base_label(model: ModelConfig) -> str:
    """What the model before training is: a pretrained base forecasting zero-shot, or random
    weights. (Its metrics keep the key ``untrained/*``: the study's Table 2 row.)"""
    return "base zero-shot" if model.source == "pretrained" else "untrained"


def rows_text(idx: np.ndarray, samples: int) -> str:
    """``100 series x 20 sample(s)``, or with rolling origins ``12 windows of 1 series x …``."""
    series = len(set(np.asarray(idx).tolist()))
    what = f"{series} series" if series == len(idx) else f"{len(idx)} windows of {series} series"
    return f"{what} x {samples} sample(s)"


@dataclass
class Evaluation:
    """What scoring saw and produced, for the artifacts: the rows scored (:class:`EvalRows`),
    the model's point forecast (n, h, D), the forecast result, each baseline's forecast, the
    untrained model's (None: not scored), MSE by horizon step per forecaster, and the skill
    curves and per-series physics checks (``extra``)."""

    rows: EvalRows
    point: np.ndarray
    res: ForecastResult
    base: dict[str, np.ndarray]
    untrained: np.ndarray | None
    horizon_err: dict[str, np.ndarray]
    extra: dict[str, np.ndarray]
    variables: tuple[str, ...]
    dates: np.ndarray | None = None  # (n, c + h) datetime64 of each row's steps; None: undated


def score(
    model,
    codec: Codec,
    dataset: Dataset,
    rows: EvalRows,
    ev: EvalConfig,
    decoding: DecodingConfig,
    *,
    seed: int,
    label: str,
    untrained: np.ndarray | None = None,
) -> tuple[dict, Evaluation]:
    """Forecast ``eval.horizon`` steps after each row's context (:func:`evaluation_rows`); the flat
    metrics (model, per variable, sampling, baselines, skill, physics), each error, skill and
    physics metric with its bootstrap interval ``<metric>_ci``. ``label``: what the log calls
    the model scored (a trained model, or :func:`base_label`). ``untrained``: the untrained
    model's point forecast of the same rows (:func:`score_untrained`), one more skill reference
    (``skill/untrained``: what training bought, paired on the rows)."""
    idx, origin, context, truth = rows.idx, rows.origin, rows.context, rows.truth
    m, scale = rows.season, rows.scale
    c, h = context.shape[1], ev.horizon
    log.info(
        "%s: forecasting %s, %d -> %d steps", label, rows_text(idx, num_samples(decoding)), c, h
    )
    seen = shuffled(context, seed) if ev.shuffle_context else context
    with phase(label):
        res = forecast(model, codec, seen, h, decoding, batch_size=ev.batch_size, seed=seed)
    point = metrics.point_forecast(res.samples, ev.point)
    out = dict(metrics.point_metrics(truth, point))
    out["constant_forecasts"] = metrics.constant_share(point)
    if note := metrics.degenerate_note(out):  # numbers alone would pass it unflagged
        out["degenerate"] = note
        log.warning("%s: degenerate forecasts: %s", label, note)
    out.update(metrics.per_variable(truth, point, dataset.variables))
    out.update(
        parse_rate=res.parse_rate,
        filled_steps=res.filled_steps,
        malformed_steps=res.malformed_steps,
        num_series=len(idx),
        context_steps=c,
        horizon=h,
        num_samples=res.samples.shape[1],
        test_series=len(set(idx.tolist())),
        missing_truth=int(np.isnan(truth).sum()),  # points every metric skips
        missing_context=int(np.isnan(context).sum()),
    )
    out.update(likelihood.nll_metrics(model, codec, seen, truth, ev))
    if res.samples.shape[1] > 1:
        out.update(metrics.sample_metrics(truth, res.samples))
    quantiles = scaled.sample_quantiles(res.samples) if res.samples.shape[1] > 1 else None
    out.update(scaled.scaled_metrics(truth, point, scale, quantiles), season_length=m)
    base, base_q, fit = run_baselines(context, rows.history, dataset.time, h, m, ev, out)
    rates = None if fit is None else fit.params
    score_baselines(truth, base, out, scale, base_q)
    boot = resamples(ev, len(idx))
    if boot is not None:
        add_intervals(
            out,
            truth,
            point,
            res,
            base,
            variables=dataset.variables,
            idx=boot,
            scale=scale,
            quantiles=quantiles,
            base_q=base_q,
        )
    refs = base if untrained is None else {**base, "untrained": untrained}
    extra = {f"skill/{k}": v for k, v in skill_curves(truth, point, refs, boot, out).items()}
    extra.update(
        {
            f"physics/{k}": v
            for k, v in physics_checks(context, truth, point, rates, boot, out).items()
        }
    )
    horizon_err = {"model": metrics.per_horizon(truth, point)["mse"]}
    horizon_err.update({k: metrics.per_horizon(truth, v)["mse"] for k, v in refs.items()})
    return out, Evaluation(
        rows,
        point,
        res,
        base,
        untrained,
        horizon_err,
        extra,
        tuple(dataset.variables),
        None
        if dataset.dates is None
        else np.stack([dataset.dates[i][o - c : o + h] for i, o in zip(idx, origin)]),
    )


def run_baselines(
    context: np.ndarray,
    hist: list[np.ndarray],
    time: np.ndarray,
    h: int,
    m: int,
    ev: EvalConfig,
    out: dict,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], baselines.OdeFitResult | None]:
    """(point forecasts (n, h, D) of the baselines ``eval.baselines`` in that order, the quantiles
    (9, n, h, D) of those that have them (statsforecast's), the ODE fit (its rates and failures;
    None without one)). llmts's own read the context; statsforecast's the whole history ``hist``
    with season ``m`` (:mod:`llmts.metrics.statistical`). Into ``out``: how many series each
    fit failed on (``baseline/<name>/failed``)."""
    c = context.shape[1]
    fcs: dict[str, np.ndarray] = {}
    quantiles: dict[str, np.ndarray] = {}
    fit = None
    names = baseline_names(ev)
    stat = [n for n in names if n in statistical.MODELS]
    fitted = statistical.statistical_forecasts(hist, h, m, stat, ev.baseline_jobs) if stat else {}
    for name in names:
        if name == "persistence":
            fcs[name] = baselines.persistence(context, h)
        elif name == "context_seasonal_naive":
            fcs[name] = baselines.seasonal_naive(context, h)
        elif name == "ode_fit" and context.shape[2] != 2:
            log.info("ode_fit baseline skipped: it fits Lotka-Volterra, which needs D = 2")
        elif name == "ode_fit":
            fit = baselines.ode_fit(context, time[:c], time[c : c + h])
            fcs[name], out["baseline/ode_fit/failed"] = fit.forecast, fit.failed
        else:
            fcs[name], quantiles[name] = fitted[name].point, fitted[name].quantiles
            out[f"baseline/{name}/failed"] = fitted[name].failed
            out[f"baseline/{name}/seconds"] = fitted[name].seconds
    return fcs, quantiles, fit


def add_intervals(
    out: dict,
    truth,
    point,
    res: ForecastResult,
    base: dict[str, np.ndarray],
    *,
    variables,
    idx: np.ndarray,
    scale: np.ndarray | None = None,
    quantiles: np.ndarray | None = None,
    base_q: dict[str, np.ndarray] | None = None,
) -> None:
    """``<metric>_ci`` for the model's, each variable's, the samples' and each baseline's metrics,
    all from the one resample matrix ``idx`` (so baselines and model are paired); with the rows'
    seasonal ``scale``, the field's metrics' too (:mod:`llmts.metrics.scaled`; WQL and SQL from
    the model's sample ``quantiles`` and the baselines' ``base_q``)."""
    out.update(stats.point_intervals(truth, point, idx))
    if scale is not None:
        out.update(scaled.scaled_intervals(truth, point, scale, idx, quantiles=quantiles))
        for name, fc in base.items():
            q = (base_q or {}).get(name)
            out.update(scaled.scaled_intervals(truth, fc, scale, idx, f"baseline/{name}/", q))
    for k, name in enumerate(variables):
        out.update(stats.point_intervals(truth[..., k], point[..., k], idx, f"{name}/"))
    if res.samples.shape[1] > 1:
        w = stats.counts(idx, len(truth))
        for key, v in metrics.sample_metrics_per_series(truth, res.samples).items():
            out[f"{key}_ci"] = stats.interval(stats.mean_draws(v, w)).tolist()
    for name, fc in base.items():
        out.update(stats.point_intervals(truth, fc, idx, f"baseline/{name}/"))


def skill_curves(
    truth, point, base: dict[str, np.ndarray], idx: np.ndarray | None, out: dict
) -> dict[str, np.ndarray]:
    """Skill 1 − MSE/MSE_ref against each baseline. Into ``out``: ``skill/<ref>`` over the whole
    horizon, and with the bootstrap its ``_ci`` and ``skill/<ref>_horizon`` (last step whose
    interval lies above 0). Returned: the per-step curve ``<ref>`` (h,) and ``<ref>_ci`` (2, h)."""
    model, one = stats.step_sse(truth, point), np.ones((1, len(truth)))
    w = stats.counts(idx, len(truth)) if idx is not None else None
    curves: dict[str, np.ndarray] = {}
    for name, fc in base.items():
        ref = stats.step_sse(truth, fc)
        curves[name] = stats.skill(model, ref, one)[0]
        out[f"skill/{name}"] = float(stats.skill(model.sum(1), ref.sum(1), one)[0])
        if w is not None:
            curves[f"{name}_ci"] = stats.interval(stats.skill(model, ref, w))
            out[f"skill/{name}_ci"] = stats.interval(
                stats.skill(model.sum(1), ref.sum(1), w)
            ).tolist()
            out[f"skill/{name}_horizon"] = stats.useful_horizon(curves[f"{name}_ci"][0])
    return curves


def physics_checks(
    context, truth, point, rates: np.ndarray | None, idx: np.ndarray | None, out: dict
) -> dict[str, np.ndarray]:
    """``physics/*`` (see ``llmts.metrics.physics``): mean over series and, with the bootstrap,
    ``_ci``;
    returns the per-series values. Lotka-Volterra (D = 2) only; otherwise a note."""
    if context.shape[2] != 2:
        out["physics/skipped"] = (
            f"Lotka-Volterra checks need D = 2; this data has D = {context.shape[2]}"
        )
        log.info("physics checks skipped: %s", out["physics/skipped"])
        return {}
    if rates is None:
        out["physics/invariant_skipped"] = (
            "the invariant needs the ODE fit (ode_fit in eval.baselines)"
        )
    per = physics.lv_checks(context, truth, point, rates)
    w = stats.counts(idx, len(truth)) if idx is not None else None
    for key, v in per.items():
        out[f"physics/{key}"] = float(np.nanmean(v)) if np.isfinite(v).any() else None
        if w is not None:
            out[f"physics/{key}_ci"] = stats.interval(stats.mean_draws(v, w)).tolist()
    out["physics/series_with_peak"] = int(np.isfinite(per["peak_missed"]).sum())
    if rates is not None:
        out["physics/invariant_series"] = int(np.isfinite(per["invariant_drift_truth"]).sum())
    return per


def score_baselines(
    truth: np.ndarray,
    fcs: dict[str, np.ndarray],
    out: dict,
    scale: np.ndarray | None = None,
    quantiles: dict[str, np.ndarray] | None = None,
) -> None:
    """``baseline/<name>/<metric>``: the point metrics of each baseline's forecast, and with the
    rows' seasonal ``scale`` the field's (WQL and SQL for those with ``quantiles``)."""
    for name, fc in fcs.items():
        for key, value in metrics.point_metrics(truth, fc).items():
            if key in POINT_KEYS:
                out[f"baseline/{name}/{key}"] = value
        if scale is not None:
            q = (quantiles or {}).get(name)
            for key, value in scaled.scaled_metrics(truth, fc, scale, q).items():
                out[f"baseline/{name}/{key}"] = value
