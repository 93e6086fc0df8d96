"""``ws.govern``: is the segmentation fair, is the data good and fresh enough, and is old
or erased data really gone (docs/governance.md).

No SQL text here: tables are read and written through the store and Ibis
(docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from microseg.context import Context
from microseg.core.errors import ParameterError
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.govern._audit import AuditResult
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
