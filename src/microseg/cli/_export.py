"""``microseg export``: a segment's consented, reachable audience to a file, recorded."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from microseg.cli._common import (
    AS_OF_HELP,
    console,
    emit_json,
    err_console,
    fail,
    handled,
    open_workspace,
    state,
)
from microseg.cli._readable import when

__all__ = ["export"]

_REASONS = {
    "withdrawn": "withdrawn (unsubscribed)",
    "no_consent": "no consent",
    "unreachable": "not reachable",
}


def export(
    ctx: typer.Context,
    segment: str = typer.Argument(None, metavar="SEGMENT", help="The segment to export."),
    to: Path = typer.Option(None, "--to", help="The file to write (replaced atomically)."),
    format_: str = typer.Option(
        None,
        "--format",
        help="csv, parquet, jsonl (default: from the file's suffix, else csv), or the "
        "ad-platform files google-ads and meta-ads (hashed identifiers only).",
    ),
    columns: str = typer.Option(
        None, "--columns", help="Attributes and identities to add, comma-separated."
    ),
    channel: str = typer.Option(
        None,
        "--channel",
        help="Keep only members who consented to it and can be reached on it: email, sms, "
        "ads (the ad formats default to ads).",
    ),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    delta: bool = typer.Option(
        False,
        "--delta",
        help="Write who entered and who left since the last export of the segment to the "
        "same file (a change column).",
    ),
    ignore_consent: bool = typer.Option(
        False,
        "--ignore-consent",
        help="Keep members without consent to the channel (recorded as such).",
    ),
    list_: bool = typer.Option(False, "--list", help="List the exports log, newest first."),
    json_out: bool = typer.Option(False, "--json", help="Print the export's record as JSON."),
) -> None:
    """Export a segment's audience to a file, stamped and recorded in the workspace.

    With --channel only members who consented to the channel and have its identifier
    are written, and the command says how many were left out and why.

    Examples:

      microseg export vip --to vip.csv --channel email -w shop
      microseg export vip --to vip-ads.csv --format google-ads -w shop
      microseg export vip --to vip.csv --channel email --delta -w shop
      microseg export --list -w shop
    """
    as_json = json_out or state(ctx).json
    if list_:
        _list(ctx, segment, as_json)
        return
    if segment is None or to is None:
        raise fail("give a SEGMENT and --to FILE (or --list to see the exports log)", 2)
    chosen = [c.strip() for c in (columns or "").split(",") if c.strip()]
    with handled(), open_workspace(ctx) as ws:
        record = ws.activate.export(
            segment,
            to=to,
            format=format_,
            columns=chosen,
            channel=channel,
            as_of=as_of,
            delta=delta,
            ignore_consent=ignore_consent,
        )
        timezone = ws.config.timezone
    if as_json:
        emit_json(record.to_dict())
        return
    _show(record.to_dict(), timezone)


def _show(record: dict[str, Any], timezone: str) -> None:
    as_of = when(datetime.fromisoformat(record["as_of"].replace("Z", "+00:00")), timezone)
    what = (
        f"delta ({record['entered']} entered, {record['exited']} left)"
        if record["delta"]
        else "full"
    )
    console.print(
        f"export {record['export_id']}: {record['rows']:,} rows ({what}) of "
        f"{record['segment']} (version {record['version']}, as of {as_of}) "
        f"to {record['destination']} ({record['format']})",
        highlight=False,
        soft_wrap=True,
    )
    if record["channel"] is not None:
        console.print(
            f"channel {record['channel']}: {record['members']:,} of "
            f"{record['candidates']:,} members kept",
            highlight=False,
        )
        for reason, count in record["excluded"].items():
            if not record["consent_ignored"] or reason == "unreachable":
                console.print(f"  left out, {_REASONS[reason]}: {count:,}", highlight=False)
    if record["consent_ignored"]:
        err_console.print(
            f"[yellow]warning:[/] consent ignored (--ignore-consent): "
            f"{record['included_without_consent']:,} members without consent included; "
            "recorded in the exports log",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"members sha256 {record['members_sha256']}", highlight=False)
    console.print(f"stamp: {record['stamp']}", highlight=False, soft_wrap=True)


def _day(instant: str, timezone: str) -> str:
    """The local day an ``as_of`` ends (an instant at midnight ends the day before)."""
    local = datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZoneInfo(timezone))
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        local -= timedelta(days=1)
    return f"{local:%Y-%m-%d}"


def _list(ctx: typer.Context, segment: str | None, as_json: bool) -> None:
    with handled(), open_workspace(ctx) as ws:
        records = [r.to_dict() for r in ws.activate.exports(segment)]
        timezone = ws.config.timezone
    if as_json:
        emit_json({"exports": records})
        return
    if not records:
        console.print("No exports yet: microseg export SEGMENT --to FILE")
        return
    table = Table(title=f"exports, newest first (as of: local day, {timezone})")
    for column in ("id", "segment", "as of", "channel", "format", "rows", "out"):
        table.add_column(column, justify="right" if column in ("id", "rows", "out") else "left")
    for r in records:
        flags = ("Δ" if r["delta"] else "") + ("!" if r["consent_ignored"] else "")
        table.add_row(
            f"{r['export_id']}{flags}",
            r["segment"],
            _day(r["as_of"], timezone),
            r["channel"] or "-",
            r["format"],
            f"{r['rows']:,}",
            f"{sum(r['excluded'].values()):,}",
        )
    console.print(table)
    console.print(
        "Δ delta export; ! consent ignored; out: members left out by consent or reach "
        "(files: --json)"
    )
