"""Two threads, each with its own session, evaluate different segments at different
instants at the same time, and get what each gets alone."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from microseg import Workspace
from microseg.synth import generate_shop

EXAMPLES = Path(__file__).parents[1] / "src" / "microseg" / "segments" / "examples"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
REQUESTS = {
    "left": (["anime-buyers", "abandoned-carts", "holdout-10"], "2026-06-30"),
    "right": (["lapsed-big-spenders", "email-never-openers", "anime-buyers"], "2026-10-31"),
}
ROUNDS = 4


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root: Path = tmp_path_factory.mktemp("concurrent")
    data = generate_shop(root / "data", customers=400, seed=9)
    ws = Workspace.init(root / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(data.event_files))
    for example in EXAMPLES.glob("*.yaml"):
        shutil.copy(example, ws.path / "segments" / example.name)
    yield ws
    ws.close()


def _members(ws: Workspace, names: list[str], as_of: str) -> dict[str, set[str]]:
    run = ws.segments.evaluate(names, as_of=as_of, save=False)
    rows = run.members  # one evaluation, read back through its own handle
    return {n: set(rows(n).to_pyarrow().column("customer_id").to_pylist()) for n in names}


def test_two_threads_get_what_each_gets_alone(shop: Workspace) -> None:
    alone = {key: _members(shop, names, as_of) for key, (names, as_of) in REQUESTS.items()}
    assert alone["left"]["anime-buyers"] != alone["right"]["anime-buyers"]  # instants differ
    assert all(members for found in alone.values() for members in found.values())

    start = threading.Barrier(len(REQUESTS))
    seen: dict[str, list[dict[str, set[str]]]] = {key: [] for key in REQUESTS}
    errors: list[BaseException] = []

    def request(key: str) -> None:
        names, as_of = REQUESTS[key]
        try:
            with shop.session() as session:
                start.wait(timeout=30)
                for _ in range(ROUNDS):
                    seen[key].append(_members(session, names, as_of))
        except BaseException as error:  # reported below, with the thread's key
            errors.append(error)

    threads = [threading.Thread(target=request, args=(key,)) for key in REQUESTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    for key in REQUESTS:
        assert len(seen[key]) == ROUNDS
        for found in seen[key]:
            assert found == alone[key], key


def test_one_session_keeps_two_results_apart(shop: Workspace) -> None:
    """Two evaluations in one process no longer share a scratch table: the first result
    still holds its members after the second ran."""
    first = shop.segments.evaluate(["anime-buyers"], as_of="2026-06-30", save=False)
    before = first.members("anime-buyers").to_pyarrow()
    second = shop.segments.evaluate(["anime-buyers"], as_of="2026-10-31", save=False)
    assert first.result is not None
    assert second.result is not None
    assert first.result.name != second.result.name
    assert first.members("anime-buyers").to_pyarrow().equals(before)
    assert second.sizes["anime-buyers"] != first.sizes["anime-buyers"]


def test_members_of_a_segment_the_run_did_not_evaluate(shop: Workspace) -> None:
    """A name the run does not hold is a plain message that lists the ones it does."""
    from microseg import WorkspaceError

    run = shop.segments.evaluate(["anime-buyers"], as_of="2026-06-30", save=False)
    with pytest.raises(WorkspaceError, match=r"'vip' was not evaluated in this run.*anime-buyers"):
        run.members("vip")
