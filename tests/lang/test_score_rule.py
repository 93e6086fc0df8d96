"""``score:`` rule nodes: parsing (beside the ``score`` trait expression), checking,
explain, and a stored look-alike model scoring the same in batch and for one profile.

The end-to-end path (fit, save, evaluate) is in tests/insights/test_lookalike.py.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pytest

from microseg.discover import Encoder, Feature
from microseg.insights._lookalike_model import LookalikeModel
from microseg.lang import (
    Clock,
    RuleError,
    Schema,
    ScoreExpr,
    ScoreRule,
    TraitDefinition,
    check_rule,
    explain,
    parse_definition,
)
from microseg.lang.profile import Profile, ProfileEvaluator

AS_OF = datetime(2026, 1, 14, 12)


def _model() -> LookalikeModel:
    features = (
        Feature("total_spend", "trait", "total_spend", "number", log=True),
        Feature("vip", "trait", "vip", "flag"),
        Feature("interests=travel", "attribute", "interests", "contains", "travel"),
        Feature("city=Paris", "attribute", "city", "equals", "Paris"),
    )
    encoder = Encoder(
        features,
        fill=(3.0, 0.0, 0.0, 0.0),
        center=(3.5, 0.2, 0.3, 0.4),
        scale=(1.25, 0.4, 0.45, 0.49),
        macro=None,
    )
    return LookalikeModel(
        model_id=4,
        name="vip-like",
        segment="vip",
        as_of=AS_OF,
        encoder=encoder,
        coef=(1.7, -0.3, 0.9, 0.11),
        intercept=-0.4,
    )


def test_the_rule_node_parses_and_the_trait_expression_still_does() -> None:
    rule = parse_definition(
        {"name": "x", "rule": {"score": {"model": "vip-like", "gte": 0.7}}}
    ).rule
    assert isinstance(rule, ScoreRule)
    assert (rule.score.model, rule.score.op, rule.score.operand) == ("vip-like", "gte", 0.7)
    trait = TraitDefinition.model_validate(
        {"name": "spend_score", "type": "number", "value": {"score": {"trait": "x"}, "bins": 5}}
    )
    assert isinstance(trait.value, ScoreExpr)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"model": "m", "eq": 0.5}, "a score takes one of gt, gte, lt, lte, between"),
        ({"model": "m", "gte": "high"}, "compared with numbers"),
        ({"model": " ", "gte": 0.5}, "model needs the name"),
        ({"gte": 0.5}, "model"),
    ],
)
def test_bad_score_nodes_are_refused(spec: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_definition({"name": "x", "rule": {"score": spec}})


def test_an_unknown_model_gets_a_suggestion() -> None:
    rule = parse_definition({"name": "x", "rule": {"score": {"model": "vip-lik", "gte": 0.5}}})
    problems = check_rule(rule.rule, Schema(score_models=frozenset({"vip-like"})))
    assert len(problems) == 1
    path, message = problems[0]
    assert path == "rule.score.model"
    assert "unknown look-alike model 'vip-lik'" in message
    assert "did you mean 'vip-like'" in message
    known = check_rule(rule.rule.model_copy(), Schema(score_models=frozenset({"vip-lik"})))
    assert known == []


def test_batch_and_one_profile_score_the_same_to_the_bit() -> None:
    model = _model()
    spends = [None, 0.0, 12.5, 80.0, 1234.56789, 5e6, -3.0]
    vip = [True, False, None, True, False, True, None]
    interests = [["Travel"], [], None, ["books", "travel"], ["music"], None, ["travel"]]
    city = ["Paris", "Lyon", None, "Paris", "paris", "Nice", "Paris"]
    ids = [f"C{i}" for i in range(len(spends))]
    traits = pa.table({"customer_id": ids, "total_spend": spends, "vip": vip})
    customers = pa.table(
        {"customer_id": ids[::-1], "interests": interests[::-1], "city": city[::-1]}
    )
    batch = model.score_table(traits, customers)
    for i in range(len(ids)):
        one = model.score_one(
            {"total_spend": spends[i], "vip": vip[i]},
            {"interests": interests[i], "city": city[i]},
        )
        assert one == batch[i], i
    assert np.all((batch > 0) & (batch < 1))
    # by hand for C3: log1p(80), vip, travel, Paris
    z = [
        (np.log1p(80.0) - 3.5) / 1.25,
        (1 - 0.2) / 0.4,
        (1 - 0.3) / 0.45,
        (1 - 0.4) / 0.49,
    ]
    logit = -0.4 + 1.7 * z[0] - 0.3 * z[1] + 0.9 * z[2] + 0.11 * z[3]
    assert batch[3] == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-12)
    # a missing value takes the fill: C0's spend counts as log1p-space 3.0
    assert model.to_dict()["coef"] == [1.7, -0.3, 0.9, 0.11]
    again = LookalikeModel.from_dict(model.to_dict())
    assert again.score_one({"total_spend": 80.0, "vip": True}, {}) == model.score_one(
        {"total_spend": 80.0, "vip": True}, {}
    )


def test_explain_says_the_score_and_the_threshold() -> None:
    model = _model()
    rule = parse_definition(
        {"name": "x", "rule": {"score": {"model": "vip-like", "between": [0.2, 0.9]}}}
    ).rule
    profile = Profile(customer_id="C1", attributes={"city": "Paris", "interests": ["travel"]})
    traits = {
        "total_spend": TraitDefinition.model_validate(
            {"name": "total_spend", "type": "number", "value": {"value": 80.0}}
        ),
        "vip": TraitDefinition.model_validate(
            {"name": "vip", "type": "boolean", "value": {"value": True}}
        ),
    }
    evaluator = ProfileEvaluator(
        profile,
        Clock(AS_OF, "UTC"),
        trait_definition=traits.__getitem__,
        scores=lambda name: model,
    )
    score = model.score_one({"total_spend": 80.0, "vip": True}, profile.attributes)
    explained = explain(evaluator, rule, "rule")
    assert explained.holds == (0.2 <= score <= 0.9)
    verb = "is" if explained.holds else "is not"
    assert explained.text == (
        f"look-alike score {score:.3f} by model vip-like {verb} between 0.2 and 0.9"
    )
