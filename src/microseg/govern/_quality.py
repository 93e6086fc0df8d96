"""Data quality (docs/governance.md, "Data quality and staleness"): per table, null rates
and distinct counts per column; duplicates and rejects the loads recorded; future and
implausible event times; negative and outlying amounts (robust z-score); customers with
too little history for the value models, and the segments they are in; staleness.

Outliers use the robust z-score of Iglewicz and Hoaglin, ``0.6745 (x - median) / MAD``
per event type, flagged beyond 3.5 in absolute value, on the log of the positive amounts
(amounts are skewed and multiplicative: on the raw scale a long right tail flags many
ordinary large baskets); the report gives the range of amounts that is not outlying. A
type whose MAD is 0 (most amounts equal) gets no outlier count.

"Too little history" is what the value models say: a customer needs a purchase to be
modelled at all (``microseg clv``), and a repeat purchase day (``frequency > 0``) for the
spend model (Gamma-Gamma) to learn their spend.
"""

from __future__ import annotations

import math
from datetime import datetime, time
from typing import Any

import ibis
import ibis.expr.types as ir

from microseg.config import WorkspaceConfig
from microseg.core.results import Instant, Result
from microseg.govern._staleness import Staleness
from microseg.store import Store

__all__ = [
    "OUTLIER_Z",
    "AmountCheck",
    "ColumnQuality",
    "LoadCounts",
    "QualityReport",
    "RejectCount",
    "TableQuality",
    "ThinHistory",
    "ThinSegment",
    "TimeCheck",
    "amount_checks",
    "build_report",
    "column_quality",
    "load_counts",
    "reject_counts",
    "thin_history",
    "time_check",
]

#: |robust z| beyond this is an outlier (Iglewicz and Hoaglin's recommendation)
OUTLIER_Z = 3.5
#: the tables whose columns are profiled, by the names ``microseg status`` uses
TABLES = ("customers", "events", "products", "identities")
_PRIMITIVE = ("string", "int", "float", "bool", "timestamp", "date", "decimal")


class ColumnQuality(Result):
    column: str
    nulls: int
    null_rate: float
    #: distinct values (None for lists and JSON)
    distinct: int | None


class TableQuality(Result):
    table: str
    rows: int
    columns: list[ColumnQuality]


class LoadCounts(Result):
    """What the loads of one table recorded: rows read, accepted, duplicates, rejected."""

    kind: str
    loads: int
    rows_read: int
    accepted: int
    duplicates: int
    rejected: int


class RejectCount(Result):
    kind: str
    reason: str
    rows: int


class TimeCheck(Result):
    now: Instant
    #: events stamped after now (within the load's future tolerance when loaded)
    future: int
    #: events before ``ingest.earliest``
    before_earliest: int
    earliest: Instant
    latest_event: Instant | None


class AmountCheck(Result):
    """One event type's amounts: negatives, and outliers beyond ``low`` and ``high`` (the
    amounts whose robust z-score of the log is 3.5)."""

    type: str
    amounts: int
    negative: int
    #: the median positive amount
    median: float | None
    low: float | None
    high: float | None
    outliers: int | None
    #: the most extreme outlying amounts (at most 5)
    extremes: list[float]


class ThinSegment(Result):
    segment: str
    as_of: Instant
    members: int
    thin: int
    share: float | None


class ThinHistory(Result):
    customers: int
    no_purchase: int
    one_purchase_day: int
    needed: str
    segments: list[ThinSegment]


class QualityReport(Result):
    now: Instant
    tables: list[TableQuality]
    loads: list[LoadCounts]
    rejects: list[RejectCount]
    times: TimeCheck
    amounts: list[AmountCheck]
    thin_history: ThinHistory
    staleness: Staleness
    findings: list[str]


def _rows(table: ir.Table) -> list[dict[str, Any]]:
    return list(table.to_pyarrow().to_pylist())


def column_quality(store: Store, name: str) -> TableQuality:
    """Null counts and distinct counts of every column of ``name``, in one query."""
    table = store.table(name)
    metrics: dict[str, ir.Value] = {"_rows": table.count()}
    columns = [c for c in table.columns if c != "load_id"]
    for i, column in enumerate(columns):
        value = table[column]
        metrics[f"n{i}"] = value.isnull().sum()
        if str(value.type()).lower().startswith(_PRIMITIVE):
            metrics[f"d{i}"] = value.nunique()
    row = _rows(table.aggregate(**metrics))[0]
    rows = int(row["_rows"])
    return TableQuality(
        table=name,
        rows=rows,
        columns=[
            ColumnQuality(
                column=column,
                nulls=int(row[f"n{i}"] or 0),
                null_rate=round(int(row[f"n{i}"] or 0) / rows, 4) if rows else 0.0,
                distinct=None if f"d{i}" not in row else int(row[f"d{i}"]),
            )
            for i, column in enumerate(columns)
        ],
    )


def load_counts(store: Store) -> list[LoadCounts]:
    loads = store.table("loads")
    per = loads.group_by("kind").aggregate(
        loads=loads.count(),
        rows_read=loads.rows_read.sum(),
        accepted=loads.accepted.sum(),
        duplicates=loads.duplicates.sum(),
        rejected=loads.rejected.sum(),
    )
    return [
        LoadCounts.model_validate({k: (v if k == "kind" else int(v or 0)) for k, v in row.items()})
        for row in _rows(per.order_by("kind"))
    ]


def reject_counts(store: Store) -> list[RejectCount]:
    rejects = store.table("rejects")
    per = rejects.group_by(["kind", "reason"]).aggregate(rows=rejects.count())
    return [
        RejectCount(kind=str(r["kind"]), reason=str(r["reason"]), rows=int(r["rows"]))
        for r in _rows(per.order_by([ibis.desc("rows"), "kind", "reason"]))
    ]


def time_check(store: Store, config: WorkspaceConfig, now: datetime) -> TimeCheck:
    events = store.table("events")
    earliest = datetime.combine(config.ingest.earliest, time())
    row = _rows(
        events.aggregate(
            future=(events.timestamp > ibis.literal(now)).sum(),
            before=(events.timestamp < ibis.literal(earliest)).sum(),
            latest=events.timestamp.max(),
        )
    )[0]
    return TimeCheck(
        now=now,
        future=int(row["future"] or 0),
        before_earliest=int(row["before"] or 0),
        earliest=earliest,
        latest_event=row["latest"],
    )


def amount_checks(store: Store) -> list[AmountCheck]:
    """Per event type with amounts: negatives, and outliers by robust z-score of the log of
    the positive amounts (amounts are multiplicative: a basket twice the usual is as far
    as one half of it)."""
    events = store.table("events")
    with_amount = events.filter(events.amount.notnull())
    counts = with_amount.group_by("type").aggregate(
        amounts=with_amount.count(), negative=(with_amount.amount < 0).sum()
    )
    positive = with_amount.filter(with_amount.amount > 0)
    positive = positive.mutate(_log=positive.amount.ln())
    centre = positive.group_by("type").aggregate(_median=positive._log.median())
    spread = positive.join(centre, "type")
    spread = spread.mutate(_dev=(spread._log - spread._median).abs())
    mad = spread.group_by("type").aggregate(_mad=spread._dev.median())
    scored = spread.join(mad, "type")
    scored = scored.mutate(_z=ibis.literal(0.6745) * scored._dev / scored._mad)
    outlying = scored.filter((scored._mad > 0) & (scored._z > OUTLIER_Z))
    found = _rows(outlying.group_by("type").aggregate(n=outlying.count()))
    outliers = {r["type"]: int(r["n"]) for r in found}
    extremes: dict[str, list[float]] = {}
    ranked = outlying.order_by([outlying.type, ibis.desc("_z")]).select("type", "amount")
    for r in _rows(ranked):
        kept = extremes.setdefault(r["type"], [])
        if len(kept) < 5:
            kept.append(float(r["amount"]))
    fitted = centre.join(mad, "type")
    scales = {r["type"]: (r["_median"], r["_mad"]) for r in _rows(fitted)}
    checks = []
    for r in _rows(counts.order_by("type")):
        median, spread_ = scales.get(r["type"], (None, None))
        usable = spread_ is not None and spread_ > 0
        reach = OUTLIER_Z * spread_ / 0.6745 if usable else None
        checks.append(
            AmountCheck(
                type=str(r["type"]),
                amounts=int(r["amounts"]),
                negative=int(r["negative"] or 0),
                median=None if median is None else round(math.exp(median), 2),
                low=None if reach is None else round(math.exp(median - reach), 2),
                high=None if reach is None else round(math.exp(median + reach), 2),
                outliers=outliers.get(r["type"], 0) if usable else None,
                extremes=extremes.get(r["type"], []),
            )
        )
    return checks


def thin_history(store: Store, customers: ir.Table, summary: ir.Table) -> ThinHistory:
    """Live customers without a purchase, or with one purchase day only (``summary``: the
    value models' buyer summary), and how many of each segment's latest snapshot they are."""
    ids = customers.select("customer_id")
    buyers = summary.select("customer_id", "frequency")
    joined = ids.left_join(buyers, ids.customer_id == buyers.customer_id)
    row = _rows(
        joined.aggregate(
            n=joined.count(),
            none=joined.frequency.isnull().sum(),
            one=(joined.frequency == 0).sum(),
        )
    )[0]
    repeat = buyers.filter(buyers.frequency > 0).select(_repeat="customer_id")
    memberships = store.table("memberships")
    latest = memberships.group_by("segment").aggregate(_last=memberships.as_of.max())
    snap = memberships.join(
        latest, (memberships.segment == latest.segment) & (memberships.as_of == latest._last)
    ).select(memberships.segment, memberships.as_of, memberships.customer_id)
    marked = snap.left_join(repeat, snap.customer_id == repeat._repeat)
    per = marked.group_by(["segment", "as_of"]).aggregate(
        members=marked.count(), thin=marked._repeat.isnull().sum()
    )
    segments = [
        ThinSegment(
            segment=str(r["segment"]),
            as_of=r["as_of"],
            members=int(r["members"]),
            thin=int(r["thin"] or 0),
            share=round(int(r["thin"] or 0) / int(r["members"]), 4) if r["members"] else None,
        )
        for r in _rows(per.order_by("segment"))
    ]
    return ThinHistory(
        customers=int(row["n"]),
        no_purchase=int(row["none"] or 0),
        one_purchase_day=int(row["one"] or 0),
        needed=(
            "a purchase to be modelled (microseg clv), and a repeat purchase day "
            "(frequency > 0) for the spend model to learn the customer's spend"
        ),
        segments=segments,
    )


def build_report(
    store: Store,
    config: WorkspaceConfig,
    now: datetime,
    *,
    customers: ir.Table,
    summary: ir.Table,
    staleness: Staleness,
) -> QualityReport:
    """The whole quality report at ``now``."""
    report: dict[str, Any] = {
        "now": now,
        "tables": [column_quality(store, name) for name in TABLES],
        "loads": load_counts(store),
        "rejects": reject_counts(store),
        "times": time_check(store, config, now),
        "amounts": amount_checks(store),
        "thin_history": thin_history(store, customers, summary),
        "staleness": staleness,
    }
    return QualityReport.model_validate({**report, "findings": _findings(report)})


def _findings(report: dict[str, Any]) -> list[str]:
    """The report in plain words, with its numbers."""
    lines = []
    for table in report["tables"]:
        worst = max(table.columns, key=lambda c: c.null_rate, default=None)
        if worst is not None and worst.null_rate > 0:
            lines.append(
                f"{table.table}: {table.rows:,} rows; most nulls in {worst.column} "
                f"({worst.null_rate:.1%})."
            )
    for load in report["loads"]:
        if load.duplicates or load.rejected:
            lines.append(
                f"{load.kind} loads: {load.duplicates:,} duplicate rows skipped and "
                f"{load.rejected:,} rejected of {load.rows_read:,} read."
            )
    times = report["times"]
    if times.future:
        lines.append(f"{times.future:,} events are stamped after now.")
    if times.before_earliest:
        lines.append(f"{times.before_earliest:,} events are before {times.earliest:%Y-%m-%d}.")
    for check in report["amounts"]:
        if check.negative:
            lines.append(f"{check.type}: {check.negative:,} negative amounts.")
        if check.outliers:
            lines.append(
                f"{check.type}: {check.outliers:,} of {check.amounts:,} amounts are outlying "
                f"(outside {check.low:,.2f} to {check.high:,.2f}; median {check.median:,.2f})."
            )
    thin = report["thin_history"]
    lines.append(
        f"{thin.no_purchase:,} of {thin.customers:,} customers have no purchase and "
        f"{thin.one_purchase_day:,} one purchase day only: too little history for the "
        "value models' spend estimates."
    )
    stale = report["staleness"]
    if stale.stale:
        lines.append(
            f"{stale.stale:,} stored results were computed before the latest load "
            "and are stale: recompute them."
        )
    return lines
