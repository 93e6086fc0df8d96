"""What a segment over-indexes on, when it buys and when it opens e-mails (docs/insights.md).

Every row compares the segment with the population (every customer at ``as_of``) over a
period of events before ``as_of``:

* categories, brands, products, price bands and channels count *buyers*: the share of the
  segment's members who bought it in the period, against the share of all customers;
* months, weekdays, hours (workspace time zone) and the calendar's holiday windows count
  *orders*: the share of the segment's orders placed then, against all orders;
* e-mail opens by hour and weekday count *opens* the same way.

``lift`` is the segment's share over the population's. Rows bought by fewer than
``min_support`` members are hidden (and counted). Each remaining row gets a Wilson 95%
interval on the segment's share and a two-sided two-proportion z-test of the segment
against the rest of the population; the p-values of one table are adjusted by
Benjamini-Hochberg, and a row is ``significant`` when its q-value is at most ``alpha``.
Rows that are not significant are kept and flagged; the command line hides them unless
``--all``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from statistics import NormalDist
from typing import Any

import ibis
import ibis.expr.types as ir

from microseg.config import CalendarWindow, WorkspaceConfig
from microseg.core.results import Instant, Result
from microseg.lang import Clock
from microseg.lang.batch import order_column
from microseg.store import DuckDBDialect, Store

__all__ = ["AffinityResult", "AffinityRow", "AffinityTable", "BestTime", "SendTimes", "affinity"]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_Z95 = NormalDist().inv_cdf(0.975)


class AffinityRow(Result):
    """One value of one dimension: the segment's count and share against the population's."""

    value: str
    #: units of the segment: members who bought it, or its orders / opens then
    count: int
    population_count: int
    #: members (and customers) behind the count: the support
    buyers: int
    population_buyers: int
    share: float
    population_share: float
    lift: float
    #: Wilson 95% interval on ``share``
    low: float
    high: float
    p_value: float
    q_value: float
    significant: bool


class AffinityTable(Result):
    """One dimension: rows by lift (time dimensions in calendar order)."""

    dimension: str
    #: what is counted: members, orders or opens
    unit: str
    total: int
    population_total: int
    rows: list[AffinityRow]
    #: rows bought by fewer than ``min_support`` members, left out
    hidden: int
    #: the price bands' upper edges (population quartiles of line amounts)
    edges: list[float] | None = None


class BestTime(Result):
    """The hour or weekday with most opens by the segment's members."""

    value: str
    opens: int


class SendTimes(Result):
    """When the segment's members open e-mails."""

    opens: int
    population_opens: int
    best_hour: BestTime | None
    best_weekday: BestTime | None


class AffinityResult(Result):
    """A segment's affinities, occasions and send times (``ws.insights.affinity``)."""

    segment: str
    as_of: Instant
    period_start: Instant
    timezone: str
    members: int
    customers: int
    min_support: int
    alpha: float
    tables: list[AffinityTable]
    send_times: SendTimes

    def table(self, dimension: str) -> AffinityTable:
        """The table of one dimension (``category``, ``brand``, ... ``open_weekday``)."""
        for table in self.tables:
            if table.dimension == dimension:
                return table
        raise KeyError(dimension)


@dataclass(frozen=True)
class _Counts:
    """Per value: segment units, population units, segment buyers, population buyers."""

    rows: dict[str, tuple[int, int, int, int]]
    total: int
    population_total: int


@dataclass(frozen=True)
class _Settings:
    min_support: int
    alpha: float


def affinity(  # noqa: PLR0913 - the inputs of one analysis, keyword-only
    store: Store,
    *,
    segment: str,
    members: ir.Table,
    population: ir.Table,
    clock: Clock,
    start: datetime,
    config: WorkspaceConfig,
    min_support: int,
    alpha: float,
) -> AffinityResult:
    """Compute every table of :class:`AffinityResult` (members and population: tables with
    a ``customer_id`` column)."""
    settings = _Settings(min_support, alpha)
    kinds = config.traits.event_types

    def plan() -> ir.Table:
        events = store.table("events")
        period = events.filter(
            (events.timestamp >= ibis.literal(start))
            & (events.timestamp < ibis.literal(clock.as_of))
            & events.type.isin([kinds.purchase, kinds.email_open])
        )
        period = period.filter(period.customer_id.isin(population.customer_id))
        period = period.mutate(_member=period.customer_id.isin(members.customer_id))
        return _with_products(period, store).select(*_BASE_COLUMNS)

    # the period's purchases and opens, read once: every table below is an aggregate of it
    name = store.temp_name("_affinity_")
    base = store.create_temp_table(name, plan)
    try:
        n_members, n_customers = _count(members), _count(population)
        lines = base.filter(base.type == ibis.literal(kinds.purchase))
        tables = _purchase_tables(lines, n_members, n_customers, settings)
        orders = _local(_orders(lines), clock.timezone)
        tables.extend(_time_tables(orders, "orders", "", settings))
        tables.append(_occasions(orders, config.calendar, start, clock, settings))
        opens = base.filter(base.type == ibis.literal(kinds.email_open))
        open_counts = _time_counts(
            _local(opens.mutate(_at=opens.timestamp), clock.timezone), parts=("weekday", "hour")
        )
    finally:
        store.drop_temp_table(name)
    weekday, hour = (
        _table("open_" + part, "opens", counts, settings, order=_LABELS[part])
        for part, counts in open_counts.items()
    )
    tables.extend([weekday, hour])
    return AffinityResult(
        segment=segment,
        as_of=clock.as_of,
        period_start=start,
        timezone=clock.timezone,
        members=n_members,
        customers=n_customers,
        min_support=min_support,
        alpha=alpha,
        tables=tables,
        send_times=SendTimes(
            opens=hour.total,
            population_opens=hour.population_total,
            best_hour=_best(open_counts["hour"], _LABELS["hour"]),
            best_weekday=_best(open_counts["weekday"], _LABELS["weekday"]),
        ),
    )


_BASE_COLUMNS = (
    "customer_id",
    "timestamp",
    "type",
    "amount",
    "product_id",
    "channel",
    "order_id",
    "_member",
    "_category",
    "_brand",
)


def _purchase_tables(
    lines: ir.Table, n_members: int, n_customers: int, settings: _Settings
) -> list[AffinityTable]:
    """Buyers by category, brand, product, channel and price band."""
    tables = []
    for dimension, column in (
        ("category", lines._category),
        ("brand", lines._brand),
        ("product", lines.product_id),
        ("channel", lines.channel),
    ):
        counts = _buyer_counts(lines.mutate(_key=column.cast("string")), n_members, n_customers)
        tables.append(_table(dimension, "members", counts, settings))
    tables.append(_price_bands(lines, n_members, n_customers, settings))
    return tables


def _count(table: ir.Table) -> int:
    return int(table.count().to_pyarrow().as_py())


def _rows_of(expr: ir.Table) -> list[dict[str, Any]]:
    return list(expr.to_pyarrow().to_pylist())


def _with_products(lines: ir.Table, store: Store) -> ir.Table:
    """Purchase lines with the product's brand, and its category where the line has none
    (the latest version of each product)."""
    products = store.table("products")
    latest = products.group_by("product_id").aggregate(
        _pbrand=products.brand.argmax(products.updated_at),
        _pcategory=products.category.argmax(products.updated_at),
    )
    latest = latest.rename(_pid="product_id")
    joined = lines.left_join(latest, lines.product_id == latest._pid)
    return joined.mutate(
        _category=joined.category.fill_null(joined._pcategory), _brand=joined._pbrand
    )


def _buyer_counts(keyed: ir.Table, n_members: int, n_customers: int) -> _Counts:
    pairs = keyed.filter(keyed._key.notnull()).select("customer_id", "_member", "_key")
    pairs = pairs.distinct()
    grouped = pairs.group_by("_key").aggregate(
        _seg=pairs._member.ifelse(1, 0).sum(), _pop=pairs.count()
    )
    rows = {
        str(r["_key"]): (int(r["_seg"]), int(r["_pop"]), int(r["_seg"]), int(r["_pop"]))
        for r in _rows_of(grouped)
    }
    return _Counts(rows, n_members, n_customers)


def _price_bands(
    lines: ir.Table, n_members: int, n_customers: int, settings: _Settings
) -> AffinityTable:
    """Buyers by quartile band of the population's line amounts in the period."""
    priced = lines.filter(lines.amount.notnull())
    amount = priced.amount.cast("float64")
    quartiles = priced.aggregate(
        q1=amount.quantile(0.25), q2=amount.quantile(0.5), q3=amount.quantile(0.75)
    )
    found = _rows_of(quartiles)[0]
    if found["q1"] is None:
        return _table("price_band", "members", _Counts({}, n_members, n_customers), settings)
    edges = [float(found["q1"]), float(found["q2"]), float(found["q3"])]
    labels = [
        f"1: up to {edges[0]:.2f}",
        f"2: {edges[0]:.2f}-{edges[1]:.2f}",
        f"3: {edges[1]:.2f}-{edges[2]:.2f}",
        f"4: above {edges[2]:.2f}",
    ]
    band = ibis.cases(
        (amount <= edges[0], labels[0]),
        (amount <= edges[1], labels[1]),
        (amount <= edges[2], labels[2]),
        else_=labels[3],
    )
    counts = _buyer_counts(priced.mutate(_key=band), n_members, n_customers)
    table = _table("price_band", "members", counts, settings, order=labels)
    return table.model_copy(update={"edges": edges})


def _orders(lines: ir.Table) -> ir.Table:
    """One row per order: its customer, whether a member, and the instant of its first line."""
    keyed = lines.mutate(_order=order_column(lines))
    return keyed.group_by(["customer_id", "_order"]).aggregate(
        _at=keyed.timestamp.min(), _member=keyed._member.max()
    )


def _local(table: ir.Table, zone: str) -> ir.Table:
    local = DuckDBDialect.instant_to_local(zone, DuckDBDialect.utc_instant("UTC", table._at))
    return table.mutate(
        _month=local.month(),
        _weekday=local.day_of_week.index(),
        _hour=local.hour(),
        _date=local.date(),
    )


def _unit_counts(table: ir.Table, key: ir.Value) -> _Counts:
    """Units (rows of ``table``) by ``key``: the segment's, the population's, and their
    distinct customers."""
    keyed = table.mutate(_key=key)
    member = keyed._member
    grouped = keyed.group_by("_key").aggregate(
        _seg=member.ifelse(1, 0).sum(),
        _pop=keyed.count(),
        _segb=keyed.customer_id.nunique(where=member),
        _popb=keyed.customer_id.nunique(),
    )
    totals = _rows_of(keyed.aggregate(_seg=member.ifelse(1, 0).sum(), _pop=keyed.count()))[0]
    rows = {
        str(r["_key"]): (int(r["_seg"]), int(r["_pop"]), int(r["_segb"]), int(r["_popb"]))
        for r in _rows_of(grouped)
    }
    return _Counts(rows, int(totals["_seg"] or 0), int(totals["_pop"] or 0))


_LABELS: dict[str, Sequence[str]] = {
    "month": MONTHS,
    "weekday": WEEKDAYS,
    "hour": [str(h) for h in range(24)],
}


def _time_counts(table: ir.Table, *, parts: Sequence[str]) -> dict[str, _Counts]:
    """Units by local month, weekday or hour, keyed by their labels."""
    out = {}
    for part in parts:
        counts = _unit_counts(table, table[f"_{part}"])
        offset = 1 if part == "month" else 0
        named = {_LABELS[part][int(k) - offset]: v for k, v in counts.rows.items()}
        out[part] = _Counts(named, counts.total, counts.population_total)
    return out


def _time_tables(
    table: ir.Table, unit: str, prefix: str, settings: _Settings
) -> list[AffinityTable]:
    counts = _time_counts(table, parts=("month", "weekday", "hour"))
    return [
        _table(prefix + part, unit, found, settings, order=_LABELS[part])
        for part, found in counts.items()
    ]


def _occasions(
    orders: ir.Table,
    calendar: Mapping[str, CalendarWindow],
    start: datetime,
    clock: Clock,
    settings: _Settings,
) -> AffinityTable:
    """Orders in each holiday window of the calendar (local days, every year of the period)."""
    first, last = clock.local(start).date(), clock.local(clock.as_of).date()
    conditions: dict[str, ir.BooleanValue] = {}
    for name, window in calendar.items():
        spans = [window.span(year) for year in range(first.year - 1, last.year + 1)]
        inside = [_between(orders._date, a, b) for a, b in spans if b >= first and a <= last]
        if inside:
            conditions[name] = ibis.or_(*inside)
    member = orders._member
    aggregates: dict[str, ir.Value] = {"_seg": member.ifelse(1, 0).sum(), "_pop": orders.count()}
    for i, cond in enumerate(conditions.values()):
        aggregates[f"s{i}"] = (cond & member).ifelse(1, 0).sum()
        aggregates[f"p{i}"] = cond.ifelse(1, 0).sum()
        aggregates[f"sb{i}"] = orders.customer_id.nunique(where=cond & member)
        aggregates[f"pb{i}"] = orders.customer_id.nunique(where=cond)
    found = _rows_of(orders.aggregate(**aggregates))[0]
    rows: dict[str, tuple[int, int, int, int]] = {}
    for i, name in enumerate(conditions):
        seg, pop, segb, popb = (int(found[f"{k}{i}"] or 0) for k in ("s", "p", "sb", "pb"))
        if pop > 0:
            rows[name] = (seg, pop, segb, popb)
    counts = _Counts(rows, int(found["_seg"] or 0), int(found["_pop"] or 0))
    return _table("occasion", "orders", counts, settings, order=list(conditions))


def _between(column: ir.DateValue, first: date, last: date) -> ir.BooleanValue:
    return (column >= ibis.literal(first)) & (column <= ibis.literal(last))


def _table(
    dimension: str,
    unit: str,
    counts: _Counts,
    settings: _Settings,
    *,
    order: Sequence[str] | None = None,
) -> AffinityTable:
    kept = {k: v for k, v in counts.rows.items() if v[2] >= settings.min_support}
    p_values = {
        k: _two_proportion_p(
            v[0], counts.total, v[1] - v[0], counts.population_total - counts.total
        )
        for k, v in kept.items()
    }
    q_values = benjamini_hochberg(p_values)
    rows = []
    for key, (seg, pop, segb, popb) in kept.items():
        share = seg / counts.total if counts.total else 0.0
        pop_share = pop / counts.population_total if counts.population_total else 0.0
        low, high = wilson(seg, counts.total)
        rows.append(
            AffinityRow(
                value=key,
                count=seg,
                population_count=pop,
                buyers=segb,
                population_buyers=popb,
                share=share,
                population_share=pop_share,
                lift=share / pop_share if pop_share else 0.0,
                low=low,
                high=high,
                p_value=p_values[key],
                q_value=q_values[key],
                significant=q_values[key] <= settings.alpha,
            )
        )
    if order is None:
        rows.sort(key=lambda r: (-r.lift, -r.count, r.value))
    else:
        rank = {name: i for i, name in enumerate(order)}
        rows.sort(key=lambda r: rank.get(r.value, len(rank)))
    return AffinityTable(
        dimension=dimension,
        unit=unit,
        total=counts.total,
        population_total=counts.population_total,
        rows=rows,
        hidden=len(counts.rows) - len(kept),
    )


def _best(counts: _Counts, labels: Sequence[str]) -> BestTime | None:
    """The hour or weekday with most opens by members, whatever their support (ties: the
    earliest)."""
    ranked = [(v[0], k) for k, v in counts.rows.items() if v[0] > 0]
    if not ranked:
        return None
    order = {k: i for i, k in enumerate(labels)}
    opens, value = max(ranked, key=lambda item: (item[0], -order[item[1]]))
    return BestTime(value=value, opens=opens)


def _two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1 when it cannot be told)."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def wilson(x: int, n: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``x / n`` ((0, 1) when ``n`` is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def benjamini_hochberg(p_values: Mapping[str, float]) -> dict[str, float]:
    """Benjamini-Hochberg q-values (the smallest false discovery rate at which each row
    would be declared significant)."""
    ranked = sorted(p_values.items(), key=lambda item: item[1])
    m = len(ranked)
    q: dict[str, float] = {}
    running = 1.0
    for i in range(m - 1, -1, -1):
        key, p = ranked[i]
        running = min(running, p * m / (i + 1))
        q[key] = running
    return q
