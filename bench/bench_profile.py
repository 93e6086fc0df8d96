"""Per-profile (real-time) evaluation latency: one customer, 1,000 events, 50 segments.

The interpreter evaluates all 50 segments for the profile with no database. Two paths:

* cold: each evaluation builds the profile's index from its 1,000 events (sorting,
  grouping, filtering), as a one-off lookup does;
* real time: the service keeps the customer's ProfileIndex; an event arrives, is added to
  the index (the shared filters are updated with that one event), and all 50 segments are
  evaluated at a new as_of.

The script reports p50/p95/p99 over repeated evaluations.

    python bench/bench_profile.py

Writes bench/results/profile.json and bench/results/profile.md.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from microseg.lang import Clock, parse_definition  # noqa: E402
from microseg.lang.profile import Profile, ProfileEvaluator, ProfileIndex  # noqa: E402
from microseg.segments import SegmentCatalog  # noqa: E402

AS_OF = datetime(2026, 10, 31, 23)
TYPES = ["view", "view", "view", "search", "cart_add", "purchase", "email_sent", "email_open"]
CATEGORIES = ["sports", "travel", "anime", "electronics", "fashion", "grocery", "home"]


def _events(n: int, rng: random.Random) -> list[dict[str, Any]]:
    events = []
    for i in range(n):
        kind = rng.choice(TYPES)
        events.append(
            {
                "event_id": f"E{i}",
                "customer_id": "C1",
                "timestamp": AS_OF - timedelta(minutes=rng.randint(1, 2 * 365 * 24 * 60)),
                "type": kind,
                "amount": round(rng.uniform(5, 200), 2) if kind == "purchase" else None,
                "quantity": 1 if kind in ("purchase", "cart_add") else None,
                "product_id": f"P{rng.randint(1, 500)}",
                "category": rng.choice(CATEGORIES),
                "channel": rng.choice(["web", "app", "store"]),
                "order_id": f"O{i}" if kind == "purchase" else None,
                "campaign": None,
                "discount": rng.choice([0.0, 0.0, 0.1, 0.3]) if kind == "purchase" else None,
                "query": "naruto character shoes" if kind == "search" else None,
                "properties": json.dumps({"device": rng.choice(["mobile", "desktop"])}),
            }
        )
    return events


def _segments() -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for i, category in enumerate(CATEGORIES):
        rules[f"buyers-{category}"] = {
            "event": "purchase",
            "where": [{"property": "category", "eq": category}],
            "window": {"last": f"{90 + 30 * i} days"},
        }
        rules[f"spend-{category}"] = {
            "event": "purchase",
            "where": [{"property": "category", "eq": category}],
            "sum": {"property": "amount", "gt": 50 * (i + 1)},
        }
        rules[f"young-{category}"] = {
            "all": [
                {"attribute": "age", "between": [18 + i, 30 + i]},
                {"segment": f"buyers-{category}"},
            ]
        }
        rules[f"mobile-{category}"] = {
            "event": "view",
            "where": [
                {"property": "category", "eq": category},
                {"property": "device", "eq": "mobile"},
            ],
            "count": {"gte": 3},
        }
        rules[f"not-{category}"] = {"not": {"segment": f"buyers-{category}"}}
        rules[f"repeat-{category}"] = {
            "sequence": {
                "steps": [
                    {"event": "purchase", "where": [{"property": "category", "eq": category}]},
                    {"event": "purchase", "within": "30 days"},
                ]
            }
        }
    rules["abandoned"] = {
        "sequence": {
            "steps": [
                {"event": "cart_add"},
                {"event": "purchase", "within": "2 days", "absent": True},
            ],
            "window": {"last": "30 days"},
        }
    }
    rules["openers"] = {"event": "email_open", "window": {"last": "90 days"}}
    rules["women-travel"] = {
        "all": [
            {"attribute": "gender", "eq": "female"},
            {"attribute": "interests", "contains": "travel"},
        ]
    }
    rules["searchers"] = {
        "event": "search",
        "where": [{"property": "query", "contains": "character"}],
        "window": {"from": "6 months ago", "to": "4 months ago"},
    }
    rules["holdout"] = {"bucket": {"salt": "h", "from": 0, "to": 10}}
    rules["big-basket"] = {"event": "purchase", "avg": {"property": "amount", "gte": 80}}
    rules["many-channels"] = {"event": "any", "distinct": {"property": "channel", "gte": 3}}
    rules["recent"] = {"event": "any", "max": {"property": "timestamp", "gte": "7 days ago"}}
    return rules


def main() -> None:
    from _machine import describe

    rng = random.Random(7)
    rules = _segments()
    assert len(rules) == 50, len(rules)
    catalog = SegmentCatalog(
        {n: parse_definition({"name": n, "rule": r}) for n, r in rules.items()}, {}
    )
    profile = Profile(
        customer_id="C1",
        attributes={"age": 24.0, "gender": "female", "interests": ["travel", "anime"]},
        events=_events(1000, rng),
        attribute_types={"age": "number", "gender": "text", "interests": "list"},
    )
    clock = Clock(AS_OF, "Europe/Paris")
    names = list(rules)

    def summary(timings: list[float]) -> dict[str, float]:
        timings = sorted(timings[200:])  # after warm-up
        return {
            "runs": len(timings),
            "p50_ms": round(statistics.median(timings), 3),
            "p95_ms": round(timings[int(0.95 * len(timings))], 3),
            "p99_ms": round(timings[int(0.99 * len(timings))], 3),
            "max_ms": round(timings[-1], 3),
        }

    cold = []
    for _ in range(1200):
        start = time.perf_counter()
        evaluator = ProfileEvaluator(profile, clock, segment_rule=catalog.full_rule)
        members = [evaluator.segment(n) for n in names]
        cold.append((time.perf_counter() - start) * 1000)

    # real time: 1,000 events in the kept index, then 1,200 arrivals, each evaluated
    arrivals = _events(1200, random.Random(8))
    index = ProfileIndex(profile.events, clock.timezone)
    ProfileEvaluator(profile, clock, segment_rule=catalog.full_rule, index=index).segment(names[0])
    live = []
    for i, event in enumerate(arrivals):
        event = {**event, "event_id": f"N{i}", "timestamp": AS_OF + timedelta(seconds=i)}
        moment = Clock(AS_OF + timedelta(seconds=i + 1), clock.timezone)
        start = time.perf_counter()
        index.add(event)
        evaluator = ProfileEvaluator(profile, moment, segment_rule=catalog.full_rule, index=index)
        live_members = [evaluator.segment(n) for n in names]
        live.append((time.perf_counter() - start) * 1000)
    check = ProfileEvaluator(
        Profile(profile.customer_id, profile.attributes, index.events, {}, profile.attribute_types),
        moment,
        segment_rule=catalog.full_rule,
    )
    assert live_members == [check.segment(n) for n in names], "kept index disagrees"
    result = {
        "machine": describe(),
        "events": 1000,
        "segments": len(names),
        "members": sum(members),
        **summary(cold),
        "real_time": {"events_at_end": len(index.events), **summary(live)},
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    rt = result["real_time"]
    (out / "profile.md").write_text(
        "# Per-profile evaluation latency\n\n"
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}. "
        "Reproduce: `python bench/bench_profile.py`.\n\n"
        "One customer with 1,000 events (two years), 50 segments: windows, where filters, "
        "sum/avg/distinct/max aggregates, sequences (repeat purchase, abandoned cart), "
        "segment references, a bucket.\n\n"
        "- **real time**: the service keeps the customer's `ProfileIndex`; each run adds one "
        "arriving event to it and evaluates all 50 segments at a new as_of (the index grows "
        f"from 1,000 to {rt['events_at_end']:,} events).\n"
        "- **cold**: each run builds the index from the 1,000 events, then evaluates all 50.\n\n"
        "| path | runs | p50 ms | p95 ms | p99 ms | max ms | target p99 |\n"
        "|---|---:|---:|---:|---:|---:|---:|\n"
        f"| real time | {rt['runs']} | {rt['p50_ms']} | {rt['p95_ms']} | {rt['p99_ms']} "
        f"| {rt['max_ms']} | 1 ms |\n"
        f"| cold | {result['runs']} | {result['p50_ms']} | {result['p95_ms']} "
        f"| {result['p99_ms']} | {result['max_ms']} | |\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
