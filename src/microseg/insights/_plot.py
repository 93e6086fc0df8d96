"""A migration as one self-contained Plotly page: the Sankey diagram of the flows between
consecutive snapshots above the stacked area of each state's size over time. plotly.js is
embedded in the page (no CDN), so it opens offline."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from microseg.insights._migration import Migration

__all__ = ["migration_figure", "migration_html"]


def _day(moment_text: str, timezone: str) -> str:
    from datetime import datetime, timedelta

    moment = datetime.fromisoformat(moment_text.replace("Z", "+00:00"))
    local = moment.astimezone(ZoneInfo(timezone))
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M}"


def _faded(colour: str) -> str:
    """A ``#rrggbb`` colour at 35 % opacity (a Sankey link under its source's colour)."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},0.35)"


def migration_html(result: Migration, *, timezone: str = "UTC", title: str | None = None) -> str:
    """The page's HTML (a few MB: plotly.js is inside)."""
    figure = migration_figure(result, timezone=timezone, title=title)
    html: str = figure.to_html(include_plotlyjs=True, full_html=True)
    return html


def migration_figure(result: Migration, *, timezone: str = "UTC", title: str | None = None) -> Any:
    """The Plotly figure of :func:`migration_html` (``figure.show()``, or an image with
    ``figure.write_image`` where kaleido is installed)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    data = result.to_dict()
    days = [_day(d, timezone) for d in data["dates"]]
    day_of = dict(zip(data["dates"], days, strict=True))
    figure = make_subplots(
        rows=2,
        cols=1,
        specs=[[{"type": "domain"}], [{"type": "xy"}]],
        row_heights=[0.6, 0.4],
        vertical_spacing=0.08,
        subplot_titles=("flows between snapshots", "customers per state"),
    )
    nodes = data["nodes"]
    palette = qualitative.Plotly + qualitative.D3
    colour = {state: palette[i % len(palette)] for i, state in enumerate(data["states"])}
    ends = {data["dates"][0], data["dates"][-1]}
    figure.add_trace(
        go.Sankey(
            arrangement="snap",
            node={
                # names on the first and last columns only; every node says itself on hover
                "label": [n["state"] if n["as_of"] in ends else "" for n in nodes],
                "customdata": [f"{n['state']} ({day_of[n['as_of']]})" for n in nodes],
                "hovertemplate": "%{customdata}: %{value} customers<extra></extra>",
                "color": [colour[n["state"]] for n in nodes],
                "pad": 10,
            },
            link={
                "source": [link["source"] for link in data["links"]],
                "target": [link["target"] for link in data["links"]],
                "value": [link["customers"] for link in data["links"]],
                "color": [_faded(colour[nodes[link["source"]]["state"]]) for link in data["links"]],
                "customdata": [link["revenue"] for link in data["links"]],
                "hovertemplate": "%{value} customers, revenue %{customdata:,.2f}<extra></extra>",
            },
        ),
        row=1,
        col=1,
    )
    sizes = {(s["as_of"], s["state"]): s["customers"] for s in data["sizes"]}
    for state in data["states"]:
        figure.add_trace(
            go.Scatter(
                x=days,
                y=[sizes.get((d, state), 0) for d in data["dates"]],
                name=state,
                stackgroup="sizes",
                mode="lines",
                line={"color": colour[state]},
            ),
            row=2,
            col=1,
        )
    heading = title or f"Migration between {data['basis']} states, {days[0]} to {days[-1]}"
    figure.update_layout(title=heading, height=900, template="plotly_white")
    return figure
