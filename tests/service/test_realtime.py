"""The real-time path over real HTTP: an event makes a customer enter a segment at once
(the stream and the membership log see it), a window running out makes them leave at the
exact instant, and after a random stream of events batch and real time agree."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from microseg import Workspace
from microseg.service import ServiceSettings, create_app
from microseg.service import _evaluator as evaluator_module
from microseg.service._guard import store_threads
from microseg.service._realtime import differences, window_lengths
from microseg.synth import generate_shop
from tests.conftest import NOW
from tests.service.conftest import MovableClock, Served, build_shop, serve_workspace

EXAMPLES = Path(__file__).parents[2] / "src" / "microseg" / "segments" / "examples"


def _listen(served: Served, into: queue.Queue[dict[str, object]], **params: str) -> None:
    """Read the membership stream in a thread, putting each change into ``into``."""
    headers = {"Authorization": f"Bearer {served.keys['read']}"}
    try:
        with (
            httpx.Client(base_url=served.url, headers=headers, timeout=None) as client,
            client.stream("GET", "/api/stream/memberships", params=params) as reply,
        ):
            into.put({"status": reply.status_code})
            for line in reply.iter_lines():
                if line.startswith("data: "):
                    into.put(json.loads(line[6:]))
    except httpx.TransportError:
        pass  # the server stopped at the end of the test and cut the stream


@pytest.fixture
def stream(served: Served) -> Iterator[queue.Queue[dict[str, object]]]:
    changes: queue.Queue[dict[str, object]] = queue.Queue()
    threading.Thread(target=_listen, args=(served, changes), daemon=True).start()
    assert changes.get(timeout=20) == {"status": 200}
    time.sleep(0.2)  # the listener is registered once the stream's first line is out
    return changes


def _log(served: Served) -> list[dict[str, object]]:
    with served.workspace.session() as session:
        table = session.store.table("membership_log").order_by(["changed_at", "segment"])
        return table.to_pyarrow().to_pylist()


def test_an_event_makes_a_customer_enter_at_once(
    served: Served, stream: queue.Queue[dict[str, object]]
) -> None:
    with served.client("read") as reader:
        assert reader.get("/api/segments-of/C2").json()["segments"] == []
    event = {"event_id": "rt1", "customer_id": "C2", "timestamp": "2026-01-15T11:00:00Z",
             "type": "purchase", "amount": 20.0}  # fmt: skip
    with served.client("write") as writer:
        assert writer.post("/api/events", json=event).is_success
    change = stream.get(timeout=20)
    assert change == {
        "at": "2026-01-15T12:00:00Z",
        "customer_id": "C2",
        "segment": "buyers",
        "change": "entered",
        "trigger": "rt1",
    }
    with served.client("read") as reader:
        assert reader.get("/api/segments-of/C2").json()["segments"] == ["buyers"]
    deadline = time.monotonic() + 20
    while not (logged := _log(served)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(r["customer_id"], r["segment"], r["change"], r["trigger"]) for r in logged] == [
        ("C2", "buyers", "entered", "rt1")
    ]


def test_a_window_running_out_makes_them_leave_at_the_exact_instant(
    served: Served, stream: queue.Queue[dict[str, object]]
) -> None:
    # C1's last purchase: 2026-01-10 10:00 UTC; buyers looks 90 days back
    leaves = datetime(2026, 1, 10, 10, 0) + timedelta(days=90, microseconds=1)
    engine = served.app.state.realtime
    # timers are set at every instant an event leaves a window (C1's first purchase leaves
    # on 1 March without changing anything); the last one is when C1 leaves
    assert engine.next_change("C1", leaves - timedelta(days=1)) == leaves
    served.clock.now = (leaves - timedelta(seconds=1)).replace(tzinfo=UTC)
    time.sleep(0.5)
    assert stream.empty()
    served.clock.now = (leaves + timedelta(hours=1)).replace(tzinfo=UTC)
    change = stream.get(timeout=20)
    assert change["customer_id"] == "C1"
    assert change["change"] == "left"
    assert change["trigger"] == "expiry"
    assert change["at"] == "2026-04-10T10:00:00.000001Z"  # not when the timer ran: exact
    deadline = time.monotonic() + 20
    while not (logged := _log(served)) and time.monotonic() < deadline:
        time.sleep(0.05)  # the timer thread logs the change as it publishes it
    assert logged[-1]["changed_at"] == leaves
    with served.client("write") as writer:
        assert writer.post("/api/reconcile").json()["disagreements"] == []


def test_the_stream_filters_by_segment(served: Served) -> None:
    changes: queue.Queue[dict[str, object]] = queue.Queue()
    threading.Thread(
        target=_listen, args=(served, changes), kwargs={"segment": "women"}, daemon=True
    ).start()
    assert changes.get(timeout=20) == {"status": 200}
    time.sleep(0.2)
    with served.client("write") as writer:
        writer.post("/api/events", json={"event_id": "f1", "customer_id": "C2",
                                         "timestamp": "2026-01-15T11:00:00Z",
                                         "type": "purchase"})  # fmt: skip
        writer.post("/api/customers", json={"customer_id": "C2", "gender": "female"})
    change = changes.get(timeout=20)
    assert (change["segment"], change["change"], change["trigger"]) == (
        "women", "entered", "profile"
    )  # fmt: skip
    time.sleep(0.3)
    assert changes.empty()  # buyers' entry was not sent on this stream


def test_window_lengths_come_from_every_kind_of_window() -> None:
    from microseg.lang import load_definition

    rules = [load_definition(p).rule for p in sorted(EXAMPLES.glob("*.yaml"))]
    lengths = window_lengths(rules)
    assert timedelta(days=2) in lengths.fixed  # a sequence step's within
    assert timedelta(days=30) in lengths.fixed  # last: 30 days
    assert lengths.calendar  # from: 6 months ago


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 0], ids=["evaluator processes", "in process"])
def test_after_a_random_stream_batch_and_real_time_agree(tmp_path: Path, processes: int) -> None:
    """Many customers, every example segment (events with properties and windows,
    sequences, attributes, parents, absence), events and clock moves at random: the
    real-time state then equals batch evaluation, customer by customer, whether the
    evaluations run in a process of their own or in the service's."""
    end = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    clock = MovableClock(end)
    shop = generate_shop(tmp_path / "data", customers=400, seed=3, end=end.date())
    ws = Workspace.init(tmp_path / "shop", timezone="Europe/Paris", clock=clock)
    ws.ingest("products", shop.paths["products"])
    ws.ingest("customers", shop.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(shop.event_files))
    for example in EXAMPLES.glob("*.yaml"):
        (ws.path / "segments" / example.name).write_text(example.read_text())
    settings = ServiceSettings(
        rate=1000, burst=1000, max_body=200_000, evaluator_processes=processes
    )
    served_gen = serve_workspace(ws, clock, settings)
    served = next(served_gen)
    try:
        rng = random.Random(11)
        ids = [f"C{n:08d}" for n in range(1, 401)]
        types = ["purchase", "cart_add", "search", "view", "email_open", "email_sent"]
        categories = ["anime", "books", "travel", "toys"]
        with served.client("write") as writer:
            for batch in range(12):
                records = []
                for n in range(25):
                    moment = clock.now - timedelta(minutes=rng.randint(1, 600))
                    records.append({
                        "event_id": f"r{batch}-{n}", "customer_id": rng.choice(ids),
                        "timestamp": moment.isoformat(), "type": rng.choice(types),
                        "amount": round(rng.uniform(5, 200), 2),
                        "category": rng.choice(categories),
                        "query": rng.choice(["character shoes", "sneakers", "tea"]),
                    })  # fmt: skip
                reply = writer.post("/api/events", json=records)
                assert reply.is_success, reply.text
                clock.now += timedelta(hours=rng.randint(1, 72))
                time.sleep(0.2)  # the timers follow the clock
            found = writer.post("/api/reconcile").json()
        assert found["customers"] == 400
        assert found["disagreements"] == []
        engine = served.app.state.realtime
        assert engine.changes > 0  # the stream did move customers
        assert engine.expiries > 0  # and windows ran out
        assert (engine.forks > 0, engine.fallbacks) == (processes > 0, 0)
    finally:
        served_gen.close()


def _named(pid: int, name: str) -> bool:
    """Whether a process takes ``name`` within 10 s (a copy names itself as it starts)."""
    deadline = time.monotonic() + 10
    while True:
        with open(f"/proc/{pid}/comm", encoding="ascii") as comm:
            if comm.read().strip() == name:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def _copy_pids(served: Served) -> list[int]:
    copies = served.app.state.realtime._copies
    assert copies is not None
    assert len(copies.pids) == 2  # the default
    assert all(pid > 0 for pid in copies.pids)
    return list(copies.pids)


def test_the_evaluator_process_is_made_again_when_stale_or_gone(
    served: Served, stream: queue.Queue[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copies hold while only events arrive; a new customer read into the state makes
    them stale and new ones are made; when a copy is killed the service evaluates itself
    (the same answers), then makes them again. A copy keeps no file of the service open
    but its pipes."""
    engine = served.app.state.realtime

    def buy(writer: httpx.Client, event_id: str, customer: str) -> dict[str, object]:
        event = {"event_id": event_id, "customer_id": customer, "type": "purchase",
                 "timestamp": "2026-01-15T10:00:00Z", "amount": 5.0}  # fmt: skip
        assert writer.post("/api/events", json=event).is_success
        return stream.get(timeout=20)

    with served.client("write") as writer:
        assert buy(writer, "k1", "C2")["segment"] == "buyers"  # C2 had not bought lately
        first = _copy_pids(served)
        assert engine.forks == 1
        for pid in first:
            assert _named(pid, "microseg-eval")  # what ps and top show
            kept = sorted(os.listdir(f"/proc/{pid}/fd"), key=int)
            assert len(kept) == 5, kept  # standard input, output and error; two pipes
            assert all("pipe:" in os.readlink(f"/proc/{pid}/fd/{fd}") for fd in kept[3:])
        pipeline = served.app.state.pipeline
        view = {"event_id": "k1v", "customer_id": "C1", "type": "view",
                "timestamp": "2026-01-15T10:00:00Z"}  # fmt: skip
        assert writer.post("/api/events", json=view).is_success  # concerns no segment
        pipeline.wait_applied()
        more = {**view, "event_id": "k1b", "type": "purchase", "amount": 2.0}
        assert writer.post("/api/events", json=more).is_success  # C1 stays in buyers
        pipeline.wait_applied()
        assert (engine.forks, engine.fallbacks) == (1, 0)  # the view went with this one
        assert buy(writer, "k2", "C7")["customer_id"] == "C7"  # new: read into the state
        again = {"event_id": "k3", "customer_id": "C1", "type": "purchase",
                 "timestamp": "2026-01-15T10:00:00Z", "amount": 1.0}  # fmt: skip
        assert writer.post("/api/events", json=again).is_success  # C1 stays in
        pipeline.wait_applied()
        assert engine.forks == 2  # the new customer made the first copy stale
        second = _copy_pids(served)[hash("C3") % 2]  # the copy with C3's share
        os.kill(second, signal.SIGKILL)
        os.waitpid(second, 0)
        assert buy(writer, "k4", "C3")["segment"] == "buyers"
        assert (engine.forks, engine.fallbacks) == (2, 1)  # C3 evaluated in the service
        assert writer.post("/api/events", json={**again, "event_id": "k5"}).is_success
        pipeline.wait_applied()
        assert (engine.forks, engine.fallbacks) == (3, 1)
        stuck = _copy_pids(served)[hash("C1") % 2]
        os.kill(stuck, signal.SIGSTOP)  # a copy that does not answer is given up
        monkeypatch.setattr(evaluator_module, "PATIENCE", 0.3)
        assert writer.post("/api/events", json={**again, "event_id": "k6"}).is_success
        pipeline.wait_applied()
        assert (engine.forks, engine.fallbacks) == (3, 2)
        assert not os.path.exists(f"/proc/{stuck}")  # killed, and waited for
        metrics = writer.get("/metrics").text
        assert "microseg_evaluator_processes 0.0" in metrics
        assert "microseg_evaluator_fallbacks 2.0" in metrics
        assert writer.post("/api/events", json={**again, "event_id": "k7"}).is_success
        pipeline.wait_applied()
        assert "microseg_evaluator_processes 2.0" in writer.get("/metrics").text
        assert writer.post("/api/reconcile").json()["disagreements"] == []
    assert not any(os.path.exists(f"/proc/{pid}") for pid in first)


def test_a_disagreement_is_reported_with_both_answers_and_its_explanation(
    served: Served,
) -> None:
    engine = served.app.state.realtime
    assert "women" in engine.segments_of("C1")
    engine.state["C1"] = engine.state["C1"] - {"women"}  # as if an update had been missed
    with served.client("write") as writer:
        looked = writer.post("/api/reconcile", params={"heal": "false"}).json()
        assert (len(looked["disagreements"]), looked["healed"]) == (1, 0)
        assert "women" not in engine.segments_of("C1")  # only looked
        found = writer.post("/api/reconcile").json()
        metrics = writer.get("/metrics").text
    assert len(found["disagreements"]) == 1
    wrong = found["disagreements"][0]
    assert (wrong["customer_id"], wrong["segment"], wrong["realtime"], wrong["batch"]) == (
        "C1", "women", False, True
    )  # fmt: skip
    assert wrong["explain"]["holds"] is True
    assert "gender" in wrong["explain"]["text"]
    assert "microseg_reconciliation_disagreements_total 2.0" in metrics  # seen twice
    # then healed: the batch answer is taken, and logged
    assert found["healed"] == 1
    assert "women" in engine.segments_of("C1")
    assert ("C1", "women", "entered", "reconcile") in [
        (r["customer_id"], r["segment"], r["change"], r["trigger"]) for r in _log(served)
    ]
    with served.client("write") as writer:
        assert writer.post("/api/reconcile").json()["disagreements"] == []


def test_reconciliation_also_runs_on_a_schedule(tmp_path: Path) -> None:
    clock = MovableClock(NOW)
    settings = ServiceSettings(rate=1000, burst=1000, reconcile_every=0.3)
    served_gen = serve_workspace(build_shop(tmp_path / "shop", clock), clock, settings)
    served = next(served_gen)
    try:
        engine = served.app.state.realtime
        engine.state["C1"] = engine.state["C1"] - {"women"}
        deadline = time.monotonic() + 30
        while "women" not in engine.segments_of("C1"):
            assert time.monotonic() < deadline, "no scheduled reconciliation healed it"
            time.sleep(0.05)
        with served.client("read") as reader:
            metrics = reader.get("/metrics").text
        assert "microseg_reconciliation_disagreements_total 1.0" in metrics
    finally:
        served_gen.close()


def test_many_events_at_once_are_evaluated_in_batch_with_the_same_changes(
    served: Served, stream: queue.Queue[dict[str, object]]
) -> None:
    served.app.state.pipeline.bulk_rows = 4  # this batch is "many"
    events = [
        {"event_id": f"bulk{n}", "customer_id": "C2", "timestamp": "2026-01-15T11:00:00Z",
         "type": "view"}
        for n in range(5)
    ] + [{"event_id": "bulk-buy", "customer_id": "C2", "timestamp": "2026-01-15T11:30:00Z",
          "type": "purchase", "amount": 20.0}]  # fmt: skip
    with served.client("write") as writer:
        reply = writer.post("/api/events", json=events)
        assert reply.status_code == 202, reply.text
        assert reply.json()["accepted"] == 6
    change = stream.get(timeout=20)
    assert (change["customer_id"], change["segment"], change["change"]) == (
        "C2",
        "buyers",
        "entered",
    )
    assert change["trigger"] == "bulk-buy"  # the customer's last event of the batch
    assert served.app.state.pipeline.bulks == 1
    with served.client("write") as writer:
        assert writer.get("/api/segments-of/C2").json()["segments"] == ["buyers"]
        assert writer.post("/api/reconcile").json()["disagreements"] == []
    assert ("C2", "buyers", "entered", "bulk-buy") in [
        (r["customer_id"], r["segment"], r["change"], r["trigger"]) for r in _log(served)
    ]


def test_an_import_sent_as_several_requests_is_evaluated_in_batch_once(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large requests arriving one after another are gathered into one bulk (stored and
    evaluated in batch together) while they keep arriving, and not for longer than
    ``bulk_gather``: a steady import is still evaluated."""
    from microseg.service import _pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "SCREEN_ON_LOOP", 3)  # 5 records: a large request
    pipeline = served.app.state.pipeline
    pipeline.bulk_rows = 4
    pipeline.bulk_quiet = 1.0  # wide, against a slow machine

    def batch(tag: str) -> list[dict[str, object]]:
        return [{"event_id": f"{tag}{n}", "customer_id": "C2", "type": "view",
                 "timestamp": f"2026-01-15T11:0{n}:00Z"} for n in range(5)]  # fmt: skip

    with served.client("write") as writer:
        for tag in ("a", "b", "c"):
            assert writer.post("/api/events", json=batch(tag)).status_code == 202
        begun = time.monotonic()
        served.app.state.pipeline.wait_applied()
        assert pipeline.bulks == 1  # one batch evaluation for the three
        assert time.monotonic() - begun < 15
        assert pipeline.unstored == 0
        # arriving faster than the quiet period for longer than bulk_gather: not held
        pipeline.bulk_quiet, pipeline.bulk_gather = 10.0, 0.5
        begun = time.monotonic()
        n = 0
        while pipeline.bulks < 2 and time.monotonic() - begun < 8:
            n += 1
            assert writer.post("/api/events", json=batch(f"d{n}-")).status_code == 202
            time.sleep(0.05)
        assert pipeline.bulks >= 2, "a steady import was held past bulk_gather"
        assert writer.post("/api/reconcile").json()["disagreements"] == []


def test_many_events_of_the_slow_lane_are_evaluated_in_batch_too(
    served: Served, stream: queue.Queue[dict[str, object]]
) -> None:
    served.app.state.pipeline.bulk_rows = 4
    events = [
        {"event_id": f"slow{n}", "customer_id": "C2", "timestamp": "2026-01-15T11:00:00Z",
         "type": "purchase", "amount": 5.0, "colour": "red"}  # a property: the slow lane
        for n in range(5)
    ]  # fmt: skip
    with served.client("write") as writer:
        reply = writer.post("/api/events", json=events)
        assert reply.status_code == 200, reply.text
    change = stream.get(timeout=20)
    assert (change["customer_id"], change["segment"], change["change"]) == (
        "C2",
        "buyers",
        "entered",
    )
    with served.client("write") as writer:
        assert writer.post("/api/reconcile").json()["disagreements"] == []


def test_timers_due_before_an_event_run_before_it(tmp_path: Path) -> None:
    """An event evaluated at now must not be overwritten by a timer due earlier that had
    not run yet (the timer thread is late, or the clock jumped)."""
    from microseg.ingest import EventScreen
    from microseg.service._realtime import RealTime

    clock = MovableClock(NOW)
    ws = build_shop(tmp_path / "shop", clock)
    try:
        engine = RealTime(ws)
        assert "buyers" in engine.segments_of("C1")  # bought 2026-01-10: out on 04-10
        clock.now = datetime(2026, 5, 1, 12, tzinfo=UTC)
        record = {"event_id": "late", "customer_id": "C1", "type": "purchase",
                  "timestamp": "2026-04-20T10:00:00Z", "amount": 9.0}  # fmt: skip
        row = EventScreen.of(ws.config).row(record, engine.now(), engine.resolve)
        assert row is not None
        changes = engine.apply([row])
        assert changes is not None
        assert [(c.change, c.trigger, c.at.isoformat()) for c in changes] == [
            ("left", "expiry", "2026-04-10T10:00:00.000001+00:00"),
            ("entered", "late", "2026-05-01T12:00:00+00:00"),
        ]
        assert engine.run_due() == []  # nothing left to overwrite the answer at now
        assert "buyers" in engine.segments_of("C1")
    finally:
        ws.close()


def test_new_and_updated_customers_are_read_without_reloading_everyone(
    served: Served, stream: queue.Queue[dict[str, object]]
) -> None:
    engine = served.app.state.realtime
    loads = engine.prepared.loads
    first = {"event_id": "n1", "customer_id": "C7", "timestamp": "2026-01-15T11:00:00Z",
             "type": "purchase", "amount": 10.0}  # fmt: skip
    with served.client("write") as writer:
        assert writer.post("/api/events", json=first).status_code == 200  # a new customer
        change = stream.get(timeout=20)
        assert (change["customer_id"], change["segment"], change["change"]) == (
            "C7",
            "buyers",
            "entered",
        )
        assert engine.knows("C7")
        update = {"customer_id": "C7", "gender": "female"}
        assert writer.post("/api/customers", json=update).status_code == 200
        change = stream.get(timeout=20)
        assert (change["customer_id"], change["segment"], change["trigger"]) == (
            "C7",
            "women",
            "profile",
        )
        later = {**first, "event_id": "n2", "timestamp": "2026-01-15T11:30:00Z"}
        assert writer.post("/api/events", json=later).status_code == 202  # now known
        assert writer.post("/api/reconcile").json()["disagreements"] == []
    assert engine.prepared.loads == loads  # nobody else was read again
    assert engine.rereads == 2


def test_the_storers_loads_do_not_reload_everyone(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the storer loads through its own session and then settles the real-time state; an
    # event applied in between saw a new generation stamp and loaded every customer again
    # (a quarter of the applier's time under load). The window is widened here.
    import microseg.segments._prepared as prepared_module
    from microseg.service._realtime import RealTime

    monkeypatch.setattr(prepared_module, "RECHECK_SECONDS", 0.0)
    settle = RealTime.settle

    def slowly(self: RealTime, rows: list[dict[str, object]]) -> None:
        time.sleep(0.15)
        settle(self, rows)

    monkeypatch.setattr(RealTime, "settle", slowly)
    engine = served.app.state.realtime
    loads = engine.prepared.loads
    served.app.state.pipeline._flush_seconds = 0.1  # several loads while events arrive
    with served.client("write") as writer:
        for n in range(40):
            event = {"event_id": f"s{n}", "customer_id": f"C{n % 2 + 1}", "type": "view",
                     "timestamp": f"2026-01-15T10:{n:02d}:00Z"}  # fmt: skip
            assert writer.post("/api/events", json=event).status_code == 202
            time.sleep(0.01)
        assert writer.post("/api/reconcile").json()["disagreements"] == []
    assert served.app.state.pipeline.flushes >= 2
    assert engine.prepared.loads == loads


def test_events_are_applied_while_a_load_reads_the_stores_generation(tmp_path: Path) -> None:
    """The storer settles each load by reading the store's generation, a query that waits
    for the database the load just used (up to 40 ms under load): it must not hold the
    real-time lock meanwhile, or the events arriving wait for it."""

    from microseg.ingest import EventScreen
    from microseg.service._realtime import RealTime

    clock = MovableClock(NOW)
    ws = build_shop(tmp_path / "shop", clock)
    try:
        engine = RealTime(ws)
        asking, answer = threading.Event(), threading.Event()
        store = engine.prepared._context.store  # the real-time state's own session
        generation = store.generation

        def slow_generation() -> object:
            asking.set()
            assert answer.wait(10)
            return generation()

        store.generation = slow_generation  # type: ignore[method-assign]
        settling = threading.Thread(target=engine.settle, args=([],))
        settling.start()
        assert asking.wait(10)
        record = {"event_id": "meanwhile", "customer_id": "C2", "type": "view",
                  "timestamp": "2026-01-15T10:00:00Z"}  # fmt: skip
        row = EventScreen.of(ws.config).row(record, engine.now(), engine.resolve)
        applied: list[object] = []
        applying = threading.Thread(target=lambda: applied.append(engine.apply([row])))
        applying.start()
        applying.join(5)
        done_meanwhile = not applying.is_alive()
        answer.set()
        settling.join(10)
        applying.join(10)
        assert done_meanwhile, "the event waited for the store's generation to be read"
        assert applied
        assert applied[0] is not None
        assert engine.prepared.generation[0] == generation()
    finally:
        ws.close()


def test_copies_that_cannot_be_made_are_not_tried_at_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When fork fails (no memory or processes left), the service evaluates in its own
    process, with the same answers, and tries again only a minute later."""
    from microseg.ingest import EventScreen
    from microseg.service._realtime import RealTime

    tried = []

    def no_fork() -> int:
        tried.append(1)
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(evaluator_module.os, "fork", no_fork)
    ws = build_shop(tmp_path / "shop", MovableClock(NOW))
    try:
        engine = RealTime(ws, processes=2)
        screen = EventScreen.of(ws.config)
        for n, customer in enumerate(["C2", "C3", "C2"]):
            record = {"event_id": f"f{n}", "customer_id": customer, "type": "purchase",
                      "timestamp": "2026-01-15T10:00:00Z", "amount": 3.0}  # fmt: skip
            row = screen.row(record, engine.now(), engine.resolve)
            assert row is not None
            engine.apply([row])
        assert (len(tried), engine.fallbacks, engine.forks) == (1, 1, 0)
        assert "buyers" in engine.segments_of("C2")
        assert "buyers" in engine.segments_of("C3")
        engine.close()
    finally:
        ws.close()


def test_each_customer_evaluated_by_the_copies_is_timed(tmp_path: Path) -> None:
    """``microseg_evaluation_seconds`` counts one observation per customer evaluated,
    whether by the evaluator processes (several customers per question) or here."""
    from microseg.ingest import EventScreen
    from microseg.service._realtime import RealTime

    ws = build_shop(tmp_path / "shop", MovableClock(NOW))
    try:
        for processes in (2, 0):
            engine = RealTime(ws, processes=processes)
            seen: list[float] = []
            engine.timed = seen.append
            screen = EventScreen.of(ws.config)
            rows = []
            for customer in ("C1", "C2", "C3"):
                record = {"event_id": f"t{processes}{customer}", "customer_id": customer,
                          "type": "purchase", "timestamp": "2026-01-15T10:00:00Z",
                          "amount": 3.0}  # fmt: skip
                row = screen.row(record, engine.now(), engine.resolve)
                assert row is not None
                rows.append(row)
            assert engine.apply(rows) is not None
            assert (len(seen), engine.forks) == (3, 1 if processes else 0)
            engine.close()
    finally:
        ws.close()


def test_the_storer_is_not_woken_for_every_event_it_holds(served: Served) -> None:
    # the storer was woken at every event the applier handed it and counted what it held
    # by walking all of it: quadratic in the events of a flush, half its time under load
    pipeline = served.app.state.pipeline
    pipeline._flush_seconds = 30.0  # no load while the events arrive
    with served.client("write") as writer:
        event = {"event_id": "r0", "customer_id": "C1", "type": "view",
                 "timestamp": "2026-01-15T10:00:00Z"}  # fmt: skip
        assert writer.post("/api/events", json=event).status_code == 202
        pipeline.wait_applied()
        time.sleep(0.2)  # the storer holds the first event, on its timer
        rounds, flushes = pipeline.storer_rounds, pipeline.flushes
        for n in range(1, 41):
            event = {**event, "event_id": f"r{n}", "timestamp": f"2026-01-15T10:{n:02d}:00Z"}
            assert writer.post("/api/events", json=event).status_code == 202
        pipeline.wait_applied()
        assert pipeline.storer_rounds - rounds <= 2
        assert pipeline.flushes == flushes
        pipeline.drain()  # stored all the same, when asked for
        assert pipeline.flushes == flushes + 1
    with served.workspace.session() as session:
        found = session.store.scalar("SELECT count(*) FROM events WHERE event_id LIKE 'r%'")
    assert found == 41
    # the load is timed, for /metrics and for bench/bench_service.py's picture
    (begun, ended, records), *_ = pipeline.loads
    assert (records, begun <= ended) == (41, True)
    with served.client("read") as reader:
        text = reader.get("/metrics").text
    assert "microseg_store_load_seconds_count 1.0" in text


def test_the_next_expiry_is_the_first_event_leaving_a_window(served: Served) -> None:
    """next_change finds, per window length, the first event still inside it by
    bisection; the answer is the smallest of stamp + length (+1 µs) after the instant, as
    trying every event against every length gives it."""
    engine = served.app.state.realtime
    with served.client("write") as writer:
        for n, day in enumerate([2, 5, 5, 9, 12]):
            event = {"event_id": f"w{n}", "customer_id": "C2", "type": "purchase",
                     "timestamp": f"2026-01-{day:02d}T08:00:00Z"}  # fmt: skip
            assert writer.post("/api/events", json=event).status_code == 202
        writer.get("/api/segments-of/C2")  # applied
    stamps = engine.prepared.snapshot.event_times("C2")
    lengths = (*engine._lengths.fixed, *engine._lengths.calendar)
    assert len(stamps) >= 6
    assert lengths
    one = timedelta(microseconds=1)
    for hours in range(0, 24 * 200, 7):
        after = datetime(2025, 6, 1) + timedelta(hours=hours)
        moments = [s + n + one for n in lengths for s in stamps if s + n + one > after]
        assert engine.next_change("C2", after) == (min(moments) if moments else None), after


def _changes(stream: queue.Queue[dict[str, object]], count: int) -> list[tuple[object, ...]]:
    found = [stream.get(timeout=20) for _ in range(count)]
    return sorted((c["customer_id"], c["segment"], c["change"], c["trigger"]) for c in found)


def test_segments_written_through_the_api_are_followed_at_once(
    served: Served, stream: queue.Queue[dict[str, object]]
) -> None:
    french = {"title": "In France", "rule": {"attribute": "country", "eq": "FR"}}
    with served.client("write") as writer:
        saved = writer.put("/api/segments/french", json=french)
        assert saved.status_code == 200, saved.text
        assert saved.json()["realtime_changes"] == {"entered": 2, "left": 0}
        assert _changes(stream, 2) == [
            ("C1", "french", "entered", "definition"),
            ("C2", "french", "entered", "definition"),
        ]
        assert writer.get("/api/segments-of/C2").json()["segments"] == ["french"]
        # a shorter window: the timers follow it (C1 bought on 10 January, 10:00 UTC)
        shorter = {"rule": {"event": "purchase", "window": {"last": "10 days"}}}
        assert writer.put("/api/segments/buyers", json=shorter).status_code == 200
        engine = served.app.state.realtime
        assert engine.next_due() == datetime(2026, 1, 20, 10, 0, 0, 1)
        served.clock.now = datetime(2026, 1, 21, tzinfo=UTC)
        change = stream.get(timeout=20)
        assert change == {"at": "2026-01-20T10:00:00.000001Z", "customer_id": "C1",
                          "segment": "buyers", "change": "left", "trigger": "expiry"}  # fmt: skip
        # deleted: its members leave it
        deleted = writer.delete("/api/segments/french").json()
        assert deleted["realtime_changes"] == {"entered": 0, "left": 2}
        assert _changes(stream, 2) == [
            ("C1", "french", "left", "definition"),
            ("C2", "french", "left", "definition"),
        ]
        assert writer.post("/api/reconcile").json()["disagreements"] == []
        logged = writer.get("/api/segments/french/changes").json()["changes"]
    assert [(r["customer_id"], r["change"]) for r in logged] == [
        ("C1", "left"), ("C2", "left"), ("C1", "entered"), ("C2", "entered")
    ]  # fmt: skip


def test_a_segment_file_written_by_hand_is_followed(
    served: Served, stream: queue.Queue[dict[str, object]]
) -> None:
    (served.workspace.path / "segments" / "germans.yaml").write_text(
        "name: germans\nrule: {attribute: country, eq: DE}\n", encoding="utf-8"
    )
    assert _changes(stream, 1) == [("C3", "germans", "entered", "definition")]
    with served.client("read") as reader:
        assert reader.get("/api/segments-of/C3").json()["segments"] == ["germans", "women"]


def test_a_discovered_cluster_saved_as_a_segment_is_followed(tmp_path: Path) -> None:
    end = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    clock = MovableClock(end)
    shop = generate_shop(tmp_path / "data", customers=300, seed=5, end=end.date())
    ws = Workspace.init(tmp_path / "shop", timezone="Europe/Paris", clock=clock)
    ws.ingest("customers", shop.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(shop.event_files))
    ws.discover.run(seed=1, name="found", refits=0, max_clusters=3)
    served_gen = serve_workspace(ws, clock)
    served = next(served_gen)
    try:
        cluster = ws.discover.show("found")["clusters"][0]
        with served.client("read") as reader:
            body = {"name": "first-cluster"}
            refused = reader.post("/api/discover/runs/found/clusters/0/save", json=body)
            assert refused.status_code == 403
            # the list writes instants as one run's answer does (without Z before)
            listed = reader.get("/api/discover/runs").json()[0]
            one = reader.get("/api/discover/runs/found").json()
            assert listed["as_of"] == one["as_of"]
            assert listed["as_of"].endswith("Z")
        route = f"/api/discover/runs/found/clusters/{cluster['id']}/save"
        with served.client("write") as writer:
            saved = writer.post(route, json=body)
            assert saved.status_code == 200, saved.text
            assert saved.json()["definition"]["name"] == "first-cluster"
            entered = saved.json()["realtime_changes"]["entered"]
            size = writer.get("/api/segments/first-cluster/size").json()["segments"][0]
            assert entered == size["members"] > 0
            again = writer.post(route, json=body)
            assert again.status_code == 409, again.text
            assert writer.post("/api/reconcile").json()["disagreements"] == []
    finally:
        served_gen.close()


def test_expiries_take_the_population_values_held_not_one_per_instant(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Score cut points and the value fit are population values: computed per timer
    instant they cost a query over everyone for each expiry (about 0.1 s on the demo shop),
    holding up the events behind it. Expiries take the ones events take."""
    from microseg.traits.api import Traits

    engine = served.app.state.realtime
    asked: list[datetime] = []
    original = Traits.cuts

    def cuts(self: Traits, clock: object, traits: object) -> object:
        asked.append(clock.as_of)  # type: ignore[attr-defined]
        return original(self, clock, traits)  # type: ignore[arg-type]

    monkeypatch.setattr(Traits, "cuts", cuts)
    before = engine.expiries
    engine.run_due(datetime(2026, 6, 1))  # C1's and C2's windows run out, each at its instant
    assert engine.expiries - before >= 2
    assert len(set(asked)) <= 1


def test_concurrent_reads_writes_and_timers_share_no_cursor(served: Served) -> None:
    """Requests, the applier and the expiry thread at once for a few seconds, the clock
    moving so that timers run: no 5xx, and the expiry thread never fails (one DuckDB cursor
    used by two threads at once did, at random)."""
    errors: list[str] = []
    stop = time.monotonic() + 3

    def reads() -> None:
        with served.client("write") as client:
            n = 0
            while time.monotonic() < stop:
                n += 1
                for reply in (
                    client.get("/api/profiles/C1"),
                    client.get("/ready"),
                    client.get("/api/segments/buyers/size"),
                    client.post("/api/events", json={
                        "event_id": f"x{threading.get_ident()}-{n}", "customer_id": "C3",
                        "timestamp": "2026-01-15T11:00:00Z", "type": "view"}),
                ):  # fmt: skip
                    if reply.status_code >= 500:
                        errors.append(reply.text)

    workers = [threading.Thread(target=reads) for _ in range(6)]
    for worker in workers:
        worker.start()
    while time.monotonic() < stop:
        served.clock.now += timedelta(days=3)  # C1's and C2's windows run out meanwhile
        time.sleep(0.1)
    for worker in workers:
        worker.join(timeout=30)
    assert errors == []
    timer = [t for t in threading.enumerate() if t.name == "microseg-expiry"]
    assert len(timer) == 1
    assert timer[0].is_alive()
    assert served.app.state.realtime.expiries >= 2


def test_single_events_wait_for_an_applier_far_behind(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledgements must not outrun the real-time state by more than ``max_lag``:
    under overload events are answered more slowly, and their changes stay fresh."""
    pipeline = served.app.state.pipeline
    engine = served.app.state.realtime
    original = engine.apply

    applied: list[int] = []

    def slow(rows: list[dict[str, object]]) -> object:
        if not applied:  # the first batch takes half a second
            time.sleep(0.5)
        applied.append(len(rows))
        return original(rows)

    monkeypatch.setattr(engine, "apply", slow)
    monkeypatch.setattr(pipeline, "max_lag", 0.05)
    begun = time.monotonic()
    with served.client("write") as writer:
        for n in range(100):  # about 1 ms each: the first is still being applied
            event = {"event_id": f"slow{n}", "customer_id": "C3", "type": "view",
                     "timestamp": "2026-01-15T11:00:00Z"}  # fmt: skip
            assert writer.post("/api/events", json=event).status_code == 202
            assert pipeline.lag <= 0.05 + 0.1  # max_lag, and the pacing's granularity
    assert time.monotonic() - begun >= 0.4  # they waited for the first to be applied


def test_an_event_id_stored_under_another_customer_is_set_right_when_stored(
    served: Served, stream: queue.Queue[dict[str, object]]
) -> None:
    # e1 is C1's stored purchase; the same id for C2 passes the screen (C2 has no e1), so
    # C2 enters at once; the store keeps the first of an id (the loader's rule): C2 leaves
    # again when the batch is stored, and the divergence is counted
    event = {"event_id": "e1", "customer_id": "C2", "timestamp": "2026-01-15T11:00:00Z",
             "type": "purchase", "amount": 20.0}  # fmt: skip
    with served.client("write") as writer:
        assert writer.post("/api/events", json=event).status_code == 202
    entered = stream.get(timeout=20)
    assert (entered["customer_id"], entered["segment"], entered["change"]) == (
        "C2", "buyers", "entered"
    )  # fmt: skip
    left = stream.get(timeout=20)
    assert (left["customer_id"], left["segment"], left["change"]) == ("C2", "buyers", "left")
    assert served.app.state.pipeline.divergences == 1
    assert served.app.state.pipeline.unchecked == 0  # e1 is stored: the store was asked
    with served.client("admin") as admin:
        metrics = admin.get("/metrics").text
        assert "microseg_fast_lane_divergences_total 1.0" in metrics
        assert admin.post("/api/reconcile").json()["disagreements"] == []
        assert admin.get("/api/segments-of/C2").json()["segments"] == []
    with served.workspace.session() as session:
        rows = session.store.fetchall("SELECT customer_id FROM events WHERE event_id = 'e1'")
    assert rows == [("C1",)]


def test_a_load_of_new_ids_skips_the_stores_pass_over_every_id(served: Served) -> None:
    pipeline = served.app.state.pipeline
    pipeline._flush_seconds = 0.1
    with served.client("write") as writer:
        for n in range(3):
            event = {"event_id": f"new{n}", "customer_id": "C3", "type": "view",
                     "timestamp": f"2026-01-15T10:0{n}:00Z"}  # fmt: skip
            assert writer.post("/api/events", json=event).status_code == 202
            deadline = time.monotonic() + 20
            while pipeline.flushes <= n and time.monotonic() < deadline:
                time.sleep(0.02)
        # sent again after it is stored: the screen sees it among C3's events
        again = writer.post("/api/events", json=event).json()
        assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert (pipeline.flushes, pipeline.unchecked) == (3, 3)
    with served.workspace.session() as session:
        rows = session.store.fetchall(
            "SELECT event_id, load_id FROM events WHERE customer_id = 'C3' ORDER BY event_id"
        )
    assert [r[0] for r in rows] == ["new0", "new1", "new2"]
    assert len({r[1] for r in rows}) == 3


def test_the_store_checks_every_load_when_the_stored_ids_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = build_shop(tmp_path / "shop", MovableClock(NOW))
    store_class = type(ws.store)
    hashes = store_class.event_id_hashes

    def failing(self: object, ids: list[str] | None = None) -> object:
        if ids is None:
            raise RuntimeError("out of memory")
        return hashes(self, ids)  # type: ignore[arg-type]

    monkeypatch.setattr(store_class, "event_id_hashes", failing)
    running = serve_workspace(ws, MovableClock(NOW))
    served = next(running)
    try:
        pipeline = served.app.state.pipeline
        pipeline._flush_seconds = 0.1
        event = {"event_id": "new0", "customer_id": "C3", "type": "view",
                 "timestamp": "2026-01-15T10:00:00Z"}  # fmt: skip
        with served.client("write") as writer:
            assert writer.post("/api/events", json=event).status_code == 202
        deadline = time.monotonic() + 20
        while not pipeline.flushes and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (pipeline.flushes, pipeline.unchecked) == (1, 0)  # stored, checked
        with served.workspace.session() as session:
            assert session.store.fetchall(
                "SELECT customer_id FROM events WHERE event_id = 'new0'"
            ) == [("C3",)]
    finally:
        running.close()


def test_the_real_time_clock_is_the_workspaces_whatever_the_servers_zone(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real-time path's now was the workspace's naive UTC instant read again as the
    # server's local time: hours off on a server not set to UTC (windows ran out early or
    # late, the screen's future bound moved)
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert served.app.state.realtime.now() == served.workspace.context.now()
        assert served.app.state.realtime.now() == NOW.replace(tzinfo=None)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("given", "configured", "cores", "expected"),
    [
        ({}, None, 2, 1),  # 2 cores: the service and 2 evaluator processes take them
        ({}, None, 8, 5),
        ({"evaluator_processes": 0}, None, 4, 3),
        ({}, 3, 2, None),  # the workspace's store: threads: stand
        ({"store_threads": 2}, 3, 2, 2),  # --store-threads wins
        ({"realtime": False}, None, 2, None),  # no real-time path to leave cores to
    ],
)
def test_the_stores_threads_leave_the_cores_to_the_real_time_path(
    given: dict[str, object], configured: int | None, cores: int, expected: int | None
) -> None:
    settings = ServiceSettings(**given)  # type: ignore[arg-type]
    assert store_threads(settings, configured, cores) == expected


def test_the_store_works_with_its_serving_threads_and_as_before_once_stopped(
    tmp_path: Path,
) -> None:
    """The threads are the database's (every session's, the storer's included), set once
    the real-time state is read, put back when the service stops."""
    ws = build_shop(tmp_path / "shop", MovableClock(NOW))
    try:
        before = ws.store.threads()
        app = create_app(ws, ServiceSettings(store_threads=before + 1, reconcile_every=0))

        async def serving() -> None:  # the app's start and stop, as uvicorn runs them
            async with app.router.lifespan_context(app):
                assert ws.store.threads() == before + 1
                with ws.store.session() as session:
                    assert session.threads() == before + 1

        asyncio.run(serving())
        assert ws.store.threads() == before
    finally:
        ws.close()


@pytest.mark.parametrize("segments", [5, 63, 64, 150])
def test_batch_differences_as_bit_sets_are_those_of_sets(segments: int) -> None:
    """After a large batch, and at each reconciliation, the batch's answer for every
    customer is compared with the state held as bit sets (one 63-bit word per 63
    segments): the same customers and answers as comparing their sets, with segments
    held that the batch did not evaluate, customers held that it did not see, and
    missing answers (none)."""
    rng = random.Random(segments)
    names = [f"s{i}" for i in range(segments)]
    ids = [f"C{i:04d}" for i in range(400)]
    columns = {name: [rng.choice([True, False, False, None]) for _ in ids] for name in names}
    table = pa.table({"customer_id": ids, **columns})
    shared = [frozenset(rng.sample(names, rng.randint(0, min(6, segments)))) for _ in range(20)]
    state = {c: rng.choice(shared) for c in ids if rng.random() < 0.8}
    state["C0001"] = frozenset({"gone", names[0]})  # a segment deleted since
    state["ZZZ"] = frozenset({names[-1]})  # merged away: not in the batch
    state["ZZY"] = frozenset()
    for i, customer in enumerate(ids[:40]):  # some agree with the batch
        state[customer] = frozenset(n for n in names if columns[n][i])
    expected = []
    for customer in sorted(set(ids) | set(state)):
        at = ids.index(customer) if customer in ids else None
        wanted = frozenset(n for n in names if at is not None and columns[n][at])
        if wanted != state.get(customer, frozenset()):
            expected.append((customer, wanted))
    found = differences(table, names, state)
    assert found == expected
    assert ("ZZZ", frozenset()) in found
    assert all(c != "ZZY" for c, _ in found)
    assert 40 < len(found) < len(ids)
