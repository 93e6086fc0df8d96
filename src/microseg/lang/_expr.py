"""The expression half of the language: per-customer values for traits.

An expression is a mapping with one kind key:

``value`` (a literal), ``attribute``, ``trait``, ``aggregate`` (over filtered events in a
window: count, sum, avg, min, max, distinct), ``add``/``sub``/``mul``/``div`` (arithmetic;
division by zero is missing), ``coalesce`` (first present value), ``days_since`` (whole days
from a timestamp to ``as_of``), ``max_of``/``min_of`` (of several expressions) and ``case``
(a table of ``when: rule, then: expr``; the first matching row gives the value), ``score``
(a quantile score against stored population cut points) and ``model`` (an output of the
fitted customer value models: docs/value.md).
Missing values propagate through arithmetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from microseg.core.duration import parse_duration
from microseg.lang._nodes import PropertyPredicate, Rule, Scalar, Window

__all__ = [
    "EXPR_KINDS",
    "EXPR_MODELS",
    "MODEL_OUTPUTS",
    "Expr",
    "ExprNode",
    "ModelExpr",
    "ScoreExpr",
    "TraitDefinition",
    "score_of",
]

#: Outputs of the value models (``microseg clv fit``) and whether they need a horizon.
MODEL_OUTPUTS = {
    "p_alive": False,
    "expected_purchases": True,
    "p_any_purchase": True,
    "expected_spend": False,
    "clv": True,
    "churn_risk": False,
}


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ValueExpr(_Node):
    KIND: ClassVar[str] = "value"
    value: Scalar | None


class AttributeExpr(_Node):
    KIND: ClassVar[str] = "attribute"
    attribute: str


class TraitExpr(_Node):
    KIND: ClassVar[str] = "trait"
    trait: str


class AggregateExpr(_Node):
    KIND: ClassVar[str] = "aggregate"
    aggregate: Literal["count", "sum", "avg", "min", "max", "distinct", "mode"]
    event: str
    property: str | None = None
    where: list[PropertyPredicate] = Field(default_factory=list)
    window: Window | None = None

    @model_validator(mode="after")
    def _property_needed(self) -> AggregateExpr:
        if self.aggregate != "count" and self.property is None:
            raise ValueError(f"{self.aggregate} needs a property, e.g. property: amount")
        return self


class AddExpr(_Node):
    KIND: ClassVar[str] = "add"
    add: list[Expr] = Field(min_length=2)


class SubExpr(_Node):
    KIND: ClassVar[str] = "sub"
    sub: list[Expr] = Field(min_length=2, max_length=2)


class MulExpr(_Node):
    KIND: ClassVar[str] = "mul"
    mul: list[Expr] = Field(min_length=2)


class DivExpr(_Node):
    KIND: ClassVar[str] = "div"
    div: list[Expr] = Field(min_length=2, max_length=2)


class CoalesceExpr(_Node):
    KIND: ClassVar[str] = "coalesce"
    coalesce: list[Expr] = Field(min_length=1)


class DaysSinceExpr(_Node):
    KIND: ClassVar[str] = "days_since"
    days_since: Expr


class MaxOfExpr(_Node):
    KIND: ClassVar[str] = "max_of"
    max_of: list[Expr] = Field(min_length=2)


class MinOfExpr(_Node):
    KIND: ClassVar[str] = "min_of"
    min_of: list[Expr] = Field(min_length=2)


class ScoreExpr(_Node):
    """A quantile score (1..bins) of an expression against the population's cut points.

    The cut points are the population quantiles of the expression, computed in batch at
    ``as_of`` and stored, so one profile can be scored later without the population.
    """

    KIND: ClassVar[str] = "score"
    score: Expr
    bins: int = Field(default=5, ge=2, le=20)
    higher_is_better: bool = True

    @property
    def key(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)


class ModelExpr(_Node):
    """An output of the fitted value models for the customer's summary at ``as_of``.

    ``horizon`` (e.g. ``90 days``, ``12 months``) is the prediction period of
    ``expected_purchases``, ``p_any_purchase`` and ``clv`` (whose default is the workspace's
    ``value.horizon_months``). Missing for customers without a purchase before ``as_of``.
    """

    KIND: ClassVar[str] = "model"
    model: Literal[
        "p_alive", "expected_purchases", "p_any_purchase", "expected_spend", "clv", "churn_risk"
    ]
    horizon: str | None = None

    @model_validator(mode="after")
    def _horizon(self) -> ModelExpr:
        if self.horizon is not None:
            parse_duration(self.horizon)
            if not MODEL_OUTPUTS[self.model]:
                raise ValueError(f"{self.model} takes no horizon")
        elif MODEL_OUTPUTS[self.model] and self.model != "clv":
            raise ValueError(f"{self.model} needs a horizon, e.g. horizon: 90 days")
        return self

    @property
    def key(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @property
    def column(self) -> str:
        """The column that holds this output in batch tables."""
        horizon = (self.horizon or "").replace(" ", "_")
        return f"_m_{self.model}_{horizon}" if horizon else f"_m_{self.model}"


class When(_Node):
    when: Rule
    then: Expr


class CaseExpr(_Node):
    KIND: ClassVar[str] = "case"
    case: list[When] = Field(min_length=1)
    else_: Expr | None = Field(default=None, alias="else")


#: The registry of expression kinds, in the order of :data:`EXPR_KINDS`: the union, the
#: kind list and the model map are generated from it; the visitors match on it.
ExprNode: TypeAlias = (
    ValueExpr
    | AttributeExpr
    | TraitExpr
    | AggregateExpr
    | AddExpr
    | SubExpr
    | MulExpr
    | DivExpr
    | CoalesceExpr
    | DaysSinceExpr
    | MaxOfExpr
    | MinOfExpr
    | CaseExpr
    | ScoreExpr
    | ModelExpr
)

#: Kind name -> expression model, from :data:`ExprNode`.
EXPR_MODELS: dict[str, type[_Node]] = {model.KIND: model for model in get_args(ExprNode)}
#: Every expression kind, from :data:`ExprNode`.
EXPR_KINDS: tuple[str, ...] = tuple(EXPR_MODELS)


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        present = [k for k in EXPR_KINDS if k in value]
        return present[0] if len(present) == 1 else None
    for kind, model in EXPR_MODELS.items():
        if isinstance(value, model):
            return kind
    return None


if TYPE_CHECKING:
    Expr: TypeAlias = ExprNode
else:
    Expr = Annotated[
        Union[tuple(Annotated[m, Tag(k)] for k, m in EXPR_MODELS.items())],  # noqa: UP007
        Discriminator(
            _kind,
            custom_error_type="expr_kind",
            custom_error_message="an expression needs exactly one of: " + ", ".join(EXPR_KINDS),
        ),
    ]

for _model in EXPR_MODELS.values():
    _model.model_rebuild()
When.model_rebuild()


class TraitDefinition(BaseModel):
    """A named per-customer value: ``traits/NAME.yaml`` or a built-in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["number", "text", "boolean"] = "number"
    description: str | None = None
    formula: str | None = None
    value: Expr


def score_of(value: float | None, cuts: list[float], *, higher_is_better: bool) -> float | None:
    """1 + the number of cut points the value is beyond (strictly); None when missing."""
    if value is None:
        return None
    beyond = sum(1 for c in cuts if (value > c if higher_is_better else value < c))
    return float(1 + beyond)
