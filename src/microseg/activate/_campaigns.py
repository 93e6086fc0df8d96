"""Campaigns with a holdout: reserve a deterministic control group, send the rest.

A campaign is a segment's members (or a given audience) at the send time, split by the
holdout draw of :mod:`microseg.core.holdout` (sha256 of the campaign's salt and the
customer id): draws below the holdout share are the control group, kept out of the
mailing; the others are the treatment group, the one sent. The campaign and every
member's side are stored, so the measurement reads the same split whenever it runs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from microseg.core.errors import NotFoundError, OutputError, ParameterError, WorkspaceError
from microseg.core.holdout import in_holdout
from microseg.core.results import Instant, Result
from microseg.core.text import did_you_mean
from microseg.store import CampaignRepository, Store

__all__ = [
    "CampaignInfo",
    "CampaignList",
    "assign_groups",
    "campaign_info",
    "parse_share",
    "store_campaign",
    "write_treatment",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class CampaignInfo(Result):
    """A stored campaign: who it went to, when, and how its audience was split."""

    name: str
    segment: str | None
    version: str | None
    audience: str | None
    sent_at: Instant
    holdout: float
    salt: str
    channel: str
    members: int
    treatment: int
    control: int
    created_at: Instant | None
    #: where the treatment list was written (``--to``), if anywhere
    target: str | None


class CampaignList(Result):
    """Every stored campaign, the latest sent first."""

    campaigns: list[CampaignInfo]


def campaign_info(row: dict[str, Any]) -> CampaignInfo:
    """A stored campaign row as a result."""
    return CampaignInfo(
        **{k: v for k, v in row.items() if k != "members"},
        members=int(row["members"]),
        treatment=int(row["members"]) - int(row["control"]),
    )


def parse_share(text: str | float) -> float:
    """A holdout share from ``10%``, ``0.1`` or a number: strictly between 0 and 1."""
    value: float
    if isinstance(text, int | float):
        value = float(text)
    else:
        raw = text.strip()
        try:
            value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
        except ValueError:
            raise ParameterError(
                f"the holdout must be a share such as 10% or 0.1, got {text!r}"
            ) from None
    if not 0 < value < 1:
        raise ParameterError(
            f"the holdout must be strictly between 0% and 100%, got {text!r}",
            hint="a control group of 5% to 20% is usual; 50% measures fastest",
        )
    return value


def check_new_name(repo: CampaignRepository, name: str) -> None:
    """Refuse a name that is not a plain name or is taken by a stored campaign."""
    if not _NAME.match(name):
        raise ParameterError(
            f"campaign name {name!r}: use letters, digits, '-', '_' or '.' "
            "(at most 100, starting with a letter or digit)"
        )
    if repo.get(name) is not None:
        raise WorkspaceError(
            f"a campaign called {name!r} exists already; its assignment is kept as stored",
            hint="measure it with `microseg campaign measure " + name + "`, or pick a new name",
        )


def known_campaign(repo: CampaignRepository, name: str) -> dict[str, Any]:
    """The stored campaign ``name``, or an error naming the closest one."""
    row = repo.get(name)
    if row is None:
        names = repo.names()
        raise NotFoundError(
            f"no campaign called {name!r}{did_you_mean(name, names)}",
            hint="list them with `microseg campaign list`"
            if names
            else "create one with `microseg campaign create NAME --segment SEGMENT`",
        )
    return row


def assign_groups(salt: str, customer_ids: Sequence[str], holdout: float) -> pa.Table:
    """``customer_id`` and ``group`` (``control`` when the draw is below ``holdout``, else
    ``treatment``) of each id, by id."""
    ids = sorted(set(customer_ids))
    control = in_holdout(salt, ids, holdout)
    groups = ["control" if c else "treatment" for c in control]
    return pa.table({"customer_id": pa.array(ids, pa.string()), "group": groups})


def store_campaign(
    store: Store,
    row: dict[str, Any],
    customer_ids: Sequence[str],
    to: Path | None = None,
) -> CampaignInfo:
    """Split the audience, write the treatment group to ``to`` (first: a list that cannot
    be written leaves no campaign behind), then store the campaign and its assignment."""
    repo = CampaignRepository(store)
    check_new_name(repo, row["name"])
    if not customer_ids:
        raise ParameterError(
            "the campaign's audience is empty: nobody to send to or to hold out",
            where="segment" if row["segment"] is not None else "audience",
            hint="choose a segment with members who consented to the channel, or give ids",
        )
    assignment = assign_groups(row["salt"], customer_ids, row["holdout"])
    groups = assignment.column("group").to_pylist()
    ids = assignment.column("customer_id").to_pylist()
    treatment = [c for c, g in zip(ids, groups, strict=True) if g == "treatment"]
    full = {**row, "members": len(ids), "control": len(ids) - len(treatment)}
    info = campaign_info(full)
    if to is not None:
        write_treatment(to, treatment, info)
    repo.insert(full, assignment)
    return info


def write_treatment(path: Path, customer_ids: Sequence[str], campaign: CampaignInfo) -> None:
    """Write the treatment group, the customers to send to, as a plain CSV of
    ``customer_id``.

    This is the one place a campaign's audience leaves microseg. A segment's audience is
    already consent-aware (its members who consented to ``campaign.channel`` and are
    reachable on it, at the send time: ``create_campaign`` in ``activate/_run.py``); ids
    given are written as they are. The file carries no stamp and is not in the exports
    log.
    """
    del campaign  # the plain CSV carries no stamp yet
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["customer_id"])
            writer.writerows([c] for c in customer_ids)
    except OSError as exc:
        raise OutputError(
            f"cannot write the treatment group: {exc.strerror}", where=str(path)
        ) from None


def read_audience(path: Path) -> list[str]:
    """Customer ids from a CSV (a ``customer_id`` column) or Parquet file."""
    if not path.is_file():
        raise ParameterError(f"no audience file at {path}", hint="give a CSV or Parquet file")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "customer_id" not in table.column_names:
            raise ParameterError("the audience file has no customer_id column", where=str(path))
        return [str(c) for c in table.column("customer_id").to_pylist() if c is not None]
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "customer_id" not in reader.fieldnames:
            raise ParameterError(
                "the audience file has no customer_id column in its header line",
                where=f"{path}, line 1",
            )
        ids = []
        for line, row in enumerate(reader, start=2):
            value = (row.get("customer_id") or "").strip()
            if not value:
                raise ParameterError("an empty customer_id", where=f"{path}, line {line}")
            ids.append(value)
        return ids
