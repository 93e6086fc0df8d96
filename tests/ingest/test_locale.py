"""Locale-aware sources (issue 12, point 1): a French shop's export loads as it is, with
its read options declared once, and a value not written as declared is rejected with the
declared format named, never guessed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import ConfigError, Workspace, load_config
from microseg.cli import app
from tests.conftest import NOW

#: an order export as a French shop's back office writes it: UTF-8 with a BOM, CRLF line
#: ends, ';' between fields, ',' for decimals, a space (and a narrow no-break space)
#: between thousands, day-first times, a comment spanning two lines, and no type column
FRENCH_ORDERS = (
    "\ufeffN° commande;Client;Date;Montant TTC;Quantité;Commentaire\r\n"
    "FR-001;C001;10/02/2025 16:10;12,50;1;\r\n"
    'FR-002;C002;11/02/2025 09:05;2 464,70;3;"Livrer au 2e étage,\r\nsonner deux fois"\r\n'
    "FR-003;C001;01/03/2025 00:00;1\u202f234\u202f567,89;12;\r\n"
    'FR-004;C003;31/07/2025 23:59;0,99;1;"Cadeau ""surprise"""\r\n'
)

SOURCE = """sources:
  commandes:
    kind: events
    map: {"N° commande": order_id, Client: customer_id, Date: timestamp,
          "Montant TTC": amount, "Quantité": quantity}
    delimiter: ";"
    decimal: ","
    thousands: " "
    timestamp_format: "%d/%m/%Y %H:%M"
    timezone: Europe/Paris
    constants: {type: purchase}
"""

#: the same orders as stored: amounts exact, times in UTC (Paris is UTC+1 in winter, +2
#: in summer), the comment with its line break as written
EXPECTED = [
    ("FR-001", "C001", datetime(2025, 2, 10, 15, 10), 12.5, 1, None),
    ("FR-002", "C002", datetime(2025, 2, 11, 8, 5), 2464.7, 3,
     "Livrer au 2e étage,\r\nsonner deux fois"),
    ("FR-003", "C001", datetime(2025, 2, 28, 23, 0), 1234567.89, 12, None),
    ("FR-004", "C003", datetime(2025, 7, 31, 21, 59), 0.99, 1, 'Cadeau "surprise"'),
]  # fmt: skip


def _workspace(tmp_path: Path, extra: str = "") -> Path:
    root = tmp_path / "ws"
    Workspace.init(root, timezone="UTC", clock=lambda: NOW).close()
    config = root / "microseg.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("sources: {}\n", SOURCE) + extra, encoding="utf-8")
    return root


def _orders(tmp_path: Path) -> Path:
    path = tmp_path / "commandes.csv"
    path.write_bytes(FRENCH_ORDERS.encode("utf-8"))
    return path


def _stored(root: Path) -> list[tuple[object, ...]]:
    with Workspace.open(root, clock=lambda: NOW) as ws:
        rows = (
            ws.events()
            .order_by("order_id")
            .to_pyarrow()
            .select(["order_id", "customer_id", "timestamp", "amount", "quantity", "type"])
            .to_pylist()
        )
        props = ws.events().order_by("order_id").properties.to_pyarrow().to_pylist()
    assert all(r["type"] == "purchase" for r in rows)
    comments = [json.loads(p).get("Commentaire") if p else None for p in props]
    return [
        (r["order_id"], r["customer_id"], r["timestamp"], r["amount"], r["quantity"], c)
        for r, c in zip(rows, comments, strict=True)
    ]


def test_french_orders_load_with_config_only(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    path = _orders(tmp_path)
    result = CliRunner().invoke(
        app, ["--workspace", str(root), "ingest", "events", str(path), "--source", "commandes"]
    )
    assert result.exit_code == 0, result.output
    assert _stored(root) == EXPECTED


def test_french_orders_load_with_cli_options_only(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root, timezone="Europe/Paris", clock=lambda: NOW).close()
    path = _orders(tmp_path)
    options = ["--delimiter", ";", "--decimal", ",", "--thousands", " "]
    options += ["--timestamp-format", "%d/%m/%Y %H:%M", "--constant", "type=purchase"]
    for source, target in (
        ("N° commande", "order_id"),
        ("Client", "customer_id"),
        ("Date", "timestamp"),
        ("Montant TTC", "amount"),
        ("Quantité", "quantity"),
    ):
        options += ["--map", f"{source}={target}"]
    result = CliRunner().invoke(
        app, ["--workspace", str(root), "ingest", "events", str(path), *options, "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["accepted"] == 4
    assert _stored(root) == EXPECTED
    # the summary says the type column is not the file's but the declared constant
    [kind] = [c for c in report["columns"] if c["column"] == "type"]
    assert kind["note"] == "not in the file: the declared constant 'purchase'"


def test_a_value_not_written_as_declared_is_rejected_with_the_format(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    path = tmp_path / "mixed.csv"
    path.write_text(
        "N° commande;Client;Date;Montant TTC;Quantité\n"
        "FR-010;C1;10/02/2025 16:10;12,50;1\n"
        "FR-011;C1;2025-02-10T16:10:00Z;12,50;1\n"  # ISO: not the declared format
        "FR-012;C1;02/10/2025 4:10 PM;12,50;1\n"
        "FR-013;C1;10/02/2025 16:10;12.50;1\n"  # a dot: not the declared decimal
        "FR-014;C1;10/02/2025 16:10;2.464,70;1\n",
        encoding="utf-8",
    )
    with Workspace.open(root, clock=lambda: NOW) as ws:
        report = ws.ingest("events", path, source="commandes", max_rejected="100%")
        assert (report.accepted, report.rejected) == (1, 4)
        rejects = {r["line"]: r for r in ws.rejects(limit=None).to_pyarrow().to_pylist()}
    assert set(rejects) == {3, 4, 5, 6}
    for line in (3, 4):
        assert rejects[line]["problem"] == "unreadable_timestamp"
        assert "in the format '%d/%m/%Y %H:%M'" in rejects[line]["reason"]
    for line in (5, 6):
        assert rejects[line]["problem"] == "unreadable_amount"
        assert "',' for decimals and a space between thousands" in rejects[line]["reason"]


def test_formats_are_checked_when_the_config_loads(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    config = root / "microseg.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('"%d/%m/%Y %H:%M"', '"%d/%m/%Y %H"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"timestamp_format.*no minutes \(%M\)") as caught:
        load_config(config)
    assert "microseg.yaml:" in str(caught.value)
    config.write_text(text.replace('"%d/%m/%Y %H:%M"', '"%d/%q/%Y %H:%M"'), encoding="utf-8")
    with pytest.raises(ConfigError, match="%q"):
        load_config(config)


def test_csv_delimiter_is_still_the_default_delimiter(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root, clock=lambda: NOW).close()
    config = root / "microseg.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("  future_tolerance:", "  csv_delimiter: ';'\n  future_tolerance:"),
        encoding="utf-8",
    )
    path = tmp_path / "e.csv"
    path.write_text("customer_id;timestamp;type;amount\nC1;2025-01-01;purchase;3.5\n")
    with Workspace.open(root, clock=lambda: NOW) as ws:
        assert ws.ingest("events", path).accepted == 1
        assert ws.events().amount.to_pyarrow().to_pylist() == [3.5]


def test_customer_attributes_in_french(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_bytes(
        "client;fidèle;né le;centres d'intérêt;panier moyen\r\n"
        "C1;oui;03/04/1985;sport, cuisine;1 250,5\r\n"
        "C2;Non;25/12/1990;;12,00\r\n".encode("cp1252")
    )
    read = {
        "encoding": "cp1252",
        "delimiter": ";",
        "decimal": ",",
        "thousands": " ",
        "date_format": "%d/%m/%Y",
        "true_values": ["oui"],
        "false_values": ["non"],
        "list_separators": {"centres d'intérêt": ","},
    }
    report = ws.ingest("customers", path, map={"client": "customer_id"}, read=read)
    assert (report.accepted, report.rejected) == (2, 0)
    types = {a["name"]: a["type"] for a in ws.attributes.list()}
    assert types["fidèle"] == "boolean"
    assert types["né le"] == "date"
    assert types["centres d'intérêt"] == "list"
    [interests] = [c for c in report.columns if c.column == "centres d'intérêt"]
    assert interests.note == "a list: its separator ',' is declared"
    assert types["panier moyen"] == "number"
    rows = ws.customers().order_by("customer_id").to_pyarrow().to_pylist()
    assert [r["fidèle"] for r in rows] == [True, False]
    assert [str(r["né le"]) for r in rows] == ["1985-04-03", "1990-12-25"]
    assert rows[0]["centres d'intérêt"] == ["sport", "cuisine"]
    assert [r["panier moyen"] for r in rows] == [1250.5, 12.0]


def test_read_options_from_python_are_checked(ws: Workspace, tmp_path: Path) -> None:
    from microseg.core.errors import ParameterError

    path = tmp_path / "e.csv"
    path.write_text("customer_id,timestamp,type\nC1,2025-01-01,view\n")
    with pytest.raises(ParameterError, match="no year"):
        ws.ingest("events", path, read={"date_format": "%d/%m"})
    with pytest.raises(ParameterError, match="delimeter"):
        ws.ingest("events", path, read={"delimeter": ";"})
    with pytest.raises(ParameterError, match="thousands"):
        ws.ingest("events", path, read={"thousands": "_"})


def test_json_numbers_are_read_whatever_the_decimal_separator(
    ws: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"customer_id": "C1", "timestamp": "10/02/2025 16:10", "type": "purchase", '
        '"amount": 1234.5}\n',
        encoding="utf-8",
    )
    read = {"decimal": ",", "thousands": ".", "timestamp_format": "%d/%m/%Y %H:%M"}
    assert ws.ingest("events", path, read=read).accepted == 1
    assert ws.events().amount.to_pyarrow().to_pylist() == [1234.5]


def test_a_file_in_another_encoding(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(
        "customer_id,timestamp,type,ville\nC1,2025-01-01,view,Paris\nC2,2025-01-01,view,Sète\n".encode(
            "latin-1"
        )
    )
    report = ws.ingest("events", path, max_rejected="100%")
    assert (report.accepted, report.rejected) == (1, 1)
    (reject,) = ws.rejects(limit=None).to_pyarrow().to_pylist()
    assert (reject["row"], reject["line"]) == (2, 3)
    assert "declare the file's encoding" in reject["reason"]
    report = ws.ingest("events", path, read={"encoding": "latin-1"})
    assert (report.accepted, report.duplicates, report.rejected) == (1, 1, 0)
    props = ws.events().order_by("customer_id").properties.to_pyarrow().to_pylist()
    assert [json.loads(p)["ville"] for p in props] == ["Paris", "Sète"]
