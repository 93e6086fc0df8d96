"""docs/getting-started.md, followed literally: its shell and Python blocks, in order, in one
shell in an empty folder (the install block aside: this environment is the install)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "getting-started.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def script() -> str:
    """One bash script: every bash block as written, every Python block through python."""
    parts = ["set -euo pipefail"]
    for language, body in blocks():
        if "pip install" in body:
            continue  # the install: this environment is it
        if language == "bash":
            parts.append(body)
        else:
            parts.append(f"python - <<'MICROSEG_DOC_PY'\n{body}MICROSEG_DOC_PY")
    return "\n".join(parts) + "\n"


def test_the_page_has_its_steps() -> None:
    kinds = [language for language, _ in blocks()]
    assert kinds.count("python") >= 1
    text = script()
    # the files it loads are made before they are loaded
    assert text.index("microseg synth") < text.index("microseg ingest")
    assert text.index("crm-export.csv <<") < text.index("ingest customers crm-export.csv")
    assert text.index("cd shop") < text.index('Workspace.open(".")')


@pytest.mark.slow
def test_getting_started_runs_as_written(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "COLUMNS": "100",
    }
    env.pop("MICROSEG_WORKSPACE", None)
    done = subprocess.run(
        ["bash", "-c", script()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "young-anime-fans" in out
    assert "C00000133 is " in out  # explain answered
    assert (tmp_path / "shop" / "big" / "ground_truth.parquet").exists()
    assert (tmp_path / "microseg-demo" / "demo-summary.json").exists()
