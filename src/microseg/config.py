"""The workspace configuration, ``microseg.yaml``.

The file is parsed into pydantic models with ``extra="forbid"``; every problem
is reported with the file, the line and the field path, and a misspelt key gets
a "did you mean". See docs/getting-started.md for an annotated example.
"""

from __future__ import annotations

import codecs
import difflib
import re
import zoneinfo
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import re2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from microseg.core.duration import Duration, parse_duration
from microseg.core.errors import ConfigError
from microseg.core.text import line_index, slug
from microseg.core.yaml import YamlError, load_yaml, read_text

__all__ = [
    "FAMILIES",
    "AttributeSpec",
    "AuditSettings",
    "CalendarWindow",
    "ChannelConsent",
    "ConsentSettings",
    "EventTypeNames",
    "HistorySettings",
    "IdentitySettings",
    "IngestSettings",
    "LifecycleSettings",
    "PrivacySettings",
    "ReadOptions",
    "RejectLimit",
    "RetentionSettings",
    "SourceSpec",
    "StoreSettings",
    "TraitSettings",
    "ValueSettings",
    "WorkspaceConfig",
    "load_config",
    "parse_reject_limit",
    "render_default_config",
]

FAMILIES = ("geographic", "demographic", "psychographic", "behavioral")

AttributeType = Literal["text", "number", "boolean", "date", "timestamp", "list"]
SourceKind = Literal["customers", "events", "products"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


class AttributeSpec(_Model):
    """Declared type of a customer attribute (otherwise inferred from the first file)."""

    type: AttributeType
    separator: str = Field(default="|", min_length=1, description="list items in CSV cells")


#: thousands separators a source may declare; the three spaces are one (exports mix them)
Thousands = Literal[" ", "\u202f", "\u00a0", ".", ",", "'"]
#: strptime directives a date or timestamp format may use (read by DuckDB's strptime)
_DIRECTIVES = frozenset("aAdbBmyYHIpMSfzZj%")
_SAMPLE = datetime(2031, 11, 23, 17, 46, 59, 123456)


def _check_format(value: str | None, kind: Literal["date", "timestamp"]) -> str | None:
    """A strptime-style format that reads every part of a date (and a time): refused when
    it has a directive microseg cannot read or leaves a part out, never guessed."""
    if value is None:
        return None
    directives = re.findall(r"%(.)", value.replace("%%", ""))
    unknown = sorted({d for d in directives if d not in _DIRECTIVES})
    if unknown or value.replace("%%", "").endswith("%"):
        bad = ", ".join(f"%{d}" for d in unknown) or "a lone %"
        raise ValueError(
            f"{value!r} is not a {kind} format microseg can read ({bad}); use strptime "
            "directives such as %d/%m/%Y or %d/%m/%Y %H:%M"
        )
    parts = {"year (%Y or %y)": "Yy", "month (%m, %b or %B)": "mbB", "day (%d)": "d"}
    if "j" in directives:  # day of the year gives month and day
        parts = {"year (%Y or %y)": "Yy"}
    if kind == "timestamp":
        parts |= {"hour (%H, or %I with %p)": "HI", "minutes (%M)": "M"}
    missing = [name for name, letters in parts.items() if not set(letters) & set(directives)]
    if "I" in directives and "p" not in directives:
        missing.append("AM/PM (%p, with %I)")
    if missing:
        raise ValueError(
            f"{value!r} is not a complete {kind} format: it has no {', '.join(missing)}; "
            "a value is read with exactly the declared format, nothing is guessed"
        )
    try:  # the format must read back what it writes
        datetime.strptime(_SAMPLE.strftime(value), value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a {kind} format microseg can read: {exc}") from None
    return value


def _check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, sorted(zoneinfo.available_timezones()), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (use an IANA name)"
        raise ValueError(f"unknown time zone {value!r}{hint}") from None
    return value


class RejectLimit(_Model):
    """How many rejected rows a load may have: a count, or a share of the rows read."""

    count: int | None = None
    share: float | None = None  # 0..1

    def exceeded(self, rejected: int, read: int) -> bool:
        if self.count is not None:
            return rejected > self.count
        assert self.share is not None
        return read > 0 and rejected > self.share * read

    def __str__(self) -> str:
        if self.count is not None:
            return f"{self.count:,} rows"
        assert self.share is not None
        return f"{self.share * 100:g}%"


def parse_reject_limit(value: str | int | float) -> RejectLimit:
    """``10%``, ``2.5%`` or a count of rows such as ``50``; ValueError otherwise."""
    text = str(value).strip()
    if isinstance(value, bool):
        text = ""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", text)
    if match:
        share = float(match.group(1))
        if share <= 100:
            return RejectLimit(share=share / 100)
    elif re.fullmatch(r"\d+", text):
        return RejectLimit(count=int(text))
    raise ValueError(
        f"{value!r} is not a reject limit: write a number of rows (50) or a percentage of "
        "the rows read from 0% to 100% (10%)"
    )


class ReadOptions(_Model):
    """How a source's text is read: its locale (docs/data-model.md, "Locale-aware
    sources"). Unset options keep microseg's defaults: comma or sniffed delimiter, UTF-8,
    ``.`` for decimals, ISO 8601 dates and times in the workspace zone."""

    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str | None = None
    decimal: Literal[".", ","] | None = None
    thousands: Thousands | None = None
    date_format: str | None = None
    timestamp_format: str | None = None
    #: the time zone of this source's naive timestamps (default: the workspace's)
    timezone: str | None = None
    true_values: list[str] = Field(default_factory=list)
    false_values: list[str] = Field(default_factory=list)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"unknown encoding {value!r}; e.g. utf-8, latin-1, cp1252, utf-16"
                ) from None
        return value

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str | None) -> str | None:
        return _check_format(value, "date")

    @field_validator("timestamp_format")
    @classmethod
    def _timestamp_format(cls, value: str | None) -> str | None:
        return _check_format(value, "timestamp")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("true_values", "false_values")
    @classmethod
    def _words(cls, words: list[str]) -> list[str]:
        if any(not w.strip() for w in words):
            raise ValueError("a true/false word cannot be empty")
        return words

    @model_validator(mode="after")
    def _consistent(self) -> ReadOptions:
        if self.decimal is not None and self.decimal == self.thousands:
            raise ValueError(f"decimal and thousands are both {self.decimal!r}; they must differ")
        both = {w.strip().lower() for w in self.true_values} & {
            w.strip().lower() for w in self.false_values
        }
        if both:
            raise ValueError(f"{sorted(both)[0]!r} is both a true and a false word")
        return self


class SourceSpec(ReadOptions):
    """A named source: which table it feeds, how its columns map to canonical names, and
    how its text is read (the :class:`ReadOptions`, over the ``ingest`` defaults)."""

    kind: SourceKind
    map: dict[str, str] = Field(default_factory=dict, description="source column -> canonical")
    format: Literal["csv", "parquet", "jsonl"] | None = None
    #: list separator of each list column (names after the map), e.g. ``{interests: ","}``
    list_separators: dict[str, str] = Field(default_factory=dict)
    #: columns the file does not have, the same value on every row: ``{type: purchase}``
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    #: this source's reject limit (default: ``ingest.max_rejected``)
    max_rejected: str | int | None = None

    @field_validator("list_separators")
    @classmethod
    def _separators(cls, value: dict[str, str]) -> dict[str, str]:
        for column, sep in value.items():
            if not sep:
                raise ValueError(f"the list separator of {column!r} is empty")
        return value

    @field_validator("max_rejected")
    @classmethod
    def _limit(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_reject_limit(value)
        return value


class IngestSettings(ReadOptions):
    """Loading: limits, and the read options every source starts from."""

    future_tolerance: str = "1 day"
    #: the default delimiter of CSV files (the same as ``delimiter``; kept for old files)
    csv_delimiter: str | None = None
    #: a load with more rejected rows than this writes nothing but its rejects
    max_rejected: str | int = "10%"
    #: times before this (events, valid-from dates, date and timestamp attributes) are
    #: implausible and rejected: a year 1 or an epoch-zero default is an export's bug
    earliest: date = date(1900, 1, 1)

    @field_validator("future_tolerance")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("max_rejected")
    @classmethod
    def _limit(cls, value: str | int) -> str | int:
        parse_reject_limit(value)
        return value

    @model_validator(mode="after")
    def _one_delimiter(self) -> IngestSettings:
        if self.csv_delimiter and self.delimiter and self.csv_delimiter != self.delimiter:
            raise ValueError(
                f"csv_delimiter {self.csv_delimiter!r} and delimiter {self.delimiter!r} "
                "disagree; keep delimiter"
            )
        return self

    @property
    def future_tolerance_duration(self) -> Duration:
        return parse_duration(self.future_tolerance)


class HistorySettings(_Model):
    """Customer attribute history (docs/data-model.md, "customers", History).

    ``first_version``: when a customer's first known attributes come with no time of
    their own (no ``valid_from``/``updated_at`` column or ``--valid-from``), ``backfill``
    makes them hold from the beginning (``ingest.earliest``), so that a past ``as_of``
    sees them; ``from_load`` makes them valid from the load time only.
    """

    first_version: Literal["backfill", "from_load"] = "backfill"


class RetentionSettings(_Model):
    """How long raw data is kept by ``microseg retention apply`` (None: forever); older
    rows are deleted, or with ``action: archive`` first written to Parquet files in the
    ``archive`` folder (relative to the workspace)."""

    events: str | None = "3 years"
    rejects: str | None = "1 year"
    action: Literal["delete", "archive"] = "delete"
    archive: str = Field(default="archive", min_length=1)

    @field_validator("events", "rejects")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return _check_duration(value)


class LifecycleSettings(_Model):
    """Thresholds (days) of the built-in ``lifecycle_stage`` trait."""

    new_days: int = Field(default=30, ge=1)
    active_days: int = Field(default=90, ge=1)
    at_risk_days: int = Field(default=180, ge=1)
    reactivation_gap_days: int = Field(default=365, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if not self.active_days < self.at_risk_days:
            raise ValueError("active_days must be less than at_risk_days")
        if not self.active_days < self.reactivation_gap_days:
            raise ValueError("active_days must be less than reactivation_gap_days")
        return self


_CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: Channel names whose ``<name>_share`` trait would be another built-in's.
_RESERVED_CHANNELS = ("discount", "occasion")


def _default_channels() -> dict[str, list[str]]:
    return {"web": ["web"], "app": ["app"], "store": ["store"]}


class EventTypeNames(_Model):
    """The event type the built-in traits read for each role (docs/traits.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    purchase: str = Field(default="purchase", min_length=1)
    return_: str = Field(default="return", alias="return", min_length=1)
    view: str = Field(default="view", min_length=1)
    cart_add: str = Field(default="cart_add", min_length=1)
    checkout_abandon: str = Field(default="checkout_abandon", min_length=1)
    email_sent: str = Field(default="email_sent", min_length=1)
    email_open: str = Field(default="email_open", min_length=1)
    email_click: str = Field(default="email_click", min_length=1)

    @field_validator("*")
    @classmethod
    def _one_type(cls, value: str) -> str:
        if value == "any":
            raise ValueError("'any' means every event type in rules: name one event type")
        return value

    def by_role(self) -> dict[str, str]:
        """Role (``purchase``, ``return``, ...) -> the shop's event type."""
        return self.model_dump(by_alias=True)


class TraitSettings(_Model):
    """Traits made from the data: ``spend_share_<category>`` (docs/traits.md), and the
    vocabularies the built-in traits read: channels and event types."""

    spend_share_categories: list[str] | None = Field(
        default=None, description="exactly these categories (default: every purchased one)"
    )
    spend_share_limit: int = Field(default=50, ge=0, le=1000)
    channels: dict[str, list[str]] = Field(
        default_factory=_default_channels,
        description="channel name -> the events' channel values that mean it (or a list of "
        "values, each its own channel); gives <name>_share and omnichannel",
    )
    event_types: EventTypeNames = Field(default_factory=EventTypeNames)

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_list(cls, value: Any) -> Any:
        """A list of the shop's channel values: each its own channel, named by its slug."""
        if not isinstance(value, list):
            return value
        named: dict[str, list[str]] = {}
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise ValueError(f"{item!r} is not a channel value: write the text of one")
            name = slug(item)
            if not name or not name[0].isalpha():
                raise ValueError(
                    f"the channel {item!r} gives no name that starts with a letter: use the "
                    "mapping form, e.g. {web: ['" + item + "']}"
                )
            if name in named:
                raise ValueError(
                    f"the channels {named[name][0]!r} and {item!r} both give the name "
                    f"{name!r}: use the mapping form ({name}: [...]) to say whether they "
                    "are one channel"
                )
            named[name] = [item]
        return named

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not 1 <= len(value) <= 20:
            raise ValueError(f"{len(value)} channels: give between 1 and 20")
        owner: dict[str, str] = {}
        for name, values in value.items():
            if not _CHANNEL_NAME.match(name):
                raise ValueError(
                    f"channel name {name!r}: use lower-case letters, digits and _ (a letter "
                    f"first, at most 40), e.g. {slug(name) or 'web'!r}; the channel's values "
                    "may be any text"
                )
            if name in _RESERVED_CHANNELS:
                raise ValueError(
                    f"channel name {name!r}: {name}_share is another built-in trait; "
                    "choose another name"
                )
            if not values or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"channel {name!r}: list the channel values that mean it")
            for item in values:
                if item in owner and owner[item] != name:
                    raise ValueError(
                        f"the channel value {item!r} is listed under both {owner[item]} and "
                        f"{name}; keep it under one"
                    )
                owner[item] = name
        return value


class ValueSettings(_Model):
    """Customer value models (``microseg clv``): docs/value.md."""

    model: Literal["bgnbd", "pareto-nbd"] = "bgnbd"
    unit: Literal["day", "week"] = "week"
    purchase_event: str = "purchase"
    return_event: str = "return"
    net_returns: bool = Field(default=True, description="scale repeat spend by 1 - returned share")
    horizon_months: int = Field(default=12, ge=1, le=120)
    monthly_discount_rate: float = Field(default=0.01, ge=0.0, lt=1.0)
    churn_thresholds: tuple[float, float] = (0.3, 0.7)
    penalizer: float = Field(default=0.0, ge=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> ValueSettings:
        low, high = self.churn_thresholds
        if not 0.0 < low < high < 1.0:
            raise ValueError(
                "churn_thresholds must be two probabilities, low < high, e.g. [0.3, 0.7]"
            )
        return self


_REPEATED_DIGIT = "(?:" + "|".join(f"{d}{{6,}}" for d in "0123456789") + ")"
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported as a config error, not on stderr
_NOBODY = r"unknown|none|null|nil|n/?a|undefined|anonymous|guest|[0-]+|\?+|-+"


class PlaceholderPatterns(_Model):
    """Identifier values that identify no one: regular expressions (RE2 syntax: linear
    time, no back-references or look-arounds, at most 1,000 characters each) matched, whole
    and ignoring case, against the normalised value (e-mail lower-cased, phone as digits
    with an optional leading ``+``). ``any`` applies to every identifier type."""

    any: list[str] = Field(default_factory=lambda: [_NOBODY])
    customer_id: list[str] = Field(default_factory=list)
    email: list[str] = Field(
        default_factory=lambda: [
            r"(no-?reply|do-?not-?reply|test|unknown|none|null|invalid|nobody)@.*",
            r".*@(.*\.)?invalid",
        ]
    )
    phone: list[str] = Field(
        default_factory=lambda: [
            rf"\+?{_REPEATED_DIGIT}",  # one digit repeated, with an international prefix or not
            rf"\+\d{{1,3}}{_REPEATED_DIGIT}",
            r"\+?0?123456789?0?",
        ]
    )
    anonymous_id: list[str] = Field(default_factory=list)

    @field_validator("any", "customer_id", "email", "phone", "anonymous_id")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if len(pattern) > 1000:
                raise ValueError(f"a pattern of {len(pattern)} characters; at most 1000")
            try:
                re2.compile(pattern, _RE2_OPTIONS)
            except re2.error as exc:
                detail = exc.args[0] if exc.args else exc
                if isinstance(detail, bytes):
                    detail = detail.decode("utf-8", "replace")
                raise ValueError(
                    f"{pattern!r} is not a regular expression microseg can run ({detail}); "
                    "patterns follow RE2 syntax (no back-references or look-arounds); "
                    "escape special characters with a backslash"
                ) from None
        return patterns

    def compiled(self, id_type: str) -> Any:
        """One RE2 pattern matching every placeholder of ``id_type`` (None when there are
        none); use its ``fullmatch``."""
        patterns = [*self.any, *getattr(self, id_type)]
        if not patterns:
            return None
        return re2.compile("(?i)" + "|".join(f"(?:{p})" for p in patterns), _RE2_OPTIONS)


class IdentitySettings(_Model):
    """Identity stitching guards (docs/data-model.md, "Identity stitching")."""

    max_customers_per_identifier: int = Field(
        default=20,
        ge=2,
        description="an e-mail, phone or anonymous id joining more customers links no one",
    )
    placeholders: PlaceholderPatterns = Field(default_factory=PlaceholderPatterns)
    default_country: str | None = Field(
        default=None,
        description="ISO 3166 alpha-2 country of phone numbers written in national form",
    )

    @field_validator("default_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else _known_country(value)


def _known_country(value: str) -> str:
    """``value`` as an upper-case ISO 3166 alpha-2 code that has a phone numbering plan."""
    import phonenumbers  # here: only a config that sets a country pays for the import

    code = value.strip().upper()
    if code in phonenumbers.SUPPORTED_REGIONS:
        return code
    by_name = {"FRANCE": "FR", "UK": "GB", "USA": "US", "GERMANY": "DE", "DEUTSCHLAND": "DE"}
    close = by_name.get(code) or (
        code[:2] if len(code) == 3 and code[:2] in phonenumbers.SUPPORTED_REGIONS else None
    )
    hint = f"; did you mean {close!r}?" if close else ""
    raise ValueError(
        f"unknown country {value!r}: write an ISO 3166 alpha-2 code such as FR, GB, US or DE{hint}"
    )


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


class StoreSettings(_Model):
    path: str = "microseg.duckdb"
    memory_limit: str = "1GB"
    threads: int | None = Field(default=None, ge=1, le=1024)

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        match = _MEMORY.match(value)
        if not match or float(match.group(1)) <= 0:
            raise ValueError(
                f"{value!r} is not an amount of memory: write a positive number and a unit, "
                "e.g. 512MB, 1GB or 8GB"
            )
        return value


_MONTH_DAY = r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def black_friday_of(year: int) -> date:
    """The day after the fourth Thursday of November of ``year``."""
    first = date(year, 11, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 22)


class CalendarWindow(_Model):
    """One holiday window of the workspace calendar (docs/insights.md): fixed days,
    ``{from: 12-01, to: 12-24}`` (month-day, both inclusive; ``from`` after ``to`` crosses
    the new year), or days around a movable day, ``{around: black_friday, before: 7,
    after: 3}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str | None = Field(default=None, alias="from", pattern=_MONTH_DAY)
    to: str | None = Field(default=None, pattern=_MONTH_DAY)
    around: Literal["black_friday"] | None = None
    before: int = Field(default=0, ge=0, le=90)
    after: int = Field(default=0, ge=0, le=90)

    @model_validator(mode="after")
    def _one_form(self) -> CalendarWindow:
        fixed = self.from_ is not None and self.to is not None
        if fixed == (self.around is not None) or (self.from_ is None) != (self.to is None):
            raise ValueError(
                "give either from and to (month-day, e.g. {from: 12-01, to: 12-24}) or "
                "around (e.g. {around: black_friday, before: 7, after: 3})"
            )
        for text in (self.from_, self.to):
            if text is not None and not _is_month_day(text):
                raise ValueError(f"{text} is not a day of the year: write MM-DD, e.g. 12-24")
        return self

    def span(self, year: int) -> tuple[date, date]:
        """The window's first and last day that starts in ``year`` (Feb 29 in other years:
        Feb 28)."""
        if self.around is not None:
            day = black_friday_of(year)
            return day - timedelta(days=self.before), day + timedelta(days=self.after)
        assert self.from_ is not None
        assert self.to is not None
        first, last = _month_day(year, self.from_), _month_day(year, self.to)
        if last < first:
            last = _month_day(year + 1, self.to)
        return first, last


def _is_month_day(text: str) -> bool:
    try:
        date.fromisoformat(f"2000-{text}")  # a leap year: 02-29 is a day
    except ValueError:
        return False
    return True


def _month_day(year: int, text: str) -> date:
    month, day = int(text[:2]), int(text[3:])
    if (month, day) == (2, 29) and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        day = 28
    return date(year, month, day)


def _fixed(first: str, last: str) -> CalendarWindow:
    return CalendarWindow.model_validate({"from": first, "to": last})


def _default_calendar() -> dict[str, CalendarWindow]:
    """The shopping occasions of the synthetic shop, and the European wedding season."""
    return {
        "valentines": _fixed("02-01", "02-14"),
        "weddings_season": _fixed("05-01", "09-30"),
        "halloween": _fixed("10-17", "10-31"),
        "black_friday": CalendarWindow(around="black_friday", before=7, after=3),
        "christmas": _fixed("12-01", "12-24"),
    }


def _default_consent_channels() -> dict[str, ChannelConsent]:
    return {
        "email": ChannelConsent(attribute="email_opt_in", identities=["email"]),
        "sms": ChannelConsent(attribute="sms_opt_in", identities=["phone"]),
        "ads": ChannelConsent(attribute="ads_opt_in", identities=["email", "phone"]),
    }


class ChannelConsent(_Model):
    """How one channel's consent and reachability are read (docs/activation.md)."""

    #: the boolean attribute (with history) holding the opt-in; None: events only
    attribute: str | None = Field(default=None, min_length=1)
    #: identity types that reach a customer on the channel (any one is enough)
    identities: list[str] = Field(min_length=1)
    #: event types that withdraw the consent (naming the channel, or no channel: all)
    withdrawn_by: list[str] = Field(default_factory=lambda: ["unsubscribe"])
    #: event types that restore it (only when they name the channel)
    restored_by: list[str] = Field(default_factory=lambda: ["resubscribe"])
    #: the consent of a customer neither the attribute nor an event speaks for
    default: bool = False

    @field_validator("identities")
    @classmethod
    def _known_identities(cls, value: list[str]) -> list[str]:
        known = ("email", "phone", "customer_id", "anonymous_id")
        for name in value:
            if name not in known:
                raise ValueError(f"unknown identity type {name!r}; known: {', '.join(known)}")
        return value


class ConsentSettings(_Model):
    """Per-channel consent: ``consent:`` in ``microseg.yaml`` (docs/activation.md).

    ``channels`` given in the file replace the built-in channel of the same name and add
    new ones; the built-in ``email``, ``sms`` and ``ads`` stay otherwise."""

    #: where a withdrawing or restoring event names its channel: an events column
    #: (``channel``, ``campaign``...) or ``properties.KEY``
    event_channel: str = Field(default="channel", min_length=1)
    channels: dict[str, ChannelConsent] = Field(default_factory=_default_consent_channels)

    @field_validator("channels", mode="before")
    @classmethod
    def _with_defaults(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {**_default_consent_channels(), **value}


class PrivacySettings(_Model):
    """Small groups (docs/governance.md): any count or share of fewer customers than
    ``min_group_size`` that an audit or quality report would show is suppressed, so no
    reported cell singles out a handful of people (k-anonymity)."""

    min_group_size: int = Field(default=10, ge=1)


class AuditSettings(_Model):
    """The bias and coverage audit, ``microseg audit`` (docs/governance.md)."""

    #: a segment's selection-rate ratio across a sensitive attribute's groups below this is
    #: flagged (the four-fifths rule: a convention from US employment law, not a proof)
    min_selection_ratio: float = Field(default=0.8, gt=0.0, le=1.0)
    #: membership associated with a sensitive attribute at least this strongly (Cramér's V)
    #: and significantly (permutation p-value below ``alpha``) is flagged as a proxy
    max_association: float = Field(default=0.2, gt=0.0, le=1.0)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    #: permutations of the permutation test (bounded, seeded: the same audit, the same p)
    permutations: int = Field(default=200, ge=10, le=10000)
    seed: int = 0


class WorkspaceConfig(_Model):
    """The whole of ``microseg.yaml``."""

    version: Literal[1] = 1
    name: str = "my-shop"
    timezone: str = "UTC"
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    families: dict[
        Literal["geographic", "demographic", "psychographic", "behavioral"], list[str]
    ] = Field(default_factory=dict)
    sensitive: list[str] = Field(default_factory=list)
    attributes: dict[str, AttributeSpec] = Field(default_factory=dict)
    sources: dict[str, SourceSpec] = Field(default_factory=dict)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    traits: TraitSettings = Field(default_factory=TraitSettings)
    value: ValueSettings = Field(default_factory=ValueSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    #: holiday windows by name, for ``microseg insights affinity`` (docs/insights.md)
    calendar: dict[str, CalendarWindow] = Field(default_factory=_default_calendar)
    #: per-channel consent and reachability of exports (docs/activation.md)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    #: where ``microseg activate push`` posts audiences: HTTP endpoints (docs/activation.md)
    destinations: dict[str, DestinationSpec] = Field(default_factory=dict)
    #: small-group suppression of what audits and quality reports show (docs/governance.md)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    #: the bias and coverage audit, ``microseg audit`` (docs/governance.md)
    audit: AuditSettings = Field(default_factory=AuditSettings)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        _check_zone(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_purchase_type(cls, data: Any) -> Any:
        """The purchase and return types of the traits and of the value models are one:
        the one given names both (``traits.event_types`` or ``value.*_event``)."""
        if not isinstance(data, dict):
            return data
        traits, value = data.get("traits") or {}, data.get("value") or {}
        named = traits.get("event_types") or {} if isinstance(traits, dict) else None
        if not isinstance(value, dict) or not isinstance(named, dict):
            return data  # the models say what is wrong with these
        value, named = dict(value), dict(named)
        for role, setting in (("purchase", "purchase_event"), ("return", "return_event")):
            if role in named and setting in value and named[role] != value[setting]:
                raise ValueError(
                    f"traits.event_types.{role} is {named[role]!r} but value.{setting} is "
                    f"{value[setting]!r}: give the {role} event type once"
                )
            if role in named:
                value[setting] = named[role]
            elif setting in value:
                named[role] = value[setting]
        result = dict(data)
        if value:
            result["value"] = value
        if named:
            result["traits"] = {**traits, "event_types": named}
        return result

    @model_validator(mode="after")
    def _one_family_per_attribute(self) -> WorkspaceConfig:
        seen: dict[str, str] = {}
        for family, names in self.families.items():
            for name in names:
                if name in seen and seen[name] != family:
                    raise ValueError(
                        f"attribute {name!r} is listed under both {seen[name]} and {family}; "
                        "keep it in one family"
                    )
                seen[name] = family
        return self

    def family_of(self, attribute: str) -> str | None:
        """The family an attribute is declared in, or None when unclassified."""
        for family, names in self.families.items():
            if attribute in names:
                return family
        return None


def render_default_config(name: str, *, timezone: str = "UTC", currency: str = "EUR") -> str:
    """The commented ``microseg.yaml`` written by ``microseg init``."""
    return f"""\
# microseg workspace configuration. Reference: docs/getting-started.md
version: 1
name: {name}
timezone: {timezone}      # naive timestamps in source files are read in this zone
currency: {currency}

# The four families of segmentation. Attributes not listed are allowed and
# reported as "unclassified" by `microseg status`.
families:
  geographic: [country, region, city, urban_rural, climate]
  demographic: [birth_date, gender, income_band, education, marital_status,
                household_size, occupation, religion]
  psychographic: [interests, lifestyle, values]
  behavioral: [preferred_channel, signup_date]

# Sensitive attributes: excluded from discovery unless named with --allow-sensitive.
sensitive: [religion, ethnicity]

# Declared attribute types (others are inferred from the first file that has them).
attributes:
  interests: {{type: list, separator: "|"}}
  lifestyle: {{type: list, separator: "|"}}
  values: {{type: list, separator: "|"}}

# Named sources: `microseg ingest events orders.csv --source shop` applies the map.
sources: {{}}
#  shop:
#    kind: events
#    map: {{OrderDate: timestamp, Client: customer_id, Total: amount}}

ingest:
  future_tolerance: 1 day   # events further in the future than this are rejected
  earliest: 1900-01-01      # times before this are implausible and rejected
  max_rejected: 10%         # a load rejecting more rows (or a count) writes only its rejects
  # delimiter, encoding, decimal, thousands, date_format, timestamp_format, timezone,
  # true_values, false_values: how files are written (docs/data-model.md, "Locale-aware
  # sources"); a named source may set them too, with list_separators and constants

history:                   # customer attribute history (docs/data-model.md)
  first_version: backfill   # undated first attributes hold from the beginning; or from_load

lifecycle:                  # thresholds (days) of the lifecycle_stage trait
  new_days: 30
  active_days: 90
  at_risk_days: 180
  reactivation_gap_days: 365

value:                      # customer value models (microseg clv; docs/value.md)
  model: bgnbd              # or pareto-nbd
  unit: week                # time unit of frequency, recency and T: day or week
  net_returns: true         # repeat spend scaled by 1 - the customer's returned share
  horizon_months: 12        # clv horizon
  monthly_discount_rate: 0.01
  churn_thresholds: [0.3, 0.7]   # P(alive) below 0.3: high churn risk; below 0.7: medium

identity:                   # identity stitching (docs/data-model.md)
  max_customers_per_identifier: 20   # an e-mail/phone/device id shared by more links no one
  # default_country: FR       # phones in national form (06 12 34 56 78) are read in this
  #                           # country (ISO 3166 alpha-2); unset: only +33... forms match
  # placeholders:             # values that identify no one (regular expressions, whole match);
  #   email: ['(no-?reply|test)@.*']   # a type's list replaces its built-in list

store:
  path: microseg.duckdb
  memory_limit: 1GB         # the database's working memory; about 8GB for 10 million customers

# Consent per channel (docs/activation.md): exports to a channel keep only customers who
# consented to it and have one of its identities. The latest of the opt-in attribute's
# value (its history: the value as of the export) and a withdrawing/restoring event before
# the export wins; a customer neither speaks for has `default` (false: not consented).
consent:
  event_channel: channel    # where unsubscribe/resubscribe events name the channel (an
                            # events column, or properties.KEY); no channel: every channel
  channels:
    email: {{attribute: email_opt_in, identities: [email], default: false,
             withdrawn_by: [unsubscribe], restored_by: [resubscribe]}}
    sms: {{attribute: sms_opt_in, identities: [phone], default: false,
           withdrawn_by: [unsubscribe], restored_by: [resubscribe]}}
    ads: {{attribute: ads_opt_in, identities: [email, phone], default: false,
           withdrawn_by: [unsubscribe], restored_by: [resubscribe]}}
# Webhook destinations: `microseg activate push SEGMENT --to NAME` posts the audience, then
# who entered and left, in batches signed with HMAC-SHA256 (docs/activation.md). The secret
# is read from the environment variable secret_env names, never from this file: a secret
# written here is refused.
destinations: {{}}
#  crm:
#    url: https://crm.example.com/hooks/microseg
#    secret_env: MICROSEG_CRM_SECRET
#    batch_size: 500          # records per post
#    timeout: 10              # seconds a post may take
#    max_attempts: 5          # then the batch is dead: microseg activate status, resend
#    backoff: 1               # seconds: retries wait up to 1, 2, 4... (full jitter)
#    max_backoff: 60          # seconds: the longest backoff
#    max_wait: 60             # seconds: a longer Retry-After waits for the next deliver
#    follow: []               # segments microseg serve posts the changes of, as they happen
#    channel: null            # ... to who consented to this channel, e.g. email
#    follow_seconds: 2        # ... gathered for this long
privacy:                    # what audits and quality reports show (docs/governance.md)
  min_group_size: 10        # counts of fewer customers are suppressed (shown as <10)

audit:                      # microseg audit: bias and coverage (docs/governance.md)
  min_selection_ratio: 0.8  # selection-rate ratio across a sensitive attribute's groups
                            # below this is flagged (four-fifths rule: a convention, not a proof)
  max_association: 0.2      # membership vs a sensitive attribute, Cramer's V at least this
  alpha: 0.05               # ... and permutation p-value below this: flagged as a proxy
  permutations: 200         # permutation test size (seeded: the same audit, the same p)
  seed: 0
retention:                  # applied by `microseg retention apply` only (docs/governance.md)
  events: 3 years           # events older than this (counted back from now) are removed
  rejects: 1 year           # rejected rows are kept this long; null keeps them forever
  action: delete            # delete, or archive: write them to Parquet in `archive` first
  archive: archive          # the archive folder, relative to the workspace
"""


def _did_you_mean(model: type[BaseModel], loc: tuple[str | int, ...], key: str) -> str:
    target: Any = model
    for part in loc[:-1]:
        fields = getattr(target, "model_fields", None)
        if fields is None or not isinstance(part, str) or part not in fields:
            return ""
        annotation = fields[part].annotation
        target = annotation if isinstance(annotation, type) else None
    fields = getattr(target, "model_fields", None)
    if not fields:
        return ""
    close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(fields)}"


def _describe(error: Any, model: type[BaseModel]) -> str:
    loc = tuple(p for p in error["loc"])
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        return f"unknown field {key!r}{_did_you_mean(model, loc, key)}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def load_config(path: str | Path) -> WorkspaceConfig:
    """Read and validate ``microseg.yaml``; raise :class:`ConfigError` naming the line."""
    path = Path(path)
    try:
        text = read_text(path)
        data = load_yaml(text, file=str(path)) or {}
    except FileNotFoundError:
        raise ConfigError(
            "configuration file not found", where=str(path), hint="run `microseg init DIR` first"
        ) from None
    except YamlError as exc:
        raise ConfigError(exc.message, where=exc.where, hint=exc.hint) from None
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of settings at the top level", where=f"{path}:1")
    try:
        return WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        lines = line_index(text)
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), 1)
            field = ".".join(str(p) for p in loc) or "(top level)"
            problems.append(f"{path}:{line}: {field}: {_describe(error, WorkspaceConfig)}")
        first, *rest = problems
        raise ConfigError(
            "\n".join([first.split(": ", 1)[1], *rest]) if rest else first.split(": ", 1)[1],
            where=first.split(": ", 1)[0],
        ) from None


# -- destinations (webhooks) ------------------------------------------------------------------

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: keys that would hold a secret in the file itself: refused, secrets come from the environment
_SECRET_KEYS = frozenset(
    {"secret", "signing_secret", "hmac_secret", "key", "api_key", "token", "password"}
)


class DestinationSpec(_Model):
    """An HTTP endpoint audiences are posted to (``destinations:``, docs/activation.md).

    The signing secret is never in the file: ``secret_env`` names the environment variable
    that holds it. Times are in seconds.
    """

    url: str
    secret_env: str
    batch_size: int = Field(default=500, ge=1, le=10_000)
    timeout: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=5, ge=1, le=20)
    #: first retry waits up to this (full jitter), doubling per attempt up to ``max_backoff``
    backoff: float = Field(default=1.0, ge=0, le=600)
    max_backoff: float = Field(default=60.0, ge=0, le=3600)
    #: a longer wait (a 429's Retry-After) leaves the batch for the next ``deliver``
    max_wait: float = Field(default=60.0, ge=0, le=3600)
    #: segments whose entries and exits ``microseg serve`` posts here as they happen
    #: (gathered for ``follow_seconds``), to the customers who consented to ``channel``
    follow: list[str] = Field(default_factory=list)
    channel: str | None = None
    follow_seconds: float = Field(default=2.0, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _no_secret_in_file(cls, data: Any) -> Any:
        if isinstance(data, dict):
            held = sorted(str(k) for k in data if str(k).lower() in _SECRET_KEYS)
            if held:
                raise ValueError(
                    f"{held[0]!r} would hold a secret in microseg.yaml, which is refused: put "
                    "the secret in an environment variable and name it with secret_env "
                    "(e.g. secret_env: MICROSEG_CRM_SECRET)"
                )
        return data

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {value!r} is not an http:// or https:// address")
        if parts.username or parts.password:
            raise ValueError(
                "url holds credentials (user:password@), which is refused: microseg signs "
                "each post with the secret named by secret_env instead"
            )
        return value

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(
                "secret_env names an environment variable (e.g. MICROSEG_CRM_SECRET), never "
                "the secret itself; a name has letters, digits and _ only"
            )
        return value


WorkspaceConfig.model_rebuild()
