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

from microseg._analysis import AnalysisMixin
from microseg._value import ValueMixin
from microseg.config import FAMILIES, WorkspaceConfig, load_config, render_default_config
from microseg.core.errors import WorkspaceError
from microseg.core.time import AsOf, to_store_time
from microseg.ingest import IdentityNamespace, Kind, LoadReport, Progress, ingest
from microseg.store import Store

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
    #: identifiers that link no one (``microseg identity shared``)
    shared_identifiers: int = 0

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


class Workspace(AnalysisMixin, ValueMixin):
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
        glob: bool = False,
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
        glob:
            Read each path as a pattern (``web-*.jsonl``); otherwise a path is a file name,
            whatever characters it holds.

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
            glob=glob,
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
        # the join's suffix uses microseg's reserved prefix: no attribute can be named so
        table = live.left_join(current, "customer_id", rname="{name}__ms_right").drop(
            "customer_id__ms_right"
        )
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

    @property
    def identity(self) -> IdentityNamespace:
        """Shared identifiers and undoing merges: ``ws.identity.shared()``,
        ``ws.identity.unmerge(customer_id)``."""
        return IdentityNamespace(self.store, self.now)

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

    def attributes(self) -> list[dict[str, Any]]:
        """Every stored attribute: name, type, family and how many customers have a value."""
        present = self.store.attribute_presence()
        return [
            {
                "name": name,
                "type": kind,
                "family": self.config.family_of(name) or "unclassified",
                "customers": present.get(name, 0),
            }
            for name, kind in self.store.attribute_columns().items()
        ]

    def drop_attribute(self, name: str) -> None:
        """Remove the attribute ``name`` and its history from every customer.

        Deliberate and irreversible: reload a file to bring it back. Segments that use it
        then fail validation with "unknown attribute".
        """
        self.store.drop_attribute(name)

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
            shared_identifiers=int(store.scalar("SELECT count(*) FROM shared_identifiers")),
        )
