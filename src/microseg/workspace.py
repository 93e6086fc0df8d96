"""The ``Workspace`` facade: the one object the CLI, the service and the report call."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import ibis

from microseg._time import AsOf, to_store_time
from microseg.config import FAMILIES, WorkspaceConfig, load_config, render_default_config
from microseg.errors import WorkspaceError
from microseg.ingest import Kind, LoadReport, Progress, ingest
from microseg.lang import (
    BUILTIN_EVENT_TYPES,
    Clock,
    Problem,
    RuleError,
    Schema,
    SegmentDefinition,
    SegmentRule,
)
from microseg.lang._explain import Explanation, explain
from microseg.lang.profile import Profile, ProfileEvaluator
from microseg.segments import (
    Grid,
    SegmentCatalog,
    SegmentDiff,
    SegmentRun,
    evaluate_profile,
    evaluate_segments,
    parse_dimension,
    segment_diff,
)
from microseg.segments._grid import build_grid
from microseg.store import Store
from microseg.traits import (
    TraitCatalog,
    TraitRun,
    compute_cuts,
    compute_traits,
    profile_traits,
)

__all__ = ["CONFIG_FILE", "TimeSource", "Workspace", "WorkspaceStatus"]

CONFIG_FILE = "microseg.yaml"
TimeSource = Callable[[], datetime]


def _system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WorkspaceStatus:
    """What a workspace holds: tables, dates, rejects, the last refresh, attributes by family."""

    path: str
    name: str
    tables: dict[str, int]
    first_event: datetime | None
    last_event: datetime | None
    event_types: dict[str, int]
    rejects: int
    last_load: dict[str, Any] | None
    attributes: dict[str, list[str]]
    unclassified: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("first_event", "last_event"):
            data[key] = data[key].isoformat() + "Z" if data[key] else None
        if self.last_load:
            data["last_load"] = {
                k: (v.isoformat() + "Z" if isinstance(v, datetime) else v)
                for k, v in self.last_load.items()
            }
        return data


class Workspace:
    """A microseg workspace: ``microseg.yaml``, ``segments/`` and the store.

    Examples
    --------
    >>> ws = Workspace.init("shop")                                   # doctest: +SKIP
    >>> ws.ingest("events", ["orders.csv"]).accepted                  # doctest: +SKIP
    >>> ws.customers(as_of="2025-06-30").to_pandas()                  # doctest: +SKIP
    """

    def __init__(self, path: Path, config: WorkspaceConfig, *, clock: TimeSource = _system_clock):
        self.path = path
        self.config = config
        self._clock = clock
        self.store = Store(
            path / config.store.path,
            timezone=config.timezone,
            memory_limit=config.store.memory_limit,
            threads=config.store.threads,
        )

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        name: str | None = None,
        timezone: str = "UTC",
        currency: str = "EUR",
        clock: TimeSource = _system_clock,
    ) -> Workspace:
        """Create a workspace in ``path`` (created if missing; must not hold one already)."""
        root = Path(path)
        if (root / CONFIG_FILE).exists():
            raise WorkspaceError(
                "a workspace already exists here", where=str(root), hint="open it instead"
            )
        root.mkdir(parents=True, exist_ok=True)
        (root / "segments").mkdir(exist_ok=True)
        (root / "traits").mkdir(exist_ok=True)
        text = render_default_config(
            name or root.resolve().name, timezone=timezone, currency=currency
        )
        config_path = root / CONFIG_FILE
        config_path.write_text(text, encoding="utf-8")
        load_config(config_path)  # the template must itself be valid
        return cls.open(root, clock=clock)

    @classmethod
    def open(
        cls, path: str | Path | None = None, *, clock: TimeSource = _system_clock
    ) -> Workspace:
        """Open the workspace at ``path``, ``$MICROSEG_WORKSPACE`` or the current folder."""
        root = Path(path or os.environ.get("MICROSEG_WORKSPACE") or ".")
        config_path = root / CONFIG_FILE
        if not config_path.exists():
            raise WorkspaceError(
                f"no {CONFIG_FILE} here, so this is not a microseg workspace",
                where=str(root.resolve()),
                hint="run `microseg init DIR` or pass --workspace DIR",
            )
        return cls(root, load_config(config_path), clock=clock)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        """The current instant from the workspace clock, as the store keeps it (naive UTC)."""
        return to_store_time(self._clock(), self.config.timezone)

    def as_of(self, value: AsOf | None) -> datetime:
        """Resolve an ``as_of`` (None: now; a bare date: the end of that day)."""
        return self.now() if value is None else to_store_time(value, self.config.timezone)

    # -- data in ------------------------------------------------------------------------------

    def ingest(
        self,
        kind: Kind,
        sources: Sequence[Any] | str | Path,
        *,
        map: Mapping[str, str] | None = None,
        source: str | None = None,
        format: str | None = None,
        valid_from: str | None = None,
        progress: Progress | None = None,
    ) -> LoadReport:
        """Load files or frames into ``customers``, ``events`` or ``products``.

        Parameters
        ----------
        kind:
            The canonical table to feed.
        sources:
            Paths (CSV, Parquet, JSON Lines) or pandas / polars / pyarrow tables.
        map:
            Source column -> canonical column, on top of the named ``source``'s map.
        valid_from:
            For customers: the column giving when each row's values became true
            (default: ``valid_from`` or ``updated_at`` if present, else the load time).

        Bad rows go to the ``rejects`` table; re-loading the same rows adds nothing; a
        failure part-way leaves the store as it was.
        """
        if isinstance(sources, str | Path) or not isinstance(sources, Sequence):
            sources = [sources]
        return ingest(
            self.store,
            self.config,
            kind,
            sources,
            now=self.now(),
            mapping=map,
            source=source,
            format=format,
            valid_from=valid_from,
            progress=progress,
        )

    # -- data out -----------------------------------------------------------------------------

    def customers(self, as_of: AsOf | None = None) -> ibis.Table:
        """Every live customer with attributes as they were at ``as_of`` (default: current).

        ``as_of`` is exclusive, as everywhere: the values in force just before that instant;
        a bare date means the end of that day.
        Attributes come from their history; ``age`` (whole years at ``as_of``) is derived
        from ``birth_date`` when the workspace has one and no ``age`` of its own.
        """
        moment = self.as_of(as_of)
        history = self.store.table("customer_history")
        registry = self.store.table("customer_registry")
        if as_of is None:
            in_force = history.valid_to.isnull()
        else:
            # as_of is exclusive, as for events: the version in force just before it
            in_force = (history.valid_from < moment) & (
                history.valid_to.isnull() | (history.valid_to >= moment)
            )
        current = history.filter(in_force).drop("valid_from", "valid_to", "load_id")
        live = registry.filter(registry.merged_into.isnull()).select("customer_id")
        table = live.left_join(current, "customer_id").drop("customer_id_right")
        if "birth_date" in table.columns and "age" not in table.columns:
            # the last calendar day that as_of includes, in the workspace zone: as_of is
            # exclusive, so a bare date (the next midnight) gives that date itself
            last = (moment - timedelta(microseconds=1)).replace(tzinfo=UTC)
            day = last.astimezone(ZoneInfo(self.config.timezone)).date()
            born = table.birth_date
            later_birthday = (born.month() > day.month) | (
                (born.month() == day.month) & (born.day() > day.day)
            )
            age = day.year - born.year() - later_birthday.ifelse(1, 0)
            table = table.mutate(age=age.cast("int32"))
        return table

    def events(self, as_of: AsOf | None = None) -> ibis.Table:
        """Events strictly before ``as_of`` (all events when None)."""
        table = self.store.table("events")
        if as_of is not None:
            table = table.filter(table.timestamp < self.as_of(as_of))
        return table

    def products(self) -> ibis.Table:
        return self.store.table("products")

    def identities(self) -> ibis.Table:
        return self.store.table("identities")

    def merges(self) -> ibis.Table:
        return self.store.table("merges")

    def rejects(self, *, load_id: int | None = None, limit: int | None = 100) -> ibis.Table:
        """Rejected rows, newest load first: source, row, line, column, value, reason."""
        table = self.store.table("rejects")
        if load_id is not None:
            table = table.filter(table.load_id == load_id)
        table = table.order_by([ibis.desc("load_id"), "source", "row", "column"])
        return table.limit(limit) if limit is not None else table

    def attribute_families(self) -> dict[str, list[str]]:
        """Stored attributes by family, with ``unclassified`` for those the config omits."""
        families: dict[str, list[str]] = {f: [] for f in (*FAMILIES, "unclassified")}
        for name in self.store.attribute_columns():
            families[self.config.family_of(name) or "unclassified"].append(name)
        return families

    # -- segments -----------------------------------------------------------------------------

    def schema(self) -> Schema:
        """What rules may refer to: attributes (with derived ``age``), event types, segments."""
        attributes = dict(self.store.attribute_columns())
        if "birth_date" in attributes and "age" not in attributes:
            attributes["age"] = "number"
        seen = {str(r[0]) for r in self.store.fetchall("SELECT DISTINCT type FROM events")}
        return Schema(
            attributes=attributes,
            traits=self.traits().types(),
            event_types=frozenset(BUILTIN_EVENT_TYPES) | seen,
        )

    def traits(self) -> TraitCatalog:
        """The built-in traits and those in ``traits/*.yaml``."""
        return TraitCatalog.load(self.path / "traits")

    def validate_traits(self) -> TraitCatalog:
        catalog = self.traits()
        catalog.check(self.schema())
        return catalog

    def compute_traits(
        self,
        names: Sequence[str] | None = None,
        *,
        as_of: AsOf | None = None,
        save: bool = True,
    ) -> TraitRun:
        """Every trait (or ``names``) for every customer at ``as_of``, in one pass; stored."""
        catalog = self.validate_traits()
        chosen = list(names) if names else list(catalog.definitions)
        unknown = [n for n in chosen if n not in catalog.definitions]
        if unknown:
            raise RuleError([Problem("traits", f"unknown trait {unknown[0]!r}")])
        clock = self.clock(as_of)
        return compute_traits(
            self.store,
            catalog,
            chosen,
            customers=self.customers(as_of=clock.as_of if as_of is not None else None),
            events=self.events(),
            clock=clock,
            attribute_types=self.schema().attributes,
            save=save,
        )

    def traits_of(self, customer_id: str, *, as_of: AsOf | None = None) -> dict[str, Any]:
        """One customer's traits, by the per-profile interpreter."""
        catalog = self.traits()
        profile = self.profile(customer_id, as_of=as_of)
        clock = self.clock(as_of)
        return profile_traits(
            catalog, list(catalog.definitions), profile, clock, cuts=self.score_cuts(clock)
        )

    def score_cuts(self, clock: Clock) -> dict[str, list[float]]:
        """Population cut points of the scores (RFM) at the clock's as_of.

        Those stored by ``compute_traits`` at that very instant are reused; otherwise they
        are computed now (a few small queries).
        """
        stored = self.store.latest_trait_cuts(clock.as_of)
        exact = self.store.scalar(
            "SELECT count(*) FROM trait_cuts WHERE as_of = $a", {"a": clock.as_of}
        )
        if stored and exact:
            return stored
        catalog = self.traits()
        return compute_cuts(
            catalog,
            list(catalog.definitions),
            customers=self.customers(as_of=clock.as_of),
            events=self.events(),
            clock=clock,
            attribute_types=self.schema().attributes,
        )

    def segments(self) -> SegmentCatalog:
        """The segment definitions in ``segments/`` (every file's problems raised at once)."""
        return SegmentCatalog.load(self.path / "segments")

    def validate_segments(
        self, names: Sequence[str] | None = None, *, extra: SegmentDefinition | None = None
    ) -> SegmentCatalog:
        """Check definitions against the workspace; raise :class:`RuleError` listing problems."""
        unparsed: list[Problem] = []
        catalog = SegmentCatalog.load(self.path / "segments", problems=unparsed)
        if extra is not None:
            catalog = catalog.with_definition(extra)
        catalog.check(self.schema(), list(names) if names else None, earlier=unparsed)
        return catalog

    def clock(self, as_of: AsOf | None = None) -> Clock:
        return Clock(self.as_of(as_of), self.config.timezone)

    def evaluate(
        self,
        names: Sequence[str] | None = None,
        *,
        as_of: AsOf | None = None,
        save: bool = True,
    ) -> SegmentRun:
        """Evaluate segments in batch at ``as_of``; members are stored as a snapshot.

        All named segments (all of them by default) are evaluated together, with one
        aggregation pass over the events.
        """
        catalog = self.validate_segments(names)
        chosen = list(names) if names else sorted(catalog.definitions)
        clock = self.clock(as_of)
        return evaluate_segments(
            self.store,
            catalog,
            chosen,
            customers=self.customers(as_of=clock.as_of if as_of is not None else None),
            events=self.events(),
            clock=clock,
            attribute_types=self.schema().attributes,
            save=save,
            evaluated_at=self.now(),
            traits=self.traits(),
            cuts=self.score_cuts(clock),
        )

    def members(self, name: str, *, as_of: AsOf | None = None) -> ibis.Table:
        """The members of one segment at ``as_of`` (evaluated now, not stored)."""
        self.evaluate([name], as_of=as_of, save=False)
        table = self.store.table("_segment_eval")
        return table.filter(table[name]).select("customer_id").order_by("customer_id")

    def profile(self, customer_id: str, *, as_of: AsOf | None = None) -> Profile:
        """One customer's attributes at ``as_of`` and events before it, for the interpreter."""
        clock = self.clock(as_of)
        customers = self.customers(as_of=clock.as_of if as_of is not None else None)
        rows = customers.filter(customers.customer_id == customer_id).to_pyarrow().to_pylist()
        if not rows:
            raise WorkspaceError(f"no customer {customer_id!r}", hint="check the id")
        events = self.store.table("events")
        chosen = events.filter(
            (events.customer_id == customer_id) & (events.timestamp < clock.as_of)
        ).drop("load_id")
        return Profile(
            customer_id=customer_id,
            attributes={k: v for k, v in rows[0].items() if k != "customer_id"},
            events=chosen.to_pyarrow().to_pylist(),
            attribute_types=self.schema().attributes,
        )

    def segments_of(
        self, customer_id: str, *, as_of: AsOf | None = None, names: Sequence[str] | None = None
    ) -> dict[str, bool]:
        """Which segments one customer is in, by the per-profile interpreter."""
        catalog = self.validate_segments(names)
        chosen = list(names) if names else sorted(catalog.definitions)
        profile = self.profile(customer_id, as_of=as_of)
        clock = self.clock(as_of)
        return evaluate_profile(
            catalog, chosen, profile, clock, traits=self.traits(), cuts=self.score_cuts(clock)
        )

    def explain(self, name: str, customer_id: str, *, as_of: AsOf | None = None) -> Explanation:
        """Why one customer is in or out of a segment, node by node (parent included)."""
        catalog = self.validate_segments([name])
        clock = self.clock(as_of)
        evaluator = ProfileEvaluator(
            self.profile(customer_id, as_of=as_of),
            clock,
            segment_rule=catalog.full_rule,
            trait_definition=self.traits().definitions.__getitem__,
            cuts=self.score_cuts(clock),
        )
        definition = catalog.definitions[name]
        own = explain(evaluator, definition.rule, "rule")
        if definition.parent is None:
            return own
        parent = explain(evaluator, SegmentRule(segment=definition.parent), "parent")
        holds = parent.holds and own.holds
        text = "the parent segment and the rule must both hold"
        return Explanation(name, holds, text, [parent, own])

    def diff(
        self, definition: SegmentDefinition, *, as_of: AsOf | None = None, sample: int = 10
    ) -> SegmentDiff:
        """Who would enter and who would leave if ``definition`` replaced the current one.

        Nothing is saved: the edited rule and the current one are evaluated side by side.
        """
        catalog = self.segments()
        edited = definition.model_copy(update={"name": definition.name + "--edited"})
        current = definition.name in catalog.definitions
        catalog = catalog.with_definition(edited)
        names = [edited.name, *([definition.name] if current else [])]
        catalog.check(self.schema(), names)
        clock = self.clock(as_of)
        run = evaluate_segments(
            self.store,
            catalog,
            names,
            customers=self.customers(as_of=clock.as_of if as_of is not None else None),
            events=self.events(),
            clock=clock,
            attribute_types=self.schema().attributes,
            save=False,
            traits=self.traits(),
            cuts=self.score_cuts(clock),
        )
        return segment_diff(
            self.store,
            definition.name,
            edited.name if current else None,
            run,
            sample=sample,
        )

    def grid(
        self,
        dimensions: Sequence[str],
        *,
        as_of: AsOf | None = None,
        min_size: int = 50,
    ) -> Grid:
        """Every combination of ``dimensions`` with size, share and net revenue.

        Dimensions: ``gender`` (its values), ``age:18,25,35`` (bands of a number),
        ``interests=travel`` (a list or text value), ``segment:NAME`` (membership). Cells
        smaller than ``min_size`` are hidden and counted. See docs/segments.md.
        """
        if min_size < 1:
            raise ValueError(f"min_size must be at least 1, got {min_size}")
        catalog = self.segments()
        schema = self.schema()
        dims = [parse_dimension(d, schema, set(catalog.definitions)) for d in dimensions]
        if not dims:
            raise ValueError("give at least one dimension, e.g. gender or age:18,25,35")
        used = [d.name for d in dims if d.kind == "segment"]
        if used:
            catalog.check(schema, used)
        clock = self.clock(as_of)
        return build_grid(
            catalog,
            dims,
            customers=self.customers(as_of=clock.as_of if as_of is not None else None),
            events=self.events(),
            clock=clock,
            attribute_types=schema.attributes,
            min_size=min_size,
            trait_definition=self.traits().definitions.__getitem__,
            cuts=self.score_cuts(clock),
        )

    def save_segment(self, definition: SegmentDefinition, *, overwrite: bool = False) -> Path:
        """Write a definition to ``segments/NAME.yaml`` after checking it."""
        path = self.path / "segments" / f"{definition.name}.yaml"
        if path.exists() and not overwrite:
            raise WorkspaceError(
                "a segment with this name exists", where=str(path), hint="choose another name"
            )
        self.validate_segments([definition.name], extra=definition)
        path.write_text(definition.to_yaml(), encoding="utf-8")
        return path

    def status(self) -> WorkspaceStatus:
        """Tables and their row counts, event dates and types, rejects, the last load."""
        store = self.store
        tables = {
            "customers": int(store.scalar("SELECT count(*) FROM customers")),
            "events": int(store.scalar("SELECT count(*) FROM events")),
            "products": int(store.scalar("SELECT count(*) FROM products")),
            "identities": int(store.scalar("SELECT count(*) FROM identities")),
            "merges": int(store.scalar("SELECT count(*) FROM merges")),
            "attribute_versions": int(store.scalar("SELECT count(*) FROM customer_history")),
            "rejects": int(store.scalar("SELECT count(*) FROM rejects")),
        }
        first, last = store.fetchone("SELECT min(timestamp), max(timestamp) FROM events") or (
            None,
            None,
        )
        types = dict(
            store.fetchall("SELECT type, count(*) FROM events GROUP BY type ORDER BY 2 DESC")
        )
        row = store.fetchone(
            "SELECT load_id, kind, sources, finished_at, accepted, duplicates, rejected "
            "FROM loads ORDER BY load_id DESC LIMIT 1"
        )
        last_load = (
            dict(
                zip(
                    ("load_id", "kind", "sources", "at", "accepted", "duplicates", "rejected"),
                    row,
                    strict=True,
                )
            )
            if row
            else None
        )
        families = self.attribute_families()
        unclassified = families.pop("unclassified")
        return WorkspaceStatus(
            path=str(self.path),
            name=self.config.name,
            tables=tables,
            first_event=first,
            last_event=last,
            event_types={str(k): int(v) for k, v in types.items()},
            rejects=tables["rejects"],
            last_load=last_load,
            attributes=families,
            unclassified=unclassified,
        )
