"""A life event and what it did: customers whose attribute changed from one value to another,
their buying before and after, against customers whose attribute did not change.

Changers are read from the attribute history (``customer_history``: one version per row):
a changer's instant is the ``valid_from`` of the first version holding the new value right
after a version holding the old one, inside the period. Each changer gets two equal windows,
``window`` before and ``window`` after that instant; a window must lie inside the events the
store holds (before ``as_of``), and the customer's history must have begun by the start of
the first window. Controls are the customers whose attribute held the old value throughout
the span of all changers' windows; each gets a pseudo change instant drawn (seeded, so the
same every run) from the changers' instants, hence the same calendar windows, and the same
rules. Measures per window come from purchase events (orders via the derived ``order``:
``order_id``, or the instant without one), and their difference in differences is in
:mod:`microseg.insights._did`. Everything over events is Ibis through the store's backend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from microseg.context import Context
from microseg.core.duration import parse_duration
from microseg.core.errors import ParameterError
from microseg.core.text import did_you_mean
from microseg.core.time import AsOf, to_store_time
from microseg.insights._change_report import (
    ChangeGroup,
    ChangeMeasure,
    ChangeReport,
    notes_for,
)
from microseg.insights._did import GroupData, diff_in_diff
from microseg.lang.batch import order_column
from microseg.profile import ProfileAssembler

__all__ = ["life_change"]

#: The seed of the controls' pseudo change instants (fixed: the same report every run).
CONTROL_SEED = 13
_BANDS = ("low", "mid", "high")
_KINDS = ("text", "number", "boolean", "date")


@dataclass(frozen=True)
class _Period:
    start: datetime  # first instant a change may have
    end: datetime  # a change is before this
    first: datetime  # windows start at or after this (the first event)
    last: datetime  # windows end at or before this (the last event, before as_of)
    width: timedelta


def life_change(  # noqa: PLR0913 - the options of `insights change`, keyword-only
    context: Context,
    profile: ProfileAssembler,
    *,
    attribute: str,
    from_value: Any,
    to_value: Any,
    since: AsOf | None = None,
    until: AsOf | None = None,
    window: str = "6 months",
    as_of: AsOf | None = None,
    categories: int = 12,
) -> ChangeReport:
    """The difference-in-differences report of one attribute change (see the module)."""
    kind = _attribute_kind(context, attribute)
    old, new = _typed(from_value, kind, "--from"), _typed(to_value, kind, "--to")
    if old == new:
        raise ParameterError(
            f"--from and --to are both {old!r}: a change needs two different values"
        )
    if categories < 1:
        raise ParameterError(f"categories must be at least 1. Got {categories} instead.")
    moment = context.instant(as_of)
    period = _period(context, profile, moment, since, until, window)
    history = _history(context, attribute, moment)
    found = _changers(history, old, new, period)
    changers, excluded = _eligible(found, period)
    controls = _controls(history, old, changers, found, period)
    anchors = pa.concat_tables([changers, controls])
    bands, cuts = _price_bands(context)
    rows = _per_customer(profile, context, anchors, bands, moment, period.width)
    measures, names, groups = _measures(rows, anchors, categories)
    return ChangeReport(
        attribute=attribute,
        from_value=old,
        to_value=new,
        as_of=moment,
        since=period.start,
        until=period.end,
        window=str(parse_duration(window)),
        window_days=period.width.total_seconds() / 86400.0,
        found=len(found),
        excluded=excluded,
        changers=groups["changers"],
        controls=groups["controls"],
        price_band_cuts=cuts,
        categories=names,
        measures=measures,
        notes=notes_for(groups["changers"], groups["controls"], len(found), excluded),
    )


# -- inputs ---------------------------------------------------------------------------------


def _attribute_kind(context: Context, attribute: str) -> str:
    stored = context.store.attribute_columns()
    if attribute not in stored:
        raise ParameterError(
            f"{attribute!r} is not an attribute{did_you_mean(attribute, stored)}",
            hint="list them with `microseg attributes list`",
        )
    kind = stored[attribute]
    if kind not in _KINDS:
        raise ParameterError(
            f"{attribute!r} is a {kind} attribute: a change is read from one value to another "
            "of a text, number, boolean or date attribute",
            hint="choose another attribute",
        )
    return kind


def _typed(value: Any, kind: str, option: str) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if kind == "number":
            return float(text)
        if kind == "date":
            return date.fromisoformat(text)
    except ValueError:
        raise ParameterError(
            f"{option} {value!r} is not a {kind}", hint=f"write a {kind} value"
        ) from None
    if kind == "boolean":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ParameterError(f"{option} {value!r} is not a boolean", hint="write true or false")
        return lowered == "true"
    return text


def _start_instant(value: AsOf, timezone: str) -> datetime:
    """A period start: a bare date is the start of that day (the rest as ``as_of``)."""
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            return to_store_time(value, timezone)  # refused with the accepted forms
    if isinstance(value, date) and not isinstance(value, datetime):
        return to_store_time(value - timedelta(days=1), timezone)
    return to_store_time(value, timezone)


def _period(
    context: Context,
    profile: ProfileAssembler,
    moment: datetime,
    since: AsOf | None,
    until: AsOf | None,
    window: str,
) -> _Period:
    width = parse_duration(window).approx_timedelta()
    if width <= timedelta(0):
        raise ParameterError(f"--window {window!r}: a window must be longer than zero")
    events = profile.events(moment)
    row = events.aggregate(first=events.timestamp.min(), last=events.timestamp.max())
    span = row.to_pyarrow().to_pylist()[0]
    if span["first"] is None:
        raise ParameterError(
            "no events before as_of: there is no behaviour to compare",
            hint="load events with `microseg ingest events FILE`",
        )
    first, last = span["first"], span["last"]
    zone = context.config.timezone
    start = _start_instant(since, zone) if since is not None else first + width
    end = context.instant(until) if until is not None else last - width
    if since is None and until is None and end <= start:
        raise ParameterError(
            f"the events span {first:%Y-%m-%d} to {last:%Y-%m-%d}: too short for two windows "
            f"of {parse_duration(window)}",
            hint="pass a shorter --window",
        )
    if end <= start:
        raise ParameterError("--until must be after --since", hint="swap them")
    return _Period(start, end, first, last, width)


def _history(context: Context, attribute: str, moment: datetime) -> ir.Table:
    """Versions of ``attribute`` of the live customers, begun before ``moment``."""
    store = context.store
    history = store.table("customer_history")
    registry = store.table("customer_registry")
    live = registry.filter(registry.merged_into.isnull()).select("customer_id")
    versions = history.filter(history.valid_from < moment).select(
        "customer_id", "valid_from", "valid_to", value=history[attribute]
    )
    return versions.semi_join(live, "customer_id")


def _changers(history: ir.Table, old: Any, new: Any, period: _Period) -> pa.Table:
    """Each changer's first change from ``old`` to ``new`` in the period, and when its
    history began: (customer_id, t, known)."""
    w = ibis.window(group_by="customer_id", order_by="valid_from")
    ordered = history.mutate(
        previous=history.value.lag().over(w), known=history.valid_from.min().over(w)
    )
    hits = ordered.filter(
        (ordered.previous == old)
        & (ordered.value == new)
        & (ordered.valid_from >= period.start)
        & (ordered.valid_from < period.end)
    )
    first = hits.group_by("customer_id").aggregate(t=hits.valid_from.min(), known=hits.known.min())
    return first.order_by("customer_id").to_pyarrow()


def _eligible(found: pa.Table, period: _Period) -> tuple[pa.Table, dict[str, int]]:
    t = found["t"].to_pylist()
    known = found["known"].to_pylist()
    outside = [a - period.width < period.first or a + period.width > period.last for a in t]
    unknown = [
        not out and k > a - period.width for a, k, out in zip(t, known, outside, strict=True)
    ]
    keep = [not (o or u) for o, u in zip(outside, unknown, strict=True)]
    excluded = {"windows_outside_events": sum(outside), "history_began_later": sum(unknown)}
    kept = found.filter(pa.array(keep, type=pa.bool_()))
    return _anchor(kept["customer_id"], kept["t"], "k"), excluded


def _anchor(ids: Any, t: Any, group: str) -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array(ids, type=pa.string()),
            "t": pa.array(t, type=pa.timestamp("us")),
            "group": pa.array([group] * len(ids), type=pa.string()),
        }
    )


def _controls(
    history: ir.Table, old: Any, changers: pa.Table, found: pa.Table, period: _Period
) -> pa.Table:
    """Customers holding ``old`` throughout the changers' windows, each with a pseudo change
    instant drawn from the changers' (seeded), known by their first window's start."""
    if changers.num_rows == 0:
        return _anchor([], [], "c")
    instants = changers["t"].to_pylist()
    lo, hi = min(instants) - period.width, max(instants) + period.width
    overlapping = history.filter(
        (history.valid_from < hi) & (history.valid_to.isnull() | (history.valid_to > lo))
    )
    other = overlapping.filter(overlapping.value.isnull() | (overlapping.value != old))
    per = history.group_by("customer_id").aggregate(known=history.valid_from.min())
    held = overlapping.filter(overlapping.value == old).select("customer_id").distinct()
    candidates = per.semi_join(held, "customer_id").anti_join(other, "customer_id")
    # every changer found in the period (kept or left out) is no control
    found_ids = ibis.memtable(found.select(["customer_id"]))
    candidates = candidates.anti_join(found_ids, "customer_id")
    table = candidates.order_by("customer_id").to_pyarrow()
    rng = np.random.default_rng(CONTROL_SEED)
    drawn = rng.integers(0, len(instants), table.num_rows)
    pseudo = [instants[i] for i in drawn]
    known = table["known"].to_pylist()
    keep = [k <= p - period.width for k, p in zip(known, pseudo, strict=True)]
    ids = [c for c, ok in zip(table["customer_id"].to_pylist(), keep, strict=True) if ok]
    return _anchor(ids, [p for p, ok in zip(pseudo, keep, strict=True) if ok], "c")


def _price_bands(context: Context) -> tuple[ir.Table, list[float]]:
    """Each product's price band (``low``, ``mid``, ``high``: the catalog's price terciles,
    from each product's latest price) and the two cut points."""
    products = context.store.table("products")
    w = ibis.window(group_by="product_id", order_by=ibis.desc("updated_at"))
    latest = products.mutate(_n=ibis.row_number().over(w)).filter(lambda t: t._n == 0)
    prices = latest.select("product_id", "price").filter(lambda t: t.price.notnull())
    table = prices.to_pyarrow()
    if table.num_rows == 0:
        return ibis.memtable(
            pa.table({"product_id": pa.array([], pa.string()), "band": pa.array([], pa.string())})
        ), []
    values = table["price"].to_numpy()
    cuts = [float(c) for c in np.quantile(values, [1 / 3, 2 / 3])]
    band = np.where(values < cuts[0], 0, np.where(values < cuts[1], 1, 2))
    names = pa.array([_BANDS[b] for b in band], type=pa.string())
    return ibis.memtable(pa.table({"product_id": table["product_id"], "band": names})), cuts


# -- per-customer figures ---------------------------------------------------------------------


def _per_customer(
    profile: ProfileAssembler,
    context: Context,
    anchors: pa.Table,
    bands: ir.Table,
    moment: datetime,
    width: timedelta,
) -> dict[str, Any]:
    """Per customer and window (0 before, 1 after): orders and spend, spend by category and
    by price band, as numpy arrays aligned with ``anchors``."""
    purchase = context.config.value.purchase_event
    events = profile.events(moment)
    bought = events.filter(events.type == purchase)
    t = anchors["t"].to_pylist()
    anchor = ibis.memtable(
        pa.table(
            {
                "_c": anchors["customer_id"],
                "_lo": pa.array([a - width for a in t], type=pa.timestamp("us")),
                "t": anchors["t"],
                "_hi": pa.array([a + width for a in t], type=pa.timestamp("us")),
            }
        )
    )
    joined = bought.inner_join(anchor, bought.customer_id == anchor._c)
    inside = joined.filter((joined.timestamp >= joined._lo) & (joined.timestamp < joined._hi))
    lines = inside.mutate(
        _w=(inside.timestamp >= inside.t).ifelse(1, 0),
        _spend=inside.amount.cast("float64").fill_null(0.0),
        _order=order_column(inside),
        _category=inside.category.fill_null("(none)"),
    )
    lines = lines.left_join(bands, lines.product_id == bands.product_id)
    lines = lines.mutate(_band=lines.band.fill_null("unknown"))
    keys = ["customer_id", "_w"]
    totals = (
        lines.group_by(keys)
        .aggregate(orders=lines._order.nunique(), spend=lines._spend.sum())
        .to_pyarrow()
    )
    by_cat = lines.group_by([*keys, "_category"]).aggregate(spend=lines._spend.sum()).to_pyarrow()
    by_band = lines.group_by([*keys, "_band"]).aggregate(spend=lines._spend.sum()).to_pyarrow()
    index = {c: i for i, c in enumerate(anchors["customer_id"].to_pylist())}
    return {
        "index": index,
        "totals": totals,
        "by_category": by_cat,
        "by_band": by_band,
    }


def _scatter(
    table: pa.Table, index: dict[str, int], value: str, key: str | None, n: int
) -> dict[Any, np.ndarray[Any, Any]]:
    """{(key, window): per-customer array} from rows (customer_id, _w, [key], value)."""
    out: dict[Any, np.ndarray[Any, Any]] = {}
    ids = table["customer_id"].to_pylist()
    windows = table["_w"].to_pylist()
    keys = table[key].to_pylist() if key else [None] * len(ids)
    values = table[value].to_pylist()
    for c, w, k, v in zip(ids, windows, keys, values, strict=True):
        arr = out.setdefault((k, w), np.zeros(n))
        arr[index[c]] = float(v or 0.0)
    return out


def _measures(
    rows: dict[str, Any], anchors: pa.Table, limit: int
) -> tuple[list[ChangeMeasure], list[str], dict[str, ChangeGroup]]:
    """Every measure's difference in differences, the categories shown, and the groups."""
    n = anchors.num_rows
    index = rows["index"]
    groups = np.asarray(anchors["group"].to_pylist(), dtype=object)
    totals = _scatter(rows["totals"], index, "orders", None, n)
    spend = _scatter(rows["totals"], index, "spend", None, n)
    cats = _scatter(rows["by_category"], index, "spend", "_category", n)
    bands = _scatter(rows["by_band"], index, "spend", "_band", n)
    zero, one = np.zeros(n), np.ones(n)

    def get(d: dict[Any, Any], k: Any, w: int) -> Any:
        return d.get((k, w), zero)

    orders0, orders1 = get(totals, None, 0), get(totals, None, 1)
    spend0, spend1 = get(spend, None, 0), get(spend, None, 1)
    sizes = {
        name: ChangeGroup(
            customers=int(np.sum(groups == code)),
            buyers_before=int(np.sum(orders0[groups == code] > 0)),
            buyers_after=int(np.sum(orders1[groups == code] > 0)),
        )
        for code, name in (("k", "changers"), ("c", "controls"))
    }
    weight: dict[str, float] = {}
    for (k, _w), arr in cats.items():
        weight[k] = weight.get(k, 0.0) + float(arr.sum())
    names = sorted(weight, key=lambda k: (-weight[k], k))
    shown, rest = names[:limit], names[limit:]
    specs: list[tuple[str, str, str | None, tuple[Any, Any, Any, Any]]] = [
        ("orders", "orders per customer", None, (orders0, one, orders1, one)),
        ("spend", "spend per customer", None, (spend0, one, spend1, one)),
        ("average_order_value", "average order value", None, (spend0, orders0, spend1, orders1)),
    ]
    for k in shown:
        specs.append(
            ("category_share", f"share: {k}", k, (get(cats, k, 0), spend0, get(cats, k, 1), spend1))
        )
    if rest:
        other0 = sum((get(cats, k, 0) for k in rest), zero)
        other1 = sum((get(cats, k, 1) for k in rest), zero)
        specs.append(
            ("category_share", "share: other", "(other)", (other0, spend0, other1, spend1))
        )
    present = {k for k, _w in bands}
    for b in (*_BANDS, "unknown"):
        if b in present:
            parts = (get(bands, b, 0), spend0, get(bands, b, 1), spend1)
            specs.append(("price_band_share", f"price band: {b}", b, parts))
    measures = []
    for measure, label, key, (a0, b0, a1, b1) in specs:
        data = {
            code: GroupData(
                a0[groups == code], b0[groups == code], a1[groups == code], b1[groups == code]
            )
            for code in ("k", "c")
        }
        figures = diff_in_diff(data["k"], data["c"])
        significant = not math.isnan(figures["low"]) and (figures["low"] > 0 or figures["high"] < 0)
        measures.append(
            ChangeMeasure(measure=measure, label=label, key=key, significant=significant, **figures)
        )
    return measures, shown, sizes
