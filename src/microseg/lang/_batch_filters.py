"""Which events a part of the batch plan reads: the filter of an aggregate, a mode or a
sequence step, and the event types a set of filters needs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from microseg.lang._nodes import PropertyPredicate, Window

__all__ = ["EventFilter", "event_types"]


@dataclass(frozen=True)
class EventFilter:
    """Which events an aggregate, a mode or a sequence step reads."""

    kind: str
    where: tuple[PropertyPredicate, ...]
    window: Window | None

    def key(self) -> str:
        return json.dumps(
            [
                self.kind,
                [w.model_dump(mode="json", by_alias=True, exclude_none=True) for w in self.where],
                self.window.model_dump(mode="json", by_alias=True, exclude_none=True)
                if self.window
                else None,
            ],
            sort_keys=True,
        )


def event_types(kinds: Iterable[str]) -> frozenset[str] | None:
    """The event types some filters read; None when one of them reads any event."""
    found = frozenset(kinds)
    return None if "any" in found else found
