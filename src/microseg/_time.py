"""Instants at the edges: ``as_of`` and ``now`` values as the store keeps them (naive UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["AsOf", "end_of_day", "to_store_time"]

AsOf = datetime | date | str


def end_of_day(day: date, timezone: str) -> datetime:
    """A bare date as a period end: the next midnight in the workspace zone, in UTC."""
    local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC).replace(tzinfo=None)


def to_store_time(value: AsOf, timezone: str) -> datetime:
    """Naive UTC instant for ``value``.

    A bare date (or ``YYYY-MM-DD`` text) means the end of that day in the workspace zone,
    so all of that day's events count; a naive datetime is local time in the workspace
    zone; an aware datetime is taken as given.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            return (
                to_store_time(date.fromisoformat(text), timezone)
                if len(text) == 10
                else (to_store_time(datetime.fromisoformat(text.replace("Z", "+00:00")), timezone))
            )
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date or timestamp; write 2025-06-30 or 2025-06-30T12:00:00Z"
            ) from None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))
        return aware.astimezone(UTC).replace(tzinfo=None)
    return end_of_day(value, timezone)
