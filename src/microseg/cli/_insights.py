"""``microseg insights``: what segments are worth, how customers move between them, what
they buy and who resembles them (docs/insights.md). Each command is thin over
``ws.insights``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from microseg.insights import AffinityResult

__all__ = ["history_lines", "insights_app", "print_migration", "print_value_table", "recommend"]

insights_app = typer.Typer(
    cls=Group,
    help=(
        "Insight over segments: value, migration, overlap, affinities.\n\n"
        "Examples:\n\n"
        "  microseg insights value -w shop\n"
        "  microseg insights affinity anime-buyers -w shop\n"
        "  microseg insights change marital_status --from single --to married -w shop\n"
        "  microseg insights migration --trait lifecycle_stage --from 2025-01-31 "
        "--to 2025-12-31 -w shop\n"
        "  microseg insights overlap vip lapsed -w shop\n"
        "  microseg insights lookalike vip --size 100 -w shop\n"
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


def _figure(value: float, measure: str) -> str:
    """A table cell: shares in percent (no sign), money and counts with two decimals."""
    if value != value:  # NaN: the group lacked the data
        return "-"
    if measure.endswith("_share"):
        return f"{value * 100:.1f}"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}"


_SECTIONS = {
    "category_share": "share of spend %",
    "price_band_share": "price band %",
}
_SHORT = {
    "orders": "orders/customer",
    "spend": "spend/customer",
    "average_order_value": "avg order value",
}


def _change_table(measures: list[Any]) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 1))
    for column in ("measure", "K before", "K after", "C before", "C after", "DiD", "95% interval"):
        table.add_column(column, justify="left" if column == "measure" else "right", no_wrap=True)
    section = None
    for m in measures:
        if m.measure in _SECTIONS and m.measure != section:
            section = m.measure
            table.add_row(f"[bold]{_SECTIONS[m.measure]}[/]")
        name = _SHORT.get(m.measure) or f"  {m.key}"
        cells = [
            _figure(v, m.measure)
            for v in (m.changers_before, m.changers_after, m.controls_before, m.controls_after)
        ]
        did = _figure(m.did, m.measure) + ("*" if m.significant else " ")
        interval = (
            "-" if m.low != m.low else f"{_figure(m.low, m.measure)}..{_figure(m.high, m.measure)}"
        )
        table.add_row(name[:17], *cells, f"[bold]{did}[/]" if m.significant else did, interval)
    return table


@insights_app.command("change")
def change(
    ctx: typer.Context,
    attribute: str = typer.Argument(..., help="The attribute that changed, e.g. marital_status."),
    from_value: str = typer.Option(..., "--from", help="Its value before the change."),
    to_value: str = typer.Option(..., "--to", help="Its value after the change."),
    since: str = typer.Option(
        None,
        "--since",
        help="First day a change counts (default: one window after the first event).",
    ),
    until: str = typer.Option(
        None,
        "--until",
        help="Last day a change counts (default: one window before the last event).",
    ),
    window: str = typer.Option(
        "6 months", "--window", help="Length of each window before and after a change."
    ),
    as_of: str = typer.Option(None, "--as-of", help="Read data up to this instant. " + AS_OF_HELP),
    categories: int = typer.Option(12, "--categories", help="Categories shown (the rest: other)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """How customers bought before and after an attribute changed, against customers whose
    attribute did not change: a difference-in-differences table with 95% intervals.

    Example:

      microseg insights change marital_status --from single --to married -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        report = ws.insights.change(
            attribute,
            from_value=from_value,
            to_value=to_value,
            since=since,
            until=until,
            window=window,
            as_of=as_of,
            categories=categories,
        )
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(report.to_dict())
        return
    print_change(report, timezone)


def print_change(report: Any, timezone: str, *, largest: int | None = None) -> None:
    """A life-event report as the terminal shows it: the groups, the table, the notes.

    ``largest`` keeps, of the category shares, only that many largest rises and falls (the
    demo's short form); the other measures are always shown."""
    measures = report.measures if largest is None else _largest_shifts(report.measures, largest)
    k, c = report.changers, report.controls
    console.print(
        f"[bold]{report.attribute}[/]: {report.from_value} -> {report.to_value}, changes "
        f"{when(report.since, timezone)} to {when(report.until, timezone)}; windows of "
        f"{report.window} before and after each change",
        highlight=False,
    )
    console.print(
        f"changers {k.customers:,} (bought before {k.buyers_before:,}, after "
        f"{k.buyers_after:,}); controls {c.customers:,} (before {c.buyers_before:,}, after "
        f"{c.buyers_after:,}), {report.from_value} throughout",
        highlight=False,
    )
    table = _change_table(measures)
    console.print(table)
    shown_bands = any(m.measure == "price_band_share" for m in measures)
    bands = report.price_band_cuts if shown_bands else []
    console.print(
        "K: changers, C: controls. DiD = (K after - K before) - (C after - C before);"
        " * its 95% interval excludes 0."
        + (
            f" Price bands: list price below {bands[0]:,.2f} (low), below {bands[1]:,.2f} "
            "(mid), the rest (high)."
            if bands
            else ""
        ),
        highlight=False,
        soft_wrap=False,
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def _largest_shifts(measures: list[Any], count: int) -> list[Any]:
    """Orders, spend and order value, then the ``count`` largest rises and falls of the
    category shares (by DiD), in the table's order."""
    shares = [m for m in measures if m.measure == "category_share" and m.did == m.did]
    ranked = sorted(shares, key=lambda m: m.did)
    kept = {id(m) for m in ranked[:count] + ranked[-count:] if m.did != 0}
    return [m for m in measures if m.measure in _SHORT or id(m) in kept]


def _day(moment: str, timezone: str) -> str:
    """A snapshot's instant as its local day (the end of that day), or day and time."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(ZoneInfo(timezone))
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _change(value: float | None) -> str:
    """A relative change; ``None`` is growth from zero."""
    return _percent(value, missing="new")


def print_migration(data: dict[str, Any], timezone: str, top: int) -> None:
    from rich.table import Table

    from microseg.cli._common import console

    days = [_day(d, timezone) for d in data["dates"]]
    console.print(
        f"[bold]{' > '.join(data['states'])}[/] ({data['basis']}), "
        f"{days[0]} to {days[-1]}, {len(days)} snapshots ({timezone})",
        highlight=False,
    )
    flows = data["matrix"]["flows"]
    table = Table(title=f"flows {days[0]} -> {days[-1]} (sales: gross purchases between them)")
    for column in ("from", "to", "customers", "row %", "sales", "CLV"):
        table.add_column(column, justify="left" if column in ("from", "to") else "right")
    for flow in flows[:top]:
        table.add_row(
            flow["source"],
            flow["target"],
            f"{flow['customers']:,}",
            f"{flow['share']:.0%}",
            _money(flow["revenue"]),
            _money(flow["clv"]),
        )
    console.print(table)
    if len(flows) > top:
        more = len(flows) - top
        console.print(f"{more} smaller flow{'s' if more > 1 else ''} not shown (--top, or --json)")
    sizes = {(s["as_of"], s["state"]): s for s in data["sizes"]}
    first, last = data["dates"][0], data["dates"][-1]
    shown = Table(title="customers per state")
    for column in ("state", days[0], days[-1], "change"):
        shown.add_column(column, justify="left" if column == "state" else "right")
    for name in data["states"]:
        before = sizes.get((first, name), {}).get("customers", 0)
        after = sizes.get((last, name), {}).get("customers", 0)
        moved = (after - before) / before if before else None
        shown.add_row(name, f"{before:,}", f"{after:,}", "-" if before == after else _change(moved))
    console.print(shown)
    alerts = data["alerts"]
    if alerts:
        console.print(f"[bold]{len(alerts)} movement(s) over {data['threshold']:.0%}:[/]")
    for alert in alerts[:top]:
        console.print(
            f"  {_day(alert['end'], timezone)}  {alert['state']}: {alert['measure']} "
            f"{_money(alert['before'])} -> {_money(alert['after'])} ({_change(alert['change'])})",
            highlight=False,
        )
    for note in data["notes"]:
        console.print(f"note: {note}", highlight=False)


@insights_app.command("migration")
def migration(
    ctx: typer.Context,
    segments: list[str] = typer.Argument(
        None, help="Segments in priority order (a customer is in the first that holds)."
    ),
    start: str = typer.Option(..., "--from", help="First snapshot: ISO date or timestamp."),
    end: str = typer.Option(..., "--to", help="Last snapshot: ISO date or timestamp."),
    every: str = typer.Option(None, "--every", help="month or week: a series of snapshots."),
    trait: str = typer.Option(None, "--trait", help="States from a trait: lifecycle_stage..."),
    run: str = typer.Option(None, "--run", help="States from a discovery run's clusters."),
    threshold: float = typer.Option(0.2, "--threshold", help="Alert above this change."),
    plot: Path = typer.Option(None, "--plot", help="Write a Plotly page (Sankey, areas)."),
    top: int = typer.Option(12, "--top", help="Flows and alerts shown."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """How customers moved between segments, trait values or clusters over time.

    Each snapshot reads attributes as of its date and events before it only;
    segment snapshots are stored and reused.

    Examples:

      microseg insights migration vip regulars --from 2025-01-31
      --to 2025-12-31 -w shop

      microseg insights migration --trait lifecycle_stage --from 2025-01-31
      --to 2025-12-31 --every month --plot flows.html -w shop
    """
    from microseg.cli._common import emit_json, handled, open_workspace, state

    with handled(), open_workspace(ctx) as ws:
        result = ws.insights.migration(
            segments or [],
            start=start,
            end=end,
            every=every,
            trait=trait,
            run=int(run) if run is not None and run.isdigit() else run,
            threshold=threshold,
        )
        timezone = ws.config.timezone
    data = result.to_dict()
    if plot is not None:
        from microseg.insights import migration_html

        plot.write_text(migration_html(result, timezone=timezone), encoding="utf-8")
    if json_out or state(ctx).json:
        emit_json(data)
        return
    print_migration(data, timezone, top)
    if plot is not None:
        from microseg.cli._common import console

        console.print(f"wrote {plot}", highlight=False, soft_wrap=True)


def history_lines(history: dict[str, Any], timezone: str) -> list[str]:
    """One customer's entries and exits, one line each (``profile --history``)."""
    days = [_day(d, timezone) for d in history["dates"]]
    lines = [f"history {days[0]} to {days[-1]}, {len(days)} snapshots:"]
    lines += [
        f"  {_day(c['as_of'], timezone)}  {c['change']:<7} {c['segment']}"
        for c in history["changes"]
    ]
    if not history["changes"]:
        lines.append("  no entries or exits")
    return lines


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


def _percent(value: float | None, *, missing: str = "-") -> str:
    """A signed percentage, ``+12%``; ``missing`` when there is none."""
    return missing if value is None else f"{value * 100:+.0f}%"


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
    print_value_table(table, timezone, top)


def print_value_table(table: Any, timezone: str, top: int, *, fit_notes: bool = True) -> None:
    """A value table as the command prints it: the chosen columns, the formula, the growth
    baseline and (``fit_notes``) what the value fit's warnings mean for the columns from it."""
    what = {"run": f"clusters of run {table.run}", "grid": "grid cells"}.get(
        table.source, "segments"
    )
    shown = Table(
        title=f"{what} by {table.by}, as of {when(table.as_of, timezone)}",
        caption=(
            f"sales (revenue: gross purchases) and aov: the {table.period} before as_of; "
            "clv: total predicted"
        ),
    )
    shown.add_column(
        {"run": "cluster", "grid": "cell"}.get(table.source, "segment"),
        min_width=12,
        max_width=16,
        overflow="fold",  # a long name wraps, never cut
    )
    for name in ("members", "sales", "aov", "clv", "potential", "growth"):
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
    for warning in fit_warning_lines(outputs, list(table.fit_warnings) if fit_notes else []):
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


def recommend(
    ctx: typer.Context,
    customer_id: str = typer.Argument(
        None, metavar="CUSTOMER_ID", help="The customer (optional with --segment)."
    ),
    method: str = typer.Option(
        "blend", "--method", help="popular, segment, itemknn or blend (the default)."
    ),
    segment: str = typer.Option(
        None,
        "--segment",
        help="Without a customer: the products to push to this segment; with one: the "
        "customer's micro-segment for the segment method.",
    ),
    k: int = typer.Option(10, "--k", help="Products returned."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Next-best products: ranked products a customer has not bought yet.

    Never a returned product, nor an owned one-off (docs/insights.md).

    Examples:

      microseg recommend C000042 -w shop
      microseg recommend C000042 --method itemknn --k 5 -w shop
      microseg recommend --segment vip --json -w shop
    """
    from rich.table import Table

    if customer_id is None and segment is None:
        raise fail("give a CUSTOMER_ID, or --segment NAME for a segment's products", 2)
    with handled(), open_workspace(ctx) as ws:
        result = ws.insights.recommend(
            customer_id, method=method, k=k, as_of=as_of, segment=segment
        )
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    who = f"customer {customer_id}" if customer_id else f"segment {segment}"
    shown = Table(title=f"next-best products for {who} ({method})")
    for column in ("#", "product", "category", "brand", "score"):
        shown.add_column(column, justify="right" if column in ("#", "score") else "left")
    for item in result.products:
        shown.add_row(
            str(item.rank),
            item.product_id,
            item.category or "-",
            item.brand or "-",
            f"{item.score:.3f}",
        )
    console.print(shown)
    if customer_id:
        group = result.group or "none (global popularity instead)"
        console.print(f"excluded: {result.excluded} products (bought or returned)", highlight=False)
        console.print(f"micro-segment: {group}", highlight=False)


@insights_app.command("lookalike")
def lookalike(
    ctx: typer.Context,
    segment: str = typer.Argument(..., help="The segment whose members to resemble."),
    size: int = typer.Option(None, "--size", help="List the N best-scoring non-members."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    save: str = typer.Option(
        None,
        "--save",
        metavar="NAME",
        help="Store the model as NAME and write segments/NAME.yaml (a score: rule).",
    ),
    min_score: float = typer.Option(
        None, "--min-score", help="The saved segment's score threshold (default 0.7)."
    ),
    include_members: bool = typer.Option(
        False, "--include-members", help="Keep the segment's own members in the saved one."
    ),
    keep_rule_features: bool = typer.Option(
        False,
        "--keep-rule-features",
        help="Keep the traits and attributes the segment's rule names as features.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a saved NAME."),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds (at least 2)."),
    drivers: int = typer.Option(8, "--drivers", help="Drivers shown (--json has all)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Look-alikes: non-members ranked by how much they resemble a segment's members.

    A logistic regression on discovery's features (sensitive attributes excluded), its
    cross-validated AUC, the features that drive it, and how many non-members score
    at or above 0.9, 0.8, 0.7 and 0.5 (docs/insights.md).

    Examples:

      microseg insights lookalike anime-buyers -w shop
      microseg insights lookalike vip --size 100 --json -w shop
      microseg insights lookalike vip --save vip-lookalike --min-score 0.8 -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        result = ws.insights.lookalike(
            segment,
            as_of=as_of,
            size=size,
            keep_rule_features=keep_rule_features,
            save=save,
            min_score=min_score,
            include_members=include_members,
            overwrite=overwrite,
            folds=folds,
        )
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    console.print(
        f"look-alikes of {result.segment}, as of {when(result.as_of, timezone)}: "
        f"{result.members:,} members, {result.non_members:,} non-members, "
        f"{len(result.features)} features",
        highlight=False,
    )
    console.print(
        f"cross-validated AUC {result.auc:.3f} ({result.folds}-fold, out of fold)",
        highlight=False,
    )
    shown = Table(title="drivers (standardized coefficients)")
    shown.add_column("feature")
    shown.add_column("coef", justify="right")
    shown.add_column("effect")
    for item in result.drivers[:drivers]:
        shown.add_row(item.feature, f"{item.coefficient:+.2f}", item.effect)
    console.print(shown)
    cuts = Table(title="potential audience")
    for name in ("min score", "non-members", "share"):
        cuts.add_column(name, justify="right")
    for cut in result.cutoffs:
        cuts.add_row(f"{cut.min_score:.2f}", f"{cut.non_members:,}", f"{cut.share:.1%}")
    console.print(cuts)
    if result.top:
        best = Table(title="most alike non-members")
        for name in ("#", "customer", "score"):
            best.add_column(name, justify="left" if name == "customer" else "right")
        for rank, customer in enumerate(result.top, start=1):
            best.add_row(str(rank), customer.customer_id, f"{customer.score:.3f}")
        console.print(best)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    if result.saved:
        console.print(
            f"saved the model {result.saved} and the segment {result.saved} (score at least "
            f"{result.min_score}): {result.saved_path}",
            highlight=False,
        )
        console.print(f"evaluate it: microseg segment evaluate {result.saved}", highlight=False)
