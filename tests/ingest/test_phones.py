"""Phone numbers match across formats: E.164 with the workspace's default country
(issue 12, point 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import ConfigError, Workspace, load_config
from microseg.cli import app
from tests.conftest import NOW, write


def _workspace(tmp_path: Path, country: str | None) -> Workspace:
    ws = Workspace.init(tmp_path / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    if country is not None:
        config = ws.path / "microseg.yaml"
        text = config.read_text()
        anchor = "  max_customers_per_identifier: 20"
        assert anchor in text
        config.write_text(text.replace(anchor, f"  default_country: {country}\n{anchor}"))
        ws.close()
        ws = Workspace.open(tmp_path / "ws", clock=lambda: NOW)
        assert ws.config.identity.default_country == country.upper()
    return ws


def _live(ws: Workspace) -> int:
    return int(ws.store.scalar("SELECT count(*) FROM customers"))


@pytest.mark.parametrize(
    ("country", "national", "international", "e164"),
    [
        ("FR", "06 77 18 75 30", "+33 6 77 18 75 30", "+33677187530"),
        ("GB", "020 7946 0018", "+44 20 7946 0018", "+442079460018"),
        ("US", "(201) 555-0123", "+1 201-555-0123", "+12015550123"),
        ("DE", "030 1234567", "0049 30 1234567", "+49301234567"),
    ],
)
def test_national_and_international_forms_are_one_customer(
    tmp_path: Path, country: str, national: str, international: str, e164: str
) -> None:
    ws = _workspace(tmp_path, country)
    report = ws.ingest(
        "customers",
        write(tmp_path / "c.csv", f'email,phone\na@example.com,"{national}"'),
    )
    assert report.new_customers == 1
    events = ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            f'event_id,phone,timestamp,type\ne1,"{international}",2025-01-01,view',
        ),
    )
    assert (events.new_customers, events.merged_customers) == (0, 0)
    assert _live(ws) == 1
    assert ws.store.fetchall("SELECT id_value FROM identities WHERE id_type = 'phone'") == [(e164,)]
    ws.close()


def test_the_two_forms_of_one_french_number_merge_two_customers(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "fr")
    ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,phone\nC1,06 77 18 75 30\nC2,\n",
        ),
    )
    report = ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,customer_id,phone,timestamp,type\ne1,C2,+33 6 77 18 75 30,2025-01-01,view",
        ),
    )
    assert report.merged_customers == 1
    assert _live(ws) == 1
    ws.close()


def test_invalid_numbers_are_reported_and_never_merged(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "FR")
    report = ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,phone\n"
            "C1,06 77 18 75 3\n"  # one digit short
            "C2,06 77 18 75 3\n"
            "C3,+33 6 12 34\n"
            "C4,06 12 34 56 78\n",
        ),
    )
    assert report.accepted == 4
    assert report.merged_customers == 0
    assert _live(ws) == 4
    assert report.identifiers_set_aside == {"invalid_phone": 3}
    [invalid] = report.invalid_identifiers
    assert invalid.id_type == "phone"
    assert invalid.values == 2
    assert invalid.examples == ["+33 6 12 34", "06 77 18 75 3"]
    phones = ws.store.fetchall("SELECT id_value, customer_id FROM identities WHERE id_type='phone'")
    assert phones == [("+33612345678", "C4")]
    # a row whose only identifier is an invalid number is rejected, with the value as given
    events = ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,phone,timestamp,type\ne1,06 77 18 75 3,2025-01-01,view\n"
            "e2,06 12 34 56 78,2025-01-01,view",
        ),
        max_rejected=1,  # the invalid number's row is refused on purpose
    )
    assert (events.accepted, events.rejected) == (1, 1)
    assert events.reasons == {"invalid_phone": 1}
    rejects = ws.rejects(load_id=events.load_id).to_pyarrow().to_pylist()
    assert [(r["column"], r["value"]) for r in rejects] == [("phone", "06 77 18 75 3")]
    assert "not a valid phone number" in str(rejects[0]["reason"])
    ws.close()


def test_without_a_default_country_only_international_forms_normalise(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, None)
    report = ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,phone\nC1,+33 6 77 18 75 30\nC2,06 77 18 75 30\nC3,0044 20 7946 0018",
        ),
    )
    assert report.merged_customers == 0
    assert _live(ws) == 3
    phones = dict(
        ws.store.fetchall("SELECT customer_id, id_value FROM identities WHERE id_type='phone'")
    )
    assert phones == {"C1": "+33677187530", "C2": "0677187530", "C3": "+442079460018"}
    assert any("default_country" in w for w in report.warnings)
    ws.close()


def test_default_country_is_checked_when_the_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "microseg.yaml"
    path.write_text("version: 1\nidentity:\n  default_country: France\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "microseg.yaml:3" in message
    assert "identity.default_country" in message
    assert "ISO 3166" in message
    assert "FR" in message
    path.write_text("version: 1\nidentity:\n  default_country: XX\n")
    with pytest.raises(ConfigError, match="XX"):
        load_config(path)
    path.write_text("version: 1\nidentity:\n  default_country: gb\n")
    assert load_config(path).identity.default_country == "GB"


def test_the_load_summary_lists_invalid_numbers(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "FR")
    ws.close()
    path = write(tmp_path / "c.csv", "customer_id,phone\nC1,06 77 18 75 3\nC2,06 12 34 56 78")
    runner = CliRunner()
    workspace = str(tmp_path / "ws")
    result = runner.invoke(
        app, ["--workspace", workspace, "ingest", "customers", str(path)], terminal_width=120
    )
    assert result.exit_code == 0, result.output
    assert "1 invalid phone" in result.output
    assert "06 77 18 75 3" in result.output
    path = write(tmp_path / "d.csv", "customer_id,phone\nC3,+33 6 12 34")
    as_json = runner.invoke(
        app, ["--workspace", workspace, "ingest", "customers", str(path), "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert report["invalid_identifiers"] == [
        {"id_type": "phone", "values": 1, "examples": ["+33 6 12 34"]}
    ]


def test_the_quick_reading_agrees_with_phonenumbers_parse() -> None:
    """Numbers valid as they stand skip ``phonenumbers.parse``; the result is the same."""
    import random

    import phonenumbers

    from microseg.ingest._phones import phone_form

    rng = random.Random(5)
    shapes = {
        "FR": ["0{}{}", "+33 {}{}", "0033{}{}", "+33 (0){}{}", "{}{}"],
        "GB": ["0{}{}", "+44{}{}", "+44 (0){}{}"],
        "DE": ["0{}{}", "+49 {}{}", "0049{}{}"],
        "US": ["({}{})", "+1 {}{}", "1{}{}"],
        "IT": ["{}{}", "+39 {}{}", "0{}{}"],
    }
    for country, forms in shapes.items():
        for _ in range(300):
            head = str(rng.randrange(1, 10))
            tail = "".join(rng.choice("0123456789") for _ in range(rng.randrange(5, 11)))
            raw = rng.choice(forms).format(head, tail)
            got = phone_form(raw, country=country)
            digits = "".join(c for c in raw if c.isdigit())
            if raw.startswith("+") or digits.startswith("00"):
                text, region = ("+" + digits[2:] if not raw.startswith("+") else raw), None
            else:
                text, region = raw, country
            try:
                number = phonenumbers.parse(text, region)
                valid = phonenumbers.is_valid_number(number)
            except phonenumbers.NumberParseException:
                valid = False
            if valid:
                expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                assert (got.value, got.kind) == (expected, None), raw
            else:
                assert (got.value, got.kind) == (raw, "invalid"), raw
