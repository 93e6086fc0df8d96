"""Relative times in rules: ``today``, ``N days|weeks|months|years ago``, ISO dates.

Everything is counted back from the evaluation's ``as_of`` (naive UTC, exclusive), in the
workspace time zone: months and years are calendar steps, ``today`` is the start of the
last calendar day that ``as_of`` includes, and an ISO date is the start of that day.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from microseg.core.duration import Duration, parse_duration
from microseg.core.errors import TimeInputError

__all__ = ["Clock", "is_time_text"]

_AGO = re.compile(r"^\s*(\d+)\s+(second|minute|hour|day|week|month|year)s?\s+ago\s*$", re.I)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_time_text(value: object) -> bool:
    """Whether a rule operand is written as a time (relative or ISO)."""
    if isinstance(value, datetime | date):
        return True
    if not isinstance(value, str):
        return False
    return _is_time_string(value)


@functools.lru_cache(maxsize=4096)
def _is_time_string(value: str) -> bool:
    # rules are few and evaluated often: each operand's answer is kept
    text = value.strip().lower()
    ago = _AGO.match(text)
    if ago:  # within the longest duration (1000 years): further is no time a date can hold
        try:
            parse_duration(f"{ago.group(1)} {ago.group(2)}")
        except ValueError:
            return False
        return True
    if text == "today" or _ISO_DATE.match(text):
        return True
    try:
        datetime.fromisoformat(text.replace("z", "+00:00"))
    except ValueError:
        return False
    return "t" in text or " " in text


def _shift_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 - months
    year = moment.year + month // 12
    month = month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Clock:
    """Resolves times for one evaluation: ``as_of`` (naive UTC) and the workspace zone."""

    as_of: datetime
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        return moment.replace(tzinfo=UTC).astimezone(self.zone)

    def to_utc(self, local: datetime) -> datetime:
        return local.astimezone(UTC).replace(tzinfo=None)

    def today(self) -> date:
        """The last calendar day that ``as_of`` includes (as_of itself is excluded)."""
        return self.local(self.as_of - timedelta(microseconds=1)).date()

    def start_of(self, day: date) -> datetime:
        return self.to_utc(datetime.combine(day, time(0), tzinfo=self.zone))

    def back(self, duration: Duration) -> datetime:
        """``as_of`` minus a duration (calendar months and years in the workspace zone)."""
        if duration.unit in ("months", "years"):
            months = duration.amount * (12 if duration.unit == "years" else 1)
            return self.to_utc(_shift_months(self.local(self.as_of), months))
        return self.as_of - duration.approx_timedelta()

    def instant(self, value: str | date | datetime) -> datetime:
        """A rule time as a naive UTC instant."""
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=self.zone)
            return aware.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, date):
            return self.start_of(value)
        text = value.strip().lower()
        if text == "today":
            return self.start_of(self.today())
        match = _AGO.match(text)
        if match:
            return self.back(parse_duration(f"{match.group(1)} {match.group(2)}"))
        if _ISO_DATE.match(text):
            return self.start_of(date.fromisoformat(text))
        try:
            return self.instant(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            raise TimeInputError(
                f"{value!r} is not a time: write 'today', 'N days ago' (or weeks, months, "
                "years), an ISO date 2025-06-30 or a timestamp 2025-06-30T12:00:00Z"
            ) from None

    def day(self, value: str | date | datetime) -> date:
        """A rule time as a calendar day (for comparisons with date attributes)."""
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        return self.local(self.instant(value)).date()

    def window(
        self, last: Duration | None, start: object, end: object, since: object
    ) -> tuple[datetime | None, datetime]:
        """[start, end) of a window; events at or after ``as_of`` never count."""
        if last is not None:
            return self.back(last), self.as_of
        if since is not None:
            return self.instant(since), self.as_of  # type: ignore[arg-type]
        lower = self.instant(start) if start is not None else None  # type: ignore[arg-type]
        upper = self.instant(end) if end is not None else self.as_of  # type: ignore[arg-type]
        return lower, min(upper, self.as_of)
