"""Building a value table from the workspace's analyses: which customers form each group
(saved segments evaluated at ``as_of``, or a discovery run's clusters assigned at
``as_of``), the value fit that applies, and the snapshot growth compares with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from microseg.context import Context
from microseg.core.duration import parse_duration
from microseg.core.errors import DurationError, ParameterError
from microseg.core.results import ProblemResult
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.insights._value import (
    POTENTIAL_FORMULA,
    Groups,
    PreviousSnapshot,
    ValueTable,
    check_column,
    group_figures,
    rank_rows,
    value_rows,
)
from microseg.lang import cluster_column
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.value import warning_results
from microseg.value.api import Value

__all__ = [
    "ValueInputs",
    "ValueRequest",
    "build_value_table",
    "cell_groups",
    "cluster_groups",
    "segment_groups",
]


@dataclass(frozen=True)
class ValueInputs:
    """The collaborators a value table reads."""

    context: Context
    profile: ProfileAssembler
    segments: Segments
    value: Value
    discover: Discover


def _aware(moment: datetime) -> datetime:
    """A stored (naive UTC) instant as an aware one, so no zone reinterprets it."""
    return moment.replace(tzinfo=UTC)


def segment_groups(
    segments: Segments, names: Sequence[str] | None, at: datetime, *, save: bool
) -> tuple[Groups, int, dict[str, str], list[ProblemResult], list[str]]:
    """Saved segments evaluated at ``at``: the groups, the customers, their versions, and
    the problems and warnings of the evaluation."""
    run = segments.evaluate(names, as_of=_aware(at), save=save)
    problems = [ProblemResult.model_validate(p) for p in run.problems]
    if run.result is None or not run.sizes:
        raise ParameterError(
            "no segment to rank: the workspace has none that can be evaluated",
            hint="write one in segments/ (docs/segments.md), or rank a discovery run: --run RUN",
        )
    table = run.result.table()
    parts = [table.filter(table[n]).select("customer_id", group=ibis.literal(n)) for n in run.sizes]
    long = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    groups = Groups(long, list(run.sizes), dict(run.titles))
    return groups, run.customers, dict(run.versions), problems, list(run.warnings)


def cluster_groups(
    context: Context, discover: Discover, run: str, clock_at: datetime
) -> tuple[Groups, int, str]:
    """A discovery run's clusters, every customer assigned at ``clock_at`` by the run's
    assigner (as ``cluster:`` rules see them); the groups, customers and the run's name."""
    provider = discover.provider()
    source = provider.lookup()(run)
    labels = provider.labels(context.clock(_aware(clock_at)), _aware(clock_at), source)
    ids = labels.column(cluster_column(source.run_id)).to_pylist()
    order = sorted(set(source.clusters) | {int(i) for i in ids})
    table = pa.table({"customer_id": labels.column("customer_id"), "group": [str(i) for i in ids]})
    titles: dict[str, str | None] = {str(k): source.clusters.get(k, "unclustered") for k in order}
    groups = Groups(ibis.memtable(table), [str(k) for k in order], titles)
    return groups, labels.num_rows, source.name


def cell_groups(segments: Segments, dimensions: Sequence[str], at: datetime) -> tuple[Groups, int]:
    """The cells of the grid over ``dimensions`` at ``at`` (every customer in one)."""
    table = segments.grid_cells(dimensions, as_of=_aware(at)).rename(group="cell")
    sizes = table.group_by("group").aggregate(n=table.count()).to_pyarrow().to_pylist()
    order = [str(r["group"]) for r in sorted(sizes, key=lambda r: (-r["n"], r["group"]))]
    return Groups(table, order, {}), sum(int(r["n"]) for r in sizes)


def _stored_previous(
    context: Context, versions: dict[str, str], at: datetime
) -> tuple[datetime, ir.Table] | None:
    """The latest stored evaluation before ``at`` of all these segments at their current
    versions, and its members as groups; None when there is none."""
    runs = context.store.table("segment_runs")
    same = ibis.or_(*[(runs.segment == s) & (runs.version == v) for s, v in versions.items()])
    found = (
        runs.filter(same & (runs.as_of < ibis.literal(at)))
        .group_by("as_of")
        .aggregate(n=runs.segment.nunique())
    )
    found = found.filter(found.n == len(versions)).order_by(ibis.desc("as_of")).limit(1)
    rows = found.to_pyarrow().to_pylist()
    if not rows:
        return None
    moment: datetime = rows[0]["as_of"]
    members = context.store.table("memberships")
    kept = ibis.or_(*[(members.segment == s) & (members.version == v) for s, v in versions.items()])
    chosen = members.filter(kept & (members.as_of == ibis.literal(moment)))
    return moment, chosen.select("customer_id", group=chosen.segment)


@dataclass(frozen=True)
class ValueRequest:
    """What to rank: ``segments`` (all saved ones when empty), ``run``'s clusters, or the
    cells of the grid over ``grid`` (cells under ``min_size`` customers hidden, as the grid
    hides them); over ``period`` before ``as_of``, ranked by ``by``."""

    segments: list[str] = field(default_factory=list)
    run: str | None = None
    grid: list[str] = field(default_factory=list)
    as_of: AsOf | None = None
    period: str = "12 months"
    by: str | None = None
    horizon: str | None = None
    min_size: int = 50


def build_value_table(inputs: ValueInputs, request: ValueRequest) -> ValueTable:
    """The value table of a request (see :class:`ValueRequest`)."""
    segments, run, grid = request.segments, request.run, request.grid
    as_of, period, by, horizon, min_size = (
        request.as_of,
        request.period,
        request.by,
        request.horizon,
        request.min_size,
    )
    if sum(bool(x) for x in (segments, run is not None, grid)) > 1:
        raise ParameterError("give segments, --run RUN or --grid DIMENSION, only one of them")
    if min_size < 1:
        raise ParameterError(f"min_size must be at least 1, got {min_size}")
    if by is not None:
        check_column(by)
    try:
        length = parse_duration(period)
    except DurationError as exc:
        raise DurationError(f"--period: {exc}") from None
    context = inputs.context
    clock = context.clock(as_of)
    at = clock.as_of
    start = clock.back(length)
    earlier = start  # growth's fallback: the same computation as of as_of minus the period
    problems: list[ProblemResult] = []
    warnings: list[str] = []
    versions: dict[str, str] = {}
    if run is not None:
        groups, customers, run = cluster_groups(context, inputs.discover, run, at)
    elif grid:
        groups, customers = cell_groups(inputs.segments, grid, at)
    else:
        groups, customers, versions, problems, warnings = segment_groups(
            inputs.segments, segments or None, at, save=True
        )
    horizon = horizon or f"{context.config.value.horizon_months} months"
    fit = inputs.value.latest_fit(as_of=_aware(at))
    predictions = None
    no_fit = None
    if fit is None:
        no_fit = (
            f"no value fit at or before {at:%Y-%m-%d %H:%M} UTC: the CLV, P(alive), churn and "
            "market potential columns are empty; run `microseg clv fit` to fill them"
        )
    else:
        predictions = inputs.value.predict(as_of=_aware(at), horizon=horizon)
    events = inputs.profile.events()
    figures = group_figures(groups.table, events, start, at, context.config, predictions)
    previous, before = _previous(inputs, groups, versions, run, grid, at, earlier)
    prior_start = context.clock(_aware(previous.as_of)).back(length)
    end = previous.as_of.replace(tzinfo=None)
    before_figures = group_figures(before, events, prior_start, end, context.config)
    rows = value_rows(
        groups,
        figures,
        customers,
        previous=before_figures,
        scored=predictions is not None,
    )
    if grid:
        small = [r for r in rows if r.members < min_size]
        rows = [r for r in rows if r.members >= min_size]
        if small:
            hidden = sum(r.members for r in small)
            warnings.append(
                f"hid {len(small)} cells under {min_size} customers ({hidden:,} in all): "
                "a lower min_size shows them"
            )
    chosen = by or ("clv_total" if predictions is not None else "revenue")
    return ValueTable(
        as_of=at,
        period=str(length),
        period_start=start,
        customers=customers,
        source="run" if run is not None else "grid" if grid else "segments",
        dimensions=list(grid),
        run=run,
        by=chosen,
        horizon=horizon,
        fit_id=fit.fit_id if fit is not None else None,
        fit_as_of=fit.as_of if fit is not None else None,
        no_fit=no_fit,
        fit_warnings=warning_results(fit.warnings()) if fit is not None else [],
        market_potential_formula=POTENTIAL_FORMULA,
        previous=previous,
        rows=rank_rows(rows, chosen),
        warnings=warnings,
        problems=problems,
    )


def _previous(
    inputs: ValueInputs,
    groups: Groups,
    versions: dict[str, str],
    run: str | None,
    grid: Sequence[str],
    at: datetime,
    earlier: datetime,
) -> tuple[PreviousSnapshot, ir.Table]:
    """The snapshot growth compares with, and its members as groups."""
    if run is None and not grid:
        stored = _stored_previous(inputs.context, versions, at)
        if stored is not None:
            moment, members = stored
            text = f"the stored evaluation of these segments as of {moment:%Y-%m-%d %H:%M} UTC"
            return PreviousSnapshot(as_of=moment, source="stored", text=text), members
        before, *_ = segment_groups(inputs.segments, list(groups.order), earlier, save=False)
    elif run is not None:
        before, *_ = cluster_groups(inputs.context, inputs.discover, run, earlier)
    else:
        before, _ = cell_groups(inputs.segments, grid, earlier)
    text = f"the same computation as of {earlier:%Y-%m-%d %H:%M} UTC (as_of minus the period"
    text += (
        "; no stored evaluation of these segments before as_of)"
        if run is None and not grid
        else ")"
    )
    return PreviousSnapshot(as_of=earlier, source="computed", text=text), before.table
