"""Built-in traits speak the shop's words: channels and event types from microseg.yaml
(``traits:``), listed by ``microseg traits list``; generated names stay readable."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.core.errors import ConfigError

AS_OF = "2025-06-01"
NOW = datetime(2025, 6, 1, tzinfo=UTC)

#: (customer, order_id, timestamp, type, amount, channel, category): a French shop's words
LINES = [
    ("A", "O1", "2025-01-10T09:00:00Z", "achat", 10.0, "Site web", "Beauté"),
    ("A", "O1", "2025-01-10T09:00:00Z", "achat", 30.0, "Site web", "Maison"),
    ("A", "O2", "2025-02-10T09:00:00Z", "achat", 20.0, "Appli", "Beauté"),
    ("A", "R1", "2025-02-12T09:00:00Z", "retour", 10.0, "Site web", "Beauté"),
    ("B", "O3", "2025-03-01T12:00:00Z", "achat", 5.0, "Magasin", "Maison"),
    ("B", "O4", "2025-03-11T12:00:00Z", "achat", 7.0, "Magasin", "Maison"),
    ("C", "O5", "2025-04-01T08:00:00Z", "achat", 12.0, "Site web", "Beauté"),
]


def _shop(tmp_path: Path, config: str = "", *, types: dict[str, str] | None = None) -> Path:
    root = tmp_path / "ws"
    runner = CliRunner()
    out = runner.invoke(app, ["init", str(root)])
    assert out.exit_code == 0, out.output
    if config:
        path = root / "microseg.yaml"
        path.write_text(path.read_text(encoding="utf-8") + config, encoding="utf-8")
    log = tmp_path / "lines.csv"
    rows = ["event_id,customer_id,order_id,timestamp,type,amount,channel,category"]
    lines = [(c, o, t, (types or {}).get(k, k), *rest) for c, o, t, k, *rest in LINES]
    rows += [",".join([f"L{i}", *map(str, line)]) for i, line in enumerate(lines)]
    log.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = runner.invoke(app, ["--workspace", str(root), "ingest", "events", str(log)])
    assert out.exit_code == 0, out.output
    return root


FRENCH = """
traits:
  channels: [Site web, Appli, Magasin]
  event_types: {purchase: achat, return: retour}
"""


def _traits(root: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every customer's traits by the batch path and by the per-profile path."""
    ws = Workspace.open(root, clock=lambda: NOW)
    run = ws.traits.compute(as_of=AS_OF, save=False)
    batch = {r["customer_id"]: r for r in run.result.to_pyarrow().to_pylist()}
    single = {c: ws.traits.of(c, as_of=AS_OF) for c in batch}
    ws.close()
    return batch, single


def test_the_shop_channels_and_event_types_give_the_traits(tmp_path: Path) -> None:
    batch, single = _traits(_shop(tmp_path, FRENCH))
    for values in (batch, single):
        a, b = values["A"], values["B"]
        assert a["purchase_count"] == 2
        assert math.isclose(a["site_web_share"], 0.5)
        assert math.isclose(a["appli_share"], 0.5)
        assert a["magasin_share"] == 0
        assert a["purchase_channel_count"] == 2
        assert a["omnichannel"] is True
        assert b["omnichannel"] is False
        assert b["magasin_share"] == 1
        assert math.isclose(a["return_rate"], 1 / 3)  # one line back of three bought
        assert math.isclose(a["spend_share_beaute"], 0.5)  # 30 of 60: "Beauté", readable
        assert math.isclose(a["spend_share_maison"], 0.5)
        assert values["C"]["lifecycle_stage"] == "active"


def test_default_words_never_contradict_each_other(tmp_path: Path) -> None:
    """Without the shop's channels, no share is counted, and so no one is omnichannel
    (the channel values used to be counted as they came: omnichannel with 0% everywhere)."""
    root = _shop(tmp_path, types={"achat": "purchase", "retour": "return"})
    batch, single = _traits(root)
    for values in (batch, single):
        assert values["A"]["purchase_count"] == 2
        for customer, row in values.items():
            shares = [row[f"{c}_share"] for c in ("web", "app", "store")]
            bought_in = sum(1 for s in shares if s)
            assert row["omnichannel"] is (bought_in >= 2), customer
            assert row["purchase_channel_count"] == bought_in, customer


def test_a_mapping_groups_several_values_into_one_channel(tmp_path: Path) -> None:
    config = """
traits:
  channels:
    online: [Site web, Appli]
    store: [Magasin]
  event_types: {purchase: achat}
"""
    batch, single = _traits(_shop(tmp_path, config))
    for values in (batch, single):
        assert values["A"]["online_share"] == 1
        assert values["A"]["omnichannel"] is False
        assert "web_share" not in values["A"]


def test_traits_list_shows_the_vocabulary(tmp_path: Path) -> None:
    root = _shop(tmp_path, FRENCH)
    runner = CliRunner()
    out = runner.invoke(app, ["--workspace", str(root), "traits", "list", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    words = listed["vocabulary"]
    assert words["channels"] == {
        "site_web": ["Site web"],
        "appli": ["Appli"],
        "magasin": ["Magasin"],
    }
    assert words["event_types"]["purchase"] == "achat"
    assert words["event_types"]["return"] == "retour"
    assert words["categories"] == {"spend_share_beaute": "Beauté", "spend_share_maison": "Maison"}
    names = {t["name"] for t in listed["traits"]}
    assert {"site_web_share", "appli_share", "magasin_share", "omnichannel"} <= names
    plain = runner.invoke(app, ["--workspace", str(root), "traits", "list"])
    assert plain.exit_code == 0, plain.output
    assert "Site web" in plain.output
    assert "achat" in plain.output


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ("{Web: [web]}", "channel name 'Web'"),
        ("{web: [web], app: [web]}", "listed under both web and app"),
        ("[Site web, site-web]", "both give the name 'site_web'"),
        ("{discount: [promo]}", "discount_share is another built-in trait"),
    ],
)
def test_bad_channels_are_refused_with_the_line(
    tmp_path: Path, channels: str, message: str
) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    path = root / "microseg.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + f"\ntraits:\n  channels: {channels}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        Workspace.open(root)
    text = str(caught.value)
    assert message in text
    assert "traits.channels" in text
    assert "microseg.yaml:" in text


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("traits:\n  event_types: {purchase: any}\n", "traits.event_types.purchase"),
        (
            "traits:\n  event_types: {purchase: achat}\nvalue:\n  purchase_event: order\n",
            "give the purchase event type once",
        ),
    ],
)
def test_bad_event_types_are_refused(tmp_path: Path, config: str, message: str) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    (root / "microseg.yaml").write_text("version: 1\n" + config, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Workspace.open(root)
    assert message in str(caught.value)


def test_the_value_models_read_the_shop_purchase_type(tmp_path: Path) -> None:
    """traits.event_types.purchase names the value models' purchases too."""
    ws = Workspace.open(_shop(tmp_path, FRENCH), clock=lambda: NOW)
    assert ws.config.value.purchase_event == "achat"
    assert ws.config.value.return_event == "retour"
    ws.close()
