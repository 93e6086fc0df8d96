"""Cluster descriptions: the features that set a cluster apart, and a short name."""

from __future__ import annotations

from typing import Any

import numpy as np

from microseg.discover._features import Feature

__all__ = ["distinguishing", "make_name"]

Array = np.ndarray[Any, Any]

# (high, low) words for well-known traits; others read "high X" / "low X".
_WORDS: dict[str, tuple[str, str]] = {
    "total_spend": ("high spend", "low spend"),
    "gross_spend": ("high spend", "low spend"),
    "avg_order_value": ("big baskets", "small baskets"),
    "purchase_count": ("frequent", "infrequent"),
    "repeat_purchase_count": ("frequent", "infrequent"),
    "mean_days_between_purchases": ("slow to return", "quick to return"),
    "days_since_last_purchase": ("lapsing", "recent"),
    "days_since_first_purchase": ("long-standing", "newer"),
    "tenure_days": ("long-standing", "newer"),
    "discount_share": ("deal-driven", "full-price"),
    "return_rate": ("high returns", "few returns"),
    "cart_abandonment_rate": ("cart abandoners", "cart finishers"),
    "email_open_rate_90d": ("e-mail openers", "e-mail ignorers"),
    "email_click_rate_90d": ("e-mail clickers", "non-clickers"),
    "days_since_last_email_open": ("e-mail ignorers", "e-mail openers"),
    "web_share": ("web buyers", "off the web"),
    "app_share": ("app buyers", "off the app"),
    "store_share": ("in-store buyers", "online buyers"),
    "omnichannel": ("omnichannel", "single-channel"),
    "spend_trend_90d": ("growing spend", "shrinking spend"),
    "occasion_share": ("occasion buyers", "everyday buyers"),
}


def distinguishing(
    scaled: Array,
    raw: Array,
    features: list[Feature],
    rows: Array,
    *,
    top: int = 5,
    overall: list[float | None] | None = None,
    means: tuple[Array, Array] | None = None,
) -> list[dict[str, Any]]:
    """The ``top`` features by absolute standardized difference (cluster vs everyone).

    ``scaled`` is standardized over everyone, so the difference is the cluster's mean of it;
    encoded values also get their lift (share in the cluster / share overall). ``overall``
    is every feature's mean over everyone (:func:`overall_means`), and ``means`` the
    cluster's means of ``scaled`` and of ``raw`` (:func:`cluster_means`), when computed
    already.
    """
    diffs = scaled[rows].mean(axis=0) if means is None else means[0]
    order = np.argsort(-np.abs(diffs), kind="stable")[:top]
    result = []
    for j in order:
        f = features[j]
        item: dict[str, Any] = {
            "feature": f.name,
            "std_diff": round(float(diffs[j]), 3),
            "cluster_mean": _mean(raw[rows, j]) if means is None else _rounded(means[1][j]),
            "overall_mean": overall[j] if overall is not None else _mean(raw[:, j]),
            # the share of the cluster with a value: names skip what most of it lacks
            "present": round(1.0 - float(np.isnan(raw[rows, j]).mean()), 4),
        }
        if f.kind in ("contains", "equals", "flag") and item["overall_mean"]:
            item["lift"] = round((item["cluster_mean"] or 0.0) / item["overall_mean"], 2)
        result.append(item)
    return result


def cluster_means(scaled: Array, raw: Array, labels: Array) -> dict[int, tuple[Array, Array]]:
    """Per cluster label: the mean of each ``scaled`` column and of each ``raw`` column over
    its present values (NaN when none), in one pass per column instead of one per cluster."""
    ids, codes = np.unique(labels, return_inverse=True)
    k = ids.size
    sizes = np.bincount(codes, minlength=k).astype(float)
    mean_scaled = np.empty((k, scaled.shape[1]))
    mean_raw = np.empty((k, raw.shape[1]))
    for j in range(scaled.shape[1]):
        mean_scaled[:, j] = np.bincount(codes, weights=scaled[:, j], minlength=k) / sizes
    for j in range(raw.shape[1]):
        column = raw[:, j]
        present = ~np.isnan(column)
        count = np.bincount(codes[present], minlength=k)
        total = np.bincount(codes[present], weights=column[present], minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_raw[:, j] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return {int(i): (mean_scaled[c], mean_raw[c]) for c, i in enumerate(ids.tolist())}


def _rounded(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)


def overall_means(raw: Array) -> list[float | None]:
    """Each column's mean over its present values, rounded as :func:`distinguishing` shows."""
    return [_mean(raw[:, j]) for j in range(raw.shape[1])]


def _mean(values: Array) -> float | None:
    present = values[~np.isnan(values)]
    return round(float(present.mean()), 4) if present.size else None


#: Below this share of a cluster's customers with a value, a feature does not name it: a
#: name never describes an absence of data as a trait.
PRESENT_TO_NAME = 0.5

#: Traits that describe purchases: they never name a cluster of customers without any.
_PURCHASE_TRAITS = frozenset(
    {
        "total_spend",
        "gross_spend",
        "avg_order_value",
        "purchase_count",
        "repeat_purchase_count",
        "mean_days_between_purchases",
        "days_since_last_purchase",
        "days_since_first_purchase",
        "discount_share",
        "return_rate",
        "web_share",
        "app_share",
        "store_share",
        "omnichannel",
        "spend_trend_90d",
        "occasion_share",
        "view_to_purchase_rate",
    }
)


def make_name(
    features: list[Feature],
    top: list[dict[str, Any]],
    *,
    words: int = 3,
    macro: str | None = None,
    buyers: float = 1.0,
) -> str:
    """A short name from the strongest differences, e.g. "High spend, frequent, travel lovers".

    With ``macro`` (a macro segment's value, e.g. ``at_risk``) the name starts with it in
    words ("at risk: ...") and leaves out what only repeats it ("lapsed: Lapsing"). A
    feature most of the cluster has no value for does not name it; when most of the cluster
    has never bought (``buyers``, the share who have, below one half) neither do purchase
    traits ("No purchases yet", or "Mostly no purchases yet" when some have, if nothing else
    sets it apart). A cluster named by missing values only is "No <fields> data".
    """
    by_name = {f.name: f for f in features}
    stage = macro.replace("_", " ") if macro is not None else None
    parts: list[str] = []
    absent: list[str] = []
    for item in top:
        if abs(item["std_diff"]) < 0.4 or len(parts) == words:
            continue
        feature = by_name[item["feature"]]
        if buyers < PRESENT_TO_NAME and _about_purchases(feature):
            continue
        if item.get("present", 1.0) < PRESENT_TO_NAME:
            label = feature.field.replace("_", " ")
            if label not in absent:
                absent.append(label)
            continue
        phrase = _phrase(feature, item["std_diff"] > 0)
        if phrase not in parts and not (stage and _repeats(phrase, stage)):
            parts.append(phrase)
    if parts:
        text = ", ".join(parts)
    elif absent:
        shown = absent[:words]
        listed = ", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0]
        text = f"no {listed} data"
    elif buyers < PRESENT_TO_NAME:
        text = "no purchases yet" if buyers == 0 else "mostly no purchases yet"
    else:
        text = "typical customers"
    text = text[0].upper() + text[1:]
    return f"{stage}: {text}" if stage else text


def _about_purchases(f: Feature) -> bool:
    return f.source == "trait" and (
        f.field in _PURCHASE_TRAITS or f.field.startswith("spend_share_")
    )


def _repeats(phrase: str, stage: str) -> bool:
    """Whether ``phrase`` only says again what the stage says ("lapsing" in "lapsed")."""
    stems = {w[:4] for w in stage.lower().split() if len(w) >= 3}
    return any(w[:4] in stems or w[: len(s)] == s for w in phrase.lower().split() for s in stems)


def _phrase(f: Feature, high: bool) -> str:
    if f.field in _WORDS and f.kind in ("number", "flag"):
        return _WORDS[f.field][0 if high else 1]
    if f.field.startswith("spend_share_"):
        category = f.field.removeprefix("spend_share_").replace("_", " ")
        return f"{category} buyers" if high else f"few {category} purchases"
    value = (f.value or "").replace("_", " ")
    if f.kind == "contains":
        if f.field == "interests":
            return f"{value} lovers" if high else f"not into {value}"
        return value if high else f"not {value}"
    if f.kind == "equals":
        return f"{f.field.replace('_', ' ')} {value}" if high else f"not {value}"
    return f"{'high' if high else 'low'} {f.label()}"
