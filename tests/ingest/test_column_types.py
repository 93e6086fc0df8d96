"""Type inference never damages a value, and the load summary says where each column went
(issue 12, point 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from tests.conftest import write


def _current(ws: Workspace, customer: str) -> dict[str, Any]:
    table = ws.customers()
    rows = table.filter(table.customer_id == customer).to_pyarrow().to_pylist()
    assert len(rows) == 1
    return rows[0]  # type: ignore[no-any-return]


def _columns(report: Any) -> dict[str, dict[str, Any]]:
    return {c["column"]: c for c in report.to_dict()["columns"]}


def test_postcodes_and_ids_with_leading_zeros_stay_text(ws: Workspace, tmp_path: Path) -> None:
    report = ws.ingest(
        "customers",
        write(
            tmp_path / "customers.csv",
            "customer_id,postcode,account,contact,big_id,age,ratio\n"
            "C1,06000,000123,+33612345678,12345678901234567,30,0.5\n"
            "C2,75001,004567,+4915112345678,12345678901234568,41,1.25\n",
        ),
    )
    assert report.accepted == 2
    types = ws.store.attribute_columns()
    assert types["postcode"] == "text"
    assert types["account"] == "text"
    assert types["contact"] == "text"
    assert types["big_id"] == "text"  # 17 digits: a double would round it
    assert types["age"] == "number"
    assert types["ratio"] == "number"
    one, two = _current(ws, "C1"), _current(ws, "C2")
    assert (one["postcode"], two["postcode"]) == ("06000", "75001")
    assert (one["account"], two["account"]) == ("000123", "004567")
    assert one["contact"] == "+33612345678"
    assert (one["big_id"], two["big_id"]) == ("12345678901234567", "12345678901234568")
    columns = _columns(report)
    assert columns["postcode"]["role"] == "attribute"
    assert columns["postcode"]["type"] == "text"
    assert columns["postcode"]["type_from"] == "inferred"
    assert "06000" in columns["postcode"]["note"]
    assert columns["age"]["type"] == "number"


def test_a_postcode_column_without_leading_zeros_stays_text_by_its_name(
    ws: Workspace, tmp_path: Path
) -> None:
    ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,Code postal,zipCode,store_id,household_size\n"
            "C1,75001,10001,12,3\nC2,69002,94105,7,1",
        ),
    )
    types = ws.store.attribute_columns()
    assert types["Code postal"] == "text"
    assert types["zipCode"] == "text"
    assert types["store_id"] == "text"
    assert types["household_size"] == "number"
    assert _current(ws, "C1")["Code postal"] == "75001"
    # a later file with a leading zero keeps it: the attribute is text
    ws.ingest("customers", write(tmp_path / "d.csv", "customer_id,Code postal\nC3,06000"))
    assert _current(ws, "C3")["Code postal"] == "06000"


def test_event_properties_keep_leading_zeros(ws: Workspace, tmp_path: Path) -> None:
    ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,customer_id,timestamp,type,zip,coupon\n"
            "e1,C1,2025-01-01,purchase,06000,5\ne2,C1,2025-01-02,purchase,75001,10",
        ),
    )
    props = dict(ws.store.fetchall("SELECT event_id, properties FROM events"))
    assert json.loads(props["e1"]) == {"zip": "06000", "coupon": 5.0}
    assert json.loads(props["e2"]) == {"zip": "75001", "coupon": 10.0}


def test_email_and_phone_columns_are_proposed_as_identities(ws: Workspace, tmp_path: Path) -> None:
    report = ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,Courriel,Téléphone,Mobile,E-Mail pro,city\n"
            "C1,ana@example.com,+33 6 12 34 56 78,+33 7 11 22 33 44,ana@corp.fr,Lyon\n"
            "C2,bob@example.com,+33 6 99 88 77 66,,,Nice",
        ),
    )
    ids = set(ws.store.fetchall("SELECT id_type, id_value, customer_id FROM identities"))
    assert ("email", "ana@example.com", "C1") in ids
    assert ("phone", "+33612345678", "C1") in ids
    columns = _columns(report)
    assert columns["Courriel"]["role"] == "identity"
    assert columns["Courriel"]["name"] == "email"
    assert columns["Téléphone"]["role"] == "identity"
    assert columns["Téléphone"]["name"] == "phone"
    # a second phone and a second e-mail cannot both be the identity: kept, and reported
    for name in ("Mobile", "E-Mail pro"):
        assert columns[name]["role"] == "attribute"
        assert columns[name]["warning"]
        assert "--map" in columns[name]["warning"]
    assert columns["city"]["role"] == "attribute"
    assert columns["city"]["warning"] is None
    assert columns["customer_id"]["role"] == "identity"
    assert "Mobile" in ws.store.attribute_columns()
    # the e-mail in its new column links an event to its customer
    ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,e-mail,timestamp,type\ne1,ANA@example.com,2025-01-01,view",
        ),
    )
    assert ws.store.fetchall("SELECT customer_id FROM events") == [("C1",)]


def test_a_mail_column_that_holds_no_addresses_stays_an_attribute(
    ws: Workspace, tmp_path: Path
) -> None:
    report = ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,mail,Téléphone\nC1,oui,0612345678\nC2,non,n/a\nC3,oui,bureau",
        ),
    )
    columns = _columns(report)
    assert columns["mail"]["role"] == "attribute"
    assert columns["mail"]["type"] == "text"
    # none of its values is an address: noted, not a warning
    assert columns["mail"]["warning"] is None
    assert "none of its values" in columns["mail"]["note"]
    assert _current(ws, "C1")["mail"] == "oui"
    # one phone in three: not taken, and a warning says so
    assert columns["Téléphone"]["role"] == "attribute"
    assert "33%" in columns["Téléphone"]["warning"]
    assert "--map 'Téléphone'=phone" in columns["Téléphone"]["warning"]
    # an explicit --map wins over the name
    report = ws.ingest(
        "customers",
        write(tmp_path / "d.csv", "customer_id,courriel\nC4,c4@example.com"),
        map={"courriel": "contact_courriel"},
    )
    columns = _columns(report)
    assert columns["courriel"]["role"] == "attribute"
    assert columns["courriel"]["name"] == "contact_courriel"
    assert "email" in columns["courriel"]["warning"]


def test_declared_stored_and_canonical_columns_in_the_summary(
    ws: Workspace, tmp_path: Path
) -> None:
    first = ws.ingest("customers", write(tmp_path / "a.csv", "customer_id,income\nC1,100"))
    assert _columns(first)["income"]["type_from"] == "inferred"
    report = ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,interests,income,updated_at\nC1,a|b,120,2026-01-01",
        ),
    )
    columns = _columns(report)
    assert (columns["interests"]["type"], columns["interests"]["type_from"]) == (
        "list",
        "declared",
    )
    assert (columns["income"]["type"], columns["income"]["type_from"]) == ("number", "stored")
    assert columns["updated_at"]["role"] == "canonical"
    assert columns["updated_at"]["name"] == "valid_from"
    events = ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,Customer ID,timestamp,type,amount,colour\ne1,C1,2025-01-01,purchase,3,red",
        ),
    )
    columns = _columns(events)
    assert (columns["Customer ID"]["role"], columns["Customer ID"]["name"]) == (
        "identity",
        "customer_id",
    )
    assert (columns["amount"]["role"], columns["amount"]["name"]) == ("canonical", "amount")
    assert (columns["colour"]["role"], columns["colour"]["type"]) == ("property", "text")
    assert all(c["source"] == str(tmp_path / "e.csv") for c in columns.values())


def test_the_ingest_command_shows_where_each_column_went(tmp_path: Path) -> None:
    runner = CliRunner()
    workspace = str(tmp_path / "ws")
    assert runner.invoke(app, ["init", workspace]).exit_code == 0
    path = write(
        tmp_path / "customers.csv",
        "customer_id,postcode,courriel,mobile,age\n"
        "C1,06000,ana@example.com,0612345678,30\nC2,75001,bob@example.com,,41",
    )
    result = runner.invoke(
        app, ["--workspace", workspace, "ingest", "customers", str(path)], terminal_width=120
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()

    def line_of(column: str) -> str:
        found = [line for line in lines if f" {column} " in line]
        assert found, result.output
        return found[0]

    assert "attribute" in line_of("postcode")
    assert "text" in line_of("postcode")
    assert "inferred" in line_of("postcode")
    assert "identity" in line_of("courriel")
    assert "email" in line_of("courriel")
    assert "identity" in line_of("mobile")
    assert "number" in line_of("age")
    as_json = runner.invoke(
        app,
        ["--workspace", workspace, "ingest", "customers", str(path), "--json"],
    )
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    by_column = {c["column"]: c for c in report["columns"]}
    assert by_column["postcode"]["type"] == "text"
    assert by_column["courriel"]["role"] == "identity"


def test_a_column_of_addresses_under_another_name_is_reported(
    ws: Workspace, tmp_path: Path
) -> None:
    report = ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,customer_id,timestamp,type,contact\n"
            "e1,C1,2025-01-01,view,a@b.fr\ne2,C2,2025-01-01,view,c@d.fr",
        ),
    )
    contact = _columns(report)["contact"]
    assert contact["role"] == "property"
    assert "--map 'contact'=email" in contact["warning"]
    assert any("'contact'" in w for w in report.warnings)
