"""The layering grid: every combination of chosen dimensions, with size, share and value.

Micro-segmentation made visible: pick dimensions (attributes, bands of a numeric
attribute, list values, segment memberships), see every cell, hide cells too small to act
on or to protect anonymity, and save any cell as a segment definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

import ibis
import ibis.expr.types as ir

from microseg.core.results import Instant, Result
from microseg.core.text import did_you_mean
from microseg.lang import Problem, RuleError, Schema, SegmentDefinition, parse_definition
from microseg.lang.batch import BatchCompiler
from microseg.profile import BatchInputs
from microseg.segments._catalog import SegmentCatalog

__all__ = [
    "Dimension",
    "Grid",
    "GridCell",
    "GridResult",
    "build_grid",
    "grid_cells",
    "parse_dimension",
]

MISSING = "(missing)"
_DIM = re.compile(r"^(segment:|attribute:|trait:)?([A-Za-z0-9_-]+)(?::([-0-9.,]+)|=(.+))?$")


@dataclass(frozen=True)
class Dimension:
    """``gender`` (values), ``age:18,25,35`` (bands), ``interests=travel``, ``segment:NAME``.

    ``attribute:NAME`` and ``trait:NAME`` say which is meant; a bare name is the trait when
    there is one (definitions win over data), else the attribute (docs/traits.md).
    """

    text: str
    kind: str  # value | bands | contains | segment
    name: str
    edges: tuple[float, ...] = ()
    value: str | None = None
    source: str = "attribute"  # attribute | trait

    @property
    def label(self) -> str:
        return self.text


def parse_dimension(text: str, schema: Schema, segments: set[str]) -> Dimension:
    match = _DIM.match(text.strip())
    if not match:
        raise RuleError(
            [
                Problem(
                    text,
                    "write NAME, NAME:EDGE,EDGE,..., NAME=VALUE, segment:NAME, "
                    "attribute:NAME or trait:NAME",
                )
            ]
        )
    prefix, name, edges, value = match.groups()
    if prefix == "segment:":
        if name not in segments:
            raise RuleError([Problem(text, f"unknown segment {name!r}")])
        return Dimension(text, "segment", name)
    source, kind = _source(name, schema, prefix)
    if kind is None:
        known = {"attribute:": schema.attributes, "trait:": schema.traits}.get(prefix or "")
        names = list(known) if known is not None else [*schema.attributes, *schema.traits]
        what = (prefix or "attribute or trait:").removesuffix(":")
        raise RuleError([Problem(text, f"unknown {what} {name!r}{did_you_mean(name, names)}")])
    if edges:
        if kind != "number":
            raise RuleError([Problem(text, f"bands need a number attribute; {name} is {kind}")])
        return Dimension(text, "bands", name, edges=_edges(text, edges), source=source)
    if value is not None:
        if kind not in ("list", "text"):
            raise RuleError(
                [Problem(text, f"NAME=VALUE needs a text or list attribute; {name} is {kind}")]
            )
        return Dimension(text, "contains", name, value=value, source=source)
    if kind in ("number", "date", "timestamp"):
        raise RuleError([Problem(text, f"{name} is a {kind}: give bands, e.g. {name}:18,25,35,50")])
    if kind == "list":
        raise RuleError([Problem(text, f"{name} is a list: pick a value, e.g. {name}=travel")])
    return Dimension(text, "value", name, source=source)


def _edges(text: str, edges: str) -> tuple[float, ...]:
    """The band edges of ``age:18,25,35``, sorted; a problem naming one that is no number."""
    cuts: list[float] = []
    for edge in (e for e in edges.split(",") if e):
        try:
            cuts.append(float(edge))
        except ValueError:
            raise RuleError(
                [Problem(text, f"band edge {edge!r} is not a number, e.g. age:18,25,35")]
            ) from None
    if not cuts:
        raise RuleError([Problem(text, "give at least one band edge, e.g. age:18,25,35")])
    return tuple(sorted(cuts))


def _source(name: str, schema: Schema, prefix: str | None) -> tuple[str, str | None]:
    """Where a dimension's values come from, and their type: the trait first, for a bare
    name that is both (the one precedence rule of docs/traits.md)."""
    if prefix != "attribute:" and name in schema.traits:
        return "trait", schema.traits[name]
    if prefix != "trait:":
        return "attribute", schema.attributes.get(name)
    return "trait", None


def _number(edge: float) -> str:
    return str(int(edge)) if edge.is_integer() else str(edge)


def _band_labels(edges: tuple[float, ...]) -> list[str]:
    labels = [f"< {_number(edges[0])}"]
    labels += [f"{_number(a)}-{_number(b)}" for a, b in pairwise(edges)]
    labels.append(f">= {_number(edges[-1])}")
    return labels


class GridCell(Result):
    """One combination of dimension values: its customers, their share, revenue and value."""

    values: dict[str, str]
    size: int
    share: float
    revenue: float
    clv_12m: float | None = None  # summed over the cell's buyers, once a value model exists

    def rule(self, dimensions: list[Dimension]) -> dict[str, Any]:
        """The cell as a rule in the language (all of one predicate per dimension)."""
        parts: list[dict[str, Any]] = []
        for dim in dimensions:
            value = self.values[dim.label]
            if dim.kind == "segment":
                seg = {"segment": dim.name}
                parts.append(seg if value == "in" else {"not": seg})
            elif dim.kind == "contains":
                pred = {dim.source: dim.name, "contains": dim.value}
                parts.append(pred if value == "yes" else {"not": pred})
            elif value == MISSING:
                parts.append({dim.source: dim.name, "is_null": True})
            elif dim.kind == "bands":
                index = _band_labels(dim.edges).index(value)
                if index > 0:
                    parts.append({dim.source: dim.name, "gte": dim.edges[index - 1]})
                if index < len(dim.edges):
                    parts.append({dim.source: dim.name, "lt": dim.edges[index]})
            else:
                typed: Any = {"true": True, "false": False}.get(value, value)
                parts.append({dim.source: dim.name, "eq": typed})
        return parts[0] if len(parts) == 1 else {"all": parts}


@dataclass(frozen=True)
class Grid:
    as_of: datetime
    customers: int
    dimensions: list[Dimension]
    cells: list[GridCell]
    min_size: int
    hidden_cells: int
    hidden_customers: int
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_result(self) -> GridResult:
        """What a front end shows of the grid (``--json``, the API)."""
        return GridResult(
            as_of=self.as_of,
            customers=self.customers,
            dimensions=[d.label for d in self.dimensions],
            min_size=self.min_size,
            hidden_cells=self.hidden_cells,
            hidden_customers=self.hidden_customers,
            cells=self.cells,
            warnings=list(self.warnings),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_result().to_dict()

    def definition(self, index: int, name: str, title: str | None = None) -> SegmentDefinition:
        """Cell ``index`` (0-based, as listed) as a segment definition to save."""
        cell = self.cells[index]
        words = ", ".join(f"{k} {v}" for k, v in cell.values.items())
        return parse_definition(
            {"name": name, "title": title or words, "rule": cell.rule(self.dimensions)}
        )


def _column(
    dim: Dimension, table: ir.Table, seg: dict[str, Any], traits: dict[str, Any]
) -> ir.StringValue:
    if dim.kind == "segment":
        return seg[dim.name](table).ifelse("in", "out")
    column = traits[dim.name](table) if dim.source == "trait" else table[dim.name]
    if dim.kind == "contains":
        if dim.value is None:  # parse_dimension gives every contains dimension a value
            raise RuntimeError("contains dimension without a value")
        lowered = dim.value.lower()
        if column.type().is_array():
            hit = column.map(lambda x: x.lower()).contains(lowered)
        else:
            hit = column.lower().contains(lowered)
        return hit.fill_null(False).ifelse("yes", "no")
    if dim.kind == "bands":
        labels = _band_labels(dim.edges)
        cases = [(column < dim.edges[0], labels[0])]
        for i in range(1, len(dim.edges)):
            cases.append((column < dim.edges[i], labels[i]))
        banded = ibis.cases(*cases, else_=labels[-1])
        return column.isnull().ifelse(MISSING, banded)
    return column.cast("string").fill_null(MISSING)


#: The value a grid sums per cell once a value model is fitted (docs/value.md).
VALUE_TRAIT = "clv_12m"


def _labelled(
    catalog: SegmentCatalog,
    dimensions: list[Dimension],
    inputs: BatchInputs,
    *,
    trait_definition: Any = None,
    cuts: dict[str, list[float]] | None = None,
    value: bool = False,
) -> ir.Table:
    """Every customer with ``_d0``, ``_d1``... (their value of each dimension), net
    ``_revenue`` before as_of, and ``_clv`` with ``value``."""
    clock, customers, events = inputs.clock, inputs.customers, inputs.events
    attribute_types = inputs.attribute_types
    compiler = BatchCompiler(
        customers,
        inputs.events,
        clock,
        attribute_types=attribute_types,
        segment_rule=catalog.full_rule,
        trait_definition=trait_definition,
        cuts=cuts,
        clusters=inputs.clusters,
        identities=inputs.identities,
        scores=inputs.scores,
    )
    seg = {d.name: compiler.segment(d.name) for d in dimensions if d.kind == "segment"}
    trait_columns = {d.name: compiler.trait(d.name) for d in dimensions if d.source == "trait"}
    clv = compiler.trait(VALUE_TRAIT) if value else None
    table = compiler.table()
    before = events.filter(events.timestamp < ibis.literal(clock.as_of))
    signed = before.type.cases(
        ("purchase", 1.0), ("return", -1.0), else_=0.0
    ) * before.amount.fill_null(0).cast("float64")
    revenue = before.group_by("customer_id").aggregate(revenue=signed.sum())
    table = table.left_join(revenue, "customer_id").drop("customer_id_right")
    return table.mutate(
        **{f"_d{i}": _column(d, table, seg, trait_columns) for i, d in enumerate(dimensions)},
        _revenue=table.revenue.fill_null(0.0),
        **({"_clv": clv(table)} if clv is not None else {}),
    )


def grid_cells(
    catalog: SegmentCatalog,
    dimensions: list[Dimension],
    inputs: BatchInputs,
    *,
    trait_definition: Any = None,
    cuts: dict[str, list[float]] | None = None,
) -> ir.Table:
    """Every customer's grid cell: ``customer_id`` and ``cell``, the cell's values as the
    grid lists them (``gender F, age 18-35, segment:vip in``)."""
    labelled = _labelled(catalog, dimensions, inputs, trait_definition=trait_definition, cuts=cuts)
    parts: list[ir.StringValue] = []
    for i, dim in enumerate(dimensions):
        if parts:
            parts.append(ibis.literal(", "))
        name = dim.name if dim.kind in ("value", "bands") else dim.text
        parts.extend([ibis.literal(f"{name} "), labelled[f"_d{i}"]])
    cell = parts[0]
    for part in parts[1:]:
        cell = cell + part
    return labelled.select("customer_id", cell=cell)


def build_grid(
    catalog: SegmentCatalog,
    dimensions: list[Dimension],
    inputs: BatchInputs,
    *,
    min_size: int = 50,
    trait_definition: Any = None,
    cuts: dict[str, list[float]] | None = None,
    value: bool = False,
) -> Grid:
    clock = inputs.clock
    labelled = _labelled(
        catalog, dimensions, inputs, trait_definition=trait_definition, cuts=cuts, value=value
    )
    keys = [f"_d{i}" for i in range(len(dimensions))]
    sums = {"clv_12m": labelled._clv.sum()} if value else {}
    counts = labelled.group_by(keys).aggregate(
        size=labelled.count(), revenue=labelled._revenue.sum(), **sums
    )
    rows = counts.order_by([ibis.desc("size"), *keys]).to_pyarrow().to_pylist()
    total = sum(int(r["size"]) for r in rows)
    shown = [r for r in rows if int(r["size"]) >= min_size]
    hidden = [r for r in rows if int(r["size"]) < min_size]
    cells = [
        GridCell(
            values={d.label: str(r[k]) for d, k in zip(dimensions, keys, strict=True)},
            size=int(r["size"]),
            share=round(int(r["size"]) / total, 4) if total else 0.0,
            revenue=round(float(r["revenue"] or 0.0), 2),
            clv_12m=round(float(r["clv_12m"] or 0.0), 2) if value else None,
        )
        for r in shown
    ]
    return Grid(
        as_of=clock.as_of,
        customers=total,
        dimensions=dimensions,
        cells=cells,
        min_size=min_size,
        hidden_cells=len(hidden),
        hidden_customers=sum(int(r["size"]) for r in hidden),
    )


class GridResult(Result):
    """A grid as shown: the dimensions, the cells large enough to show, what was hidden."""

    as_of: Instant
    customers: int
    dimensions: list[str]
    min_size: int
    hidden_cells: int
    hidden_customers: int
    cells: list[GridCell]
    warnings: list[str]
