"""The synthetic shop through the real ingest path and the real command line."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from microseg import Workspace
from microseg.synth import generate_shop
from tests.conftest import NOW


def _microseg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microseg", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_bad_rows_are_all_accounted_for(tmp_path: Path) -> None:
    shop = generate_shop(tmp_path / "shop", customers=800, seed=3, bad_rows=0.02)
    manifest = json.loads((tmp_path / "shop" / "bad_rows.json").read_text())
    kinds = manifest.get("kinds", manifest)
    ws = Workspace.init(tmp_path / "ws", clock=lambda: NOW.replace(year=2026, month=11, day=1))
    report = ws.ingest("events", list(shop.event_files))
    ws.close()
    assert report.rows_read == shop.counts["events"]
    assert report.rows_read == report.accepted + report.duplicates + report.rejected
    assert report.duplicates == kinds["duplicate"]
    assert report.reasons["missing_customer"] == kinds["missing_customer"]
    assert report.reasons["future_timestamp"] == kinds["future_timestamp"]
    assert report.reasons["negative_quantity"] == kinds["negative_quantity"]
    assert report.reasons["unreadable_amount"] == kinds["bad_amount"]
    bad_ts = report.reasons.get("unreadable_timestamp", 0) + report.reasons.get(
        "missing_timestamp", 0
    )
    assert bad_ts == kinds["bad_timestamp"]


@pytest.mark.slow
def test_synth_cli_is_deterministic(tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        out = tmp_path / name
        result = _microseg(
            "synth", "--customers", "300", "--seed", "5", "--out", str(out), "--json", cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        digest = hashlib.sha256()
        for path in sorted(out.iterdir()):
            digest.update(path.name.encode() + path.read_bytes())
        digests.append(digest.hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = _microseg("demo", "--dir", str(tmp_path / "demo"), "--customers", "1500", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "planted micro-segments" in result.stdout
    summary = json.loads((tmp_path / "demo" / "demo-summary.json").read_text())
    tables = summary["status"]["tables"]
    assert tables["customers"] == 1500
    assert tables["events"] > 10_000
    assert tables["rejects"] == 0
    assert set(summary["planted_segments"]) >= {"deal-seekers", "lapsing-vips", "background"}
    assert summary["segments"]["customers"] == 1500
    found = summary["discovery"]
    assert found["run"] == "demo"
    assert found["coverage"] == 1.0
    assert sum(c["size"] for c in found["clusters"]) == 1500
    # under the minimum size only a whole macro segment too small to split
    stages = [c["name"].split(":")[0] for c in found["clusters"]]
    for cluster, stage in zip(found["clusters"], stages, strict=True):
        assert cluster["size"] >= 50 or stages.count(stage) == 1, cluster
    assert "discovered micro-segments" in result.stdout
    # the planted segments inside each lifecycle stage (two levels split them by stage)
    assert found["macro"] == "lifecycle_stage"
    assert found["ari_vs_planted"] > 0.3
    words = " ".join(result.stdout.split())  # the title wraps at the terminal's width
    assert "agreement with the planted segments inside each lifecycle stage" in words
    # running it again replaces its own folder; a foreign folder is refused
    again = _microseg(
        "demo", "--dir", str(tmp_path / "demo"), "--customers", "200", "--json", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"]["tables"]["customers"] == 200
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused = _microseg("demo", "--dir", str(tmp_path / "mine"), cwd=tmp_path)
    assert refused.returncode == 1
    assert "left untouched" in refused.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
