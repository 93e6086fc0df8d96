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
from microseg.insights._lookalike import (
    Lookalike,
    LookalikeCustomer,
    LookalikeCutoff,
    LookalikeDriver,
)
from microseg.insights._lookalike_model import LookalikeModel
from microseg.insights._migration import CustomerHistory, Migration
from microseg.insights._overlap import Intersection, Overlap, PairOverlap
from microseg.insights._plot import migration_figure, migration_html
from microseg.insights._value import PreviousSnapshot, ValueRow, ValueTable
from microseg.insights.api import Insights

__all__ = [
    "AffinityResult",
    "AffinityRow",
    "AffinityTable",
    "BestTime",
    "ChangeGroup",
    "ChangeMeasure",
    "ChangeReport",
    "CustomerHistory",
    "Insights",
    "Intersection",
    "Lookalike",
    "LookalikeCustomer",
    "LookalikeCutoff",
    "LookalikeDriver",
    "LookalikeModel",
    "Migration",
    "Overlap",
    "PairOverlap",
    "PreviousSnapshot",
    "SendTimes",
    "ValueRow",
    "ValueTable",
    "migration_figure",
    "migration_html",
]
