"""Identifier values that link no one: malformed e-mails, placeholders, shared identifiers.

Normalisation happens in SQL (:func:`microseg.ingest._identity.normalised_identifiers`);
the verdicts come from Python (the ``email-validator`` package, the placeholder patterns
of ``microseg.yaml``, and for phones :mod:`microseg.ingest._phones`) over the distinct
values of a source, read in Arrow batches, and go back to SQL as the temporary table
``_id_verdicts`` (``t``, ``v``, ``kind``, ``reason``): user values are data in a table,
never SQL text. ``kind`` is ``invalid`` (e-mails and phones), ``placeholder`` or ``shared``
(listed in ``shared_identifiers``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from email_validator import EmailNotValidError, validate_email

from microseg.config import IdentitySettings
from microseg.ingest._phones import PHONE_FORMS
from microseg.store import IDENTITY_TYPES, Store, ident

__all__ = ["VERDICTS", "IdentityPolicy", "screen_identifiers"]

VERDICTS = "_id_verdicts"
_BATCH = 65_536


@dataclass(frozen=True)
class IdentityPolicy:
    """The identity guards of a workspace, compiled once per load."""

    max_customers: int = 20
    placeholders: dict[str, Any] = field(default_factory=dict)  # RE2 patterns or None
    default_country: str | None = None  # of phone numbers in national form

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> IdentityPolicy:
        return cls(
            max_customers=settings.max_customers_per_identifier,
            placeholders={t: settings.placeholders.compiled(t) for t in IDENTITY_TYPES},
            default_country=settings.default_country,
        )


#: A plain ASCII local part (RFC 5322 dot-atom), which email-validator always accepts.
_PLAIN_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def _full_check(value: str) -> str | None:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=65_536)
def _domain_problem(domain: str) -> str | None:
    return _full_check("a@" + domain)


def _email_problem(value: str) -> str | None:
    """Why ``value`` is not an e-mail address (syntax only: never a DNS query), or None.

    email-validator is the judge. Its costly part is the domain, and a shop's addresses
    share few domains: an address with a plain ASCII local part is judged by its domain
    alone (once per domain); any other goes through the whole check.
    """
    local, _, domain = value.rpartition("@")
    if len(value) <= 254 and len(local) <= 64 and _PLAIN_LOCAL.fullmatch(local):
        return _domain_problem(domain)
    return _full_check(value)


_WHAT = {
    "customer_id": "customer id",
    "email": "e-mail",
    "phone": "phone",
    "anonymous_id": "anonymous id",
}


def screen_identifiers(
    store: Store, view: str, identifiers: dict[str, str], policy: IdentityPolicy
) -> set[str]:
    """Create ``_id_verdicts`` for the normalised ``identifiers`` (type -> SQL) of ``view``;
    the identifier types that have verdicts.

    Every distinct value is matched against the placeholders; e-mails the store does not
    know yet are validated (known ones were, when they came in).
    """
    types, values, kinds, reasons = [], [], [], []
    for id_type, expr in identifiers.items():
        if expr.startswith("NULL") or id_type == "phone":  # phones: judged in _phone_forms
            continue
        known = (
            "v IN (SELECT id_value FROM identities WHERE id_type = 'email')"
            if id_type == "email"
            else "true"
        )
        reader = store.con.execute(
            f"SELECT v, {known} AS known FROM (SELECT DISTINCT {expr} AS v "  # noqa: S608 - identifiers via ident(), values bound as parameters
            f"FROM {ident(view)}) WHERE v IS NOT NULL"
        ).to_arrow_reader(_BATCH)
        placeholder = policy.placeholders.get(id_type)
        for batch in reader:
            for value, is_known in zip(
                batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
            ):
                if placeholder is not None and placeholder.fullmatch(value):
                    kind = "placeholder"
                    reason = (
                        f"'{value}' is a placeholder {_WHAT[id_type]} (identity.placeholders "
                        "in microseg.yaml): it identifies no one"
                    )
                elif id_type == "email" and not is_known and (problem := _email_problem(value)):
                    kind = "invalid"
                    reason = f"'{value}' is not a valid e-mail address: {problem}"
                else:
                    continue
                types.append(id_type)
                values.append(value)
                kinds.append(kind)
                reasons.append(reason)
    found = pa.table(
        {
            "t": pa.array(types, pa.string()),
            "v": pa.array(values, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "reason": pa.array(reasons, pa.string()),
        }
    )
    # phones are judged by prepare_phone_forms (microseg.ingest._identity.screen); none
    # when it did not run
    store.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {PHONE_FORMS} "
        "(raw VARCHAR, v VARCHAR, kind VARCHAR, reason VARCHAR)"
    )
    store.con.register("_found_verdicts", found)
    store.execute(
        f"""CREATE OR REPLACE TEMP TABLE {VERDICTS} AS
        SELECT * FROM _found_verdicts
        UNION ALL
        SELECT 'phone', v, arg_min(kind, kind <> 'placeholder'),
               arg_min(reason, kind <> 'placeholder')
        FROM {PHONE_FORMS} WHERE kind IN ('placeholder', 'invalid') GROUP BY v
        UNION ALL
        SELECT s.id_type, s.id_value, 'shared',
               CASE WHEN s.reason = 'unmerged'
                    THEN s.id_type || ' ''' || s.id_value || ''' was set aside when a merge '
                         || 'it made was undone: it links no one'
                    ELSE s.id_type || ' ''' || s.id_value || ''' is shared by '
                         || s.customers || ' customers (more than '
                         || 'identity.max_customers_per_identifier): it links no one' END
        FROM shared_identifiers s
        WHERE NOT EXISTS (SELECT 1 FROM _found_verdicts f WHERE f.t = s.id_type
                          AND f.v = s.id_value)
          AND NOT EXISTS (SELECT 1 FROM {PHONE_FORMS} p WHERE s.id_type = 'phone'
                          AND p.v = s.id_value AND p.kind IN ('placeholder', 'invalid'))"""  # noqa: S608 - identifiers via ident(), values bound as parameters
    )
    store.con.unregister("_found_verdicts")
    return {str(r[0]) for r in store.fetchall(f"SELECT DISTINCT t FROM {VERDICTS}")}  # noqa: S608 - identifiers via ident(), values bound as parameters
