"""``microseg activate``: audiences posted to webhook destinations, and the outbox's state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from microseg.cli._common import (
    AS_OF_HELP,
    Group,
    console,
    emit_json,
    handled,
    open_workspace,
    state,
)

if TYPE_CHECKING:
    from microseg.activate import ActivationStatus, DeliveryReport

__all__ = ["activate_app"]

activate_app = typer.Typer(
    cls=Group,
    help=(
        "Activation: push segments to webhook destinations (destinations: in microseg.yaml),\n"
        "deliver the signed batches (retried, never sent twice), see their status, resend\n"
        "the dead ones.\n\n"
        "Example:\n\n"
        "  microseg activate push vip --to crm -w shop\n"
        "  microseg activate status -w shop\n"
    ),
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON.")


def _delivery_lines(report: DeliveryReport) -> None:
    if not report.destinations:
        console.print("Nothing to deliver.")
    for d in report.destinations:
        line = f"{d.destination}: {d.delivered:,} delivered, {d.dead:,} dead"
        if d.waiting:
            line += f", {d.waiting:,} waiting (Retry-After beyond max_wait)"
        if d.retries:
            line += f" ({d.retries:,} failed attempts retried)"
        console.print(line)
    if report.dead:
        console.print("Dead batches: microseg activate status; resend: microseg activate resend")


@activate_app.command("push")
def push(
    ctx: typer.Context,
    segment: str = typer.Argument(..., help="The segment whose audience is posted."),
    to: str = typer.Option(..., "--to", help="A destination of microseg.yaml."),
    channel: str = typer.Option(None, "--channel", help="email, sms or ads."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    deliver: bool = typer.Option(
        True, "--deliver/--no-deliver", help="Post now (default), or only queue."
    ),
    json_out: bool = _JSON,
) -> None:
    """Post a segment to a webhook destination: its whole audience the first time, then
    who entered and who left since the last push there, in signed batches.

    Example:

      microseg activate push vip --to crm -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        pushed = ws.activate.push(segment, to, channel=channel, as_of=as_of)
        report = ws.activate.deliver(to) if deliver else None
    if json_out or state(ctx).json:
        emit_json({"push": pushed.to_dict(), "delivery": report and report.to_dict()})
        return
    what = (
        f"{pushed.members:,} members"
        if pushed.kind == "audience"
        else f"{pushed.entered:,} entered, {pushed.left:,} left"
    )
    batches = f"{pushed.batches:,} batch" + ("" if pushed.batches == 1 else "es")
    console.print(f"Queued {pushed.segment} for {pushed.destination}: {what}, {batches}.")
    if report is not None:
        _delivery_lines(report)


@activate_app.command("deliver")
def deliver(
    ctx: typer.Context,
    to: str = typer.Option(None, "--to", help="Only this destination."),
    json_out: bool = _JSON,
) -> None:
    """Post the pending batches that are due (queued, retried later, or resent).

    Example:

      microseg activate deliver -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        report = ws.activate.deliver(to)
    if json_out or state(ctx).json:
        emit_json(report.to_dict())
        return
    _delivery_lines(report)


@activate_app.command("status")
def status(ctx: typer.Context, json_out: bool = _JSON) -> None:
    """Per destination: batches delivered, pending and dead, and why each dead one died.

    Example:

      microseg activate status -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        result = ws.activate.status()
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    _status_tables(result)


def _status_tables(result: ActivationStatus) -> None:
    if not result.destinations:
        console.print("No destinations: add one under destinations: in microseg.yaml.")
        return
    table = Table(title="Webhook batches by destination")
    for column in (
        "destination",
        "delivered",
        "pending",
        "dead",
        "records sent",
        "last sent (UTC)",
    ):
        table.add_column(column, justify="left" if column == "destination" else "right")
    for d in result.destinations:
        last = d.last_delivered_at
        table.add_row(
            d.destination + ("" if d.configured else " (not in microseg.yaml)"),
            f"{d.delivered:,}",
            f"{d.pending:,}",
            f"{d.dead:,}",
            f"{d.delivered_records:,}",
            "" if last is None else f"{last:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    dead = [(d.destination, b) for d in result.destinations for b in d.dead_batches]
    if not dead:
        return
    letters = Table(title="Dead batches (microseg activate resend BATCH_ID | --dead)")
    for column in ("batch", "destination", "tries", "reason"):
        letters.add_column(column, overflow="fold")
    for name, batch in dead:
        letters.add_row(batch.batch_id, name, str(batch.attempts), batch.reason or "")
    console.print(letters)


@activate_app.command("resend")
def resend(
    ctx: typer.Context,
    batch_id: str = typer.Argument(None, help="A dead batch's id (microseg activate status)."),
    dead: bool = typer.Option(False, "--dead", help="Every dead batch."),
    to: str = typer.Option(None, "--to", help="With --dead: only this destination's."),
    deliver: bool = typer.Option(
        True, "--deliver/--no-deliver", help="Post now (default), or only requeue."
    ),
    json_out: bool = _JSON,
) -> None:
    """Put dead batches back in the outbox (attempts reset) and post them.

    Example:

      microseg activate resend --dead -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        result = ws.activate.resend(batch_id, dead=dead, destination=to)
        report = None
        if deliver and result.requeued:
            only = result.destinations[0] if len(result.destinations) == 1 else None
            report = ws.activate.deliver(only)
    if json_out or state(ctx).json:
        out: dict[str, Any] = {"resend": result.to_dict(), "delivery": report and report.to_dict()}
        emit_json(out)
        return
    count = len(result.requeued)
    console.print(f"Requeued {count:,} dead batch" + ("." if count == 1 else "es."))
    if report is not None:
        _delivery_lines(report)
