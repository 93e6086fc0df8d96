"""What a discovery run tells its user besides its clusters: typed notes.

A note says what happened that the user did not ask for or may not expect (a feature
dropped, an attribute without values, a macro segment too small to split, a ``--k`` that
could not be met), in plain words, with what to change. Notes travel in the run's result
(``notes``), are stored with it and printed by ``microseg discover run`` and ``show``.
"""

from __future__ import annotations

from microseg.core.results import Result

__all__ = ["NOTE_CODES", "DiscoveryNote"]

#: Every code a :class:`DiscoveryNote` can have.
NOTE_CODES = (
    "attribute_without_values",
    "features_dropped",
    "macro_not_split",
    "nothing_split",
    "k_not_reached",
    "value_fit_warning",
)


class DiscoveryNote(Result):
    """One note of a run: a code, what happened, and what to change (may be empty)."""

    code: str
    message: str
    hint: str = ""
