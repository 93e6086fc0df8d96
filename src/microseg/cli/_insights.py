"""``microseg insights``: what segments are worth, how customers move between them, what
they buy and who resembles them (docs/insights.md). Each command is thin over
``ws.insights``."""

from __future__ import annotations

import typer

from microseg.cli._common import Group

__all__ = ["insights_app"]

insights_app = typer.Typer(
    cls=Group,
    help=(
        "Insight over segments: value, migration, overlap, affinities.\n\n"
        "Examples:\n\n"
        "  microseg insights value -w shop\n"
    ),
    no_args_is_help=True,
)
