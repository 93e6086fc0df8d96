"""microseg: customer segmentation and micro-segmentation, in batch and in real time.

The public surface is the :class:`Workspace` facade, its configuration and errors.
"""

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
