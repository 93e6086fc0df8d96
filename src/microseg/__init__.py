"""microseg: customer segmentation and micro-segmentation, in batch and in real time.

The public surface is the :class:`Workspace` facade, its configuration and errors. The
names load on first use (PEP 562), so that ``microseg --help`` does not import the
analysis stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from microseg.config import WorkspaceConfig, load_config
    from microseg.core.errors import (
        ConfigError,
        IngestError,
        MicrosegError,
        RejectLimitError,
        SourceNotFoundError,
        WorkspaceError,
    )
    from microseg.ingest import LoadReport
    from microseg.lang import RuleError
    from microseg.workspace import Workspace, WorkspaceStatus

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "IngestError",
    "LoadReport",
    "MicrosegError",
    "RejectLimitError",
    "RuleError",
    "SourceNotFoundError",
    "Workspace",
    "WorkspaceConfig",
    "WorkspaceError",
    "WorkspaceStatus",
    "__version__",
    "load_config",
]

#: Where each public name lives.
_HOMES = {
    "WorkspaceConfig": "microseg.config",
    "load_config": "microseg.config",
    "ConfigError": "microseg.core.errors",
    "IngestError": "microseg.core.errors",
    "MicrosegError": "microseg.core.errors",
    "RejectLimitError": "microseg.core.errors",
    "SourceNotFoundError": "microseg.core.errors",
    "WorkspaceError": "microseg.core.errors",
    "LoadReport": "microseg.ingest",
    "RuleError": "microseg.lang",
    "Workspace": "microseg.workspace",
    "WorkspaceStatus": "microseg.workspace",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'microseg' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
