"""Identifiers normalised and SHA-256 hashed as ad platforms' customer-list uploads expect.

Two formats, one per platform family, because the platforms disagree on two details
(docs/activation.md, "Ad-platform files"):

=============  =====================================  ====================================
               ``google-ads`` (Customer Match)        ``meta-ads`` (custom audiences)
=============  =====================================  ====================================
e-mail         trimmed, lower-cased; for gmail.com    trimmed, lower-cased; dots kept
               and googlemail.com the dots of the
               local part removed
phone          E.164 with its ``+``: ``+33612345678``  E.164 digits, no ``+``:
                                                      ``33612345678``
header         ``Email``, ``Phone``                   ``email``, ``phone``
=============  =====================================  ====================================

The hash is the lower-case hex SHA-256 of the normalised text's UTF-8 bytes. A file in
these formats never holds a clear identifier.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["AD_FORMATS", "hashed", "normalise_email", "normalise_phone", "sha256_hex"]

#: Ad-platform formats and their column names for e-mail and phone.
AD_FORMATS: dict[str, dict[str, str]] = {
    "google-ads": {"email": "Email", "phone": "Phone"},
    "meta-ads": {"email": "email", "phone": "phone"},
}

_GMAIL = ("gmail.com", "googlemail.com")
_NOT_DIGIT = re.compile(r"\D")


def sha256_hex(text: str) -> str:
    """The lower-case hex SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_email(value: str, platform: str) -> str | None:
    """``value`` trimmed and lower-cased (and, for ``google-ads``, gmail dots removed)."""
    text = value.strip().lower()
    if "@" not in text:
        return None
    local, _, domain = text.rpartition("@")
    if platform == "google-ads" and domain in _GMAIL:
        local = local.replace(".", "")
    return f"{local}@{domain}" if local and domain else None


def normalise_phone(value: str, platform: str) -> str | None:
    """An E.164 phone (``+33612345678``, as the store keeps them) in the platform's form:
    ``+`` and digits for ``google-ads``, digits only for ``meta-ads``."""
    digits = _NOT_DIGIT.sub("", value)
    if not digits:
        return None
    return "+" + digits if platform == "google-ads" else digits


def hashed(kind: str, value: str | None, platform: str) -> str | None:
    """The platform's hash of one identifier of ``kind`` (``email`` or ``phone``)."""
    if value is None:
        return None
    normal = (
        normalise_email(value, platform) if kind == "email" else normalise_phone(value, platform)
    )
    return None if normal is None else sha256_hex(normal)
