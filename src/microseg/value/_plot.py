"""The two standard backtest plots as one self-contained SVG (no plotting library).

Left: repeat purchases per week, actual against the model, with the end of calibration
marked. Right: mean holdout purchases by number of calibration repeat purchases, actual
against the model and the naive baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from microseg.value._backtest import Backtest

__all__ = ["backtest_svg"]

WIDTH, HEIGHT = 980, 380
PANEL_W, PANEL_H = 400, 260
COLOURS = {"actual": "#222222", "model": "#d62728", "naive": "#7f7f7f"}


def _ticks(top: float) -> list[float]:
    """About five round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / 5
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 6))
    return ticks


class _Panel:
    def __init__(self, left: float, top: float, xs: int, ymax: float) -> None:
        self.left, self.top, self.xs = left, top, max(xs, 2)
        self.yticks = _ticks(ymax)
        self.ymax = self.yticks[-1]
        self.parts: list[str] = []

    def x(self, i: float) -> float:
        return self.left + PANEL_W * i / (self.xs - 1)

    def y(self, v: float) -> float:
        return self.top + PANEL_H * (1 - v / self.ymax)

    def frame(self, title: str, xlabel: str, ylabel: str) -> None:
        p, left, top = self.parts, self.left, self.top
        p.append(
            f'<text x="{left + PANEL_W / 2}" y="{top - 14}" text-anchor="middle" '
            f'font-weight="bold">{escape(title)}</text>'
        )
        for v in self.yticks:
            y = self.y(v)
            p.append(
                f'<line x1="{left}" x2="{left + PANEL_W}" y1="{y:.1f}" y2="{y:.1f}" '
                'stroke="#e5e5e5"/>'
            )
            label = f"{v:g}"
            p.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        p.append(
            f'<rect x="{left}" y="{top}" width="{PANEL_W}" height="{PANEL_H}" fill="none" '
            'stroke="#999"/>'
        )
        p.append(
            f'<text x="{left + PANEL_W / 2}" y="{top + PANEL_H + 36}" '
            f'text-anchor="middle">{escape(xlabel)}</text>'
        )
        p.append(
            f'<text transform="translate({left - 42},{top + PANEL_H / 2}) rotate(-90)" '
            f'text-anchor="middle">{escape(ylabel)}</text>'
        )

    def line(self, values: Sequence[float], colour: str, dash: str = "") -> None:
        points = " ".join(f"{self.x(i):.1f},{self.y(v):.1f}" for i, v in enumerate(values))
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.8"{extra}/>'
        )

    def xlabels(self, labels: Sequence[str], every: int = 1) -> None:
        for i, label in enumerate(labels):
            if i % every == 0 and (every == 1 or len(labels) - i > every // 2):
                self.parts.append(
                    f'<text x="{self.x(i):.1f}" y="{self.top + PANEL_H + 16}" '
                    f'text-anchor="middle">{escape(label)}</text>'
                )


def _legend(x: float, y: float, items: Sequence[tuple[str, str, str]]) -> str:
    parts = []
    for k, (label, colour, dash) in enumerate(items):
        yy = y + 16 * k
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{x}" x2="{x + 22}" y1="{yy}" y2="{yy}" stroke="{colour}" '
            f'stroke-width="2"{extra}/>'
        )
        parts.append(f'<text x="{x + 28}" y="{yy + 4}">{escape(label)}</text>')
    return "".join(parts)


def backtest_svg(result: Backtest) -> str:
    """An SVG document with the weekly tracking and the conditional expectations plots."""
    weeks = result.tracking
    actual = [float(w["actual"]) for w in weeks]
    expected = [float(w["expected"]) for w in weeks]
    left = _Panel(70, 50, len(weeks), max([*actual, *expected, 1.0]))
    left.frame("Repeat purchases per week", "week starting", "repeat purchase days")
    cut = sum(1 for w in weeks if w["period"] == "calibration") - 0.5
    left.parts.append(
        f'<line x1="{left.x(cut):.1f}" x2="{left.x(cut):.1f}" y1="{left.top}" '
        f'y2="{left.top + PANEL_H}" stroke="#555" stroke-dasharray="3 3"/>'
        f'<text x="{left.x(cut) + 4:.1f}" y="{left.top + 14}">holdout</text>'
    )
    left.line(actual, COLOURS["actual"])
    left.line(expected, COLOURS["model"], "6 3")
    left.xlabels([str(w["start"]) for w in weeks], every=max(1, len(weeks) // 4))

    rows = result.by_frequency
    series = {k: [float(r[k]) for r in rows] for k in ("actual", "predicted", "naive")}
    top = max([v for values in series.values() for v in values] + [1.0])
    right = _Panel(560, 50, len(rows), top)
    right.frame(
        "Holdout purchases by calibration frequency",
        "repeat purchases in calibration",
        "mean repeat purchases in holdout",
    )
    right.line(series["actual"], COLOURS["actual"])
    right.line(series["predicted"], COLOURS["model"], "6 3")
    right.line(series["naive"], COLOURS["naive"], "2 3")
    right.xlabels([str(r["frequency"]) for r in rows])

    legend = _legend(
        80,
        HEIGHT - 16 - 16 * 2,
        [
            ("actual", COLOURS["actual"], ""),
            (f"{result.fit.model} model", COLOURS["model"], "6 3"),
            ("naive: calibration rate", COLOURS["naive"], "2 3"),
        ],
    )
    title = (
        f"Backtest: calibration through {result.calibration_end}, holdout through "
        f"{result.holdout_end}; {result.customers:,} customers; holdout total actual "
        f"{result.total_actual:,.0f}, model {result.total_predicted:,.0f}, naive "
        f"{result.total_naive:,.0f}"
    )
    body = "".join(left.parts + right.parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + 40}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT + 40}" font-family="sans-serif" font-size="11">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="12">{escape(title)}</text>'
        f"{body}"
        f'<g transform="translate(0, 40)">{legend}</g>'
        "</svg>\n"
    )
