"""Look-alikes (issue 13.7): a planted attribute separates a segment's members (AUC near 1),
a random segment is not separable (AUC near 0.5), sensitive attributes and the rule's own
fields stay out, and a saved look-alike is a ``score:`` segment both evaluators agree on."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.core.errors import MicrosegError, ParameterError
from tests.conftest import write
from tests.discover.conftest import make_shop

N = 120
GOLD = 30  # C000..C029


def _customers() -> str:
    rng = random.Random(3)
    rows = ["customer_id,tier,lifestyle,interests,religion,coin"]
    for i in range(N):
        gold = i < GOLD
        # planted: every gold member is "luxury", a tenth of the others too
        luxury = gold or rng.random() < 0.1
        lifestyle = "luxury|" if luxury else ""
        lifestyle += rng.choice(["sporty", "homebody", "traveler"])
        interests = rng.choice(["travel", "books", "music", "cooking"])
        # religion copies membership exactly: if it were a feature the AUC would be 1
        religion = "a" if gold else "b"
        rows.append(
            f"C{i:03d},{'gold' if gold else 'basic'},{lifestyle},{interests},{religion},"
            f"{rng.random() < 0.3}"
        )
    return "\n".join(rows)


@pytest.fixture
def shop(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    Workspace.init(root, timezone="Europe/Paris").close()
    text = (root / "microseg.yaml").read_text(encoding="utf-8")
    text = text.replace("occupation, religion]", "occupation]")
    text = text.replace(
        "psychographic: [interests, lifestyle, values]",
        "psychographic: [interests, lifestyle, values, religion]",
    )
    (root / "microseg.yaml").write_text(text, encoding="utf-8")
    ws = Workspace.open(root)
    ws.ingest("customers", write(tmp_path / "c.csv", _customers()))
    segments = ws.path / "segments"
    write(segments / "gold.yaml", "name: gold\nrule:\n  attribute: tier\n  eq: gold\n")
    write(segments / "coin.yaml", "name: coin\nrule:\n  attribute: coin\n  eq: true\n")
    write(
        segments / "travellers.yaml",
        "name: travellers\nrule:\n  attribute: interests\n  contains: travel\n",
    )
    write(segments / "nobody.yaml", "name: nobody\nrule:\n  attribute: tier\n  eq: platinum\n")
    write(
        segments / "everyone.yaml", "name: everyone\nrule:\n  attribute: tier\n  is_null: false\n"
    )
    return ws


def test_a_planted_attribute_separates_the_members(shop: Workspace) -> None:
    result = shop.insights.lookalike("gold", size=5)
    assert (result.members, result.non_members) == (GOLD, N - GOLD)
    assert result.auc > 0.9
    top = result.drivers[0]
    assert top.feature == "lifestyle=luxury"
    assert top.direction == "more alike"
    assert top.coefficient > 0
    # the non-members who are luxury score highest
    assert len(result.top) == 5
    assert all(int(c.customer_id[1:]) >= GOLD for c in result.top)
    assert [c.score for c in result.top] == sorted((c.score for c in result.top), reverse=True)
    cut = {c.min_score: c.non_members for c in result.cutoffs}
    assert list(cut) == [0.9, 0.8, 0.7, 0.5]
    assert cut[0.9] <= cut[0.8] <= cut[0.7] <= cut[0.5] <= N - GOLD


def test_a_random_segment_is_near_chance(shop: Workspace) -> None:
    result = shop.insights.lookalike("coin")
    assert 0.3 < result.auc < 0.7
    assert any("chance" in note for note in result.notes)


def test_sensitive_attributes_are_left_out(shop: Workspace) -> None:
    assert "religion" in shop.config.sensitive
    assert "religion" in shop.config.families["psychographic"]
    result = shop.insights.lookalike("gold")
    assert not [f for f in result.features if f.startswith("religion")]
    assert result.auc < 0.999  # religion copies membership: with it, a perfect AUC


def test_the_rules_own_fields_are_left_out_unless_kept(shop: Workspace) -> None:
    left = shop.insights.lookalike("travellers")
    assert left.rule_features == ["interests"]
    assert not [f for f in left.features if f.startswith("interests")]
    assert any("keep-rule-features" in note for note in left.notes)
    kept = shop.insights.lookalike("travellers", keep_rule_features=True)
    assert kept.drivers[0].feature == "interests=travel"
    assert kept.auc > 0.99
    assert any("trivially" in note for note in kept.notes)


def test_clear_errors_for_unusable_segments(shop: Workspace) -> None:
    with pytest.raises(ParameterError, match="no members"):
        shop.insights.lookalike("nobody")
    with pytest.raises(ParameterError, match="every customer"):
        shop.insights.lookalike("everyone")
    needed = "has 30 members; a 31-fold cross-validation needs at least 31"
    with pytest.raises(ParameterError, match=needed):
        shop.insights.lookalike("gold", folds=31)
    with pytest.raises(ParameterError, match="size"):
        shop.insights.lookalike("gold", size=0)


def test_saved_lookalike_agrees_in_batch_and_per_profile(shop: Workspace) -> None:
    result = shop.insights.lookalike("gold", save="gold-like", min_score=0.5)
    assert result.saved == "gold-like"
    text = (shop.path / "segments" / "gold-like.yaml").read_text(encoding="utf-8")
    assert "model: gold-like" in text
    assert "segment: gold" in text
    run = shop.segments.evaluate(["gold-like"], save=False)
    batch = set(run.members("gold-like").to_pyarrow().column("customer_id").to_pylist())
    expected = next(c.non_members for c in result.cutoffs if c.min_score == 0.5)
    assert len(batch) == expected  # the non-members at or above 0.5, at the same instant
    assert not batch & {f"C{i:03d}" for i in range(GOLD)}
    prepared = shop.segments.prepare(["gold-like"])
    one = {f"C{i:03d}" for i in range(N) if prepared.of(f"C{i:03d}")["gold-like"]}
    assert one == batch
    explained = shop.segments.explain("gold-like", sorted(batch)[0])
    assert "by model gold-like is at least 0.5" in explained.children[0].text
    # with the members: the score alone
    shop.insights.lookalike("gold", save="gold-all", min_score=0.5, include_members=True)
    both = shop.segments.evaluate(["gold-all"], save=False).members("gold-all")
    assert both.count().to_pyarrow().as_py() > len(batch)


def test_unknown_model_is_reported_with_a_suggestion(shop: Workspace) -> None:
    shop.insights.lookalike("gold", save="gold-like")
    write(
        shop.path / "segments" / "typo.yaml",
        "name: typo\nrule:\n  score: {model: gold-lik, gte: 0.5}\n",
    )
    with pytest.raises(MicrosegError) as raised:
        shop.segments.validate(["typo"])
    message = str(raised.value)
    assert "rule.score.model" in message
    assert "unknown look-alike model 'gold-lik'" in message
    assert "did you mean 'gold-like'" in message


def test_cli_json_and_table(shop: Workspace) -> None:
    root = str(shop.path)
    shop.close()
    args = ["--workspace", root, "insights", "lookalike", "gold", "--size", "3"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["segment"] == "gold"
    assert data["auc"] > 0.9
    assert len(data["top"]) == 3
    assert [c["min_score"] for c in data["cutoffs"]] == [0.9, 0.8, 0.7, 0.5]
    text = CliRunner().invoke(app, [*args, "--save", "gold-like"])
    assert text.exit_code == 0, text.output
    assert all(len(line) <= 80 for line in text.output.splitlines())
    assert "cross-validated AUC" in text.output
    assert "lifestyle=luxury" in text.output
    assert "saved the model gold-like" in " ".join(text.output.split())
    evaluated = CliRunner().invoke(app, ["--workspace", root, "segment", "evaluate", "gold-like"])
    assert evaluated.exit_code == 0, evaluated.output
    bad = CliRunner().invoke(app, ["--workspace", root, "insights", "lookalike", "nobody"])
    assert bad.exit_code != 0
    assert "no members" in bad.output


def test_synthetic_shop_lookalike_of_anime_fans(tmp_path: Path) -> None:
    """The planted anime fans (found by their lifestyle) buy anime goods: their look-alike
    model finds it in what they buy, with the lifestyle itself left out."""
    ws = make_shop(tmp_path / "shop", customers=800, seed=7)
    try:
        write(
            ws.path / "segments" / "anime-fans.yaml",
            "name: anime-fans\nrule:\n  attribute: lifestyle\n  contains: anime_fan\n",
        )
        result = ws.insights.lookalike("anime-fans")
    finally:
        ws.close()
    assert result.rule_features == ["lifestyle"]
    assert not [f for f in result.features if f.startswith("lifestyle")]
    assert result.auc > 0.75
    top = [d.feature for d in result.drivers[:5]]
    assert any("anime" in f for f in top), top
