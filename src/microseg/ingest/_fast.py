"""The service's fast lane: events whose acceptance and stored form are certain without
running the loader.

``microseg serve`` answers an event once it is in the write-ahead file and stores it a
moment later, with other events (:func:`microseg.ingest.store_screened`: the rows built
here, as the loader stores them; the loader itself when an id may be a duplicate). It may
only do so for an event the loader is sure to accept, and the real-time path must hold
the very row the loader would store. :class:`EventScreen` says which events those
are: a narrow, unambiguous form (the canonical columns, an ``event_id``, the
``customer_id`` of a known customer (stored under the customer it was merged into, if it
was), ISO 8601 text with a zone, plain numbers) for which it builds the stored
row itself. Anything else (other columns, identifiers to stitch, a new customer, text
with spaces around it, a time without a zone, a read option that changes how text is
read) is not judged here: it takes the slow lane, the loader at once, with its verdicts
and messages. ``tests/ingest/test_fast.py`` proves the two agree on what the screen
accepts: the loader accepts it and stores exactly the row built here, and storing the
rows built here leaves the same rows, report and ``loads`` row as the loader.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pyarrow as pa

from microseg.config import WorkspaceConfig
from microseg.ingest._convert import LATEST, MAX_MAGNITUDE
from microseg.store import EVENT_COLUMNS

__all__ = ["EventScreen", "records_table"]

#: ISO 8601 with seconds and a zone (``Z`` or an offset): read the same by DuckDB and Python
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")
_TEXT = ("type", "product_id", "category", "channel", "order_id", "campaign", "query")
_NUMBERS = ("amount", "discount")
_KNOWN = frozenset(("event_id", "customer_id", "timestamp", "quantity", *_TEXT, *_NUMBERS))
_TEXT_NAMES, _NUMBER_NAMES = frozenset(_TEXT), frozenset(_NUMBERS)
#: a stored row before its values: every column, in the table's order
_EMPTY_ROW: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
#: the smallest step of a stored instant: "before LATEST" is "at most LATEST - _TICK"
_TICK = timedelta(microseconds=1)


def _text(value: Any) -> bool:
    """A value the loader stores as it is: text, not empty, no space around it."""
    return isinstance(value, str) and value != "" and value == value.strip() and "\x00" not in value


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < MAX_MAGNITUDE
    )


@dataclass(frozen=True)
class EventScreen:
    """Which events the loader will certainly accept, and the rows it will store."""

    #: the loader's plausible range and tolerance for the future (``ingest:`` settings)
    earliest: datetime
    tolerance: timedelta
    #: False when a read option changes how the loader reads text times (every event
    #: takes the slow lane)
    enabled: bool = True

    @classmethod
    def of(cls, config: WorkspaceConfig) -> EventScreen:
        settings = config.ingest
        return cls(
            earliest=datetime.combine(settings.earliest, time(0)),
            tolerance=settings.future_tolerance_duration.approx_timedelta(),
            enabled=settings.timestamp_format is None,
        )

    def row(
        self, record: dict[str, Any], now: datetime, resolve: Callable[[str], str | None]
    ) -> dict[str, Any] | None:
        """The row of ``events`` (without ``load_id``) the loader will store for
        ``record`` at ``now`` (naive UTC) or later, or None when that is not certain here.
        ``resolve`` gives the live customer a ``customer_id`` stands for (itself, or the
        customer it was merged into), or None for an id the store does not know."""
        return self.rows([record], now, resolve)[0]

    def rows(
        self,
        records: Sequence[dict[str, Any]],
        now: datetime,
        resolve: Callable[[str], str | None],
    ) -> list[dict[str, Any] | None]:
        """:meth:`row` of each record, the bounds worked out once (a batch of 10,000
        events: about 40 ms)."""
        if not self.enabled:
            return [None] * len(records)
        latest = min(LATEST - _TICK, now + self.tolerance)  # the last instant accepted
        return [self._row(record, latest, resolve) for record in records]

    def _row(
        self, record: dict[str, Any], latest: datetime, resolve: Callable[[str], str | None]
    ) -> dict[str, Any] | None:
        if not _KNOWN.issuperset(record):
            return None
        event_id, given = record.get("event_id"), record.get("customer_id")
        customer = resolve(str(given)) if _text(given) else None
        if customer is None or not _text(event_id):
            return None
        moment = self._moment(record.get("timestamp"), latest)
        if moment is None or not _text(record.get("type")):
            return None
        row = dict(_EMPTY_ROW)
        for name, value in record.items():
            if value is None:
                continue
            if name in _TEXT_NAMES:
                if not _text(value):
                    return None
                row[name] = value
            elif name in _NUMBER_NAMES:
                if not _number(value):
                    return None
                row[name] = float(value)
        row.update(event_id=event_id, customer_id=customer, timestamp=moment)
        quantity = record.get("quantity")
        if quantity is not None:
            if not (_number(quantity) and isinstance(quantity, int)):
                return None
            if quantity < 0 and row["type"].lower() == "purchase":
                return None  # the loader rejects it, with its reason
            row["quantity"] = quantity
        return row

    def _moment(self, value: Any, latest: datetime) -> datetime | None:
        if not isinstance(value, str) or len(value) > 40 or not _ISO.fullmatch(value):
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        moment = parsed.astimezone(UTC).replace(tzinfo=None)
        if not (self.earliest <= moment <= latest):
            return None
        return moment


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def mixed_kinds(records: list[dict[str, Any]]) -> tuple[int, str, str, int, str] | None:
    """The first record whose value in a column is of another kind than an earlier
    record's (a number here, text there): (its index, the column, its kind, the earlier
    record's index, that kind); None when every column holds one kind."""
    first: dict[str, tuple[int, str]] = {}
    for index, record in enumerate(records):
        for column, value in record.items():
            if value is None:
                continue
            kind = _kind(value)
            seen = first.setdefault(column, (index, kind))
            if seen[1] != kind:
                return index, column, kind, seen[0], seen[1]
    return None


_INT64 = (-(2**63), 2**63 - 1)


def oversized_integer(records: list[dict[str, Any]]) -> tuple[int, str] | None:
    """The first record holding a whole number no 64-bit column takes (JSON allows any),
    at any depth: (its index, the column); None when there is none."""

    def found(value: Any) -> bool:  # a loop, not recursion: JSON may nest deeply
        waiting = [value]
        while waiting:
            value = waiting.pop()
            if isinstance(value, int) and not isinstance(value, bool):
                if not _INT64[0] <= value <= _INT64[1]:
                    return True
            elif isinstance(value, dict):
                waiting.extend(value.values())
            elif isinstance(value, list):
                waiting.extend(value)
        return False

    for index, record in enumerate(records):
        for column, value in record.items():
            if found(value):
                return index, column
    return None


def records_table(records: list[dict[str, Any]]) -> pa.Table:
    """The records as one table with every column any of them has (in the order first
    seen; missing values null). ``pa.Table.from_pylist`` alone takes the columns of the
    first record only and silently drops the others'."""
    columns = list(dict.fromkeys(k for record in records for k in record))
    return pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in records])
