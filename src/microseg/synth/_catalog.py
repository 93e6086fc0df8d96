"""The product catalogue (independent of the number of customers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _vocab as v
from ._arrow import decimal_ids, draw

Arr = npt.NDArray[Any]

# category: (products, brands, median price, log-sd, ((kind tags, share), ...), base tags)
_SPEC: dict[str, tuple[int, tuple[str, ...], float, float, tuple[Any, ...], tuple[str, ...]]] = {
    "sports": (
        150,
        ("Stridex", "PeakForm", "Kinetic", "TrailCraft"),
        55.0,
        0.6,
        ((("sneakers", "running"), 0.3), (("gear",), 0.4), (("apparel",), 0.3)),
        (),
    ),
    "travel": (
        90,
        ("Nomad & Co", "Jetway", "Atlas Gear"),
        90.0,
        0.8,
        ((("luggage",), 0.4), (("accessories",), 0.4), (("trip",), 0.2)),
        (),
    ),
    "anime": (
        130,
        ("Shonen Works", "Kawaii Lab", "OtakuWear", "Mangaka Press"),
        35.0,
        0.6,
        (
            (("figure", "character"), 0.35),
            (("apparel", "character"), 0.2),
            (("manga",), 0.15),
            (("character", "sneakers"), 0.3),
        ),
        (),
    ),
    "electronics": (
        160,
        ("Voltix", "Ampere Labs", "Pixelon", "Circuitry"),
        60.0,
        1.0,
        (
            (("gadget", "usb-c"), 0.35),
            (("audio",), 0.2),
            (("computing",), 0.25),
            (("gaming",), 0.2),
        ),
        (),
    ),
    "fashion": (
        200,
        ("Urban Thread", "Velour", "Maison Lune", "Atelier Noir"),
        45.0,
        0.7,
        ((("clothing",), 0.5), (("shoes", "sneakers"), 0.2), (("accessories",), 0.3)),
        (),
    ),
    "grocery": (
        150,
        ("Daily Basket", "FarmFresh", "Pantry Pal"),
        4.5,
        0.5,
        ((("food",), 0.6), (("household",), 0.25), (("baby",), 0.15)),
        ("essentials",),
    ),
    "home": (
        120,
        ("Hearth & Co", "Nestwell", "Casa Nova"),
        30.0,
        0.8,
        ((("kitchen",), 0.35), (("decor",), 0.35), (("essentials", "cleaning"), 0.3)),
        (),
    ),
    "toys": (
        90,
        ("PlayNest", "Tiny Titans", "BrickBox"),
        25.0,
        0.6,
        ((("kids",), 0.6), (("board-game",), 0.2), (("character",), 0.2)),
        (),
    ),
    "beauty": (
        100,
        ("Glow Theory", "Petal & Pine", "Lumiere"),
        20.0,
        0.6,
        ((("skincare",), 0.4), (("makeup",), 0.35), (("fragrance",), 0.25)),
        (),
    ),
    "books": (
        100,
        ("Inkwell Press", "Paperleaf", "Northstar Books"),
        14.0,
        0.35,
        (
            (("fiction",), 0.5),
            (("cookbook",), 0.15),
            (("children",), 0.2),
            (("travel-guide",), 0.15),
        ),
        (),
    ),
    "seasonal": (
        90,
        ("Festivo", "Merrymakers", "Spooky & Co"),
        18.0,
        0.6,
        ((("christmas",), 0.45), (("halloween",), 0.3), (("valentine",), 0.25)),
        (),
    ),
}
_LUXURY_CATEGORIES = ("fashion", "beauty", "travel")
PREMIUM_SHARE = 0.12


@dataclass(frozen=True)
class Catalog:
    """Products as arrays plus the machinery to draw products from purchase pools."""

    table: pa.Table
    category: Arr
    price: Arr
    pool_products: Arr
    pool_cum: Arr

    def draw(self, rng: np.random.Generator, pools: Arr) -> Arr:
        """Draw one product index per entry of ``pools`` (codes into :data:`POOLS`)."""
        u = rng.random(pools.shape[0])
        pos = np.searchsorted(self.pool_cum, pools + u, side="right")
        return np.asarray(self.pool_products[np.minimum(pos, self.pool_products.shape[0] - 1)])


def build_catalog(rng: np.random.Generator) -> Catalog:
    """Generate the products; depends only on ``rng``."""
    cats: list[int] = []
    prices: list[float] = []
    brands: list[str] = []
    tags: list[list[str]] = []
    popularity: list[float] = []
    for c, (name, (count, brand_names, median, sd, kinds, base)) in enumerate(_SPEC.items()):
        kind = draw(rng, [share for _, share in kinds], count)
        price = median * np.exp(sd * rng.standard_normal(count))
        sneakers = np.asarray(["sneakers" in kinds[k][0] for k in kind])
        price = np.where(sneakers & (name == "anime"), price * 3.0, price)
        premium = price >= np.quantile(price, 1.0 - PREMIUM_SHARE)
        price = np.where(premium, price * 2.5, price)
        price = np.where(price > 5.0, np.round(price) - 0.01, np.round(price, 2))
        price = np.maximum(price, 0.49)
        brand = rng.integers(0, len(brand_names), count)
        eco = rng.random(count) < 0.1
        weight = 1.0 / (rng.permutation(count) + 5.0) ** 0.8
        for i in range(count):
            t = [*base, *kinds[kind[i]][0]]
            if premium[i]:
                t.append("premium")
            if eco[i]:
                t.append("eco")
            cats.append(c)
            prices.append(float(price[i]))
            brands.append(brand_names[brand[i]])
            tags.append(t)
            popularity.append(float(weight[i]))
    category = np.asarray(cats, dtype=np.int64)
    price_arr = np.asarray(prices, dtype=np.float64)
    n = category.shape[0]
    members: list[Arr] = []
    for pool in v.POOLS:
        if pool in v.CATEGORIES:
            idx = np.flatnonzero(category == v.CATEGORIES.index(pool))
        elif pool == "character_sneakers":
            idx = np.asarray(
                [i for i in range(n) if "character" in tags[i] and "sneakers" in tags[i]]
            )
        else:
            lux = {v.CATEGORIES.index(c) for c in _LUXURY_CATEGORIES}
            idx = np.asarray([i for i in range(n) if "premium" in tags[i] and cats[i] in lux])
        members.append(idx.astype(np.int64))
    weights = np.asarray(popularity)
    cum_parts = []
    for k, idx in enumerate(members):
        w = np.cumsum(weights[idx])
        cum = w / w[-1]
        cum[-1] = 1.0
        cum_parts.append(k + cum)
    table = pa.table(
        {
            "product_id": decimal_ids("P", np.arange(1, n + 1), 5),
            "category": pa.array([v.CATEGORIES[c] for c in cats], type=pa.string()),
            "brand": pa.array(brands, type=pa.string()),
            "price": pa.array(price_arr, type=pa.float64()),
            "tags": pa.array(tags, type=pa.list_(pa.string())),
        }
    )
    return Catalog(
        table=table,
        category=category,
        price=price_arr,
        pool_products=np.concatenate(members),
        pool_cum=np.concatenate(cum_parts),
    )
