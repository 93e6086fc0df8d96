"""Retention: events (and rejected rows) older than the configured period are removed,
or archived to Parquet first, and each run is recorded (docs/governance.md, "Retention").

The period counts back from the workspace clock; months and years are calendar steps.
Archives are written inside the run's transaction, before the delete, each file whole
or not at all; a run that dies part-way leaves the store as it was.
"""

from __future__ import annotations

import calendar
from datetime import datetime

from pydantic import Field

from microseg.context import Context
from microseg.core.duration import Duration, parse_duration
from microseg.core.results import Instant, Result
from microseg.store import Expiry

__all__ = ["RetentionReport", "RetentionTable", "apply_retention", "before"]

#: table -> (its time column, the column its removed rows are counted by)
_TABLES = {"events": ("timestamp", "type"), "rejects": ("rejected_at", "kind")}


class RetentionTable(Result):
    """What a run removes from one table."""

    table: str
    period: str
    cutoff: Instant
    removed: int
    first: Instant | None = None
    last: Instant | None = None
    #: rows removed per event type (events) or per load kind (rejects)
    by_type: dict[str, int] = Field(default_factory=dict)
    #: the Parquet file they were written to first (``action: archive``)
    archive: str | None = None


class RetentionReport(Result):
    """One retention run, or what it would do (``dry_run``)."""

    dry_run: bool
    action: str
    applied_at: Instant
    #: the recorded run's id in ``retention_runs`` (None for a dry run)
    run_id: int | None = None
    tables: list[RetentionTable] = Field(default_factory=list)

    @property
    def removed(self) -> int:
        return sum(t.removed for t in self.tables)


def before(now: datetime, duration: Duration) -> datetime:
    """``now`` minus ``duration``: calendar months and years (31 March minus a month is
    28 or 29 February), exact days and shorter units."""
    if duration.unit not in ("months", "years"):
        return now - duration.approx_timedelta()
    months = duration.amount * (12 if duration.unit == "years" else 1)
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


def apply_retention(context: Context, *, dry_run: bool = False) -> RetentionReport:
    """Remove (or archive, then remove) what is older than the retention periods."""
    settings = context.config.retention
    store = context.store
    now = context.now()
    periods = {"events": settings.events, "rejects": settings.rejects}
    kept = {table: period for table, period in periods.items() if period is not None}
    expiries = [
        store.expired(
            Expiry(table, _TABLES[table][0], before(now, parse_duration(period)), _TABLES[table][1])
        )
        for table, period in kept.items()
    ]
    archives: dict[str, str] = {}
    run_id = None
    if not dry_run:
        with store.transaction():
            for expiry in expiries:
                if settings.action == "archive" and expiry.removed:
                    stamp = expiry.cutoff.strftime("%Y%m%dT%H%M%S")
                    name = f"{settings.archive}/{expiry.table}-before-{stamp}.parquet"
                    store.archive_expired(expiry, context.path / name)
                    archives[expiry.table] = name
                store.delete_expired(expiry)
            run_id = store.record_retention(
                expiries,
                applied_at=now,
                action=settings.action,
                periods=kept,
                archives=archives,
            )
    return RetentionReport(
        dry_run=dry_run,
        action=settings.action,
        applied_at=now,
        run_id=run_id,
        tables=[
            RetentionTable(
                table=e.table,
                period=kept[e.table],
                cutoff=e.cutoff,
                removed=e.removed,
                first=e.first,
                last=e.last,
                by_type=e.by_group,
                archive=archives.get(e.table),
            )
            for e in expiries
        ],
    )
