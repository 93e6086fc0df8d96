"""Open what a user hands in (files or data frames) as a DuckDB view with row numbers.

Files are read by DuckDB itself, streamed, never loaded whole into Python. Every
view has the source's columns (renamed by the mapping) plus ``__ms_row``, the 1-based
data row (for CSV, the ordinal of the parsed record), and ``__ms_line``, the line in the
file where that is known when the view is made (JSON Lines; for CSV the physical line of
a rejected row is found afterwards, by :mod:`microseg.ingest._lines`). Column names are
the user's data: any name is kept as given, except names
that cannot be told apart in the store (empty, repeated, equal but for case) and names
starting with ``__ms_``, which are refused with a message. Lines the reader cannot split
into fields are returned as parse rejects so they reach the ``rejects`` table instead of
vanishing.
"""

from __future__ import annotations

import codecs
import glob as globbing
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from microseg.core.errors import IngestError, SourceNotFoundError
from microseg.ingest._columns import IdentityProposal, propose_identities
from microseg.store import Store, ident

__all__ = [
    "FORMATS",
    "LINE",
    "LINE_OPTIONS",
    "MAX_LINE_BYTES",
    "RESERVED_PREFIX",
    "ROW",
    "OpenedSource",
    "ParseReject",
    "Source",
    "open_source",
    "resolve_sources",
    "row_too_long",
]

#: Prefix of every column microseg adds to a source; user columns may not start with it.
RESERVED_PREFIX = "__ms_"
ROW = RESERVED_PREFIX + "row"
LINE = RESERVED_PREFIX + "line"

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
    #: mapped name -> the column's name in the source, for the columns that were renamed
    renamed_from: dict[str, str] = field(default_factory=dict)
    #: columns named like an e-mail or a phone, taken as that identity or not
    proposals: list[IdentityProposal] = field(default_factory=list)
    #: microseg's own columns added to the view after it was opened (not the source's)
    hidden: tuple[str, ...] = ()
    #: columns the file lacks, declared with one value for every row (``constants``)
    constants: dict[str, str] = field(default_factory=dict)

    def source_column(self, column: str) -> str:
        """The name in the source of the (mapped) ``column``."""
        return self.renamed_from.get(column, column)

    def raw_rows(self, rows: str, *, key: str, alias: str = "r") -> str:
        """``rows`` joined laterally, on the row number ``key``, to the source row as it was
        read without microseg's own columns, as ``alias`` (``to_json(alias)`` is the raw row)."""
        return (
            f"{rows}, LATERAL (SELECT * EXCLUDE ({', '.join([ROW, LINE, *self.hidden])}) "  # noqa: S608 - identifiers via ident(), values bound as parameters
            f"FROM {ident(self.view)} v "
            f"WHERE v.{ROW} = {key}) {alias}"
        )


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


def _expand(items: Sequence[Any]) -> list[Any]:
    """Paths as glob patterns (``--glob``): each pattern gives its files in name order."""
    expanded: list[Any] = []
    for item in items:
        if not isinstance(item, str | Path):
            expanded.append(item)
            continue
        matches = sorted(p for p in globbing.glob(str(item)) if Path(p).is_file())
        if not matches:
            raise SourceNotFoundError(
                "no file matches the pattern", where=str(item), hint="check the pattern"
            )
        expanded += matches
    return expanded


def resolve_sources(
    items: Sequence[Any], *, format: str | None = None, glob: bool = False
) -> list[Source]:
    """Check every input before anything is loaded: existence, format.

    A path is a path: ``*``, ``?`` and ``[`` in it are characters of its name, unless
    ``glob`` is set, when each path is a pattern.
    """
    if not items:
        raise IngestError("nothing to ingest", hint="give at least one file")
    if glob:
        items = _expand(items)
    sources: list[Source] = []
    for item in items:
        if isinstance(item, str | Path):
            path = Path(item)
            if not path.exists():
                hint = "pass --glob to read it as a pattern" if _GLOB.search(str(path)) else None
                raise SourceNotFoundError("file not found", where=str(path), hint=hint)
            if path.is_dir():
                raise IngestError("is a folder, not a file", where=str(path))
            sources.append(Source(str(path), _format_of(path, format), path=path))
        else:
            table = _as_arrow(item)
            sources.append(Source(frame_name(type(item)), "frame", table=table))
    return sources


def frame_name(kind: type) -> str:
    """What a load calls a data frame or table of this type (its reports, ``loads``)."""
    return f"<{kind.__name__}>"


_NORMAL = re.compile(r"[^0-9a-z]+")
#: characters DuckDB's readers take as a pattern in a path
_GLOB = re.compile(r"[*?\[\]{}]")
#: A longer row (CSV) or line (JSON Lines) is rejected on its own
MAX_LINE_BYTES = 2_000_000
#: The longest line the readers take at all (a longer one fails its file); DuckDB's read
#: buffer is set to it too (by default it would be 16 times as large)
READ_LINE_BYTES = 64 << 20
LINE_OPTIONS = f"max_line_size = {READ_LINE_BYTES}, buffer_size = {READ_LINE_BYTES}"


def _literal(path: Path, scratch: Path) -> Path:
    """A name for ``path`` that DuckDB reads as exactly that file (its readers expand
    patterns): a link in the load's scratch folder when the path has pattern characters."""
    if not _GLOB.search(str(path)):
        return path
    link = scratch / f"source-{len(list(scratch.iterdir()))}{''.join(path.suffixes)}"
    link.symlink_to(path.resolve())
    return link


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
    rows = store.fetchall(f"DESCRIBE SELECT * FROM {ident(view)}")  # noqa: S608 - identifiers via ident(), values bound as parameters
    return {r[0]: r[1] for r in rows}


def open_source(  # noqa: PLR0913 - keyword-only: how the source is named, mapped and read
    store: Store,
    source: Source,
    view: str,
    *,
    mapping: Mapping[str, str],
    canonical: Sequence[str],
    scratch: Path,
    csv_delimiter: str | None = None,
    encoding: str | None = None,
    constants: Mapping[str, Any] | None = None,
) -> OpenedSource:
    """Create the temporary view ``view`` over a source, renamed, with row numbers.

    ``scratch`` is a folder that lives as long as the load (links, filtered copies).
    A text file in another ``encoding`` than UTF-8 is read through a UTF-8 copy there;
    ``constants`` are columns the file lacks, the same value on every row.
    """
    if source.path is not None:
        path = _literal(source.path, scratch)
        if encoding is not None and source.format in ("csv", "jsonl"):
            path = _transcoded(path, encoding, scratch, source.name)
        source = Source(source.name, source.format, path)
    raw_view = f"{view}_raw"
    rejects: list[ParseReject] = []
    try:
        if source.format == "frame":
            assert source.table is not None
            _check_names(source.table.column_names, source.name)
            table = source.table.append_column(ROW, pa.array(range(1, source.table.num_rows + 1)))
            store.con.register(raw_view, table)
            line_expr = "NULL::BIGINT"
        elif source.format == "parquet":
            # The reader's Python API takes the path as an argument, not as SQL text. (A view
            # over a relation built from a *parameterised* query makes DuckDB's commit slow.)
            names = store.con.read_parquet(str(source.path)).columns
            _check_names(names, source.name)
            if "file_row_number" in (n.lower() for n in names):
                raise IngestError(
                    "a Parquet column is named 'file_row_number', which DuckDB's reader needs "
                    "for row numbers",
                    where=source.name,
                    hint="rename that column in the file",
                )
            # Registered, the relation is a temporary view of this connection: nothing of
            # it reaches the store file (``to_view`` would make a persistent view there,
            # pointing at the file by the path as given, broken once the file moves).
            store.con.register(
                raw_view + "_file",
                store.con.read_parquet(str(source.path), file_row_number=True),
            )
            store.execute(
                f"CREATE OR REPLACE TEMP VIEW {ident(raw_view)} AS SELECT * EXCLUDE "  # noqa: S608 - identifiers via ident(), values bound as parameters
                f"(file_row_number), file_row_number + 1 AS {ROW} FROM {ident(raw_view + '_file')}"
            )
            line_expr = "NULL::BIGINT"
        elif source.format == "csv":
            rejects = _open_csv(store, source, raw_view, csv_delimiter, scratch)
            # the physical line is found for rejected rows only (microseg.ingest._lines)
            line_expr = "NULL::BIGINT"
        else:
            rejects = _open_jsonl(store, source, raw_view)
            line_expr = ROW
        columns = [c for c in _describe(store, raw_view) if c != ROW]
    except duckdb.Error as exc:
        raise IngestError(
            f"could not read it as {source.format}: {_first_line(exc)}",
            where=source.name,
            hint="check the file format, or pass --format",
        ) from None
    if not columns:
        raise IngestError("no columns found", where=source.name, hint="is the file empty?")
    renames = _renames(columns, mapping, canonical, source.name)
    renames, proposals = propose_identities(store, raw_view, renames, mapping, canonical)
    constants = dict(constants or {})
    _check_constants(constants, list(renames.values()), source.name)
    _check_names([*renames.values(), *constants], source.name, mapped=True)
    select = ", ".join(f"{ident(src)} AS {ident(dst)}" for src, dst in renames.items())
    tables = ident(raw_view)
    if constants:
        # the values are data in a one-row table, never SQL text
        store.con.register(
            view + "_constants", pa.table({k: [str(v)] for k, v in constants.items()})
        )
        select += "".join(f", k.{ident(name)}" for name in constants)
        tables += f", {ident(view + '_constants')} k"
    store.execute(
        f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"SELECT {select}, {ROW}, {line_expr} AS {LINE} FROM {tables}"
    )
    described = _describe(store, view)
    described.pop(ROW)
    described.pop(LINE)
    renamed_from = {dst: src for src, dst in renames.items() if src != dst}
    return OpenedSource(
        source,
        view,
        described,
        rejects,
        renamed_from,
        proposals,
        constants={k: str(v) for k, v in constants.items()},
    )


def _check_constants(constants: Mapping[str, Any], columns: list[str], where: str) -> None:
    """A constant column must be one the file does not have: never two values for a cell."""
    present = {c.lower(): c for c in columns}
    for name in constants:
        if name.lower() in present:
            raise IngestError(
                f"column {present[name.lower()]!r} is in the file and is also declared a "
                f"constant ({name}: {constants[name]})",
                where=where,
                hint="remove it from the source's constants, or the column from the file",
            )


def _transcoded(path: Path, encoding: str, scratch: Path, where: str) -> Path:
    """``path`` as UTF-8: itself when it is UTF-8 already, else a copy in ``scratch``
    decoded by Python's codec, streamed (line ends and so line numbers kept)."""
    codec = codecs.lookup(encoding).name
    if codec in ("utf-8", "utf-8-sig"):
        return path
    copy = scratch / f"utf8-{len(list(scratch.iterdir()))}{''.join(path.suffixes)}"
    decoded = 0
    try:
        with (
            path.open(encoding=encoding, newline="") as source,
            copy.open("w", encoding="utf-8", newline="") as target,
        ):
            while chunk := source.read(1 << 20):
                target.write(chunk)
                decoded += len(chunk)
    except UnicodeError as exc:
        raise IngestError(
            f"cannot read it as {encoding}: {exc.reason if hasattr(exc, 'reason') else exc} "
            f"after {decoded:,} characters",
            where=where,
            hint="declare the file's real encoding (encoding in microseg.yaml, or --encoding)",
        ) from None
    return copy


def _check_names(names: Sequence[str], where: str, *, mapped: bool = False) -> None:
    """Refuse column names the store cannot keep apart: empty, repeated (DuckDB names are
    case-insensitive) or starting with microseg's reserved prefix."""
    hint = "rename it in the file" if not mapped else "change the --map options"
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise IngestError(f"column {position} has no name", where=where, hint=hint)
        if "\x00" in name:
            raise IngestError(
                f"column {position}'s name holds a NUL character", where=where, hint=hint
            )
        if name.lower().startswith(RESERVED_PREFIX):
            raise IngestError(
                f"column {position} is named {name!r}; names starting with "
                f"{RESERVED_PREFIX!r} are reserved for microseg",
                where=where,
                hint=hint,
            )
        first = seen.setdefault(name.lower(), position)
        if first != position:
            other = names[first - 1]
            same = "has the same name as" if other == name else "differs only in case from"
            raise IngestError(
                f"column {position} ({name!r}) {same} column {first} ({other!r}); the store "
                "cannot keep them apart (column names differ only in case, at most)",
                where=where,
                hint=hint,
            )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _open_csv(
    store: Store, source: Source, raw_view: str, delimiter: str | None, scratch: Path
) -> list[ParseReject]:
    """CSV read as text (types are checked row by row later); malformed lines kept apart.

    Lines up to :data:`READ_LINE_BYTES` are read; a row
    longer than :data:`MAX_LINE_BYTES` is then rejected on its own by the loaders.
    """
    errors_table = f"{raw_view}_errors"
    scans_table = f"{raw_view}_scans"
    options = f"all_varchar = true, header = true, {LINE_OPTIONS}, "
    options += "store_rejects = true, "
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
    _check_names(_csv_header(store, params), source.name)
    # WITH ORDINALITY appends a last column, named ``ordinality`` unless a column of the
    # file already has that name: read its actual name.
    store.execute(
        f"CREATE OR REPLACE TEMP TABLE {ident(raw_view + '_t')} AS "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"SELECT * FROM read_csv($path, {options}) WITH ORDINALITY",
        params,
    )
    ordinality = ident(list(_describe(store, raw_view + "_t"))[-1])
    # ``line`` here is DuckDB's count of the lines that start a record or are blank (a
    # quoted field's line breaks do not count): microseg.ingest._lines turns it, and the
    # ordinal of a parsed record, into the physical line and the data row of rejects.
    bad = store.fetchall(
        "SELECT line, any_value(error_type), string_agg(DISTINCT error_message, '; '), "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"any_value(csv_line) FROM {ident(errors_table)} GROUP BY line ORDER BY line"
    )
    rejects = [
        ParseReject(
            int(line),
            f"malformed CSV line ({kind.lower()}): {message}"
            + (_ENCODING_HINT if kind.upper() == "INVALID ENCODING" else ""),
            raw,
        )
        for line, kind, message, raw in bad
    ]
    store.execute(
        f"CREATE OR REPLACE TEMP VIEW {ident(raw_view)} AS "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"SELECT * EXCLUDE ({ordinality}), {ordinality} AS {ROW} "
        f"FROM {ident(raw_view + '_t')}"
    )
    return rejects


_ENCODING_HINT = (
    "; declare the file's encoding (encoding: latin-1, cp1252, ... in microseg.yaml, or --encoding)"
)


def _too_long(size: int) -> str:
    return (
        f"the row is {size:,} bytes long, more than the {MAX_LINE_BYTES:,} bytes a row may "
        "have; shorten its fields or load that row separately"
    )


def row_too_long(opened: OpenedSource) -> tuple[str, str] | None:
    """(SQL condition, SQL reason) for a CSV row longer than :data:`MAX_LINE_BYTES`."""
    if opened.source.format != "csv" or not opened.columns:
        return None
    size = " + ".join(f"coalesce(strlen({ident(c)}), 0)" for c in opened.columns)
    reason = (
        f"'the row is ' || format('{{:,}}', {size}) || ' bytes long, more than the "
        f"{MAX_LINE_BYTES:,} bytes a row may have; shorten its fields or load that row "
        "separately'"
    )
    return f"({size}) > {MAX_LINE_BYTES}", reason


def _csv_header(store: Store, params: dict[str, Any]) -> list[str]:
    """The header line's fields exactly as written (DuckDB renames empty and repeated ones)."""
    options = f"all_varchar = true, header = false, ignore_errors = true, {LINE_OPTIONS}"
    if "delim" in params:
        options += ", delim = $delim"
    used = {k: v for k, v in params.items() if k in ("path", "delim")}
    row = store.fetchone(f"SELECT * FROM read_csv($path, {options}) LIMIT 1", used)  # noqa: S608 - identifiers via ident(), values bound as parameters
    return ["" if value is None else str(value) for value in row or ()]


def _open_jsonl(store: Store, source: Source, raw_view: str) -> list[ParseReject]:
    """JSON Lines read line by line; each key becomes a text column (nested values as JSON)."""
    lines_table = f"{raw_view}_lines"
    store.execute(
        f"CREATE OR REPLACE TEMP TABLE {ident(lines_table)} AS "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"SELECT ordinality AS {ROW}, j FROM read_csv($path, columns = {{'j': 'VARCHAR'}}, "
        f"header = false, delim = chr(30), quote = '', escape = '', auto_detect = false, "
        f"{LINE_OPTIONS}) "
        "WITH ORDINALITY WHERE j IS NOT NULL AND trim(j) <> ''",
        {"path": str(source.path)},
    )
    bad = store.fetchall(
        f"SELECT {ROW}, j FROM {ident(lines_table)} "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"WHERE NOT coalesce(json_valid(j), false) OR json_type(j) <> 'OBJECT' ORDER BY {ROW}"
    )
    rejects = [ParseReject(int(r), "not a JSON object on this line", raw) for r, raw in bad]
    for row, size, head in store.fetchall(
        f"SELECT {ROW}, strlen(j), left(j, 200) FROM {ident(lines_table)} "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"WHERE strlen(j) > {MAX_LINE_BYTES} ORDER BY {ROW}"
    ):
        rejects.append(ParseReject(int(row), _too_long(int(size)), head + "..."))
    store.execute(f"DELETE FROM {ident(lines_table)} WHERE strlen(j) > {MAX_LINE_BYTES}")  # noqa: S608 - identifiers via ident(), values bound as parameters
    keys = [
        r[0]
        for r in store.fetchall(
            f"SELECT DISTINCT unnest(json_keys(j)) AS k FROM {ident(lines_table)} "  # noqa: S608 - identifiers via ident(), values bound as parameters
            "WHERE coalesce(json_valid(j), false) AND json_type(j) = 'OBJECT' ORDER BY k"
        )
    ]
    if not keys:
        raise IngestError("no JSON objects found", where=source.name)
    _check_names(keys, source.name)
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
        f"CREATE OR REPLACE TEMP TABLE {ident(raw_view)} AS SELECT {', '.join(parts)}, {ROW} "  # noqa: S608 - identifiers via ident(), values bound as parameters
        f"FROM {ident(lines_table)} WHERE coalesce(json_valid(j), false) "
        "AND json_type(j) = 'OBJECT'",
        params,
    )
    return rejects
