"""Type checking a rule tree against the workspace, before any query runs.

Every problem is collected (with its field path) and reported at once; misspelt names
of attributes, traits, segments, event types and event properties get a "did you mean".
What may be right but looks doubtful (a property no loaded event has, nothing close to a
known one) is a warning: :func:`rule_warnings` gives those, :func:`check_rule` the errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_never

from microseg.core.text import did_you_mean
from microseg.lang._clusters import listed_clusters, unknown_clusters
from microseg.lang._nodes import (
    AllRule,
    AnyRule,
    AttributeRule,
    BucketRule,
    ClusterRule,
    EventRule,
    HasRule,
    NotRule,
    Predicate,
    PropertyPredicate,
    Rule,
    ScoreRule,
    SegmentRule,
    SequenceRule,
    TraitRule,
    Window,
)
from microseg.lang._schema import EVENT_PROPERTY_TYPES, OPERATORS_BY_TYPE, Schema
from microseg.lang._walk import children, segment_references
from microseg.lang._when import is_time_text

__all__ = [
    "VALUE_TRAITS",
    "Warning_",
    "check_event_type",
    "check_property",
    "check_rule",
    "check_where",
    "check_window",
    "children",
    "find_cycle",
    "find_cycles",
    "rule_warnings",
    "segment_references",
]


class Warning_(str):
    """A checker message that is a warning: the rule may be right, but say so."""

    __slots__ = ()


#: Identities a rule may mistake for attributes, and the ``has:`` node that asks about them.
_IDENTITIES = {"email": "email", "e-mail": "email", "mail": "email", "phone": "phone"}


def _operand_values(pred: Predicate) -> list[object]:
    operand = pred.operand
    return list(operand) if isinstance(operand, list | tuple) else [operand]


def _check_predicate(pred: Predicate, kind: str, what: str, path: str) -> Iterator[tuple[str, str]]:
    op = pred.op
    allowed = OPERATORS_BY_TYPE[kind]
    if op not in allowed:
        choices = ", ".join(sorted(allowed))
        yield path, f"{op} does not apply to {what} ({kind}); use one of {choices}"
        return
    if op == "is_null":
        return
    for value in _operand_values(pred):
        if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            yield path, f"{what} is a number; {op} needs a number, got {value!r}"
        elif kind in ("date", "timestamp") and not is_time_text(value):
            yield (
                path,
                (
                    f"{what} is a {kind}; {op} needs an ISO date or a relative time such as "
                    f"'30 days ago', got {value!r}"
                ),
            )
        elif kind == "boolean" and not isinstance(value, bool):
            yield path, f"{what} is true or false; got {value!r}"
        elif kind in ("text", "list") and not isinstance(value, str):
            yield path, f"{what} is {kind}; {op} needs text, got {value!r} (quote it)"


def check_window(window: Window | None, path: str) -> Iterator[tuple[str, str]]:
    if window is None:
        return
    for label, value in (("from", window.from_), ("to", window.to), ("since", window.since)):
        if value is not None and not is_time_text(value):
            yield (
                f"{path}.window.{label}",
                (f"{value!r} is not a time: write 'today', 'N days ago' or an ISO date"),
            )


def _property_kind(pred: PropertyPredicate) -> str:
    return EVENT_PROPERTY_TYPES.get(pred.property, "json")


def check_event_type(name: str, schema: Schema, path: str) -> Iterator[tuple[str, str]]:
    if name != "any" and name not in schema.event_types:
        hint = did_you_mean(name, schema.event_types)
        if hint:  # an unseen type may be legitimate; a near-miss of a known one is a typo
            yield path, f"unknown event type {name!r}{hint}"


def check_property(name: str, schema: Schema | None, path: str) -> Iterator[tuple[str, str]]:
    """A property name that is neither an event column nor a key seen in the events: an
    error with "did you mean" when it is close to one, a warning when it is new."""
    if name in EVENT_PROPERTY_TYPES or schema is None or schema.property_keys is None:
        return
    if name in schema.property_keys:
        return
    known = sorted({*EVENT_PROPERTY_TYPES, *schema.property_keys})
    hint = did_you_mean(name, known)
    if not hint:
        lower = {k.lower(): k for k in known}
        hint = f"; did you mean {lower[name.lower()]!r}?" if name.lower() in lower else ""
    if hint:
        yield path, f"unknown property {name!r}{hint}"
    else:
        yield (
            path,
            Warning_(
                f"property {name!r} is not an event column and no loaded event has it "
                "among its properties: the test matches no event until events carry it"
            ),
        )


def check_where(
    where: list[PropertyPredicate], path: str, schema: Schema | None = None
) -> Iterator[tuple[str, str]]:
    for j, pred in enumerate(where):
        yield from check_property(pred.property, schema, f"{path}.where[{j}].property")
        yield from _check_predicate(
            pred, _property_kind(pred), f"property {pred.property}", f"{path}.where[{j}]"
        )


#: The built-in value-model traits (traits/value.yaml), known once a model is fitted.
VALUE_TRAITS = frozenset(
    {
        "p_alive",
        "expected_purchases_90d",
        "p_purchase_90d",
        "expected_spend",
        "clv_12m",
        "churn_risk",
    }
)


def check_rule(rule: Rule, schema: Schema, path: str = "rule") -> list[tuple[str, str]]:
    """All problems of ``rule`` as (field path, message)."""
    return [(p, m) for p, m in _check(rule, schema, path) if not isinstance(m, Warning_)]


def rule_warnings(rule: Rule, schema: Schema, path: str = "rule") -> list[tuple[str, str]]:
    """What in ``rule`` may be right but looks doubtful, as (field path, message)."""
    return [(p, str(m)) for p, m in _check(rule, schema, path) if isinstance(m, Warning_)]


def _check(rule: Rule, schema: Schema, path: str) -> Iterator[tuple[str, str]]:
    match rule:
        case AllRule() | AnyRule():
            label = "all" if isinstance(rule, AllRule) else "any"
            for i, child in enumerate(children(rule)):
                yield from _check(child, schema, f"{path}.{label}[{i}]")
        case NotRule():
            yield from _check(rule.not_, schema, f"{path}.not")
        case AttributeRule():
            yield from _check_attribute(rule, schema, path)
        case TraitRule():
            yield from _check_trait(rule, schema, path)
        case EventRule():
            yield from _check_event(rule, schema, path)
        case SequenceRule():
            yield from _check_sequence(rule, schema, path)
        case SegmentRule():
            if rule.segment not in schema.segments:
                hint = did_you_mean(rule.segment, schema.segments)
                yield f"{path}.segment", f"unknown segment {rule.segment!r}{hint}"
        case BucketRule():
            return  # its spec is checked when it is parsed
        case ClusterRule():
            yield from _check_cluster(rule, schema, path)
        case HasRule():
            return  # its identity type is checked when it is parsed
        case ScoreRule():
            if rule.score.model not in schema.score_models:
                hint = did_you_mean(rule.score.model, schema.score_models)
                yield (
                    f"{path}.score.model",
                    f"unknown look-alike model {rule.score.model!r}{hint} (stored by "
                    "`microseg insights lookalike SEGMENT --save NAME`)",
                )
        case _:
            assert_never(rule)


def _check_attribute(rule: AttributeRule, schema: Schema, path: str) -> Iterator[tuple[str, str]]:
    kind = schema.attributes.get(rule.attribute)
    identity = _IDENTITIES.get(rule.attribute.lower())
    if kind is None and identity is not None:
        yield (
            f"{path}.attribute",
            f"{rule.attribute!r} is an identity, not an attribute: microseg keeps e-mail "
            "addresses and phone numbers as identities to recognise customers across "
            f"channels; to ask whether a customer has one, write {{has: {identity}}}",
        )
    elif kind is None:
        hint = did_you_mean(rule.attribute, schema.attributes)
        yield f"{path}.attribute", f"unknown attribute {rule.attribute!r}{hint}"
    else:
        yield from _check_predicate(rule, kind, f"attribute {rule.attribute}", path)


def _check_trait(rule: TraitRule, schema: Schema, path: str) -> Iterator[tuple[str, str]]:
    kind = schema.traits.get(rule.trait)
    if kind is None:
        if rule.trait in VALUE_TRAITS:
            yield (
                f"{path}.trait",
                f"{rule.trait} is a value-model trait and no value model is fitted yet: "
                "run `microseg clv fit` first",
            )
        else:
            hint = did_you_mean(rule.trait, schema.traits)
            yield f"{path}.trait", f"unknown trait {rule.trait!r}{hint}"
    else:
        yield from _check_predicate(rule, kind, f"trait {rule.trait}", path)


def _check_event(rule: EventRule, schema: Schema, path: str) -> Iterator[tuple[str, str]]:
    yield from check_event_type(rule.event, schema, f"{path}.event")
    yield from check_where(rule.where, path, schema)
    yield from check_window(rule.window, path)
    name, test = rule.aggregate
    prop: str = getattr(test, "property", "")
    if prop:
        yield from check_property(prop, schema, f"{path}.{name}.property")
    if name in ("count", "distinct"):
        yield from _check_predicate(test, "number", name, f"{path}.{name}")
    else:
        kind = EVENT_PROPERTY_TYPES.get(prop, "number")
        if name in ("sum", "avg") and kind != "number":
            yield f"{path}.{name}.property", f"{name} needs a number property, {prop} is {kind}"
        else:
            yield from _check_predicate(test, kind, f"{name} of {prop}", f"{path}.{name}")


def _check_sequence(rule: SequenceRule, schema: Schema, path: str) -> Iterator[tuple[str, str]]:
    spec = rule.sequence
    yield from check_window(spec.window, f"{path}.sequence")
    for i, step in enumerate(spec.steps):
        step_path = f"{path}.sequence.steps[{i}]"
        yield from check_event_type(step.event, schema, f"{step_path}.event")
        yield from check_where(step.where, step_path, schema)
        if step.absent and i != len(spec.steps) - 1:
            yield f"{step_path}.absent", "only the last step can be absent"


def _check_cluster(rule: ClusterRule, schema: Schema, path: str) -> Iterator[tuple[str, str]]:
    run = str(rule.cluster.run)
    clusters = schema.clusters.get(run)
    if clusters is None:
        names = [k for k in schema.clusters if not k.isdigit()]
        if not names:
            yield (
                f"{path}.cluster.run",
                f"unknown discovery run {run!r}: none is stored yet; run `microseg discover run`",
            )
            return
        hint = did_you_mean(run, names) or f" (runs: {', '.join(sorted(names))})"
        yield f"{path}.cluster.run", f"unknown discovery run {run!r}{hint}"
        return
    for value in unknown_clusters(rule.cluster, clusters):
        yield (
            f"{path}.cluster.in",
            f"run {run} has no cluster {value!r}; its clusters: {listed_clusters(clusters)}",
        )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in references (name -> referenced names), as a path, or None."""
    cycles = find_cycles(graph)
    return cycles[0] if cycles else None


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle, as a path, for each group of names that refer to each other.

    The groups are the strongly connected components of the graph (a name referring to
    itself is one); each is reported once, with a cycle through its first name. Iterative:
    a chain of thousands of names costs no stack.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in graph.get(node, ()):
                    groups.append(sorted(group))
    return sorted((_cycle_in(graph, set(g), g[0]) for g in groups), key=lambda c: c[0])


def _cycle_in(graph: dict[str, set[str]], group: set[str], start: str) -> list[str]:
    """A shortest path from ``start`` back to itself inside ``group`` (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ())):
                if nxt not in group:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return [start, start]
