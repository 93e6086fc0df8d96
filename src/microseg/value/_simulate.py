"""Draw customers from the models' own generative processes, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from microseg.core.errors import ValueModelError
from microseg.value._base import FloatArray


def _ages(n: int, T: ArrayLike) -> FloatArray:
    ages = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    if np.any(ages < 0) or not np.all(np.isfinite(ages)):
        raise ValueModelError("T must be finite and >= 0")
    return ages


def _last_purchase(
    rng: np.random.Generator, x: FloatArray, n_events: FloatArray, window: FloatArray
) -> FloatArray:
    """Time of the x-th of n_events uniform arrivals in [0, window] (0 when x = 0)."""
    recency = np.zeros(x.size)
    some = x > 0
    recency[some] = window[some] * rng.beta(x[some], n_events[some] - x[some] + 1.0)
    return recency


def _on_grid(
    recency: FloatArray, ages: FloatArray, resolution: float | None
) -> tuple[FloatArray, FloatArray]:
    if resolution is None:
        return recency, ages
    if not resolution > 0:
        raise ValueModelError(f"resolution must be > 0, got {resolution!r}")
    # floor both, so recency <= T stays true; the small offset keeps ages already on the
    # grid (k/7 divided by 1/7 can come out just below k) where they are
    return (
        np.floor(recency / resolution + 1e-9) * resolution,
        np.floor(ages / resolution + 1e-9) * resolution,
    )


def simulate_bgnbd(
    n: int,
    params: Mapping[str, float],
    *,
    T: ArrayLike,
    seed: int | None = None,
    resolution: float | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(frequency, recency, T) of ``n`` customers drawn from the BG/NBD process.

    lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); purchases are Poisson(lambda) and the
    customer drops out after each repeat purchase with probability p, so the repeat
    purchases before drop-out number K ~ Geometric(p) (counting the last). With N the
    Poisson count in [0, T], x = min(N, K) and t_x is the x-th of N uniform times.
    ``resolution`` floors recency and T to a grid (1/7 for days in weeks).
    """
    rng = np.random.default_rng(seed)
    ages = _ages(n, T)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    drop = rng.beta(params["a"], params["b"], n)
    events = rng.poisson(lam * ages).astype(np.float64)
    before_drop = rng.geometric(np.clip(drop, 1e-300, 1.0)).astype(np.float64)
    x = np.minimum(events, before_drop)
    recency = _last_purchase(rng, x, events, ages)
    recency, ages = _on_grid(recency, ages, resolution)
    return x, recency, ages


def simulate_pareto_nbd(
    n: int,
    params: Mapping[str, float],
    *,
    T: ArrayLike,
    seed: int | None = None,
    resolution: float | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(frequency, recency, T) of ``n`` customers drawn from the Pareto/NBD process.

    lambda ~ Gamma(r, rate alpha), mu ~ Gamma(s, rate beta); the lifetime is
    Exponential(mu), purchases are Poisson(lambda) while alive; t_x is the last of the
    purchases, uniform over the observed part of the lifetime.
    """
    rng = np.random.default_rng(seed)
    ages = _ages(n, T)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    mu = rng.gamma(params["s"], 1.0 / params["beta"], n)
    lifetime = rng.exponential(1.0, n) / np.maximum(mu, 1e-300)
    window = np.minimum(lifetime, ages)
    x = rng.poisson(lam * window).astype(np.float64)
    recency = _last_purchase(rng, x, x, window)
    recency, ages = _on_grid(recency, ages, resolution)
    return x, recency, ages


def simulate_gamma_gamma(
    frequency: ArrayLike, params: Mapping[str, float], *, seed: int | None = None
) -> FloatArray:
    """Mean transaction value of each customer from the Gamma-Gamma process (0 when the
    frequency is 0): nu ~ Gamma(q, rate gamma), the mean of x Gamma(p, rate nu) values is
    Gamma(p x, rate nu x)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(params["q"], 1.0 / params["gamma"], x.size)
    out = np.zeros(x.size)
    some = x > 0
    out[some] = rng.gamma(params["p"] * x[some], 1.0 / (nu[some] * x[some]))
    return out
