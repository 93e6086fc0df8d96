"""The audit and the quality report on the synthetic shop: every figure is consistent with
the shop's own tables, a segment that names religion is flagged and one on the customers'
channel is not, and the report's counts agree with the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from microseg import Workspace
from microseg.synth import generate_shop

#: the shop's events run to 2026-11-01: "now" is after them
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root: Path = tmp_path_factory.mktemp("govern")
    data = generate_shop(root / "data", customers=1500, seed=11)
    ws = Workspace.init(root / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(data.event_files))
    segments = {
        "christians": "{attribute: religion, eq: christian}",
        "app-first": "{attribute: preferred_channel, eq: app}",
    }
    for name, rule in segments.items():
        (ws.path / "segments" / f"{name}.yaml").write_text(
            f"name: {name}\nrule: {rule}\n", encoding="utf-8"
        )
    yield ws
    ws.close()


def test_audit_on_the_synthetic_shop(shop: Workspace) -> None:
    result = shop.govern.audit()
    by_name = {s.name: s for s in result.segments}
    named = by_name["christians"].sensitive[0]
    assert named.attribute == "religion"
    assert named.named_in_rule
    assert named.proxy_flagged
    assert named.cramers_v > 0.9  # membership is the attribute itself
    channel = by_name["app-first"].sensitive[0]
    assert not channel.proxy_flagged
    everyone = result.coverage.customers
    assert everyone == shop.customers().count().to_pyarrow().as_py()
    # every shown group holds at least min_group_size customers
    for segment in result.segments:
        for group in segment.sensitive[0].groups:
            assert group.population is None or group.population >= result.min_group_size
            assert group.members is None or group.members == 0 or group.members >= 10


def test_quality_on_the_synthetic_shop(shop: Workspace) -> None:
    report = shop.govern.quality()
    tables = {t.table: t for t in report.tables}
    assert tables["events"].rows == shop.store.row_count("events")
    loads = {x.kind: x for x in report.loads}
    assert loads["events"].rejected == sum(r.rows for r in report.rejects if r.kind == "events")
    assert loads["events"].accepted == tables["events"].rows
    thin = report.thin_history
    assert thin.customers == tables["customers"].rows
    assert 0 < thin.no_purchase + thin.one_purchase_day < thin.customers
    assert report.staleness.stale == 0
    assert {s.kind for s in report.staleness.sources} == {"customers", "events"}
