"""The ``microseg`` command line: thin over :class:`microseg.Workspace`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from microseg.cli import (
    _attributes,
    _campaigns,
    _data,
    _discover,
    _erasure,
    _export,
    _govern,
    _identity,
    _insights,
    _segments,
    _serve,
    _shop,
    _traits,
    _value,
    _webhooks,
)
from microseg.cli._common import GuardedGroup, State

__all__ = ["app", "main"]

app = typer.Typer(
    name="microseg",
    help=(
        "Customer segmentation and micro-segmentation engine.\n\n"
        "Examples:\n\n"
        "  microseg demo\n"
        "  microseg init shop --timezone Europe/Paris\n"
        "  microseg ingest customers crm.csv -w shop\n"
        "  microseg status -w shop\n"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=GuardedGroup,
)


@app.callback()
def _root(
    ctx: typer.Context,
    workspace: Path = typer.Option(
        None,
        "--workspace",
        "-w",
        metavar="PATH",
        envvar="MICROSEG_WORKSPACE",
        help="Workspace folder (default: the current folder).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON for every command."),
    debug: bool = typer.Option(
        False,
        "--debug",
        envvar="MICROSEG_DEBUG",
        help="Show the full traceback of an internal error (a bug in microseg).",
    ),
) -> None:
    ctx.obj = State(workspace=workspace, json=json_out, debug=debug)


app.command()(_data.init)
app.command()(_shop.synth)
app.command()(_data.ingest)
app.command()(_data.status)
app.command()(_data.rejects)
app.command()(_shop.demo)
app.command()(_segments.profile)
app.add_typer(_segments.segment_app, name="segment")
app.add_typer(_traits.traits_app, name="traits")
app.add_typer(_value.clv_app, name="clv")
app.add_typer(_discover.discover_app, name="discover")
app.add_typer(_insights.insights_app, name="insights")
app.command()(_insights.recommend)
app.add_typer(_attributes.attributes_app, name="attributes")
app.add_typer(_identity.identity_app, name="identity")
app.command()(_serve.serve)
app.add_typer(_serve.keys_app, name="keys")
app.command()(_export.export)
app.add_typer(_webhooks.activate_app, name="activate")
app.command()(_govern.audit)
app.command()(_govern.quality)
app.add_typer(_erasure.retention_app, name="retention")
app.command()(_erasure.forget)
app.add_typer(_campaigns.campaign_app, name="campaign")


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # `microseg ... | head` stopped reading: not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None
