"""API keys: created, listed and revoked with ``microseg keys``, checked on every request.

A key is shown once, when it is created: ``msk_<id>_<secret>``. The workspace keeps only
its id, name, scopes and an HMAC-SHA256 of the secret under a random per-key salt
(``keys.json`` beside ``microseg.yaml``, readable by its owner only), so a copy of the
workspace does not give access to the service. The file, not the database, holds them:
DuckDB allows one process at a time, and ``microseg keys revoke`` must work while the
service runs. The service re-reads the file whenever it changes, so a revoked key stops
working at the next request. It does not look at the file at every request to know
(a ``stat`` that lets go of the interpreter lock, a tenth of the event loop's time under
load): whatever changes keys through :class:`KeyRing` (``microseg keys``, the API) also
writes a new random token to ``keys.changes`` beside it, which the service holds mapped in
memory and compares at each request. Other edits of the file are seen within
:data:`RECHECK_SECONDS`.

Scopes: ``read`` (profiles, segments, insights), ``write`` (ingest, define segments; also
reads) and ``admin`` (everything, and customers' e-mails and phones).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import hmac
import json
import mmap
import os
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from microseg.core.errors import ParameterError, WorkspaceError
from microseg.core.results import Instant, Result

__all__ = ["CHANGES_FILE", "KEYS_FILE", "SCOPES", "ApiKey", "KeyRing", "grants"]

KEYS_FILE = "keys.json"
#: a token rewritten at every change of the keys file (module docstring)
CHANGES_FILE = "keys.changes"
#: the keys file is looked at this often whatever the token says (an edit by hand)
RECHECK_SECONDS = 1.0
SCOPES = ("read", "write", "admin")
#: what each scope also grants
_IMPLIES = {"read": {"read"}, "write": {"read", "write"}, "admin": set(SCOPES)}
_PREFIX = "msk"
#: a key as the file keeps it
_Record = dict[str, str | list[str] | None]


class ApiKey(Result):
    """A key as listed: never its secret."""

    key_id: str
    name: str
    scopes: list[str]
    created_at: Instant
    revoked_at: Instant | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def grants(scopes: Iterable[str], needed: str) -> bool:
    """Whether a key with ``scopes`` may do what needs ``needed``."""
    return any(needed in _IMPLIES.get(s, set()) for s in scopes)


#: at most this many verified keys are remembered (presented keys are bounded by the file)
_VERIFIED = 1_000


def _put(path: Path, token: bytes) -> None:
    """Write the change token at the start of its file, made (owner only) when missing."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, token)
    finally:
        os.close(descriptor)


def _digest(salt: bytes, secret: str) -> str:
    return hmac.new(salt, secret.encode("utf-8"), hashlib.sha256).hexdigest()


class KeyRing:
    """The workspace's API keys in ``keys.json`` (created on the first key)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / KEYS_FILE
        self._changes_path = folder / CHANGES_FILE
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        #: the change token mapped in memory (None: not mapped yet, or it cannot be, and
        #: the file is looked at every time), the token last seen, and when the file was
        #: last looked at (``time.monotonic``)
        self._changes: mmap.mmap | None = None
        self._unmapped = False  # mapping it failed: not tried again
        self._token = b""
        self._looked = float("-inf")
        self._records: dict[str, _Record] = {}
        #: keys presented and verified since the file was last read (forgotten when it
        #: changes): the digest and the key's record are not worked out at every request
        self._verified: dict[str, ApiKey] = {}

    # -- managing -----------------------------------------------------------------------------

    def create(self, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
        """A new key: its record and the key itself, which is not kept and not shown again."""
        scopes = list(scopes)
        unknown = [s for s in scopes if s not in SCOPES]
        chosen = sorted(set(scopes) - set(unknown), key=SCOPES.index)
        if unknown or not chosen:
            raise ParameterError(
                f"scope {unknown[0]!r} is not one of {', '.join(SCOPES)}"
                if unknown
                else "a key needs at least one scope",
                hint="e.g. `microseg keys create crm-sync --scope write`",
            )
        if not name.strip():
            raise ParameterError("a key needs a name (who or what uses it)")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        record: _Record = {
            "name": name.strip(),
            "scopes": chosen,
            "salt": salt.hex(),
            "digest": _digest(salt, secret),
            "created_at": datetime.now(UTC).isoformat(),
            "revoked_at": None,
        }
        with self._lock:
            records = self._read()
            records[key_id] = record
            self._write(records)
        return self._key(key_id, record), f"{_PREFIX}_{key_id}_{secret}"

    def list(self) -> builtins.list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self._lock:
            records = self._read()
        keys = [self._key(k, r) for k, r in records.items()]
        return sorted(keys, key=lambda k: k.created_at)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key: the service refuses it from its next request on."""
        with self._lock:
            records = self._read()
            record = records.get(key_id)
            if record is None:
                known = ", ".join(records) or "none"
                raise ParameterError(
                    f"no key {key_id!r} (keys: {known})", hint="`microseg keys list` shows them"
                )
            if record["revoked_at"] is None:
                record["revoked_at"] = datetime.now(UTC).isoformat()
                self._write(records)
        return self._key(key_id, record)

    # -- checking -----------------------------------------------------------------------------

    def verify(self, presented: str) -> ApiKey | None:
        """The active key ``presented`` is, or None (unknown, malformed, wrong or revoked)."""
        parts = presented.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != _PREFIX:
            return None
        key_id, secret = parts[1], parts[2]
        with self._lock:
            self._refresh()  # a revoke is seen at the next request
            record = self._records.get(key_id)
            known = self._verified.get(presented)
        if record is None or record["revoked_at"] is not None:
            return None
        if known is not None:  # verified since the file was last read
            return known
        salt = bytes.fromhex(str(record["salt"]))
        if not hmac.compare_digest(_digest(salt, secret), str(record["digest"])):
            return None
        key = self._key(key_id, record)
        with self._lock:
            if len(self._verified) < _VERIFIED:
                self._verified[presented] = key
        return key

    def _refresh(self) -> None:
        """Re-read the file when it changed since the last request (a revoke, a new key):
        looked at when the change token moved, or :data:`RECHECK_SECONDS` after the last
        look."""
        changes = self._changes
        if changes is None and not self._unmapped:
            changes = self._map_changes()
        now = time.monotonic()
        if changes is not None:
            token = changes[:8]
            if token == self._token and now - self._looked < RECHECK_SECONDS:
                return
            self._token = token
        self._looked = now
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._records, self._seen, self._verified = {}, None, {}
            return
        seen = (info.st_mtime_ns, info.st_size)
        if seen != self._seen:
            self._records = self._read()
            self._seen = seen
            self._verified = {}

    def _map_changes(self) -> mmap.mmap | None:
        """The change token's file mapped in memory (made when missing), or None when it
        cannot be (the file is then looked at every time)."""
        self._unmapped = True
        try:
            if not self._changes_path.exists() or self._changes_path.stat().st_size < 8:
                _put(self._changes_path, bytes(8))
            with self._changes_path.open("rb") as handle:
                self._changes = mmap.mmap(handle.fileno(), 8, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None
        self._unmapped = False
        return self._changes

    def close(self) -> None:
        """Let go of the change token's mapping (it is made again when needed)."""
        with self._lock:
            if self._changes is not None:
                self._changes.close()
            self._changes, self._unmapped, self._token = None, False, b""

    # -- the file -----------------------------------------------------------------------------

    def _read(self) -> dict[str, _Record]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise WorkspaceError(
                f"the API keys file cannot be read: {exc}",
                where=str(self.path),
                hint="restore it from a backup, or delete it and create keys again",
            ) from None
        return dict(data.get("keys", {}))

    def _write(self, records: dict[str, _Record]) -> None:
        """Write atomically (a temporary file renamed over), readable by the owner only."""
        temporary = self.path.with_name(f".{KEYS_FILE}.{os.getpid()}.tmp")
        text = json.dumps({"version": 1, "keys": records}, indent=2)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        # then a new change token, which a running service reads from memory (if it
        # cannot be written, a service sees the change within RECHECK_SECONDS)
        with contextlib.suppress(OSError):
            _put(self._changes_path, secrets.token_bytes(8))

    @staticmethod
    def _key(key_id: str, record: _Record) -> ApiKey:
        scopes = record["scopes"]
        return ApiKey(
            key_id=key_id,
            name=str(record["name"]),
            scopes=list(scopes) if isinstance(scopes, list) else [],
            created_at=datetime.fromisoformat(str(record["created_at"])),
            revoked_at=(
                datetime.fromisoformat(str(record["revoked_at"])) if record["revoked_at"] else None
            ),
        )
