"""Out-of-range settings in microseg.yaml: refused with the line and the field, no crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from microseg.config import load_config
from microseg.core.errors import ConfigError
from microseg.lang import RuleError, parse_definition


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "microseg.yaml"
    path.write_text("version: 1\nname: shop\n" + text, encoding="utf-8")
    return path


@pytest.mark.parametrize("value", ["99999999 years", "100000000000000000000 days"])
def test_huge_future_tolerance_is_refused(tmp_path: Path, value: str) -> None:
    path = _config(tmp_path, f"ingest:\n  future_tolerance: {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.where == f"{path}:4"
    assert "ingest.future_tolerance" in str(caught.value)
    assert "at most 1000 years" in str(caught.value)


@pytest.mark.parametrize("value", ["-5GB", "0GB", "lots", "5 parsecs"])
def test_bad_memory_limit_is_refused(tmp_path: Path, value: str) -> None:
    path = _config(tmp_path, f"store:\n  memory_limit: {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.where == f"{path}:4"
    assert "store.memory_limit" in str(caught.value)
    assert "e.g. 512MB" in str(caught.value)


@pytest.mark.parametrize("value", ["512MB", "1GB", "8 GB", "1.5GiB"])
def test_memory_limits_in_range_are_accepted(tmp_path: Path, value: str) -> None:
    assert load_config(_config(tmp_path, f"store:\n  memory_limit: {value}\n")).store.memory_limit


def test_huge_window_in_a_rule_is_refused() -> None:
    rule = {"event": "purchase", "window": {"last": "99999999 years"}}
    with pytest.raises(RuleError, match="at most 1000 years"):
        parse_definition({"name": "w", "rule": rule})


def test_huge_relative_time_in_a_rule_is_not_a_time() -> None:
    from microseg.lang import check_rule
    from microseg.lang._schema import Schema

    test = {"property": "timestamp", "gte": "99999999 years ago"}
    rule = parse_definition({"name": "t", "rule": {"event": "any", "max": test}}).rule
    problems = check_rule(rule, Schema(attributes={}, traits={}, segments=frozenset()))
    assert len(problems) == 1
    assert "is a timestamp" in problems[0][1]
