"""Physical line numbers of a CSV file's rejected rows.

DuckDB numbers CSV records, not lines: a quoted field holding line breaks is one record,
blank lines are skipped, and the ``line`` of its own rejects counts blank lines but not
the breaks inside quotes. A user opens the file at a line, so the rejects of a CSV source
are written first with the ordinal of the parsed record (``row``, ``line`` NULL; a
malformed line as ``-line`` in DuckDB's count) and renumbered here: ``row`` the data
record (the header is record 0, blank lines are no records), ``line`` the physical line
where the record starts.

Only a load with rejects pays for this: one more pass over the file's bytes, line by
line, that follows the quotes (``"``, doubled inside a field, the CSV standard) across
lines. Bytes, not text: a line the reader could not decode is still a line. (A
zstd-compressed file keeps DuckDB's numbers: right unless quoted fields span lines.)
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from microseg.ingest._sources import OpenedSource
from microseg.store import Store

__all__ = ["number_csv_rejects"]

_WHERE = "load_id = $load AND source = $src AND line IS NULL"


def number_csv_rejects(store: Store, opened: OpenedSource, load_id: int) -> None:
    """Give the rejects of CSV source ``opened`` in load ``load_id`` their data row and
    physical line (those written since it was opened: ``line`` is still NULL)."""
    if opened.source.format != "csv" or opened.source.path is None:
        return
    keys = {"load": load_id, "src": opened.source.name}
    rows = store.fetchall(f'SELECT DISTINCT "row" FROM rejects WHERE {_WHERE}', keys)  # noqa: S608 - fixed SQL text, values bound as parameters
    if not rows:
        return
    path = opened.source.path
    if path.suffix.lower() not in (".zst", ".zstd"):
        ordinals = {int(r[0]) for r in rows if r[0] > 0}
        duck_lines = {-int(r[0]) for r in rows if r[0] < 0}
        malformed = {int(r.line) for r in opened.parse_rejects}
        scanned = list(_scan(path, ordinals, duck_lines, malformed))
        found = pa.table(
            {
                "old": pa.array([s[0] for s in scanned], pa.int64()),
                "data_row": pa.array([s[1] for s in scanned], pa.int64()),
                "line": pa.array([s[2] for s in scanned], pa.int64()),
            }
        )
        with store.registered("_line_map", found):
            store.execute(
                """UPDATE rejects SET "row" = m.data_row, line = m.line FROM _line_map m
                WHERE rejects.load_id = $load AND rejects.source = $src
                  AND rejects.line IS NULL AND m.old = rejects."row"
                """,
                keys,
            )
    # anything not reached (a quote the scan misread): numbered as DuckDB counts
    store.execute(
        'UPDATE rejects SET line = CASE WHEN "row" < 0 THEN -"row" ELSE "row" + 1 END, '  # noqa: S608 - fixed SQL text, values bound as parameters
        f'"row" = CASE WHEN "row" < 0 THEN -"row" - 1 ELSE "row" END WHERE {_WHERE}',
        keys,
    )


@contextmanager
def _opened(path: Path) -> Iterator[Iterable[bytes]]:
    """The file's lines as bytes (gzip decompressed, as DuckDB reads it)."""
    if path.suffix.lower() in (".gz", ".gzip"):
        with gzip.open(path, "rb") as compressed:
            yield compressed
    else:
        with path.open("rb") as plain:
            yield plain


def _scan(
    path: Path, ordinals: set[int], duck_lines: set[int], malformed: set[int]
) -> Iterator[tuple[int, int, int]]:
    """(old ``row`` as first written, data row, physical line) of the wanted records."""
    inside = False  # within a quoted field at the start of the line
    duck_line = 0  # DuckDB's count: lines outside quoted fields, blank ones included
    data_row = -1  # the header is record 0
    ordinal = 0  # parsed (not malformed) records
    with _opened(path) as handle:
        for line, raw in enumerate(handle, start=1):
            if not inside:
                duck_line += 1
                if raw.strip(b"\r\n"):
                    data_row += 1
                    if data_row > 0 and duck_line in malformed:
                        if duck_line in duck_lines:
                            yield -duck_line, data_row, line
                    elif data_row > 0:
                        ordinal += 1
                        if ordinal in ordinals:
                            yield ordinal, data_row, line
            if raw.count(b'"') % 2:
                inside = not inside
