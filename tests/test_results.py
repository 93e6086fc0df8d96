"""Results that cross an edge: pydantic models, one time convention, the same JSON as before."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pydantic
import pytest

from microseg.core.errors import OutputError, ParameterError
from microseg.core.results import AnyValue, Instant, ProblemResult, Result, instant_text
from microseg.discover import DiscoveryRunResult
from microseg.ingest import LoadReport, UnmergeResult
from microseg.lang import Problem
from microseg.segments import GridCell, ProfileResult, SegmentDiff, SegmentRun
from microseg.synth import PLANTED_SEGMENTS
from microseg.traits import TraitRun
from microseg.value import write_predictions


class _Stamp(Result):
    at: Instant
    maybe: Instant | None = None
    value: AnyValue = None


def test_instants_are_utc_with_z() -> None:
    naive = datetime(2025, 1, 1)  # the store's: naive UTC
    assert _Stamp(at=naive).to_dict()["at"] == "2025-01-01T00:00:00Z"
    assert _Stamp(at=naive).to_dict()["at"] == naive.isoformat() + "Z"  # as before
    late = datetime(2025, 10, 31, 22, 59, 59, 999999)
    assert _Stamp(at=late).to_dict()["at"] == "2025-10-31T22:59:59.999999Z"
    paris = datetime(2025, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert _Stamp(at=paris).to_dict()["at"] == "2025-01-01T00:00:00Z"
    assert _Stamp(at=naive).at == datetime(2025, 1, 1, tzinfo=UTC)  # aware in Python
    assert _Stamp(at=naive).to_dict()["maybe"] is None
    assert instant_text(paris) == "2025-01-01T00:00:00Z"


def test_any_value_writes_instants_and_days_in_the_convention() -> None:
    assert _Stamp(at=datetime(2025, 1, 1), value=datetime(2025, 3, 1)).to_dict()["value"] == (
        "2025-03-01T00:00:00Z"
    )
    assert _Stamp(at=datetime(2025, 1, 1), value=date(2025, 3, 1)).to_dict()["value"] == (
        "2025-03-01"
    )
    assert _Stamp(at=datetime(2025, 1, 1), value=["a", 1]).to_dict()["value"] == ["a", 1]


def test_results_are_frozen_and_closed() -> None:
    stamp = _Stamp(at=datetime(2025, 1, 1))
    with pytest.raises(pydantic.ValidationError):
        stamp.at = datetime(2026, 1, 1)
    with pytest.raises(pydantic.ValidationError):
        _Stamp(at=datetime(2025, 1, 1), other=1)  # type: ignore[call-arg]


def test_numpy_values_become_plain_and_nan_stays_a_float() -> None:
    class Numbers(Result):
        data: dict[str, Any]
        count: int

    numbers = Numbers(
        data={"a": np.int64(3), "b": [np.float64(0.5)], "c": np.arange(2), "d": math.nan},
        count=np.int64(4),  # type: ignore[arg-type]
    )
    data = numbers.to_dict()
    assert data["data"]["a"] == 3
    assert type(data["data"]["a"]) is int
    assert data["data"]["b"] == [0.5]
    assert data["data"]["c"] == [0, 1]
    assert math.isnan(data["data"]["d"])
    assert data["count"] == 4
    assert json.dumps(data) == '{"data": {"a": 3, "b": [0.5], "c": [0, 1], "d": NaN}, "count": 4}'


def test_problems_keep_their_four_keys() -> None:
    problem = Problem("rule.all[0].attribute", "unknown attribute", "a.yaml", 3)
    assert ProblemResult.model_validate(problem).to_dict() == problem.__dict__


def test_segment_run_json_is_unchanged() -> None:
    run = SegmentRun(
        datetime(2026, 10, 31, 23),
        10,
        {"vip": 3, "new": 0},
        {"vip": "v1", "new": "v2"},
        0.25,
        True,
        {"vip": "VIPs"},
        [Problem("rule", "broken", "bad.yaml", 1)],
        ["a warning"],
    )
    assert run.to_dict() == {
        "as_of": "2026-10-31T23:00:00Z",
        "customers": 10,
        "segments": [
            {"name": "vip", "title": "VIPs", "members": 3, "share": 0.3, "version": "v1"},
            {"name": "new", "title": None, "members": 0, "share": 0.0, "version": "v2"},
        ],
        "seconds": 0.25,
        "saved": True,
        "warnings": ["a warning"],
        "problems": [{"path": "rule", "message": "broken", "file": "bad.yaml", "line": 1}],
    }


def test_trait_run_json_is_unchanged() -> None:
    run = TraitRun(
        as_of=datetime(2026, 1, 1),
        customers=2,
        summary={"p": {"type": "number", "mean": 1.5}},
        seconds=0.5,
        saved=False,
        cuts={"p": [1.0]},
    )
    assert run.to_dict() == {
        "as_of": "2026-01-01T00:00:00Z",
        "customers": 2,
        "traits": {"p": {"type": "number", "mean": 1.5}},
        "seconds": 0.5,
        "saved": False,
        "warnings": [],
        "problems": [],
    }


def test_diff_load_unmerge_and_cell_dump_their_fields() -> None:
    diff = SegmentDiff(
        name="vip",
        as_of=datetime(2026, 1, 1),
        customers=5,
        before=None,
        after=2,
        entering=2,
        leaving=0,
        entering_sample=["C1", "C2"],
        leaving_sample=[],
    )
    assert diff.to_dict()["as_of"] == "2026-01-01T00:00:00Z"
    assert list(diff.to_dict()) == [
        "name",
        "as_of",
        "customers",
        "before",
        "after",
        "entering",
        "leaving",
        "entering_sample",
        "leaving_sample",
    ]
    report = LoadReport(
        kind="events",
        load_id=1,
        sources=("a.csv", "b.csv"),
        rows_read=3,
        accepted=2,
        duplicates=0,
        rejected=1,
    )
    assert report.to_dict()["sources"] == ["a.csv", "b.csv"]
    assert report.to_dict()["reasons"] == {}
    assert UnmergeResult(survivor="C1", restored=["C2"]).to_dict() == {
        "survivor": "C1",
        "restored": ["C2"],
        "events": 0,
        "identities": 0,
        "attributes_kept": [],
    }
    cell = GridCell(values={"gender": "f"}, size=3, share=0.5, revenue=10.0)
    assert cell.to_dict() == {
        "values": {"gender": "f"},
        "size": 3,
        "share": 0.5,
        "revenue": 10.0,
        "clv_12m": None,
    }


def test_discovery_and_profile_results() -> None:
    run = DiscoveryRunResult(
        run_id=1,
        name="r",
        as_of=datetime(2026, 1, 1),
        created_at=None,
        seconds=1.25,
        params={"k": np.int64(3)},
        features={},
        metrics={"stability_ari": None},
        macros=[],
        clusters=[{"id": np.int64(1), "size": np.int64(10)}],
    )
    assert run.to_dict()["clusters"] == [{"id": 1, "size": 10}]
    assert run.to_dict()["created_at"] is None
    profile = ProfileResult(
        customer_id="C1",
        attributes={"signup": datetime(2025, 5, 1, 8), "birthday": date(1990, 1, 2), "x": 1},
        events={"purchase": 2},
        traits={"p": 0.5},
        segments=["vip"],
        warnings=[],
        problems=[],
    )
    assert profile.to_dict()["attributes"] == {
        "signup": "2025-05-01T08:00:00Z",
        "birthday": "1990-01-02",
        "x": 1,
    }


def test_planted_segments_are_results() -> None:
    first = PLANTED_SEGMENTS[0].to_dict()
    assert list(first) == ["name", "title", "description", "share", "traits"]
    assert isinstance(first["traits"], list)


@pytest.mark.parametrize("form", ["csv", "parquet", "json"])
def test_write_predictions(tmp_path: Path, form: str) -> None:
    table = pa.table({"customer_id": ["C1", "C2"], "clv": [1.5, None]})
    path = tmp_path / f"out.{form}"
    write_predictions(table, path, form)
    assert path.stat().st_size > 0
    if form == "json":
        lines = path.read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == table.to_pylist()


def test_write_predictions_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="use csv, parquet, json"):
        write_predictions(pa.table({"a": [1]}), tmp_path / "x", "xlsx")


def test_write_predictions_names_a_file_it_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "out.csv"
    for form in ("csv", "parquet", "json"):
        with pytest.raises(OutputError, match="no-such-folder") as info:
            write_predictions(pa.table({"a": [1]}), path, form)
        assert isinstance(info.value, OSError)
        assert info.value.where == str(path)
