"""``microseg retention`` and ``microseg forget``: old data out, one person out
(docs/governance.md, "Retention" and "Erasure")."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from microseg.cli._common import Group, console, emit_json, fail, handled, open_workspace, state

if TYPE_CHECKING:
    from microseg.govern import ErasureReport, RetentionReport

__all__ = ["forget", "retention_app"]

retention_app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    help=(
        "Keep raw data only as long as microseg.yaml says: apply the retention periods "
        "(delete or archive old events and rejects), and see the history of runs.\n\n"
        "Example:\n\n"
        "  microseg retention apply --dry-run -w shop\n"
    ),
)


def _day(value: Any) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in counts.items()) or "-"


def _retention_table(report: RetentionReport) -> Table:
    table = Table()
    for column in ("table", "kept for", "before (UTC)", "rows", "first", "last"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for row in report.tables:
        table.add_row(
            row.table,
            row.period,
            f"{row.cutoff:%Y-%m-%d %H:%M}",
            f"{row.removed:,}",
            _day(row.first),
            _day(row.last),
        )
    return table


@retention_app.command()
def apply(
    ctx: typer.Context,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only say what would be removed; change nothing."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove (or archive to Parquet, then remove) events and rejected rows older than
    the retention periods of microseg.yaml, counted back from now, and record the run.

    Example:

      microseg retention apply --dry-run -w shop
      microseg retention apply -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        report = ws.govern.retention(dry_run=dry_run)
    if json_out or state(ctx).json:
        emit_json({**report.to_dict(), "removed": report.removed})
        return
    verb = "archived and deleted" if report.action == "archive" else "deleted"
    if report.dry_run:
        title = f"Retention, dry run: {report.removed:,} rows would be {verb}"
    else:
        title = f"Retention run {report.run_id}: {report.removed:,} rows {verb}"
    console.print(title, highlight=False)
    console.print(_retention_table(report))
    for row in report.tables:
        if row.by_type:
            console.print(f"  {row.table} by type: {_counts(row.by_type)}", highlight=False)
        if row.archive:
            console.print(f"  {row.table} archived to {row.archive}", highlight=False)
    if report.dry_run:
        console.print("Nothing was changed; run without --dry-run to apply.")


@retention_app.command()
def history(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Every recorded retention run: when, what it removed from each table, and where
    it archived it.

    Example:

      microseg retention history -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        rows = ws.govern.retention_history()
    if json_out or state(ctx).json:
        emit_json(rows)
        return
    if not rows:
        console.print("No retention run yet: `microseg retention apply`.")
        return
    table = Table()
    for column in ("run", "applied (UTC)", "table", "action", "before", "rows"):
        table.add_column(column, justify="right" if column in ("run", "rows") else "left")
    for row in rows:
        table.add_row(
            str(row["run_id"]),
            f"{row['applied_at']:%Y-%m-%d %H:%M}",
            row["table_name"],
            row["action"],
            _day(row["cutoff"]),
            f"{row['removed']:,}",
        )
    console.print(table)


def _interactive() -> bool:
    """Whether a person can answer a question (stdin is a terminal)."""
    return sys.stdin.isatty()


def _erasure_lines(report: ErasureReport) -> list[str]:
    others = [i for i in report.ids if i != report.customer_id]
    merged = f" (and {', '.join(others)}, merged into it)" if others else ""
    proof = report.proof
    looked = sum(proof.looked_for.values())
    lines = [
        f"Forgot {report.customer_id}{merged}: "
        f"{sum(report.removed.values()):,} rows removed from {len(report.removed)} tables.",
        f"  events: {_counts(report.events)}"
        + (f" ({_day(report.first_event)} to {_day(report.last_event)})" if report.events else ""),
    ]
    if report.redacted:
        lines.append(f"  kept with the mention replaced by [forgotten]: {_counts(report.redacted)}")
    lines.append(
        f"  tombstone: {report.tombstones} salted hashes ({_counts(proof.looked_for)}); "
        "a re-import of them is refused"
    )
    if proof.clean:
        lines.append(
            f"Proof: {proof.columns:,} columns of {proof.tables} tables scanned for the "
            f"{looked} ids and identifiers: 0 hits. The database file was rewritten "
            "without them."
        )
    else:
        lines.append(f"Proof FAILED: still found in {_counts(proof.hits)}")
    if proof.lookalikes:
        lines.append(
            f"  equal values that are not customer ids (kept): {_counts(proof.lookalikes)}"
        )
    return lines


def forget(
    ctx: typer.Context,
    customer_id: str = typer.Argument(
        ..., metavar="CUSTOMER_ID", help="The customer to erase (with every id merged into it)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Erase one person from every table (events, attributes and their history,
    identities, merges, memberships, traits, rejects, and any other table naming them),
    keep only salted hashes so a re-import is refused, and prove that no trace is left
    (irreversible).

    Example:

      microseg forget C0042 --yes -w shop
    """
    if not yes:
        if not _interactive():
            raise fail(
                f"forget erases {customer_id!r} for good and asks first, but this run cannot "
                "ask (not a terminal); pass --yes to confirm, e.g. microseg forget "
                f"{customer_id} --yes; nothing was erased"
            )
        if not typer.confirm(
            f"Erase {customer_id!r} and every id merged into it from every table, for good?",
            default=False,
        ):
            raise fail("nothing erased")
    with handled(), open_workspace(ctx) as ws:
        report = ws.govern.forget(customer_id)
    if json_out or state(ctx).json:
        emit_json(report.to_dict())
    else:
        for line in _erasure_lines(report):
            console.print(line, highlight=False)
        table = Table()
        table.add_column("table")
        table.add_column("rows removed", justify="right")
        for name, count in report.removed.items():
            table.add_row(name, f"{count:,}")
        console.print(table)
    if not report.proof.clean:
        raise typer.Exit(1)
