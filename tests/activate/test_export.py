"""Audience exports on the hand-built shop of :mod:`tests.activate._shop`: every format,
the ad-platform hashes (test vectors), the stamp, the record, delta exports, the
ignore-consent flag, the CLI and bad input."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.activate import normalise_email, normalise_phone, sha256_hex
from microseg.cli import app
from microseg.core.errors import OutputError, ParameterError
from microseg.lang import RuleError
from tests.activate._shop import consent_shop

runner = CliRunner()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- hashing: the documented normalisation, and test vectors -----------------------------------


def test_normalisation_as_documented() -> None:
    assert normalise_email("  Ann.Smith@Gmail.com ", "google-ads") == "annsmith@gmail.com"
    assert normalise_email("  Ann.Smith@Gmail.com ", "meta-ads") == "ann.smith@gmail.com"
    assert normalise_email("Jo.Ng@Example.com", "google-ads") == "jo.ng@example.com"
    assert normalise_phone("+33 6 12 34 56 78", "google-ads") == "+33612345678"
    assert normalise_phone("+33612345678", "meta-ads") == "33612345678"


def test_hash_vectors() -> None:
    vectors = {
        "test@example.com": "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b",
        "annsmith@gmail.com": "c1a222ae1fca88014d03eef4e45c3dd3785f2be3f454078836a3557761df0746",
        "+33612345678": "42d573cfc315801d4cd8eddd5416b416a0bf298b9b9e12d6b07442c91db42bd8",
        "33612345678": "8a3e7886c9335e82e02299fa3e87b46e2de3b0c63d56003e30a5029394a47661",
    }
    for text, digest in vectors.items():
        assert _sha(text) == digest
        assert sha256_hex(text) == digest


def test_ad_files_hold_hashes_only(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    google, meta = tmp_path / "google.csv", tmp_path / "meta.csv"
    ws.activate.export("lyon", to=google, format="google-ads", as_of="2025-07-01")
    record = ws.activate.export("lyon", to=meta, format="meta-ads", as_of="2025-07-01")
    assert record.channel == "ads"  # the ad formats' default channel
    assert _rows(google) == [
        {"Email": _sha("annsmith@gmail.com"), "Phone": _sha("+33612345678")},
        {"Email": "", "Phone": _sha("+33698765432")},
    ]
    assert _rows(meta) == [
        {"email": _sha("ann.smith@gmail.com"), "phone": _sha("33612345678")},
        {"email": "", "phone": _sha("33698765432")},
    ]
    for path in (google, meta):
        text = path.read_text(encoding="utf-8")
        for clear in ("gmail", "@", "+33", "612345678", "C1", "C4"):
            assert clear not in text


# -- formats, stamp and record ----------------------------------------------------------------


def test_csv_export_with_columns_stamp_and_record(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    out = tmp_path / "lyon.csv"
    record = ws.activate.export(
        "lyon", to=out, channel="email", as_of="2025-04-15", columns=["tier", "phone"]
    )
    assert _rows(out) == [
        {"customer_id": "C1", "email": "ann.smith@gmail.com", "tier": "", "phone": "+33612345678"},
        {"customer_id": "C3", "email": "cat@example.com", "tier": "", "phone": ""},
        {"customer_id": "C7", "email": "gus@example.com", "tier": "", "phone": ""},
    ]
    stamp = json.loads((tmp_path / "lyon.csv.microseg.json").read_text(encoding="utf-8"))
    version = ws.segments.evaluate(["lyon"], save=False).versions["lyon"]
    assert stamp["segment"] == "lyon"
    assert stamp["version"] == version
    assert stamp["as_of"] == "2025-04-15T22:00:00Z"  # end of the day in Paris
    expected_hash = _sha("C1\nC3\nC7\n")
    assert record.members_sha256 == expected_hash == stamp["members_sha256"]
    logged = ws.activate.exports()
    assert len(logged) == 1
    assert logged[0].model_dump(exclude={"stamp"}) == record.model_dump(exclude={"stamp"})
    assert logged[0].destination == str(out.resolve())
    assert logged[0].rows == 3
    assert logged[0].excluded == {"withdrawn": 2, "no_consent": 1, "unreachable": 1}
    assert not logged[0].consent_ignored
    assert not logged[0].delta


def test_parquet_and_jsonl(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    ws.activate.export("lyon", to=tmp_path / "sms.parquet", channel="sms", as_of="2025-07-01")
    table = pq.read_table(tmp_path / "sms.parquet")
    assert table.to_pylist() == [{"customer_id": "C4", "phone": "+33698765432"}]
    stamp = json.loads(table.schema.metadata[b"microseg"])
    assert (stamp["segment"], stamp["channel"], stamp["rows"]) == ("lyon", "sms", 1)
    assert not (tmp_path / "sms.parquet.microseg.json").exists()
    ws.activate.export("lyon", to=tmp_path / "all.jsonl", as_of="2025-07-01", columns=["email"])
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7
    assert json.loads(lines[3]) == {"customer_id": "C4", "email": None}
    assert (tmp_path / "all.jsonl.microseg.json").exists()


def test_ignore_consent_is_recorded(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    record = ws.activate.export(
        "lyon", to=tmp_path / "x.csv", channel="email", as_of="2025-04-15", ignore_consent=True
    )
    assert record.rows == 6
    assert ws.activate.exports()[0].consent_ignored
    assert ws.activate.exports()[0].included_without_consent == 3
    stamp = json.loads((tmp_path / "x.csv.microseg.json").read_text(encoding="utf-8"))
    assert stamp["consent_ignored"] is True


# -- delta ------------------------------------------------------------------------------------


def test_delta_since_the_last_export_to_the_same_file(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    out = tmp_path / "email.csv"
    first = ws.activate.export("lyon", to=out, channel="email", as_of="2025-04-15", delta=True)
    # nothing exported there before: everyone enters
    assert (first.entered, first.exited, first.rows) == (3, 0, 3)
    # another destination does not count
    ws.activate.export("lyon", to=tmp_path / "other.csv", channel="email", as_of="2025-07-01")
    second = ws.activate.export("lyon", to=out, channel="email", as_of="2025-07-01", delta=True)
    assert _rows(out) == [
        {"customer_id": "C2", "email": "bob@example.com", "change": "entered"},
        {"customer_id": "C7", "email": "gus@example.com", "change": "left"},
    ]
    assert (second.entered, second.exited, second.rows, second.members) == (1, 1, 2, 3)
    assert second.members_sha256 == _sha("C1\nC2\nC3\n")  # the full list, recorded
    third = ws.activate.export("lyon", to=out, channel="email", as_of="2025-07-01", delta=True)
    assert (third.entered, third.exited, third.rows) == (0, 0, 0)


# -- bad input --------------------------------------------------------------------------------


def test_bad_input(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    with pytest.raises(RuleError, match="no segment named 'lyn'"):
        ws.activate.export("lyn", to=tmp_path / "x.csv")
    with pytest.raises(OutputError, match="folder does not exist"):
        ws.activate.export("lyon", to=tmp_path / "missing" / "x.csv")
    with pytest.raises(ParameterError, match="unknown export format 'xlsx'"):
        ws.activate.export("lyon", to=tmp_path / "x.csv", format="xlsx")
    with pytest.raises(ParameterError, match="hashed identifiers only"):
        ws.activate.export("lyon", to=tmp_path / "x.csv", format="meta-ads", columns=["tier"])
    with pytest.raises(ParameterError, match=r"--columns 'tierr'.*did you mean 'tier'"):
        ws.activate.export("lyon", to=tmp_path / "x.csv", columns=["tierr"])
    assert ws.activate.exports() == []
    assert not (tmp_path / "x.csv").exists()


def test_unwritable_destination(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    with pytest.raises(OutputError, match="folder is a file"):
        ws.activate.export("lyon", to=tmp_path / "a-file" / "x.csv")
    with pytest.raises(OutputError, match="the destination is a folder"):
        ws.activate.export("lyon", to=tmp_path)


def test_a_failed_write_leaves_no_file_and_no_record(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    out = tmp_path / "x.csv"
    ws.activate.export("lyon", to=out, channel="email", as_of="2025-04-15")
    before = out.read_bytes()
    sidecar = tmp_path / "x.csv.microseg.json"
    os.remove(sidecar)
    sidecar.mkdir()  # the sidecar cannot replace a folder: the export fails at the rename
    with pytest.raises(OutputError, match="cannot write the export"):
        ws.activate.export("lyon", to=out, channel="email", as_of="2025-07-01")
    assert out.read_bytes() == before
    assert len(ws.activate.exports()) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".x.csv")) == []


# -- command line -----------------------------------------------------------------------------


def test_cli_export_and_list(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    out = tmp_path / "ads.csv"
    base = ["-w", str(ws.path), "export"]
    shown = runner.invoke(
        app, [*base, "lyon", "--to", str(out), "--format", "google-ads", "--as-of", "2025-07-01"]
    )
    assert shown.exit_code == 0, shown.output
    assert "2 rows (full) of lyon" in shown.stdout
    assert "left out, withdrawn (unsubscribed): 1" in shown.stdout
    ignored = runner.invoke(
        app,
        [*base, "lyon", "--to", str(tmp_path / "e.csv"), "--channel", "email", "--ignore-consent"],
    )
    assert ignored.exit_code == 0, ignored.output
    assert "consent ignored" in ignored.output
    listed = runner.invoke(app, ["--json", *base, "--list"])
    assert listed.exit_code == 0, listed.output
    exports = json.loads(listed.stdout)["exports"]
    assert [e["format"] for e in exports] == ["csv", "google-ads"]
    assert [e["consent_ignored"] for e in exports] == [True, False]
    table = runner.invoke(app, [*base, "--list"], env={"COLUMNS": "80"})
    assert table.exit_code == 0
    assert "google-ads" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())


def test_cli_bad_input_messages(ws: Workspace, tmp_path: Path) -> None:
    consent_shop(ws, tmp_path)
    base = ["-w", str(ws.path), "export"]
    unknown = runner.invoke(app, [*base, "nope", "--to", str(tmp_path / "x.csv")])
    assert unknown.exit_code == 1
    assert "no segment named 'nope'" in unknown.output
    nowhere = runner.invoke(app, [*base, "lyon", "--to", str(tmp_path / "no" / "x.csv")])
    assert nowhere.exit_code == 1
    assert "folder does not exist" in nowhere.output
    assert str(tmp_path / "no" / "x.csv") in nowhere.output
    missing = runner.invoke(app, [*base, "lyon"])
    assert missing.exit_code == 2
    assert "--to FILE" in missing.output
