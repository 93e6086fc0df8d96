"""Purchase times (buy-till-you-die, occasions, weddings) and purchase details."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _vocab as v
from ._arrow import draw, draw_rows, repeat_index, segmented_cumsum
from ._behaviour import LAPSING_VIPS, Tables
from ._calendar import Calendar
from ._catalog import Catalog
from ._population import Population

Arr = npt.NDArray[Any]

FIRST_PURCHASE_DELAY_DAYS = 1.5
OCCASION_PARTICIPATION = 0.65
WEDDING_LEAD_DAYS = 60.0
MAX_CANDIDATES = 3000
_WEDDING_POOLS = {"fashion": 0.35, "home": 0.25, "travel": 0.25, "beauty": 0.15}
_FAMILY_POOLS = {"grocery": 0.5, "home": 0.3, "toys": 0.2}
_MULTI_UNIT = [v.CATEGORIES.index(c) for c in ("home", "toys", "beauty")]


def _pool_probs(mapping: dict[str, float]) -> Arr:
    return np.asarray([mapping.get(p, 0.0) for p in v.POOLS])


@dataclass(frozen=True)
class PurchaseTimes:
    """Purchases inside the history (customer index, float day, source) and customer state.

    ``source`` is 0 for the buy-till-you-die process, 1 for occasions, 2 for weddings and 3 for
    purchases triggered by an e-mail click.
    ``death`` is the day a customer became inactive (inf while active at the end).
    """

    cust: Arr
    t: Arr
    source: Arr
    death: Arr
    never_buy: Arr


def _btyd(
    rng: np.random.Generator, cal: Calendar, tables: Tables, seg: Arr, signup_t: Arr
) -> tuple[Arr, Arr, Arr]:
    """BG/NBD purchases of the given customers: (owner, times, death)."""
    n = seg.shape[0]
    lam = rng.gamma(tables.lam[seg, 0], 1.0 / tables.lam[seg, 1]) / 7.0
    p = rng.beta(tables.drop[seg, 0], tables.drop[seg, 1])
    total = rng.geometric(np.clip(p, 1e-3, 1.0))
    t0 = signup_t + rng.exponential(FIRST_PURCHASE_DELAY_DAYS, n)
    stop = np.full(n, float(cal.n_days))
    cut = cal.n_days / 2.0 - rng.uniform(0.0, 56.0, n)
    stop = np.where(seg == LAPSING_VIPS, np.minimum(stop, cut), stop)
    prof = tables.profile[seg]
    peak = cal.profile_max[prof]
    rate = np.maximum(lam * peak, 1e-9)
    mu = rate * np.maximum(stop - t0, 0.0)
    cap = np.ceil(mu + 5.0 * np.sqrt(mu) + 3.0)
    cap = np.minimum(cap, np.minimum((total - 1) * 8 + 10, MAX_CANDIDATES))
    cap = np.where((total > 1) & (t0 < stop), cap, 0).astype(np.int64)
    owner, _ = repeat_index(cap)
    gaps = rng.exponential(1.0, owner.shape[0]) / rate[owner]
    t = t0[owner] + segmented_cumsum(gaps, owner, n)
    # Thinning by the seasonal profile, then dropout after the total-th purchase.
    level = cal.profile[prof[owner], cal.day_index(t)]
    acc = (rng.random(owner.shape[0]) * peak[owner] < level) & (t < stop[owner])
    rank = segmented_cumsum(acc.astype(np.float64), owner, n)
    keep = acc & (rank <= total[owner] - 1)
    kept = np.bincount(owner[keep], minlength=n)
    first = t0 < stop
    last = t0.copy()
    kp = np.flatnonzero(keep)
    if kp.shape[0]:
        o = owner[kp]
        is_last = np.append(o[1:] != o[:-1], True)
        last[o[is_last]] = t[kp][is_last]
    dropped = (kept >= total - 1) | (seg == LAPSING_VIPS)
    death = np.where(dropped & first, last, np.inf)
    death = np.where(first, death, np.minimum(stop, t0))
    owners = np.concatenate([np.flatnonzero(first), owner[keep]])
    times = np.concatenate([t0[first], t[keep]])
    return owners, times, death


def purchase_times(
    rng: np.random.Generator, cal: Calendar, tables: Tables, pop: Population
) -> PurchaseTimes:
    """Draw all purchase times of a chunk."""
    seg, n = pop.seg, pop.seg.shape[0]
    occasion_only = tables.occasion_only[seg]
    never = ~occasion_only & (rng.random(n) < tables.never_buy[seg])
    death = np.full(n, np.inf)
    death[never] = pop.signup_t[never] + rng.exponential(280.0, int(never.sum()))

    idx = np.flatnonzero(~occasion_only & ~never)
    owner, t_b, death_b = _btyd(rng, cal, tables, seg[idx], pop.signup_t[idx])
    death[idx] = death_b
    cust_parts, t_parts, src_parts = [idx[owner]], [t_b], [np.zeros(t_b.shape[0], np.int64)]

    holiday = np.flatnonzero(occasion_only)
    occ = np.asarray(cal.occasion_list, dtype=np.float64).reshape(-1, 3)
    if holiday.shape[0] and occ.shape[0]:
        lo, hi = occ[:, 1], occ[:, 2] + 1.0
        shape = (holiday.shape[0], occ.shape[0])
        join = (rng.random(shape) < OCCASION_PARTICIPATION) & (
            hi[None, :] > pop.signup_t[holiday, None] + 0.01
        )
        counts = np.where(join, 1 + rng.poisson(0.4, shape), 0).ravel()
        cell, _ = repeat_index(counts)
        cust = holiday[cell // occ.shape[0]]
        k = cell % occ.shape[0]
        start = np.maximum(lo[k], pop.signup_t[cust])
        cust_parts.append(cust)
        t_parts.append(start + rng.random(cust.shape[0]) * (hi[k] - start))
        src_parts.append(np.ones(cust.shape[0], np.int64))

    wed = np.flatnonzero(~np.isnan(pop.married_t))
    counts = 1 + rng.poisson(1.5, wed.shape[0])
    owner_w, _ = repeat_index(counts)
    cust_w = wed[owner_w]
    t_w = pop.married_t[cust_w] - rng.uniform(0.0, WEDDING_LEAD_DAYS, cust_w.shape[0])
    cust_parts.append(cust_w)
    t_parts.append(np.maximum(t_w, pop.signup_t[cust_w] + 0.01))
    src_parts.append(np.full(cust_w.shape[0], 2, np.int64))

    cust_all = np.concatenate(cust_parts)
    t_all = np.concatenate(t_parts)
    src = np.concatenate(src_parts)
    inside = (t_all >= 0.0) & (t_all < cal.n_days)
    return PurchaseTimes(cust_all[inside], t_all[inside], src[inside], death, never)


def add_campaign_purchases(
    rng: np.random.Generator,
    cal: Calendar,
    tables: Tables,
    pop: Population,
    times: PurchaseTimes,
    click_cust: Arr,
    click_t: Arr,
) -> PurchaseTimes:
    """Add purchases triggered by e-mail clicks (source 3), 10 minutes to 2 days later.

    Only customers still active (before their dropout) buy this way.
    """
    buy = rng.random(click_cust.shape[0]) < tables.click_buy[pop.seg[click_cust]]
    cust = click_cust[buy]
    t = click_t[buy] + rng.uniform(10.0 / 1440.0, 2.0, cust.shape[0])
    inside = (t < cal.n_days) & (t < times.death[cust]) & ~times.never_buy[cust]
    return PurchaseTimes(
        np.concatenate([times.cust, cust[inside]]),
        np.concatenate([times.t, t[inside]]),
        np.concatenate([times.source, np.full(int(inside.sum()), 3, np.int64)]),
        times.death,
        times.never_buy,
    )


@dataclass(frozen=True)
class PurchaseDetails:
    """Attributes of each purchase (aligned with :class:`PurchaseTimes`)."""

    pool: Arr
    product: Arr
    quantity: Arr
    channel: Arr
    discount: Arr
    amount: Arr


def purchase_details(
    rng: np.random.Generator,
    cal: Calendar,
    tables: Tables,
    pop: Population,
    catalog: Catalog,
    times: PurchaseTimes,
    attributed: Arr,
) -> PurchaseDetails:
    """Choose product, quantity, channel, discount and amount of each purchase."""
    cust, t = times.cust, times.t
    m = cust.shape[0]
    seg = pop.seg[cust]
    pool = draw_rows(rng, tables.pools, seg)
    pool = np.where(times.source == 2, draw(rng, _pool_probs(_WEDDING_POOLS), m), pool)
    after_wedding = (t > pop.married_t[cust]) & (rng.random(m) < 0.6)
    pool = np.where(after_wedding, draw(rng, _pool_probs(_FAMILY_POOLS), m), pool)
    occasion = cal.occasion[cal.day_index(t)]
    festive = (seg == 0) & (occasion >= 0) & (rng.random(m) < 0.3)
    pool = np.where(festive, v.POOLS.index("seasonal"), pool)
    product = catalog.draw(rng, pool)
    category = catalog.category[product]
    bulk = np.where(category == v.CATEGORIES.index("grocery"), 1.2, 0.05)
    bulk = np.where(np.isin(category, _MULTI_UNIT), 0.2, bulk)
    quantity = 1 + rng.poisson(bulk)
    other = draw_rows(rng, tables.channel, seg)
    channel = np.where(rng.random(m) < 0.7, pop.preferred[cust], other)

    black_friday = occasion == 2
    prob = tables.discount[seg, 0]
    prob = np.where(black_friday, np.maximum(prob, 0.5), prob)
    prob = np.where(attributed, np.maximum(prob, 0.6), prob)
    value = rng.uniform(tables.discount[seg, 1], tables.discount[seg, 2])
    value = np.where(black_friday, np.maximum(value, 0.2), value)
    value = np.clip(np.round(value * 20.0) / 20.0, 0.05, 0.7)
    discount = np.where(rng.random(m) < prob, value, 0.0)

    level = rng.gamma(6.0, tables.spend[pop.seg] / 6.0)
    noise = rng.gamma(25.0, 1.0 / 25.0, m)
    raw = catalog.price[product] * quantity * (1.0 - discount) * level[cust] * noise
    amount = np.maximum(np.round(raw, 2), 0.01)
    return PurchaseDetails(pool, product, quantity, channel, discount, amount)
