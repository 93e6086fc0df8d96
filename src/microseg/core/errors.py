"""The exceptions microseg raises.

Every error a user can meet derives from :class:`MicrosegError` and, where it
resembles one, from the matching built-in as well, so ``except ValueError``
keeps working for callers who do not know microseg::

    MicrosegError
    ├── ConfigError(MicrosegError, ValueError)      microseg.yaml is invalid
    ├── YamlError(MicrosegError, ValueError)        a YAML file is unreadable or beyond a limit
    │                                               (microseg.core.yaml; .file, .line, .problem)
    ├── WorkspaceError(MicrosegError, RuntimeError) no workspace, or a broken one
    │   └── NotFoundError(WorkspaceError, LookupError) no such customer, segment or key
    ├── TimeInputError(MicrosegError, ValueError)   an instant (as_of, a date) cannot be read
    ├── IngestError(MicrosegError, ValueError)      a source cannot be read at all
    │   ├── SourceNotFoundError(IngestError, FileNotFoundError)
    │   └── RejectLimitError(IngestError)           a load rejected more rows than its
    │                                               limit (.load_id, .rejected, .reasons)
    ├── RuleError(MicrosegError, ValueError)        a segment or trait definition is invalid
    │                                               (microseg.lang; .problems lists them all)
    ├── SynthError(MicrosegError, ValueError)       bad arguments to the synthetic shop
    ├── DiscoveryError(MicrosegError, ValueError)   bad discovery parameters (microseg.discover)
    ├── ModelFitError(MicrosegError, RuntimeError)  a value model's fit did not converge
    │                                               (.result holds the optimiser's result)
    ├── OutputError(MicrosegError, OSError)         a file asked for (--out) cannot be written
    ├── StoreMemoryError(MicrosegError, RuntimeError) the database ran out of memory
    │                                               (microseg.store; nothing was changed)
    └── ParameterError(MicrosegError, ValueError)   an argument is outside what it accepts
        │                                           (exit code 2, as a usage error)
        ├── DurationError                           a duration cannot be read ('3 parsecs')
        └── ValueModelError                         a value model's inputs, parameters or
                                                    saved state are invalid (microseg.value)

Errors carry where the problem is (file, line, field path, column) and what to
do about it; the CLI and the service turn them into messages, nothing else does.
``exit_code`` is the command line's exit status for the error: 1, or 2 for a
value given to a command or function that it does not accept. Anything raised
that is not a ``MicrosegError`` is a bug in microseg and is reported as one.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DurationError",
    "IngestError",
    "MicrosegError",
    "ModelFitError",
    "NotFoundError",
    "OutputError",
    "ParameterError",
    "RejectLimitError",
    "SourceNotFoundError",
    "StoreMemoryError",
    "TimeInputError",
    "ValueModelError",
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

    ``exit_code`` (a class attribute) is the exit status the command line ends with.
    """

    exit_code: int = 1

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


class NotFoundError(WorkspaceError, LookupError):
    """What was asked for does not exist in the workspace: a customer, a segment, a key
    (the service answers 404)."""


class TimeInputError(MicrosegError, ValueError):
    """An instant given by the user (``--as-of``, a date) is not in an accepted form."""


class IngestError(MicrosegError, ValueError):
    """A source cannot be read at all: wrong format, missing required column."""


class SourceNotFoundError(IngestError, FileNotFoundError):
    """A source file does not exist."""


class RejectLimitError(IngestError):
    """A load rejected more rows than its limit (``max_rejected``): it wrote nothing but
    its rejected rows, kept under ``load_id`` for ``microseg rejects --load``.

    ``reasons`` lists the most frequent problems, most frequent first, as
    ``(problem, rows, example line or row, example reason)``.
    """

    def __init__(
        self,
        message: str,
        *,
        load_id: int,
        rows_read: int,
        rejected: int,
        reasons: list[tuple[str, int, str, str]],
        where: str | None = None,
        hint: str | None = None,
    ):
        self.load_id = load_id
        self.rows_read = rows_read
        self.rejected = rejected
        self.reasons = reasons
        super().__init__(message, where=where, hint=hint)


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


class OutputError(MicrosegError, OSError):
    """A file the user asked for (``--out``) cannot be written: no such folder, no
    permission, a full disk. ``where`` is the path."""


class StoreMemoryError(MicrosegError, RuntimeError):
    """The database ran out of the memory it may use (``store.memory_limit``); the
    statement was rolled back, so nothing was changed."""


class ParameterError(MicrosegError, ValueError):
    """A value given to a command or function is outside what it accepts.

    The scikit-learn style: the message names the parameter, what it accepts and what it
    got, e.g. "The 'penalizer' parameter of BGNBD must be a float >= 0. Got -1 instead."
    """

    exit_code = 2


class DurationError(ParameterError):
    """A duration (``'3 years'``) cannot be read, or is longer than microseg accepts."""


class ValueModelError(ParameterError):
    """A value model's inputs (frequency, recency, T, spend, weights), hyperparameters or
    saved state are invalid; the message names the input and its first bad row."""
