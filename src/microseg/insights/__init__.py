"""Segment insight: what segments are worth, how customers move between them, what they
buy and who resembles them (docs/insights.md). ``ws.insights`` is :class:`Insights`."""

from __future__ import annotations

from microseg.insights._overlap import Intersection, Overlap, PairOverlap
from microseg.insights._value import PreviousSnapshot, ValueRow, ValueTable
from microseg.insights.api import Insights

__all__ = [
    "Insights",
    "Intersection",
    "Overlap",
    "PairOverlap",
    "PreviousSnapshot",
    "ValueRow",
    "ValueTable",
]
