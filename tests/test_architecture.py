"""The shape of the package: the composition root and its namespaces, and the layers that
import-linter enforces (docs/architecture.md)."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import microseg
from microseg import Workspace

ROOT = Path(__file__).parents[1]
ROOT_METHODS = {
    "init",
    "open",
    "close",
    "session",
    "status",
    "ingest",
    "rejects",
    "customers",
    "events",
    "products",
}
NAMESPACES = {
    "traits",
    "segments",
    "value",
    "discover",
    "profile",
    "attributes",
    "identity",
    "insights",
    "activate",
    "govern",
}


def test_the_workspace_is_a_composition_root(tmp_path: Path) -> None:
    assert Workspace.__mro__ == (Workspace, object)  # no mixin
    methods = {
        name
        for name, member in inspect.getmembers(Workspace)
        if not name.startswith("_") and callable(member)
    }
    assert methods == ROOT_METHODS
    ws = Workspace.init(tmp_path / "ws")
    try:
        public = {name for name in vars(ws) if not name.startswith("_")}
        assert public == NAMESPACES | {"path", "config", "store", "context"}
    finally:
        ws.close()


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(package_parent)}
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def test_the_layers_hold() -> None:
    result = _lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "planted"),
    [
        ("store/_sql.py", "import microseg.workspace"),
        ("lang/_check.py", "from microseg.segments import SegmentCatalog"),
        ("segments/_diff.py", "import duckdb"),
    ],
)
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, planted: str) -> None:
    """lint-imports fails when a lower package imports the composition root, a higher
    package, or duckdb outside the store."""
    copy = tmp_path / "microseg"
    shutil.copytree(Path(microseg.__file__).parent, copy)
    target = copy / module
    target.write_text(
        target.read_text(encoding="utf-8") + f"\n{planted}  # planted by the test\n",
        encoding="utf-8",
    )
    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout


def _private_imports(graph: grimp.ImportGraph) -> list[str]:
    """Imports of another package's private module (``microseg.lang._x`` from outside
    ``microseg.lang``)."""
    found = []
    for importer in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(importer):
            parts = imported.split(".")
            if parts[0] != "microseg" or len(parts) < 3 or not parts[2].startswith("_"):
                continue
            owner = ".".join(parts[:2])
            if importer != owner and not importer.startswith(owner + "."):
                found.append(f"{importer} -> {imported}")
    return found


def test_no_package_imports_another_package_s_private_modules() -> None:
    graph = grimp.build_graph("microseg")
    assert _private_imports(graph) == []


def test_a_private_import_is_found() -> None:
    graph = grimp.build_graph("microseg")
    graph.add_import(importer="microseg.segments.api", imported="microseg.lang._walk")
    assert _private_imports(graph) == ["microseg.segments.api -> microseg.lang._walk"]
