"""Typos in rules are caught: event property names, identities taken for attributes; and
``has: email|phone`` asks whether a customer can be reached on a channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.lang import RuleError
from tests.conftest import NOW, write


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,email,phone,city\n"
            "C1,c1@example.com,+33677187530,Lyon\n"
            "C2,c2@example.com,,Paris\n"
            "C3,,,Nice",
        ),
    )
    ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "customer_id,timestamp,type,category,color\n"
            "C1,2026-01-02,purchase,anime,red\n"
            "C2,2026-01-03,purchase,books,blue\n"
            "C3,2026-01-04,view,anime,",
        ),
    )
    yield ws
    ws.close()


def _save(ws: Workspace, name: str, rule: str) -> None:
    (ws.path / "segments" / f"{name}.yaml").write_text(f"name: {name}\nrule:\n{rule}")


def _cli(ws: Workspace, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--workspace", str(ws.path), *args])
    return result.exit_code, result.output


def test_the_property_keys_are_kept_in_the_store(shop: Workspace) -> None:
    assert shop.store.property_keys() == frozenset({"color"})


def test_a_misspelt_column_property_is_an_error_with_did_you_mean(shop: Workspace) -> None:
    _save(shop, "typo", "  event: purchase\n  where: [{property: categroy, eq: anime}]\n")
    with pytest.raises(RuleError, match="unknown property 'categroy'; did you mean 'category'"):
        shop.segments.validate(["typo"])
    shop.close()
    code, output = _cli(shop, "segment", "validate", "typo")
    assert code == 1
    assert "rule.where[0].property: unknown property 'categroy'" in output


def test_a_misspelt_json_property_and_aggregate_are_errors(shop: Workspace) -> None:
    _save(shop, "colour", "  event: purchase\n  where: [{property: colour, eq: red}]\n")
    _save(shop, "spend", "  event: purchase\n  distinct: {property: catgory, gte: 2}\n")
    with pytest.raises(RuleError) as caught:
        shop.segments.validate(["colour", "spend"])
    messages = [f"{p.path}: {p.message}" for p in caught.value.problems]
    assert "rule.where[0].property: unknown property 'colour'; did you mean 'color'?" in messages
    assert "rule.distinct.property: unknown property 'catgory'; did you mean 'category'?" in (
        messages
    )


def test_a_new_property_key_is_a_warning(shop: Workspace) -> None:
    _save(shop, "fabric", "  event: purchase\n  where: [{property: fabric, eq: silk}]\n")
    catalog = shop.segments.validate(["fabric"])
    assert [w.path for w in catalog.warnings] == ["rule.where[0].property"]
    assert "no loaded event has it" in catalog.warnings[0].message
    run = shop.segments.evaluate(["fabric"], save=False)
    assert any("'fabric'" in w for w in run.warnings)
    shop.close()
    code, output = _cli(shop, "segment", "validate", "fabric")
    assert code == 0
    assert "warning:" in output
    assert "property 'fabric' is not an event column" in output


def test_a_rule_on_email_says_it_is_an_identity(shop: Workspace) -> None:
    _save(shop, "mail", "  attribute: email\n  is_null: false\n")
    with pytest.raises(RuleError, match=r"'email' is an identity, not an attribute.*has: email"):
        shop.segments.validate(["mail"])


def test_has_email_and_phone_in_batch_and_per_profile(shop: Workspace) -> None:
    _save(shop, "reachable", "  has: email\n")
    _save(shop, "callable", "  all: [{has: phone}, {event: purchase}]\n")
    run = shop.segments.evaluate(["reachable", "callable"])
    assert run.sizes == {"reachable": 2, "callable": 1}
    for customer, expected in (("C1", (True, True)), ("C2", (True, False)), ("C3", (False, False))):
        one = shop.segments.of(customer)
        assert (one["reachable"], one["callable"]) == expected, customer
        prepared = shop.segments.prepare(["reachable", "callable"]).of(customer)
        assert (prepared["reachable"], prepared["callable"]) == expected, customer
    why = shop.segments.explain("reachable", "C3")
    assert (why.holds, why.text) == (False, "the customer has no e-mail address (email identity)")
    shop.close()
    code, output = _cli(shop, "--json", "segment", "explain", "callable", "C1")
    assert code == 0, output
    found = json.loads(output)
    assert found["holds"] is True
    assert found["children"][0]["text"] == "the customer has a phone number (phone identity)"


def test_has_accepts_only_email_or_phone() -> None:
    from microseg.lang import parse_definition

    with pytest.raises(RuleError, match="has"):
        parse_definition({"name": "x", "rule": {"has": "fax"}})


def test_a_store_made_before_the_key_list_gets_it_from_its_events(tmp_path: Path) -> None:
    """Migration 9: the key list of a store that had events already is filled from them."""
    import duckdb

    from microseg.store import Store
    from microseg.store._schema import MIGRATIONS

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for statements in MIGRATIONS[:8]:
        for statement in statements:
            con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', '8')")
    con.execute(
        "INSERT INTO events (event_id, customer_id, timestamp, type, properties, load_id) "
        """VALUES ('e1', 'C1', TIMESTAMP '2026-01-02', 'view', '{"size": "L", "a.b": 1}', 1),
                  ('e2', 'C1', TIMESTAMP '2026-01-02', 'view', NULL, 1)"""
    )
    con.close()
    store = Store(path)
    try:
        assert store.property_keys() == frozenset({"size", "a.b"})
    finally:
        store.close()
