"""Open what a user hands in (files or data frames) as a DuckDB view with row numbers.

Files are read by DuckDB itself, streamed, never loaded whole into Python. Every
view has the source's columns (renamed by the mapping) plus ``_row``, the 1-based
data row, and ``_line``, the line in the file where that makes sense (CSV, JSON
Lines). Lines the reader cannot split into fields are returned as parse rejects
so they reach the ``rejects`` table instead of vanishing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from microseg.errors import IngestError, SourceNotFoundError
from microseg.store import Store, ident

__all__ = ["FORMATS", "OpenedSource", "ParseReject", "Source", "open_source", "resolve_sources"]

Format = Literal["csv", "parquet", "jsonl", "frame"]
FORMATS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass(frozen=True)
class Source:
    """One input: a file on disk or an in-memory table."""

    name: str
    format: Format
    path: Path | None = None
    table: pa.Table | None = None


@dataclass(frozen=True)
class ParseReject:
    line: int
    reason: str
    raw: str | None


@dataclass
class OpenedSource:
    source: Source
    view: str
    columns: dict[str, str]  # canonical (mapped) column name -> DuckDB type
    parse_rejects: list[ParseReject] = field(default_factory=list)


def _format_of(path: Path, explicit: str | None) -> Format:
    if explicit:
        if explicit not in ("csv", "parquet", "jsonl"):
            raise IngestError(
                f"unknown format {explicit!r}", where=str(path), hint="use csv, parquet or jsonl"
            )
        return explicit  # type: ignore[return-value]
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in FORMATS:
            return FORMATS[suffix]
        if suffix not in (".gz", ".zst", ".gzip"):
            break
    raise IngestError(
        f"cannot tell the format from the name (suffix {path.suffix or 'none'!r})",
        where=str(path),
        hint="name it .csv, .parquet or .jsonl, or pass --format",
    )


def _as_arrow(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    module = type(frame).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(frame, preserve_index=False)
    if module == "polars":
        return frame.to_arrow()
    raise IngestError(
        f"cannot ingest an object of type {type(frame).__name__}",
        hint="pass file paths, or a pandas / polars DataFrame or a pyarrow Table",
    )


def resolve_sources(items: Sequence[Any], *, format: str | None = None) -> list[Source]:
    """Check every input before anything is loaded: existence, format."""
    if not items:
        raise IngestError("nothing to ingest", hint="give at least one file")
    sources: list[Source] = []
    for item in items:
        if isinstance(item, str | Path):
            path = Path(item)
            if not path.exists():
                raise SourceNotFoundError("file not found", where=str(path))
            if path.is_dir():
                raise IngestError("is a folder, not a file", where=str(path))
            sources.append(Source(str(path), _format_of(path, format), path=path))
        else:
            table = _as_arrow(item)
            sources.append(Source(f"<{type(item).__name__}>", "frame", table=table))
    return sources


_NORMAL = re.compile(r"[^0-9a-z]+")


def _normalise(name: str) -> str:
    return _NORMAL.sub("_", name.strip().lower()).strip("_")


def _renames(
    columns: list[str], mapping: Mapping[str, str], canonical: Sequence[str], where: str
) -> dict[str, str]:
    """Source column -> target name: explicit map first, then case/space-insensitive matches."""
    missing = [src for src in mapping if src not in columns]
    if missing:
        raise IngestError(
            f"the mapping names column {missing[0]!r}, which is not in the file",
            where=where,
            hint="columns are: " + ", ".join(columns),
        )
    renames = {c: mapping.get(c, c) for c in columns}
    taken = set(renames.values())
    for column in columns:
        if column in mapping:
            continue
        normal = _normalise(column)
        if normal != column and normal in canonical and normal not in taken:
            renames[column] = normal
            taken.add(normal)
    targets = list(renames.values())
    doubled = sorted({t for t in targets if targets.count(t) > 1})
    if doubled:
        raise IngestError(
            f"two columns map to {doubled[0]!r}",
            where=where,
            hint="fix the --map options so each canonical column has one source",
        )
    return renames


def _describe(store: Store, view: str) -> dict[str, str]:
    rows = store.fetchall(f"DESCRIBE SELECT * FROM {ident(view)}")
    return {r[0]: r[1] for r in rows}


def open_source(
    store: Store,
    source: Source,
    view: str,
    *,
    mapping: Mapping[str, str],
    canonical: Sequence[str],
    csv_delimiter: str | None = None,
) -> OpenedSource:
    """Create the temporary view ``view`` over a source, renamed, with row numbers."""
    raw_view = f"{view}_raw"
    rejects: list[ParseReject] = []
    try:
        if source.format == "frame":
            assert source.table is not None
            table = source.table.append_column(
                "_row", pa.array(range(1, source.table.num_rows + 1))
            )
            store.con.register(raw_view, table)
            line_expr = "NULL::BIGINT"
        elif source.format == "parquet":
            # The reader's Python API takes the path as an argument, not as SQL text. (A view
            # over a relation built from a *parameterised* query makes DuckDB's commit slow.)
            store.con.read_parquet(str(source.path), file_row_number=True).to_view(
                raw_view + "_file"
            )
            store.execute(
                f"CREATE OR REPLACE TEMP VIEW {ident(raw_view)} AS SELECT * EXCLUDE "
                f"(file_row_number), file_row_number + 1 AS _row FROM {ident(raw_view + '_file')}"
            )
            line_expr = "NULL::BIGINT"
        elif source.format == "csv":
            rejects = _open_csv(store, source, raw_view, csv_delimiter)
            line_expr = "_row + 1"
        else:
            rejects = _open_jsonl(store, source, raw_view)
            line_expr = "_row"
        columns = [c for c in _describe(store, raw_view) if c != "_row"]
    except duckdb.Error as exc:
        raise IngestError(
            f"could not read it as {source.format}: {_first_line(exc)}",
            where=source.name,
            hint="check the file format, or pass --format",
        ) from None
    if not columns:
        raise IngestError("no columns found", where=source.name, hint="is the file empty?")
    renames = _renames(columns, mapping, canonical, source.name)
    select = ", ".join(f"{ident(src)} AS {ident(dst)}" for src, dst in renames.items())
    store.execute(
        f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS "
        f"SELECT {select}, _row, {line_expr} AS _line FROM {ident(raw_view)}"
    )
    described = _describe(store, view)
    described.pop("_row")
    described.pop("_line")
    return OpenedSource(source, view, described, rejects)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _open_csv(
    store: Store, source: Source, raw_view: str, delimiter: str | None
) -> list[ParseReject]:
    """CSV read as text (types are checked row by row later); malformed lines kept apart."""
    errors_table = f"{raw_view}_errors"
    scans_table = f"{raw_view}_scans"
    options = "all_varchar = true, header = true, store_rejects = true, "
    options += "rejects_table = $errors, rejects_scan = $scans"
    params: dict[str, Any] = {
        "path": str(source.path),
        "errors": errors_table,
        "scans": scans_table,
    }
    if delimiter:
        options += ", delim = $delim"
        params["delim"] = delimiter
    store.execute(f"DROP TABLE IF EXISTS {ident(errors_table)}")
    store.execute(f"DROP TABLE IF EXISTS {ident(scans_table)}")
    # One scan materialises the ordinal of each parsed record; a second scan would not
    # be guaranteed to number them the same way.
    store.execute(
        f"CREATE OR REPLACE TEMP TABLE {ident(raw_view + '_t')} AS "
        f"SELECT * FROM read_csv($path, {options}) WITH ORDINALITY",
        params,
    )
    bad = store.fetchall(
        "SELECT line, any_value(error_type), string_agg(DISTINCT error_message, '; '), "
        f"any_value(csv_line) FROM {ident(errors_table)} GROUP BY line ORDER BY line"
    )
    rejects = [
        ParseReject(int(line), f"malformed CSV line ({kind.lower()}): {message}", raw)
        for line, kind, message, raw in bad
    ]
    # Data row of the k-th parsed record: k plus the malformed lines before it. With the
    # rejected lines r_1 < r_2 < ..., record k comes after r_j exactly when k > r_j - 1 - j.
    store.execute(f"DROP TABLE IF EXISTS {ident(raw_view + '_badlines')}")
    store.execute(
        f"CREATE TEMP TABLE {ident(raw_view + '_badlines')} AS "
        f"SELECT line - 1 - row_number() OVER (ORDER BY line) AS threshold "
        f"FROM (SELECT DISTINCT line FROM {ident(errors_table)})"
    )
    shift = (
        f"(SELECT count(*) FROM {ident(raw_view + '_badlines')} b WHERE b.threshold < ordinality)"
        if rejects
        else "0"
    )
    store.execute(
        f"CREATE OR REPLACE TEMP VIEW {ident(raw_view)} AS "
        f"SELECT * EXCLUDE (ordinality), ordinality + {shift} AS _row "
        f"FROM {ident(raw_view + '_t')}"
    )
    return rejects


def _open_jsonl(store: Store, source: Source, raw_view: str) -> list[ParseReject]:
    """JSON Lines read line by line; each key becomes a text column (nested values as JSON)."""
    lines_table = f"{raw_view}_lines"
    store.execute(
        f"CREATE OR REPLACE TEMP TABLE {ident(lines_table)} AS "
        "SELECT ordinality AS _row, j FROM read_csv($path, columns = {'j': 'VARCHAR'}, "
        "header = false, delim = chr(30), quote = '', escape = '', auto_detect = false) "
        "WITH ORDINALITY WHERE j IS NOT NULL AND trim(j) <> ''",
        {"path": str(source.path)},
    )
    bad = store.fetchall(
        f"SELECT _row, j FROM {ident(lines_table)} "
        "WHERE NOT coalesce(json_valid(j), false) OR json_type(j) <> 'OBJECT' ORDER BY _row"
    )
    rejects = [ParseReject(int(r), "not a JSON object on this line", raw) for r, raw in bad]
    keys = [
        r[0]
        for r in store.fetchall(
            f"SELECT DISTINCT unnest(json_keys(j)) AS k FROM {ident(lines_table)} "
            "WHERE coalesce(json_valid(j), false) AND json_type(j) = 'OBJECT' ORDER BY k"
        )
    ]
    if not keys:
        raise IngestError("no JSON objects found", where=source.name)
    # Keys travel as parameters, as JSON pointers (a path would read `*` as every key):
    # file content never becomes SQL text.
    params: dict[str, Any] = {}
    parts = []
    for i, key in enumerate(keys):
        params[f"k{i}"] = "/" + key.replace("~", "~0").replace("/", "~1")
        parts.append(
            f"CASE WHEN json_type(j, $k{i}) IN ('ARRAY', 'OBJECT') "
            f"THEN json_extract(j, $k{i})::VARCHAR ELSE json_extract_string(j, $k{i}) END "
            f"AS {ident(key)}"
        )
    store.execute(
        f"CREATE OR REPLACE TEMP TABLE {ident(raw_view)} AS SELECT {', '.join(parts)}, _row "
        f"FROM {ident(lines_table)} WHERE coalesce(json_valid(j), false) "
        "AND json_type(j) = 'OBJECT'",
        params,
    )
    return rejects
