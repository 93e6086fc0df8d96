"""Commands over the workspace's data: init, ingest, status, rejects."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from microseg.cli._common import (
    console,
    emit_json,
    err_console,
    fail,
    handled,
    open_workspace,
    progress_bar,
    state,
)
from microseg.cli._readable import when
from microseg.core.errors import RejectLimitError

if TYPE_CHECKING:
    from microseg.ingest import LoadReport
    from microseg.workspace import WorkspaceStatus

__all__ = [
    "ingest",
    "init",
    "rejects",
    "render_columns",
    "render_report",
    "render_status",
    "status",
]


#: the help panel of the options saying how a file is written
_READ = "How the files are written (over microseg.yaml's ingest and --source settings)"


class TableKind(StrEnum):
    customers = "customers"
    events = "events"
    products = "products"


def init(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="Folder for the new workspace."),
    name: str = typer.Option(None, help="Workspace name (default: the folder name)."),
    timezone: str = typer.Option("UTC", help="IANA time zone for naive timestamps."),
    currency: str = typer.Option("EUR", help="ISO currency code."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a workspace: microseg.yaml, segments/ and the DuckDB store.

    Example:

      microseg init shop --timezone Europe/Paris --currency EUR
    """
    from microseg.workspace import Workspace

    with handled():
        ws = Workspace.init(directory, name=name, timezone=timezone, currency=currency)
        ws.close()
    if json_out or state(ctx).json:
        emit_json({"path": str(directory), "config": str(directory / "microseg.yaml")})
    else:
        console.print(f"Created workspace in [bold]{directory}[/]; next: microseg ingest ...")


def _parse_map(items: list[str]) -> dict[str, str]:
    return _pairs("--map", items, "SOURCE_COLUMN=CANONICAL_COLUMN")


def render_report(report: LoadReport) -> None:
    table = Table(title=f"{report.kind}: load {report.load_id}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in (
        ("rows read", report.rows_read),
        ("accepted", report.accepted),
        ("duplicates (already loaded)", report.duplicates),
        ("rejected", report.rejected),
        ("new customers", report.new_customers),
        ("customers merged", report.merged_customers),
        ("seconds", report.seconds),
    ):
        table.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    if report.reasons:
        console.print(
            "rejected rows by problem: "
            + ", ".join(f"{k} {v:,}" for k, v in report.reasons.items())
            + "  (see `microseg rejects`)"
        )
    if report.identifiers_set_aside:
        console.print(
            "identifiers set aside (rows loaded without them): "
            + ", ".join(f"{k} {v:,}" for k, v in report.identifiers_set_aside.items())
        )
    for shared in report.shared_identifiers:
        console.print(
            f"[yellow]{shared['id_type']} {shared['id_value']!r} is shared by "
            f"{shared['customers']:,} customers[/]: it links no one "
            "(identity.max_customers_per_identifier; `microseg identity shared`)",
            highlight=False,
        )
    render_columns(report)


_IDENTIFIER_WORDS = {"email": "e-mail address", "phone": "phone number"}


def render_columns(report: LoadReport) -> None:
    """Where each column of each source went, then what the load warns about."""
    for source in dict.fromkeys(c.source for c in report.columns):
        table = Table(title=f"columns of {source}", title_justify="left")
        for name in ("column", "went to", "type", "note"):
            table.add_column(name, overflow="fold")
        for c in report.columns:
            if c.source != source:
                continue
            went = c.role if c.name == c.column else f"{c.role} {c.name}"
            kind = f"{c.type} ({c.type_from})" if c.type and c.type_from else (c.type or "")
            note = c.note or ""
            if c.warning:
                note = f"[yellow]{(note + '; ') if note else ''}see below[/]"
            table.add_row(c.column, went, kind, note)
        console.print(table, highlight=False)
    for invalid in report.invalid_identifiers:
        what = _IDENTIFIER_WORDS.get(invalid.id_type, invalid.id_type)
        examples = ", ".join(repr(e) for e in invalid.examples)
        console.print(
            f"[yellow]{invalid.values:,} invalid {what}{'s' if invalid.values != 1 else ''}[/] "
            f"(they link no one; rows loaded without them, or rejected when they had nothing "
            f"else): {examples}",
            highlight=False,
        )
    for warning in report.warnings:
        console.print(f"[yellow]warning[/]: {warning}", highlight=False)


def ingest(
    ctx: typer.Context,
    kind: TableKind = typer.Argument(..., help="Which table the files feed."),
    paths: list[Path] = typer.Argument(
        ..., help="CSV, Parquet or JSON Lines files (patterns with --glob)."
    ),
    map_: list[str] = typer.Option(
        [], "--map", help="Rename a column: SOURCE=CANONICAL (repeatable)."
    ),
    source: str = typer.Option(
        None, help="A named source from microseg.yaml (its column map and read options)."
    ),
    format_: str = typer.Option(None, "--format", help="csv, parquet or jsonl (default: suffix)."),
    valid_from: str = typer.Option(
        None, help="Customers: column saying when each row's values became true."
    ),
    glob: bool = typer.Option(
        False, "--glob", help="Read each path as a pattern (quote it: 'web-*.jsonl')."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON, no progress bar."),
    delimiter: str = typer.Option(
        None, help="CSV field delimiter, e.g. ';'.", rich_help_panel=_READ
    ),
    encoding: str = typer.Option(
        None, help="Text encoding, e.g. latin-1, cp1252 (default UTF-8).", rich_help_panel=_READ
    ),
    decimal: str = typer.Option(None, help="Decimal separator: '.' or ','.", rich_help_panel=_READ),
    thousands: str = typer.Option(
        None, help="Thousands separator: ' ', '.', ',' or \"'\".", rich_help_panel=_READ
    ),
    date_format: str = typer.Option(
        None, help="Dates, strptime-style, e.g. '%d/%m/%Y'.", rich_help_panel=_READ
    ),
    timestamp_format: str = typer.Option(
        None, help="Timestamps, e.g. '%d/%m/%Y %H:%M'.", rich_help_panel=_READ
    ),
    timezone: str = typer.Option(
        None, help="Zone of naive timestamps (default: the workspace's).", rich_help_panel=_READ
    ),
    true_value: list[str] = typer.Option(
        [],
        "--true-value",
        help="A word read as true, e.g. oui (repeatable).",
        rich_help_panel=_READ,
    ),
    false_value: list[str] = typer.Option(
        [], "--false-value", help="A word read as false (repeatable).", rich_help_panel=_READ
    ),
    list_separator: list[str] = typer.Option(
        [],
        "--list-separator",
        help="COLUMN=SEP: a list column (repeatable).",
        rich_help_panel=_READ,
    ),
    constant: list[str] = typer.Option(
        [],
        "--constant",
        help="COLUMN=VALUE on every row, e.g. type=purchase.",
        rich_help_panel=_READ,
    ),
    max_rejected: str = typer.Option(
        None,
        help="Most rejected rows before nothing is loaded: a count or a share (default 10%).",
    ),
) -> None:
    """Load files into the workspace: validated, de-duplicated, atomic.

    Examples:

      microseg ingest customers crm.csv --map "Client ID=customer_id" -w shop
      microseg ingest events orders.parquet 'web-*.jsonl' --glob -w shop
      microseg ingest events commandes.csv --delimiter ';' --decimal , --thousands ' '
        --timestamp-format '%d/%m/%Y %H:%M' --constant type=purchase -w shop
    """
    quiet = json_out or state(ctx).json
    mapping = _parse_map(map_)
    read = _read_options(
        delimiter=delimiter,
        encoding=encoding,
        decimal=decimal,
        thousands=thousands,
        date_format=date_format,
        timestamp_format=timestamp_format,
        timezone=timezone,
        true_values=true_value,
        false_values=false_value,
        list_separators=_pairs("--list-separator", list_separator, "COLUMN=SEPARATOR"),
        constants=_pairs("--constant", constant, "COLUMN=VALUE"),
    )
    try:
        with handled(), open_workspace(ctx) as ws, progress_bar(not quiet) as progress:
            try:
                report = ws.ingest(
                    kind.value,
                    list(paths),
                    map=mapping,
                    source=source,
                    format=format_,
                    valid_from=valid_from,
                    progress=progress,
                    glob=glob,
                    read=read,
                    max_rejected=max_rejected,
                )
            except RejectLimitError as refused:
                raise _Refused(refused) from None
    except _Refused as refused:
        raise _render_refused(refused.error, quiet) from None
    if quiet:
        emit_json(report.to_dict())
    else:
        render_report(report)


class _Refused(Exception):
    def __init__(self, error: RejectLimitError):
        super().__init__(str(error))
        self.error = error


def _read_options(**options: object) -> dict[str, object]:
    """The read options given on the command line (the others keep the config's)."""
    return {k: v for k, v in options.items() if v not in (None, [], {})}


def _pairs(option: str, items: list[str], shape: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise fail(f"{option} {item!r}: write {shape}", 2)
        pairs[key] = value
    return pairs


def _render_refused(error: RejectLimitError, quiet: bool) -> typer.Exit:
    """A load over its reject limit: the counts, the top problems, one example each."""
    if quiet:
        emit_json(
            {
                "refused": True,
                "load_id": error.load_id,
                "rows_read": error.rows_read,
                "rejected": error.rejected,
                "message": str(error),
                "top_problems": [
                    {"problem": p, "rows": n, "example_at": at, "example": why}
                    for p, n, at, why in error.reasons
                ],
            }
        )
    else:
        err_console.print(
            f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
        )
    return typer.Exit(error.exit_code)


def render_status(status: WorkspaceStatus, timezone: str = "UTC") -> None:
    console.print(f"[bold]{status.name}[/]  ({status.path})")
    table = Table(show_header=True)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in status.tables.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    if status.first_event:
        console.print(
            f"events from {when(status.first_event, timezone)} "
            f"to {when(status.last_event, timezone)}"
        )
        console.print("by type: " + ", ".join(f"{k} {v:,}" for k, v in status.event_types.items()))
    for family, names in status.attributes.items():
        console.print(f"{family}: {', '.join(names) or '-'}")
    if status.unclassified:
        console.print(f"unclassified: {', '.join(status.unclassified)}")
    if status.last_load:
        last = status.last_load
        console.print(
            f"last refresh: load {last['load_id']} ({last['kind']}) at {when(last['at'], timezone)}"
        )
    if status.rejects:
        console.print(f"[yellow]{status.rejects:,} rejected rows[/]: see `microseg rejects`")
    if status.shared_identifiers:
        console.print(
            f"[yellow]{status.shared_identifiers:,} shared identifiers[/] link no one: "
            "see `microseg identity shared`"
        )


def status(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Tables, row counts, date range, rejects and the last refresh.

    Examples:

      microseg status
      microseg status -w shop --json
    """
    with handled(), open_workspace(ctx) as ws:
        result = ws.status()
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
    else:
        render_status(result, timezone)


def rejects(
    ctx: typer.Context,
    load: int = typer.Option(None, help="Only this load id."),
    limit: int = typer.Option(50, help="How many rows to show (0: all)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rows that were not loaded, with file, row, column and the reason.

    Examples:

      microseg rejects -w shop
      microseg rejects --load 3 --limit 0 --json -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        frame = ws.rejects(load_id=load, limit=limit or None).to_pyarrow().to_pylist()
        total = int(ws.rejects(load_id=load, limit=None).count().to_pyarrow().as_py())
    more = (
        f"showing {len(frame):,} of {total:,} rejects; all of them: "
        f"microseg rejects{f' --load {load}' if load is not None else ''} --limit 0"
        if len(frame) < total
        else None
    )
    if json_out or state(ctx).json:
        emit_json(frame)
        if more:
            err_console.print(more, highlight=False, soft_wrap=True, markup=False)
        return
    if not frame:
        console.print("No rejected rows.")
        return
    table = Table()
    for column in ("load", "source", "row", "line", "column", "value", "reason"):
        table.add_column(column, overflow="fold")
    for row in frame:
        table.add_row(
            str(row["load_id"]),
            str(row["source"]),
            str(row["row"]),
            "" if row["line"] is None else str(row["line"]),
            row["column"] or "",
            row["value"] or "",
            row["reason"],
        )
    console.print(table)
    if more:
        console.print(more, highlight=False, markup=False)
