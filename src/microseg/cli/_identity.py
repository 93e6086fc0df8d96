"""``microseg identity``: identifiers that link no one, and undoing merges."""

from __future__ import annotations

import typer
from rich.table import Table

from microseg.cli._common import Group, console, emit_json, handled, open_workspace, state

__all__ = ["identity_app"]

identity_app = typer.Typer(
    cls=Group,
    help=(
        "Identity stitching: shared identifiers that link no one, unmerge.\n\n"
        "Example:\n\n"
        "  microseg identity shared -w shop\n"
    ),
    no_args_is_help=True,
)


@identity_app.command("shared")
def shared(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Identifiers that link no one: shared by too many customers, or undone by an unmerge.

    Example:

      microseg identity shared -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        rows = ws.identity.shared()
    if json_out or state(ctx).json:
        emit_json(rows)
        return
    if not rows:
        console.print("No shared identifiers.")
        return
    table = Table()
    for column in ("type", "value", "customers", "reason", "load"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["id_type"],
            row["id_value"],
            "" if row["customers"] is None else f"{row['customers']:,}",
            row["reason"],
            str(row["load_id"]),
        )
    console.print(table)


@identity_app.command("unmerge")
def unmerge(
    ctx: typer.Context,
    customer_id: str = typer.Argument(
        ..., help="An absorbed customer, or a survivor (then every merge into it is undone)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Undo a merge: the absorbed customers get back their events, identifiers and
    attributes, and the identifier that linked them links no one from then on.

    Example:

      microseg identity unmerge C00000042 -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        result = ws.identity.unmerge(customer_id)
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    console.print(
        f"Restored {', '.join(result.restored)} from {result.survivor}: "
        f"{result.events:,} events, {result.identities:,} identifiers moved back."
    )
    if result.attributes_kept:
        console.print(
            "[yellow]attributes kept as they are[/] for "
            + ", ".join(result.attributes_kept)
            + " (changed since the merge, or still holding another merged customer)"
        )
