"""Phone identities in E.164, read with the ``phonenumbers`` package.

A source's distinct phone cells are read once, in Arrow batches, and each is judged in
Python; the result goes back to SQL as the temporary table ``_phone_forms`` (``raw``: the
trimmed cell, ``v``: the identity value or NULL, ``kind`` and ``reason`` of a verdict), so
that user values stay data in a table. A cell becomes:

* no phone at all (``v`` NULL) when it has fewer than 6 digits, as before;
* its E.164 form (``+33677187530``) when it is written in international form (``+`` or
  ``00``), or in national form with ``identity.default_country`` set, and is a valid
  number of that country;
* itself, as given, with the verdict ``invalid`` when it could be read that way but is not
  a valid number: it links no one and the load report lists it;
* its digits (``0677187530``) when it is in national form and no default country is set:
  it matches the same digits only, and the load report says why.

Placeholders (``identity.placeholders.phone``) are matched against the digits (with a
leading ``+`` for international forms) and against the E.164 form.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
import pyarrow as pa

from microseg.store import Store, ident

__all__ = ["PHONE_FORMS", "SPACE", "PhoneForm", "phone_form", "prepare_phone_forms"]

PHONE_FORMS = "_phone_forms"
#: What counts as white space around an identifier: space, tab, line breaks, no-break space.
SPACE = "(chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160))"
_BATCH = 65_536
_DIGITS = frozenset("0123456789")
_WHY = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "of a length no number there has",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "with an unknown country code",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
}


@dataclass(frozen=True)
class PhoneForm:
    """What one phone cell is as an identity."""

    value: str | None  # the identity value (None: no phone)
    kind: str | None = None  # "placeholder", "invalid", "national" (not normalised) or None
    reason: str | None = None


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch in _DIGITS)


def phone_form(raw: str, *, country: str | None, placeholder: object = None) -> PhoneForm:
    """The identity of the trimmed phone cell ``raw`` (see the module's rules)."""
    digits = _digits(raw)
    if len(digits) < 6:
        return PhoneForm(None)
    international = raw.startswith("+") or digits.startswith("00")
    legacy = "+" + (digits[2:] if digits.startswith("00") else digits) if international else digits
    matcher = getattr(placeholder, "fullmatch", None)
    if matcher is not None and matcher(legacy):
        return PhoneForm(legacy, "placeholder", _placeholder(legacy))
    if not international and country is None:
        return PhoneForm(legacy, "national")
    region = None if international else country
    quick = _quick_e164(legacy if international else digits, region)
    if quick is not None:
        return (
            PhoneForm(quick, "placeholder", _placeholder(quick))
            if matcher and matcher(quick)
            else PhoneForm(quick)
        )
    text = raw if raw.startswith("+") or not international else legacy
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return PhoneForm(raw, "invalid", _invalid(raw, region, None))
    if not phonenumbers.is_valid_number(number):
        why = phonenumbers.is_possible_number_with_reason(number)
        return PhoneForm(raw, "invalid", _invalid(raw, region, why))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if matcher is not None and matcher(e164):
        return PhoneForm(e164, "placeholder", _placeholder(e164))
    return PhoneForm(e164)


def _quick_e164(digits: str, region: str | None) -> str | None:
    """The E.164 form of a number that is valid as it stands, without ``phonenumbers.parse``
    (which costs more than half of the time): ``+`` and digits, or, in a country whose
    national prefix is a plain ``0``, that 0 and digits. None when that does not give a
    valid number: the caller then parses the text in full (so this only saves time)."""
    if region is None:
        rest = digits[1:]
        if rest.startswith("0"):
            return None
        for size in (1, 2, 3):  # country calling codes are prefix-free
            code = int(rest[:size])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                return _valid(code, rest[size:])
        return None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if (
        metadata is None
        or metadata.national_prefix != "0"
        or metadata.national_prefix_for_parsing != "0"
        or not digits.startswith("0")
    ):
        return None
    return _valid(int(metadata.country_code or 0), digits[1:])


def _valid(code: int, national: str) -> str | None:
    if not national or not 2 <= len(national) <= 17:
        return None
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    zeros = len(national) - len(national.lstrip("0"))
    if zeros:
        number.italian_leading_zero = True
        if zeros > 1:
            number.number_of_leading_zeros = zeros
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _placeholder(value: str) -> str:
    return (
        f"'{value}' is a placeholder phone (identity.placeholders in microseg.yaml): "
        "it identifies no one"
    )


def _invalid(raw: str, region: str | None, why: object) -> str:
    where = f" for {region} (identity.default_country)" if region else ""
    detail = (
        _WHY.get(why, "no number in use has these digits (one missing or extra?)")  # type: ignore[call-overload]
        if why is not None
        else "unreadable"
    )
    return f"'{raw}' is not a valid phone number{where}: {detail}; it links no one"


def prepare_phone_forms(
    store: Store, view: str, column: str | None, *, country: str | None, placeholder: object
) -> dict[str, list[str]]:
    """Create :data:`PHONE_FORMS` for the phone ``column`` of ``view`` (empty without one).

    Returns the cells by kind (``invalid``, ``national``), each in order, for the report.
    """
    raws: list[str] = []
    values: list[str | None] = []
    kinds: list[str | None] = []
    reasons: list[str | None] = []
    if column is not None:
        trimmed = f"nullif(trim({ident(column)}::VARCHAR, {SPACE}), '')"
        reader = store.con.execute(
            f"SELECT DISTINCT {trimmed} AS raw FROM {ident(view)} WHERE {trimmed} IS NOT NULL"  # noqa: S608 - identifiers via ident(), values bound as parameters
        ).to_arrow_reader(_BATCH)
        for batch in reader:
            for raw in batch.column(0).to_pylist():
                form = phone_form(raw, country=country, placeholder=placeholder)
                raws.append(raw)
                values.append(form.value)
                kinds.append(form.kind)
                reasons.append(form.reason)
    table = pa.table(
        {
            "raw": pa.array(raws, pa.string()),
            "v": pa.array(values, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "reason": pa.array(reasons, pa.string()),
        }
    )
    with store.registered("_phone_forms_src", table):
        store.execute(
            f"CREATE OR REPLACE TEMP TABLE {PHONE_FORMS} AS SELECT * FROM _phone_forms_src"  # noqa: S608 - identifiers via ident(), values bound as parameters
        )
    found: dict[str, list[str]] = {}
    for raw, kind in zip(raws, kinds, strict=True):
        if kind in ("invalid", "national"):
            found.setdefault(kind, []).append(raw)
    return {k: sorted(v) for k, v in found.items()}
