"""Overlap between segments: who is targeted twice.

Pairwise, the customers two segments share (with Jaccard, shared over the union, and the
share of the smaller segment, the part of it the other already reaches); and UpSet-style
intersections, each exact combination of memberships with its customers, largest first.
One evaluation of the segments at ``as_of``, then two Ibis aggregations over its members.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from itertools import combinations

import ibis

from microseg.core.errors import ParameterError
from microseg.core.results import Instant, ProblemResult, Result
from microseg.core.time import AsOf
from microseg.segments.api import Segments

__all__ = ["Intersection", "Overlap", "PairOverlap", "segment_overlap"]


class PairOverlap(Result):
    """Two segments: their sizes, the customers in both, Jaccard and share of the smaller."""

    a: str
    b: str
    a_size: int
    b_size: int
    both: int
    union: int
    #: both / union (0 when both segments are empty)
    jaccard: float
    #: both / the smaller segment's size: how much of it the other already reaches
    share_of_smaller: float


class Intersection(Result):
    """One exact combination: the customers in exactly these segments and no other named."""

    segments: list[str]
    customers: int
    share: float


class Overlap(Result):
    """Overlap of a set of segments at ``as_of``."""

    as_of: Instant
    customers: int
    sizes: dict[str, int]
    pairs: list[PairOverlap]
    #: every non-empty combination with members, largest first (ties by names)
    intersections: list[Intersection]
    #: customers in none of the segments
    in_none: int
    #: customers in two or more of the segments (targeted more than once)
    in_several: int
    warnings: list[str]
    problems: list[ProblemResult]


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def segment_overlap(
    segments: Segments, names: Sequence[str], *, as_of: AsOf | None = None
) -> Overlap:
    """Pairwise overlap and exact intersections of ``names`` (two or more) at ``as_of``."""
    chosen = list(dict.fromkeys(names))
    if len(chosen) < 2:
        raise ParameterError(
            f"overlap needs two or more segments, got {len(chosen)}",
            hint="name them: microseg insights overlap SEGMENT SEGMENT ...",
        )
    for name in chosen:  # one request per name: a broken or unknown one raises, located
        segments.validate([name])
    run = segments.evaluate(chosen, as_of=as_of, save=False)
    assert run.result is not None  # every name validated, so all were evaluated
    table = run.result.table()
    pairs = list(combinations(chosen, 2))
    sums = {f"_p{i}": (table[a] & table[b]).ifelse(1, 0).sum() for i, (a, b) in enumerate(pairs)}
    both = table.aggregate(**sums).to_pyarrow().to_pylist()[0]
    sizes = {n: run.sizes[n] for n in chosen}
    pair_rows = []
    for i, (a, b) in enumerate(pairs):
        shared = int(both[f"_p{i}"] or 0)
        union = sizes[a] + sizes[b] - shared
        pair_rows.append(
            PairOverlap(
                a=a,
                b=b,
                a_size=sizes[a],
                b_size=sizes[b],
                both=shared,
                union=union,
                jaccard=_ratio(shared, union),
                share_of_smaller=_ratio(shared, min(sizes[a], sizes[b])),
            )
        )
    keys = {f"_s{i}": table[n] for i, n in enumerate(chosen)}
    combos = table.mutate(**keys).group_by(list(keys)).aggregate(_n=ibis._.count())
    found = []
    in_none = 0
    for row in combos.to_pyarrow().to_pylist():
        members = [n for i, n in enumerate(chosen) if row[f"_s{i}"]]
        if members:
            found.append((members, int(row["_n"])))
        else:
            in_none += int(row["_n"])
    found.sort(key=lambda item: (-item[1], -len(item[0]), item[0]))
    return Overlap(
        as_of=run.as_of.replace(tzinfo=UTC),
        customers=run.customers,
        sizes=sizes,
        pairs=sorted(pair_rows, key=lambda p: (-p.both, p.a, p.b)),
        intersections=[
            Intersection(segments=m, customers=n, share=_ratio(n, run.customers)) for m, n in found
        ],
        in_none=in_none,
        in_several=sum(n for m, n in found if len(m) > 1),
        warnings=list(run.warnings),
        problems=[ProblemResult.model_validate(p) for p in run.problems],
    )
