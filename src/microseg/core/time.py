"""Instants at the edges: ``as_of`` and ``now`` values as the store keeps them (naive UTC)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from microseg.core.errors import TimeInputError

__all__ = ["ACCEPTED_FORMS", "AsOf", "end_of_day", "to_store_time"]

AsOf = datetime | date | str

#: The written forms of an instant, as listed to the user when one is refused.
ACCEPTED_FORMS = (
    "2026-10-31 (the end of that day in the workspace zone)",
    "2026-10-31T12:00 or 2026-10-31T12:00:00 (local time in the workspace zone)",
    "2026-10-31T12:00:00Z or 2026-10-31T12:00:00+01:00 (with its offset)",
)
#: Instants a computation may ask about; outside it, years and offsets overflow.
FIRST_YEAR, LAST_YEAR = 1900, 2199

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?"
)


def _refuse(value: object, why: str) -> TimeInputError:
    return TimeInputError(f"{value!r} {why}", hint="write one of: " + "; ".join(ACCEPTED_FORMS))


def _parse(text: str) -> date | datetime:
    """A date or a datetime from exactly one of the accepted forms (nothing else)."""
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
        if _INSTANT.fullmatch(text):
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _refuse(text, "is not a valid date or time") from None
    raise _refuse(text, "is not in an accepted form of date or time")


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
        return to_store_time(_parse(value.strip()), timezone)
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise _refuse(
            value.isoformat(), f"is outside the years {FIRST_YEAR}-{LAST_YEAR} microseg works in"
        )
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))
        return aware.astimezone(UTC).replace(tzinfo=None)
    return end_of_day(value, timezone)
