"""Purchase events drawn from the BG/NBD and Gamma-Gamma processes, with known parameters.

Each customer makes a first purchase on a day of the cohort period, then buys at a Poisson
rate lambda (per week, Gamma(r, alpha) across customers) and, after each repeat purchase,
becomes inactive for good with probability p (Beta(a, b) across customers). Each purchase is worth
a Gamma(p_spend, nu) amount, with nu Gamma(q, gamma) across customers. The value models
fitted on these events through ingest and the summary step must recover the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ._writer import SynthError

__all__ = ["BTYDParams", "generate_btyd_events"]


@dataclass(frozen=True)
class BTYDParams:
    """Parameters of the generating process (rates per week)."""

    r: float = 0.5
    alpha: float = 5.0
    a: float = 0.8
    b: float = 2.5
    p: float = 6.0
    q: float = 4.0
    gamma: float = 15.0


def generate_btyd_events(
    path: str | Path,
    *,
    customers: int,
    start: date,
    end: date,
    cohort_days: int = 84,
    params: BTYDParams | None = None,
    seed: int = 0,
) -> Path:
    """Write purchase events (customer_id, timestamp, type, amount) to a Parquet file.

    First purchases fall uniformly in the ``cohort_days`` days from ``start``; purchases
    after the end of ``end`` are not written. Timestamps are UTC.
    """
    params = params or BTYDParams()
    if customers < 1:
        raise SynthError(f"customers must be at least 1, got {customers}")
    if end <= start + timedelta(days=cohort_days):
        raise SynthError("end must come after the cohort period", hint="use a later end")
    rng = np.random.default_rng(seed)
    horizon = float((end - start).days + 1)  # observation ends at the end of `end`
    first = rng.uniform(0.0, float(cohort_days), customers)
    lam = rng.gamma(params.r, 1.0 / params.alpha, customers) / 7.0  # per day
    drop = rng.beta(params.a, params.b, customers)
    nu = rng.gamma(params.q, 1.0 / params.gamma, customers)

    owners = [np.arange(customers)]
    times = [first]
    current = first.copy()
    active = np.ones(customers, dtype=bool)
    repeat = False
    while True:
        # after each repeat purchase the customer drops out with probability p (BG/NBD)
        if repeat:
            active &= rng.random(customers) >= drop
        repeat = True
        gaps = rng.exponential(1.0, customers) / np.maximum(lam, 1e-12)
        current = current + gaps
        active &= current < horizon
        if not active.any():
            break
        idx = np.flatnonzero(active)
        owners.append(idx)
        times.append(current[idx])
    owner = np.concatenate(owners)
    t = np.concatenate(times)
    amount = rng.gamma(params.p, 1.0 / nu[owner])
    order = np.lexsort((t, owner))
    owner, t, amount = owner[order], t[order], amount[order]
    origin = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    micros = np.round(t * 86_400_000_000).astype("int64")
    stamps = pa.array(
        np.datetime64(origin.replace(tzinfo=None), "us") + micros.astype("timedelta64[us]"),
        type=pa.timestamp("us", tz="UTC"),
    )
    table = pa.table(
        {
            "customer_id": pa.array([f"b{i:07d}" for i in owner], type=pa.string()),
            "timestamp": stamps,
            "type": pa.array(["purchase"] * owner.shape[0], type=pa.string()),
            "amount": pa.array(np.round(amount, 2)),
        }
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    return out
