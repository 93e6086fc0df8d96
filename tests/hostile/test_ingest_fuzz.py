"""Ingestion fuzzed: random headers, values, time forms and mixes of good and bad rows.

Invariants, whatever the input:
* the load ends with a report or a :class:`MicrosegError` (a one-line message), never
  another exception;
* every row read is accounted for: accepted + duplicates + rejected = rows read;
* a refused load changes nothing, and a load never touches the tables it does not feed;
* loading the same file again adds nothing.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microseg import Workspace
from microseg.core.errors import MicrosegError
from tests.conftest import NOW

TABLES = ("events", "customer_registry", "customer_history", "identities", "products", "merges")

CANONICAL_AND_INTERNAL = [
    *("customer_id", "email", "phone", "timestamp", "type", "amount", "quantity", "discount"),
    *("category", "event_id", "valid_from", "_row", "ordinality", "id_email", "x", "X"),
]
_NASTY = "'\";-/*\\$?%_.,[](){}|`~ \t\u00a0é漢\u202e\u0000"
names = st.one_of(
    st.sampled_from(CANONICAL_AND_INTERNAL),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=12),
    st.text(alphabet=_NASTY, min_size=1, max_size=6),
)
times = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S") + " Europe/Paris"),
    st.datetimes().map(lambda d: d.strftime("%d/%m/%Y %H:%M")),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.datetimes().map(lambda d: d.isoformat() + "+05:30"),
    st.integers(min_value=-(2**63), max_value=2**64).map(str),
    st.sampled_from(["epoch", "-infinity", "0000-01-01", "2025-02-30", "2025-03-30T02:30:00"]),
)
cells = st.one_of(
    st.none(),
    st.just(""),
    times,
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["NaN", "inf", "1e309", "-0", "12,50", "2 464,70", "oui", "true", "[1,2]"]),
    st.sampled_from(["000-000-0000", " NoReply@Example.com ", "@", "a@b@c", "x@y,z@w"]),
    st.text(max_size=20),
)


@st.composite
def tables(draw: st.DrawFn, kind: str) -> tuple[list[str], list[list[Any]]]:
    required = {"events": ["customer_id", "timestamp", "type"], "customers": ["customer_id"]}
    header = [*required[kind]] if draw(st.booleans()) else []
    # extra names are mostly distinct from each other and from the required ones, so that
    # about half the files are loadable; refusals still come from empty, NUL or reserved names
    taken = {n.lower() for n in header}
    extras = draw(st.lists(names, max_size=6, unique_by=lambda n: n.strip().lower()))
    header += [n for n in extras if n.strip().lower() not in taken]
    width = max(len(header), 1)
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), max_size=8))
    if rows and draw(st.booleans()):
        rows.append(list(rows[0]))  # an exact repeat
    return header, rows


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("fuzz")
    ws = Workspace.init(root / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    yield ws
    ws.close()


def _counts(ws: Workspace) -> dict[str, int]:
    return {t: int(ws.store.scalar(f'SELECT count(*) FROM "{t}"')) for t in TABLES}


def _write(path: Path, header: list[str], rows: list[list[Any]], fmt: str) -> Path:
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    else:
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                record = dict(zip(header, row, strict=False))
                handle.write(json.dumps(record, allow_nan=True) + "\n")
    return path


def _load_twice(ws: Workspace, kind: str, path: Path) -> str:
    """Load a file twice, checking the invariants; how the first load ended."""
    before = _counts(ws)
    try:
        report = ws.ingest(kind, path, max_rejected="100%")  # the loader's invariants
    except MicrosegError:
        assert _counts(ws) == before
        return "refused"
    assert report.accepted + report.duplicates + report.rejected == report.rows_read
    after = _counts(ws)
    untouched = ["products"] if kind in ("events", "customers") else []
    assert all(after[t] == before[t] for t in untouched)
    if kind == "events":
        assert after["events"] == before["events"] + report.accepted
    again = ws.ingest(kind, path, max_rejected="100%")
    assert again.accepted == 0
    assert again.rows_read == report.rows_read
    assert _counts(ws) == after
    return "loaded"


#: A fixed sequence of 40 examples in the test command, so that a landing never hangs on
#: chance; MICROSEG_FUZZ_RANDOM=1 explores fresh ones (a random run once reported more
#: duplicates than rows read for a customers file, not reproduced since: worth running).
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("MICROSEG_FUZZ_RANDOM") != "1",
    database=None if os.environ.get("MICROSEG_FUZZ_RANDOM") != "1" else settings().database,
)


@pytest.mark.parametrize("kind", ["events", "customers"])
def test_ingest_fuzz(
    workspace: Workspace, tmp_path_factory: pytest.TempPathFactory, kind: str
) -> None:
    endings: Counter[str] = Counter()

    @SETTINGS
    @given(data=tables(kind), fmt=st.sampled_from(["csv", "jsonl"]))
    def load(data: Any, fmt: str) -> None:
        header, rows = data
        path = _write(tmp_path_factory.mktemp(kind) / f"{kind}.{fmt}", header, rows, fmt)
        endings[_load_twice(workspace, kind, path)] += 1

    load()
    # the fuzzer is no use if every file is refused, or none is: it reached both endings
    assert endings["loaded"] >= 3, endings
    assert endings["refused"] >= 1, endings


def test_a_customer_row_that_adds_nothing_is_a_duplicate(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Found by the fuzzer: re-loading ids alone counted them as accepted again."""
    path = _write(tmp_path / "ids.csv", ["customer_id"], [["fuzz-0"]], "csv")
    assert workspace.ingest("customers", path).accepted == 1
    again = workspace.ingest("customers", path)
    assert (again.accepted, again.duplicates) == (0, 1)


def test_two_rows_of_one_customer_reload_as_nothing(workspace: Workspace, tmp_path: Path) -> None:
    """Found by the fuzzer: rows of one customer at the same instant made a version each,
    and a second load of the file made both again."""
    rows = [["fuzz-1", "Paris", ""], ["fuzz-1", "", "3"], ["fuzz-1", "Lyon", ""]]
    path = _write(tmp_path / "two.csv", ["customer_id", "city", "visits"], rows, "csv")
    first = workspace.ingest("customers", path)
    assert (first.accepted, first.duplicates) == (3, 0)
    history = workspace.store.fetchall(
        "SELECT city, visits FROM customer_history WHERE customer_id = 'fuzz-1'"
    )
    assert [(city, int(visits)) for city, visits in history] == [("Lyon", 3)]
    again = workspace.ingest("customers", path)
    assert (again.accepted, again.duplicates) == (0, 3)
