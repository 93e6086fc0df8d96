from __future__ import annotations

from pathlib import Path

import pytest

from microseg import ConfigError, Workspace, WorkspaceError, load_config
from microseg.config import render_default_config


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "microseg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_config_is_valid() -> None:
    import yaml

    from microseg.config import WorkspaceConfig

    config = WorkspaceConfig.model_validate(yaml.safe_load(render_default_config("x")))
    assert config.family_of("city") == "geographic"
    assert config.family_of("shoe_size") is None
    assert "religion" in config.sensitive


def test_typo_names_file_line_and_suggests(tmp_path: Path) -> None:
    path = _config(tmp_path, "name: shop\ntimezone: UTC\ningest:\n  future_tolerence: 2 days\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:4" in message
    assert "ingest.future_tolerence" in message
    assert "did you mean 'future_tolerance'?" in message


def test_top_level_typo_suggests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'timezone'"):
        load_config(_config(tmp_path, "name: shop\ntimezon: UTC\n"))


def test_bad_values_are_located(tmp_path: Path) -> None:
    text = "name: shop\ntimezone: Europe/Pariss\ncurrency: euro\nretention:\n  events: forever\n"
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, text))
    message = str(info.value)
    assert (
        ":2: timezone: unknown time zone 'Europe/Pariss'; did you mean 'Europe/Paris'?" in message
    )
    assert ":3: currency" in message
    assert ":5: retention.events" in message
    assert "'forever' is not a duration" in message


def test_attribute_in_two_families(tmp_path: Path) -> None:
    text = "families:\n  geographic: [city]\n  demographic: [city]\n"
    with pytest.raises(ConfigError, match="listed under both geographic and demographic"):
        load_config(_config(tmp_path, text))


def test_invalid_yaml_has_a_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"microseg.yaml:2: not valid YAML"):
        load_config(_config(tmp_path, "name: shop\n  bad: [\n"))


def test_open_without_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a microseg workspace"):
        Workspace.open(tmp_path)


def test_init_twice_refuses(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "w").close()
    assert (tmp_path / "w" / "segments").is_dir()
    assert (tmp_path / "w" / "microseg.duckdb").exists()
    with pytest.raises(WorkspaceError, match="already exists"):
        Workspace.init(tmp_path / "w")


def test_unclassified_attributes_are_reported(tmp_path: Path) -> None:
    import pandas as pd

    ws = Workspace.init(tmp_path / "w")
    ws.ingest("customers", pd.DataFrame({"customer_id": ["C1"], "city": ["Lyon"], "shoe": [42]}))
    families = ws.attributes.families()
    ws.close()
    assert families["geographic"] == ["city"]
    assert families["unclassified"] == ["shoe"]


def test_default_config_promises_only_what_exists() -> None:
    """The commented microseg.yaml that `init` writes describes only implemented behaviour:
    retention removes data only when `microseg retention apply` runs, and there is no bias
    audit."""
    text = render_default_config("x").lower()
    assert "discard" not in text
    assert "bias audit" not in text
    assert "retention:" in text
    assert "applied by `microseg retention apply` only" in text
    # sensitive attributes are still explained, by what they do today
    assert "excluded from discovery" in text
