"""Look-alikes: the non-members who most resemble a segment's members (docs/insights.md).

A logistic regression (scikit-learn, balanced class weights) on the profile's features,
built by discovery's feature builder so that sensitive attributes are excluded exactly as
in discovery: every numeric or boolean trait except value-model outputs, and the
psychographic attributes, standardized. Features the segment's own rule names (``trait:
total_spend > 500`` makes ``total_spend`` trivially predictive) are left out unless
``keep_rule_features``. Reported: the out-of-fold AUC of a stratified k-fold, the
standardized coefficients in words, and how many non-members score at or above each
cut-off. Scores are balanced: 0.5 means the features speak as much for member as for
non-member, whatever the segment's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from microseg.core.errors import ParameterError
from microseg.core.results import Instant, Result
from microseg.discover import DEFAULT_ATTRIBUTE_FAMILIES, Encoder, Feature, build_features
from microseg.insights._lookalike_model import LookalikeModel
from microseg.lang import AttributeRule, Rule, SegmentRule, TraitRule, walk

__all__ = [
    "CUTOFFS",
    "Lookalike",
    "LookalikeCustomer",
    "LookalikeCutoff",
    "LookalikeDriver",
    "LookalikeInputs",
    "check_classes",
    "check_options",
    "fit_lookalike",
    "rule_fields",
]

#: The score cut-offs reported by default.
CUTOFFS: tuple[float, ...] = (0.9, 0.8, 0.7, 0.5)
_MAX_ITER = 2000


class LookalikeDriver(Result):
    """One feature and its standardized coefficient: what it does to the score."""

    feature: str
    source: str
    #: the change in log-odds of one standard deviation more (or holding the value)
    coefficient: float
    #: ``more alike`` or ``less alike``
    direction: str
    #: the condition and its direction, e.g. ``higher: more alike``, ``yes: less alike``
    effect: str
    text: str


class LookalikeCutoff(Result):
    """How many non-members score at or above ``min_score`` (the potential audience)."""

    min_score: float
    non_members: int
    #: of all non-members
    share: float


class LookalikeCustomer(Result):
    customer_id: str
    score: float


class Lookalike(Result):
    """A look-alike fit for one segment at ``as_of``."""

    segment: str
    as_of: Instant
    members: int
    non_members: int
    #: out-of-fold ROC AUC of a stratified k-fold (0.5: no better than chance)
    auc: float
    folds: int
    features: list[str]
    #: features the segment's rule names, left out (or kept, with keep_rule_features)
    rule_features: list[str]
    rule_features_kept: bool
    #: every feature, largest absolute coefficient first
    drivers: list[LookalikeDriver]
    cutoffs: list[LookalikeCutoff]
    #: the ``size`` best-scoring non-members, best first (empty without ``size``)
    top: list[LookalikeCustomer]
    notes: list[str]
    #: the name the model and segment were saved under (None when not saved)
    saved: str | None = None
    saved_path: str | None = None
    min_score: float | None = None


@dataclass(frozen=True)
class LookalikeInputs:
    """What a fit reads: traits and attributes at ``as_of``, the members, the config."""

    segment: str
    as_of: datetime
    traits: pa.Table
    customers: pa.Table
    members: set[str]
    families: dict[str, list[str]]
    sensitive: list[str]
    #: value-model traits (never features) and rule-named fields
    skipped_traits: list[str]
    rule_fields: list[str]


def rule_fields(rule: Rule, full_rule: Any, known: set[str]) -> list[str]:
    """Traits and attributes ``rule`` tests by name, following ``segment:`` references
    (``full_rule(name)`` gives a segment's rule with its parent; ``known``: its segments)."""
    found: dict[str, None] = {}
    pending: list[Rule] = [rule]
    seen: set[str] = set()
    while pending:
        for node in walk(pending.pop()):
            if isinstance(node, TraitRule):
                found[node.trait] = None
            elif isinstance(node, AttributeRule):
                found[node.attribute] = None
            elif isinstance(node, SegmentRule) and node.segment not in seen:
                seen.add(node.segment)
                if node.segment in known:
                    pending.append(full_rule(node.segment))
    return list(found)


def fit_lookalike(  # noqa: PLR0913 - the documented options (docs/insights.md), keyword-only
    inputs: LookalikeInputs,
    *,
    size: int | None = None,
    cutoffs: Sequence[float] = CUTOFFS,
    keep_rule_features: bool = False,
    traits: Sequence[str] | None = None,
    attributes: Sequence[str] | None = None,
    allow_sensitive: Sequence[str] = (),
    folds: int = 5,
    seed: int = 0,
) -> tuple[Lookalike, LookalikeModel]:
    """Fit, cross-validate and score; the result and the model (not stored: model_id 0)."""
    check_options(size, cutoffs, folds)
    ids = np.asarray(inputs.traits.column("customer_id").to_pylist(), dtype=object)
    y = np.fromiter((str(i) in inputs.members for i in ids), dtype=bool, count=len(ids))
    check_classes(inputs.segment, int(y.sum()), int((~y).sum()), folds)
    dropped = [] if keep_rule_features else list(inputs.rule_fields)
    if attributes is None:
        attributes = [
            name
            for family in DEFAULT_ATTRIBUTE_FAMILIES
            for name in inputs.families.get(family, [])
            if name in inputs.customers.column_names
            and name not in inputs.sensitive
            and name not in dropped
        ]
    matrix = build_features(
        inputs.traits,
        inputs.customers,
        trait_names=traits,
        attribute_names=attributes,
        families=inputs.families,
        sensitive=inputs.sensitive,
        allow_sensitive=allow_sensitive,
        exclude=[*inputs.skipped_traits, *dropped],
    )
    encoder = Encoder.from_matrix(matrix, None)
    model = LookalikeModel(
        model_id=0,
        name="",
        segment=inputs.segment,
        as_of=inputs.as_of,
        encoder=encoder,
        coef=[0.0] * len(encoder.features),
        intercept=0.0,
    )
    x = model.encode_table(inputs.traits, inputs.customers)
    auc = _cross_validated_auc(x, y, folds, seed)
    coef, intercept = _fit(x, y)
    model = LookalikeModel(
        model_id=0,
        name="",
        segment=inputs.segment,
        as_of=inputs.as_of,
        encoder=encoder,
        coef=coef,
        intercept=intercept,
        auc=auc,
    )
    scores = model.score_encoded(x)
    outside = scores[~y]
    others = ids[~y]
    result = Lookalike(
        segment=inputs.segment,
        as_of=inputs.as_of,
        members=int(y.sum()),
        non_members=int((~y).sum()),
        auc=round(auc, 4),
        folds=folds,
        features=[f.name for f in model.encoder.features],
        rule_features=list(inputs.rule_fields),
        rule_features_kept=keep_rule_features,
        drivers=_drivers(model.encoder.features, coef),
        cutoffs=[
            LookalikeCutoff(
                min_score=c,
                non_members=int((outside >= c).sum()),
                share=round(float((outside >= c).mean()), 4),
            )
            for c in sorted(cutoffs, reverse=True)
        ],
        top=_top(others, outside, size),
        notes=_notes(inputs.rule_fields, keep_rule_features, auc),
    )
    return result, model


def check_options(size: int | None, cutoffs: Sequence[float], folds: int) -> None:
    if size is not None and (isinstance(size, bool) or size < 1):
        raise ParameterError(f"The 'size' parameter of lookalike must be an int >= 1. Got {size}.")
    if isinstance(folds, bool) or folds < 2:
        raise ParameterError(
            f"The 'folds' parameter of lookalike must be an int >= 2. Got {folds}."
        )
    bad = [c for c in cutoffs if not 0.0 < c < 1.0]
    if bad or not cutoffs:
        raise ParameterError(
            "The 'cutoffs' parameter of lookalike must be scores strictly between 0 and 1. "
            f"Got {list(cutoffs)}."
        )


def check_classes(segment: str, members: int, others: int, folds: int) -> None:
    if members == 0:
        raise ParameterError(
            f"segment {segment!r} has no members at this as_of: there is nobody to resemble",
            where=f"segments/{segment}.yaml",
            hint="check the rule (`microseg segments evaluate`) or choose another --as-of",
        )
    if others == 0:
        raise ParameterError(
            f"every customer is in segment {segment!r}: there is nobody left to rank",
            where=f"segments/{segment}.yaml",
            hint="look-alikes need customers outside the segment",
        )
    fewest = min(members, others)
    if fewest < folds:
        which = "members" if members < others else "non-members"
        raise ParameterError(
            f"segment {segment!r} has {fewest} {which}; a {folds}-fold "
            f"cross-validation needs at least {folds} {which}",
            where=f"segments/{segment}.yaml",
            hint=f"use a larger segment, or fewer folds (--folds, at least 2, at most {fewest})"
            if fewest >= 2
            else "use a larger segment",
        )


def _classifier(seed: int = 0) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(class_weight="balanced", max_iter=_MAX_ITER, random_state=seed)


def _cross_validated_auc(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], folds: int, seed: int
) -> float:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    oof = cross_val_predict(_classifier(seed), x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, oof))


def _fit(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[list[float], float]:
    fitted = _classifier().fit(x, y)
    return [float(c) for c in fitted.coef_[0]], float(fitted.intercept_[0])


def _drivers(features: Sequence[Feature], coef: Sequence[float]) -> list[LookalikeDriver]:
    order = sorted(range(len(coef)), key=lambda j: (-abs(coef[j]), features[j].name))
    found = []
    for j in order:
        feature, weight = features[j], coef[j]
        direction = "more alike" if weight > 0 else "less alike"
        found.append(
            LookalikeDriver(
                feature=feature.name,
                source=feature.source,
                coefficient=round(weight, 4),
                direction=direction,
                effect=f"{_EFFECT[feature.kind]}: {direction}",
                text=f"{_condition(feature)}: {direction}",
            )
        )
    return found


_EFFECT = {"number": "higher", "flag": "yes", "contains": "has it", "equals": "has it"}


def _condition(feature: Feature) -> str:
    """``higher total spend``, ``interests include travel``, ``gender is F``..."""
    field = feature.field.replace("_", " ")
    if feature.kind == "number":
        return f"higher {field}"
    if feature.kind == "flag":
        return f"{field} (yes)"
    if feature.kind == "contains":
        return f"{field} include {feature.value}"
    return f"{field} is {feature.value}"


def _top(
    ids: np.ndarray[Any, Any], scores: np.ndarray[Any, Any], size: int | None
) -> list[LookalikeCustomer]:
    if size is None:
        return []
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], str(ids[i])))[:size]
    return [
        LookalikeCustomer(customer_id=str(ids[i]), score=round(float(scores[i]), 4)) for i in order
    ]


def _notes(fields: Sequence[str], kept: bool, auc: float) -> list[str]:
    notes = []
    if fields and kept:
        notes.append(
            "the segment's rule names " + ", ".join(fields) + ": kept as features, they "
            "predict membership trivially (the AUC and the drivers show the rule itself)"
        )
    elif fields:
        notes.append(
            "left out the features the segment's rule names (" + ", ".join(fields) + "): they "
            "would predict membership trivially; keep them with --keep-rule-features"
        )
    if auc < 0.6:
        notes.append(
            f"AUC {auc:.2f}: the features barely tell members from non-members, so the "
            "scores rank the non-members little better than chance"
        )
    return notes
