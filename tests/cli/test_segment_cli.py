"""The segment commands and ``profile``, run as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microseg", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "demo"
    result = run("demo", "--dir", str(root), "--customers", "800", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    sizes = {s["name"]: s["members"] for s in summary["segments"]["segments"]}
    assert set(sizes) >= {"anime-buyers", "abandoned-carts", "holdout-10"}
    assert 0 < sizes["anime-buyers"] < 800
    return root


@pytest.mark.slow
def test_validate_and_evaluate(demo: Path) -> None:
    ok = run("-w", str(demo), "segment", "validate", "--json")
    assert ok.returncode == 0, ok.stderr
    assert "anime-buyers" in json.loads(ok.stdout)["segments"]
    evaluated = run(
        "-w", str(demo), "segment", "evaluate", "anime-buyers", "--as-of", "2026-10-31", "--json"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    data = json.loads(evaluated.stdout)
    assert data["as_of"] == "2026-10-31T23:00:00Z"  # end of that day, Europe/Paris
    assert data["segments"][0]["name"] == "anime-buyers"


@pytest.mark.slow
def test_members_match_evaluate_and_profile(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    result = run(
        "-w",
        str(demo),
        "segment",
        "members",
        "anime-sneaker-prospects",
        "--as-of",
        "2026-10-31",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "customer_id"
    members = lines[1:]
    sizes = json.loads(
        run("-w", str(demo), "segment", "evaluate", "--as-of", "2026-10-31", "--json").stdout
    )
    expected = {s["name"]: s["members"] for s in sizes["segments"]}["anime-sneaker-prospects"]
    assert len(members) == expected
    if members:
        profile = json.loads(
            run("-w", str(demo), "profile", members[0], "--as-of", "2026-10-31", "--json").stdout
        )
        # the per-profile interpreter agrees, and the parent segment holds too
        assert {"anime-sneaker-prospects", "anime-buyers"} <= set(profile["segments"])


def test_invalid_segment_lists_every_problem(demo: Path) -> None:
    bad = demo / "segments" / "broken.yaml"
    bad.write_text("name: broken\nrule:\n  all:\n    - atribute: age\n      gt: 3\n")
    typo = demo / "segments" / "typo.yaml"
    typo.write_text("name: typo\nrule:\n  attribute: cty\n  eq: Paris\n")
    try:
        result = run("-w", str(demo), "segment", "validate")
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert (
            "broken.yaml:4: rule.all[0]: unknown rule kind 'atribute'; did you mean 'attribute'?"
            in result.stdout
        )
        assert "did you mean 'city'?" in result.stdout
        assert "typo.yaml" in result.stdout
    finally:
        bad.unlink()
        typo.unlink()


@pytest.mark.slow
def test_out_of_memory_says_which_setting_to_raise(demo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "small-memory"
    shutil.copytree(demo, copy)
    config = copy / "microseg.yaml"
    config.write_text(config.read_text().replace("memory_limit: 1GB", "memory_limit: 3MB"))
    before = run("-w", str(copy), "status", "--json")
    failed = run("-w", str(copy), "segment", "evaluate", "--as-of", "2026-10-31")
    assert failed.returncode == 1
    assert "ran out of the memory it may use" in failed.stderr
    assert "memory_limit" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert run("-w", str(copy), "status", "--json").stdout == before.stdout
