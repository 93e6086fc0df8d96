"""Consent of the synthetic shop: per-channel opt-ins and unsubscribe/resubscribe events.

Drawn from their own random stream after everything else, so the other columns and events
are the same with or without them. At signup most customers opt in to e-mail, fewer to
ads and fewer still to SMS; later some unsubscribe (naming the channel in the events'
``channel`` column), and some of those resubscribe.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ._arrow import decimal_ids, take_rows
from ._calendar import SECONDS_PER_DAY, Calendar
from ._population import Population

__all__ = ["CONSENT_EVENT_SCHEMA", "OPT_IN_SHARES", "consent"]

Arr = npt.NDArray[Any]

#: Share of customers opted in at signup, per channel (attribute ``<channel>_opt_in``).
OPT_IN_SHARES = {"email": 0.78, "sms": 0.35, "ads": 0.55}
#: Share of opted-in customers who unsubscribe later, per channel; of those, the share who
#: resubscribe.
UNSUBSCRIBE_SHARES = {"email": 0.10, "sms": 0.06}
RESUBSCRIBE_SHARE = 0.3

CONSENT_EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("customer_id", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("type", pa.string()),
        ("channel", pa.string()),
    ]
)


def consent(
    rng: np.random.Generator, cal: Calendar, pop: Population, first_event: int
) -> tuple[dict[str, pa.Array], pa.Table]:
    """The opt-in columns of the chunk's customers, and its consent events (ids ``U...``
    from ``first_event``), sorted by time."""
    n = len(pop.ids)
    opted = {channel: rng.random(n) < share for channel, share in OPT_IN_SHARES.items()}
    columns = {f"{c}_opt_in": pa.array(flag, type=pa.bool_()) for c, flag in opted.items()}
    start = np.maximum(pop.signup_t, 0.0) + 7.0
    who_parts, t_parts, kind_parts, channel_parts = [], [], [], []
    for channel, share in UNSUBSCRIBE_SHARES.items():
        t_out = start + rng.random(n) * np.maximum(cal.n_days - start, 0.0)
        leaves = opted[channel] & (rng.random(n) < share) & (t_out < cal.n_days)
        t_back = t_out + 1.0 + rng.random(n) * np.maximum(cal.n_days - t_out - 1.0, 0.0)
        returns = leaves & (rng.random(n) < RESUBSCRIBE_SHARE) & (t_back < cal.n_days)
        for mask, times, kind in ((leaves, t_out, "unsubscribe"), (returns, t_back, "resubscribe")):
            who = np.flatnonzero(mask)
            who_parts.append(who)
            t_parts.append(times[who])
            kind_parts.append(np.full(who.shape[0], kind, dtype=object))
            channel_parts.append(np.full(who.shape[0], channel, dtype=object))
    who = np.concatenate(who_parts)
    seconds = np.floor(np.concatenate(t_parts) * SECONDS_PER_DAY).astype(np.int64)
    order = np.argsort(seconds, kind="stable")
    who, seconds = who[order], seconds[order]
    events = pa.table(
        {
            "event_id": decimal_ids("U", first_event + np.arange(who.shape[0]), 10),
            "customer_id": take_rows(pop.ids, who),
            "timestamp": pa.array(
                cal.start_us + seconds * 1_000_000, type=pa.timestamp("us", tz="UTC")
            ),
            "type": pa.array(np.concatenate(kind_parts)[order].tolist(), type=pa.string()),
            "channel": pa.array(np.concatenate(channel_parts)[order].tolist(), type=pa.string()),
        },
        schema=CONSENT_EVENT_SCHEMA,
    )
    return columns, events
