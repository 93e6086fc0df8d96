"""Why a customer is in or out of a segment: the per-profile evaluation, node by node."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, assert_never

from microseg.lang._dialect import bucket_of
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
from microseg.lang._walk import children
from microseg.lang.profile import ProfileEvaluator

__all__ = ["Explanation", "explain"]


@dataclass(frozen=True)
class Explanation:
    """One node: its path, whether it held, what decided it, and its children."""

    path: str
    holds: bool
    text: str
    children: list[Explanation] = field(default_factory=list)
    #: for an attribute with no value at the instant, why: ``{"attribute", "reason"}``
    #: with reason ``never_loaded`` (no version of the customer has it) or
    #: ``not_yet_valid`` (then ``valid_from``, ISO 8601 UTC, when it becomes valid)
    missing: dict[str, str] | None = None
    #: the rule node explained, and the value that decided a leaf (an attribute's, a
    #: trait's, an event aggregate's): what a front end needs to say it in its own words
    node: Rule | None = field(default=None, compare=False)
    value: Any = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "path": self.path,
            "holds": self.holds,
            "text": self.text,
            "children": [c.to_dict() for c in self.children],
        }
        if self.missing is not None:
            found["missing"] = dict(self.missing)
        return found

    def decisive(self) -> list[Explanation]:
        """The leaves that decided the outcome (failing parts of an all, passing of an any)."""
        if not self.children:
            return [self]
        chosen = [c for c in self.children if c.holds == self.holds] or self.children
        return [leaf for c in chosen for leaf in c.decisive()]

    def lines(self, depth: int = 0) -> list[str]:
        mark = "✓" if self.holds else "✗"
        out = [f"{'  ' * depth}{mark} {self.path}: {self.text}"]
        for child in self.children:
            out.extend(child.lines(depth + 1))
        return out


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return "missing"
    return repr(value) if isinstance(value, str) else str(value)


def _test(pred: Predicate) -> str:
    operand = pred.operand
    if pred.op == "between":
        return f"between {_show(operand[0])} and {_show(operand[1])}"
    if pred.op == "is_null":
        return "is missing" if operand else "is present"
    if isinstance(operand, list):
        return f"{pred.op} [{', '.join(_show(o) for o in operand)}]"
    return f"{pred.op} {_show(operand)}"


def _window(window: Window | None) -> str:
    if window is None:
        return ""
    if window.last:
        return f" in the last {window.last}"
    if window.since is not None:
        return f" since {window.since}"
    return f" from {window.from_ or 'the start'} to {window.to or 'as_of'}"


def _where(where: list[PropertyPredicate]) -> str:
    if not where:
        return ""
    return " where " + " and ".join(f"{p.property} {_test(p)}" for p in where)


def explain(evaluator: ProfileEvaluator, rule: Rule, path: str = "rule") -> Explanation:
    """Explain ``rule`` for the evaluator's profile; ``holds`` always equals the evaluation.

    Each node carries its rule (``node``) and, for a leaf, the value that decided it.
    """
    return replace(
        _explain(evaluator, rule, path), node=rule, value=_deciding_value(evaluator, rule)
    )


def _deciding_value(evaluator: ProfileEvaluator, rule: Rule) -> Any:
    if isinstance(rule, AttributeRule):
        return evaluator.profile.attributes.get(rule.attribute)
    if isinstance(rule, TraitRule):
        return evaluator.trait(rule.trait)
    if isinstance(rule, EventRule):
        return evaluator.event_value(rule)[0]
    return None


def _explain(evaluator: ProfileEvaluator, rule: Rule, path: str) -> Explanation:
    holds = evaluator.holds(rule)
    match rule:
        case AllRule() | AnyRule():
            label = "all" if isinstance(rule, AllRule) else "any"
            kids = [
                explain(evaluator, r, f"{path}.{label}[{i}]") for i, r in enumerate(children(rule))
            ]
            held = sum(k.holds for k in kids)
            return Explanation(path, holds, f"{held} of {len(kids)} hold ({label} needed)", kids)
        case NotRule():
            kid = explain(evaluator, rule.not_, f"{path}.not")
            return Explanation(path, holds, "not: the rule below must not hold", [kid])
        case AttributeRule():
            missing = _missing(evaluator, rule.attribute)
            text = _attribute_text(evaluator, rule, holds, missing)
            return Explanation(path, holds, text, missing=missing)
        case TraitRule():
            value = evaluator.trait(rule.trait)
            verb = "is" if holds else "is not"
            return Explanation(path, holds, f"{rule.trait} = {_show(value)} {verb} {_test(rule)}")
        case EventRule():
            return Explanation(path, holds, _event_text(evaluator, rule, holds))
        case SequenceRule():
            return Explanation(path, holds, _sequence_text(rule, holds))
        case SegmentRule():
            return Explanation(path, holds, f"{'in' if holds else 'not in'} segment {rule.segment}")
        case BucketRule():
            spec = rule.bucket
            bucket = bucket_of(evaluator.profile.customer_id, spec.salt)
            inside = "is" if holds else "is not"
            return Explanation(
                path, holds, f"bucket {bucket} {inside} in [{spec.from_}, {spec.to})"
            )
        case ClusterRule():
            return Explanation(path, holds, _cluster_text(evaluator, rule, holds))
        case HasRule():
            what = {"email": "e-mail address", "phone": "phone number"}[rule.has]
            text = f"has {'an' if what[0] == 'e' else 'a'} {what}" if holds else f"has no {what}"
            return Explanation(path, holds, f"the customer {text} ({rule.has} identity)")
        case ScoreRule():
            _, score = evaluator.score_of(rule.score.model)
            return Explanation(path, holds, _score_text(rule, score, holds), value=score)
        case _:
            assert_never(rule)


def _missing(evaluator: ProfileEvaluator, attribute: str) -> dict[str, str] | None:
    """Why ``attribute`` has no value for the profile (None when it has one)."""
    profile = evaluator.profile
    if profile.attributes.get(attribute) is not None:
        return None
    since = profile.pending.get(attribute)
    if since is None:
        return {"attribute": attribute, "reason": "never_loaded"}
    stamp = since.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    return {"attribute": attribute, "reason": "not_yet_valid", "valid_from": stamp}


def _attribute_text(
    evaluator: ProfileEvaluator, rule: AttributeRule, holds: bool, missing: dict[str, str] | None
) -> str:
    value = evaluator.profile.attributes.get(rule.attribute)
    if missing is not None and rule.op != "is_null":
        if missing["reason"] == "never_loaded":
            why = "never loaded for this customer"
        else:
            since = evaluator.profile.pending[rule.attribute]
            why = f"not yet valid at {_show(evaluator.clock.as_of)}: valid from {_show(since)}"
        return f"{rule.attribute} is missing ({why}), so {_test(rule)} is false"
    verb = "is" if holds else "is not"
    return f"{rule.attribute} = {_show(value)} {verb} {_test(rule)}"


def _sequence_text(rule: SequenceRule, holds: bool) -> str:
    steps = " then ".join(
        f"{'no ' if s.absent else ''}{s.event}{_where(s.where)}"
        + (f" within {s.within}" if s.within else "")
        for s in rule.sequence.steps
    )
    found = "happened" if holds else "did not happen"
    return f"sequence {steps}{_window(rule.sequence.window)} {found}"


def _cluster_text(evaluator: ProfileEvaluator, rule: ClusterRule, holds: bool) -> str:
    source, cluster = evaluator.cluster_of(rule.cluster.run)
    name = source.clusters.get(cluster, "unknown")
    listed = ", ".join(str(v) for v in rule.cluster.in_)
    inside = "is" if holds else "is not"
    return f"cluster {cluster} ({name}) of run {source.name} {inside} in [{listed}]"


_SCORE_WORDS = {"gt": "above", "gte": "at least", "lt": "below", "lte": "at most"}


def _score_text(rule: ScoreRule, score: float | None, holds: bool) -> str:
    spec = rule.score
    if spec.op == "between":
        low, high = spec.operand
        threshold = f"between {_show(low)} and {_show(high)}"
    else:
        threshold = f"{_SCORE_WORDS[spec.op]} {_show(spec.operand)}"
    shown = "missing" if score is None else f"{score:.3f}"
    verb = "is" if holds else "is not"
    return f"look-alike score {shown} by model {spec.model} {verb} {threshold}"


def _event_text(evaluator: ProfileEvaluator, rule: EventRule, holds: bool) -> str:
    value, _ = evaluator.event_value(rule)
    name, test = rule.aggregate
    what = f"{rule.event} events{_where(rule.where)}{_window(rule.window)}"
    prop = getattr(test, "property", None)
    subject = f"count of {what}" if name == "count" else f"{name} of {prop} over {what}"
    verb = "is" if holds else "is not"
    return f"{subject} = {_show(value)} {verb} {_test(test)}"
