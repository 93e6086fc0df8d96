"""A series of snapshots in one pass over the events: the segments evaluated at several
dates at once, each snapshot identical to an evaluation at its own date (issue 13)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import ibis.expr.types as ir

from microseg.lang.batch import share_events
from microseg.profile import BatchInputs
from microseg.segments._catalog import SegmentCatalog
from microseg.segments._evaluate import SegmentRun, finish_run, segment_compiler
from microseg.store import Store
from microseg.traits import TraitCatalog

__all__ = ["evaluate_series"]

SHARED_PREFIX = "_segment_series_"


def evaluate_series(
    store: Store,
    catalog: SegmentCatalog,
    names: list[str],
    inputs: list[BatchInputs],
    *,
    cuts: list[dict[str, list[float]]],
    save: bool = True,
    evaluated_at: datetime | None = None,
    traits: TraitCatalog | None = None,
) -> list[SegmentRun]:
    """Evaluate ``names`` at each date of ``inputs`` (one per date, with its ``cuts``).

    The rules are lowered once per date, then what they read from the events is computed
    for all dates together: every conditional aggregate (counts, sums, averages, minima,
    maxima, distinct counts, in event rules and in traits) becomes one column per date in
    shared passes over the events, each bounded by its date (events before it only, its
    windows and relative dates counted from it). What differs per date is still built per
    date, so that each snapshot is exactly the evaluation at its date:

    - the customers and their attributes as of the date, identities (``has:``), buckets;
    - value-model outputs (``model:`` traits) scored as of the date, and score cut points
      (RFM) of the population at the date;
    - modes (most frequent value) and sequences: their per-customer rankings and window
      functions are computed per date, over the events before it.

    Each date's memberships then land in its run's table (and with ``save`` in
    ``memberships``), as :func:`~microseg.segments.evaluate_segments` stores them.
    """
    started = time.perf_counter()
    compilers = [
        segment_compiler(catalog, given, traits=traits, cuts=c)
        for given, c in zip(inputs, cuts, strict=True)
    ]
    lowered = [{name: c.segment(name) for name in names} for c in compilers]
    shared: list[str] = []

    def materialise(plan: Callable[[], ir.Table]) -> ir.Table:
        name = store.temp_name(SHARED_PREFIX)
        shared.append(name)
        return store.create_temp_table(name, plan)

    try:
        share_events(compilers, materialise)
        each = (time.perf_counter() - started) / max(1, len(compilers))
        return [
            finish_run(
                store,
                catalog,
                compiler,
                rules,
                save=save,
                evaluated_at=evaluated_at,
                started=time.perf_counter() - each,
            )
            for compiler, rules in zip(compilers, lowered, strict=True)
        ]
    finally:
        for name in shared:
            store.drop_temp_table(name)
