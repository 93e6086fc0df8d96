"""``ws.govern``: is the segmentation fair, is the data good and fresh enough, and is old
or erased data really gone (docs/governance.md).

No SQL text here: tables are read and written through the store and Ibis
(docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from microseg.context import Context
from microseg.core.errors import ParameterError
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.govern._audit import AuditResult
from microseg.govern._erasure import ErasureReport, forget
from microseg.govern._quality import QualityReport
from microseg.govern._retention import RetentionReport, apply_retention
from microseg.govern._staleness import LoadClock, Staleness
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.traits.api import Traits
from microseg.value.api import Value

__all__ = ["Govern"]


class Govern:
    """The governance namespace of a workspace, over its data and analyses."""

    def __init__(
        self,
        context: Context,
        profile: ProfileAssembler,
        traits: Traits,
        segments: Segments,
        value: Value,
        discover: Discover,
    ) -> None:
        self._context = context
        self._profile = profile
        self._traits = traits
        self._segments = segments
        self._value = value
        self._discover = discover

    # -- bias and coverage audit (docs/governance.md) -----------------------------------------

    def audit(
        self,
        segments: Sequence[str] | None = None,
        *,
        run: str | int | None = None,
        as_of: AsOf | None = None,
    ) -> AuditResult:
        """Coverage, selection-rate ratios and proxies of a set of segments (all of them by
        default) at ``as_of``, or of a stored discovery run's clusters (``run``), against
        the sensitive attributes of ``microseg.yaml``; small cells suppressed.

        Examples
        --------
        >>> ws.govern.audit(["north"]).findings                       # doctest: +SKIP
        """
        from microseg.govern._audit import audit_segments
        from microseg.govern._audit_input import run_input, segments_input

        if run is not None and segments:
            raise ParameterError("audit either segments or a discovery run (run=), not both")
        if run is not None:
            data = run_input(self._context, self._profile, self._traits, self._discover, run)
        else:
            data = segments_input(
                self._context, self._profile, self._traits, self._segments, segments, as_of
            )
        config = self._context.config
        return audit_segments(data, config.audit, min_group_size=config.privacy.min_group_size)

    # -- data quality and staleness (docs/governance.md) --------------------------------------

    def quality(self) -> QualityReport:
        """Nulls and distinct values per column, duplicates and rejects, future and
        implausible times, negative and outlying amounts, customers with too little history
        for the value models (and their segments), and staleness, at the workspace's now.

        Examples
        --------
        >>> ws.govern.quality().findings                                # doctest: +SKIP
        """
        from microseg.govern._quality import build_report

        context = self._context
        return build_report(
            context.store,
            context.config,
            context.now(),
            customers=self._profile.attributes(),
            summary=self._value.summary(),
            staleness=self.staleness(),
        )

    def staleness(self) -> Staleness:
        """Each source's last load and last event, and every stored result (traits,
        segment snapshots, value fits, discovery runs) with ``stale`` set when a load that
        changed the data finished after it was computed."""
        from microseg.govern._staleness import staleness

        return staleness(self._context.store, self._context.now())

    def stale_since(self, computed_at: datetime | None) -> datetime | None:
        """When a result computed at ``computed_at`` became stale (the first later load
        that changed the data), or None while fresh: the rule every listing applies."""
        return LoadClock(self._context.store).stale_since(computed_at)

    def fit_stale_since(self, fit_id: int) -> datetime | None:
        """:meth:`stale_since` of stored value fit ``fit_id`` (what ``clv predict`` uses)."""
        from microseg.govern._staleness import fit_computed_at

        return self.stale_since(fit_computed_at(self._context.store, fit_id))

    def retention(self, *, dry_run: bool = False) -> RetentionReport:
        """Remove (or archive to Parquet, then remove) events and rejected rows older than
        the ``retention`` periods of microseg.yaml, counted back from the workspace
        clock, and record the run; ``dry_run`` only says what would go.

        Examples
        --------
        >>> ws.govern.retention(dry_run=True).removed                     # doctest: +SKIP
        1204
        """
        return apply_retention(self._context, dry_run=dry_run)

    def forget(self, customer_id: str) -> ErasureReport:
        """Erase one person (``customer_id``, every id merged into it, their identifiers)
        from every table, keep a salted tombstone so a re-import is refused, rewrite the
        database file without them, and prove it by scanning every column of every table.

        Examples
        --------
        >>> ws.govern.forget("C0042").proof.clean                          # doctest: +SKIP
        True
        """
        return forget(self._context, customer_id)

    def retention_history(self) -> list[dict[str, Any]]:
        """Every recorded retention run, newest first: a row per table with its cut-off,
        rows removed, their dates and types, and the archive file."""
        return self._context.store.retention_history()
