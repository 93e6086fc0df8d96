"""The states of a migration at each date, from the workspace's analyses: stored segment
snapshots (reused when the definitions and the data are those they were evaluated on),
trait values, or a discovery run's clusters; and one customer's timeline."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime

import ibis
import ibis.expr.types as ir

from microseg.context import Context
from microseg.core.errors import ParameterError
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.insights._migration import (
    EVERY,
    CustomerHistory,
    HistoryEntry,
    Migration,
    MigrationInputs,
    SnapshotStamp,
    StateSource,
    add_months,
    check_trait,
    cluster_state,
    compute_migration,
    data_stamp,
    memberships_state,
    series_dates,
    snapshot_key,
    value_state,
)
from microseg.lang import cluster_column
from microseg.profile import ProfileAssembler
from microseg.segments import definition_version
from microseg.segments.api import Segments
from microseg.traits.api import Traits
from microseg.value.api import Value

__all__ = ["MigrationBuilder"]

TEMP_PREFIX = "_migration_states_"


class MigrationBuilder:
    """Builds :class:`Migration` results from the workspace's namespaces."""

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
        self._temp: list[str] = []

    def migration(
        self,
        segments: Sequence[str],
        *,
        start: AsOf,
        end: AsOf,
        every: str | None,
        trait: str | None,
        run: str | int | None,
        threshold: float,
    ) -> Migration:
        chosen = sum(bool(x) for x in (list(segments), trait, run is not None))
        if chosen != 1:
            raise ParameterError(
                "say what the states are: segments (in priority order), a trait, or a run",
                hint="e.g. `microseg insights migration vip regulars`, "
                "`--trait lifecycle_stage` or `--run 1` (one of them)",
            )
        dates, before = series_dates(start, end, every, self._context.instant)
        if trait is not None:
            source = self._trait_source(trait)
        elif run is not None:
            source = self._run_source(run)
        else:
            source = self._segment_source(list(segments), dates)
        inputs = MigrationInputs(
            events=self._profile.events(),
            purchase=self._context.config.value.purchase_event,
            instant=self._context.instant,
            clv=self._clv,
            materialise=self._materialise,
        )
        try:
            return compute_migration(source, inputs, dates, before, threshold=threshold)
        finally:
            for name in self._temp:
                self._context.store.drop_temp_table(name)
            self._temp.clear()

    # -- state sources ------------------------------------------------------------------------

    def _segment_source(self, names: list[str], dates: Sequence[AsOf]) -> StateSource:
        """Stored snapshots of ``names`` at ``dates``: those missing (or stale) are
        back-filled together, in one pass over the events, at the first request."""
        if len(set(names)) != len(names):
            raise ParameterError("a segment is named twice: give each once, in priority order")
        catalog = self._segments.validate(names)
        versions = {n: definition_version(catalog.definitions[n]) for n in names}
        traits = self._traits.list()
        definitions = {
            **{f"segment:{n}": definition_version(d) for n, d in catalog.definitions.items()},
            **{f"trait:{n}": repr(d) for n, d in traits.definitions.items()},
        }
        store = self._context.store
        filled: dict[datetime, bool] = {}  # moment -> whether its stored snapshot was reused

        def backfill(wanted: Sequence[AsOf]) -> None:
            stamp = data_stamp(store.generation(), definitions)
            missing: list[AsOf] = []
            for as_of in wanted:
                moment = self._context.instant(as_of)
                keys = [snapshot_key(moment, n, v) for n, v in versions.items()]
                filled[moment] = all(store.meta_value(k) == stamp for k in keys)
                if not filled[moment]:
                    missing.append(as_of)
            if not missing:
                return
            for run in self._segments.evaluate_series(names, missing, save=True):
                if run.result is not None:
                    run.result.drop()
            with store.transaction():
                for as_of in missing:
                    moment = self._context.instant(as_of)
                    for n, v in versions.items():
                        store.set_meta_value(snapshot_key(moment, n, v), stamp)

        def states(as_of: AsOf) -> tuple[ir.Table, SnapshotStamp]:
            moment = self._context.instant(as_of)
            if moment not in filled:  # the series at the first request, then any other date
                backfill([as_of] if filled else dates)
            reused = filled[moment]
            table = memberships_state(
                self._profile.attributes(as_of), store.table("memberships"), moment, versions
            )
            return table, SnapshotStamp(as_of=moment, versions=versions, reused=reused)

        return StateSource("segments", states, list(names))

    def _trait_source(self, trait: str) -> StateSource:
        catalog = self._traits.list()
        check_trait(trait, list(catalog.definitions))

        def states(as_of: AsOf) -> tuple[ir.Table, SnapshotStamp]:
            table = self._profile.table(as_of, traits=[trait])
            moment = self._context.instant(as_of)
            return value_state(table, trait), SnapshotStamp(as_of=moment, versions={}, reused=False)

        return StateSource("trait:" + trait, states, _trait_order(trait))

    def _run_source(self, run: str | int) -> StateSource:
        run_id = self._discover.resolve(run)
        clusters = self._profile.cluster_names().get(str(run_id), {})
        column = cluster_column(run_id)

        def states(as_of: AsOf) -> tuple[ir.Table, SnapshotStamp]:
            table = self._profile.table(as_of, runs=[run_id])
            moment = self._context.instant(as_of)
            stamp = SnapshotStamp(as_of=moment, versions={}, reused=False)
            return cluster_state(table, column, clusters), stamp

        order = [clusters[k] for k in sorted(clusters)]
        return StateSource(f"run:{run_id}", states, order)

    # -- inputs -------------------------------------------------------------------------------

    def _clv(self, moment: datetime) -> ir.Table | None:
        at = moment.replace(tzinfo=UTC)  # the store's naive UTC, not local time
        if self._value.latest_fit(as_of=at) is None:
            return None
        predicted = self._value.predict(as_of=at).select(["customer_id", "clv"])
        return ibis.memtable(predicted.rename_columns(["customer_id", "_clv"]))

    def _materialise(self, table: ir.Table) -> ir.Table:
        store = self._context.store
        name = store.temp_name(TEMP_PREFIX)
        self._temp.append(name)
        return store.create_temp_table(name, lambda: table)

    # -- one customer -------------------------------------------------------------------------

    def history(
        self,
        customer_id: str,
        *,
        start: AsOf | None,
        end: AsOf | None,
        every: str,
        names: Sequence[str] | None,
        max_snapshots: int | None = None,
    ) -> CustomerHistory:
        if every not in EVERY:
            raise ParameterError(f"every {every!r}: use month or week")
        if end is None:
            end = self._context.clock().today()
        if start is None:
            start = add_months(self._context.clock(end).today(), -12)
        dates, _ = series_dates(start, end, every, self._context.instant)
        if max_snapshots is not None and len(dates) > max_snapshots:
            raise ParameterError(
                f"from {start} to {end} every {every} is {len(dates)} snapshots, over the "
                f"{max_snapshots} one request may ask (each is a full evaluation)",
                where="from",
                hint=f"narrow from and to, or ask for the range in parts of {max_snapshots}",
            )
        moments: list[datetime] = []
        held: list[list[str]] = []
        for as_of in dates:
            moments.append(self._context.instant(as_of))
            found = self._segments.of(customer_id, as_of=as_of, names=names, problems=[])
            held.append(sorted(n for n, inside in found.items() if inside))
        changes = [
            HistoryEntry(as_of=moments[i + 1], segment=name, change=change)
            for i, (old, new) in enumerate(itertools.pairwise(held))
            for change, names_changed in (
                ("entered", sorted(set(new) - set(old))),
                ("left", sorted(set(old) - set(new))),
            )
            for name in names_changed
        ]
        return CustomerHistory(
            customer_id=customer_id, dates=moments, segments=held, changes=changes
        )


def _trait_order(trait: str) -> list[str]:
    """The built-in stages in their natural order (others sort by name)."""
    if trait == "lifecycle_stage":
        return ["prospect", "new", "reactivated", "active", "at_risk", "lapsed"]
    if trait == "rfm_group":
        return [
            "Champions", "Loyal", "Potential loyalist", "New", "Promising", "Needs attention",
            "About to sleep", "At risk", "Cannot lose them", "Hibernating", "Lost",
        ]  # fmt: skip
    return []
