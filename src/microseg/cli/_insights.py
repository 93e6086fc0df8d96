"""``microseg insights``: what segments are worth, how customers move between them, what
they buy and who resembles them (docs/insights.md). Each command is thin over
``ws.insights``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from microseg.cli._common import Group

__all__ = ["history_lines", "insights_app"]

insights_app = typer.Typer(
    cls=Group,
    help=(
        "Insight over segments: value, migration, overlap, affinities.\n\n"
        "Examples:\n\n"
        "  microseg insights value -w shop\n"
        "  microseg insights migration --trait lifecycle_stage --from 2025-01-31 "
        "--to 2025-12-31 -w shop\n"
    ),
    no_args_is_help=True,
)


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
    return "new" if value is None else f"{value:+.0%}"


def _print_migration(data: dict[str, Any], timezone: str, top: int) -> None:
    from rich.table import Table

    from microseg.cli._common import console

    days = [_day(d, timezone) for d in data["dates"]]
    console.print(
        f"[bold]{' > '.join(data['states'])}[/] ({data['basis']}), "
        f"{days[0]} to {days[-1]}, {len(days)} snapshots ({timezone})",
        highlight=False,
    )
    flows = data["matrix"]["flows"]
    table = Table(title=f"flows {days[0]} -> {days[-1]} (revenue between them)")
    for column in ("from", "to", "customers", "row %", "revenue", "CLV"):
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
    for state in data["states"]:
        before = sizes.get((first, state), {}).get("customers", 0)
        after = sizes.get((last, state), {}).get("customers", 0)
        moved = (after - before) / before if before else None
        shown.add_row(
            state, f"{before:,}", f"{after:,}", "-" if before == after else _change(moved)
        )
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
    _print_migration(data, timezone, top)
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
