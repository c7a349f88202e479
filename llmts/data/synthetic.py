"""A synthetic pretraining corpus of varied series that holds no Lotka-Volterra system.

Every family is simulated for many series at once (vectorised numpy, fixed-step RK4 for the
ODEs), from one seed. Each series has 1-3 variables, is made positive (each variable shifted so
its minimum is a random fraction of its range above 0, then scaled by a random factor), so its
LLMTIME text, after the codec's percentile scaling, spans the range the study's data does.
Periods are drawn between ``min_period`` and ``max_period`` steps. Families (:data:`FAMILIES`;
the mix is ``llmts-pretrain``'s ``corpus.families``):

* ``kernel``: KernelSynth-like compositions (as in Chronos): each variable a sum of 1-3 periodic
  components (random Fourier series of a shared base period, harmonics decaying), times an
  optional exponential envelope, plus an optional linear trend and noise; the variables share
  the periods with their own harmonics and phases (coupled-looking oscillations);
* ``ar``: AR(2) with complex roots (quasi-periodic, pole radius 0.9-0.995) and a random walk or
  Ornstein-Uhlenbeck process; variables are lagged, noisy copies of one latent;
* ``oscillator``: damped and driven oscillators x'' + 2ζω₀x' + ω₀²x = F cos(Ωt) and damped,
  driven pendulums θ'' = -bθ' - ω₀² sin θ + F cos(Ωt); variables (position, velocity);
* ``ode``: Van der Pol (x, y), Brusselator (x, y), FitzHugh-Nagumo (v, w) limit cycles and a
  seasonally forced SIR (S, I, R);
* ``periodic``: one cycle of a random shape (a Fourier series, a few Gaussian bumps or a skewed
  sawtooth) repeated, each variable the shape (or its own shape) shifted by its own phase:
  series whose next cycle is the last one again, which a model learns to read from its context.
  Half of them repeat exactly (an integer period, no noise: the text itself repeats), half
  drift (the period changes by up to 3 % over the series, light noise);
* ``motif``: a motif of P random values per variable repeated exactly (P whole steps, at most
  T / 8 so that a window holds several cycles; the values independent, or smoothed around the
  cycle): nothing but one cycle back predicts the next value, so the only way to learn it is
  to copy from the context (an induction task written as a series).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from llmts.errors import LlmtsError

TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class Corpus:
    """``series``: a list of (T, D_i) float32 arrays, D_i in 1..3; ``family``: each one's."""

    series: list[np.ndarray]
    family: list[str]

    def counts(self) -> dict[str, int]:
        names, n = np.unique(self.family, return_counts=True)
        return {str(k): int(v) for k, v in zip(names, n)}


def _periods(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """Periods in steps, log-uniform in [lo, hi]."""
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _dims(rng: np.random.Generator, n: int) -> np.ndarray:
    """Variables per series: 1, 2 or 3 (2 most often, as in the study's data)."""
    return rng.choice([1, 2, 3], size=n, p=[0.3, 0.45, 0.25])


def kernel(rng: np.random.Generator, n: int, steps: int, lo: float, hi: float) -> np.ndarray:
    """(n, T, 3) KernelSynth-like compositions (module docstring)."""
    t = np.arange(steps, dtype=np.float64)
    out = np.zeros((n, steps, 3))
    comps = rng.integers(1, 4, n)  # periodic components per series
    for c in range(3):
        on = (c < comps)[:, None, None]
        period = _periods(rng, n, lo, hi)[:, None, None]
        decay = rng.uniform(0.6, 2.0, n)[:, None, None]
        amp = rng.uniform(0.3, 1.0, n)[:, None, None] * (1.0 if c == 0 else rng.uniform(0.1, 0.8))
        for k in range(1, 5):  # harmonics, per variable their own amplitude and phase
            a = rng.uniform(0, 1, (n, 1, 3)) / k ** (decay * rng.uniform(0.5, 1.5, (n, 1, 1)))
            phase = rng.uniform(0, TWO_PI, (n, 1, 3))
            out += on * amp * a * np.sin(TWO_PI * k * t[None, :, None] / period + phase)
    rate = rng.normal(0, 1.0, (n, 1, 1)) / steps * (rng.random((n, 1, 1)) < 0.3)
    out *= np.exp(rate * t[None, :, None])
    trend = rng.normal(0, 1.5, (n, 1, 3)) / steps * (rng.random((n, 1, 1)) < 0.4)
    out += trend * t[None, :, None]
    noise = rng.uniform(0, 0.08, (n, 1, 1)) * (rng.random((n, 1, 1)) < 0.5)
    return out + noise * out.std(axis=1, keepdims=True) * rng.standard_normal(out.shape)


def ar(rng: np.random.Generator, n: int, steps: int, lo: float, hi: float) -> np.ndarray:
    """(n, T, 3) AR(2) quasi-periodic processes (2/3 of series) and random walks / OU (1/3),
    variables lagged noisy copies of the latent."""
    burn, lag_max = 50, 12
    total = steps + burn + lag_max
    theta = TWO_PI / _periods(rng, n, lo, hi)
    radius = rng.uniform(0.9, 0.995, n)
    periodic = rng.random(n) < 2 / 3
    a1 = np.where(periodic, 2 * radius * np.cos(theta), 1 - rng.uniform(0, 0.1, n))
    a2 = np.where(periodic, -(radius**2), 0.0)
    drift = np.where(periodic, 0.0, rng.normal(0, 0.05, n))
    eps = rng.standard_normal((n, total))
    x = np.zeros((n, total))
    for i in range(2, total):
        x[:, i] = a1 * x[:, i - 1] + a2 * x[:, i - 2] + drift + eps[:, i]
    lags = rng.integers(0, lag_max + 1, (n, 3))
    lags[:, 0] = 0
    start = burn + lag_max - lags  # (n, 3)
    idx = start[:, None, :] + np.arange(steps)[None, :, None]
    out = np.take_along_axis(x[:, :, None].repeat(3, axis=2), idx, axis=1)
    gain = rng.uniform(0.5, 1.5, (n, 1, 3)) * rng.choice([-1, 1], (n, 1, 3))
    gain[:, :, 0] = 1
    noise = rng.uniform(0, 0.3, (n, 1, 3)) * out.std(axis=1, keepdims=True)
    return out * gain + noise * rng.standard_normal(out.shape)


def _rk4(f: Callable, z: np.ndarray, dt: np.ndarray, steps: int, sub: int, burn: int) -> np.ndarray:
    """Integrate dz/dt = f(t, z) for every series at once; z (n, k), dt (n,) per output step;
    ``sub`` RK4 substeps per output step; the first ``burn`` output steps dropped.
    Returns (n, steps, k)."""
    h = (dt / sub)[:, None]
    t = np.zeros_like(dt)[:, None]
    out = np.empty((z.shape[0], steps, z.shape[1]))
    for i in range(burn + steps):
        if i >= burn:
            out[:, i - burn] = z
        for _ in range(sub):
            k1 = f(t, z)
            k2 = f(t + h / 2, z + h / 2 * k1)
            k3 = f(t + h / 2, z + h / 2 * k2)
            k4 = f(t + h, z + h * k3)
            z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            t = t + h
    return out


def oscillator(rng: np.random.Generator, n: int, steps: int, lo: float, hi: float) -> np.ndarray:
    """(n, T, 3) damped/driven linear oscillators and pendulums: (x, v, x + drive)."""
    w0 = np.ones(n)
    dt = TWO_PI / _periods(rng, n, lo, hi)  # natural period 2π, so one step = period / P
    zeta = rng.uniform(0.0, 0.08, n) * (rng.random(n) < 0.7)
    force = rng.uniform(0, 1.0, n) * (rng.random(n) < 0.5)
    omega = rng.uniform(0.5, 1.6, n)
    pendulum = rng.random(n) < 0.5

    def f(t, z):
        x, v = z[:, :1], z[:, 1:2]
        restoring = np.where(pendulum[:, None], np.sin(x), x) * (w0**2)[:, None]
        drive = force[:, None] * np.cos(omega[:, None] * t)
        return np.concatenate([v, -2 * zeta[:, None] * v - restoring + drive], axis=1)

    z0 = np.stack([rng.uniform(-2.5, 2.5, n), rng.uniform(-1, 1, n)], axis=1)
    z = _rk4(f, z0, dt, steps, 4, 0)
    t = np.arange(steps)[None, :] * dt[:, None]
    drive = force[:, None] * np.cos(omega[:, None] * t)
    return np.concatenate([z, (z[:, :, 0] + drive)[:, :, None]], axis=2)


def ode(rng: np.random.Generator, n: int, steps: int, lo: float, hi: float) -> np.ndarray:
    """(n, T, 3) limit cycles (Van der Pol, Brusselator, FitzHugh-Nagumo; third variable
    their sum) and seasonally forced SIR (S, I, R), on one integrator."""
    kind = rng.integers(0, 4, n)  # 0 VdP, 1 Brusselator, 2 FHN, 3 SIR
    mu = rng.uniform(0.2, 3.0, n)
    a = rng.uniform(0.5, 1.5, n)
    b = 1 + a**2 + rng.uniform(0.2, 1.5, n)
    fe, fa, fb = rng.uniform(0.3, 0.7, n), rng.uniform(0.6, 0.8, n), rng.uniform(0.7, 0.9, n)
    tau = rng.uniform(8, 14, n)
    beta0, gamma, birth = (
        rng.uniform(1.0, 3.0, n),
        rng.uniform(0.2, 0.5, n),
        rng.uniform(0.02, 0.1, n),
    )
    season = rng.uniform(0.0, 0.5, n)
    # natural periods (approximate): the step makes each cycle last P steps
    natural = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [TWO_PI + 1.6 * mu, TWO_PI / a * 1.3, 2.2 * tau, TWO_PI / 0.6],
    )
    dt = natural / _periods(rng, n, lo, hi)
    sir_w = np.full(n, 0.6)  # forcing frequency of SIR

    def f(t, z):
        x, y, w = z[:, 0], z[:, 1], z[:, 2]
        vdp = np.stack([y, mu * (1 - x**2) * y - x, np.zeros_like(x)], 1)
        bru = np.stack([a + x**2 * y - (b + 1) * x, b * x - x**2 * y, np.zeros_like(x)], 1)
        fhn = np.stack([x - x**3 / 3 - y + fe, (x + fa - fb * y) / tau, np.zeros_like(x)], 1)
        beta = beta0 * (1 + season * np.cos(sir_w * t[:, 0]))
        sir = np.stack(
            [
                birth * (1 - x) - beta * x * y,
                beta * x * y - (gamma + birth) * y,
                gamma * y - birth * w,
            ],
            1,
        )
        return np.select([kind[:, None] == k for k in range(4)], [vdp, bru, fhn, sir])

    z0 = np.stack([rng.uniform(-2, 2, n), rng.uniform(-2, 2, n), np.zeros(n)], 1)
    sir0 = np.stack([rng.uniform(0.3, 0.9, n), rng.uniform(0.01, 0.1, n), np.zeros(n)], 1)
    bru0 = np.stack([rng.uniform(0.1, 3, n), rng.uniform(0.1, 3, n), np.zeros(n)], 1)
    z0 = np.select([kind[:, None] == 3, kind[:, None] == 1], [sir0, bru0], z0)
    burn = int(rng.integers(0, 40))
    z = _rk4(f, z0, dt, steps, 6, burn)
    third = z[:, :, 0] + z[:, :, 1]
    z[:, :, 2] = np.where(kind[:, None] == 3, z[:, :, 2], third)
    return z


def _shape(rng: np.random.Generator, phase: np.ndarray, c: int) -> np.ndarray:
    """(n, T, 3) a random cycle evaluated at ``phase`` (n, T, 3) in cycles, drawn per series and
    per variable (``c`` = 3) or once per series for all its variables (``c`` = 1): a Fourier
    series of 1-6 harmonics (1/2), 1-3 Gaussian bumps (1/4) or a sawtooth rising over a random
    fraction of the cycle (1/4)."""
    size = (phase.shape[0], 1, c)
    kind = rng.choice(3, size=size, p=[0.5, 0.25, 0.25])
    u = phase % 1.0
    fourier = np.zeros_like(phase)
    harmonics = rng.integers(1, 7, size)
    for k in range(1, 7):
        a = rng.normal(0, 1, size) / k * (k <= harmonics)
        fourier += a * np.sin(TWO_PI * k * phase + rng.uniform(0, TWO_PI, size))
    bumps = np.zeros_like(phase)
    count = rng.integers(1, 4, size)
    for j in range(3):
        centre, width = rng.uniform(0, 1, size), rng.uniform(0.04, 0.2, size)
        d = (u - centre + 0.5) % 1.0 - 0.5  # circular distance, cycles
        bumps += (j < count) * rng.uniform(0.3, 1.0, size) * np.exp(-0.5 * (d / width) ** 2)
    rise = rng.uniform(0.1, 0.9, size)
    saw = np.where(u < rise, u / rise, (1 - u) / (1 - rise))
    return np.select([kind == 0, kind == 1], [fourier, bumps], saw)


def periodic(rng: np.random.Generator, n: int, steps: int, lo: float, hi: float) -> np.ndarray:
    """(n, T, 3) a random cycle repeated (module docstring): exact (half the series: P rounded
    to whole steps, no noise) or drifting (P_t = P (1 + δ t / T), |δ| <= 0.03, noise); the phase
    the running sum of 1 / P_t, each variable shifted by U(0, 1) cycle and, half the time, its
    own shape (else the series' shared one times U(0.3, 1.5))."""
    t = np.arange(steps, dtype=np.float64)
    exact = rng.random((n, 1)) < 0.5
    drift = 1 + rng.uniform(-0.03, 0.03, (n, 1)) * t / steps * ~exact
    period = _periods(rng, n, lo, hi)[:, None]
    period = np.where(exact, np.maximum(np.round(period), 2), period) * drift
    phase = np.cumsum(1.0 / period, axis=1)[:, :, None] + rng.uniform(0, 1, (n, 1, 3))
    own = rng.random((n, 1, 3)) < 0.5
    shared = _shape(rng, phase, 1) * rng.uniform(0.3, 1.5, (n, 1, 3))
    x = np.where(own, _shape(rng, phase, 3), shared)
    noise = rng.uniform(0, 0.03, (n, 1, 1)) * (rng.random((n, 1, 1)) < 0.7) * ~exact[:, :, None]
    return x + noise * x.std(axis=1, keepdims=True) * rng.standard_normal(x.shape)


def motif(rng: np.random.Generator, n: int, steps: int, lo: float, hi: float) -> np.ndarray:
    """(n, T, 3) a random motif repeated exactly (module docstring): P = round(period) in
    [2, T / 8] steps; the motif's values U(0, 1) per step and variable, half the series averaged
    with their circular neighbours (weights 1/4, 1/2, 1/4)."""
    period = np.round(_periods(rng, n, lo, min(hi, max(steps / 8, lo)))).astype(int)
    period = np.clip(period, 2, max(steps // 8, 2))
    cycle_len = int(period.max())
    values = rng.uniform(0, 1, (n, cycle_len, 3))
    pos = np.arange(steps)[None, :] % period[:, None]  # (n, T): the step's place in its cycle
    prev = (pos - 1) % period[:, None]
    nxt = (pos + 1) % period[:, None]
    at = lambda i: np.take_along_axis(values, i[:, :, None].repeat(3, axis=2), axis=1)  # noqa: E731
    smooth = rng.random((n, 1, 1)) < 0.5
    return np.where(smooth, 0.25 * at(prev) + 0.5 * at(pos) + 0.25 * at(nxt), at(pos))


FAMILIES: dict[str, Callable] = {
    "kernel": kernel,
    "ar": ar,
    "oscillator": oscillator,
    "ode": ode,
    "periodic": periodic,
    "motif": motif,
}


def make_positive(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, T, D) shifted per variable so min = U(0.02, 0.5) · range > 0, then each variable
    times 10^U(-0.5, 0.5) (variables of different magnitude, as prey and predator are)."""
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    span = np.maximum(hi - lo, 1e-6)
    floor = rng.uniform(0.02, 0.5, lo.shape) * span
    return (x - lo + floor) * 10 ** rng.uniform(-0.5, 0.5, lo.shape)


def generate(
    num_series: int,
    num_steps: int,
    seed: int,
    min_period: float = 6.0,
    max_period: float = 50.0,
    part: int = 0,
    families: Mapping[str, float] | None = None,
) -> Corpus:
    """``num_series`` series of ``num_steps`` steps drawn from ``families`` (name → weight >= 0,
    names in :data:`FAMILIES`; None: every family, equal weights), in a seeded shuffled order;
    each keeps its first D variables, D ~ {1: .3, 2: .45, 3: .25}. The same arguments give the
    same corpus; ``part`` draws an independent one from the same seed (0: training, 1:
    validation)."""
    families = dict.fromkeys(FAMILIES, 1.0) if families is None else dict(families)
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise LlmtsError(
            f"corpus.families: unknown {', '.join(unknown)}; the families are {', '.join(FAMILIES)}"
        )
    rng = np.random.default_rng((seed, 20, part))
    names = [k for k in FAMILIES if families.get(k, 0) > 0]
    weights = np.array([families[k] for k in names], dtype=float)
    counts = rng.multinomial(num_series, weights / weights.sum())
    series, family = [], []
    for name, count in zip(names, counts):
        if count == 0:
            continue
        # each family's own stream, fixed by its place in FAMILIES whatever the mix
        sub = np.random.default_rng((seed, 20, part, list(FAMILIES).index(name)))
        with np.errstate(all="ignore"):  # a rare unstable ODE draw: dropped just below
            x = FAMILIES[name](sub, int(count), num_steps, min_period, max_period)
        ok = np.isfinite(x).all(axis=(1, 2)) & (np.abs(x).max(axis=(1, 2)) < 1e6)
        x = make_positive(x[ok], sub)
        for row, d in zip(x, _dims(sub, len(x))):
            series.append(row[:, :d].astype(np.float32))
            family.append(name)
    order = rng.permutation(len(series))
    return Corpus([series[j] for j in order], [family[j] for j in order])
