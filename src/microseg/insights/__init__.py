"""Segment insight: what segments are worth, how customers move between them, what they
buy and who resembles them (docs/insights.md). ``ws.insights`` is :class:`Insights`."""

from __future__ import annotations

from microseg.insights._affinity import (
    AffinityResult,
    AffinityRow,
    AffinityTable,
    BestTime,
    SendTimes,
)
from microseg.insights._change_report import ChangeGroup, ChangeMeasure, ChangeReport
from microseg.insights.api import Insights

__all__ = [
    "AffinityResult",
    "AffinityRow",
    "AffinityTable",
    "BestTime",
    "ChangeGroup",
    "ChangeMeasure",
    "ChangeReport",
    "Insights",
    "SendTimes",
]
