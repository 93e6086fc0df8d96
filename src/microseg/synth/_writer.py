"""``generate_shop``: stream the synthetic shop to Parquet, chunk by chunk."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from microseg.core.errors import MicrosegError

from ._assemble import assemble
from ._badrows import BAD_KINDS, inject, stringify
from ._behaviour import build_tables
from ._calendar import Calendar, build_calendar
from ._campaign import (
    MAX_LIFT,
    MailState,
    PlantedCampaign,
    plan_campaign,
    planted_events,
    with_event_schema,
)
from ._catalog import build_catalog
from ._consent import consent
from ._events import chunk_events
from ._population import Population, make_population
from ._segments import PLANTED_SEGMENTS

EVENTS_PER_FILE = 20_000_000
MAX_CUSTOMERS = 99_999_999
MAX_CHUNK_CUSTOMERS = 1_000_000
MAX_BAD_ROWS = 0.5
_UNIQUE_COLUMNS = ("event_id", "order_id", "customer_id", "email", "phone")
_STALE = re.compile(r"^events(-\d{5})?\.parquet$|^bad_rows\.json$")


class SynthError(MicrosegError, ValueError):
    """An argument of :func:`generate_shop` is invalid."""


@dataclass(frozen=True)
class SynthResult:
    """What :func:`generate_shop` wrote.

    Attributes
    ----------
    out_dir : Path
        The output directory.
    paths : dict of str to Path
        Each single file by name (``customers``, ``customer_updates``, ``products``,
        ``ground_truth``, ``consent_events`` (unsubscribe and resubscribe events),
        ``segments``, ``bad_rows`` when injected, and ``events`` when the events fit in one
        file, else ``events-00000``, ``events-00001``, ...).
    counts : dict of str to int
        Rows written: ``customers``, ``events`` (bad rows included), ``products``,
        ``customer_updates`` and ``bad_rows``.
    seed : int
        The seed used.
    event_files : tuple of Path
        All events files in order (``events.parquet`` alone, or the numbered parts).
    """

    out_dir: Path
    paths: dict[str, Path]
    counts: dict[str, int]
    seed: int
    event_files: tuple[Path, ...] = ()
    #: the planted campaigns (``campaigns.json``): name, send time, holdout, salt, audience
    #: and events files, outcome, window and the planted relative lift
    campaigns: tuple[dict[str, Any], ...] = ()


ROW_GROUP_ROWS = 122_880


def _int_arg(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SynthError(f"{name} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise SynthError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _check(
    customers: Any, seed: Any, months: Any, end: Any, bad_rows: Any, chunk: Any, progress: Any
) -> tuple[int, int, int, dt.date, float, int]:
    integral = isinstance(customers, numbers.Integral) and not isinstance(customers, bool)
    if integral and customers < 1:
        raise SynthError(f"customers must be a positive integer, got {customers!r}")
    n = _int_arg("customers", customers, 1, MAX_CUSTOMERS)
    s = _int_arg("seed", seed, 0, 2**63 - 1)
    m = _int_arg("months", months, 1, 600)
    if isinstance(end, dt.datetime) or not isinstance(end, dt.date):
        raise SynthError(f"end must be a datetime.date, got {end!r}")
    if not 1980 <= end.year <= 9000 or end.year - (m + 11) // 12 < 1975:
        raise SynthError(f"history ending {end} over {m} months is out of range (1975-9000)")
    if isinstance(bad_rows, bool) or not isinstance(bad_rows, numbers.Real):
        raise SynthError(f"bad_rows must be a number, got {bad_rows!r}")
    b = float(bad_rows)
    if not 0.0 <= b <= MAX_BAD_ROWS:
        raise SynthError(f"bad_rows must be a fraction in [0, {MAX_BAD_ROWS}], got {bad_rows!r}")
    c = _int_arg("chunk_customers", chunk, 1, MAX_CHUNK_CUSTOMERS)
    if progress is not None and not callable(progress):
        raise SynthError(f"progress must be callable or None, got {progress!r}")
    return n, s, m, end, b, c


def generate_shop(  # noqa: PLR0913 - the synthetic shop's documented parameters
    out_dir: str | Path,
    *,
    customers: int = 5000,
    seed: int = 0,
    months: int = 24,
    end: dt.date = dt.date(2026, 10, 31),
    bad_rows: float = 0.0,
    chunk_customers: int = 100_000,
    progress: Callable[[int, int], None] | None = None,
    campaign_lift: float = 0.26,
) -> SynthResult:
    """Generate a deterministic synthetic shop and write it to ``out_dir``.

    Customers are generated in chunks of ``chunk_customers`` with all their events, so memory
    stays bounded whatever ``customers`` is. Output depends only on the arguments: the same
    (``customers``, ``seed``, ``months``, ``end``, ``bad_rows``, ``chunk_customers``) give
    byte-identical files. Changing ``chunk_customers`` changes the random streams and so the
    data (not its distribution). Existing ``events*.parquet`` and ``bad_rows.json`` in
    ``out_dir`` are removed; other files of the shop are overwritten.

    Parameters
    ----------
    out_dir : str or Path
        Output directory, created if missing.
    customers : int
        Number of customers (1 to 99,999,999).
    seed : int
        Non-negative random seed.
    months : int
        Length of the history in months.
    end : datetime.date
        Last day of the history (events are strictly before ``end`` + 1 day, UTC).
    bad_rows : float
        Fraction of deliberately bad event rows (0 to 0.5); when positive the events' timestamp,
        amount and quantity are written as text and ``bad_rows.json`` counts each kind.
    chunk_customers : int
        Customers per chunk (1 to 1,000,000).
    progress : callable, optional
        Called with ``(customers_done, customers_total)`` after each chunk.
    campaign_lift : float
        The relative uplift of the open rate planted in the personalised mailing (0 to
        0.33; docs/activation.md): its events are ``campaign_events.parquet``, its audience
        ``campaign_audience.parquet``, its design ``campaigns.json``.

    Returns
    -------
    SynthResult
        Paths and row counts of what was written.

    Raises
    ------
    SynthError
        If an argument is invalid (a ``ValueError``).
    """
    n, s, m, e, b, c = _check(customers, seed, months, end, bad_rows, chunk_customers, progress)
    if isinstance(campaign_lift, bool) or not isinstance(campaign_lift, numbers.Real):
        raise SynthError(f"campaign_lift must be a number, got {campaign_lift!r}")
    if not 0.0 <= float(campaign_lift) <= round(MAX_LIFT, 2):
        raise SynthError(f"campaign_lift must be in [0, 0.33], got {campaign_lift!r}")
    return _write_shop(
        Path(out_dir), n, s, m, e, b, c, progress, EVENTS_PER_FILE, float(campaign_lift)
    )


def _open(path: Path, schema: pa.Schema, stack: contextlib.ExitStack) -> pq.ParquetWriter:
    # unique ids gain nothing from dictionary encoding
    dictionary = [name for name in schema.names if name not in _UNIQUE_COLUMNS]
    writer = pq.ParquetWriter(
        path, schema, compression="zstd", compression_level=3, use_dictionary=dictionary
    )
    stack.callback(writer.close)
    return writer


class _Mailing:
    """Writes the planted mailing's events and audience, chunk by chunk, each chunk from
    its own stream (a child of the campaign's)."""

    def __init__(
        self,
        planted: PlantedCampaign,
        seeds: list[np.random.SeedSequence],
        paths: dict[str, Path],
        stack: contextlib.ExitStack,
    ) -> None:
        self.planted, self.seeds, self.paths, self.stack = planted, seeds, paths, stack
        self.rows = 0
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.out = paths["products"].parent

    def write(
        self, chunk: int, cal: Calendar, pop: Population, mail: MailState, schema: pa.Schema
    ) -> None:
        rng = np.random.default_rng(self.seeds[chunk])
        events, audience = planted_events(rng, cal, pop, mail, self.planted)
        events = with_event_schema(events, self.rows + 1, schema)
        self.rows += events.num_rows
        for name, table in (("campaign_events", events), ("campaign_audience", audience)):
            if name not in self.writers:
                self.paths[name] = self.out / f"{name}.parquet"
                self.writers[name] = _open(self.paths[name], table.schema, self.stack)
            self.writers[name].write_table(table, row_group_size=ROW_GROUP_ROWS)


def _with_consent(
    rng: np.random.Generator, cal: Any, pop: Any, before: int
) -> tuple[pa.Table, pa.Table]:
    """The chunk's customers with their per-channel opt-ins, and its consent events
    (numbered after the ``before`` written so far)."""
    opt_ins, events = consent(rng, cal, pop, before + 1)
    table = pop.customers
    for column, values in opt_ins.items():
        table = table.append_column(column, values)
    return table, events


def _write_shop(  # noqa: PLR0913 - the synthetic shop's documented parameters
    out: Path,
    customers: int,
    seed: int,
    months: int,
    end: dt.date,
    bad_rows: float,
    chunk_customers: int,
    progress: Callable[[int, int], None] | None,
    events_per_file: int,
    campaign_lift: float = 0.26,
) -> SynthResult:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if _STALE.match(old.name) and old.is_file():
            old.unlink()
    cal = build_calendar(end, months)
    tables = build_tables()
    # the planted campaign's stream is a third child: the first two, and so everything
    # else the shop holds, are the same as without it
    catalog_seed, chunk_root, campaign_root = np.random.SeedSequence(seed).spawn(3)
    planted = plan_campaign(cal, campaign_lift)
    catalog = build_catalog(np.random.default_rng(catalog_seed))
    paths = {
        name: out / f"{name}.parquet"
        for name in ("customers", "customer_updates", "products", "ground_truth")
    }
    paths["consent_events"] = out / "consent_events.parquet"
    pq.write_table(catalog.table, paths["products"], compression="zstd")

    n_chunks = math.ceil(customers / chunk_customers)
    counts = {
        "customers": 0,
        "events": 0,
        "products": catalog.table.num_rows,
        "customer_updates": 0,
        "bad_rows": 0,
    }
    consent_count = 0
    bad_counts = dict.fromkeys(BAD_KINDS, 0)
    event_files: list[Path] = []
    next_event = next_order = 1
    with contextlib.ExitStack() as stack:
        writers: dict[str, pq.ParquetWriter] = {}
        events_writer: pq.ParquetWriter | None = None
        in_file = 0
        mailing = (
            _Mailing(planted, campaign_root.spawn(n_chunks), paths, stack)
            if planted is not None
            else None
        )
        for i, chunk_seed in enumerate(chunk_root.spawn(n_chunks)):
            # the fourth stream (consent) is drawn last: the first three are as without it
            pop_rng, event_rng, bad_rng, consent_rng = (
                np.random.default_rng(x) for x in chunk_seed.spawn(4)
            )
            first = i * chunk_customers
            size = min(chunk_customers, customers - first)
            pop = make_population(pop_rng, cal, tables, first + 1, size)
            parts, mail = chunk_events(event_rng, cal, tables, pop, catalog)
            events, orders = assemble(
                event_rng, parts, cal, pop, catalog, next_event, next_order, seed
            )
            if mailing is not None:
                mailing.write(i, cal, pop, mail, events.schema)
            next_event += events.num_rows
            next_order += orders
            if bad_rows > 0:
                events, found = inject(bad_rng, stringify(events), bad_rows, end)
                for kind, count in found.items():
                    bad_counts[kind] += count
            if events_writer is None or (in_file and in_file + events.num_rows > events_per_file):
                if events_writer is not None:
                    events_writer.close()
                event_files.append(out / f"events-{len(event_files):05d}.parquet")
                events_writer = _open(event_files[-1], events.schema, stack)
                in_file = 0
            # row groups of DuckDB's size: readers can scan them in parallel, in bounded memory
            events_writer.write_table(events, row_group_size=ROW_GROUP_ROWS)
            in_file += events.num_rows
            customers_table, consent_events = _with_consent(consent_rng, cal, pop, consent_count)
            consent_count += consent_events.num_rows
            for name, table in (
                ("customers", customers_table),
                ("ground_truth", pop.truth),
                ("customer_updates", pop.updates),
                ("consent_events", consent_events),
            ):
                if name not in writers:
                    writers[name] = _open(paths[name], table.schema, stack)
                writers[name].write_table(table, row_group_size=ROW_GROUP_ROWS)
                if name in counts:
                    counts[name] += table.num_rows
            counts["events"] += events.num_rows
            if progress is not None:
                progress(first + size, customers)
    if len(event_files) == 1:
        event_files[0] = event_files[0].replace(out / "events.parquet")
        paths["events"] = event_files[0]
    else:
        paths.update({f.stem: f for f in event_files})
    paths["segments"] = out / "segments.json"
    segments = [segment.to_dict() for segment in PLANTED_SEGMENTS]
    paths["segments"].write_text(json.dumps(segments, indent=2) + "\n", encoding="utf-8")
    if bad_rows > 0:
        counts["bad_rows"] = sum(bad_counts.values())
        paths["bad_rows"] = out / "bad_rows.json"
        manifest = {"fraction": bad_rows, "total": counts["bad_rows"], "kinds": bad_counts}
        paths["bad_rows"].write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    campaigns = (planted.to_dict(),) if planted is not None else ()
    (out / "campaigns.json").write_text(json.dumps(list(campaigns), indent=2) + "\n", "utf-8")
    return SynthResult(out, paths, counts, seed, tuple(event_files), campaigns)
