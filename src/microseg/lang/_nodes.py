"""The rule tree: one pydantic model per node kind, a discriminated union over them.

A node is a mapping with exactly one kind key (``all``, ``any``, ``not``, ``attribute``,
``trait``, ``event``, ``sequence``, ``segment``, ``bucket``, ``cluster``, ``has``,
``score``). Operators are
fields of the nodes that compare a value; exactly one of them must be given. See
docs/segments.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias, Union, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from microseg.core.duration import Duration, parse_duration
from microseg.lang._regex import pattern_problem

__all__ = [
    "IDENTITY_KINDS",
    "KINDS",
    "OPERATORS",
    "RULE_MODELS",
    "SCORE_OPERATORS",
    "AllRule",
    "AnyRule",
    "AttributeRule",
    "BucketRule",
    "ClusterRule",
    "ClusterSpec",
    "EventRule",
    "HasRule",
    "NotRule",
    "Predicate",
    "PropertyPredicate",
    "Rule",
    "RuleNode",
    "ScoreRule",
    "ScoreSpec",
    "SegmentRule",
    "SequenceRule",
    "SequenceSpec",
    "SequenceStep",
    "TraitRule",
    "Window",
    "where_key",
]

Scalar = Union[bool, int, float, str, date, datetime]  # noqa: UP007 (pydantic order matters)

#: Every operator and whether its operand is a list.
OPERATORS: dict[str, str] = {
    "eq": "scalar",
    "ne": "scalar",
    "in": "list",
    "not_in": "list",
    "gt": "scalar",
    "gte": "scalar",
    "lt": "scalar",
    "lte": "scalar",
    "between": "pair",
    "contains": "scalar",
    "contains_any": "list",
    "contains_all": "list",
    "starts_with": "text",
    "ends_with": "text",
    "matches": "text",
    "is_null": "bool",
}


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Predicate(_Node):
    """Exactly one operator and its operand."""

    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    gt: Scalar | None = None
    gte: Scalar | None = None
    lt: Scalar | None = None
    lte: Scalar | None = None
    between: tuple[Scalar, Scalar] | None = None
    contains: Scalar | None = None
    contains_any: list[Scalar] | None = None
    contains_all: list[Scalar] | None = None
    starts_with: str | None = None
    ends_with: str | None = None
    matches: str | None = None
    is_null: bool | None = None

    @model_validator(mode="after")
    def _exactly_one_operator(self) -> Predicate:
        given = [name for name in OPERATORS if getattr(self, _field(name)) is not None]
        if len(given) != 1:
            what = "no operator" if not given else "operators " + ", ".join(given)
            raise ValueError(
                f"needs exactly one operator, got {what} (operators: {', '.join(OPERATORS)})"
            )
        if self.matches is not None:
            problem = pattern_problem(self.matches)
            if problem is not None:
                raise ValueError(f"matches: {problem}")
        return self

    @cached_property
    def op(self) -> str:
        return next(n for n in OPERATORS if getattr(self, _field(n)) is not None)

    @cached_property
    def operand(self) -> Any:
        return getattr(self, _field(self.op))


def _field(op: str) -> str:
    return "in_" if op == "in" else op


#: the test of an event rule written without an aggregate: at least one event
_AT_LEAST_ONE = Predicate(gte=1)


class Window(_Node):
    """``{last: 90 days}``, ``{from: X, to: Y}`` or ``{since: X}``; times are relative or ISO."""

    last: str | None = None
    from_: str | date | datetime | None = Field(default=None, alias="from")
    to: str | date | datetime | None = None
    since: str | date | datetime | None = None

    @field_validator("last")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Window:
        forms = [
            self.last is not None,
            self.from_ is not None or self.to is not None,
            self.since is not None,
        ]
        if sum(forms) != 1:
            raise ValueError("write one of {last: ...}, {from: ..., to: ...} or {since: ...}")
        return self

    @property
    def last_duration(self) -> Duration | None:
        return parse_duration(self.last) if self.last else None


class AllRule(_Node):
    KIND: ClassVar[str] = "all"
    all: list[Rule] = Field(min_length=1)


class AnyRule(_Node):
    KIND: ClassVar[str] = "any"
    any: list[Rule] = Field(min_length=1)


class NotRule(_Node):
    KIND: ClassVar[str] = "not"
    not_: Rule = Field(alias="not")


class AttributeRule(Predicate):
    KIND: ClassVar[str] = "attribute"
    attribute: str


class TraitRule(Predicate):
    KIND: ClassVar[str] = "trait"
    trait: str


class PropertyPredicate(Predicate):
    property: str


def where_key(where: Sequence[PropertyPredicate]) -> tuple[tuple[str, str, str], ...]:
    """A hashable key of a ``where`` list: equal lists, written in two rules, share it."""
    return tuple((p.property, p.op, repr(p.operand)) for p in where)


class Aggregate(Predicate):
    property: str


class EventRule(_Node):
    KIND: ClassVar[str] = "event"
    event: str
    where: list[PropertyPredicate] = Field(default_factory=list)
    window: Window | None = None
    count: Predicate | None = None
    sum: Aggregate | None = None
    avg: Aggregate | None = None
    min: Aggregate | None = None
    max: Aggregate | None = None
    distinct: Aggregate | None = None

    @model_validator(mode="after")
    def _one_aggregate(self) -> EventRule:
        given = [a for a in ("count", "sum", "avg", "min", "max", "distinct") if getattr(self, a)]
        if len(given) > 1:
            raise ValueError(f"one aggregate test per event rule, got {', '.join(given)}")
        return self

    @property
    def aggregate(self) -> tuple[str, Predicate]:
        """The aggregate and its test; ``count >= 1`` when none is written."""
        for name in ("count", "sum", "avg", "min", "max", "distinct"):
            test = getattr(self, name)
            if test is not None:
                return name, test
        return "count", _AT_LEAST_ONE


class SequenceStep(_Node):
    event: str
    where: list[PropertyPredicate] = Field(default_factory=list)
    within: str | None = None
    absent: bool = False

    @field_validator("within")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class SequenceSpec(_Node):
    steps: list[SequenceStep] = Field(min_length=2)
    window: Window | None = None

    @model_validator(mode="after")
    def _steps(self) -> SequenceSpec:
        if self.steps[0].absent or self.steps[0].within:
            raise ValueError("the first step cannot be absent or have within")
        for i, step in enumerate(self.steps[1:], start=1):
            if step.within is None:
                raise ValueError(f"steps[{i}] needs within (how long after the step before)")
        return self


class SequenceRule(_Node):
    KIND: ClassVar[str] = "sequence"
    sequence: SequenceSpec


class SegmentRule(_Node):
    KIND: ClassVar[str] = "segment"
    segment: str


class BucketSpec(_Node):
    salt: str
    from_: int = Field(alias="from", ge=0, le=100)
    to: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _order(self) -> BucketSpec:
        if self.from_ >= self.to:
            raise ValueError("bucket needs from < to (buckets are 0 to 99, to is exclusive)")
        return self


class BucketRule(_Node):
    KIND: ClassVar[str] = "bucket"
    bucket: BucketSpec


class ClusterSpec(_Node):
    """``{run: NAME, in: [...]}``: the customer's micro-segment in a stored discovery run.

    ``run`` is the run's name or id; ``in`` lists cluster ids or names (docs/discovery.md).
    The cluster is assigned from the customer's features at the evaluation's ``as_of``.
    """

    run: str | int
    in_: list[int | str] = Field(alias="in", min_length=1)

    @field_validator("run", mode="before")
    @classmethod
    def _run(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
            raise ValueError("run needs a discovery run's name or id")
        return value


class ClusterRule(_Node):
    KIND: ClassVar[str] = "cluster"
    cluster: ClusterSpec


#: The identities ``has:`` asks about: the channels a customer can be reached on.
IDENTITY_KINDS: tuple[str, ...] = ("email", "phone")


class HasRule(_Node):
    """``{has: email}``: the customer has an identity of that type (reachable on the
    channel). Identities carry no history: the ones stored now count at every ``as_of``."""

    KIND: ClassVar[str] = "has"
    has: Literal["email", "phone"]


#: The operators a ``score:`` node accepts: a score is a number from 0 to 1.
SCORE_OPERATORS: tuple[str, ...] = ("gt", "gte", "lt", "lte", "between")


class ScoreSpec(Predicate):
    """``{model: NAME, gte: 0.7}``: a stored look-alike model's score for the customer.

    ``model`` names a model stored by ``microseg insights lookalike --save`` (docs/insights.md);
    the score (0 to 1) is computed from the customer's traits and attributes at the
    evaluation's ``as_of``. This is the rule node; ``{score: EXPR, bins: 5}`` in a trait's
    ``value`` is the unrelated quantile-score *expression* (docs/traits.md).
    """

    model: str

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model needs the name of a stored look-alike model")
        return value

    @model_validator(mode="after")
    def _numeric(self) -> ScoreSpec:
        if self.op not in SCORE_OPERATORS:
            raise ValueError(
                f"a score takes one of {', '.join(SCORE_OPERATORS)} (a number from 0 to 1), "
                f"not {self.op}"
            )
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in _operands(self)):
            raise ValueError("a score is compared with numbers from 0 to 1")
        return self


def _operands(spec: ScoreSpec) -> list[Any]:
    return list(spec.operand) if spec.op == "between" else [spec.operand]


class ScoreRule(_Node):
    KIND: ClassVar[str] = "score"
    score: ScoreSpec


#: The registry of rule kinds: every node kind, in the order of :data:`KINDS`. The
#: discriminated union, the kind list and the model map are generated from it; the
#: visitors (checker, batch compiler, per-profile interpreter, explain) match on it.
RuleNode: TypeAlias = (
    AllRule
    | AnyRule
    | NotRule
    | AttributeRule
    | TraitRule
    | EventRule
    | SequenceRule
    | SegmentRule
    | BucketRule
    | ClusterRule
    | HasRule
    | ScoreRule
)

#: Kind name -> node model, from :data:`RuleNode`.
RULE_MODELS: dict[str, type[_Node]] = {model.KIND: model for model in get_args(RuleNode)}
#: Every rule kind, from :data:`RuleNode`.
KINDS: tuple[str, ...] = tuple(RULE_MODELS)


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        present = [k for k in KINDS if k in value]
        if len(present) == 1:
            return present[0]
        return None
    if isinstance(value, BaseModel):
        for kind, model in RULE_MODELS.items():
            if isinstance(value, model):
                return kind
    return None


if TYPE_CHECKING:
    Rule: TypeAlias = RuleNode
else:
    Rule = Annotated[
        Union[tuple(Annotated[m, Tag(k)] for k, m in RULE_MODELS.items())],  # noqa: UP007
        Discriminator(
            _kind,
            custom_error_type="rule_kind",
            custom_error_message="a rule needs exactly one of: " + ", ".join(KINDS),
        ),
    ]

for _model in (AllRule, AnyRule, NotRule):
    _model.model_rebuild()
