"""``microseg attributes``: list the stored customer attributes, drop one deliberately."""

from __future__ import annotations

import typer
from rich.table import Table

from microseg.cli._common import Group, console, emit_json, fail, handled, open_workspace, state

__all__ = ["attributes_app"]

attributes_app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    help=(
        "Customer attributes as stored: list them, drop one.\n\n"
        "Example:\n\n"
        "  microseg attributes list -w shop\n"
    ),
)


@attributes_app.command("list")
def list_(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Every attribute with its type, family and how many customers have a value.

    Example:

      microseg attributes list -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        rows = ws.attributes.list()
    if json_out or state(ctx).json:
        emit_json(rows)
        return
    if not rows:
        console.print("No attributes yet: load a customers file with `microseg ingest customers`.")
        return
    table = Table()
    for column in ("name", "type", "family", "customers"):
        table.add_column(column, justify="right" if column == "customers" else "left")
    for row in rows:
        table.add_row(row["name"], row["type"], row["family"], f"{row['customers']:,}")
    console.print(table)


@attributes_app.command()
def drop(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The attribute to remove, with its history."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove an attribute and its whole history from every customer (irreversible).

    Example:

      microseg attributes drop religion --yes -w shop
    """
    quiet = json_out or state(ctx).json
    if not yes and not typer.confirm(
        f"Remove attribute {name!r} and its history from every customer?", default=False
    ):
        raise fail("nothing removed")
    with handled(), open_workspace(ctx) as ws:
        ws.attributes.drop(name)
    if quiet:
        emit_json({"dropped": name})
    else:
        console.print(f"Removed attribute {name!r} and its history.")
