"""Instants given by the user: one documented set of forms, everything else refused."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from microseg.core.errors import TimeInputError
from microseg.core.time import to_store_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-31", datetime(2026, 10, 31, 23, 0)),
        ("2026-10-31T12:00", datetime(2026, 10, 31, 11, 0)),
        ("2026-10-31 12:00:00", datetime(2026, 10, 31, 11, 0)),
        ("2026-10-31T12:00:00.5Z", datetime(2026, 10, 31, 12, 0, 0, 500000)),
        ("2026-10-31T12:00:00+05:00", datetime(2026, 10, 31, 7, 0)),
        (" 2026-10-31 ", datetime(2026, 10, 31, 23, 0)),
    ],
)
def test_accepted_forms(text: str, expected: datetime) -> None:
    assert to_store_time(text, "Europe/Paris") == expected


@pytest.mark.parametrize(
    "text",
    [
        "20261031",
        "2026-10-31Z",
        "2026-W44",
        "2026-W44-1",
        "2026-304",
        "31/10/2026",
        "2026-10-31T12",
        "2026-02-30",
        "9999-12-31",
        "0001-01-01T00:00:00+01:00",
        "0001-01-01",
        "yesterday",
        "",
    ],
)
def test_other_forms_are_refused_with_the_accepted_ones_listed(text: str) -> None:
    with pytest.raises(TimeInputError) as caught:
        to_store_time(text, "Europe/Paris")
    assert "2026-10-31T12:00:00Z" in str(caught.value)


@pytest.mark.parametrize(
    "value", [date(9999, 12, 31), datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59)]
)
def test_python_values_out_of_range(value: date) -> None:
    with pytest.raises(TimeInputError, match="outside the years"):
        to_store_time(value, "Europe/Paris")


def test_the_cli_says_what_it_accepts(tmp_path: object) -> None:
    from typer.testing import CliRunner

    from microseg.cli import app

    runner = CliRunner()
    workspace = str(tmp_path) + "/ws"
    assert runner.invoke(app, ["init", workspace]).exit_code == 0
    for bad in ("9999-12-31", "2026-W44", "0001-01-01T00:00:00+01:00"):
        result = runner.invoke(
            app, ["--workspace", workspace, "segment", "evaluate", "--as-of", bad]
        )
        assert result.exit_code != 0
        assert isinstance(result.exception, SystemExit)  # a message, not a traceback
        assert "2026-10-31T12:00:00Z" in result.output
