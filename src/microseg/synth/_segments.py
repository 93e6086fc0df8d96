"""The planted micro-segments: names, shares and plain-words descriptions."""

from __future__ import annotations

from microseg.core.results import Result

BACKGROUND_SEGMENT = "background"

# Expected share of customers of each segment; the background takes the rest.
SEGMENT_SHARES: dict[str, float] = {
    BACKGROUND_SEGMENT: 0.34,
    "seasonal-sporty-travelers": 0.09,
    "anime-sneaker-fans": 0.09,
    "single-tech-buyers": 0.10,
    "family-essentials": 0.10,
    "holiday-occasion-buyers": 0.10,
    "deal-seekers": 0.10,
    "lapsing-vips": 0.08,
}


class PlantedSegment(Result):
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


def _planted(
    name: str, title: str, description: str, share: float, traits: tuple[str, ...]
) -> PlantedSegment:
    return PlantedSegment(
        name=name, title=title, description=description, share=share, traits=traits
    )


PLANTED_SEGMENTS: tuple[PlantedSegment, ...] = (
    _planted(
        "seasonal-sporty-travelers",
        "Seasonal sporty travellers",
        "Women aged 25-35 who love travel and sport and buy in spring and summer.",
        SEGMENT_SHARES["seasonal-sporty-travelers"],
        (
            "women 25-35",
            "interests travel and sports",
            "traveler and sporty lifestyle",
            "sports and travel purchases",
            "spring/summer purchase peaks",
        ),
    ),
    _planted(
        "anime-sneaker-fans",
        "Anime sneaker fans",
        "Young anime and gaming fans who buy anime goods and character-themed sneakers.",
        SEGMENT_SHARES["anime-sneaker-fans"],
        (
            "aged 18-30",
            "anime_fan lifestyle",
            "interests anime and gaming",
            "anime purchases",
            "searches for character sneakers",
            "never open e-mails",
        ),
    ),
    _planted(
        "single-tech-buyers",
        "Single tech buyers",
        "Single technophiles who buy electronics and gadgets online, often.",
        SEGMENT_SHARES["single-tech-buyers"],
        (
            "single",
            "technophile lifestyle",
            "interest technology",
            "electronics purchases",
            "web and app only",
            "frequent, medium spend",
        ),
    ),
    _planted(
        "family-essentials",
        "Family essentials",
        "Married households of three or more who often buy groceries, home goods and toys.",
        SEGMENT_SHARES["family-essentials"],
        (
            "married",
            "household of 3+",
            "family_oriented lifestyle",
            "grocery, home and toys purchases",
            "high frequency, low basket",
        ),
    ),
    _planted(
        "holiday-occasion-buyers",
        "Holiday occasion buyers",
        "Buy only around Christmas, Black Friday, Valentine's Day and Halloween.",
        SEGMENT_SHARES["holiday-occasion-buyers"],
        (
            "purchases only in occasion windows",
            "seasonal category purchases",
            "inactive between occasions",
        ),
    ),
    _planted(
        "deal-seekers",
        "Deal seekers",
        "Bargain hunters who buy on discount, click promotional e-mails and return a lot.",
        SEGMENT_SHARES["deal-seekers"],
        (
            "bargain_hunter lifestyle",
            "value price",
            "high discount on almost every purchase",
            "click promotional e-mails",
            "high return rate",
        ),
    ),
    _planted(
        "lapsing-vips",
        "Lapsing VIPs",
        "High spenders buying luxury and fashion early in the history who then dropped out.",
        SEGMENT_SHARES["lapsing-vips"],
        (
            "high spend and frequency early on",
            "dropped out in the first half",
            "luxury and fashion purchases",
            "luxury lifestyle",
            "stopped opening e-mails",
        ),
    ),
)
SEGMENT_NAMES: tuple[str, ...] = (BACKGROUND_SEGMENT, *(s.name for s in PLANTED_SEGMENTS))
