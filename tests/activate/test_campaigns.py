"""Campaigns with a holdout (issue 14.4): the deterministic split, its storage, the
measurement against the events, and the command line.

Twenty customers, all in the segment ``members``; the campaign is sent on 2025-12-01 at
10:00 UTC with a 50% holdout and the salt ``s1``. Who is in control is computed here
with hashlib, independently of microseg; the outcome events are written per group, so
every count below follows from the rows of this file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.activate._uplift import compare_rates
from microseg.cli import app
from microseg.core.errors import OutputError, ParameterError, WorkspaceError
from microseg.core.holdout import in_holdout
from tests.conftest import write

IDS = [f"C{i:02d}" for i in range(1, 21)]
SEND = datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
SEGMENT = "name: members\nrule:\n  attribute: tier\n  in: [gold, basic]\n"
runner = CliRunner()


def _control(salt: str, ids: list[str], share: float) -> set[str]:
    """The control group by hand: sha256('salt:id'), first 8 bytes over 2**64."""
    out = set()
    for c in ids:
        digest = hashlib.sha256(f"{salt}:{c}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 < share:
            out.add(c)
    return out


CONTROL = sorted(_control("s1", IDS, 0.5))
TREATED = sorted(set(IDS) - set(CONTROL))


def _events() -> str:
    """Opens: 6 treated and 2 in control within the 14 days after the send; one control
    open before the send (the pre-period) and one treated open after the window (ignored).
    Purchases: 3 treated buy 30 each, 1 control buys 10, in the window."""
    rows = ["event_id,customer_id,timestamp,type,amount"]
    n = 0

    def add(customer: str, when: str, kind: str, amount: str = "") -> None:
        nonlocal n
        n += 1
        rows.append(f"E{n},{customer},{when},{kind},{amount}")

    for c in TREATED[:6]:
        add(c, "2025-12-03T08:00:00Z", "email_open")
    add(TREATED[0], "2025-12-04T08:00:00Z", "email_open")  # a second open: still one converter
    for c in CONTROL[:2]:
        add(c, "2025-12-10T08:00:00Z", "email_open")
    add(CONTROL[2], "2025-11-25T08:00:00Z", "email_open")  # pre-period
    add(TREATED[6], "2025-12-15T10:00:00Z", "email_open")  # the window has ended
    for c in TREATED[:3]:
        add(c, "2025-12-05T12:00:00Z", "purchase", "30")
    add(CONTROL[0], "2025-12-06T12:00:00Z", "purchase", "10")
    return "\n".join(rows)


@pytest.fixture
def shop(ws: Workspace, tmp_path: Path) -> Workspace:
    # every member can be e-mailed: consent is tested on its own below
    tiers = "\n".join(
        f"{c},{'gold' if i % 2 else 'basic'},{c.lower()}@example.com,true"
        for i, c in enumerate(IDS)
    )
    header = "customer_id,tier,email,email_opt_in\n"
    ws.ingest("customers", write(tmp_path / "c.csv", header + tiers))
    ws.ingest("events", write(tmp_path / "e.csv", _events()))
    (ws.path / "segments" / "members.yaml").write_text(SEGMENT, encoding="utf-8")
    (ws.path / "segments" / "gold.yaml").write_text(
        "name: gold\nrule:\n  attribute: tier\n  eq: gold\n", encoding="utf-8"
    )
    return ws


def test_a_segment_campaign_reaches_only_who_consented_to_its_channel(
    shop: Workspace, tmp_path: Path
) -> None:
    withdrawn = IDS[:3]
    rows = "\n".join(
        f"u{n},{c},2025-11-20T08:00:00Z,unsubscribe,email" for n, c in enumerate(withdrawn)
    )
    shop.ingest(
        "events", write(tmp_path / "u.csv", "event_id,customer_id,timestamp,type,channel\n" + rows)
    )
    info = shop.activate.campaign_create("consented", segment="members", holdout="50%", as_of=SEND)
    assert info.members == len(IDS) - len(withdrawn)
    table = shop.store.table("campaign_assignments")
    kept = set(
        table.filter(table.campaign == "consented").to_pyarrow().column("customer_id").to_pylist()
    )
    assert not kept & set(withdrawn)


def test_a_campaign_takes_its_audience_at_its_send_time_in_any_time_zone(
    tmp_path: Path,
) -> None:
    """The send time, held as naive UTC, was given back to the evaluation, which reads a
    naive time in the workspace's zone: in Paris the audience was that of an hour earlier,
    and a customer who unsubscribed half an hour before the send was in it."""
    ws = Workspace.init(tmp_path / "paris", timezone="Europe/Paris")
    try:
        people = "\n".join(f"{c},gold,{c.lower()}@example.com,true" for c in IDS)
        header = "customer_id,tier,email,email_opt_in\n"
        ws.ingest("customers", write(tmp_path / "c.csv", header + people))
        late = (  # half an hour before the send
            "u1,C01,2025-12-01T09:30:00Z,unsubscribe,email\nv1,C02,2025-12-01T09:30:00Z,view,web"
        )
        header = "event_id,customer_id,timestamp,type,channel\n"
        ws.ingest("events", write(tmp_path / "u.csv", header + late))
        (ws.path / "segments" / "members.yaml").write_text(SEGMENT, encoding="utf-8")
        (ws.path / "segments" / "viewed.yaml").write_text(
            "name: viewed\nrule:\n  event: view\n  window: {last: 1 hour}\n", encoding="utf-8"
        )
        info = ws.activate.campaign_create("paris", segment="members", holdout="50%", as_of=SEND)
        assert info.members == len(IDS) - 1
        table = ws.store.table("campaign_assignments")
        kept = table.filter(table.campaign == "paris").to_pyarrow().column("customer_id")
        assert "C01" not in kept.to_pylist()
        # measured by a segment: its members at the send time, not an hour before
        result = ws.activate.campaign_measure("paris", outcome="view", by=["viewed"])
        viewed = result.slices[1]
        assert (viewed.kind, viewed.slice) == ("segment", "viewed")
        assert viewed.treatment.members + viewed.control.members == 1
    finally:
        ws.close()


def test_the_design_of_this_file_holds() -> None:
    assert len(TREATED) >= 7
    assert len(CONTROL) >= 3


def test_create_splits_by_sha256_stores_and_writes_the_treatment(
    shop: Workspace, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "send.csv"
    info = shop.activate.campaign_create(
        "winter", segment="members", holdout="50%", as_of=SEND, salt="s1", to=target
    )
    assert (info.members, info.control, info.treatment) == (20, len(CONTROL), len(TREATED))
    assert info.segment == "members"
    assert info.version
    assert info.channel == "email"
    assert info.sent_at == SEND
    assert info.salt == "s1"
    assert info.holdout == 0.5
    with target.open(encoding="utf-8") as handle:
        sent = [row["customer_id"] for row in csv.DictReader(handle)]
    assert sent == TREATED  # the treatment group only, never the control
    stored = shop.store.table("campaign_assignments").to_pyarrow().to_pylist()
    assert sorted(r["customer_id"] for r in stored if r["group"] == "control") == CONTROL
    assert {r["campaign"] for r in stored} == {"winter"}
    listed = shop.activate.campaigns().campaigns
    assert [c.name for c in listed] == ["winter"]
    assert listed[0].target == str(target)
    with pytest.raises(WorkspaceError, match="exists already"):
        shop.activate.campaign_create("winter", segment="members", as_of=SEND)


def test_the_default_salt_is_per_campaign_and_stable(shop: Workspace, tmp_path: Path) -> None:
    a = shop.activate.campaign_create("a", segment="members", holdout=0.5, as_of=SEND)
    assert a.salt == "campaign:a"
    assert a.control == len(_control("campaign:a", IDS, 0.5))


def test_the_assignment_is_the_same_in_another_process_and_workspace(
    shop: Workspace, tmp_path: Path
) -> None:
    shop.activate.campaign_create("winter", segment="members", holdout=0.3, salt="x", as_of=SEND)
    here = shop.store.table("campaign_assignments").to_pyarrow().to_pylist()
    code = (
        "import json, sys; from microseg.core.holdout import in_holdout; "
        "print(json.dumps(in_holdout('x', sys.argv[1:], 0.3)))"
    )
    for seed in ("1", "2"):  # str hashes differ between these processes; sha256 does not
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code, *IDS], capture_output=True, text=True, env=env, check=True
        )
        there = json.loads(out.stdout)
        assert [r["group"] == "control" for r in here] == there
    other = Workspace.init(tmp_path / "other", timezone="UTC")
    try:
        other.activate.campaign_create("again", audience=IDS, holdout=0.3, salt="x", as_of=SEND)
        again = other.store.table("campaign_assignments").to_pyarrow().to_pylist()
    finally:
        other.close()
    assert [(r["customer_id"], r["group"]) for r in again] == [
        (r["customer_id"], r["group"]) for r in here
    ]


@pytest.mark.parametrize("share", [0.1, 0.3])
def test_the_holdout_share_is_within_tolerance(share: float) -> None:
    ids = [f"K{i:07d}" for i in range(40_000)]
    control = sum(in_holdout("salt", ids, share))
    # 4 standard errors of a binomial share over 40,000 draws
    assert abs(control / len(ids) - share) < 4 * (share * (1 - share) / len(ids)) ** 0.5


def test_measure_counts_outcomes_within_the_window(shop: Workspace) -> None:
    shop.activate.campaign_create("winter", segment="members", holdout=0.5, salt="s1", as_of=SEND)
    result = shop.activate.campaign_measure("winter", cuped=True)
    whole = result.slices[0]
    assert (whole.slice, whole.kind) == ("winter", "campaign")
    n_t, n_c = len(TREATED), len(CONTROL)
    assert (whole.treatment.members, whole.treatment.converters) == (n_t, 6)
    assert (whole.control.members, whole.control.converters) == (n_c, 2)
    assert whole.treatment.rate == pytest.approx(6 / n_t)
    assert whole.conversion == compare_rates(6, n_t, 2, n_c)
    assert whole.revenue is None  # opens carry no amounts
    assert whole.cuped_conversion is not None  # the pre-period open of CONTROL[2]
    assert result.window == "14 days"
    assert result.window_complete
    assert result.pre_period_start == datetime(2025, 11, 17, 10, tzinfo=UTC)
    # twenty customers cannot tell a difference of this size
    assert not whole.significant
    assert whole.verdict.startswith("Too small to tell")
    assert f"{whole.conversion.needed_per_group:,} members per group" in whole.verdict


def test_measure_revenue_per_member_with_welch(shop: Workspace) -> None:
    shop.activate.campaign_create("winter", segment="members", holdout=0.5, salt="s1", as_of=SEND)
    whole = shop.activate.campaign_measure("winter", outcome="purchase").slices[0]
    assert (whole.treatment.converters, whole.control.converters) == (3, 1)
    assert whole.revenue is not None
    assert whole.treatment.revenue_per_member == pytest.approx(90 / len(TREATED))
    assert whole.revenue.difference == pytest.approx(90 / len(TREATED) - 10 / len(CONTROL))
    low, high = whole.revenue.interval
    assert low is not None
    assert high is not None
    assert low < whole.revenue.difference < high


def test_measure_by_segment_and_by_cell(shop: Workspace) -> None:
    shop.activate.campaign_create("winter", segment="members", holdout=0.5, salt="s1", as_of=SEND)
    result = shop.activate.campaign_measure("winter", by=["gold", "tier"])
    kinds = [(s.kind, s.slice) for s in result.slices]
    assert kinds[:2] == [("campaign", "winter"), ("segment", "gold")]
    gold = {c for i, c in enumerate(IDS) if i % 2}
    assert result.slices[1].treatment.members == len(gold & set(TREATED))
    cells = [s for s in result.slices if s.kind == "cell"]
    assert len(cells) == 2
    assert sum(s.treatment.members + s.control.members for s in cells) == 20


def test_bad_requests_say_what_to_do(shop: Workspace) -> None:
    with pytest.raises(ParameterError, match="between 0% and 100%"):
        shop.activate.campaign_create("x", segment="members", holdout="150%")
    with pytest.raises(ParameterError, match="segment or an audience"):
        shop.activate.campaign_create("x")
    blocked = write(shop.path / "a-file", "not a folder") / "send.csv"
    with pytest.raises(OutputError, match="cannot write the treatment group"):
        shop.activate.campaign_create("x", segment="members", as_of=SEND, to=blocked)
    assert shop.activate.campaigns().campaigns == []  # nothing stored without its list
    shop.activate.campaign_create("winter", segment="members", as_of=SEND)
    with pytest.raises(WorkspaceError, match="did you mean 'winter'"):
        shop.activate.campaign_measure("wintr")
    with pytest.raises(ParameterError, match="did you mean 'email_open'"):
        shop.activate.campaign_measure("winter", outcome="email_opne")
    with pytest.raises(ParameterError, match="did you mean 'members'"):
        shop.activate.campaign_measure("winter", by=["member"])


def test_the_command_line(shop: Workspace, tmp_path: Path) -> None:
    where = ["-w", str(shop.path)]
    shop.close()
    target = tmp_path / "send.csv"
    created = runner.invoke(
        app,
        [
            "--json",
            "campaign",
            "create",
            "winter",
            "--segment",
            "members",
            "--holdout",
            "50%",
            "--salt",
            "s1",
            "--as-of",
            "2025-12-01T10:00:00Z",
            "--to",
            str(target),
            *where,
        ],
    )
    assert created.exit_code == 0, created.output
    info = json.loads(created.output)
    assert info["control"] == len(CONTROL)
    assert info["sent_at"] == "2025-12-01T10:00:00Z"
    measured = runner.invoke(app, ["campaign", "measure", "winter", "--json", *where])
    assert measured.exit_code == 0, measured.output
    data = json.loads(measured.output)
    assert data["slices"][0]["treatment"]["converters"] == 6
    assert data["slices"][0]["verdict"].startswith("Too small to tell")
    text = runner.invoke(
        app, ["campaign", "measure", "winter", "--cuped", *where], env={"COLUMNS": "80"}
    )
    assert text.exit_code == 0, text.output
    assert "Too small to tell" in text.output
    assert all(len(line) <= 80 for line in text.output.splitlines())
    listed = runner.invoke(app, ["campaign", "list", "--json", *where])
    assert [c["name"] for c in json.loads(listed.output)["campaigns"]] == ["winter"]
    missing = runner.invoke(app, ["campaign", "measure", "nope", *where])
    assert missing.exit_code != 0
    assert "no campaign called 'nope'" in missing.output


# --- the 26% claim on the synthetic shop (issue 14.5) -----------------------------------


@pytest.fixture(scope="module")
def demo_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The demo's shop (5,000 customers, seed 42) loaded into a workspace as a user would:
    its events and the planted mailing's events."""
    from microseg.synth import generate_shop

    root = tmp_path_factory.mktemp("planted")
    shop = generate_shop(root / "data", customers=5000, seed=42)
    ws = Workspace.init(root / "ws", timezone="Europe/Paris")
    try:
        ws.ingest("events", [*shop.event_files, shop.paths["campaign_events"]])
    finally:
        ws.close()
    (planted,) = shop.campaigns
    assert json.loads((root / "data" / "campaigns.json").read_text()) == [planted]
    return root, planted


def test_the_synthetic_shop_describes_its_planted_campaign(
    demo_shop: tuple[Path, dict[str, Any]],
) -> None:
    _, planted = demo_shop
    assert planted["name"] == "personalised-mailing"
    assert planted["planted_relative_lift"] == 0.26
    assert planted["sent_at"] == "2026-10-01T10:00:00Z"  # a Thursday, 4 weeks before the end
    assert (planted["holdout"], planted["outcome"], planted["window"]) == (
        0.5,
        "email_open",
        "3 days",
    )


def test_measure_recovers_the_planted_26_percent(demo_shop: tuple[Path, dict[str, Any]]) -> None:
    root, planted = demo_shop
    where = ["-w", str(root / "ws")]
    audience = root / "data" / planted["audience"]
    created = runner.invoke(
        app,
        [
            "campaign",
            "create",
            planted["name"],
            "--audience",
            str(audience),
            "--holdout",
            "50%",
            "--salt",
            planted["salt"],
            "--as-of",
            planted["sent_at"],
            "--json",
            *where,
        ],
    )
    assert created.exit_code == 0, created.output
    info = json.loads(created.output)
    # the workspace splits the audience exactly as the shop did
    import pyarrow.parquet as pq

    truth = pq.read_table(audience).to_pylist()
    assert info["members"] == len(truth) == 3181
    assert info["control"] == sum(r["group"] == "control" for r in truth)
    measured = runner.invoke(
        app,
        ["campaign", "measure", planted["name"], "--window", "3 days", "--cuped", "--json", *where],
    )
    assert measured.exit_code == 0, measured.output
    whole = json.loads(measured.output)["slices"][0]
    low, high = whole["conversion"]["relative_interval"]
    assert low < 0.26 < high  # the interval covers the planted lift
    assert low > 0  # and, at the demo's size (about 85% power), excludes no effect
    assert whole["significant"]
    assert whole["cuped_conversion"]["difference"]["difference"] > 0


def test_the_planted_campaign_has_its_own_random_stream(tmp_path: Path) -> None:
    from microseg.synth import SynthError, generate_shop

    with_lift = generate_shop(tmp_path / "a", customers=600, seed=3)
    without = generate_shop(tmp_path / "b", customers=600, seed=3, campaign_lift=0.0)
    for name in ("events", "customers", "customer_updates", "products", "ground_truth"):
        assert with_lift.paths[name].read_bytes() == without.paths[name].read_bytes(), name
    assert without.campaigns[0]["planted_relative_lift"] == 0.0
    with pytest.raises(SynthError, match="campaign_lift"):
        generate_shop(tmp_path / "c", customers=10, campaign_lift=0.5)


def test_an_audience_file_with_a_problem_says_where(shop: Workspace, tmp_path: Path) -> None:
    where = ["-w", str(shop.path)]
    shop.close()
    no_column = write(tmp_path / "a.csv", "id\nC01")
    result = runner.invoke(app, ["campaign", "create", "x", "--audience", str(no_column), *where])
    assert result.exit_code == 2
    assert "no customer_id column" in result.output
    assert "a.csv, line 1" in " ".join(result.output.split())
    blank = write(tmp_path / "b.csv", "customer_id\nC01\n \nC02")
    result = runner.invoke(app, ["campaign", "create", "x", "--audience", str(blank), *where])
    assert "b.csv, line 3" in " ".join(result.output.split())
    good = write(tmp_path / "c.csv", "customer_id,name\nC01,a\nC02,b\nC01,a")
    result = runner.invoke(
        app, ["--json", "campaign", "create", "x", "--audience", str(good), *where]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["members"] == 2  # the same id twice is one member
