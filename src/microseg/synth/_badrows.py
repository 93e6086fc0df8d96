"""Deliberately bad event rows, to exercise validation and quarantine in ingestion."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Arr = npt.NDArray[Any]

BAD_KINDS = (
    "missing_customer",
    "bad_timestamp",
    "future_timestamp",
    "bad_amount",
    "negative_quantity",
    "duplicate",
)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_BAD_TIMESTAMPS = (
    "not-a-date",
    "2025-13-45",
    "2025-13-45T10:00:00Z",
    "yesterday",
    "31/02/2025 25:61",
    "2025-02-30T25:61:00Z",
)
_BAD_AMOUNTS = ("12,5O", "abc", "1.2.3", "EUR 12", "--5", "12..0")
_NEGATIVE_QUANTITIES = ("-1", "-2", "-3")


def iso_strings(seconds: Arr) -> pa.Array:
    """ISO-8601 UTC strings (``2025-03-01T10:15:00Z``) of Unix seconds."""
    stamps = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")
    return pa.array(np.datetime_as_string(stamps, unit="s", timezone="UTC"), type=pa.string())


def stringify(events: pa.Table) -> pa.Table:
    """Return ``events`` with ``timestamp``, ``amount`` and ``quantity`` as text."""
    ts = events.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
    replaced = {
        "timestamp": iso_strings(ts // 1_000_000),
        "amount": pc.cast(events.column("amount"), pa.string()),
        "quantity": pc.cast(events.column("quantity"), pa.string()),
    }
    for name, column in replaced.items():
        i = events.schema.get_field_index(name)
        events = events.set_column(i, name, column)
    return events


def _split(rng: np.random.Generator, total: int) -> list[int]:
    counts = [total // len(BAD_KINDS)] * len(BAD_KINDS)
    for k in rng.permutation(len(BAD_KINDS))[: total % len(BAD_KINDS)]:
        counts[int(k)] += 1
    return counts


def _ints(rng: np.random.Generator, high: int, n: int) -> list[int]:
    return [int(i) for i in np.asarray(rng.integers(0, high, n))]


def _pick(rng: np.random.Generator, pool: Arr, k: int) -> Arr:
    k = min(k, pool.shape[0])
    return np.sort(rng.choice(pool, size=k, replace=False)) if k else pool[:0]


def _replace(column: pa.ChunkedArray, rows: Arr, values: list[str]) -> pa.Array:
    """Replace ``column`` at ``rows`` (any order) with ``values``."""
    order = np.argsort(rows, kind="stable")
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    ordered = [values[int(i)] for i in order]
    return pc.replace_with_mask(
        column.combine_chunks(), pa.array(mask), pa.array(ordered, type=pa.string())
    )


def inject(
    rng: np.random.Generator, events: pa.Table, fraction: float, end: dt.date
) -> tuple[pa.Table, dict[str, int]]:
    """Corrupt about ``fraction`` of the rows of a stringified events table.

    Returns the new table and the exact number of bad rows of each kind.
    """
    n = events.num_rows
    want = dict(zip(BAD_KINDS, _split(rng, round(fraction * n)), strict=True))
    is_purchase = pc.equal(events.column("type"), "purchase").to_numpy(zero_copy_only=False)
    known = pc.and_(
        pc.is_valid(events.column("customer_id")), pc.is_null(events.column("anonymous_id"))
    ).to_numpy(zero_copy_only=False)
    used = np.zeros(n, dtype=bool)
    chosen = _pick(rng, np.flatnonzero(is_purchase), want["bad_amount"] + want["negative_quantity"])
    bad_amount = chosen[: want["bad_amount"]]
    negative = chosen[want["bad_amount"] :]
    used[chosen] = True
    k_missing, k_bad_ts = want["missing_customer"], want["bad_timestamp"]
    k_other = k_missing + k_bad_ts + want["future_timestamp"]
    chosen = _pick(rng, np.flatnonzero(known & ~used), k_other)
    missing = chosen[:k_missing]
    bad_ts = chosen[k_missing : k_missing + k_bad_ts]
    future = chosen[k_missing + k_bad_ts :]
    used[chosen] = True
    sources = _pick(rng, np.flatnonzero(~used), want["duplicate"])
    rng.shuffle(sources)

    mask = np.zeros(n, dtype=bool)
    mask[missing] = True
    columns = {
        "customer_id": pc.if_else(
            pa.array(mask), pa.scalar(None, pa.string()), events.column("customer_id")
        )
    }
    end_s = (end - dt.date(1970, 1, 1)).days * 86_400
    future_s = end_s + rng.integers(2 * 365 * 86_400, 5 * 365 * 86_400, future.shape[0])
    stamps = [_BAD_TIMESTAMPS[i] for i in _ints(rng, 6, bad_ts.shape[0])]
    stamps += iso_strings(np.asarray(future_s)).to_pylist()
    columns["timestamp"] = _replace(
        events.column("timestamp"), np.concatenate([bad_ts, future]), stamps
    )
    amounts = [_BAD_AMOUNTS[i] for i in _ints(rng, 6, bad_amount.shape[0])]
    columns["amount"] = _replace(events.column("amount"), bad_amount, amounts)
    quantities = [_NEGATIVE_QUANTITIES[i] for i in _ints(rng, 3, negative.shape[0])]
    columns["quantity"] = _replace(events.column("quantity"), negative, quantities)
    for name, column in columns.items():
        events = events.set_column(events.schema.get_field_index(name), name, column)
    positions = rng.integers(0, n + 1, sources.shape[0])
    events = events.take(pa.array(np.insert(np.arange(n), positions, sources)))
    found = {
        "missing_customer": int(missing.shape[0]),
        "bad_timestamp": int(bad_ts.shape[0]),
        "future_timestamp": int(future.shape[0]),
        "bad_amount": int(bad_amount.shape[0]),
        "negative_quantity": int(negative.shape[0]),
        "duplicate": int(sources.shape[0]),
    }
    return events, found
