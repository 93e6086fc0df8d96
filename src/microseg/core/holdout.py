"""The deterministic holdout draw of a campaign: who is kept out of the mailing.

A customer's draw is the SHA-256 of ``salt:customer_id`` read as a number in [0, 1): the
same salt and id give the same draw on every run, in every process and on every machine,
so a customer is always on the same side of a campaign's holdout. The campaigns of
:mod:`microseg.activate` and the synthetic shop's planted mailing both use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["holdout_draw", "in_holdout"]

_SCALE = float(2**64)


def holdout_draw(salt: str, customer_id: str) -> float:
    """The customer's draw in [0, 1): the first 8 bytes of sha256(``salt:id``), big-endian.

    >>> round(holdout_draw("spring", "C00000001"), 6)
    0.418389
    """
    digest = hashlib.sha256(f"{salt}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_holdout(salt: str, customer_ids: Iterable[str], share: float) -> list[bool]:
    """For each id, whether it falls in the holdout (control group): its draw is below
    ``share``."""
    return [holdout_draw(salt, c) < share for c in customer_ids]
