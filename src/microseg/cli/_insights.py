"""``microseg insights``: what segments are worth, how customers move between them, what
they buy and who resembles them (docs/insights.md). Each command is thin over
``ws.insights``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from microseg.cli._common import (
    AS_OF_HELP,
    Group,
    console,
    emit_json,
    fail,
    handled,
    open_workspace,
    state,
)

if TYPE_CHECKING:
    from microseg.insights import AffinityResult

__all__ = ["insights_app"]

insights_app = typer.Typer(
    cls=Group,
    help=(
        "Insight over segments: value, migration, overlap, affinities.\n\n"
        "Examples:\n\n"
        "  microseg insights value -w shop\n"
        "  microseg insights affinity anime-buyers -w shop\n"
    ),
    no_args_is_help=True,
)


_AFFINITY_TITLES = {
    "category": "categories",
    "brand": "brands",
    "product": "products",
    "price_band": "price bands (quartiles of line amounts)",
    "channel": "channels",
    "month": "months",
    "weekday": "weekdays",
    "hour": "hours",
    "occasion": "holiday windows",
    "open_weekday": "e-mail opens by weekday",
    "open_hour": "e-mail opens by hour",
}


@insights_app.command("affinity")
def affinity(
    ctx: typer.Context,
    segment: str = typer.Argument(..., help="The segment.", metavar="SEGMENT"),
    as_of: str = typer.Option(None, "--as-of", help="Members and events as of. " + AS_OF_HELP),
    period: str = typer.Option("12 months", "--period", help="Events of this period."),
    min_support: int = typer.Option(20, "--min-support", help="Hide rows bought by fewer members."),
    top: int = typer.Option(5, "--top", help="Rows per table (by lift)."),
    show_all: bool = typer.Option(False, "--all", help="Show rows not significant (~)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """What a segment over-indexes on, when it buys and when it opens e-mails.

    Shares of members (categories, brands, products, price bands, channels)
    or of orders (months, weekdays, hours, the calendar's holiday windows)
    against all customers: lift, Wilson 95% interval, Benjamini-Hochberg q.
    Rows not significant (q > 0.05) are hidden unless --all (marked ~).

    Example:

      microseg insights affinity anime-buyers --period '6 months' -w shop
    """
    if top < 1:
        raise fail(f"--top {top}: give at least 1", 2)
    with handled(), open_workspace(ctx) as ws:
        result = ws.insights.affinity(segment, as_of=as_of, period=period, min_support=min_support)
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    _print_affinity(result, top=top, show_all=show_all)


def _print_affinity(result: AffinityResult, *, top: int, show_all: bool) -> None:
    from rich.table import Table

    from microseg.cli._readable import when

    console.print(
        f"[bold]{result.segment}[/]: {result.members:,} of {result.customers:,} customers; "
        f"rows need {result.min_support} members\nevents from "
        f"{when(result.period_start, result.timezone)} to {when(result.as_of, result.timezone)}",
        highlight=False,
    )
    for table in result.tables:
        rows = [r for r in table.rows if show_all or r.significant]
        if table.dimension not in ("month", "weekday", "hour", "open_weekday", "open_hour"):
            rows = rows[:top]
        unit = "members" if table.unit == "members" else table.unit
        shown = Table(
            title=f"{_AFFINITY_TITLES.get(table.dimension, table.dimension)} ({unit})",
            title_justify="left",
        )
        for column in ("value", unit, "share", "all", "lift", "95% interval", "q"):
            shown.add_column(column, justify="left" if column == "value" else "right")
        for row in rows:
            shown.add_row(
                ("" if row.significant else "~") + row.value[:24],
                f"{row.count:,}",
                f"{row.share:.1%}",
                f"{row.population_share:.1%}",
                f"{row.lift:.2f}",
                f"{row.low:.1%}-{row.high:.1%}",
                f"{row.q_value:.3f}" if row.q_value >= 0.001 else "<0.001",
            )
        if rows:
            console.print(shown)
        notes = []
        quiet = sum(1 for r in table.rows if not r.significant)
        if quiet and not show_all:
            notes.append(f"{quiet} not significant (--all)")
        if table.hidden:
            notes.append(f"{table.hidden} under {result.min_support} members")
        label = _AFFINITY_TITLES.get(table.dimension, table.dimension)
        if not rows:
            console.print(f"{label}: no row to show", highlight=False)
        if notes:
            console.print("  hidden: " + "; ".join(notes), highlight=False)
    send = result.send_times
    if send.best_hour is None or send.best_weekday is None:
        console.print("send times: no e-mail opens by members in the period")
        return
    console.print(
        f"best send hour {int(send.best_hour.value):02d}:00 ({send.best_hour.opens:,} opens), "
        f"best weekday {send.best_weekday.value} ({send.best_weekday.opens:,} opens), of "
        f"{send.opens:,} opens by members ({result.timezone})",
        highlight=False,
    )
