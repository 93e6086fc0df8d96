"""The history window, shopping occasions, seasonal profiles and e-mail campaigns.

Times inside the generator are float days since the first day of the history (midnight UTC);
day tables cover ``PRE_WINDOW_DAYS`` days before the history too, for customers who signed up
before it.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]

SECONDS_PER_DAY = 86_400
PRE_WINDOW_DAYS = 3 * 365
EPOCH = dt.date(1970, 1, 1)

OCCASIONS = ("valentines", "halloween", "black_friday", "christmas")
PROFILES = ("flat", "retail", "summer")


def shift_months(day: dt.date, months: int) -> dt.date:
    """Return ``day`` moved by ``months`` calendar months (day clamped to the month's end)."""
    total = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(total, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def black_friday(year: int) -> dt.date:
    """Return the day after the fourth Thursday of November of ``year``."""
    first = dt.date(year, 11, 1)
    first_thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + dt.timedelta(days=22)


def occasion_windows(start: dt.date, end: dt.date) -> list[tuple[int, dt.date, dt.date]]:
    """List the shopping occasions overlapping ``[start, end]``.

    Returns
    -------
    list of (occasion code, first day, last day)
        Codes index :data:`OCCASIONS`; both days inclusive.
    """
    out: list[tuple[int, dt.date, dt.date]] = []
    for year in range(start.year - 1, end.year + 1):
        bf = black_friday(year)
        for code, first, last in (
            (0, dt.date(year, 2, 1), dt.date(year, 2, 14)),
            (1, dt.date(year, 10, 17), dt.date(year, 10, 31)),
            (2, bf - dt.timedelta(days=7), bf + dt.timedelta(days=3)),
            (3, dt.date(year, 12, 1), dt.date(year, 12, 24)),
        ):
            if last >= start and first <= end:
                out.append((code, max(first, start), min(last, end)))
    return sorted(out, key=lambda item: item[1])


@dataclass(frozen=True)
class Campaigns:
    """E-mail campaigns of the history: names, send day and kind (0 newsletter, 1 promotion)."""

    names: tuple[str, ...]
    day: Arr
    promo: Arr


@dataclass(frozen=True)
class Calendar:
    """Everything about dates that the generators need."""

    start: dt.date
    end: dt.date
    n_days: int
    start_epoch_day: int
    table_offset: int
    occasion: Arr
    profile: Arr
    profile_max: Arr
    campaigns: Campaigns
    occasion_list: tuple[tuple[int, int, int], ...]

    @property
    def start_us(self) -> int:
        """Microseconds since the Unix epoch of the history's first instant."""
        return self.start_epoch_day * SECONDS_PER_DAY * 1_000_000

    def seasonal_days(self, rng: np.random.Generator, profile: Arr) -> Arr:
        """Draw one day of the history per entry, weighted by that entry's seasonal profile."""
        lo = self.table_offset
        weights = self.profile[:, lo : lo + self.n_days]
        cum = np.asarray(np.cumsum(weights, axis=1), dtype=np.float64)
        cum /= cum[:, -1:]
        u = np.asarray(rng.random(profile.shape[0]))
        days = np.zeros(profile.shape[0], dtype=np.int64)
        for k in range(cum.shape[0]):
            rows = profile == k
            days[rows] = np.searchsorted(cum[k], u[rows], side="right")
        return np.asarray(np.minimum(days, self.n_days - 1))

    def day_index(self, t: Arr) -> Arr:
        """Index into the day tables for float days ``t`` (clipped to the table)."""
        idx = np.floor(t).astype(np.int64) + self.table_offset
        return np.clip(idx, 0, self.occasion.shape[0] - 1)


def _campaigns(start: dt.date, n_days: int) -> Campaigns:
    names: list[str] = []
    days: list[int] = []
    promo: list[int] = []
    first_tuesday = (1 - start.weekday()) % 7
    for d in range(first_tuesday, n_days, 7):
        year, week, _ = (start + dt.timedelta(days=d)).isocalendar()
        names.append(f"newsletter-{year}-w{week:02d}")
        days.append(d)
        promo.append(0)
    end = start + dt.timedelta(days=n_days - 1)
    for year in range(start.year, end.year + 1):
        for name, day in (
            ("valentines", dt.date(year, 2, 7)),
            ("summer-sale", dt.date(year, 6, 24)),
            ("halloween", dt.date(year, 10, 24)),
            ("black-friday", black_friday(year) - dt.timedelta(days=2)),
            ("xmas", dt.date(year, 12, 5)),
        ):
            d = (day - start).days
            if 0 <= d < n_days:
                names.append(f"{name}-{year}")
                days.append(d)
                promo.append(1)
    order = np.argsort(np.asarray(days), kind="stable")
    return Campaigns(
        names=tuple(names[i] for i in order),
        day=np.asarray(days, dtype=np.int64)[order],
        promo=np.asarray(promo, dtype=bool)[order],
    )


def build_calendar(end: dt.date, months: int) -> Calendar:
    """Build the calendar of a history of ``months`` months ending on ``end`` (inclusive)."""
    stop = end + dt.timedelta(days=1)
    start = shift_months(stop, -months)
    n_days = (stop - start).days
    first = start - dt.timedelta(days=PRE_WINDOW_DAYS + 2)
    n_table = (stop - first).days + 1
    dates = np.datetime64(first.isoformat(), "D") + np.arange(n_table)
    month = (dates.astype("datetime64[M]").astype(np.int64) % 12) + 1
    occasion = np.full(n_table, -1, dtype=np.int8)
    for code, lo, hi in occasion_windows(first, stop):
        occasion[(lo - first).days : (hi - first).days + 1] = code
    # Seasonal purchase-rate multipliers: flat, retail peaks, spring/summer peak.
    retail = np.ones(n_table, dtype=np.float64)
    retail[occasion == 0] = 1.4
    retail[occasion == 1] = 1.3
    retail[occasion == 2] = 3.0
    retail[occasion == 3] = 2.0
    summer = np.where((month >= 4) & (month <= 8), 2.0, 0.35)
    profile = np.stack([np.ones(n_table), retail, summer])
    occasions = tuple(
        (code, (lo - start).days, (hi - start).days)
        for code, lo, hi in occasion_windows(start, end)
    )
    return Calendar(
        start=start,
        end=end,
        n_days=n_days,
        start_epoch_day=(start - EPOCH).days,
        table_offset=(start - first).days,
        occasion=occasion,
        profile=profile,
        profile_max=profile.max(axis=1),
        campaigns=_campaigns(start, n_days),
        occasion_list=occasions,
    )
