"""Sequences in the batch plan: every sequence decided in one pass over the events.

:func:`sequence_table` reads the events that match any step (from the rows the caller
provides), flags each row with the step filters it matches, and decides each sequence by
window functions over each customer's events in time order: DuckDB runs them as
partitioned sorts, which spill to disk, unlike range joins of event pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from microseg.lang._batch_filters import EventFilter
from microseg.lang._nodes import SequenceSpec, SequenceStep
from microseg.lang._semantics import live_steps, step_span

__all__ = ["sequence_table"]

#: The events that match any of some filters (with the columns those filters read).
Rows = Callable[[list[EventFilter]], ir.Table]
#: Whether a row of those events matches a filter.
Matches = Callable[[ir.Table, EventFilter], ir.BooleanValue]


def sequence_table(
    sequences: dict[str, SequenceSpec], rows_of: Rows, matches: Matches, as_of: datetime
) -> ir.Table:
    """One row per customer with a step-1 event: whether each sequence holds.

    The rows are the events that match any step, with one flag per distinct step
    filter. Over each customer's rows in time order (frames by timestamp, so that ties
    are neither before nor after each other; timestamps are in microseconds):

    - a middle step with span ``w`` is reached at a row with its flag when the latest
      reached row of the step before, strictly earlier, is at most ``w`` earlier;
    - a present last step holds after a reached row at ``t`` of the step before when
      the next row with its flag, strictly later, is at most ``t + w``: then some
      event lies in ``(t, t + w]``, and if one does, so does the next one;
    - an absent last step holds at a reached row at ``t`` when ``t + w <= as_of`` and
      that next row is missing or later than ``t + w``.

    The next row with a flag depends on the flag only, so sequences that end with the
    same step share that window; a sequence of two steps needs nothing else.
    """
    flags: dict[str, tuple[str, EventFilter]] = {}
    plans: dict[str, list[tuple[str, SequenceStep]]] = {}
    for name, sequence in sequences.items():
        plan = []
        for step, events in zip(live_steps(sequence), _step_filters(sequence), strict=True):
            flag, _ = flags.setdefault(events.key(), (f"_f{len(flags)}", events))
            plan.append((flag, step))
        plans[name] = plan
    ev = rows_of([f for _, f in flags.values()])
    marked = ev.mutate(**{flag: matches(ev, f) for flag, f in flags.values()})
    names = [flag for flag, _ in flags.values()]
    relevant = marked[names[0]]
    for flag in names[1:]:
        relevant = relevant | marked[flag]
    rows = marked.filter(relevant).select("customer_id", "timestamp", *names)
    tick = ibis.interval(microseconds=1)
    earlier = ibis.window(group_by="customer_id", order_by="timestamp", range=(None, -tick))
    later = ibis.window(group_by="customer_id", order_by="timestamp", range=(tick, None))
    lasts = sorted({plan[-1][0] for plan in plans.values()})
    # microseconds to the next row with the flag: integers compare faster than
    # timestamps shifted by intervals
    rows = rows.mutate(
        **{
            f"{f}_gap": ibis.cases((rows[f], rows.timestamp))
            .min()
            .over(later)
            .delta(rows.timestamp, unit="microsecond")
            for f in lasts
        }
    )
    reached = {name: plan[0][0] for name, plan in plans.items()}
    for level in range(1, max(len(plan) for plan in plans.values()) - 1):
        middle = {}
        for name, plan in plans.items():
            if level < len(plan) - 1:
                flag, step = plan[level]
                span = ibis.interval(microseconds=_micros(step))
                before = ibis.cases((rows[reached[name]], rows.timestamp)).max().over(earlier)
                reached[name] = f"{name}_{level}"
                middle[reached[name]] = rows[flag] & (before >= rows.timestamp - span)
        rows = rows.mutate(**middle)
    holds: dict[str, ir.BooleanValue] = {}
    for name, plan in plans.items():
        flag, step = plan[-1]
        gap, span = rows[f"{flag}_gap"], _micros(step)
        if step.absent:
            ripe = rows.timestamp <= ibis.literal(as_of - timedelta(microseconds=span))
            holds[name] = rows[reached[name]] & ripe & (gap.isnull() | (gap > span))
        else:
            holds[name] = rows[reached[name]] & (gap <= span)
    # counting rows where it holds (a filter) rather than or-ing a boolean for every
    # row: the filter tests the step flag first and skips the rest for most rows
    return rows.group_by("customer_id").aggregate(
        **{name: rows.count(where=cond) > 0 for name, cond in holds.items()}
    )


def _micros(step: SequenceStep) -> int:
    """A step's ``within`` in microseconds (months and years approximated, as everywhere)."""
    return int(step_span(step).total_seconds()) * 1_000_000


def _step_filters(sequence: SequenceSpec) -> list[EventFilter]:
    """The events each live step reads; the sequence's window bounds the first step only."""
    return [
        EventFilter(step.event, tuple(step.where), sequence.window if i == 0 else None)
        for i, step in enumerate(live_steps(sequence))
    ]
