"""The effect of an edit before it is saved: who enters, who leaves."""

from __future__ import annotations

from microseg.core.results import Instant, Result
from microseg.segments._evaluate import SegmentRun
from microseg.store import Store

__all__ = ["SegmentDiff", "segment_diff"]


class SegmentDiff(Result):
    """Sizes before and after an edit, and who would enter or leave (counts and samples)."""

    name: str
    as_of: Instant
    customers: int
    before: int | None  # None: the segment is new
    after: int
    entering: int
    leaving: int
    entering_sample: list[str]
    leaving_sample: list[str]


def segment_diff(
    store: Store, name: str, edited: str | None, run: SegmentRun, *, sample: int = 10
) -> SegmentDiff:
    """Compare the current segment ``name`` with ``edited`` in ``run``'s result table.

    ``edited`` is the column of the edited definition when the segment exists; when it
    does not, the new definition was evaluated under ``name + '--edited'`` and every
    member enters.
    """
    new_column = edited or name + "--edited"
    old_column = name if edited else None
    if run.result is None:
        raise RuntimeError("segment_diff needs a run that kept its result table")  # a bug
    entering, leaving = store.membership_changes(
        run.result.name, old_column, new_column, sample=sample
    )
    return SegmentDiff(
        name=name,
        as_of=run.as_of,
        customers=run.customers,
        before=run.sizes.get(name) if edited else None,
        after=run.sizes[new_column],
        entering=entering[0],
        leaving=leaving[0],
        entering_sample=entering[1],
        leaving_sample=leaving[1],
    )
