"""The planted campaign: a personalised mailing with a holdout, and a known uplift.

The seeds cite 26% higher open rates for personalised e-mails. The synthetic shop plants
that claim so that ``microseg campaign measure`` can be checked against it:

* the audience is every customer opted in to e-mail who signed up before the send;
* the holdout (control) is decided as microseg decides it, by the sha256 draw of
  :mod:`microseg.core.holdout` with the campaign's salt, so a workspace that records the
  campaign with the same salt finds the same two groups;
* that day, control members get the shop's usual generic mailing and the treated get the
  personalised one: each member opens with probability ``q`` (control) or
  ``q * (1 + lift)`` (treated), ``q`` being 75% of their usual open rate (zero for the
  long lapsed, as for every mailing), so ``q * (1 + lift)`` stays below 1 for lifts up
  to 33% and the planted relative uplift of the open rate is exactly ``lift``;
* the send is on a Thursday (newsletters go out on Tuesdays) four weeks before the end,
  and opens follow within hours, so a 3-day window holds this mailing's opens and
  almost nothing else.

Its events are drawn from their own random stream and written to their own file, so the
rest of the shop is the same with or without it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from microseg.core.holdout import in_holdout

from . import _vocab as v
from ._arrow import decimal_ids
from ._behaviour import LAPSING_VIPS
from ._calendar import SECONDS_PER_DAY, Calendar
from ._population import Population

Arr = npt.NDArray[Any]

#: the largest planted lift: ``q * (1 + lift)`` must stay a probability for ``q <= 0.75``
MAX_LIFT = 1 / 0.75 - 1
_BASE = 0.75
_SEND_HOUR = 10


@dataclass(frozen=True)
class MailState:
    """What the e-mail programme drew for a chunk's customers: opted in, usual open rate,
    and the day each stops buying (the long lapsed stop opening)."""

    opted: Arr
    p_open: Arr
    death: Arr


@dataclass(frozen=True)
class PlantedCampaign:
    """The planted mailing's design, as written to ``campaigns.json``."""

    name: str
    send_day: int  # days since the history's first day
    sent_at: dt.datetime
    lift: float
    holdout: float = 0.5
    salt: str = "planted:personalised-mailing"
    channel: str = "email"
    outcome: str = "email_open"
    window: str = "3 days"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": "Personalised mailing against the generic one (planted uplift)",
            "channel": self.channel,
            "sent_at": self.sent_at.isoformat().replace("+00:00", "Z"),
            "holdout": self.holdout,
            "salt": self.salt,
            "audience": "campaign_audience.parquet",
            "events": "campaign_events.parquet",
            "outcome": self.outcome,
            "window": self.window,
            "planted_relative_lift": self.lift,
        }


def plan_campaign(cal: Calendar, lift: float) -> PlantedCampaign | None:
    """The planted mailing of a history: on the Thursday four to five weeks before its end
    (None when the history is shorter than six weeks)."""
    day = cal.n_days - 28
    day -= ((cal.start + dt.timedelta(days=day)).weekday() - 3) % 7
    if day < 14:
        return None
    date = cal.start + dt.timedelta(days=day)
    sent_at = dt.datetime(date.year, date.month, date.day, _SEND_HOUR, tzinfo=dt.UTC)
    return PlantedCampaign("personalised-mailing", day, sent_at, lift)


def planted_events(
    rng: np.random.Generator,
    cal: Calendar,
    pop: Population,
    mail: MailState,
    campaign: PlantedCampaign,
) -> tuple[pa.Table, pa.Table]:
    """(events, audience) of one chunk: ``email_sent`` and ``email_open`` rows with the
    events' columns but ``event_id`` (set by the writer), and ``customer_id``, ``group``."""
    t_send = campaign.send_day + _SEND_HOUR / 24.0
    who = np.flatnonzero(mail.opted & (pop.signup_t < t_send))
    ids = [str(c) for c in pop.ids.take(pa.array(who)).to_pylist()]
    control = np.asarray(in_holdout(campaign.salt, ids, campaign.holdout), dtype=bool)
    alive = t_send < mail.death[who] + 56.0
    factor = np.where(alive, 1.0, np.where(pop.seg[who] == LAPSING_VIPS, 0.0, 0.15))
    q = _BASE * mail.p_open[who] * factor
    p = np.where(control, q, q * (1 + campaign.lift))
    t_sent = t_send + rng.uniform(0.0, 1.0, who.shape[0]) / 24.0
    opened = rng.random(who.shape[0]) < p
    t_open = t_sent + rng.exponential(0.25, who.shape[0])
    label = np.where(control, f"{campaign.name}-generic", campaign.name)
    cust = np.concatenate([who, who[opened]])
    times = np.concatenate([t_sent, t_open[opened]])
    kinds = ["email_sent"] * who.shape[0] + ["email_open"] * int(opened.sum())
    seconds = np.floor(times * SECONDS_PER_DAY).astype(np.int64)
    order = np.argsort(seconds, kind="stable")
    events = pa.table(
        {
            "customer_id": decimal_ids("C", pop.numbers[cust[order]], 8),
            "timestamp": pa.array(
                cal.start_us + seconds[order] * 1_000_000, type=pa.timestamp("us", tz="UTC")
            ),
            "type": pa.array([kinds[i] for i in order], pa.string()),
            "channel": pa.array([v.CHANNELS[v.EMAIL]] * len(order), pa.string()),
            "campaign": pa.array(np.concatenate([label, label[opened]])[order], pa.string()),
        }
    )
    audience = pa.table(
        {
            "customer_id": pa.array(ids, pa.string()),
            "group": pa.array(np.where(control, "control", "treatment"), pa.string()),
        }
    )
    return events, audience


def with_event_schema(events: pa.Table, first: int, schema: pa.Schema) -> pa.Table:
    """``events`` with ids ``EC`` + 10 digits from ``first`` and every column of ``schema``
    (null where the mailing has nothing to say)."""
    n = events.num_rows
    columns = {
        "event_id": decimal_ids("EC", first + np.arange(n, dtype=np.int64), 10),
        **{name: events.column(name) for name in events.column_names},
    }
    return pa.table(
        {f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema}, schema=schema
    )
