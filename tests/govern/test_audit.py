"""The bias and coverage audit on the hand-built towns (tests/govern/conftest.py): the
postcode segment is a proxy for religion though its rule never names it; vip is not;
small cells are suppressed; and the ratio is fairlearn's, equal to the hand computation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.govern._association import association, conditional_v, cramers_v


def test_postcode_segment_is_flagged_as_a_proxy_for_religion(towns: Workspace) -> None:
    result = towns.govern.audit()
    north = next(s for s in result.segments if s.name == "north")
    assert north.reads == ["postcode"]
    religion = next(s for s in north.sensitive if s.attribute == "religion")
    assert religion.named_in_rule is False
    # members A30 B10 C2 (42), others A6 B32 C2 (40), of 82: Pearson's chi2 by hand
    observed = [[30, 10, 2], [6, 32, 2]]
    rows, cols = [42, 40], [36, 42, 4]
    chi2 = sum(
        (observed[i][j] - rows[i] * cols[j] / 82) ** 2 / (rows[i] * cols[j] / 82)
        for i in range(2)
        for j in range(3)
    )
    assert religion.cramers_v == pytest.approx(math.sqrt(chi2 / 82), abs=1e-4)
    assert religion.p_value == pytest.approx(1 / 201, abs=1e-6)  # no shuffle of 200 comes near
    assert religion.proxy_flagged
    # the rule reads postcode only: within each postcode, membership says nothing of religion
    assert [c.feature for c in religion.carriers] == ["postcode"]
    assert religion.carriers[0].conditional_v == 0.0
    assert religion.carriers[0].carried_share == 1.0
    assert religion.carriers[0].association_with_sensitive > 0.4
    assert any("north" in f and "never names religion" in f for f in result.findings)


def test_selection_ratio_is_fairlearns_and_matches_the_hand_computation(
    towns: Workspace,
) -> None:
    from fairlearn.metrics import demographic_parity_ratio

    north = next(s for s in towns.govern.audit(["north"]).segments)
    religion = north.sensitive[0]
    # groups of at least 10 customers: A (30 of 36 in north), B (10 of 42); C (4) is left out
    assert religion.selection_rates == {"A": round(30 / 36, 4), "B": round(10 / 42, 4)}
    assert religion.selection_ratio == pytest.approx((10 / 42) / (30 / 36), abs=1e-4)
    assert religion.ratio_flagged
    y = np.array([1] * 30 + [0] * 6 + [1] * 10 + [0] * 32)
    groups = np.array(["A"] * 36 + ["B"] * 42)
    assert religion.selection_ratio == pytest.approx(
        demographic_parity_ratio(y, y, sensitive_features=groups), abs=1e-4
    )


def test_unrelated_segment_is_not_flagged(towns: Workspace) -> None:
    vip = next(s for s in towns.govern.audit(["vip"]).segments)
    religion = vip.sensitive[0]
    assert not religion.proxy_flagged
    assert not religion.ratio_flagged
    assert religion.cramers_v < 0.1
    assert religion.p_value > 0.5
    assert religion.carriers == []


def test_small_cells_are_suppressed(towns: Workspace) -> None:
    result = towns.govern.audit()
    north = next(s for s in result.segments if s.name == "north")
    groups = {g.value: g for g in north.sensitive[0].groups}
    assert groups["C"].suppressed  # 4 customers of religion C, 2 in north: both below 10
    assert groups["C"].population is None
    assert groups["C"].members is None
    assert groups["C"].share_of_segment is None
    assert not groups["A"].suppressed
    assert (groups["A"].population, groups["A"].members) == (36, 30)
    assert groups["A"].share_of_segment == round(30 / 42, 4)
    assert groups["A"].share_of_population == round(36 / 82, 4)
    assert "C" not in north.sensitive[0].selection_rates
    assert result.min_group_size == 10


def test_small_segment_size_is_suppressed(towns: Workspace) -> None:
    (towns.path / "segments" / "few.yaml").write_text(
        "name: few\nrule: {attribute: religion, eq: C}\n", encoding="utf-8"
    )
    few = next(s for s in towns.govern.audit(["few"]).segments)
    assert few.members is None
    assert few.share is None
    assert few.sensitive[0].named_in_rule


def test_coverage_and_who_is_in_none(towns: Workspace) -> None:
    coverage = towns.govern.audit().coverage
    # north (42) and the south's vips (3 + 8 + 8 + 1 = 20): 20 southerners are in none
    assert (coverage.customers, coverage.covered, coverage.uncovered) == (82, 62, 20)
    assert coverage.share == round(62 / 82, 4)
    city = [d for d in coverage.described if d.attribute == "city"]
    assert [(d.family, d.value, d.uncovered, d.share_of_uncovered) for d in city] == [
        ("geographic", "Bristol", 20, 1.0)
    ]
    assert city[0].share_of_population == round(40 / 82, 4)


def test_missing_sensitive_attribute_is_reported(towns: Workspace) -> None:
    result = towns.govern.audit()
    assert result.sensitive == ["religion"]
    assert result.missing_sensitive == ["ethnicity"]
    assert "four-fifths" in result.caveat


def test_permutation_statistic_matches_scipy_and_is_seeded() -> None:
    from scipy.stats.contingency import association as scipy_association

    rng = np.random.default_rng(1)
    codes = rng.integers(0, 3, 500)
    member = (codes == 0) | (rng.random(500) < 0.2)
    table = np.array(
        [
            [np.sum(member & (codes == g)) for g in range(3)],
            [np.sum(~member & (codes == g)) for g in range(3)],
        ]
    )
    assert cramers_v(member, codes, 3) == pytest.approx(scipy_association(table, method="cramer"))
    one = association(member, codes, 3, permutations=50, seed=7)
    two = association(member, codes, 3, permutations=50, seed=7)
    assert one == two
    assert conditional_v(member, codes, 3, codes) == 0.0


def test_cli_audit_json_and_table(towns: Workspace) -> None:
    runner = CliRunner()
    where = ["-w", str(towns.path)]
    towns.close()
    out = runner.invoke(app, [*where, "--json", "audit", "north"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    religion = data["segments"][0]["sensitive"][0]
    assert religion["proxy_flagged"] is True
    assert religion["named_in_rule"] is False
    assert data["coverage"]["share"] == round(42 / 82, 4)
    table = runner.invoke(app, [*where, "audit"])
    assert table.exit_code == 0, table.output
    assert "never names religion" in table.output
    assert "four-fifths" in table.output
    assert "<10" in table.output  # the suppressed cells
    assert max(len(line) for line in table.output.splitlines()) <= 80
