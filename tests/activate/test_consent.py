"""Consent and reachability on the hand-built shop of :mod:`tests.activate._shop`.

as_of 2025-04-15 (end of that day in Paris) sits between C2's unsubscribe (2025-03-01) and
resubscribe (2025-06-01); 2025-07-01 after both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.activate import Audience
from microseg.cli import app
from microseg.core.errors import ConfigError, ParameterError
from tests.activate._shop import consent_shop
from tests.conftest import write

runner = CliRunner()


def _ids(audience: Audience) -> list[str]:
    return [str(i) for i in audience.members.column("customer_id").to_pylist()]


def test_email_consent_between_unsubscribe_and_resubscribe(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    before = ws.activate.audience("lyon", channel="email", as_of="2025-02-15")
    # C2 opted in, not yet unsubscribed; C3 opted in on 2025-02-01; C6, C7 opted in
    assert _ids(before) == ["C1", "C2", "C3", "C6", "C7"]
    between = ws.activate.audience("lyon", channel="email", as_of="2025-04-15")
    assert _ids(between) == ["C1", "C3", "C7"]
    # C2 and C6 unsubscribed; C5 never opted in (its channel-less resubscribe restores
    # nothing); C4 has no e-mail
    assert between.excluded == {"withdrawn": 2, "no_consent": 1, "unreachable": 1}
    assert between.candidates == 7
    assert between.members.column("email").to_pylist() == [
        "ann.smith@gmail.com",
        "cat@example.com",
        "gus@example.com",
    ]
    after = ws.activate.audience("lyon", channel="email", as_of="2025-07-01")
    # C2 resubscribed; C6's later version repeats the opt-in without renewing it; C7
    # opted out by the attribute on 2025-05-01
    assert _ids(after) == ["C1", "C2", "C3"]
    assert after.excluded == {"withdrawn": 1, "no_consent": 2, "unreachable": 1}


def test_sms_and_ads_reachability(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    sms = ws.activate.audience("lyon", channel="sms", as_of="2025-07-01")
    # C1 unsubscribed from SMS only, C6 from every channel; C2 has no phone
    assert _ids(sms) == ["C4"]
    assert sms.members.column_names == ["customer_id", "phone"]
    assert sms.excluded == {"withdrawn": 2, "no_consent": 3, "unreachable": 1}
    ads = ws.activate.audience("lyon", channel="ads", as_of="2025-07-01")
    assert _ids(ads) == ["C1", "C4"]  # C4 reachable by phone alone
    assert ads.members.to_pylist()[1] == {
        "customer_id": "C4",
        "email": None,
        "phone": "+33698765432",
    }
    assert ads.excluded == {"withdrawn": 1, "no_consent": 4, "unreachable": 0}


def test_without_a_channel_everyone_and_ignore_consent_is_said(
    ws: Workspace, tmp_path: Path
) -> None:
    consent_shop(ws, tmp_path)
    everyone = ws.activate.audience("lyon", as_of="2025-04-15")
    assert _ids(everyone) == [f"C{i}" for i in range(1, 8)]
    assert everyone.excluded == {}
    ignored = ws.activate.audience("lyon", channel="email", as_of="2025-04-15", ignore_consent=True)
    assert _ids(ignored) == ["C1", "C2", "C3", "C5", "C6", "C7"]  # not C4: no e-mail
    assert ignored.consent_ignored
    assert ignored.included_without_consent == 3  # C2, C5, C6
    assert ignored.excluded == {"withdrawn": 0, "no_consent": 0, "unreachable": 1}


def test_consent_config_default_and_event_channel(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    config = ws.path / "microseg.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "email: {attribute: email_opt_in, identities: [email], default: false,",
            "email: {attribute: email_opt_in, identities: [email], default: true,",
        ),
        encoding="utf-8",
    )
    reopened = Workspace.open(ws.path)
    try:
        audience = reopened.activate.audience("lyon", channel="email", as_of="2025-04-15")
        # C5, of whom nothing is known, now counts as consented
        assert _ids(audience) == ["C1", "C3", "C5", "C7"]
    finally:
        reopened.close()


def test_unknown_channel_is_refused_with_the_known_ones(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    with pytest.raises(ParameterError, match=r"unknown channel 'emial'.*did you mean 'email'"):
        ws.activate.audience("lyon", channel="emial")


def test_the_demo_shop_has_realistic_consent(tmp_path: Path) -> None:
    from microseg.synth import generate_shop

    shop = generate_shop(tmp_path / "shop", customers=400, seed=3)
    ws = Workspace.init(tmp_path / "ws")
    try:
        ws.ingest("customers", shop.paths["customers"], valid_from="signup_date")
        ws.ingest("events", shop.paths["consent_events"])
        write = ws.path / "segments" / "all.yaml"
        write.write_text("name: all\nrule: {attribute: signup_date, lt: 2100-01-01}\n")
        email = ws.activate.audience("all", channel="email", as_of="2026-10-31")
        sms = ws.activate.audience("all", channel="sms", as_of="2026-10-31")
    finally:
        ws.close()
    assert email.candidates == 400
    assert 0.55 < email.size / 400 < 0.85
    assert email.excluded["withdrawn"] > 0
    assert sms.size < email.size


def test_cli_json_audience_counts(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    out = tmp_path / "out.csv"
    args = ["--json", "-w", str(ws.path), "export", "lyon", "--to", str(out)]
    result = runner.invoke(app, [*args, "--channel", "email", "--as-of", "2025-04-15"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["excluded"] == {"withdrawn": 2, "no_consent": 1, "unreachable": 1}
    assert record["members"] == 3
    bad = runner.invoke(app, [*args, "--channel", "fax"])
    assert bad.exit_code == 2
    assert "unknown channel 'fax'" in bad.output
    assert "email, sms, ads" in bad.output


def test_events_can_name_the_channel_in_a_property(ws: Workspace, tmp_path: Path) -> None:
    config = ws.path / "microseg.yaml"
    text = config.read_text(encoding="utf-8")
    assert "  event_channel: channel " in text
    config.write_text(
        text.replace("  event_channel: channel ", "  event_channel: properties.medium "),
        encoding="utf-8",
    )
    reopened = Workspace.open(ws.path)
    try:
        reopened.ingest(
            "customers",
            write(
                tmp_path / "c.csv",
                "customer_id,signup,city,email,email_opt_in\n"
                "C1,2024-01-01,Lyon,a@x.com,true\nC2,2024-01-01,Lyon,b@x.com,true",
            ),
            valid_from="signup",
        )
        reopened.ingest(
            "events",
            write(
                tmp_path / "e.csv",
                "customer_id,type,timestamp,medium\n"
                "C1,unsubscribe,2025-03-01T10:00:00Z, Email \n"
                "C2,unsubscribe,2025-03-01T10:00:00Z,sms",
            ),
        )
        write(
            reopened.path / "segments" / "lyon.yaml",
            "name: lyon\nrule: {attribute: city, eq: Lyon}",
        )
        audience = reopened.activate.audience("lyon", channel="email", as_of="2025-04-01")
    finally:
        reopened.close()
    # the property names the channel (case and spaces aside): C1 left e-mail, C2 only SMS
    assert _ids(audience) == ["C2"]
    assert audience.excluded["withdrawn"] == 1


def test_a_bad_consent_section_is_located(ws: Workspace) -> None:
    config = ws.path / "microseg.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "sms: {attribute: sms_opt_in, identities: [phone],",
            "sms: {attribute: sms_opt_in, identities: [fax],",
        ),
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError, match=r"consent\.channels\.sms\.identities.*unknown identity type 'fax'"
    ):
        Workspace.open(ws.path)
