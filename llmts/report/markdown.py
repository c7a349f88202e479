"""Markdown tables of a sweep report: metrics with intervals, differences to the best, skill and
physical checks (numbers from ``llmts.report.compare``)."""

from __future__ import annotations

from typing import Any

from llmts.metrics import bootstrap as stats
from llmts.metrics.point import degenerate_note
from llmts.report.compare import Bootstrap, Cell, Setting, cell, difference, useful_steps
from llmts.tracking.plots import SKILL_FLOOR

# Skill and physical checks: (metrics.json key, column title); "@" marks the useful-steps column
CHECKS = [
    ("constant_forecasts", "Constant forecasts (share)"),
    ("skill/persistence", "Skill vs persistence"),
    ("@persistence", "Steps skill > 0"),
    ("skill/ode_fit", "Skill vs ODE fit"),
    ("physics/negative_share", "Negative share"),
    ("physics/invariant_drift", "Invariant drift"),
    ("physics/invariant_drift_truth", "Invariant drift (truth)"),
    ("physics/peak_phase_error", "Peak phase error (steps)"),
    ("physics/peak_missed", "Peaks missed"),
]


def fmt(v: Any, nd: int = 4) -> str:
    """4 decimals, or 3 significant digits in e-notation for tiny and huge values; '-' for None."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return "-" if v is None else str(v)
    if v != 0 and (abs(v) < 10**-nd or abs(v) >= 1e7):
        return f"{v:.3e}"
    return f"{v:.{nd}f}"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def text(c: Cell, bold: bool = False, signed: bool = False, count: bool = False) -> str:
    """``mean`` (bold; a whole ``count`` without decimals), `` ± std`` across seeds, `` [lo,
    hi]``."""
    if c.mean is None:
        return "-"
    whole = count and float(c.mean).is_integer()
    m = ("+" if signed and c.mean > 0 else "") + (str(int(c.mean)) if whole else fmt(c.mean))
    out = f"**{m}**" if bold else m
    out += f" ± {fmt(c.std)}" if c.std is not None else ""
    return out + (f" [{fmt(c.lo)}, {fmt(c.hi)}]" if c.lo is not None else "")


def metric_tables(
    title: str, sets: list[Setting], boot: Bootstrap, metrics: list[tuple[str, str]]
) -> list[str]:
    """Tables 7/9/10 (``mean [lo, hi]``, the best bold where distinguishable from every other
    setting) and the differences to the best, paired where the settings share test series."""
    keys = [k for k, _ in metrics]
    cells = [[cell(s, k, boot) for k in keys] for s in sets]
    best, diffs, distinct = {}, {}, {}
    for c, k in enumerate(keys):
        vals = [(row[c].mean, i) for i, row in enumerate(cells) if row[c].mean is not None]
        if len(vals) > 1:  # on a tie the first row is "best": its difference shows the tie
            best[k], distinct[k] = (
                (max if k == "r2" else min)(vals, key=lambda v: v[0])[1],
                len({v for v, _ in vals}) > 1,
            )
            diffs.update(
                {
                    (i, k): difference(s, sets[best[k]], k, boot)
                    for i, s in enumerate(sets)
                    if i != best[k]
                }
            )
    tested = any(d is not None for d in diffs.values())
    with_ci = any(c.lo is not None for row in cells for c in row)

    def bold(i: int, k: str) -> bool:
        if best.get(k) != i:
            return False
        if not tested:  # nothing to test a difference with: the plain best, unless all are equal
            return distinct[k]
        return all(
            d is not None and stats.excludes_zero(d[0].lo, d[0].hi)
            for (_, kk), d in diffs.items()
            if kk == k
        )

    rows = [
        [s.label] + [text(cells[i][c], bold(i, k)) for c, k in enumerate(keys)]
        for i, s in enumerate(sets)
    ]
    for b in sorted(
        {
            k.split("/")[1]
            for s in sets
            for j in s.jobs
            for k in j.metrics
            if k.startswith("baseline/") and k.count("/") == 2
        }
    ):
        base = [[text(cell(s, f"baseline/{b}/{k}", boot)) for k in keys] for s in sets]
        same = all(r == base[0] for r in base)  # one row when every setting saw the same series
        rows += [
            [f"*baseline {b}*" + ("" if same else f" ({s.label})")] + r
            for s, r in (zip(sets[:1], base[:1]) if same else zip(sets, base))
        ]
    seeds = max(len(s.jobs) for s in sets)
    note = f"; mean ± std across the seeds (up to {seeds} per row)" if seeds > 1 else ""
    caption = (
        "Forecasting metrics: mean [95 % bootstrap interval over test series]" + note
        if with_ci
        else "Forecasting metrics" + note.replace(";", ":", 1)
    )
    caption += (
        ". The best per column is bold only where its difference to every other row excludes 0:"
        if tested
        else " (best per column in bold; no per-series forecasts to test the differences):"
    )
    out = [caption, "", md_table([title] + [t for _, t in metrics], rows), ""]
    if tested:
        diff_rows = [
            [s.label] + [_diff_text(i, k, best, diffs) for k in keys] for i, s in enumerate(sets)
        ]
        unpaired = any(c.endswith("ᵘ") for r in diff_rows for c in r)
        out += [
            "Difference to the best of each column (row − best) with its 95 % interval, paired "
            "over the test series (and seeds) both rows share; \\* = the interval excludes 0"
            + (", ᵘ = no shared series, unpaired" if unpaired else "")
            + ":",
            "",
            md_table([title] + [t for _, t in metrics], diff_rows),
            "",
        ]
    return out


def _diff_text(i: int, k: str, best: dict, diffs: dict) -> str:
    if best.get(k) == i:
        return "best"
    d = diffs.get((i, k))
    if d is None:
        return "-"
    c, paired = d
    return (
        text(c, signed=True)
        + (" \\*" if stats.excludes_zero(c.lo, c.hi) else "")
        + ("" if paired else " ᵘ")
    )


def checks_table(title: str, sets: list[Setting], boot: Bootstrap) -> list[str]:
    """Skill over the baselines and the Lotka-Volterra checks, one row per setting."""
    have = {k for s in sets for j in s.jobs for k in j.metrics}
    cols = [(k, t) for k, t in CHECKS if k in have or (k[0] == "@" and f"skill/{k[1:]}" in have)]
    notes = sorted(
        {
            f"{k}: {v}"
            for s in sets
            for j in s.jobs
            for k, v in j.metrics.items()
            if k.startswith("physics/") and k.endswith("skipped")
        }
    )
    # degenerate forecasts first: they explain every other number of their row
    notes = [
        f"**degenerate** `{j.label}`: {note}"
        for s in sets
        for j in s.jobs
        if (note := degenerate_note(j.metrics))
    ] + notes
    if not cols:
        return (
            ["## Skill and physical checks", ""]
            + [f"- {n}" for n in notes]
            + ([""] if notes else [])
        )

    def shown(s: Setting, k: str) -> str:
        if k[0] == "@":
            return text(useful_steps(s, k[1:], boot), count=True)
        c = cell(s, k, boot)
        if k.startswith("skill/") and c.mean is not None and c.mean < SKILL_FLOOR:
            notes.append(
                f"`{s.label}`: skill vs {k[6:]} is {fmt(c.mean)}: the {k[6:]} "
                "forecast is near-exact, so its skill says nothing about the model "
                "(shown as n/a)"
            )
            return "n/a"
        return text(c)

    rows = [[s.label] + [shown(s, k) for k, _ in cols] for s in sets]
    return (
        [
            "## Skill and physical checks",
            "",
            "*Constant forecasts*: the share of forecasts with one value over the whole horizon in "
            "every variable (a degenerate model); "
            "Skill = 1 − MSE / MSE of the baseline (1 exact, 0 as good as the baseline, "
            "< 0 worse); "
            "*Steps skill > 0*: the last forecast step whose skill over persistence is above 0 "
            "with "
            "95 % confidence; physical checks of the forecast as Lotka-Volterra populations "
            "(share of negative points, drift of the LV invariant relative to the context's orbit, "
            "timing of the next peak; see `llmts/metrics/physics.py`). Plot: `skill.png`.",
            "",
            md_table([title] + [t for _, t in cols], rows),
            "",
        ]
        + [f"- {n}" for n in notes]
        + ([""] if notes else [])
    )
