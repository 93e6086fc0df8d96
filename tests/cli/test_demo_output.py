"""`microseg demo` as a marketer reads it: an 80-column terminal, plain numbers, one
meaning per header, the README's figures labelled, and next steps that run as printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "microseg", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.mark.slow
def test_demo_fits_80_columns_and_its_next_steps_run(tmp_path: Path) -> None:
    result = run("demo", "--customers", "1000", "--seed", "7", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for line in out.splitlines():
        assert len(line) <= 80, line
        assert "…" not in line, line
    assert not re.search(r"\d(\.\d+)?e[+-]\d", out), "a number in scientific notation"
    headers = " ".join(re.findall(r"┃([^\n]*)┃", out))
    assert "revenue" not in headers  # "spend to date" and "value" say what they measure
    assert "spend to date" in out
    assert "over the next 12 months" in out
    # the agreement figure says what it measures, and how it relates to the README's
    flat = " ".join(out.split())
    assert "agreement with the planted segments inside each lifecycle stage: ARI" in flat
    assert "--macro none --k 8" in flat
    # progress: a line per phase with its duration, on stderr (not a terminal here)
    phases = [line for line in result.stderr.splitlines() if re.search(r"\(\d+\.\d\d s\)$", line)]
    assert [p.split(" (")[0] for p in phases] == [
        "generating the synthetic shop",
        "loading products",
        "loading customers",
        "loading customer updates",
        "loading events",
        "evaluating the example segments",
        "fitting the value models",
        "discovering micro-segments",
        "ranking segments by value and following stage moves",
        "following the planted marriages",
        "measuring the planted campaign",
        "checking data quality and auditing the segments",
    ]
    # the planted personalised mailing (issue 14.5): its measured uplift, with the planted
    assert re.search(
        r"planted campaign personalised-mailing: email_open rate \d+\.\d% treated vs "
        r"\d+\.\d% in its holdout: uplift [+-]\d+% \(95% interval [+-]\d+% to [+-]\d+%; "
        r"planted \+26%\)",
        flat,
    ), flat
    # the insights (issue 13): the example segments ranked by value, the stage moves
    assert "segments by clv_total" in flat
    assert "members x p_any_purchase x expected_spend" in flat
    assert "flows 2025-10-31 -> 2026-10-31 (sales: gross purchases between them)" in flat
    summary = json.loads((tmp_path / "microseg-demo" / "demo-summary.json").read_text())
    assert summary["value_table"]["rows"]
    assert summary["migration"]["matrix"]
    # the seeds' life event: the planted marriages, against customers who stayed single
    assert "customers who married, against those who stayed single" in flat
    assert summary["marriage"]["attribute"] == "marital_status"
    # governance (issue 14): a quality summary and an audit line
    assert "quality: customers: 1,000 rows" in flat
    assert re.search(r"audit: \d+\.\d% of 1,000 customers are in at least one segment", flat)
    assert summary["audit"]["coverage"]["customers"] == 1000
    assert summary["marriage"]["changers"]["customers"] > 0
    assert summary["campaign"]["slices"][0]["treatment"]["members"] > 0
    assert summary["planted_campaign"]["planted_relative_lift"] == 0.26
    commands = [
        c.strip() for c in out.split("Next, from this folder:")[1].splitlines() if c.strip()
    ]
    assert len(commands) >= 5
    for command in commands:
        args = shlex.split(command)
        assert args[0] == "microseg"
        assert "-w" in args
        done = run(*args[1:], cwd=tmp_path)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    summary = json.loads((tmp_path / "microseg-demo" / "demo-summary.json").read_text())
    assert summary["next_steps"] == commands


def test_readme_labels_both_agreement_figures() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "0.80-0.81" in readme
    start = readme.index("0.80-0.81")
    around = readme[start - 400 : start + 600]
    assert "--macro none" in around  # the README's figure: one level
    assert "inside each lifecycle stage" in around  # the demo's: two levels
