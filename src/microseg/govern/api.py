"""``ws.govern``: is the segmentation fair, is the data good and fresh enough, and is old
or erased data really gone (docs/governance.md).

No SQL text here: tables are read and written through the store and Ibis
(docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from microseg.context import Context
from microseg.discover.api import Discover
from microseg.govern._erasure import ErasureReport, forget
from microseg.govern._retention import RetentionReport, apply_retention
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
