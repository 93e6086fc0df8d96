"""A tiny workspace for the trait and segment hardening tests: a few buyers, a few categories."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from microseg import Workspace
from tests.conftest import NOW


def make_shop(
    root: Path,
    purchases: Sequence[tuple[str, str, float]],
    *,
    attributes: dict[str, list[object]] | None = None,
    config: str = "",
) -> Workspace:
    """A workspace with customers A..E and ``purchases`` as (customer, category, amount).

    ``config`` is appended to microseg.yaml before the workspace is opened again.
    """
    ws = Workspace.init(root, timezone="UTC", clock=lambda: NOW)
    if config:
        ws.close()
        path = root / "microseg.yaml"
        path.write_text(path.read_text(encoding="utf-8") + config, encoding="utf-8")
        ws = Workspace.open(root, clock=lambda: NOW)
    people = ["A", "B", "C", "D", "E"]
    ws.ingest(
        "customers",
        pd.DataFrame(
            {"customer_id": people, "valid_from": ["2020-01-01"] * 5, **(attributes or {})}
        ),
    )
    ws.ingest(
        "events",
        pd.DataFrame(
            {
                "event_id": [f"e{i}" for i in range(len(purchases))],
                "customer_id": [p[0] for p in purchases],
                "timestamp": [f"2025-06-{1 + i % 28:02d}T10:00:00Z" for i in range(len(purchases))],
                "type": ["purchase"] * len(purchases),
                "category": [p[1] for p in purchases],
                "amount": [p[2] for p in purchases],
            }
        ),
    )
    return ws


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``microseg -w ROOT ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "microseg", "-w", str(root), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def cli_json(root: Path, *args: str) -> tuple[int, dict[str, object]]:
    result = cli(root, *args, "--json")
    return result.returncode, json.loads(result.stdout)
