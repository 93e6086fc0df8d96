"""The planted micro-segments: their public description and their generative parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _vocab as v
from ._calendar import PROFILES

Arr = npt.NDArray[Any]

BACKGROUND_SEGMENT = "background"


@dataclass(frozen=True)
class PlantedSegment:
    """A micro-segment planted in the synthetic shop.

    Attributes
    ----------
    name : str
        Identifier used in ``ground_truth.parquet``.
    title, description : str
        Human-readable name and one-sentence description.
    share : float
        Expected fraction of customers.
    traits : tuple of str
        What defines the segment, in plain words.
    """

    name: str
    title: str
    description: str
    share: float
    traits: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "share": self.share,
            "traits": list(self.traits),
        }


@dataclass(frozen=True)
class Behaviour:
    """Generative parameters of one segment (background included)."""

    name: str
    share: float
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
    (
        PlantedSegment(
            "seasonal-sporty-travelers",
            "Seasonal sporty travellers",
            "Women aged 25-35 who love travel and sport and buy in spring and summer.",
            0.09,
            ("women 25-35", "interests travel and sports", "traveler and sporty lifestyle",
             "sports and travel purchases", "spring/summer purchase peaks"),
        ),
        Behaviour(
            "seasonal-sporty-travelers", 0.09, (25, 35), (1.0, 0.0, 0.0),
            (0.05, 0.2, 0.4, 0.25, 0.1), (0.1, 0.1, 0.45, 0.3, 0.05),
            (0.6, 0.35, 0.05, 0.0), (0.55, 0.35, 0.10), (4.0, 85.0), (1.0, 12.0),
            {"sports": 0.5, "travel": 0.45, "fashion": 0.05},
            interests={"travel": 1.0, "sports": 1.0, "outdoors": 0.4},
            lifestyle={"traveler": 0.97, "sporty": 0.97}, values={"quality": 0.5},
            profile="summer", spend=1.05, return_rate=0.08,
            query_pool=("travel_summer", 0.5), email=(0.65, 0.35, 0.2),
        ),
    ),
    (
        PlantedSegment(
            "anime-sneaker-fans",
            "Anime sneaker fans",
            "Young anime and gaming fans who buy anime goods and character-themed sneakers.",
            0.09,
            ("aged 18-30", "anime_fan lifestyle", "interests anime and gaming",
             "anime purchases", "searches for character sneakers", "never open e-mails"),
        ),
        Behaviour(
            "anime-sneaker-fans", 0.09, (18, 30), (0.35, 0.6, 0.05),
            (0.35, 0.35, 0.2, 0.08, 0.02), (0.5, 0.2, 0.25, 0.05, 0.0),
            (0.9, 0.1, 0.0, 0.0), (0.45, 0.5, 0.05), (4.0, 72.0), (1.5, 12.0),
            {"anime": 0.55, "character_sneakers": 0.4, "books": 0.05},
            interests={"anime": 1.0, "gaming": 0.97, "music": 0.3},
            lifestyle={"anime_fan": 0.98, "technophile": 0.1}, values={"novelty": 0.7},
            occupation={"student": 4.0, "artist": 1.5},
            spend=0.9, return_rate=0.05, searches_per_purchase=0.6, search_rate=0.015,
            query_pool=("character_sneakers", 0.7), email=(0.5, 0.0, 0.0),
        ),
    ),
    (
        PlantedSegment(
            "single-tech-buyers",
            "Single tech buyers",
            "Single technophiles who buy electronics and gadgets online, often.",
            0.10,
            ("single", "technophile lifestyle", "interest technology",
             "electronics purchases", "web and app only", "frequent, medium spend"),
        ),
        Behaviour(
            "single-tech-buyers", 0.10, (22, 45), (0.33, 0.65, 0.02),
            (0.05, 0.15, 0.35, 0.3, 0.15), (0.05, 0.15, 0.4, 0.3, 0.1),
            (1.0, 0.0, 0.0, 0.0), (0.6, 0.4, 0.0), (4.0, 50.0), (1.0, 18.0),
            {"electronics": 0.9, "books": 0.05, "home": 0.05},
            interests={"technology": 1.0, "gaming": 0.4, "music": 0.3},
            lifestyle={"technophile": 0.98}, values={"novelty": 0.6, "quality": 0.5},
            occupation={"engineer": 4.0, "technician": 2.0},
            spend=1.1, return_rate=0.07, query_pool=("tech_buyer", 0.5),
            email=(0.6, 0.3, 0.25),
        ),
    ),
    (
        PlantedSegment(
            "family-essentials",
            "Family essentials",
            "Married households of three or more who often buy groceries, home goods and toys.",
            0.10,
            ("married", "household of 3+", "family_oriented lifestyle",
             "grocery, home and toys purchases", "high frequency, low basket"),
        ),
        Behaviour(
            "family-essentials", 0.10, (28, 50), (0.55, 0.44, 0.01),
            (0.1, 0.3, 0.4, 0.15, 0.05), (0.25, 0.3, 0.3, 0.12, 0.03),
            (0.0, 1.0, 0.0, 0.0), (0.3, 0.2, 0.5), (6.0, 56.0), (1.0, 25.0),
            {"grocery": 0.55, "home": 0.25, "toys": 0.2},
            interests={"home": 0.97, "cooking": 0.8},
            lifestyle={"family_oriented": 0.98, "homebody": 0.4},
            values={"convenience": 0.8, "price": 0.5},
            spend=0.85, return_rate=0.03, views_per_purchase=0.5,
            query_pool=("family", 0.5), email=(0.7, 0.45, 0.15),
        ),
    ),
    (
        PlantedSegment(
            "holiday-occasion-buyers",
            "Holiday occasion buyers",
            "Buy only around Christmas, Black Friday, Valentine's Day and Halloween.",
            0.10,
            ("purchases only in occasion windows", "seasonal category purchases",
             "inactive between occasions"),
        ),
        Behaviour(
            "holiday-occasion-buyers", 0.10, (30, 70), (0.55, 0.43, 0.02),
            (0.15, 0.25, 0.35, 0.15, 0.1), (0.3, 0.25, 0.3, 0.12, 0.03),
            (0.3, 0.5, 0.15, 0.05), (0.5, 0.2, 0.3), (1.0, 1.0), (1.0, 1.0),
            {"seasonal": 0.7, "toys": 0.12, "beauty": 0.09, "fashion": 0.09},
            interests={"home": 0.3, "cooking": 0.3}, values={"tradition": 0.8},
            occasion_only=True, return_rate=0.08, views_per_purchase=1.0,
            searches_per_purchase=0.4, view_rate=0.0, search_rate=0.0, abandon_rate=0.0,
            query_pool=("holiday", 0.8), email=(0.6, 0.12, 0.3), click_buy=0.0,
        ),
    ),
    (
        PlantedSegment(
            "deal-seekers",
            "Deal seekers",
            "Bargain hunters who buy on discount, click promotional e-mails and return a lot.",
            0.10,
            ("bargain_hunter lifestyle", "value price", "high discount on almost every purchase",
             "click promotional e-mails", "high return rate"),
        ),
        Behaviour(
            "deal-seekers", 0.10, (20, 65), (0.55, 0.43, 0.02),
            (0.4, 0.35, 0.2, 0.05, 0.0), (0.35, 0.3, 0.25, 0.08, 0.02),
            (0.4, 0.4, 0.15, 0.05), (0.5, 0.45, 0.05), (4.0, 72.0), (1.0, 12.0),
            {"fashion": 0.3, "beauty": 0.2, "home": 0.2, "electronics": 0.15, "toys": 0.15},
            interests={"fashion": 0.5, "beauty": 0.4},
            lifestyle={"bargain_hunter": 0.98}, values={"price": 0.97},
            spend=0.9, discount=(0.93, 0.25, 0.7), return_rate=0.28, abandon_rate=0.03,
            query_pool=("deals", 0.6), email=(0.9, 0.6, 0.6), click_buy=0.5,
        ),
    ),
    (
        PlantedSegment(
            "lapsing-vips",
            "Lapsing VIPs",
            "High spenders buying luxury and fashion early in the history who then dropped out.",
            0.08,
            ("high spend and frequency early on", "dropped out in the first half",
             "luxury and fashion purchases", "luxury lifestyle", "stopped opening e-mails"),
        ),
        Behaviour(
            "lapsing-vips", 0.08, (35, 65), (0.6, 0.39, 0.01),
            (0.0, 0.0, 0.1, 0.35, 0.55), (0.05, 0.05, 0.35, 0.4, 0.15),
            (0.3, 0.55, 0.12, 0.03), (0.4, 0.3, 0.3), (8.0, 25.0), (6.0, 40.0),
            {"luxury": 0.6, "fashion": 0.25, "beauty": 0.15},
            interests={"fashion": 0.97, "beauty": 0.6, "travel": 0.4},
            lifestyle={"luxury": 0.97, "fashionista": 0.9}, values={"quality": 0.95},
            occupation={"manager": 4.0, "self_employed": 2.0},
            spend=1.3, discount=(0.03, 0.05, 0.15), return_rate=0.15,
            query_pool=("luxury", 0.5), email=(0.85, 0.65, 0.3),
        ),
    ),
)

BACKGROUND = Behaviour(
    BACKGROUND_SEGMENT, 0.34, (18, 85), (0.5, 0.48, 0.02),
    (0.2, 0.25, 0.3, 0.15, 0.1), (0.3, 0.2, 0.3, 0.15, 0.05),
    (0.4, 0.4, 0.12, 0.08), (0.45, 0.25, 0.30), (1.5, 60.0), (1.5, 6.0),
    {"sports": 0.08, "travel": 0.05, "anime": 0.02, "electronics": 0.12, "fashion": 0.15,
     "grocery": 0.15, "home": 0.12, "toys": 0.06, "beauty": 0.1, "books": 0.1,
     "seasonal": 0.05},
    tag_base=(0.2, 0.06, 0.3), never_buy=0.12, view_rate=0.035, search_rate=0.015,
    query_pool=("deals", 0.05),
)

PLANTED_SEGMENTS: tuple[PlantedSegment, ...] = tuple(seg for seg, _ in _PLANTED)
BEHAVIOURS: tuple[Behaviour, ...] = (BACKGROUND, *(beh for _, beh in _PLANTED))
SEGMENT_NAMES: tuple[str, ...] = tuple(b.name for b in BEHAVIOURS)
SEGMENT_SHARES: dict[str, float] = {b.name: b.share for b in BEHAVIOURS}
LAPSING_VIPS = SEGMENT_NAMES.index("lapsing-vips")
ANIME_FANS = SEGMENT_NAMES.index("anime-sneaker-fans")


def _weights(mapping: dict[str, float], names: tuple[str, ...], base: float) -> list[float]:
    unknown = set(mapping) - set(names)
    if unknown:
        raise KeyError(f"unknown names {sorted(unknown)}")
    return [mapping.get(name, base) for name in names]


def _norm(rows: list[list[float]] | list[tuple[float, ...]]) -> Arr:
    arr = np.asarray(rows, dtype=np.float64)
    return arr / arr.sum(axis=1, keepdims=True)


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
        share=np.asarray([b.share for b in bs]),
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
