"""The service tells a repeated ``event_id`` at once: a batch's ids are looked up in the
snapshot in one pass (ProfileSnapshot.known_events), with the same answers as one by one
(has_event), whatever the mix of stored, added, foreign and unknown ids."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from microseg import Workspace

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def test_known_events_in_one_pass_agree_with_one_by_one(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "shop", timezone="UTC", clock=lambda: NOW)
    rng = random.Random(7)
    lines = ["event_id,customer_id,timestamp,type"]
    for n in range(400):
        stamp = NOW - timedelta(hours=rng.randint(1, 5000))
        lines.append(f"e{n},C{rng.randint(1, 40)},{stamp:%Y-%m-%dT%H:%M:%SZ},view")
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws.ingest("events", tmp_path / "events.csv")
    snapshot = ws.segments.prepare().snapshot
    stored = ws.store.table("events").to_pyarrow().to_pylist()
    owner = {r["event_id"]: r["customer_id"] for r in stored}
    # events added since the snapshot was read, as the real-time path adds them
    moment = NOW.replace(tzinfo=None)
    added = [
        {"event_id": f"a{n}", "customer_id": f"C{n % 40 + 1}", "timestamp": moment, "type": "view"}
        for n in range(30)
    ]
    for row in added:
        row.update({c: None for c in stored[0] if c not in row and c != "load_id"})
    snapshot.add_events(added)
    pairs: list[tuple[str, str]] = []
    for n in range(600):
        choice = n % 5
        if choice == 0:  # stored, under its own customer
            event_id = f"e{rng.randrange(400)}"
            pairs.append((owner[event_id], event_id))
        elif choice == 1:  # stored, under another customer: not that customer's
            event_id = f"e{rng.randrange(400)}"
            pairs.append((f"C{int(owner[event_id][1:]) % 40 + 1}", event_id))
        elif choice == 2:  # added since
            row = added[rng.randrange(30)]
            pairs.append((row["customer_id"], row["event_id"]))
        elif choice == 3:  # a new id
            pairs.append((f"C{rng.randint(1, 40)}", f"new{n}"))
        else:  # a customer the snapshot does not know
            pairs.append(("C404", f"e{rng.randrange(400)}"))
    expected = [snapshot.has_event(c, e) for c, e in pairs]
    assert snapshot.known_events(pairs) == expected
    assert snapshot.known_events(pairs[:12]) == expected[:12]  # a few: one by one
    assert sum(expected) == 240  # the stored and added ones, and only those
    assert snapshot.known_events([]) == []
