"""``microseg insights``: what segments are worth, how customers move between them, what
they buy and who resembles them (docs/insights.md). Each command is thin over
``ws.insights``."""

from __future__ import annotations

import typer
from rich.table import Table

from microseg.cli._common import (
    AS_OF_HELP,
    Group,
    console,
    emit_json,
    fit_warning_lines,
    handled,
    open_workspace,
    report,
    state,
)
from microseg.cli._readable import when

__all__ = ["insights_app"]

insights_app = typer.Typer(
    cls=Group,
    help=(
        "Insight over segments: value, migration, overlap, affinities.\n\n"
        "Examples:\n\n"
        "  microseg insights value -w shop\n"
        "  microseg insights overlap vip lapsed -w shop\n"
    ),
    no_args_is_help=True,
)


def _short(value: float | None, *, money: bool = True) -> str:
    """A number in at most 7 characters: 950, 12.3k, 4.56M (money to 2 decimals below 100)."""
    if value is None:
        return "-"
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.2f}M"
    if size >= 1e4:
        return f"{value / 1e3:.1f}k"
    if money and size < 100:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.0f}%"


@insights_app.command("value")
def value(
    ctx: typer.Context,
    segments: list[str] = typer.Argument(None, help="Segments to rank (default: all saved)."),
    run: str = typer.Option(None, "--run", help="Rank a discovery run's clusters instead."),
    grid: list[str] = typer.Option(
        None,
        "--grid",
        help="Rank the cells of a grid instead: a dimension, repeated (gender, age:25,45).",
    ),
    min_size: int = typer.Option(
        50, "--min-size", min=1, help="With --grid: hide cells smaller than this."
    ),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    period: str = typer.Option(
        "12 months", "--period", help="Period of revenue and orders before as_of."
    ),
    by: str = typer.Option(
        None, "--by", help="Column to rank by (default clv_total with a fit, else revenue)."
    ),
    top: int = typer.Option(20, "--top", help="Rows shown (--json has all)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (every column)."),
) -> None:
    """Rank segments (or a discovery run's clusters) by what they are worth.

    Per group: size, revenue, orders, order value, CLV, P(alive), churn, open rate, growth.

    Market potential = members x P(at least one purchase) x expected spend.

    The table shows a selection of columns; --json has every one.

    Examples:

      microseg insights value -w shop
      microseg insights value vip lapsed --by revenue --as-of 2026-06-30 -w shop
      microseg insights value --run q4 -w shop
      microseg insights value --grid gender --grid age:25,45 -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        table = ws.insights.value(
            segments or None,
            run=run,
            grid=grid or (),
            as_of=as_of,
            period=period,
            by=by,
            min_size=min_size,
        )
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(table.to_dict())
        return
    what = {"run": f"clusters of run {table.run}", "grid": "grid cells"}.get(
        table.source, "segments"
    )
    shown = Table(
        title=f"{what} by {table.by}, as of {when(table.as_of, timezone)}",
        caption=f"revenue and aov: the {table.period} before as_of; clv: total predicted",
    )
    shown.add_column(
        {"run": "cluster", "grid": "cell"}.get(table.source, "segment"),
        min_width=12,
        max_width=16,
        no_wrap=table.source != "grid",  # a cell's values wrap; names are cut
        overflow="ellipsis" if table.source != "grid" else "fold",
    )
    for name in ("members", "revenue", "aov", "clv", "potential", "growth"):
        shown.add_column(name, justify="right", no_wrap=True, min_width=max(6, len(name)))
    for row in table.rows[:top]:
        label = row.group if table.run is None else f"{row.group} {row.title}"
        shown.add_row(
            label,
            f"{row.members:,}",
            _short(row.revenue),
            _short(row.aov),
            _short(row.clv_total),
            _short(row.market_potential),
            _percent(row.revenue_growth),
        )
    console.print(shown)
    if len(table.rows) > top:
        console.print(f"{len(table.rows) - top} more rows: --top N or --json")
    lines = [
        "potential: " + table.market_potential_formula + f"; horizon {table.horizon}.",
        "growth: revenue against " + table.previous.text + "." if table.previous else "",
        table.no_fit + "." if table.no_fit else "",
    ]
    for line in filter(None, lines):
        console.print(line, highlight=False)
    report(table.warnings, table.problems)
    outputs = ["clv", "P(alive)", "churn risk", "potential"]
    for warning in fit_warning_lines(outputs, list(table.fit_warnings)):
        console.print(warning, highlight=False)


@insights_app.command("overlap")
def overlap(
    ctx: typer.Context,
    segments: list[str] = typer.Argument(..., help="Two or more segments."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    top: int = typer.Option(10, "--top", help="Intersections shown (--json has all)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Who is targeted twice: pairwise overlap and the largest exact intersections.

    Examples:

      microseg insights overlap vip lapsed anime-buyers -w shop
      microseg insights overlap vip lapsed --as-of 2026-06-30 --json -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        result = ws.insights.overlap(segments, as_of=as_of)
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    pairs = Table(title=f"overlap, as of {when(result.as_of, timezone)}")
    for name in ("a", "b", "in a", "in b", "both", "jaccard", "of smaller"):
        pairs.add_column(name, justify="left" if name in ("a", "b") else "right")
    for p in result.pairs:
        pairs.add_row(
            p.a,
            p.b,
            f"{p.a_size:,}",
            f"{p.b_size:,}",
            f"{p.both:,}",
            f"{p.jaccard:.3f}",
            f"{p.share_of_smaller * 100:.0f}%",
        )
    console.print(pairs)
    combos = Table(title="largest intersections (exactly these segments)")
    combos.add_column("segments")
    combos.add_column("customers", justify="right")
    combos.add_column("share", justify="right")
    for item in result.intersections[:top]:
        combos.add_row(" + ".join(item.segments), f"{item.customers:,}", f"{item.share:.1%}")
    console.print(combos)
    console.print(
        f"{result.in_several:,} of {result.customers:,} customers are in two or more of these "
        f"segments; {result.in_none:,} in none.",
        highlight=False,
    )
    report(result.warnings, result.problems)
