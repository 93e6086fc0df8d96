"""One customer's profile from point reads: the real-time path's twin of the batch profile."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from microseg.core.errors import WorkspaceError
from microseg.lang import Clock
from microseg.lang.profile import Profile
from microseg.store import Store, customer_attributes, customer_events

__all__ = ["ProfileReader", "age_at"]


def age_at(born: date | None, moment: datetime, timezone: str) -> int | None:
    """Whole years at ``moment`` (naive UTC, exclusive): the Python twin of the batch
    profile's derived ``age``."""
    if born is None:
        return None
    last = (moment - timedelta(microseconds=1)).replace(tzinfo=UTC)
    day = last.astimezone(ZoneInfo(timezone)).date()
    later = (born.month, born.day) > (day.month, day.day)
    return day.year - born.year - (1 if later else 0)


class ProfileReader:
    """Reads one customer at a time through indexed point lookups.

    ``attribute_types`` is read once, when the reader is made: a reader belongs to one
    generation of the workspace (see :meth:`microseg.segments.api.Segments.prepare`).
    """

    def __init__(self, store: Store, attribute_types: dict[str, str], timezone: str) -> None:
        self._store = store
        self.attribute_types = attribute_types
        self._timezone = timezone
        self._derive_age = "age" in attribute_types and "birth_date" in attribute_types

    def of(self, customer_id: str, clock: Clock, *, current: bool) -> Profile:
        """The customer's attributes at the clock (the current ones when ``current``) and
        events before it."""
        moment = None if current else clock.as_of
        attributes = customer_attributes(self._store, customer_id, moment)
        if attributes is None:
            raise WorkspaceError(f"no customer {customer_id!r}", hint="check the id")
        if self._derive_age and "age" not in attributes:
            attributes["age"] = age_at(attributes.get("birth_date"), clock.as_of, self._timezone)
        events: list[dict[str, Any]] = customer_events(self._store, customer_id, clock.as_of)
        return Profile(
            customer_id=customer_id,
            attributes=attributes,
            events=events,
            attribute_types=self.attribute_types,
        )
