"""Generative parameters of each segment (background included), as arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _vocab as v
from ._calendar import PROFILES
from ._segments import BACKGROUND_SEGMENT, SEGMENT_NAMES, SEGMENT_SHARES

Arr = npt.NDArray[Any]


@dataclass(frozen=True)
class Behaviour:
    """Generative parameters of one segment (background included)."""

    name: str
    age: tuple[int, int]
    gender: tuple[float, float, float]
    income: tuple[float, ...]
    education: tuple[float, ...]
    marital: tuple[float, float, float, float]
    channel: tuple[float, float, float]
    lam: tuple[float, float]  # Gamma(shape r, rate alpha) purchases per week
    drop: tuple[float, float]  # Beta(a, b) dropout probability after each purchase
    pools: dict[str, float]
    interests: dict[str, float] = field(default_factory=dict)
    lifestyle: dict[str, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    tag_base: tuple[float, float, float] = (0.08, 0.03, 0.2)
    occupation: dict[str, float] = field(default_factory=dict)
    profile: str = "retail"
    occasion_only: bool = False
    never_buy: float = 0.0
    spend: float = 1.0
    discount: tuple[float, float, float] = (0.12, 0.05, 0.3)
    return_rate: float = 0.06
    views_per_purchase: float = 0.5
    searches_per_purchase: float = 0.15
    view_rate: float = 0.018
    search_rate: float = 0.01
    abandon_rate: float = 0.005
    query_pool: tuple[str, float] = ("deals", 0.0)
    email: tuple[float, float, float] = (0.6, 0.25, 0.15)  # opt-in, open, click given open
    click_buy: float = 0.08  # probability that an e-mail click leads to a purchase
    pre_window: float = 0.2


_PLANTED = (
    Behaviour(
        name="seasonal-sporty-travelers",
        age=(25, 35),
        gender=(1.0, 0.0, 0.0),
        income=(0.05, 0.2, 0.4, 0.25, 0.1),
        education=(0.1, 0.1, 0.45, 0.3, 0.05),
        marital=(0.6, 0.35, 0.05, 0.0),
        channel=(0.55, 0.35, 0.10),
        lam=(4.0, 95.0),
        drop=(1.0, 12.0),
        pools={"sports": 0.5, "travel": 0.45, "fashion": 0.05},
        interests={"travel": 1.0, "sports": 1.0, "outdoors": 0.4},
        lifestyle={"traveler": 0.97, "sporty": 0.97},
        values={"quality": 0.5},
        profile="summer",
        spend=1.05,
        return_rate=0.08,
        query_pool=("travel_summer", 0.5),
        email=(0.65, 0.35, 0.2),
    ),
    Behaviour(
        name="anime-sneaker-fans",
        age=(18, 30),
        gender=(0.35, 0.6, 0.05),
        income=(0.35, 0.35, 0.2, 0.08, 0.02),
        education=(0.5, 0.2, 0.25, 0.05, 0.0),
        marital=(0.9, 0.1, 0.0, 0.0),
        channel=(0.45, 0.5, 0.05),
        lam=(4.0, 80.0),
        drop=(1.5, 12.0),
        pools={"anime": 0.55, "character_sneakers": 0.4, "books": 0.05},
        interests={"anime": 1.0, "gaming": 0.97, "music": 0.3},
        lifestyle={"anime_fan": 0.98, "technophile": 0.1},
        values={"novelty": 0.7},
        occupation={"student": 4.0, "artist": 1.5},
        spend=0.9,
        return_rate=0.05,
        searches_per_purchase=0.4,
        search_rate=0.015,
        query_pool=("character_sneakers", 0.7),
        email=(0.5, 0.0, 0.0),
    ),
    Behaviour(
        name="single-tech-buyers",
        age=(22, 45),
        gender=(0.33, 0.65, 0.02),
        income=(0.05, 0.15, 0.35, 0.3, 0.15),
        education=(0.05, 0.15, 0.4, 0.3, 0.1),
        marital=(1.0, 0.0, 0.0, 0.0),
        channel=(0.6, 0.4, 0.0),
        lam=(4.0, 56.0),
        drop=(1.0, 18.0),
        pools={"electronics": 0.9, "books": 0.05, "home": 0.05},
        interests={"technology": 1.0, "gaming": 0.4, "music": 0.3},
        lifestyle={"technophile": 0.98},
        values={"novelty": 0.6, "quality": 0.5},
        occupation={"engineer": 4.0, "technician": 2.0},
        spend=1.1,
        return_rate=0.07,
        query_pool=("tech_buyer", 0.5),
        email=(0.6, 0.3, 0.25),
    ),
    Behaviour(
        name="family-essentials",
        age=(28, 50),
        gender=(0.55, 0.44, 0.01),
        income=(0.1, 0.3, 0.4, 0.15, 0.05),
        education=(0.25, 0.3, 0.3, 0.12, 0.03),
        marital=(0.0, 1.0, 0.0, 0.0),
        channel=(0.3, 0.2, 0.5),
        lam=(6.0, 62.0),
        drop=(1.0, 25.0),
        pools={"grocery": 0.55, "home": 0.25, "toys": 0.2},
        interests={"home": 0.97, "cooking": 0.8},
        lifestyle={"family_oriented": 0.98, "homebody": 0.4},
        values={"convenience": 0.8, "price": 0.5},
        spend=0.85,
        return_rate=0.03,
        views_per_purchase=0.5,
        query_pool=("family", 0.5),
        email=(0.7, 0.45, 0.15),
    ),
    Behaviour(
        name="holiday-occasion-buyers",
        age=(30, 70),
        gender=(0.55, 0.43, 0.02),
        income=(0.15, 0.25, 0.35, 0.15, 0.1),
        education=(0.3, 0.25, 0.3, 0.12, 0.03),
        marital=(0.3, 0.5, 0.15, 0.05),
        channel=(0.5, 0.2, 0.3),
        lam=(1.0, 1.0),
        drop=(1.0, 1.0),
        pools={"seasonal": 0.7, "toys": 0.12, "beauty": 0.09, "fashion": 0.09},
        interests={"home": 0.3, "cooking": 0.3},
        values={"tradition": 0.8},
        occasion_only=True,
        return_rate=0.08,
        views_per_purchase=1.0,
        searches_per_purchase=0.4,
        view_rate=0.0,
        search_rate=0.0,
        abandon_rate=0.0,
        query_pool=("holiday", 0.8),
        email=(0.6, 0.12, 0.3),
        click_buy=0.0,
    ),
    Behaviour(
        name="deal-seekers",
        age=(20, 65),
        gender=(0.55, 0.43, 0.02),
        income=(0.4, 0.35, 0.2, 0.05, 0.0),
        education=(0.35, 0.3, 0.25, 0.08, 0.02),
        marital=(0.4, 0.4, 0.15, 0.05),
        channel=(0.5, 0.45, 0.05),
        lam=(4.0, 80.0),
        drop=(1.0, 12.0),
        pools={"fashion": 0.3, "beauty": 0.2, "home": 0.2, "electronics": 0.15, "toys": 0.15},
        interests={"fashion": 0.5, "beauty": 0.4},
        lifestyle={"bargain_hunter": 0.98},
        values={"price": 0.97},
        spend=0.9,
        discount=(0.93, 0.25, 0.7),
        return_rate=0.28,
        abandon_rate=0.03,
        query_pool=("deals", 0.6),
        email=(0.9, 0.6, 0.6),
        click_buy=0.5,
    ),
    Behaviour(
        name="lapsing-vips",
        age=(35, 65),
        gender=(0.6, 0.39, 0.01),
        income=(0.0, 0.0, 0.1, 0.35, 0.55),
        education=(0.05, 0.05, 0.35, 0.4, 0.15),
        marital=(0.3, 0.55, 0.12, 0.03),
        channel=(0.4, 0.3, 0.3),
        lam=(8.0, 25.0),
        drop=(6.0, 40.0),
        pools={"luxury": 0.6, "fashion": 0.25, "beauty": 0.15},
        interests={"fashion": 0.97, "beauty": 0.6, "travel": 0.4},
        lifestyle={"luxury": 0.97, "fashionista": 0.9},
        values={"quality": 0.95},
        occupation={"manager": 4.0, "self_employed": 2.0},
        spend=1.3,
        discount=(0.03, 0.05, 0.15),
        return_rate=0.15,
        query_pool=("luxury", 0.5),
        email=(0.85, 0.65, 0.3),
    ),
)

BACKGROUND = Behaviour(
    name=BACKGROUND_SEGMENT,
    age=(18, 85),
    gender=(0.5, 0.48, 0.02),
    income=(0.2, 0.25, 0.3, 0.15, 0.1),
    education=(0.3, 0.2, 0.3, 0.15, 0.05),
    marital=(0.4, 0.4, 0.12, 0.08),
    channel=(0.45, 0.25, 0.30),
    lam=(1.5, 66.0),
    drop=(1.5, 6.0),
    pools={
        "sports": 0.08,
        "travel": 0.05,
        "anime": 0.02,
        "electronics": 0.12,
        "fashion": 0.15,
        "grocery": 0.15,
        "home": 0.12,
        "toys": 0.06,
        "beauty": 0.1,
        "books": 0.1,
        "seasonal": 0.05,
    },
    lifestyle={"homebody": 0.25, "eco_conscious": 0.25},
    tag_base=(0.2, 0.03, 0.3),
    never_buy=0.12,
    view_rate=0.035,
    search_rate=0.015,
    query_pool=("deals", 0.05),
)

BEHAVIOURS: tuple[Behaviour, ...] = (BACKGROUND, *_PLANTED)
if tuple(b.name for b in BEHAVIOURS) != SEGMENT_NAMES:  # pragma: no cover
    raise RuntimeError("behaviours and planted segments are out of step")
LAPSING_VIPS = SEGMENT_NAMES.index("lapsing-vips")
FAMILY_ESSENTIALS = SEGMENT_NAMES.index("family-essentials")


def _weights(mapping: dict[str, float], names: tuple[str, ...], base: float) -> list[float]:
    unknown = set(mapping) - set(names)
    if unknown:
        raise KeyError(f"unknown names {sorted(unknown)}")
    return [mapping.get(name, base) for name in names]


def _norm(rows: Sequence[Sequence[float]]) -> Arr:
    arr = np.asarray(rows, dtype=np.float64)
    return np.asarray(arr / arr.sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class Tables:
    """Behaviour parameters as arrays indexed by segment code."""

    share: Arr
    age: Arr
    gender: Arr
    income: Arr
    education: Arr
    marital: Arr
    occupation: Arr
    channel: Arr
    interests: Arr
    lifestyle: Arr
    values: Arr
    lam: Arr
    drop: Arr
    pools: Arr
    profile: Arr
    occasion_only: Arr
    never_buy: Arr
    spend: Arr
    discount: Arr
    return_rate: Arr
    views_per_purchase: Arr
    searches_per_purchase: Arr
    view_rate: Arr
    search_rate: Arr
    abandon_rate: Arr
    query_pool: Arr
    query_share: Arr
    email: Arr
    click_buy: Arr
    pre_window: Arr


def build_tables() -> Tables:
    """Turn :data:`BEHAVIOURS` into arrays."""
    bs = BEHAVIOURS
    return Tables(
        share=np.asarray([SEGMENT_SHARES[b.name] for b in bs]),
        age=np.asarray([b.age for b in bs], dtype=np.float64),
        gender=_norm([b.gender for b in bs]),
        income=_norm([b.income for b in bs]),
        education=_norm([b.education for b in bs]),
        marital=_norm([b.marital for b in bs]),
        occupation=_norm([_weights(b.occupation, v.OCCUPATIONS, 1.0) for b in bs]),
        channel=_norm([b.channel for b in bs]),
        interests=np.asarray([_weights(b.interests, v.INTERESTS, b.tag_base[0]) for b in bs]),
        lifestyle=np.asarray([_weights(b.lifestyle, v.LIFESTYLES, b.tag_base[1]) for b in bs]),
        values=np.asarray([_weights(b.values, v.VALUES, b.tag_base[2]) for b in bs]),
        lam=np.asarray([b.lam for b in bs]),
        drop=np.asarray([b.drop for b in bs]),
        pools=_norm([_weights(b.pools, v.POOLS, 0.0) for b in bs]),
        profile=np.asarray([PROFILES.index(b.profile) for b in bs], dtype=np.int64),
        occasion_only=np.asarray([b.occasion_only for b in bs]),
        never_buy=np.asarray([b.never_buy for b in bs]),
        spend=np.asarray([b.spend for b in bs]),
        discount=np.asarray([b.discount for b in bs]),
        return_rate=np.asarray([b.return_rate for b in bs]),
        views_per_purchase=np.asarray([b.views_per_purchase for b in bs]),
        searches_per_purchase=np.asarray([b.searches_per_purchase for b in bs]),
        view_rate=np.asarray([b.view_rate for b in bs]),
        search_rate=np.asarray([b.search_rate for b in bs]),
        abandon_rate=np.asarray([b.abandon_rate for b in bs]),
        query_pool=np.asarray([v.QUERY_POOL_NAMES.index(b.query_pool[0]) for b in bs]),
        query_share=np.asarray([b.query_pool[1] for b in bs]),
        email=np.asarray([b.email for b in bs]),
        click_buy=np.asarray([b.click_buy for b in bs]),
        pre_window=np.asarray([b.pre_window for b in bs]),
    )
