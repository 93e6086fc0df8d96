"""Events of one chunk of customers: e-mails, browsing, carts, purchases, returns."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _vocab as v
from ._arrow import draw, draw_rows, repeat_index
from ._behaviour import LAPSING_VIPS, Tables
from ._calendar import Calendar
from ._campaign import MailState
from ._catalog import Catalog
from ._population import Population
from ._purchases import (
    PurchaseDetails,
    PurchaseTimes,
    add_campaign_purchases,
    purchase_details,
    purchase_times,
)

Arr = npt.NDArray[Any]
Part = dict[str, Any]

MINUTE = 1.0 / 1440.0
NEWSLETTER_SEND_PROB = 0.025
PROMO_SEND_PROB = 0.3
SEND_FROM = 9.0 / 24.0  # campaigns go out from 09:00 UTC on their day
ATTRIBUTION_DAYS = 7.0
ANONYMOUS_SHARE = 0.065  # of customers who signed up at least 14 days into the history
_KEY_SHIFT = 2**36

_QUERY_SIZE = np.asarray([len(q) for q in v.QUERY_POOLS.values()])
_QUERY_START = np.cumsum(_QUERY_SIZE) - _QUERY_SIZE
assert v.QUERY_POOL_NAMES[: len(v.INTERESTS)] == v.INTERESTS


def _query(rng: np.random.Generator, tables: Tables, pop: Population, cust: Arr) -> Arr:
    """Pick a search query for each event of ``cust``: segment pool or one of the interests."""
    seg = pop.seg[cust]
    hot = pop.interests[cust]
    cum = np.cumsum(hot, axis=1)
    pick = np.floor(rng.random(cust.shape[0]) * cum[:, -1]).astype(np.int64)
    interest = (cum <= pick[:, None]).sum(axis=1)
    special = rng.random(cust.shape[0]) < tables.query_share[seg]
    pool = np.where(special, tables.query_pool[seg], interest)
    offset = np.floor(rng.random(cust.shape[0]) * _QUERY_SIZE[pool]).astype(np.int64)
    return np.asarray(_QUERY_START[pool] + offset)


def _online_channel(rng: np.random.Generator, pop: Population, cust: Arr) -> Arr:
    pref = pop.preferred[cust]
    guess = np.where(rng.random(cust.shape[0]) < 0.6, v.WEB, v.APP)
    channel = np.where(pref == v.STORE, guess, pref)
    flip = rng.random(cust.shape[0]) < 0.2
    return np.where(flip, v.WEB + v.APP - channel, channel)


def _before(rng: np.random.Generator, t: Arr, floor: Arr, lo: float, hi: float) -> Arr:
    """Times ``U(lo, hi)`` days before ``t`` but not before ``floor``."""
    gap = rng.uniform(lo, hi, t.shape[0])
    room = np.maximum(t - floor, 0.0)
    return np.asarray(t - np.minimum(gap, room * rng.uniform(0.2, 0.9, t.shape[0])))


def _emails(
    rng: np.random.Generator, cal: Calendar, tables: Tables, pop: Population, death: Arr
) -> tuple[list[Part], Arr, Arr, Arr, MailState]:
    """E-mail sends, opens and clicks; also returns the clicks (cust, t, campaign) and what
    was drawn of each customer (for the planted mailing)."""
    seg, n = pop.seg, pop.seg.shape[0]
    camp = cal.campaigns
    opted = rng.random(n) < tables.email[seg, 0]
    m_open, m_click = tables.email[seg, 1], tables.email[seg, 2]
    p_open = np.where(m_open > 0, rng.beta(np.maximum(m_open, 1e-3) * 8, (1 - m_open) * 8), 0.0)
    p_click = np.where(m_click > 0, rng.beta(np.maximum(m_click, 1e-3) * 8, (1 - m_click) * 8), 0)
    send_prob = np.where(camp.promo, PROMO_SEND_PROB, NEWSLETTER_SEND_PROB)
    block = max(1, 4_000_000 // max(n, 1))
    cust_parts, camp_parts = [], []
    for lo in range(0, camp.day.shape[0], block):
        hi = min(lo + block, camp.day.shape[0])
        sent = (rng.random((n, hi - lo), dtype=np.float32) < send_prob[None, lo:hi]) & opted[
            :, None
        ]
        sent &= camp.day[None, lo:hi] + SEND_FROM > pop.signup_t[:, None]
        rows, cols = np.nonzero(sent)
        cust_parts.append(rows)
        camp_parts.append(cols + lo)
    cust = np.concatenate(cust_parts)
    campaign = np.concatenate(camp_parts)
    t_sent = camp.day[campaign] + SEND_FROM + rng.uniform(0.0, 3.0, cust.shape[0]) / 24.0
    alive = t_sent < death[cust] + 56.0
    factor = np.where(alive, 1.0, np.where(seg[cust] == LAPSING_VIPS, 0.0, 0.15))
    opened = rng.random(cust.shape[0]) < p_open[cust] * factor
    t_open = t_sent + rng.exponential(0.25, cust.shape[0])
    boost = np.where(camp.promo[campaign], 1.3, 0.8)
    clicked = opened & (rng.random(cust.shape[0]) < np.minimum(p_click[cust] * boost, 1.0))
    t_click = t_open + rng.uniform(0.5, 15.0, cust.shape[0]) * MINUTE
    parts = [
        {"cust": cust, "t": t_sent, "type": v.EMAIL_SENT, "campaign": campaign},
        {
            "cust": cust[opened],
            "t": t_open[opened],
            "type": v.EMAIL_OPEN,
            "campaign": campaign[opened],
        },
        {
            "cust": cust[clicked],
            "t": t_click[clicked],
            "type": v.EMAIL_CLICK,
            "campaign": campaign[clicked],
        },
    ]
    for part in parts:
        part["channel"] = np.full(part["cust"].shape[0], v.EMAIL)
    return (
        parts,
        cust[clicked],
        t_click[clicked],
        campaign[clicked],
        MailState(opted, p_open, death),
    )


def _attribute(times: PurchaseTimes, click_cust: Arr, click_t: Arr, click_campaign: Arr) -> Arr:
    """Campaign of the last click by the same customer within a week before each purchase."""
    if click_cust.shape[0] == 0:
        return np.full(times.cust.shape[0], -1, np.int64)
    key = click_cust * _KEY_SHIFT + np.floor(click_t * 86400).astype(np.int64)
    order = np.argsort(key, kind="stable")
    pkey = times.cust * _KEY_SHIFT + np.floor(times.t * 86400).astype(np.int64)
    pos = np.searchsorted(key[order], pkey, side="right") - 1
    src = order[np.maximum(pos, 0)]
    ok = (pos >= 0) & (click_cust[src] == times.cust)
    ok &= times.t - click_t[src] <= ATTRIBUTION_DAYS
    return np.where(ok, click_campaign[src], -1)


def _purchase_parts(
    rng: np.random.Generator,
    tables: Tables,
    pop: Population,
    catalog: Catalog,
    times: PurchaseTimes,
    det: PurchaseDetails,
    campaign: Arr,
) -> list[Part]:
    cust, t = times.cust, times.t
    m = cust.shape[0]
    seg = pop.seg[cust]
    pid = np.arange(m)
    category = catalog.category[det.product]
    common = {"product": det.product, "category": category, "quantity": det.quantity}
    parts: list[Part] = [
        {
            "cust": cust,
            "t": t,
            "type": v.PURCHASE,
            "channel": det.channel,
            "amount": det.amount,
            "purchase": pid,
            "campaign": campaign,
            "discount": det.discount,
            **common,
        },
    ]
    ret = rng.random(m) < tables.return_rate[seg]
    parts.append(
        {
            "cust": cust[ret],
            "t": t[ret] + rng.uniform(3.0, 30.0, int(ret.sum())),
            "type": v.RETURN,
            "channel": det.channel[ret],
            "amount": det.amount[ret],
            "purchase": pid[ret],
            **{k: a[ret] for k, a in common.items()},
        }
    )
    online = np.flatnonzero(det.channel != v.STORE)
    signup = pop.signup_t[cust]
    parts.append(
        {
            "cust": cust[online],
            "t": _before(rng, t[online], signup[online], 2 * MINUTE, 0.125),
            "type": v.CART_ADD,
            "channel": det.channel[online],
            **{k: a[online] for k, a in common.items()},
        }
    )
    owner, _ = repeat_index(rng.poisson(tables.views_per_purchase[seg[online]]))
    src = online[owner]
    page = np.where(rng.random(src.shape[0]) < 0.7, 0, 1)
    parts.append(
        {
            "cust": cust[src],
            "t": _before(rng, t[src], signup[src], 0.01, 3.0),
            "type": v.VIEW,
            "channel": det.channel[src],
            "product": np.where(page == 0, det.product[src], -1),
            "category": category[src],
            "page": page,
        }
    )
    owner, _ = repeat_index(rng.poisson(tables.searches_per_purchase[seg]))
    parts.append(
        {
            "cust": cust[owner],
            "t": _before(rng, t[owner], signup[owner], 0.02, 2.0),
            "type": v.SEARCH,
            "channel": _online_channel(rng, pop, cust[owner]),
            "query": _query(rng, tables, pop, cust[owner]),
        }
    )
    return parts


def _browsing(
    rng: np.random.Generator,
    cal: Calendar,
    tables: Tables,
    pop: Population,
    catalog: Catalog,
    times: PurchaseTimes,
) -> list[Part]:
    seg, n = pop.seg, pop.seg.shape[0]
    a = np.maximum(pop.signup_t, 0.0)
    b = np.minimum(float(cal.n_days), times.death + 30.0)
    weeks = np.maximum(b - a, 0.0) / 7.0
    intensity = rng.gamma(2.0, 0.5, n) * np.where(times.never_buy, 3.0, 1.0)
    parts: list[Part] = []
    for kind, rate in (
        (v.VIEW, tables.view_rate),
        (v.SEARCH, tables.search_rate),
        (v.CART_ADD, tables.abandon_rate),
    ):
        lam = rate[seg] * weeks * (intensity if kind == v.VIEW else 1.0)
        cust, _ = repeat_index(rng.poisson(lam))
        t = a[cust] + rng.random(cust.shape[0]) * (b[cust] - a[cust])
        channel = _online_channel(rng, pop, cust)
        if kind == v.SEARCH:
            parts.append(
                {
                    "cust": cust,
                    "t": t,
                    "type": kind,
                    "channel": channel,
                    "query": _query(rng, tables, pop, cust),
                }
            )
            continue
        product = catalog.draw(rng, draw_rows(rng, tables.pools, seg[cust]))
        category = catalog.category[product]
        if kind == v.VIEW:
            page = draw(rng, [0.6, 0.25, 0.15], cust.shape[0])
            parts.append(
                {
                    "cust": cust,
                    "t": t,
                    "type": kind,
                    "channel": channel,
                    "page": page,
                    "product": np.where(page == 0, product, -1),
                    "category": np.where(page <= 1, category, -1),
                }
            )
            continue
        quantity = 1 + rng.poisson(0.2, cust.shape[0])
        parts.append(
            {
                "cust": cust,
                "t": t,
                "type": v.CART_ADD,
                "channel": channel,
                "product": product,
                "category": category,
                "quantity": quantity,
            }
        )
        parts.append(
            {
                "cust": cust,
                "t": t + rng.uniform(2.0, 40.0, cust.shape[0]) * MINUTE,
                "type": v.ABANDON,
                "channel": channel,
                "product": product,
                "category": category,
            }
        )
    return parts


def _anonymous(
    rng: np.random.Generator, tables: Tables, pop: Population, catalog: Catalog
) -> list[Part]:
    """Anonymous views before sign-up, then one view carrying both ids (the login)."""
    n = pop.seg.shape[0]
    who = np.flatnonzero((pop.signup_t >= 14.0) & (rng.random(n) < ANONYMOUS_SHARE))
    owner, _ = repeat_index(2 + rng.poisson(2.0, who.shape[0]))
    cust = who[owner]
    product = catalog.draw(rng, draw_rows(rng, tables.pools, pop.seg[cust]))
    anon = {
        "cust": cust,
        "t": pop.signup_t[cust] - rng.uniform(0.02, 14.0, cust.shape[0]),
        "type": v.VIEW,
        "channel": v.WEB,
        "has_cid": False,
        "has_anon": True,
        "product": product,
        "category": catalog.category[product],
        "page": 0,
    }
    login = {
        "cust": who,
        "t": pop.signup_t[who] + rng.uniform(0.0, 10.0, who.shape[0]) * MINUTE,
        "type": v.VIEW,
        "channel": v.WEB,
        "has_anon": True,
        "page": 2,
    }
    return [anon, login]


def chunk_events(
    rng: np.random.Generator, cal: Calendar, tables: Tables, pop: Population, catalog: Catalog
) -> tuple[list[Part], MailState]:
    """Generate all event parts of one chunk (unsorted, times in float days), and what the
    e-mail programme drew of its customers."""
    times = purchase_times(rng, cal, tables, pop)
    mail, click_cust, click_t, click_campaign, state = _emails(rng, cal, tables, pop, times.death)
    times = add_campaign_purchases(rng, cal, tables, pop, times, click_cust, click_t)
    campaign = _attribute(times, click_cust, click_t, click_campaign)
    det = purchase_details(rng, cal, tables, pop, catalog, times, campaign >= 0)
    return [
        *_purchase_parts(rng, tables, pop, catalog, times, det, campaign),
        *_browsing(rng, cal, tables, pop, catalog, times),
        *_anonymous(rng, tables, pop, catalog),
        *mail,
    ], state
