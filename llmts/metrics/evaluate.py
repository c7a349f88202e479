"""Evaluation stage: forecast the test split, score the model and the baselines on the same
series and horizon, and write ``forecasts.h5`` and the plots."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmts.codec.codec import Codec
from llmts.codec.llmtime import step_tokens
from llmts.config.schema import baseline_names
from llmts.data.series import Dataset
from llmts.data.split import Split, forecast_rows
from llmts.errors import LlmtsError
from llmts.forecast.batch import ForecastResult, forecast
from llmts.forecast.prompts import num_samples
from llmts.metrics import baselines, likelihood, physics, scaled, statistical
from llmts.metrics import bootstrap as stats
from llmts.metrics import point as metrics
from llmts.tracking import plots
from llmts.tracking.files import atomic_path
from llmts.tracking.progress import phase
from llmts.tracking.tracker import Tracker

log = logging.getLogger(__name__)
POINT_KEYS = metrics.POINT_METRICS


def context_steps(cfg, num_vars: int) -> int:
    """``eval.context_steps``, or when null as many whole steps as fit in ``data.context_length``
    tokens: a step of D values with one integer digit is D·(1 + 1 + precision) + D tokens
    (digits, '.', separators), 10 for Lotka-Volterra at 2 decimals → 12 / 51 / 76 steps for
    128 / 512 / 768 tokens, the study's Table 10 contexts."""
    per_step = step_tokens(num_vars, cfg.data.precision)
    if cfg.data.context_length < per_step:
        raise LlmtsError(
            f"data.context_length={cfg.data.context_length}: too small to hold one "
            f"time step ({per_step} tokens for {num_vars} variables)"
        )
    if cfg.eval.context_steps is not None:
        return cfg.eval.context_steps
    return cfg.data.context_length // per_step


def test_series(dataset: Dataset, split: Split, cfg) -> tuple[np.ndarray, ...]:
    """(series indices (n,), origins (n,), contexts (n, c, D), truths (n, h, D)) of every
    forecast the evaluation makes: one per test series, or one per origin of each series'
    test part with ``data.split=time`` (:func:`llmts.data.split.forecast_rows`)."""
    ev = cfg.eval
    c = context_steps(cfg, dataset.num_vars)
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
    return idx, origin, context, truth


def histories(dataset: Dataset, idx: np.ndarray, origin: np.ndarray) -> list[np.ndarray]:
    """Each row's history: every step of its series before its origin, (o, D) — what MASE's
    scale and the statistical baselines read (the model reads only the last context steps)."""
    return [dataset.series[i, :o] for i, o in zip(idx, origin)]


def season_length(ev, dataset: Dataset) -> int:
    """m of MASE, SQL and the seasonal baselines: ``eval.season_length``, else the one the
    data's frequency implies (:attr:`Dataset.season_length`; 1 when it has none)."""
    return int(ev.season_length or dataset.season_length)


def shuffled(context: np.ndarray, seed: int) -> np.ndarray:
    """``eval.shuffle_context`` (an ablation): each row's context steps in a random order (one
    permutation per row, the same for its D variables), seeded: does the model read the order?"""
    order = np.argsort(np.random.default_rng((seed, 39)).random(context.shape[:2]), axis=1)
    return np.take_along_axis(context, order[:, :, None], axis=1)


def resamples(ev, n: int) -> np.ndarray | None:
    """The (``eval.bootstrap``, n) series-index matrix every interval of this run uses; None:
    off."""
    return stats.resample_indices(n, ev.bootstrap, ev.bootstrap_seed) if ev.bootstrap else None


def score_untrained(
    model, codec: Codec, dataset: Dataset, split: Split, cfg
) -> tuple[dict, np.ndarray]:
    """``untrained/*``: the model's metrics before any training (the study's Table 2 row), and
    its point forecast (n, h, D) of the test series, the reference of ``skill/untrained``."""
    idx, _, context, truth = test_series(dataset, split, cfg)
    label = base_label(cfg)
    log.info("%s: forecasting %s", label, rows_text(idx, num_samples(cfg.decoding)))
    with phase(label):
        res = forecast(
            model,
            codec,
            context,
            cfg.eval.horizon,
            cfg.decoding,
            batch_size=cfg.eval.batch_size,
            seed=cfg.seed,
        )
    point = metrics.point_forecast(res.samples, cfg.eval.point)
    scored = {
        f"untrained/{k}": v
        for k, v in metrics.point_metrics(truth, point).items()
        if k in POINT_KEYS
    }
    scored["untrained/constant_forecasts"] = metrics.constant_share(point)
    nll = likelihood.nll_metrics(model, codec, context, truth, cfg)
    scored["untrained/nll_per_dim"] = nll["nll_per_dim"]
    if (idx := resamples(cfg.eval, len(truth))) is not None:
        scored.update(stats.point_intervals(truth, point, idx, "untrained/"))
    return scored, point


def base_label(cfg) -> str:
    """What the model before training is: a pretrained base forecasting zero-shot, or random
    weights. (Its metrics keep the key ``untrained/*``: the study's Table 2 row.)"""
    return "base zero-shot" if cfg.model.source == "pretrained" else "untrained"


def rows_text(idx: np.ndarray, samples: int) -> str:
    """``100 series x 20 sample(s)``, or with rolling origins ``12 windows of 1 series x …``."""
    series = len(set(np.asarray(idx).tolist()))
    what = f"{series} series" if series == len(idx) else f"{len(idx)} windows of {series} series"
    return f"{what} x {samples} sample(s)"


@dataclass
class Evaluation:
    """What scoring saw and produced, for the artifacts: the test series ``idx`` and forecast
    ``origin`` of each row with its context (n, c, D), truth and point forecast (n, h, D), the
    forecast result, each baseline's forecast, the untrained model's (None: not scored), MSE by
    horizon step per forecaster, and the skill curves and per-series physics checks
    (``extra``)."""

    idx: np.ndarray
    origin: np.ndarray
    context: np.ndarray
    truth: np.ndarray
    point: np.ndarray
    res: ForecastResult
    base: dict[str, np.ndarray]
    untrained: np.ndarray | None
    horizon_err: dict[str, np.ndarray]
    extra: dict[str, np.ndarray]
    variables: tuple[str, ...]
    mase_scale: np.ndarray | None = None  # (n,) each row's seasonal scale (units)
    dates: np.ndarray | None = None  # (n, c + h) datetime64 of each row's steps; None: undated
    base_name: str = "untrained"  # what the model before training is called (base_label)


def evaluate(
    model,
    codec: Codec,
    dataset: Dataset,
    split: Split,
    cfg,
    *,
    run_dir: Path,
    tracker: Tracker,
    untrained: np.ndarray | None = None,
) -> dict:
    """Score the test series (:func:`score`), write ``forecasts.h5``, the plots and the W&B
    tables (:func:`write`); returns the flat metrics."""
    out, done = score(model, codec, dataset, split, cfg, untrained)
    write(done, run_dir, cfg.eval.plot_series, tracker)
    return out


def score(
    model, codec: Codec, dataset: Dataset, split: Split, cfg, untrained: np.ndarray | None = None
) -> tuple[dict, Evaluation]:
    """Forecast ``cfg.eval.horizon`` steps after ``cfg.eval.context_steps`` for each test series;
    the flat metrics (model, per variable, sampling, baselines, skill, physics), each error,
    skill and physics metric with its bootstrap interval ``<metric>_ci``. ``untrained``: the
    untrained model's point forecast of the same series (:func:`score_untrained`), one more
    skill reference (``skill/untrained``: what training bought, paired on the series)."""
    ev = cfg.eval
    idx, origin, context, truth = test_series(dataset, split, cfg)
    c, h = context.shape[1], ev.horizon
    # the model scored here: trained in this run or loaded from a checkpoint, else the base
    which = "trained model" if cfg.train.max_steps > 0 or ev.checkpoint else base_label(cfg)
    log.info(
        "%s: forecasting %s, %d -> %d steps",
        which,
        rows_text(idx, num_samples(cfg.decoding)),
        c,
        h,
    )
    seen = shuffled(context, cfg.seed) if ev.get("shuffle_context") else context
    with phase(which):
        res = forecast(model, codec, seen, h, cfg.decoding, batch_size=ev.batch_size, seed=cfg.seed)
    point = metrics.point_forecast(res.samples, ev.point)
    out = dict(metrics.point_metrics(truth, point))
    out["constant_forecasts"] = metrics.constant_share(point)
    if note := metrics.degenerate_note(out):  # numbers alone would pass it unflagged
        out["degenerate"] = note
        log.warning("%s: degenerate forecasts: %s", which, note)
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
    out.update(likelihood.nll_metrics(model, codec, seen, truth, cfg))
    if res.samples.shape[1] > 1:
        out.update(metrics.sample_metrics(truth, res.samples))
    m = season_length(ev, dataset)
    hist = histories(dataset, idx, origin)
    scale = scaled.seasonal_scale(hist, m)
    quantiles = scaled.sample_quantiles(res.samples) if res.samples.shape[1] > 1 else None
    out.update(scaled.scaled_metrics(truth, point, scale, quantiles), season_length=m)
    base, base_q, fit = run_baselines(context, hist, dataset.time, h, m, ev, out)
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
        idx,
        origin,
        context,
        truth,
        point,
        res,
        base,
        untrained,
        horizon_err,
        extra,
        tuple(dataset.variables),
        scale,
        None
        if dataset.dates is None
        else np.stack([dataset.dates[i][o - c : o + h] for i, o in zip(idx, origin)]),
        base_label(cfg),
    )


def write(e: Evaluation, run_dir: Path, plot_series: int, tracker: Tracker) -> None:
    """``forecasts.h5``, ``plots/`` (the first ``plot_series`` series, MSE and skill by horizon
    step) and the per-series W&B table."""
    write_forecasts(run_dir / "forecasts.h5", e)
    write_plots(run_dir / "plots", e, plot_series, tracker)
    write_skill(run_dir / "plots" / "skill.png", e.extra, tracker)
    per_series = [
        [
            int(i),
            int(o),
            float(np.nanmean((e.truth[k] - e.point[k]) ** 2)),
            float(np.nanmean(np.abs(e.truth[k] - e.point[k]))),
        ]
        for k, (i, o) in enumerate(zip(e.idx, e.origin))
    ]
    tracker.table("eval/per_series", ["series_index", "origin", "mse", "mae"], per_series)


def run_baselines(
    context: np.ndarray,
    hist: list[np.ndarray],
    time: np.ndarray,
    h: int,
    m: int,
    ev,
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
    base_q: dict[str, np.ndarray] | None = None,
) -> None:
    """``<metric>_ci`` for the model's, each variable's, the samples' and each baseline's metrics,
    all from the one resample matrix ``idx`` (so baselines and model are paired); with the rows'
    seasonal ``scale``, the field's metrics' too (:mod:`llmts.metrics.scaled`)."""
    out.update(stats.point_intervals(truth, point, idx))
    if scale is not None:
        q = scaled.sample_quantiles(res.samples) if res.samples.shape[1] > 1 else None
        out.update(scaled.scaled_intervals(truth, point, scale, idx, quantiles=q))
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


def write_forecasts(path: Path, e: Evaluation) -> None:
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f["series_index"], f["origin"] = np.asarray(e.idx), np.asarray(e.origin)
        f["context"], f["truth"], f["forecast"] = e.context, e.truth, e.point
        if e.res.scales is not None:
            f["scale"] = e.res.scales  # (n, D) the α each series was encoded with
            f["offset"] = e.res.offsets  # (n, D) and its offset (data.scale=affine; else 0)
        if e.res.samples.shape[1] > 1:
            f["samples"] = e.res.samples
        for name, fc in e.base.items():
            f[f"baselines/{name}"] = fc
        if e.untrained is not None:
            f["untrained"] = e.untrained  # (n, h, D) the untrained model's point forecast
        if e.mase_scale is not None:
            f["mase_scale"] = e.mase_scale  # (n,) the seasonal scale of each row's history
        for name, err in e.horizon_err.items():
            f[f"per_horizon_mse/{name}"] = err
        for name, values in e.extra.items():  # skill curves, per-series physics checks
            f[name] = values


def write_plots(fig_dir: Path, e: Evaluation, k: int, tracker: Tracker) -> None:
    fig_dir.mkdir(exist_ok=True)
    for j in range(min(k, len(e.idx))):
        samples = e.res.samples[j] if e.res.samples.shape[1] > 1 else None
        i, o = int(e.idx[j]), int(e.origin[j])
        name = f"series_{i}" if (e.origin == e.origin[0]).all() else f"series_{i}_t{o}"
        path = plots.plot_series(
            fig_dir / f"{name}.png",
            i,
            e.context[j],
            e.truth[j],
            e.point[j],
            samples=samples,
            variables=e.variables,
            baselines=({} if e.untrained is None else {e.base_name: e.untrained[j]})
            | {name: fc[j] for name, fc in e.base.items()},
            dates=None if e.dates is None else e.dates[j],
        )
        tracker.image(f"forecast/{name}", path)
    tracker.image(
        "eval/per_horizon_mse", plots.plot_horizon(fig_dir / "per_horizon_mse.png", e.horizon_err)
    )


def write_skill(path: Path, extra: dict[str, np.ndarray], tracker: Tracker) -> None:
    """Skill by forecast step (plot and W&B table), when there are baselines."""
    names = [k.split("/")[1] for k in extra if k.startswith("skill/") and not k.endswith("_ci")]
    if not names:
        return
    curves = {n: (extra[f"skill/{n}"], extra.get(f"skill/{n}_ci")) for n in names}
    tracker.image("eval/skill", plots.plot_skill(path, curves))
    cols = ["step"] + [f"{n}{s}" for n in names for s in ("", "_lo", "_hi")]
    rows = [
        [j + 1]
        + [
            float(v)
            for n in names
            for v in (
                curves[n][0][j],
                *(curves[n][1][:, j] if curves[n][1] is not None else (np.nan, np.nan)),
            )
        ]
        for j in range(len(curves[names[0]][0]))
    ]
    tracker.table("eval/skill", cols, rows)


TABLE_SCALED = ("mase", "wql")  # the field's metrics shown beside the point ones


def _cell(value) -> str:
    """One right-aligned table cell: a number, or '-' where the metric is absent/undefined."""
    return f"{value:>11.4g}" if isinstance(value, (int, float)) else f"{'-':>11}"


def results_table(m: dict, base: str = "untrained") -> str:
    """The model's metrics (point ones, MASE and WQL: '-' where not scored) beside each
    baseline's (every ``baseline/<name>/mse`` in ``m``, in the order they were scored), one row
    each; then, when the model before training was scored (``untrained/*``, shown as ``base``:
    :func:`base_label`), the skill over it (what training bought, paired on the same series)
    with its interval."""
    rows = [("model", "")]
    if "untrained/mse" in m:
        rows.append((base, "untrained/"))
    rows += [
        (k.split("/")[1], k[: -len("mse")]) for k in m if re.fullmatch(r"baseline/[^/]+/mse", k)
    ]
    w = max(len(name) for name, _ in rows) + 3
    keys = POINT_KEYS + TABLE_SCALED
    head = f"{'':<{w}}" + "".join(f"{k.upper() if k != 'r2' else 'R2':>11}" for k in keys)
    lines = [head] + [
        f"{name:<{w}}" + "".join(_cell(m.get(prefix + k)) for k in keys) for name, prefix in rows
    ]
    if (gain := m.get("skill/untrained")) is not None:
        ci = m.get("skill/untrained_ci")
        band = f" [{ci[0]:.3f}, {ci[1]:.3f}] (95 % interval)" if ci else ""
        lines.append(f"skill vs {base} (1 - MSE / MSE_{base.split()[0]}): {gain:.3f}{band}")
    return "\n".join(lines)
