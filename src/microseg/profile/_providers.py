"""What the packages above the profile plug into it: model outputs and cluster assignments.

Traits (``microseg.traits``), the value models (``microseg.value``) and discovery
(``microseg.discover``) sit above the profile, yet the profile carries their outputs.
They register a provider with the :class:`~microseg.profile.ProfileAssembler`; the
profile asks it for columns (batch) or for a scorer and a lookup (one customer), and
never imports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import ibis
import pyarrow as pa

from microseg.core.time import AsOf
from microseg.lang import Clock, ClusterLookup, ClusterSource, ModelExpr, ScoreLookup, ScoreSource
from microseg.lang.profile import ModelScorer

__all__ = ["ClusterProvider", "ModelProvider", "ScoreProvider", "TraitProvider"]


class ModelProvider(Protocol):
    """Value-model outputs (``p_alive``, ``clv``...) for the profile."""

    def available(self, moment: datetime | None) -> bool:
        """Whether a fit calibrated at or before ``moment`` exists."""
        ...

    def scores(self, clock: Clock, wanted: Sequence[ModelExpr]) -> pa.Table:
        """``customer_id`` and one column per wanted output, for every buyer."""
        ...

    def scorer(self, clock: Clock) -> ModelScorer | None:
        """The per-profile twin of :meth:`scores` (None when no fit applies)."""
        ...


class ClusterProvider(Protocol):
    """Stored discovery runs, and the cluster each customer falls in."""

    def lookup(self) -> ClusterLookup:
        """Runs by name or id, each loaded once per lookup."""
        ...

    def run_ids(self) -> list[int]:
        """The stored runs that can assign customers."""
        ...

    def labels(self, clock: Clock, as_of: AsOf | None, source: ClusterSource) -> pa.Table:
        """``customer_id`` and the cluster column of ``source`` for every customer."""
        ...


class TraitProvider(Protocol):
    """Trait values for the profile (``microseg.traits`` registers one)."""

    def values(self, as_of: AsOf | None, names: Sequence[str] | None) -> ibis.Table:
        """``customer_id`` and one column per trait (every trait when ``names`` is None)
        for every customer at ``as_of``."""
        ...


class ScoreProvider(Protocol):
    """Stored scoring (look-alike) models, and each customer's score by one."""

    def lookup(self) -> ScoreLookup:
        """Models by name, each loaded once per lookup."""
        ...

    def names(self) -> list[str]:
        """The stored models' names."""
        ...

    def scores(self, clock: Clock, as_of: AsOf | None, source: ScoreSource) -> pa.Table:
        """``customer_id`` and the score column of ``source`` for every customer."""
        ...
