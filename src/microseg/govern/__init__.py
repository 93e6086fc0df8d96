"""Governance: bias and coverage audit, data quality and staleness, retention and erasure
(docs/governance.md). ``ws.govern`` is :class:`Govern`."""

from __future__ import annotations

from microseg.govern._audit import AuditResult
from microseg.govern._erasure import ErasureProof, ErasureReport
from microseg.govern._quality import QualityReport
from microseg.govern._retention import RetentionReport, RetentionTable
from microseg.govern._staleness import Staleness, StaleResult
from microseg.govern.api import Govern

__all__ = [
    "AuditResult",
    "ErasureProof",
    "ErasureReport",
    "Govern",
    "QualityReport",
    "RetentionReport",
    "RetentionTable",
    "StaleResult",
    "Staleness",
]
