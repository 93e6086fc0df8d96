"""Customers of one chunk: segment, initial attributes, and attribute updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from . import _vocab as v
from ._arrow import decimal_ids, draw, draw_rows, int_column, list_column, take_names, take_rows
from ._behaviour import FAMILY_ESSENTIALS, LAPSING_VIPS, Tables
from ._calendar import PRE_WINDOW_DAYS, SECONDS_PER_DAY, Calendar
from ._segments import SEGMENT_NAMES

Arr = npt.NDArray[Any]

MESSY_EMAIL_SHARE = 0.03
MISSING_PHONE_SHARE = 0.12
MOVE_SHARE = 0.025
MARRIAGE_SHARE = 0.2  # of single background customers aged 23+
CHILD_SHARE = 0.3  # of those who marry

_CITY_COUNTRY = np.asarray([c[0] for c in v.CITIES], dtype=np.int64)
_CITY_FIRST = np.searchsorted(_CITY_COUNTRY, np.arange(len(v.COUNTRIES)))
_CITY_COUNT = np.bincount(_CITY_COUNTRY, minlength=len(v.COUNTRIES))
_CLIMATES = tuple(sorted({c[3] for c in v.CITIES}))
_CITY_CLIMATE = np.asarray([_CLIMATES.index(c[3]) for c in v.CITIES], dtype=np.int64)


def _city_cum() -> Arr:
    parts = []
    for k in range(len(v.COUNTRIES)):
        w = np.asarray([c[4] for c in v.CITIES if c[0] == k])
        cum = np.cumsum(w) / w.sum()
        cum[-1] = 1.0
        parts.append(k + cum)
    return np.concatenate(parts)


_CITY_CUM = _city_cum()


@dataclass(frozen=True)
class Population:
    """One chunk of customers: arrays for the event generator and the tables to write."""

    numbers: Arr
    seg: Arr
    signup_t: Arr
    preferred: Arr
    interests: Arr
    married_t: Arr
    ids: pa.Array
    customers: pa.Table
    truth: pa.Table
    updates: pa.Table


def _cities(rng: np.random.Generator, country: Arr) -> Arr:
    u = rng.random(country.shape[0])
    return np.searchsorted(_CITY_CUM, country + u, side="right").astype(np.int64)


#: Mobile prefixes of each country's numbering plan (in ``v.COUNTRIES`` order) and the length
#: of its national significant number: every number drawn is one that exists (the
#: ``phonenumbers`` package finds them valid), as a shop's real customers' numbers are.
_MOBILE: tuple[tuple[tuple[str, ...], int], ...] = (
    (("60", "61", "62", "64", "65", "66", "67", "68", "73", "74", "75", "76", "77"), 9),  # FR
    (("151", "152", "157", "160", "170", "171", "176"), 11),  # DE
    (("74", "75", "78"), 10),  # GB
    (("6",), 9),  # ES
    (("32", "33", "34", "38"), 10),  # IT
    (("2012", "2125", "3125", "4155", "6175"), 10),  # US
)


def _phones(rng: np.random.Generator, country: Arr) -> pa.Array:
    """Half spaced (``+33 6 12 34 56 78``), a third compact (``+33612345678``), the rest in
    national form (``0612345678``) for French customers and compact for the others."""
    n = country.shape[0]
    pick = np.where(country == 0, 6 + (rng.random(n) < 0.3), rng.integers(1, 10, n))
    body = np.asarray(rng.integers(0, 100_000_000, n))
    countries = [int(c) for c in country]
    nsn = []
    for c, p, b in zip(countries, [int(x) for x in pick], [int(x) for x in body], strict=True):
        prefixes, length = _MOBILE[c]
        prefix = prefixes[(p * 7 + b) % len(prefixes)]
        nsn.append(prefix + f"{b:08d}"[: length - len(prefix)])
    code = [v.COUNTRIES[c][2] for c in countries]
    compact = ["+" + cc + d for cc, d in zip(code, nsn, strict=True)]
    spaced = []
    for cc, d in zip(code, nsn, strict=True):
        head = 1 if len(d) % 2 else 2
        pairs = [d[i : i + 2] for i in range(head, len(d), 2)]
        spaced.append(" ".join(["+" + cc, d[:head], *pairs]))
    national = ["0" + d if c == 0 else x for c, d, x in zip(countries, nsn, compact, strict=True)]
    style = draw(rng, [0.5, 0.35, 0.15], n)
    missing = rng.random(n) < MISSING_PHONE_SHARE
    out = pc.if_else(pa.array(style == 1), pa.array(compact), pa.array(national))
    out = pc.if_else(pa.array(style == 0), pa.array(spaced), out)
    return pc.if_else(pa.array(missing), pa.nulls(n, pa.string()), out)


def _emails(rng: np.random.Generator, numbers: Arr) -> pa.Array:
    n = numbers.shape[0]
    clean = decimal_ids("c", numbers, 8, "@example.com")
    messy = rng.random(n) < MESSY_EMAIL_SHARE
    upper = pc.binary_join_element_wise("  ", pc.utf8_upper(clean), " ", "")
    capital = pc.binary_join_element_wise(" ", pc.utf8_capitalize(clean), "")
    styled = pc.if_else(pa.array(rng.random(n) < 0.5), upper, capital)
    return pc.if_else(pa.array(messy), styled, clean)


def _hot(rng: np.random.Generator, probs: Arr, seg: Arr, at_least_one: bool) -> Arr:
    hot = rng.random((seg.shape[0], probs.shape[1])) < probs[seg]
    if at_least_one:
        empty = np.flatnonzero(~hot.any(axis=1))
        hot[empty, rng.integers(0, probs.shape[1], empty.shape[0])] = True
    return hot


def _household(rng: np.random.Generator, marital: Arr, seg: Arr) -> Arr:
    n = marital.shape[0]
    size = np.select(
        [marital == v.SINGLE, marital == v.MARRIED, marital == v.DIVORCED],
        [
            1 + (rng.random(n) < 0.2) * (1 + rng.poisson(0.5, n)),
            2 + rng.poisson(0.8, n),
            1 + rng.poisson(0.6, n),
        ],
        1 + rng.poisson(0.2, n),
    )
    family = seg == FAMILY_ESSENTIALS
    size = np.where(family, 3 + rng.poisson(1.0, n), size)
    return np.asarray(np.minimum(size, 8), dtype=np.int32)


def _update_time(rng: np.random.Generator, signup_t: Arr, n_days: int, lead: float) -> Arr:
    lo = np.maximum(signup_t, 0.0) + lead
    t = lo + rng.random(signup_t.shape[0]) * (n_days - lo)
    return np.asarray(np.where(lo < n_days - 1.0, np.minimum(t, n_days - 1e-3), np.nan))


def make_population(
    rng: np.random.Generator, cal: Calendar, tables: Tables, first_number: int, n: int
) -> Population:
    """Generate ``n`` customers numbered from ``first_number``."""
    numbers = np.arange(first_number, first_number + n, dtype=np.int64)
    seg = draw(rng, tables.share, n)
    n_days = cal.n_days
    pre = rng.random(n) < tables.pre_window[seg]
    inside = cal.seasonal_days(rng, tables.profile[seg])  # acquisition follows the seasons
    day = np.where(pre, -rng.integers(1, PRE_WINDOW_DAYS + 1, n), inside)
    vip = seg == LAPSING_VIPS
    day = np.where(vip, np.minimum(rng.integers(-120, 60, n), n_days - 1), day)
    signup_t = day + rng.uniform(8.0, 22.0, n) / 24.0

    country = draw(rng, [c[1] for c in v.COUNTRIES], n)
    city = _cities(rng, country)
    urban = draw(rng, [0.6, 0.3, 0.1], n)
    family = seg == FAMILY_ESSENTIALS
    urban = np.where(family & (urban == 0) & (rng.random(n) < 0.5), 1, urban)

    lo, hi = tables.age[seg, 0], tables.age[seg, 1]
    background = seg == 0
    shape = np.where(background, 1.6, 1.5), np.where(background, 2.6, 1.5)
    age = lo + rng.beta(shape[0], shape[1]) * (hi - lo + 0.999)
    min_age = 18.0 + np.maximum(n_days - day, 0) / 365.25 + 0.01
    age = np.clip(np.maximum(age, min_age), 18.0, 85.9)
    birth_rel = (n_days - 1) - np.ceil(age * 365.25).astype(np.int64)

    marital = draw_rows(rng, tables.marital, seg)
    marital = np.where((marital == v.WIDOWED) & (age < 35), v.SINGLE, marital)
    occupation = draw_rows(rng, tables.occupation, seg)
    occupation = np.where((occupation == v.RETIRED) & (age < 55), 6, occupation)
    occupation = np.where((age >= 66) & (rng.random(n) < 0.85), v.RETIRED, occupation)
    occupation = np.where((age < 23) & (rng.random(n) < 0.6), v.STUDENT, occupation)
    interests = _hot(rng, tables.interests, seg, True)
    lifestyle = _hot(rng, tables.lifestyle, seg, False)
    values = _hot(rng, tables.values, seg, True)
    household = _household(rng, marital, seg)
    preferred = draw_rows(rng, tables.channel, seg)
    religion = np.where(rng.random(n) < 0.12, draw(rng, [5, 1.5, 0.5, 1, 0.5, 1.5], n), -1)

    ids = decimal_ids("C", numbers, 8)
    customers = pa.table(
        {
            "customer_id": ids,
            "email": _emails(rng, numbers),
            "phone": _phones(rng, country),
            "signup_date": pa.array((cal.start_epoch_day + day).astype(np.int32), type=pa.date32()),
            "country": take_names([c[0] for c in v.COUNTRIES], country),
            "region": take_names([c[1] for c in v.CITIES], city),
            "city": take_names([c[2] for c in v.CITIES], city),
            "urban_rural": take_names(v.URBAN_RURAL, urban),
            "climate": take_names(_CLIMATES, _CITY_CLIMATE[city]),
            "birth_date": pa.array(
                (cal.start_epoch_day + birth_rel).astype(np.int32), type=pa.date32()
            ),
            "gender": take_names(v.GENDERS, draw_rows(rng, tables.gender, seg)),
            "income_band": take_names(v.INCOME_BANDS, draw_rows(rng, tables.income, seg)),
            "education": take_names(v.EDUCATION, draw_rows(rng, tables.education, seg)),
            "marital_status": take_names(v.MARITAL, marital),
            "household_size": pa.array(household, type=pa.int32()),
            "occupation": take_names(v.OCCUPATIONS, occupation),
            "interests": list_column(v.INTERESTS, interests),
            "lifestyle": list_column(v.LIFESTYLES, lifestyle),
            "values": list_column(v.VALUES, values),
            "preferred_channel": take_names(v.CHANNELS, preferred),
            "religion": take_names(v.RELIGIONS, religion),
        }
    )
    truth = pa.table({"customer_id": ids, "segment": take_names(SEGMENT_NAMES, seg)})

    # Attribute updates: marriages (background singles), children, and moves.
    marry_t = _update_time(rng, signup_t, n_days, 30.0)
    marry = (
        background
        & (marital == v.SINGLE)
        & (age >= 23)
        & (rng.random(n) < MARRIAGE_SHARE)
        & ~np.isnan(marry_t)
    )
    child_t = marry_t + rng.uniform(270.0, 540.0, n)
    child = marry & (rng.random(n) < CHILD_SHARE) & (child_t < n_days)
    move_t = _update_time(rng, signup_t, n_days, 7.0)
    move = ~marry & (rng.random(n) < MOVE_SHARE) & ~np.isnan(move_t)
    abroad = rng.random(n) < 0.1
    new_country = np.where(abroad, draw(rng, [c[1] for c in v.COUNTRIES], n), country)
    pos = city - _CITY_FIRST[country]
    shift = 1 + rng.integers(0, np.maximum(_CITY_COUNT[country] - 1, 1))
    same_country_city = _CITY_FIRST[country] + (pos + shift) % _CITY_COUNT[country]
    new_city = np.where(abroad, _cities(rng, new_country), same_country_city)
    new_urban = draw(rng, [0.5, 0.35, 0.15], n)

    who = np.concatenate([np.flatnonzero(marry), np.flatnonzero(child), np.flatnonzero(move)])
    kind = np.repeat([0, 1, 2], [int(marry.sum()), int(child.sum()), int(move.sum())])
    when = np.concatenate([marry_t[marry], child_t[child], move_t[move]])
    order = np.argsort(when, kind="stable")
    who, kind, when = who[order], kind[order], when[order]
    is_move = kind == 2
    geo = np.where(is_move, 0, -1)
    seconds = np.floor(when * SECONDS_PER_DAY).astype(np.int64)
    updates = pa.table(
        {
            "customer_id": take_rows(ids, who),
            "updated_at": pa.array(
                cal.start_us + seconds * 1_000_000, type=pa.timestamp("us", tz="UTC")
            ),
            "marital_status": take_names(v.MARITAL, np.where(kind == 0, v.MARRIED, -1)),
            "household_size": int_column(
                household[who] + np.where(kind == 0, 1, 2), ~is_move, pa.int32()
            ),
            "country": take_names([c[0] for c in v.COUNTRIES], geo + new_country[who] * is_move),
            "region": take_names([c[1] for c in v.CITIES], geo + new_city[who] * is_move),
            "city": take_names([c[2] for c in v.CITIES], geo + new_city[who] * is_move),
            "urban_rural": take_names(v.URBAN_RURAL, geo + new_urban[who] * is_move),
            "climate": take_names(_CLIMATES, geo + _CITY_CLIMATE[new_city[who]] * is_move),
        }
    )
    return Population(
        numbers=numbers,
        seg=seg,
        signup_t=signup_t,
        preferred=preferred,
        interests=interests,
        married_t=np.where(marry, marry_t, np.nan),
        ids=ids,
        customers=customers,
        truth=truth,
        updates=updates,
    )
