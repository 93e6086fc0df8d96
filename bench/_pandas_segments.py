"""The 50 benchmark segments evaluated one by one with pandas: the comparison the rule-language
issue asks for. Each segment is computed on its own from the loaded frames, as a data team
would without microseg (loading the frames is timed apart)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

CATEGORIES = ["sports", "travel", "anime", "electronics", "fashion", "grocery", "home"]


def load_frames(store: Any, as_of: datetime, age_day: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events before as_of (with the device pulled out of properties) and people."""
    events = store.con.execute(
        'SELECT customer_id, "timestamp" AS ts, type, category, amount, channel, "query", '
        "properties->>'device' AS device FROM events WHERE \"timestamp\" < $a",
        {"a": as_of},
    ).df()
    people = store.con.execute(
        "SELECT r.customer_id, h.gender, h.interests, h.birth_date FROM customer_registry r "
        "LEFT JOIN customer_history h ON h.customer_id = r.customer_id AND h.valid_from < $a "
        "AND (h.valid_to IS NULL OR h.valid_to >= $a) WHERE r.merged_into IS NULL",
        {"a": as_of},
    ).df()
    day = pd.Timestamp(age_day)
    born = pd.to_datetime(people["birth_date"])
    later = (born.dt.month > day.month) | ((born.dt.month == day.month) & (born.dt.day > day.day))
    people["age"] = day.year - born.dt.year - later.astype("Int64")
    return events, people.set_index("customer_id")


def segments(
    params: dict[str, Any],
) -> dict[str, Callable[[pd.DataFrame, pd.DataFrame], pd.Series]]:
    as_of: datetime = params["as_of"]
    found: dict[str, Callable[[pd.DataFrame, pd.DataFrame], pd.Series]] = {}

    def who(people: pd.DataFrame, ids: Any) -> pd.Series:
        return pd.Series(people.index.isin(ids), index=people.index)

    for i, cat in enumerate(CATEGORIES):
        window = as_of - timedelta(days=90 + 30 * i)

        def buyers(
            ev: pd.DataFrame, people: pd.DataFrame, cat: str = cat, w: datetime = window
        ) -> pd.Series:
            hit = ev[(ev.type == "purchase") & (ev.category == cat) & (ev.ts >= w)]
            return who(people, hit.customer_id.unique())

        def spend(
            ev: pd.DataFrame, people: pd.DataFrame, cat: str = cat, t: int = 50 * (i + 1)
        ) -> pd.Series:
            sums = (
                ev[(ev.type == "purchase") & (ev.category == cat)]
                .groupby("customer_id")
                .amount.sum()
                .round(9)  # as microseg: the same value whatever the order of addition
            )
            return who(people, sums[sums > t].index)

        def young(
            ev: pd.DataFrame, people: pd.DataFrame, b: Any = buyers, lo: int = 18 + i
        ) -> pd.Series:
            age = people["age"]
            return (age.between(lo, lo + 12).fillna(False).astype(bool)) & b(ev, people)

        def mobile(ev: pd.DataFrame, people: pd.DataFrame, cat: str = cat) -> pd.Series:
            hit = ev[(ev.type == "view") & (ev.category == cat) & (ev.device == "mobile")]
            counts = hit.groupby("customer_id").size()
            return who(people, counts[counts >= 3].index)

        def never(ev: pd.DataFrame, people: pd.DataFrame, b: Any = buyers) -> pd.Series:
            return ~b(ev, people)

        def repeat(ev: pd.DataFrame, people: pd.DataFrame, cat: str = cat) -> pd.Series:
            p = ev.loc[ev.type == "purchase", ["customer_id", "ts", "category"]]
            times = p[["customer_id", "ts"]].drop_duplicates().sort_values(["customer_id", "ts"])
            times["next"] = times.groupby("customer_id").ts.shift(-1)
            p = p[p.category == cat].merge(times, on=["customer_id", "ts"])
            hit = p[p.next <= p.ts + pd.Timedelta(days=30)]
            return who(people, hit.customer_id.unique())

        found[f"buyers-{cat}"] = buyers
        found[f"spend-{cat}"] = spend
        found[f"young-{cat}"] = young
        found[f"mobile-{cat}"] = mobile
        found[f"not-{cat}"] = never
        found[f"repeat-{cat}"] = repeat

    def abandoned(ev: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
        two = pd.Timedelta(days=2)
        carts = ev[(ev.type == "cart_add") & (ev.ts >= params["d30"]) & (ev.ts + two <= as_of)]
        carts = carts[["customer_id", "ts"]].sort_values("ts")
        buys = ev.loc[ev.type == "purchase", ["customer_id", "ts"]].rename(columns={"ts": "p"})
        nxt = pd.merge_asof(
            carts,
            buys.sort_values("p"),
            left_on="ts",
            right_on="p",
            by="customer_id",
            direction="forward",
            allow_exact_matches=False,
        )
        hit = nxt[nxt.p.isna() | (nxt.p > nxt.ts + two)]
        return who(people, hit.customer_id.unique())

    def openers(ev: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
        return who(
            people, ev[(ev.type == "email_open") & (ev.ts >= params["d90"])].customer_id.unique()
        )

    def women_travel(ev: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
        likes = people["interests"].map(
            lambda xs: xs is not None and "travel" in [str(x).lower() for x in xs]
        )
        return (people["gender"] == "female").fillna(False) & likes

    def searchers(ev: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
        s = ev[(ev.type == "search") & (ev.ts >= params["m6"]) & (ev.ts < params["m4"])]
        s = s[s["query"].str.lower().str.contains("character", na=False)]
        return who(people, s.customer_id.unique())

    def holdout(ev: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
        def bucket(cid: str) -> int:
            digest = hashlib.md5(f"h:{cid}".encode(), usedforsecurity=False).digest()
            return int.from_bytes(digest[8:], "little") % 100

        return pd.Series([bucket(c) < 10 for c in people.index], index=people.index)

    def big_basket(ev: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
        means = ev[ev.type == "purchase"].groupby("customer_id").amount.mean().round(9)
        return who(people, means[means >= 80].index)

    def many_channels(ev: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
        n = ev.groupby("customer_id").channel.nunique()
        return who(people, n[n >= 3].index)

    def recent(ev: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
        last = ev.groupby("customer_id").ts.max()
        return who(people, last[last >= params["d7"]].index)

    found.update(
        {
            "abandoned": abandoned,
            "openers": openers,
            "women-travel": women_travel,
            "searchers": searchers,
            "holdout": holdout,
            "big-basket": big_basket,
            "many-channels": many_channels,
            "recent": recent,
        }
    )
    return found
