"""Physical line numbers of a CSV file's rejected rows.

DuckDB numbers CSV records, not lines: a quoted field holding line breaks is one record,
blank lines are skipped, and the ``line`` of its own rejects counts blank lines but not
the breaks inside quotes. A user opens the file at a line, so the rejects of a CSV source
are written first with the ordinal of the parsed record (``row``, ``line`` NULL; a
malformed line as ``-line`` in DuckDB's count) and renumbered here: ``row`` the data
record (the header is record 0, blank lines are no records), ``line`` the physical line
where the record starts.

Only a load with rejects pays for this: one more scan of the file, line by line, that
follows the quotes (``"``, doubled inside a field, the CSV standard) across lines. (A NUL
character ends a line for that scan: quotes after it on that line are not seen.)
"""

from __future__ import annotations

from microseg.ingest._sources import LINE_OPTIONS, OpenedSource
from microseg.store import Store

__all__ = ["number_csv_rejects"]

_MAP = "_line_map"


def number_csv_rejects(store: Store, opened: OpenedSource, load_id: int) -> None:
    """Give the rejects of CSV source ``opened`` in load ``load_id`` their data row and
    physical line (those written since it was opened: ``line`` is still NULL)."""
    if opened.source.format != "csv" or opened.source.path is None:
        return
    where = "load_id = $load AND source = $src AND line IS NULL"
    keys = {"load": load_id, "src": opened.source.name}
    if not store.scalar(f"SELECT count(*) FROM rejects WHERE {where}", keys):  # noqa: S608 - fixed SQL text, values bound as parameters
        return
    malformed = sorted(int(r.line) for r in opened.parse_rejects)
    _line_map(store, str(opened.source.path), malformed)
    store.execute(
        f"""UPDATE rejects SET "row" = m.data_row, line = m.line FROM {_MAP} m
        WHERE rejects.load_id = $load AND rejects.source = $src AND rejects.line IS NULL
          AND rejects."row" > 0 AND m.ordinal = rejects."row"
        """,  # noqa: S608 - fixed SQL text, values bound as parameters
        keys,
    )
    store.execute(
        f"""UPDATE rejects SET "row" = m.data_row, line = m.line FROM {_MAP} m
        WHERE rejects.load_id = $load AND rejects.source = $src AND rejects.line IS NULL
          AND rejects."row" < 0 AND m.duck_line = -rejects."row"
        """,  # noqa: S608 - fixed SQL text, values bound as parameters
        keys,
    )
    _fallback(store, where, keys)  # anything the map did not reach (a quote it misread)
    store.execute(f"DROP TABLE IF EXISTS {_MAP}")


def _fallback(store: Store, where: str, keys: dict[str, object]) -> None:
    """Numbers as DuckDB counts them (right for a file without quoted line breaks or
    blank lines)."""
    store.execute(
        'UPDATE rejects SET line = CASE WHEN "row" < 0 THEN -"row" ELSE "row" + 1 END, '  # noqa: S608 - fixed SQL text, values bound as parameters
        f'"row" = CASE WHEN "row" < 0 THEN -"row" - 1 ELSE "row" END WHERE {where}',
        keys,
    )


def _line_map(store: Store, path: str, malformed: list[int]) -> None:
    """``_line_map``: for every record, its physical ``line``, DuckDB's ``duck_line``, its
    ``data_row`` and, when it was parsed, its ``ordinal`` among the parsed records."""
    store.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_MAP} AS
        WITH physical AS (
            SELECT ordinality AS line, j,
                   coalesce(strlen(j) - strlen(replace(j, '"', '')), 0) AS quotes
            FROM read_csv($path, columns = {{'j': 'VARCHAR'}}, header = false,
                          delim = chr(0), quote = '', escape = '', auto_detect = false,
                          strict_mode = false, encoding = 'latin-1', {LINE_OPTIONS})
                 WITH ORDINALITY
        ), marked AS (
            SELECT line, j, coalesce(sum(quotes) OVER (ORDER BY line ROWS BETWEEN
                   UNBOUNDED PRECEDING AND 1 PRECEDING), 0) % 2 = 1 AS inside
            FROM physical
        ), starts AS (
            SELECT line, j, row_number() OVER (ORDER BY line) AS duck_line
            FROM marked WHERE NOT inside
        ), records AS (
            SELECT line, duck_line, row_number() OVER (ORDER BY line) - 1 AS data_row,
                   list_contains($malformed::BIGINT[], duck_line) AS bad
            FROM starts WHERE j IS NOT NULL
        )
        SELECT line, duck_line, data_row,
               CASE WHEN NOT bad THEN row_number() OVER (PARTITION BY bad ORDER BY line)
               END AS ordinal
        FROM records WHERE data_row > 0""",  # noqa: S608 - fixed SQL text, values bound as parameters
        {"path": path, "malformed": malformed},
    )
