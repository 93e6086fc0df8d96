"""The ``Workspace``: the composition root the CLI, the service and the report call.

It opens the store, holds the configuration and the clock, ingests, reports status and
reads the canonical tables. Every analysis is a namespace built here from one frozen
:class:`~microseg.context.Context`: ``ws.traits``, ``ws.segments``, ``ws.value``,
``ws.discover``, ``ws.insights``, ``ws.activate``, ``ws.govern``, beside ``ws.profile``,
``ws.attributes`` and ``ws.identity``. Nothing below this module imports it (an
import-linter contract in pyproject.toml).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ibis
from pydantic import Field

from microseg.activate import Activate
from microseg.config import WorkspaceConfig, load_config, render_default_config
from microseg.context import Context, TimeSource, system_clock
from microseg.core.errors import WorkspaceError
from microseg.core.results import AnyValue, Instant, Result
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.govern import Govern
from microseg.ingest import IdentityNamespace, Kind, LoadReport, Progress, ingest
from microseg.insights import Insights
from microseg.profile import Attributes, ProfileAssembler
from microseg.segments.api import Segments
from microseg.store import Store
from microseg.traits.api import Traits
from microseg.value.api import Value

__all__ = ["CONFIG_FILE", "SERVED_FILE", "TimeSource", "Workspace", "WorkspaceStatus", "served_by"]

CONFIG_FILE = "microseg.yaml"
#: written by ``microseg serve`` while it holds the workspace: its pid and address
SERVED_FILE = "serve.pid"


def served_by(root: Path) -> dict[str, Any] | None:
    """The running service holding the workspace at ``root`` (``pid``, ``url``), or None
    (no service, or one that died without removing its file)."""
    try:
        served = json.loads((root / SERVED_FILE).read_text(encoding="utf-8"))
        pid = int(served["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return {"pid": pid, "url": str(served.get("url", ""))}


class WorkspaceStatus(Result):
    """What a workspace holds: tables, dates, rejects, the last refresh, attributes by family."""

    path: str
    name: str
    tables: dict[str, int]
    first_event: Instant | None
    last_event: Instant | None
    event_types: dict[str, int]
    rejects: int
    last_load: dict[str, AnyValue] | None
    attributes: dict[str, list[str]]
    unclassified: list[str] = Field(default_factory=list)
    #: identifiers that link no one (``microseg identity shared``)
    shared_identifiers: int = 0


class Workspace:
    """A microseg workspace: ``microseg.yaml``, ``segments/`` and the store.

    Examples
    --------
    >>> ws = Workspace.init("shop")                                   # doctest: +SKIP
    >>> ws.ingest("events", ["orders.csv"]).accepted                  # doctest: +SKIP
    >>> ws.segments.evaluate(as_of="2025-06-30").sizes                # doctest: +SKIP
    >>> ws.value.fit(as_of="2025-06-30").model                        # doctest: +SKIP
    """

    def __init__(
        self,
        path: Path,
        config: WorkspaceConfig,
        *,
        clock: TimeSource = system_clock,
        store: Store | None = None,
    ):
        self.path = path
        self.config = config
        self.store = store or Store(
            path / config.store.path,
            timezone=config.timezone,
            memory_limit=config.store.memory_limit,
            threads=config.store.threads,
        )
        #: what every namespace is built from: path, config, store, clock
        self.context = Context(path, config, self.store, clock)
        #: the profile assembler: ``ws.profile.of(customer_id)``, ``ws.profile.table()``
        self.profile = ProfileAssembler(self.context)
        #: stored attributes: ``ws.attributes.list()``, ``.families()``, ``.drop(name)``
        self.attributes = Attributes(self.context)
        #: shared identifiers and undoing merges: ``ws.identity.shared()``, ``.unmerge(id)``
        self.identity = IdentityNamespace(self.store, self.context.now)
        #: traits: ``ws.traits.list()``, ``.validate()``, ``.compute()``, ``.of(id)``
        self.traits = Traits(self.context, self.profile)
        #: customer value: ``ws.value.summary()``, ``.fit()``, ``.latest_fit()``,
        #: ``.predict()``, ``.backtest()``
        self.value = Value(self.context, self.profile)
        #: segments: ``ws.segments.list()``, ``.validate()``, ``.evaluate()``, ``.members()``,
        #: ``.of()``, ``.explain()``, ``.diff()``, ``.grid()``, ``.save()``, ``.prepare()``
        self.segments = Segments(self.context, self.profile, self.traits)
        #: discovery: ``ws.discover.run()``, ``.list()``, ``.show()``, ``.save()``, ``.assign()``
        self.discover = Discover(self.context, self.profile, self.traits, self.value, self.segments)
        #: insight over segments: value, migration, overlap, affinities (docs/insights.md)
        self.insights = Insights(
            self.context, self.profile, self.traits, self.segments, self.value, self.discover
        )
        #: activation: consent-aware exports, webhooks, campaigns and uplift
        #: (docs/activation.md)
        self.activate = Activate(self.context, self.profile, self.traits, self.segments)
        #: governance: audit, data quality and staleness, retention and erasure
        #: (docs/governance.md)
        self.govern = Govern(
            self.context, self.profile, self.traits, self.segments, self.value, self.discover
        )
        self.profile.register_traits(self.traits.provider())
        self.profile.register_models(self.value.provider())
        self.profile.register_clusters(self.discover.provider())
        self.profile.register_scores(self.insights.score_provider())

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        name: str | None = None,
        timezone: str = "UTC",
        currency: str = "EUR",
        clock: TimeSource = system_clock,
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
    def open(cls, path: str | Path | None = None, *, clock: TimeSource = system_clock) -> Workspace:
        """Open the workspace at ``path``, ``$MICROSEG_WORKSPACE`` or the current folder."""
        root = Path(path or os.environ.get("MICROSEG_WORKSPACE") or ".")
        config_path = root / CONFIG_FILE
        if not config_path.exists():
            raise WorkspaceError(
                f"no {CONFIG_FILE} here, so this is not a microseg workspace",
                where=str(root.resolve()),
                hint="run `microseg init DIR` or pass --workspace DIR",
            )
        served = served_by(root)
        if served is not None and served["pid"] != os.getpid():
            raise WorkspaceError(
                f"workspace is served by pid {served['pid']} ({served['url']}); use the API or "
                "stop it",
                where=str(root.resolve()),
                hint="DuckDB lets one process open the store: while `microseg serve` runs, "
                "read and write through its API (docs/service.md)",
            )
        return cls(root, load_config(config_path), clock=clock)

    def session(self) -> Workspace:
        """This workspace over its own DuckDB cursor, for one request or one thread.

        Its namespaces read and write the same store; the result tables its evaluations
        make are its own, so sessions in two threads never overwrite each other's. Close it
        (or use it in a ``with`` block) when done: the workspace stays open.

        Examples
        --------
        >>> with ws.session() as request:                                   # doctest: +SKIP
        ...     request.segments.evaluate(["vip"], save=False).sizes
        """
        return Workspace(
            self.path, self.config, clock=self.context.time_source, store=self.store.session()
        )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- data in ------------------------------------------------------------------------------

    def ingest(  # noqa: PLR0913 - the documented options of a load, keyword-only
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
        read: Mapping[str, Any] | None = None,
        max_rejected: str | int | None = None,
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
        read:
            How the files are written, over the ``ingest`` settings and the named
            ``source``'s: ``delimiter``, ``encoding``, ``decimal``, ``thousands``,
            ``date_format``, ``timestamp_format``, ``timezone``, ``true_values``,
            ``false_values``, ``list_separators``, ``constants`` (docs/data-model.md,
            "Locale-aware sources"), e.g. ``{"delimiter": ";", "decimal": ","}``.
        max_rejected:
            The most rejected rows the load may have, a count (``50``) or a share of the
            rows read (``"10%"``, the default ``ingest.max_rejected``). Over it the load
            writes nothing but its rejects and raises :class:`RejectLimitError`.

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
            now=self.context.now(),
            mapping=map,
            source=source,
            format=format,
            valid_from=valid_from,
            progress=progress,
            glob=glob,
            read=read,
            max_rejected=max_rejected,
        )

    # -- data out -----------------------------------------------------------------------------

    def customers(self, as_of: AsOf | None = None) -> ibis.Table:
        """Every live customer with attributes as they were at ``as_of`` (default: current).

        ``as_of`` is exclusive, as everywhere: the values in force just before that instant;
        a bare date means the end of that day.
        Attributes come from their history; ``age`` (whole years at ``as_of``) is derived
        from ``birth_date`` when the workspace has one and no ``age`` of its own.
        """
        return self.profile.attributes(as_of)

    def events(self, as_of: AsOf | None = None) -> ibis.Table:
        """Events strictly before ``as_of`` (all events when None)."""
        return self.profile.events(as_of)

    def products(self) -> ibis.Table:
        return self.store.table("products")

    def rejects(self, *, load_id: int | None = None, limit: int | None = 100) -> ibis.Table:
        """Rejected rows, newest load first: source, row, line, column, value, reason."""
        table = self.store.table("rejects")
        if load_id is not None:
            table = table.filter(table.load_id == load_id)
        table = table.order_by([ibis.desc("load_id"), "source", "row", "column"])
        return table.limit(limit) if limit is not None else table

    def status(self) -> WorkspaceStatus:
        """Tables and their row counts, event dates and types, rejects, the last load."""
        store = self.store
        tables = store.status_counts()
        first, last = store.event_range()
        families = self.attributes.families()
        unclassified = families.pop("unclassified")
        return WorkspaceStatus(
            path=str(self.path),
            name=self.config.name,
            tables=tables,
            first_event=first,
            last_event=last,
            event_types=store.event_type_counts(),
            rejects=tables["rejects"],
            last_load=store.last_load(),
            attributes=families,
            unclassified=unclassified,
            shared_identifiers=store.shared_identifier_count(),
        )
