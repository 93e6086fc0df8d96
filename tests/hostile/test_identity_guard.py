"""One identifier shared by many customers must not merge them all (issue 10, item 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from microseg import ConfigError, Workspace, load_config
from tests.conftest import write


def _customers_sharing(path: Path, n: int, column: str, value: str, *, start: int = 0) -> Path:
    lines = [f"customer_id,{column},city"] + [
        f'C{i:05d},"{value}",Lyon' for i in range(start, start + n)
    ]
    return write(path, "\n".join(lines))


def _live(ws: Workspace) -> int:
    return int(ws.store.scalar("SELECT count(*) FROM customers"))


def test_2000_customers_sharing_a_phone_stay_2000(ws: Workspace, tmp_path: Path) -> None:
    source = _customers_sharing(tmp_path / "c.csv", 2000, "phone", "+33 6 12 34 56 78")
    started = time.perf_counter()
    report = ws.ingest("customers", source)
    seconds = time.perf_counter() - started
    assert _live(ws) == 2000
    assert report.merged_customers == 0
    assert report.new_customers == 2000
    assert report.shared_identifiers == [
        {"id_type": "phone", "id_value": "+33612345678", "customers": 2000}
    ]
    assert report.identifiers_set_aside == {"shared_phone": 2000}
    assert ws.store.scalar("SELECT count(*) FROM merges") == 0
    assert seconds < 10
    # the load is still idempotent
    again = ws.ingest("customers", source)
    assert (again.accepted, again.duplicates, again.new_customers) == (0, 2000, 0)
    assert _live(ws) == 2000


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("phone", "000-000-0000"),
        ("phone", "+33 1 11 11 11 11"),
        ("email", " NoReply@Example.com "),
        ("email", "no-reply@shop.fr"),
        ("email", "donotreply@shop.fr"),
        ("email", "test@shop.fr"),
        ("anonymous_id", "undefined"),
        ("anonymous_id", "null"),
    ],
)
def test_placeholders_link_no_one(ws: Workspace, tmp_path: Path, column: str, value: str) -> None:
    report = ws.ingest("customers", _customers_sharing(tmp_path / "c.csv", 3, column, value))
    assert _live(ws) == 3
    assert report.merged_customers == 0
    assert report.identifiers_set_aside == {f"placeholder_{column}": 3}
    assert ws.store.scalar("SELECT count(*) FROM identities WHERE id_type = $1", [column]) == 0


def test_a_row_with_only_a_placeholder_is_rejected(ws: Workspace, tmp_path: Path) -> None:
    report = ws.ingest(
        "events",
        write(
            tmp_path / "e.csv",
            "event_id,customer_id,phone,timestamp,type\n"
            "e1,,0000000000,2025-01-01,view\n"
            "e2,C1,0000000000,2025-01-01,view\n"
            "e3,unknown,,2025-01-01,view",
        ),
        max_rejected="100%",  # rows rejected on purpose
    )
    assert (report.accepted, report.rejected) == (1, 2)
    assert report.reasons == {"placeholder_identifier": 2}
    rejects = ws.rejects(limit=None).to_pyarrow().to_pylist()
    assert [(r["row"], r["column"], r["value"]) for r in rejects] == [
        (1, "phone", "0000000000"),
        (3, "customer_id", "unknown"),
    ]
    assert "placeholder" in str(rejects[0]["reason"])


def test_shared_across_loads_is_caught(ws: Workspace, tmp_path: Path) -> None:
    phone = "+44 20 7946 0000"
    first = ws.ingest("customers", _customers_sharing(tmp_path / "a.csv", 15, "phone", phone))
    # 15 customers on one phone is under the limit (20): they are one customer
    assert first.merged_customers == 14
    second = ws.ingest(
        "customers", _customers_sharing(tmp_path / "b.csv", 15, "phone", phone, start=100)
    )
    # now 30 customers would share it: the 15 new ones stay apart, and it is reported
    assert second.merged_customers == 0
    assert second.shared_identifiers == [
        {"id_type": "phone", "id_value": "+442079460000", "customers": 30}
    ]
    assert _live(ws) == 1 + 15
    # and from then on it links no one
    third = ws.ingest(
        "customers", _customers_sharing(tmp_path / "c.csv", 2, "phone", phone, start=200)
    )
    assert third.merged_customers == 0
    assert third.identifiers_set_aside == {"shared_phone": 2}
    assert _live(ws) == 1 + 15 + 2


def test_limit_and_placeholders_are_configurable(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    config = ws.path / "microseg.yaml"
    text = config.read_text()
    assert "max_customers_per_identifier: 20" in text  # the template documents it
    config.write_text(
        text
        + "\nidentity:\n  max_customers_per_identifier: 2\n"
        + "  placeholders:\n    email: ['.*@mailinator\\.com']\n"
    )
    ws.close()
    ws = Workspace.open(tmp_path / "ws")
    assert ws.config.identity.max_customers_per_identifier == 2
    report = ws.ingest(
        "customers",
        write(
            tmp_path / "c.csv",
            "customer_id,email,phone\nC1,a@mailinator.com,0611111111\n"
            "C2,noreply@x.com,0611111111\nC3,,0611111111",
        ),
    )
    assert report.identifiers_set_aside == {
        "placeholder_email": 1,
        "shared_phone": 3,
    }
    # replacing the e-mail patterns keeps the built-in ones of other types
    assert ws.config.identity.placeholders.phone
    assert _live(ws) == 3
    ws.close()


def test_a_bad_placeholder_pattern_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "microseg.yaml"
    path.write_text("version: 1\nidentity:\n  placeholders:\n    email: ['(unclosed']\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "identity.placeholders.email" in str(err.value)
    assert "microseg.yaml:4" in str(err.value)
    path.write_text("version: 1\nidentity:\n  max_customers_per_identifier: 1\n")
    with pytest.raises(ConfigError):
        load_config(path)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microseg", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_cli_reports_shared_identifiers(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    assert _cli("init", str(root)).returncode == 0
    source = _customers_sharing(tmp_path / "c.csv", 25, "email", "family@x.com")
    out = _cli("-w", str(root), "ingest", "customers", str(source), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["shared_identifiers"] == [
        {"id_type": "email", "id_value": "family@x.com", "customers": 25}
    ]
    assert report["identifiers_set_aside"] == {"shared_email": 25}
    human = _cli("-w", str(root), "ingest", "customers", str(source))
    assert "shared" in human.stdout
    listed = _cli("-w", str(root), "identity", "shared", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["id_type"], row["id_value"], row["customers"], row["reason"]) == (
        "email",
        "family@x.com",
        25,
        "shared",
    )
    table = _cli("-w", str(root), "identity", "shared")
    assert "family@x.com" in table.stdout
    status = json.loads(_cli("-w", str(root), "status", "--json").stdout)
    assert status["shared_identifiers"] == 1
    assert "shared identifier" in _cli("-w", str(root), "status").stdout


def test_placeholder_patterns_run_in_linear_time(tmp_path: Path) -> None:
    """Patterns are RE2: no back-references (refused with the line), and a pattern that
    backtracks for minutes in Python's engine runs at once."""
    path = tmp_path / "microseg.yaml"
    path.write_text("version: 1\nidentity:\n  placeholders:\n    phone: ['(\\d)\\1{5,}']\n")
    with pytest.raises(ConfigError, match="RE2"):
        load_config(path)
    path.write_text("version: 1\nidentity:\n  placeholders:\n    email: ['(a+)+@x']\n")
    pattern = load_config(path).identity.placeholders.compiled("email")
    assert pattern is not None
    assert pattern.fullmatch("a" * 40 + "!@y") is None
