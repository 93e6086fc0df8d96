"""The typed result of ``ws.insights.change``: groups, measures and notes in words."""

from __future__ import annotations

from microseg.core.results import AnyValue, Instant, Result

__all__ = ["ChangeGroup", "ChangeMeasure", "ChangeReport", "notes_for"]

#: Below this many customers in a group, the report says the intervals rest on few.
FEW_CUSTOMERS = 30


class ChangeGroup(Result):
    """A group's customers and how many of them bought in each window."""

    customers: int
    buyers_before: int
    buyers_after: int


class ChangeMeasure(Result):
    """One measure: both groups before and after, the difference in differences and its
    95% interval (NaN where a group lacks the data)."""

    measure: str  # orders, spend, average_order_value, category_share, price_band_share
    label: str
    key: str | None
    changers_before: float
    changers_after: float
    controls_before: float
    controls_after: float
    did: float
    low: float
    high: float
    significant: bool


class ChangeReport(Result):
    """Customers whose ``attribute`` changed from ``from_value`` to ``to_value`` between
    ``since`` and ``until``, their buying in equal windows before and after the change,
    against controls (the old value throughout) over the same calendar windows."""

    attribute: str
    from_value: AnyValue
    to_value: AnyValue
    as_of: Instant
    since: Instant
    until: Instant
    window: str
    window_days: float
    found: int
    excluded: dict[str, int]
    changers: ChangeGroup
    controls: ChangeGroup
    price_band_cuts: list[float]
    categories: list[str]
    measures: list[ChangeMeasure]
    notes: list[str]
    method: str = (
        "difference in differences of ratios of sums over customers; 95% Welch interval "
        "on per-customer (delta-method) differences"
    )


def notes_for(
    changers: ChangeGroup, controls: ChangeGroup, found: int, excluded: dict[str, int]
) -> list[str]:
    """What a reader should know in words: groups too small, changers left out."""
    notes = []
    if found == 0:
        notes.append("no customer changed between these values in the period")
    outside, later = excluded["windows_outside_events"], excluded["history_began_later"]
    if outside:
        notes.append(f"{outside} changer(s) left out: their windows reach outside the events held")
    if later:
        notes.append(f"{later} changer(s) left out: their history began inside the first window")
    for name, group in (("changers", changers), ("controls", controls)):
        if group.customers < 2:
            notes.append(f"too few {name} ({group.customers}) for an interval: none is given")
        elif group.customers < FEW_CUSTOMERS:
            notes.append(
                f"only {group.customers} {name}: the intervals are wide and rest on a normal "
                "approximation; read them with care"
            )
    return notes
