"""Durations written in plain words: ``1 day``, ``36 hours``, ``3 years``."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import timedelta

from microseg.core.errors import DurationError

__all__ = ["Duration", "parse_duration"]

_UNITS = {
    "second": "seconds",
    "minute": "minutes",
    "hour": "hours",
    "day": "days",
    "week": "weeks",
    "month": "months",
    "year": "years",
}
_PATTERN = re.compile(r"^\s*(\d+)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True)
class Duration:
    """A length of time; months and years are calendar steps, the rest exact."""

    amount: int
    unit: str  # plural unit name: seconds .. years

    def __str__(self) -> str:
        unit = self.unit if self.amount != 1 else self.unit[:-1]
        return f"{self.amount} {unit}"

    def approx_timedelta(self) -> timedelta:
        """The duration as a timedelta (months = 30.44 days, years = 365.25 days)."""
        return _approx_timedelta(self.amount, self.unit)


@functools.lru_cache(maxsize=1024)
def _approx_timedelta(amount: int, unit: str) -> timedelta:
    """:meth:`Duration.approx_timedelta`, worked out once per length (evaluations ask for
    their windows' at every customer)."""
    days = {"months": 30.436875, "years": 365.2425}
    if unit in days:
        return timedelta(days=amount * days[unit])
    return timedelta(**{unit: amount})


@functools.lru_cache(maxsize=1024)
def parse_duration(text: str) -> Duration:
    """Parse ``"<N> <unit>"`` where unit is second..year, singular or plural.

    >>> parse_duration("3 years")
    Duration(amount=3, unit='years')
    """
    match = _PATTERN.match(text.lower())
    if not match or match.group(2) not in _UNITS:
        raise DurationError(
            f"{text!r} is not a duration; write a whole number and a unit, "
            "e.g. '1 day', '12 hours', '3 years' (units: " + ", ".join(_UNITS) + ")"
        )
    duration = Duration(int(match.group(1)), _UNITS[match.group(2)])
    if duration.amount * _SECONDS[duration.unit] > MAX_YEARS * _SECONDS["years"]:
        raise DurationError(
            f"{text!r} is too long: a duration is at most {MAX_YEARS} years "
            "(no data or window reaches further)"
        )
    return duration


#: The longest duration accepted: beyond it, instants leave the calendar dates can hold.
MAX_YEARS = 1000
_SECONDS = {
    "seconds": 1.0,
    "minutes": 60.0,
    "hours": 3600.0,
    "days": 86400.0,
    "weeks": 7 * 86400.0,
    "months": 30.436875 * 86400,
    "years": 365.2425 * 86400,
}
