"""Segment insight: what segments are worth, how customers move between them, what they
buy and who resembles them (docs/insights.md). ``ws.insights`` is :class:`Insights`."""

from __future__ import annotations

from microseg.insights._migration import CustomerHistory, Migration
from microseg.insights._plot import migration_figure, migration_html
from microseg.insights.api import Insights

__all__ = ["CustomerHistory", "Insights", "Migration", "migration_figure", "migration_html"]
