"""One ``ingest`` call: every source checked first, then all loaded in one transaction."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal

from microseg.config import WorkspaceConfig
from microseg.core.errors import IngestError
from microseg.ingest import _customers, _events, _products
from microseg.ingest._load import LoadContext, LoadReport, Progress
from microseg.ingest._screen import IdentityPolicy
from microseg.ingest._sources import open_source, resolve_sources
from microseg.store import IDENTITY_TYPES, Store, ident

__all__ = ["Kind", "ingest"]

Kind = Literal["customers", "events", "products"]
KINDS: tuple[Kind, ...] = ("customers", "events", "products")


def _canonical(kind: Kind) -> tuple[str, ...]:
    if kind == "events":
        return _events.CANONICAL
    if kind == "products":
        return _products.CANONICAL
    return (*IDENTITY_TYPES, *_customers.VALID_FROM_ALIASES)


def _mapping(
    config: WorkspaceConfig, kind: Kind, source: str | None, extra: Mapping[str, str] | None
) -> dict[str, str]:
    mapping: dict[str, str] = {}
    if source is not None:
        spec = config.sources.get(source)
        if spec is None:
            known = ", ".join(config.sources) or "none"
            raise IngestError(
                f"no source named {source!r} in microseg.yaml", hint=f"known sources: {known}"
            )
        if spec.kind != kind:
            raise IngestError(f"source {source!r} feeds {spec.kind}, not {kind}")
        mapping.update(spec.map)
    mapping.update(extra or {})
    return mapping


def ingest(  # noqa: PLR0913 - ws.ingest's documented options, keyword-only
    store: Store,
    config: WorkspaceConfig,
    kind: Kind,
    sources: Sequence[Any],
    *,
    now: datetime,
    mapping: Mapping[str, str] | None = None,
    source: str | None = None,
    format: str | None = None,
    valid_from: str | None = None,
    progress: Progress | None = None,
    glob: bool = False,
) -> LoadReport:
    """Load ``sources`` into the ``kind`` table; see :meth:`microseg.Workspace.ingest`."""
    if kind not in KINDS:
        raise IngestError(f"unknown table {kind!r}", hint="use customers, events or products")
    resolved = resolve_sources(sources, format=format, glob=glob)
    columns_map = _mapping(config, kind, source, mapping)
    tolerance = config.ingest.future_tolerance_duration.approx_timedelta()
    policy = IdentityPolicy.from_settings(config.identity)
    with tempfile.TemporaryDirectory(prefix="microseg-load-") as scratch, store.transaction():
        ctx = LoadContext(store, kind, store.next_load_id(), now, progress)
        ctx.earliest = datetime.combine(config.ingest.earliest, time(0))
        total = len(resolved)
        for index, src in enumerate(resolved):
            opened = open_source(
                store,
                src,
                f"_src{index}",
                mapping=columns_map,
                canonical=_canonical(kind),
                scratch=Path(scratch),
                csv_delimiter=config.ingest.csv_delimiter,
            )
            if kind == "events":
                _events.load_events(
                    ctx,
                    opened,
                    policy=policy,
                    future_limit=now + tolerance,
                    index=index,
                    total=total,
                )
            elif kind == "customers":
                _customers.load_customers(
                    ctx,
                    opened,
                    config=config,
                    policy=policy,
                    valid_from=valid_from,
                    index=index,
                    total=total,
                )
            else:
                _products.load_products(ctx, opened, index=index, total=total)
            store.execute(f"DROP VIEW IF EXISTS {ident(opened.view)}")
        report = ctx.report(tuple(s.name for s in resolved))
        store.execute(
            "INSERT INTO loads VALUES ($id, $kind, $sources, $started, $finished, $read, $ok, "
            "$dup, $rej, $new, $merged)",
            {
                "id": report.load_id,
                "kind": kind,
                "sources": list(report.sources),
                "started": now,
                "finished": now,
                "read": report.rows_read,
                "ok": report.accepted,
                "dup": report.duplicates,
                "rej": report.rejected,
                "new": report.new_customers,
                "merged": report.merged_customers,
            },
        )
        _drop_scratch(store)
    ctx.step("done", 1, 1)
    return report


def _drop_scratch(store: Store) -> None:
    """Drop the load's temporary tables and views before the commit, which then has only
    the canonical tables to make durable (and peaks far lower in memory)."""
    for name, kind in store.fetchall(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = 'temp'"
    ):
        what = "VIEW" if kind == "VIEW" else "TABLE"
        store.execute(f"DROP {what} IF EXISTS temp.{ident(name)}")
