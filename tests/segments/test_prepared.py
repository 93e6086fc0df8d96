"""The prepared per-profile evaluator: the same answers as the facade and the batch, and it
notices when the workspace changes."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import microseg.segments._prepared as prepared_module
from microseg import Workspace
from microseg.ingest import EventScreen
from microseg.lang import cluster_column
from microseg.synth import generate_shop

EXAMPLES = Path(__file__).parents[2] / "src" / "microseg" / "segments" / "examples"
NOW = datetime(2026, 11, 1, tzinfo=UTC)

TRAIT_RULES = {
    "at-risk": {"trait": "lifecycle_stage", "in": ["at_risk", "lapsed"]},
    "champions": {"trait": "rfm_group", "eq": "champions"},
    "young-spenders": {
        "all": [{"attribute": "age", "lt": 35}, {"trait": "total_spend", "gte": 200}]
    },
    "in-cluster-1": {"cluster": {"run": "prep", "in": [1]}},
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root: Path = tmp_path_factory.mktemp("prepared")
    data = generate_shop(root / "data", customers=300, seed=5)
    ws = Workspace.init(root / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("customers", data.paths["customer_updates"])
    ws.ingest("events", list(data.event_files))
    ws.discover.run(as_of="2026-10-31", seed=1, name="prep", refits=0, max_clusters=3)
    for example in EXAMPLES.glob("*.yaml"):
        shutil.copy(example, ws.path / "segments" / example.name)
    for name, rule in TRAIT_RULES.items():
        text = json.dumps({"name": name, "rule": rule})
        (ws.path / "segments" / f"{name}.yaml").write_text(text, encoding="utf-8")
    yield ws
    ws.close()


@pytest.mark.parametrize("as_of", ["2026-10-31", "2026-03-01T12:00:00Z", None])
def test_agrees_with_the_facade_and_the_batch(shop: Workspace, as_of: str | None) -> None:
    evaluator = shop.segments.prepare()
    assert len(evaluator.names) == 7 + len(TRAIT_RULES)
    assert not evaluator.problems
    run = shop.segments.evaluate(as_of=as_of, save=False)
    assert run.result is not None
    batch = {r["customer_id"]: r for r in run.result.to_pyarrow().to_pylist()}
    sizes = dict.fromkeys(evaluator.names, 0)
    for customer_id, row in sorted(batch.items()):
        answer = evaluator.of(customer_id, as_of=as_of)
        for name in evaluator.names:
            assert answer[name] == row[name], (name, customer_id, as_of)
            sizes[name] += answer[name]
    # the facade on a sample (it is the slow path)
    for customer_id in sorted(batch)[::60]:
        assert shop.segments.of(customer_id, as_of=as_of) == evaluator.of(customer_id, as_of=as_of)
    assert sum(1 for s in sizes.values() if s > 0) >= 5, sizes  # the rules really select


def test_sees_new_events_and_edited_files(
    shop: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluator = shop.segments.prepare(["anime-buyers"])
    ids = sorted(shop.customers().to_pyarrow().column("customer_id").to_pylist())
    outsider = next(c for c in ids if not evaluator.of(c)["anime-buyers"])
    loads = evaluator.loads
    orders = tmp_path / "anime.csv"
    orders.write_text(
        "customer_id,type,timestamp,amount,category,product_id,order_id\n"
        + "".join(
            f"{outsider},purchase,2026-10-{10 + i}T10:00:00Z,60,anime,P-anime-{i},O-anime-{i}\n"
            for i in range(3)
        ),
        encoding="utf-8",
    )
    shop.ingest("events", [orders])
    # a write through the same store is seen on the next call
    assert evaluator.of(outsider) == {"anime-buyers": True}
    assert shop.segments.of(outsider)["anime-buyers"]
    assert evaluator.loads == loads + 1
    # an edited segment file is seen at the next check of the files
    path = shop.path / "segments" / "anime-buyers.yaml"
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(
            json.dumps({"name": "anime-buyers", "rule": {"not": {"event": "any"}}}),
            encoding="utf-8",
        )
        monkeypatch.setattr(prepared_module, "RECHECK_SECONDS", 0.0)
        assert evaluator.of(outsider) == {"anime-buyers": False}
        assert evaluator.loads == loads + 2
    finally:
        path.write_text(original, encoding="utf-8")


def test_a_write_the_holder_follows_itself_does_not_load_everyone(
    shop: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the service's storer loads through a session of its own, then tells the evaluator
    # (settle); a check of the generation stamp falling in between loaded everyone again
    monkeypatch.setattr(prepared_module, "RECHECK_SECONDS", 0.0)
    evaluator = shop.segments.prepare(["anime-buyers"])
    customer = sorted(shop.customers().to_pyarrow().column("customer_id").to_pylist())[0]
    loads = evaluator.loads
    row = {"event_id": "held-1", "customer_id": customer, "timestamp": "2026-10-20T10:00:00Z",
           "type": "purchase", "amount": 60.0, "category": "anime"}  # fmt: skip
    orders = tmp_path / "held.csv"
    orders.write_text(",".join(row) + "\n" + ",".join(map(str, row.values())) + "\n")
    with shop.session() as storer:
        with evaluator.writing():
            storer.ingest("events", [orders])
            evaluator.of(customer)  # the stamp changed: not a reason to load everyone
            assert evaluator.loads == loads
            evaluator.settle([])
        evaluator.of(customer)
        assert evaluator.loads == loads  # settled: the stamp is the one loaded
        again = tmp_path / "again.csv"
        again.write_text(orders.read_text().replace("held-1", "held-2"))
        with evaluator.writing():
            storer.ingest("events", [again])
        # a write not followed is seen at the first check after
        evaluator.of(customer)
        assert evaluator.loads == loads + 1


EXTRA_RULES = {
    "big-orders": {"event": "purchase", "where": [{"property": "amount", "gte": 120}]},
    "web-buyers": {"event": "purchase", "where": [{"property": "channel", "in": ["web"]}],
                   "window": {"last": "30 days"}},
    "morning-views": {"event": "view", "where": [{"property": "hour", "lt": 12}],
                      "count": {"gte": 2}},
    "recent-any": {"event": "any", "where": [{"property": "category", "ne": "books"}],
                   "window": {"last": "7 days"}},
}  # fmt: skip


def test_segments_an_event_cannot_concern_keep_their_answer(shop: Workspace) -> None:
    """The real-time path evaluates again only the segments an arriving event passes a
    filter of (PreparedSegments.concerned): adding any event leaves every other segment's
    answer as it was, and most events concern few segments."""
    for name, rule in EXTRA_RULES.items():
        text = json.dumps({"name": name, "rule": rule})
        (shop.path / "segments" / f"{name}.yaml").write_text(text, encoding="utf-8")
    try:
        evaluator = shop.segments.prepare()
        assert set(EXTRA_RULES) <= set(evaluator.names)
        screen = EventScreen.of(shop.config)
        ids = sorted(shop.customers().to_pyarrow().column("customer_id").to_pylist())
        rng = random.Random(4)
        now = NOW.replace(tzinfo=None)
        sizes = []
        for n in range(150):
            customer = rng.choice(ids)
            record = {
                "event_id": f"concern-{n}", "customer_id": customer,
                "timestamp": (NOW - timedelta(hours=rng.randint(1, 24 * 200))).isoformat(),
                "type": rng.choice(["purchase", "view", "search", "cart_add", "email_open"]),
                "amount": rng.choice([None, 15.0, 130.0, 600.0]),
                "category": rng.choice([None, "anime", "books", "sports", "travel"]),
                "channel": rng.choice([None, "web", "store"]),
                "query": rng.choice([None, "character shoes", "tea"]),
            }  # fmt: skip
            row = screen.row({k: v for k, v in record.items() if v is not None}, now,
                             evaluator.snapshot.resolve)  # fmt: skip
            assert row is not None, record
            before = evaluator.of(customer)
            concerned = evaluator.concerned([row])
            evaluator.absorb([row], stored=False)
            after = evaluator.of(customer)
            changed = {name for name in before if before[name] != after[name]}
            assert changed <= set(concerned), (record, changed - set(concerned))
            sizes.append(len(concerned))
        assert sum(sizes) / len(sizes) < 0.6 * len(evaluator.names)  # the shortcut works
    finally:
        for name in EXTRA_RULES:
            (shop.path / "segments" / f"{name}.yaml").unlink()


def test_a_snapshot_narrowed_to_what_the_segments_read_answers_alike(shop: Workspace) -> None:
    """An evaluator process reads of each customer only the event columns and attributes
    the segments read (PreparedSegments.reads, ProfileSnapshot.narrow): every customer's
    answers, now and at a past instant, are those of the whole snapshot, new events
    included."""
    for name, rule in EXTRA_RULES.items():
        text = json.dumps({"name": name, "rule": rule})
        (shop.path / "segments" / f"{name}.yaml").write_text(text, encoding="utf-8")
    try:
        names = [n for n in shop.segments.prepare().names if n != "in-cluster-1"]
        whole, narrow = shop.segments.prepare(names), shop.segments.prepare(names)
        reads = narrow.reads
        assert reads.events is not None
        assert reads.attributes is not None
        assert {"amount", "channel", "category", "query"} <= reads.events
        assert "product_id" not in reads.events
        assert "age" in reads.attributes
        narrow.snapshot.narrow(events=reads.events, attributes=reads.attributes)
        ids = sorted(shop.customers().to_pyarrow().column("customer_id").to_pylist())
        screen = EventScreen.of(shop.config)
        rng = random.Random(7)
        now = NOW.replace(tzinfo=None)
        for n in range(40):  # some new events first, added to both alike
            record = {
                "event_id": f"narrow-{n}", "customer_id": rng.choice(ids),
                "timestamp": (NOW - timedelta(hours=rng.randint(1, 24 * 60))).isoformat(),
                "type": rng.choice(["purchase", "view", "cart_add"]), "amount": 130.0,
                "category": "anime", "product_id": f"P{n}",
            }  # fmt: skip
            row = screen.row(record, now, whole.snapshot.resolve)
            assert row is not None
            for prepared in (whole, narrow):
                prepared.absorb([row], stored=False)
        selected, read = 0, 0
        for as_of in (None, "2026-06-01"):
            clock = whole.clock(as_of)
            for customer in ids:
                expected = whole.evaluate(customer, clock, current=as_of is None, held=True)
                found = narrow.evaluate(customer, clock, current=as_of is None, held=True)
                assert found == expected, (customer, as_of)
                selected += sum(expected.values())
                events = narrow.snapshot.of(customer, clock, current=as_of is None).events
                stored = [e for e in events if "event_id" not in e]  # those added keep all
                assert all("product_id" not in e and "amount" in e for e in stored)
                read += len(stored)
        assert selected > 100
        assert read > 1000
    finally:
        for name in EXTRA_RULES:
            (shop.path / "segments" / f"{name}.yaml").unlink()


def test_current_attributes_read_once_are_those_of_the_versions(shop: Workspace) -> None:
    """The snapshot reads every customer's current attributes once, column by column; they
    equal the version in force read from the customer's own rows, lists and missing
    values included."""
    snapshot = shop.segments.prepare().snapshot
    ids = sorted(shop.customers().to_pyarrow().column("customer_id").to_pylist())
    lists = 0
    for customer in ids:
        versions = snapshot.versions(customer)
        in_force = [v for v in versions if v["valid_to"] is None]
        expected = {k: in_force[0][k] for k in snapshot.attributes(customer, None)}
        assert snapshot.attributes(customer, None) == expected, customer
        assert len(versions) >= 1
        lists += any(isinstance(v, list) for v in expected.values())
    assert any(len(snapshot.versions(c)) > 1 for c in ids)  # updated customers are in it
    assert lists > 0


@pytest.mark.parametrize("few", [None, 8])
def test_events_read_column_by_column_are_the_stored_rows(
    shop: Workspace, few: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot builds a customer's event rows itself (timestamps from their integer
    microseconds, columns of few values through codes, the others from Arrow): they are
    the stored rows, every column and missing value alike. In this small shop every
    column has few values; ``few`` makes only some of them so."""
    import microseg.profile._snapshot as snapshot_module
    from microseg.lang import Clock

    if few is not None:
        monkeypatch.setattr(snapshot_module, "_FEW_VALUES", few)
        monkeypatch.setattr(snapshot_module, "_ROWS_PER_VALUE", 10**9)
    snapshot = shop.segments.prepare().snapshot
    reader = snapshot._reader
    coded = [
        codes is not None
        for name, codes in zip(reader.names, reader.codes, strict=True)
        if name not in ("customer_id", "timestamp")
    ]
    assert all(coded) if few is None else any(coded) and not all(coded)
    stored: dict[str, list[dict[str, object]]] = {}
    for row in shop.store.table("events").drop("load_id").to_pyarrow().to_pylist():
        stored.setdefault(str(row["customer_id"]), []).append(row)
    later = Clock(datetime(2100, 1, 1), "Europe/Paris")
    for customer, rows in stored.items():
        # the times first: read from the column, before the rows are kept
        assert snapshot.event_times(customer) == sorted(r["timestamp"] for r in rows)
        events = snapshot.of(customer, later, current=True).events
        assert sorted(events, key=lambda r: str(r["event_id"])) == sorted(
            rows, key=lambda r: str(r["event_id"])
        ), customer
    assert sum(len(r) for r in stored.values()) > 1000


def test_an_unknown_customer_is_a_clear_error(shop: Workspace) -> None:
    from microseg import WorkspaceError

    evaluator = shop.segments.prepare()
    with pytest.raises(WorkspaceError, match="no customer 'nobody'"):
        evaluator.of("nobody")


def test_the_batch_profile_carries_attributes_traits_and_clusters(shop: Workspace) -> None:
    """ws.profile.table: one row per customer, the same values the per-profile path gives."""
    run_id = shop.discover.resolve("prep")
    table = shop.profile.table(
        "2026-10-31", traits=["total_spend", "lifecycle_stage"], runs=["prep"]
    ).to_pyarrow()
    rows = {r["customer_id"]: r for r in table.to_pylist()}
    assert len(rows) == table.num_rows == shop.customers().count().to_pyarrow().as_py()
    assert {"total_spend", "lifecycle_stage", cluster_column(run_id), "gender"} <= set(
        table.column_names
    )
    for customer_id in sorted(rows)[::50]:
        one = shop.traits.of(customer_id, as_of="2026-10-31")
        assert rows[customer_id]["lifecycle_stage"] == one["lifecycle_stage"]
        assert rows[customer_id]["total_spend"] == pytest.approx(one["total_spend"])
        cluster, _ = shop.discover.assign(customer_id, "prep", as_of="2026-10-31")
        assert rows[customer_id][cluster_column(run_id)] == cluster
    plain = shop.profile.table("2026-10-31")
    assert "total_spend" not in plain.columns
