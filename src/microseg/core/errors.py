"""The exceptions microseg raises.

Every error a user can meet derives from :class:`MicrosegError` and, where it
resembles one, from the matching built-in as well, so ``except ValueError``
keeps working for callers who do not know microseg::

    MicrosegError
    ├── ConfigError(MicrosegError, ValueError)      microseg.yaml is invalid
    ├── YamlError(MicrosegError, ValueError)        a YAML file is unreadable or beyond a limit
    │                                               (microseg.core.yaml; .file, .line, .problem)
    ├── WorkspaceError(MicrosegError, RuntimeError) no workspace, or a broken one
    ├── TimeInputError(MicrosegError, ValueError)   an instant (as_of, a date) cannot be read
    ├── IngestError(MicrosegError, ValueError)      a source cannot be read at all
    │   └── SourceNotFoundError(IngestError, FileNotFoundError)
    ├── RuleError(MicrosegError, ValueError)        a segment or trait definition is invalid
    │                                               (microseg.lang; .problems lists them all)
    ├── SynthError(MicrosegError, ValueError)       bad arguments to the synthetic shop
    ├── DiscoveryError(MicrosegError, ValueError)   bad discovery parameters (microseg.discover)
    └── ModelFitError(MicrosegError, RuntimeError)  a value model's fit did not converge
                                                    (.result holds the optimiser's result)

Errors carry where the problem is (file, line, field path, column) and what to
do about it; the CLI and the service turn them into messages, nothing else does.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "IngestError",
    "MicrosegError",
    "ModelFitError",
    "SourceNotFoundError",
    "TimeInputError",
    "WorkspaceError",
]


class MicrosegError(Exception):
    """Root of every error microseg raises on purpose.

    Parameters
    ----------
    message:
        What is wrong, in plain words.
    where:
        The place: a file, ``file:line``, a field path or a row.
    hint:
        What the user can do about it.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(MicrosegError, ValueError):
    """The workspace configuration (microseg.yaml) is invalid."""


class WorkspaceError(MicrosegError, RuntimeError):
    """The workspace is missing, already exists, or cannot be opened."""


class TimeInputError(MicrosegError, ValueError):
    """An instant given by the user (``--as-of``, a date) is not in an accepted form."""


class IngestError(MicrosegError, ValueError):
    """A source cannot be read at all: wrong format, missing required column."""


class SourceNotFoundError(IngestError, FileNotFoundError):
    """A source file does not exist."""


class ModelFitError(MicrosegError, RuntimeError):
    """A value model could not be fitted: the optimiser failed or the data cannot identify it.

    ``result`` carries the optimiser's own result (a ``scipy.optimize.OptimizeResult``)
    when there is one, so the caller can inspect the last point, the message and the
    number of iterations.
    """

    def __init__(
        self,
        message: str,
        *,
        result: object | None = None,
        where: str | None = None,
        hint: str | None = None,
    ):
        self.result = result
        super().__init__(message, where=where, hint=hint)


class StoreMemoryError(MicrosegError, RuntimeError):
    """The database ran out of the memory it may use (``store.memory_limit``); the
    statement was rolled back, so nothing was changed."""
