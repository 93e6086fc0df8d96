"""Turn event parts into one time-sorted Arrow table with the public events schema."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _vocab as v
from ._arrow import (
    decimal_ids,
    draw_rows,
    float_column,
    hex_ids,
    int_column,
    splitmix64,
    take_names,
    take_rows,
)
from ._calendar import SECONDS_PER_DAY, Calendar
from ._catalog import Catalog
from ._population import Population

Arr = npt.NDArray[Any]

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("customer_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("type", pa.string()),
        ("amount", pa.float64()),
        ("quantity", pa.int32()),
        ("product_id", pa.string()),
        ("category", pa.string()),
        ("channel", pa.string()),
        ("order_id", pa.string()),
        ("campaign", pa.string()),
        ("discount", pa.float64()),
        ("query", pa.string()),
        ("device", pa.string()),
        ("page_type", pa.string()),
    ]
)

_FIELDS: dict[str, tuple[type[Any], Any]] = {
    "cust": (np.int32, None),
    "t": (np.float64, None),
    "type": (np.int8, None),
    "channel": (np.int8, None),
    "has_cid": (np.bool_, True),
    "has_anon": (np.bool_, False),
    "amount": (np.float64, np.nan),
    "quantity": (np.int32, 0),
    "product": (np.int32, -1),
    "category": (np.int8, -1),
    "purchase": (np.int32, -1),
    "campaign": (np.int16, -1),
    "discount": (np.float64, np.nan),
    "query": (np.int16, -1),
    "page": (np.int8, -1),
}
# Device probabilities (mobile, desktop, tablet) by channel (web, app, store, email).
_DEVICE = np.asarray([[0.35, 0.55, 0.1], [0.85, 0.0, 0.15], [1.0, 0.0, 0.0], [0.6, 0.33, 0.07]])


def _column(parts: list[dict[str, Any]], name: str) -> Arr:
    dtype, default = _FIELDS[name]
    arrays = []
    for part in parts:
        n = part["cust"].shape[0]
        arr = np.asarray(part.get(name, default), dtype=dtype)
        arrays.append(np.full(n, arr, dtype=dtype) if arr.ndim == 0 else arr)
    return np.concatenate(arrays)


def anonymous_ids(numbers: Arr, seed: int) -> pa.Array:
    """Opaque, unique anonymous ids (``anon-`` + 16 hex digits) for customer numbers."""
    key = splitmix64(np.asarray([seed], dtype=np.uint64))[0]
    return hex_ids("anon-", splitmix64(np.asarray(numbers, dtype=np.uint64) ^ key))


def assemble(
    rng: np.random.Generator,
    parts: list[dict[str, Any]],
    cal: Calendar,
    pop: Population,
    catalog: Catalog,
    first_event: int,
    first_order: int,
    seed: int,
) -> tuple[pa.Table, int]:
    """Sort the chunk's events by time and build the table; returns (table, orders used)."""
    cols = {name: _column(parts, name) for name in _FIELDS}
    sec = np.floor(cols["t"] * SECONDS_PER_DAY).astype(np.int64)
    keep = np.flatnonzero((sec >= 0) & (sec < cal.n_days * SECONDS_PER_DAY))
    order = keep[np.argsort(sec[keep], kind="stable")]
    cols = {name: arr[order] for name, arr in cols.items()}
    sec = sec[order]
    n = order.shape[0]

    purchase, kind, channel = cols["purchase"], cols["type"], cols["channel"]
    is_purchase = kind == v.PURCHASE
    n_orders = int(is_purchase.sum())
    row_order = np.full(n, -1, dtype=np.int64)
    if n_orders:
        order_number = np.full(int(purchase.max()) + 1, -1, dtype=np.int64)
        order_number[purchase[is_purchase]] = first_order + np.arange(n_orders)
        row_order = np.where(purchase >= 0, order_number[np.maximum(purchase, 0)], -1)
    device = draw_rows(rng, _DEVICE, channel)
    device = np.where((channel == v.STORE) | (kind == v.EMAIL_SENT), -1, device)

    quantity = cols["quantity"]
    table = pa.table(
        {
            "event_id": decimal_ids("E", first_event + np.arange(n, dtype=np.int64), 10),
            "customer_id": decimal_ids("C", pop.numbers[cols["cust"]], 8, valid=cols["has_cid"]),
            "anonymous_id": take_rows(
                anonymous_ids(pop.numbers, seed), cols["cust"], cols["has_anon"]
            ),
            "timestamp": pa.array(
                cal.start_us + sec * 1_000_000, type=pa.timestamp("us", tz="UTC")
            ),
            "type": take_names(v.EVENT_TYPES, kind),
            "amount": float_column(cols["amount"]),
            "quantity": int_column(quantity.astype(np.int32), quantity > 0, pa.int32()),
            "product_id": take_rows(
                catalog.table.column("product_id").combine_chunks(),
                cols["product"],
                cols["product"] >= 0,
            ),
            "category": take_names(v.CATEGORIES, cols["category"]),
            "channel": take_names(v.CHANNELS, channel),
            "order_id": decimal_ids("O", np.maximum(row_order, 0), 10, valid=row_order >= 0),
            "campaign": take_names(cal.campaigns.names, cols["campaign"]),
            "discount": float_column(cols["discount"]),
            "query": take_names(v.QUERIES, cols["query"]),
            "device": take_names(v.DEVICES, device),
            "page_type": take_names(v.PAGE_TYPES, cols["page"]),
        },
        schema=EVENT_SCHEMA,
    )
    return table, n_orders
