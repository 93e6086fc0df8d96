"""What a column's name says: an identity (e-mail, phone) or an identifier that must stay text.

Names are the user's data: they are normalised here with plain string operations
(accents dropped, case folded, camelCase and separators split into words), never matched
by a regular expression built from them, and compared against fixed word lists.

* :func:`identity_by_name`: ``Courriel``, ``E-mail``, ``adresse_mail`` -> ``email``;
  ``Téléphone``, ``tel``, ``mobile``, ``N° de portable`` -> ``phone``.
* :func:`identifier_like_name`: ``postcode``, ``Code postal``, ``zipCode``, ``store_id``,
  ``SIRET``: values that are labels, not quantities, even when they are all digits.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from microseg.store import Store, ident

__all__ = [
    "IdentityProposal",
    "identifier_like_name",
    "identity_by_name",
    "propose_identities",
    "words",
]

#: words naming the identity itself
_IDENTITY_WORDS = {
    "email": {"email", "mail", "courriel", "emailaddress", "mailaddress", "correo", "mel"},
    "phone": {
        "phone",
        "telephone",
        "tel",
        "mobile",
        "portable",
        "gsm",
        "cell",
        "cellphone",
        "cellular",
        "mobilephone",
        "smartphone",
        "telefon",
        "telefono",
        "handy",
        "cellulaire",
    },
}
#: words that may stand beside them (``adresse e-mail``, ``numéro de téléphone``)
_FILLERS = {
    "address",
    "adresse",
    "addr",
    "contact",
    "customer",
    "client",
    "main",
    "principal",
    "primary",
    "perso",
    "personal",
    "personnel",
    "personnelle",
    "number",
    "numero",
    "num",
    "no",
    "nr",
    "n",
    "de",
    "du",
    "d",
    "of",
    "the",
    "e",
    "electronique",
    "home",
    "domicile",
    "fixe",
    "work",
    "pro",
    "mobile",
    "portable",
    "phone",
}
#: words of names whose values are labels (codes, references), never quantities
_IDENTIFIER_WORDS = {
    "id",
    "ids",
    "uuid",
    "guid",
    "ref",
    "reference",
    "code",
    "codes",
    "zip",
    "zipcode",
    "postcode",
    "postal",
    "postalcode",
    "cp",
    "plz",
    "sku",
    "ean",
    "upc",
    "gtin",
    "isbn",
    "siret",
    "siren",
    "iban",
    "bic",
    "vat",
    "tva",
    "insee",
    "account",
    "compte",
}
#: the last word of such a name (``account_number``, ``n° client``)
_IDENTIFIER_LAST = {"number", "numero", "num", "nr", "no"}


def words(name: str) -> list[str]:
    """The words of a column name: accents dropped, camelCase split, lower case, split on
    anything that is not a letter or a digit (``Numéro_de-Téléphone`` -> numero, de,
    telephone)."""
    plain = "".join(
        ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)
    )
    out: list[str] = []
    current = ""
    previous = ""
    for ch in plain:
        if not ch.isalnum():
            if current:
                out.append(current)
            current = previous = ""
            continue
        if ch.isupper() and previous.islower() and current:
            out.append(current)
            current = ""
        current += ch.lower()
        previous = ch
    if current:
        out.append(current)
    return out


def identity_by_name(name: str) -> str | None:
    """``email`` or ``phone`` when the name says so, else None."""
    parts = words(name)
    if not parts or len(parts) > 6:
        return None
    joined = "".join(parts)
    for id_type, names in _IDENTITY_WORDS.items():
        if joined in names:
            return id_type
        core = [p for p in parts if p not in _FILLERS]
        if core and all(p in names for p in core):
            return id_type
        if not core and any(p in names for p in parts):
            return id_type
    return None


def identifier_like_name(name: str) -> bool:
    """Whether the name says its values are labels (a postcode, an id), not quantities: a
    short name (four words at most) with a word such as ``id``, ``code`` or ``zip``."""
    parts = words(name)
    if not parts or len(parts) > 4:
        return False
    if identity_by_name(name) == "phone":
        return True
    return any(p in _IDENTIFIER_WORDS for p in parts) or (
        len(parts) > 1 and parts[-1] in _IDENTIFIER_LAST
    )


@dataclass(frozen=True)
class IdentityProposal:
    """A column whose name says it is an identity, and whether it became one."""

    column: str  # as in the source
    id_type: str
    taken: bool
    why: str  # plain words: why it was taken, or why it was not
    other: str | None = None  # the source's column that is that identity already
    #: some of its values look like the identity (when none does, it is only noted)
    plausible: bool = True


_LOOKS = {
    # share of non-empty values that must look like the identity for the name to be taken
    "email": "contains({v}, '@')",
    "phone": (
        "length(regexp_replace({v}, '[^0-9]', '', 'g')) >= 6 "
        "AND NOT regexp_matches({v}, '[[:alpha:]]')"
    ),
}


def propose_identities(
    store: Store,
    view: str,
    renames: dict[str, str],
    mapping: Mapping[str, str],
    canonical: Sequence[str],
) -> tuple[dict[str, str], list[IdentityProposal]]:
    """Take the columns named like an e-mail or a phone as that identity, when the source has
    no column for it yet, no ``--map`` says otherwise, and most of their values look like
    one; the others stay what they were, and each is reported.

    ``renames`` maps the columns of ``view`` (as read) to their target names.
    """
    targets = set(renames.values())
    proposals: list[IdentityProposal] = []
    out = dict(renames)
    for column, target in renames.items():
        id_type = identity_by_name(column)
        if id_type is None and column in mapping:
            id_type = identity_by_name(target)
        if id_type is None or id_type not in canonical or target == id_type:
            continue
        other = None
        if column in mapping:
            why = f"--map named it {target!r}"
        elif id_type in targets:
            other = next(c for c, t in out.items() if t == id_type)
            why = f"the {id_type} identity is column {other!r}"
        else:
            share = _share_like(store, view, column, id_type)
            if share is None or share >= 0.5:
                out[column] = id_type
                targets.add(id_type)
                proposals.append(IdentityProposal(column, id_type, True, "its name"))
                continue
            what = "e-mail addresses" if id_type == "email" else "phone numbers"
            if not share:
                one = "an e-mail address" if id_type == "email" else "a phone number"
                why = f"named like {one}, but none of its values is one"
                proposals.append(IdentityProposal(column, id_type, False, why, None, False))
                continue
            why = f"only {share:.0%} of its values look like {what}"
        proposals.append(IdentityProposal(column, id_type, False, why, other))
    return out, proposals


def _share_like(store: Store, view: str, column: str, id_type: str) -> float | None:
    """The share of the column's non-empty values that look like ``id_type`` (None: no
    values)."""
    v = f"nullif(trim({ident(column)}::VARCHAR), '')"
    looks = _LOOKS[id_type].format(v=v)
    row = store.fetchone(
        f"SELECT count({v}), count(*) FILTER ({looks}) FROM {ident(view)}"  # noqa: S608 - identifiers via ident(), values bound as parameters
    )
    assert row is not None
    present, like = int(row[0]), int(row[1])
    return None if not present else like / present
