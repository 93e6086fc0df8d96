"""Webhook signatures: how microseg signs a post and how a receiver checks it.

Every post carries::

    X-Microseg-Timestamp: 1767441600                 (Unix seconds, when it was signed)
    X-Microseg-Signature: sha256=<64 hex digits>     (HMAC-SHA256 with the shared secret)
    Idempotency-Key: <batch id>                      (the same on every retry of a batch)

The signed string is the timestamp, a full stop and the raw body bytes exactly as received
(``b"1767441600." + body``). A receiver recomputes the HMAC with its copy of the secret,
compares in constant time, and refuses timestamps too far from its own clock (a replayed
post). :func:`verify_signature` does all three; it needs nothing but the standard library,
so receivers can copy it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "verify_signature",
]

TIMESTAMP_HEADER = "X-Microseg-Timestamp"
SIGNATURE_HEADER = "X-Microseg-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_SCHEME = "sha256="


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Microseg-Signature`` value of ``body`` signed at ``timestamp``:
    ``sha256=`` and the hex HMAC-SHA256 of ``b"{timestamp}." + body`` under ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, str(int(timestamp)).encode() + b"." + body, hashlib.sha256)
    return _SCHEME + digest.hexdigest()


def verify_signature(
    secret: str | bytes,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance: float | None = 300.0,
    now: float | None = None,
) -> bool:
    """Whether a received post was signed by a holder of ``secret``.

    Parameters
    ----------
    secret:
        The shared secret (the value of the destination's ``secret_env`` variable).
    body:
        The raw request body, exactly as received (before any JSON parsing).
    timestamp, signature:
        The ``X-Microseg-Timestamp`` and ``X-Microseg-Signature`` header values.
    tolerance:
        The largest difference, in seconds, between the timestamp and ``now`` that is
        accepted (None: any age; 300 by default, against replays).
    now:
        The receiver's clock in Unix seconds (default: ``time.time()``).

    Examples
    --------
    >>> body = b'{"batch_id": "b1"}'
    >>> header = sign("s3cret", 1767441600, body)
    >>> verify_signature("s3cret", body, "1767441600", header, now=1767441630)
    True
    >>> verify_signature("s3cret", body + b" ", "1767441600", header, now=1767441630)
    False
    """
    if not timestamp or not signature or not timestamp.strip().isdigit():
        return False
    stamp = int(timestamp.strip())
    if tolerance is not None:
        clock = time.time() if now is None else now
        if abs(clock - stamp) > tolerance:
            return False
    expected = sign(secret, stamp, body)
    return hmac.compare_digest(expected, signature.strip())
