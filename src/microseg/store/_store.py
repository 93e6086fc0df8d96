"""The workspace store: one DuckDB file, reached through Ibis and, for loads, DuckDB itself."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
import ibis
import numpy as np
import pyarrow as pa

from microseg.core.errors import StoreMemoryError, WorkspaceError
from microseg.core.text import did_you_mean
from microseg.store import _erase, _retain
from microseg.store._backend import Backend, translated
from microseg.store._erase import ErasedRows, Person
from microseg.store._exports import ExportRepository
from microseg.store._retain import Expiry
from microseg.store._runs import RunRepository
from microseg.store._schema import ATTRIBUTE_SQL_TYPES, MIGRATIONS, SCHEMA_VERSION
from microseg.store._sql import ident

__all__ = ["Generation", "Store"]

Params = Sequence[Any] | Mapping[str, Any]

#: What :meth:`Store.generation` returns: compare two for equality, or use as a key.
Generation = tuple[Hashable, ...]

#: The tables :meth:`Store.status_counts` counts, by the name ``status`` shows.
_STATUS_TABLES = {
    "customers": "customers",
    "events": "events",
    "products": "products",
    "identities": "identities",
    "merges": "merges",
    "attribute_versions": "customer_history",
    "rejects": "rejects",
}

_LAST_LOAD = ("load_id", "kind", "sources", "at", "accepted", "duplicates", "rejected")

# One row of single-row aggregates over small tables (a cross join plans faster than
# scalar subqueries): the latest load, value fit and discovery run, the stored trait cut
# points, the merges and their undoing, and the last attribute dropped (attributes are
# added only by loads). No value reaches this text.
_GENERATION_SQL = """SELECT * FROM
    (SELECT max(load_id) FROM loads),
    (SELECT max(fit_id) FROM value_fits),
    (SELECT max(run_id) FROM discovery_runs),
    (SELECT count(*), bit_xor(hash(as_of, score, cuts)) FROM trait_cuts),
    (SELECT count(*), count(unmerged_at) FROM merges),
    (SELECT max(value) FROM meta WHERE key = 'attributes_dropped')"""

#: Tables whose columns only migrations change: their Ibis tables are looked up once.
_FIXED_SCHEMA = frozenset(
    {
        "loads",
        "events",
        "products",
        "identities",
        "merges",
        "rejects",
        "shared_identifiers",
        "trait_cuts",
        "value_fits",
        "discovery_runs",
        "discovery_assignments",
    }
)

_SYSTEM_HISTORY_COLUMNS = ("customer_id", "valid_from", "valid_to", "load_id")


class Store:
    """Connection to a workspace's DuckDB file, with its schema kept current.

    All timestamps in the store are naive UTC. The session time zone is set to the
    workspace zone so that naive timestamps read from files are taken as local time.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timezone: str = "UTC",
        memory_limit: str | None = None,
        threads: int | None = None,
        read_only: bool = False,
    ) -> None:
        try:
            backend = Backend().connect(str(path), read_only=read_only)
            assert isinstance(backend, Backend)
        except duckdb.IOException as exc:
            raise WorkspaceError(
                f"cannot open the store: {exc}",
                where=str(path),
                hint="another microseg process may hold it open; wait for it to finish",
            ) from None
        self._attach(Path(path), timezone, backend)
        if memory_limit:
            self.execute(f"SET memory_limit = '{_plain_setting(memory_limit)}'")
        if threads:
            self.threads(threads)
        self.execute("SET preserve_insertion_order = false")
        if not read_only:
            self._migrate()

    def _attach(self, path: Path, timezone: str, backend: Backend) -> None:
        self.path = path
        self.timezone = timezone
        self._categories: tuple[tuple[Any, int, str], list[str]] | None = None
        self._event_types: tuple[Generation, frozenset[str]] | None = None
        self.ibis: Backend = backend
        self.con: duckdb.DuckDBPyConnection = backend.con
        self._fixed: dict[str, ibis.Table] = {}
        self._runs = RunRepository(self)
        #: committed transactions through this object: a free staleness check in-process
        self.writes = 0
        self._set_timezone()

    def session(self) -> Store:
        """A store over its own DuckDB cursor and Ibis backend, for one request or thread.

        It reads and writes the same database with the same API; its temporary tables are
        its own, so two sessions (in two threads) never see or overwrite each other's.
        Close it (or use it in a ``with`` block) when the request ends; the store stays
        open.

        Examples
        --------
        >>> with store.session() as session:                                  # doctest: +SKIP
        ...     name = session.temp_name("_segment_eval_")
        """
        session = Store.__new__(Store)
        session._attach(self.path, self.timezone, Backend.from_connection(self.con.cursor()))
        return session

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _set_timezone(self) -> None:
        # SET does not take prepared parameters; the zone name was validated by the config.
        self.execute(f"SET TimeZone = '{_plain_setting(self.timezone)}'")

    # -- schema -----------------------------------------------------------------------------

    def _migrate(self) -> None:
        tables = set(self.table_names())
        version = 0
        if "meta" in tables:
            row = self.fetchone("SELECT value FROM meta WHERE key = 'schema_version'")
            version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"the store has schema version {version}, newer than this microseg "
                f"({SCHEMA_VERSION})",
                where=str(self.path),
                hint="upgrade microseg",
            )
        if version == SCHEMA_VERSION:
            return
        with self.transaction():
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    self.execute(statement)
            self.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', $1)", [str(SCHEMA_VERSION)]
            )
            self.refresh_customer_view()
        self._fixed.clear()

    def table_names(self) -> list[str]:
        rows = self.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        )
        return [r[0] for r in rows]

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> DuckDB type of a table or view (in the main schema or temp)."""
        rows = self.fetchall(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = $1 ORDER BY ordinal_position",
            [table],
        )
        return {r[0]: r[1] for r in rows}

    def attribute_columns(self) -> dict[str, str]:
        """Customer attribute name -> microseg attribute type, as stored."""
        reverse = {sql: name for name, sql in ATTRIBUTE_SQL_TYPES.items()}
        return {
            name: reverse.get(sql, "text")
            for name, sql in self.columns("customer_history").items()
            if name not in _SYSTEM_HISTORY_COLUMNS
        }

    def add_attribute(self, name: str, attribute_type: str) -> None:
        sql_type = ATTRIBUTE_SQL_TYPES[attribute_type]
        self.execute(f"ALTER TABLE customer_history ADD COLUMN {ident(name)} {sql_type}")

    def drop_attribute(self, name: str) -> None:
        """Remove an attribute and its whole history, atomically (deliberate, irreversible)."""
        stored = self.attribute_columns()
        if name not in stored:
            raise WorkspaceError(
                f"{name!r} is not an attribute{did_you_mean(name, stored)}",
                hint="list them with `microseg attributes list`",
            )
        with self.transaction():
            self.execute("DROP VIEW IF EXISTS customers")
            self.execute(f"ALTER TABLE customer_history DROP COLUMN {ident(name)}")
            self.refresh_customer_view()
            # a new stamp for generation(): prepared evaluations know the columns changed
            self.execute(
                "INSERT OR REPLACE INTO meta VALUES ('attributes_dropped', $1)",
                [uuid.uuid4().hex],
            )

    def attribute_presence(self) -> dict[str, int]:
        """Customers with a current value, per attribute (one scan)."""
        names = list(self.attribute_columns())
        if not names:
            return {}
        counts = ", ".join(f"count({ident(n)})" for n in names)
        row = self.fetchone(f"SELECT {counts} FROM customers")  # noqa: S608 - identifiers via ident(), values bound as parameters
        assert row is not None
        return {n: int(v) for n, v in zip(names, row, strict=True)}

    def refresh_customer_view(self) -> None:
        """(Re)create the ``customers`` view: current attributes of every live customer."""
        attrs = [c for c in self.columns("customer_history") if c not in _SYSTEM_HISTORY_COLUMNS]
        select = "".join(f", h.{ident(a)}" for a in attrs)
        self.execute(
            f"""CREATE OR REPLACE VIEW customers AS
            SELECT r.customer_id{select}
            FROM customer_registry r
            LEFT JOIN customer_history h
              ON h.customer_id = r.customer_id AND h.valid_to IS NULL
            WHERE r.merged_into IS NULL"""  # noqa: S608 - identifiers via ident(), values bound as parameters
        )

    # -- execution ----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block atomically: everything or, on any exception or kill, nothing."""
        self.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        else:
            self.execute("COMMIT")
            self.writes += 1

    @contextmanager
    def registered(self, name: str, rows: pa.Table | Mapping[str, Any]) -> Iterator[None]:
        """Rows from Python (an Arrow table, or columns to build one) visible to SQL as the
        table ``name`` for the block: values from Python reach SQL as data, never as text."""
        table = rows if isinstance(rows, pa.Table) else pa.table(dict(rows))
        self.con.register(name, table)
        try:
            yield
        finally:
            self.con.unregister(name)

    def threads(self, count: int | None = None) -> int:
        """The threads DuckDB works with (every session of this database alike); with
        ``count``, set them first."""
        if count is not None:
            self.execute(f"SET threads = {max(1, int(count))}")
        return int(self.scalar("SELECT current_setting('threads')"))

    def execute(self, sql: str, params: Params | None = None) -> None:
        """Run a statement to completion (DuckDB wants every result consumed)."""
        self.fetchall(sql, params)

    def fetchall(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        with translated():
            cursor = self.con.execute(sql, params) if params is not None else self.con.execute(sql)
            return cursor.fetchall()

    def fetchone(self, sql: str, params: Params | None = None) -> tuple[Any, ...] | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        row = self.fetchone(sql, params)
        return row[0] if row else None

    def next_load_id(self) -> int:
        """A load refused for its rejects keeps them under its id, with no ``loads`` row."""
        return int(
            self.scalar(
                "SELECT greatest((SELECT coalesce(max(load_id), 0) FROM loads), "
                "(SELECT coalesce(max(load_id), 0) FROM rejects)) + 1"
            )
        )

    def membership_sizes(self, table: str, segments: list[str]) -> dict[str, int]:
        """Members per segment in a table of boolean membership columns."""
        if not segments:
            return {}
        counts = ", ".join(f"count(*) FILTER ({ident(s)})" for s in segments)
        row = self.fetchone(f"SELECT {counts} FROM {ident(table)}")  # noqa: S608 - identifiers via ident(), values bound as parameters
        assert row is not None
        return {s: int(v) for s, v in zip(segments, row, strict=True)}

    def replace_memberships(
        self,
        table: str,
        *,
        segment: str,
        as_of: datetime,
        version: str,
        customers: int,
        evaluated_at: datetime,
    ) -> None:
        """Store one segment's members at ``as_of`` (a snapshot), replacing the same run."""
        key = {"as_of": as_of, "segment": segment, "version": version}
        self.execute(
            "DELETE FROM memberships WHERE as_of = $as_of AND segment = $segment "
            "AND version = $version",
            key,
        )
        self.execute(
            "DELETE FROM segment_runs WHERE as_of = $as_of AND segment = $segment "
            "AND version = $version",
            key,
        )
        self.execute(
            f"INSERT INTO memberships SELECT $as_of, $segment, $version, customer_id "  # noqa: S608 - identifiers via ident(), values bound as parameters
            f"FROM {ident(table)} WHERE {ident(segment)}",
            key,
        )
        self.execute(
            f"INSERT INTO segment_runs SELECT $as_of, $segment, $version, "  # noqa: S608 - identifiers via ident(), values bound as parameters
            f"count(*) FILTER ({ident(segment)}), $customers, $at FROM {ident(table)}",
            {**key, "customers": customers, "at": evaluated_at},
        )

    def append_membership_log(self, rows: pa.Table) -> None:
        """Add the real-time path's entries and exits (changed_at, customer_id, segment, change,
        trigger) to ``membership_log``."""
        with self.registered("_membership_changes", rows):
            self.execute(
                "INSERT INTO membership_log "
                "SELECT changed_at, customer_id, segment, change, trigger FROM _membership_changes"
            )

    def meta_value(self, key: str) -> str | None:
        """A value kept in the store's ``meta`` table (None when it was never set)."""
        row = self.fetchone("SELECT value FROM meta WHERE key = $1", [key])
        return None if row is None else str(row[0])

    def set_meta_value(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` in the store's ``meta`` table."""
        self.execute("INSERT OR REPLACE INTO meta VALUES ($1, $2)", [key, value])

    def membership_changes(
        self, table: str, old: str | None, new: str, *, sample: int
    ) -> tuple[tuple[int, list[str]], tuple[int, list[str]]]:
        """(count, sample ids) entering and leaving between two membership columns."""
        was = ident(old) if old else "false"
        results = []
        for condition in (f"{ident(new)} AND NOT {was}", f"{was} AND NOT {ident(new)}"):
            count = int(self.scalar(f"SELECT count(*) FROM {ident(table)} WHERE {condition}"))  # noqa: S608 - identifiers via ident(), values bound as parameters
            ids = self.fetchall(
                f"SELECT customer_id FROM {ident(table)} WHERE {condition} "  # noqa: S608 - identifiers via ident(), values bound as parameters
                "ORDER BY customer_id LIMIT $n",
                {"n": sample},
            )
            results.append((count, [str(r[0]) for r in ids]))
        return results[0], results[1]

    def trait_summary(self, table: str, types: dict[str, str]) -> dict[str, dict[str, Any]]:
        """Per trait: how many customers have a value, and its mean or most common value."""
        summary: dict[str, dict[str, Any]] = {}
        for name, kind in types.items():
            col = ident(name)
            if kind == "number":
                row = self.fetchone(
                    f"SELECT count({col}), avg({col}), min({col}), max({col}) FROM {ident(table)}"  # noqa: S608 - identifiers via ident(), values bound as parameters
                )
                assert row is not None
                summary[name] = {
                    "present": int(row[0]),
                    "mean": row[1],
                    "min": row[2],
                    "max": row[3],
                }
            else:
                rows = self.fetchall(
                    f"SELECT {col}::VARCHAR, count(*) FROM {ident(table)} "  # noqa: S608 - identifiers via ident(), values bound as parameters
                    f"WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 12"
                )
                present = self.scalar(f"SELECT count({col}) FROM {ident(table)}")  # noqa: S608 - identifiers via ident(), values bound as parameters
                summary[name] = {"present": int(present), "top": {str(k): int(v) for k, v in rows}}
        return summary

    def replace_trait_values(self, table: str, types: dict[str, str], *, as_of: datetime) -> None:
        """Store trait values at ``as_of`` (long: one row per customer and trait)."""
        for name, kind in types.items():
            self.execute(
                "DELETE FROM trait_values WHERE as_of = $as_of AND trait = $trait",
                {"as_of": as_of, "trait": name},
            )
            value = {"number": "number", "text": "text", "boolean": "flag"}[kind]
            columns = {"number": "NULL", "text": "NULL", "flag": "NULL"}
            columns[value] = ident(name)
            self.execute(
                f"INSERT INTO trait_values SELECT $as_of, customer_id, $trait, "  # noqa: S608 - identifiers via ident(), values bound as parameters
                f"{columns['number']}, {columns['text']}, {columns['flag']} FROM {ident(table)}",
                {"as_of": as_of, "trait": name},
            )

    def replace_trait_cuts(self, cuts: dict[str, list[float]], *, as_of: datetime) -> None:
        """Store the population cut points of scores, so one profile can be scored later."""
        for score, points in cuts.items():
            self.execute(
                "DELETE FROM trait_cuts WHERE as_of = $as_of AND score = $score",
                {"as_of": as_of, "score": score},
            )
            self.execute(
                "INSERT INTO trait_cuts VALUES ($as_of, $score, $cuts)",
                {"as_of": as_of, "score": score, "cuts": points},
            )

    def latest_trait_cuts(self, as_of: datetime) -> dict[str, list[float]]:
        """The cut points of the latest computation at or before ``as_of``."""
        rows = self.fetchall(
            "SELECT score, cuts FROM trait_cuts WHERE as_of = (SELECT max(as_of) FROM "
            "trait_cuts WHERE as_of <= $as_of)",
            {"as_of": as_of},
        )
        return {str(score): [float(c) for c in cuts] for score, cuts in rows}

    def purchase_category_count(self, purchase: str = "purchase") -> int:
        """How many distinct categories the purchases (events of type ``purchase``) have."""
        return int(
            self.scalar(
                "SELECT count(DISTINCT category) FROM events "
                "WHERE type = $type AND category IS NOT NULL",
                {"type": purchase},
            )
        )

    def purchase_categories(self, limit: int = 20, purchase: str = "purchase") -> list[str]:
        """The ``limit`` most purchased categories (most purchases first); cached per load."""
        stamp = self.scalar("SELECT max(load_id) FROM loads")
        cached = self._categories
        if cached is None or cached[0] != (stamp, limit, purchase):
            rows = self.fetchall(
                "SELECT category FROM events WHERE type = $type AND category IS NOT NULL "
                "GROUP BY category ORDER BY count(*) DESC, category LIMIT $n",
                {"n": limit, "type": purchase},
            )
            self._categories = ((stamp, limit, purchase), [str(r[0]) for r in rows])
            cached = self._categories
        return list(cached[1])

    def save_value_fit(
        self,
        fit: dict[str, Any],
        *,
        as_of: datetime,
        fitted_at: datetime,
        model: str,
        unit: str,
        customers: int,
    ) -> int:
        """Store a fitted value model (parameters and diagnostics as JSON); its id."""
        fit_id = int(self.scalar("SELECT coalesce(max(fit_id), 0) + 1 FROM value_fits"))
        self.execute(
            "INSERT INTO value_fits VALUES ($id, $as_of, $at, $model, $unit, $n, $fit)",
            {
                "id": fit_id,
                "as_of": as_of,
                "at": fitted_at,
                "model": model,
                "unit": unit,
                "n": customers,
                "fit": json.dumps(fit),
            },
        )
        return fit_id

    def latest_value_fit(self, as_of: datetime | None = None) -> dict[str, Any] | None:
        """The latest fit calibrated at or before ``as_of`` (any fit when None), or None."""
        row = self.fetchone(
            "SELECT fit_id, as_of, fitted_at, model, unit, customers, fit FROM value_fits "
            "WHERE $as_of IS NULL OR as_of <= $as_of ORDER BY as_of DESC, fit_id DESC LIMIT 1",
            {"as_of": as_of},
        )
        if row is None:
            return None
        keys = ("fit_id", "as_of", "fitted_at", "model", "unit", "customers")
        return {**dict(zip(keys, row[:6], strict=True)), "fit": json.loads(row[6])}

    def table(self, name: str) -> ibis.Table:
        """The Ibis table ``name`` (a canonical table, a view, or a temporary table)."""
        if name not in _FIXED_SCHEMA:
            return self.ibis.table(name)
        if name not in self._fixed:
            self._fixed[name] = self.ibis.table(name)
        return self._fixed[name]

    # -- result tables ------------------------------------------------------------------------

    def temp_name(self, prefix: str) -> str:
        """A table name no other evaluation uses: ``prefix`` and a random hex suffix."""
        return f"{prefix}{uuid.uuid4().hex}"

    def create_temp_table(self, name: str, *plans: Callable[[], ibis.Table]) -> ibis.Table:
        """Create the temporary table ``name`` from the first plan that fits in memory.

        Plans are tried in order: when DuckDB runs out of memory on one, the next (e.g. a
        plan that spills to disk) is tried; the last one's :class:`StoreMemoryError` is
        raised. The table is dropped, then created: ``overwrite=True`` would write every
        row twice (a copy).
        """
        if not plans:
            raise ValueError("create_temp_table needs at least one plan")
        for number, plan in enumerate(plans, start=1):
            self.drop_temp_table(name)
            try:
                return self.ibis.create_table(name, plan(), temp=True)
            except StoreMemoryError:
                if number == len(plans):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def row_count(self, name: str) -> int:
        """Rows of a table (e.g. an evaluation's result table)."""
        return int(self.table(name).count().to_pyarrow().as_py())

    def drop_temp_table(self, name: str) -> None:
        """Drop a temporary table of this store (or session), if it exists."""
        self.ibis.drop_table(name, database=("temp", "main"), force=True)

    # -- repositories and reads for the facade ------------------------------------------------

    @property
    def runs(self) -> RunRepository:
        """The stored discovery runs."""
        return self._runs

    def generation(self) -> Generation:
        """A stamp that changes whenever data evaluations depend on changes: a load, a value
        fit, a discovery run, stored trait cut points, a merge or its undoing, an attribute
        dropped. One small query; compare stamps to know when prepared state is stale."""
        row = self.fetchone(_GENERATION_SQL)
        assert row is not None
        return tuple(row)

    def status_counts(self) -> dict[str, int]:
        """Rows of each canonical table, by the names ``microseg status`` shows them under."""
        return {key: self.row_count(table) for key, table in _STATUS_TABLES.items()}

    def shared_identifier_count(self) -> int:
        """Identifiers that link no one (shared by too many customers, or unmerged)."""
        return self.row_count("shared_identifiers")

    def event_range(self) -> tuple[datetime | None, datetime | None]:
        """The first and last event timestamps (naive UTC); (None, None) without events."""
        events = self.table("events")
        row = (
            events.aggregate(first=events.timestamp.min(), last=events.timestamp.max())
            .to_pyarrow()
            .to_pylist()[0]
        )
        return row["first"], row["last"]

    def event_type_counts(self) -> dict[str, int]:
        """Events per type, the most frequent first."""
        events = self.table("events")
        counted = events.group_by("type").aggregate(n=events.count())
        rows = counted.order_by([ibis.desc("n"), "type"]).to_pyarrow().to_pylist()
        return {str(r["type"]): int(r["n"]) for r in rows}

    def last_load(self) -> dict[str, Any] | None:
        """The latest load: load_id, kind, sources, at (finished), accepted, duplicates,
        rejected; None before the first."""
        loads = self.table("loads")
        chosen = loads.select(
            "load_id", "kind", "sources", "finished_at", "accepted", "duplicates", "rejected"
        )
        rows = chosen.order_by(ibis.desc("load_id")).limit(1).to_pyarrow().to_pylist()
        if not rows:
            return None
        return dict(zip(_LAST_LOAD, rows[0].values(), strict=True))

    def event_types(self) -> frozenset[str]:
        """The distinct event types stored; cached until the :meth:`generation` changes."""
        stamp = self.generation()
        cached = self._event_types
        if cached is None or cached[0] != stamp:
            events = self.table("events")
            found = events.select("type").distinct().to_pyarrow().column("type").to_pylist()
            self._event_types = (stamp, frozenset(str(t) for t in found))
            cached = self._event_types
        return cached[1]

    def note_property_keys(self, load_id: int) -> None:
        """Add the property keys of the events of load ``load_id`` to the key list."""
        self.execute(
            """INSERT INTO event_property_keys
            SELECT DISTINCT k, $load FROM (
                SELECT unnest(json_keys(properties)) AS k FROM events
                WHERE load_id = $load AND json_type(properties) = 'OBJECT')
            WHERE k NOT IN (SELECT key FROM event_property_keys)""",
            {"load": load_id},
        )

    def event_id_hashes(self, ids: Sequence[str] | None = None) -> np.ndarray:
        """DuckDB's 64-bit hash of every stored event id, or of ``ids`` (as unsigned
        integers, in no particular order): the service keeps those of the store to know
        which ids cannot be stored (``microseg.service._ids``)."""
        with translated():
            if ids is None:
                found = self.con.execute("SELECT hash(event_id) AS h FROM events").fetchnumpy()
            else:
                given = pa.table({"x": pa.array(ids, pa.string())})
                with self.registered("_event_ids", given):
                    found = self.con.execute("SELECT hash(x) AS h FROM _event_ids").fetchnumpy()
        return np.asarray(found["h"], dtype=np.uint64)

    def property_keys(self) -> frozenset[str]:
        """The keys of events' ``properties`` seen in every load so far."""
        rows = self.fetchall("SELECT key FROM event_property_keys")
        return frozenset(str(r[0]) for r in rows)

    def has_trait_cuts(self, as_of: datetime) -> bool:
        """Whether trait cut points were stored at exactly ``as_of`` (naive UTC)."""
        cuts = self.table("trait_cuts")
        return bool(cuts.filter(cuts.as_of == as_of).count().to_pyarrow().as_py())

    def assignable_runs(self) -> list[int]:
        """Ids of the discovery runs that kept an assigner."""
        return self.runs.assignable()

    def close(self) -> None:
        self.con.close()

    @property
    def exports(self) -> ExportRepository:
        """The audience exports log (``exports``, ``export_members``)."""
        return ExportRepository(self)

    def record_trait_run(
        self, *, as_of: datetime, computed_at: datetime, traits: list[str], customers: int
    ) -> None:
        """Note that ``traits`` were stored at ``as_of``, computed at ``computed_at``."""
        self.execute(
            "INSERT INTO trait_runs VALUES ($as_of, $at, $traits, $n)",
            {"as_of": as_of, "at": computed_at, "traits": traits, "n": customers},
        )

    # -- retention and erasure (docs/governance.md) ------------------------------------------

    def expired(self, expiry: Expiry) -> Expiry:
        """How many rows of ``expiry.table`` are older than its cut-off, and when."""
        return _retain.expired(self, expiry)

    def archive_expired(self, expiry: Expiry, path: Path) -> int:
        """Write the expired rows to the Parquet file ``path``, whole or not at all."""
        return _retain.archive_expired(self, expiry, path)

    def delete_expired(self, expiry: Expiry) -> int:
        """Delete the expired rows (inside a transaction)."""
        return _retain.delete_expired(self, expiry)

    def record_retention(self, expiries: list[Expiry], **run: Any) -> int:
        """Record a retention run in ``retention_runs``; its id."""
        return _retain.record_retention(self, expiries, **run)

    def retention_history(self) -> list[dict[str, Any]]:
        """The recorded retention runs, newest first (a row per table)."""
        return _retain.retention_history(self)

    def find_person(self, customer_id: str) -> Person | None:
        """Every id and identifier of the person ``customer_id`` is (or was merged into)."""
        return _erase.find_person(self, customer_id)

    def erase_person(self, person: Person, *, at: datetime) -> ErasedRows:
        """Erase ``person`` from every table, keep a salted tombstone, and rewrite the file
        without them (atomic: a kill leaves the store as it was)."""
        salt = self.meta_value(_erase.SALT_KEY) or _erase.new_salt()
        return _erase.erase_person(self, person, salt=salt, at=at)

    def forgotten_matches(self, values: list[str]) -> int:
        """How many of ``values`` (ids, normalised identifiers) the tombstone holds."""
        return _erase.forgotten_count(self, self.meta_value(_erase.SALT_KEY), values)

    def trace_hits(self, ids: list[str], identifiers: list[str]) -> dict[str, int]:
        """``table.column`` -> rows holding an id or identifier in clear, in every table."""
        return _erase.trace_hits(self, ids, identifiers)


def _plain_setting(value: str) -> str:
    """Guard settings that must be inlined (DuckDB SET takes no parameters)."""
    if not all(ch.isalnum() or ch in "._-/+ " for ch in value):
        raise WorkspaceError(f"invalid setting value {value!r}")
    return value
