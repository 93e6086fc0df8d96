"""Trait commands: list and compute."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from microseg.cli._common import (
    AS_OF_HELP,
    Group,
    console,
    emit_json,
    fail,
    fit_warning_lines,
    handled,
    open_workspace,
    report,
    state,
)
from microseg.cli._readable import when

__all__ = ["traits_app"]

traits_app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    help=(
        "Traits, per-customer values in the rule language: list, compute.\n\n"
        "Example:\n\n"
        "  microseg traits compute --as-of 2026-10-31 -w shop\n"
    ),
)


@traits_app.command("list")
def list_traits(
    ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Built-in and workspace traits, with their type and formula; broken ones reported.

    Example:

      microseg traits list -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        catalog = ws.traits.list()
        warnings = [*catalog.warnings, *list(ws.traits.collisions().values())]
        words = ws.traits.vocabulary(catalog)
        from_fit = sorted(ws.traits.model_traits(catalog))
        warnings += fit_warning_lines(from_fit, ws.value.fit_warnings())
    rows = [
        {
            "name": d.name,
            "type": d.type,
            "formula": d.formula or d.description or "",
            "source": catalog.files[d.name],
        }
        for d in catalog.definitions.values()
    ]
    if json_out or state(ctx).json:
        emit_json(
            {
                "traits": rows,
                "vocabulary": words,
                "warnings": warnings,
                "problems": [p.__dict__ for p in catalog.problems],
            }
        )
        if catalog.problems:
            raise typer.Exit(1)
        return
    table = Table(title="traits")
    for column in ("name", "type", "formula", "source"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["type"], row["formula"].strip(), row["source"])
    console.print(table)
    console.print(_vocabulary_table(words))
    report(warnings, catalog.problems)
    if catalog.problems:
        raise fail(f"{len(catalog.problems)} problem(s): those traits are left out")


def _vocabulary_table(words: dict[str, Any]) -> Table:
    """The shop's words the built-ins read (traits: in microseg.yaml), one row each."""
    table = Table(title="vocabulary (traits: in microseg.yaml)")
    for column in ("setting", "name", "the shop's values"):
        table.add_column(column, overflow="fold")
    for name, values in words["channels"].items():
        table.add_row("channels", name, ", ".join(values))
    for role, kind in words["event_types"].items():
        table.add_row("event_types", role, kind)
    for trait, category in words["categories"].items():
        table.add_row("categories", trait, category)
    if not words["categories"]:
        table.add_row("categories", "", f"none yet ({words['categories_from']})")
    return table


@traits_app.command("compute")
def compute(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Traits to compute (default: all)."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compute traits for every customer at --as-of (one pass) and store them.

    A broken trait is reported with its file and reason; the others are computed and
    stored, and the command exits with 1 at the end.

    Example:

      microseg traits compute --as-of 2026-10-31 -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        run = ws.traits.compute(names or None, as_of=as_of)
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(run.to_dict())
        if run.problems:
            raise typer.Exit(1)
        return
    table = Table(title=f"traits as of {when(run.as_of, timezone)} ({run.customers:,} customers)")
    table.add_column("trait")
    table.add_column("present", justify="right")
    table.add_column("mean / most common")
    for name, info in run.summary.items():
        if "mean" in info:
            shown = "-" if info["mean"] is None else f"{info['mean']:,.2f}"
        else:
            shown = ", ".join(f"{_word(k)} {v:,}" for k, v in info["top"].items())
        table.add_row(name, f"{info['present']:,}", shown)
    console.print(table)
    console.print(f"{run.seconds:.2f} s")
    report(run.warnings, run.problems)
    if run.problems:
        raise fail(f"{len(run.problems)} problem(s): those traits were not computed")


def _word(value: object) -> str:
    """A boolean trait's values as yes and no."""
    return {"true": "yes", "false": "no"}.get(str(value).lower(), str(value))
