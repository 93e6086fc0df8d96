"""Campaign commands: create (with a holdout), measure (uplift), list."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

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
from microseg.cli._readable import when

if TYPE_CHECKING:
    from microseg.activate import CampaignMeasurement

__all__ = ["campaign_app"]

campaign_app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    help=(
        "Campaigns with a holdout: create one (a stable control group is kept out), "
        "measure its uplift, list them.\n\n"
        "Examples:\n\n"
        "  microseg campaign create spring --segment anime-buyers --holdout 10% -w shop\n"
        "  microseg campaign measure spring --outcome purchase --cuped -w shop\n"
    ),
)

_JSON = typer.Option(False, "--json", help="Print JSON.")


@campaign_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The campaign's name (letters, digits, - _ .)."),
    segment: str = typer.Option(None, "--segment", help="The segment whose members it targets."),
    audience: Path = typer.Option(
        None, "--audience", help="Or a CSV/Parquet file with a customer_id column."
    ),
    holdout: str = typer.Option("10%", "--holdout", help="Share kept out as control."),
    channel: str = typer.Option("email", "--channel", help="email, sms, ads, ..."),
    as_of: str = typer.Option(None, "--as-of", help="Send time. " + AS_OF_HELP),
    salt: str = typer.Option(None, "--salt", help="Holdout salt (default: campaign:NAME)."),
    to: Path = typer.Option(None, "--to", help="Write the treatment group (CSV) here."),
    json_out: bool = _JSON,
) -> None:
    """Reserve a deterministic control group and store the campaign's assignment.

    A member is in control when sha256(salt:customer_id), read as a number in [0, 1), is
    below the holdout share: the same side on every run. --to writes the treatment group,
    the customers to send to.

    Example:

      microseg campaign create spring --segment anime-buyers --holdout 10% --to send.csv
    """
    if (segment is None) == (audience is None):
        raise fail("give --segment SEGMENT or --audience FILE (one of them)", 2)
    from microseg.activate import read_audience

    with handled(), open_workspace(ctx) as ws:
        ids = read_audience(audience) if audience is not None else None
        info = ws.activate.campaign_create(
            name,
            segment=segment,
            audience=ids,
            holdout=holdout,
            channel=channel,
            as_of=as_of,
            salt=salt,
            to=to,
        )
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(info.to_dict())
        return
    source = f"segment {info.segment} (version {info.version})" if info.segment else info.audience
    console.print(
        f"campaign [bold]{info.name}[/] on {info.channel}, sent {when(info.sent_at, timezone)}",
        highlight=False,
    )
    console.print(f"  audience: {source}: {info.members:,} customers", highlight=False)
    console.print(
        f"  treatment {info.treatment:,}, control {info.control:,} "
        f"(holdout {info.holdout:.0%}, salt {info.salt!r})",
        highlight=False,
    )
    if info.target:
        console.print(f"  treatment group written to {info.target}", highlight=False)


@campaign_app.command("list")
def list_(ctx: typer.Context, json_out: bool = _JSON) -> None:
    """The stored campaigns, the latest sent first.

    Example:

      microseg campaign list -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        found = ws.activate.campaigns()
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(found.to_dict())
        return
    if not found.campaigns:
        console.print("no campaigns yet: microseg campaign create NAME --segment SEGMENT")
        return
    table = Table(title=f"campaigns (times in {timezone})")
    for column in ("name", "audience", "sent", "members", "control"):
        right = column in ("members", "control")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for c in found.campaigns:
        table.add_row(
            c.name,
            c.segment or "ids given",
            when(c.sent_at, timezone, zone=False),
            f"{c.members:,}",
            f"{c.control:,} ({c.holdout:.0%})",
        )
    console.print(table)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _pts(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _print(result: CampaignMeasurement, timezone: str) -> None:
    console.print(
        f"campaign [bold]{result.name}[/]: {result.outcome} within {result.window} of the "
        f"send, sent {when(result.sent_at, timezone)}",
        highlight=False,
    )
    table = Table(title="treated vs control: uplift in points, 95% interval", box=box.SIMPLE_HEAD)
    table.add_column("slice", overflow="fold", max_width=14)
    for column in ("treated", "rate", "control", "rate", "uplift", "interval", "p"):
        table.add_column(column, justify="right", no_wrap=True)
    for s in result.slices:
        low, high = s.conversion.absolute_interval
        table.add_row(
            "all" if s.kind == "campaign" else s.slice,
            f"{s.treatment.members:,}",
            _rate(s.treatment.rate),
            f"{s.control.members:,}",
            _rate(s.control.rate),
            _pts(s.conversion.absolute_uplift),
            f"{_pts(low)}..{_pts(high)}",
            _p(s.conversion.p_value),
        )
    console.print(table)
    for s in result.slices:
        label = "all" if s.kind == "campaign" else s.slice
        console.print(f"{label}: {s.verdict}", highlight=False)
        if s.revenue is not None and s.revenue.difference is not None:
            low, high = s.revenue.interval
            console.print(
                f"  revenue per member {s.revenue.difference:+,.2f} "
                f"(Welch 95% interval {low or 0:+,.2f} to {high or 0:+,.2f})",
                highlight=False,
            )
        for name, estimate in (("rate", s.cuped_conversion), ("revenue", s.cuped_revenue)):
            if estimate is None or estimate.difference.difference is None:
                continue
            low, high = estimate.difference.interval
            scale, unit = (100, " pts") if name == "rate" else (1, "")
            console.print(
                f"  CUPED {name}: {estimate.difference.difference * scale:+.2f}{unit} "
                f"({(low or 0) * scale:+.2f} to {(high or 0) * scale:+.2f}); the pre-period "
                f"removed {estimate.variance_reduction:.1%} of the variance",
                highlight=False,
            )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


@campaign_app.command("measure")
def measure(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The campaign's name."),
    outcome: str = typer.Option("email_open", "--outcome", help="The outcome event type."),
    window: str = typer.Option("14 days", "--window", help="Window after the send."),
    by: list[str] = typer.Option(
        None, "--by", help="A segment, or a grid dimension (gender, age:25,45); repeatable."
    ),
    cuped: bool = typer.Option(False, "--cuped", help="Also adjust by the pre-period (CUPED)."),
    json_out: bool = _JSON,
) -> None:
    """The campaign's uplift: per group members, converters and rate; the absolute and
    relative uplift with 95% intervals and a p-value; in plain words when it cannot tell.

    Example:

      microseg campaign measure spring --outcome purchase --window "30 days" --cuped
    """
    with handled(), open_workspace(ctx) as ws:
        result = ws.activate.campaign_measure(
            name, outcome=outcome, window=window, by=by or (), cuped=cuped
        )
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    _print(result, timezone)
