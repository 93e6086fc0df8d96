"""``ws.activate``: what reaches customers (exports, webhooks, campaigns) and what it did.

Every audience honours consent and reachability per channel; every export, post and
campaign is recorded in the workspace (docs/activation.md). No SQL text here: tables are
read and written through the store and Ibis (docs/architecture.md).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from microseg.activate._audience import build_audience
from microseg.activate._campaigns import CampaignInfo, CampaignList, known_campaign
from microseg.activate._consent import Audience, channel_consent, identifiers_of
from microseg.activate._export import (
    ExportPlan,
    ExportRecord,
    ad_table,
    destination_of,
    format_for,
    write_export,
)
from microseg.activate._hashing import AD_FORMATS
from microseg.activate._measure import CampaignMeasurement
from microseg.activate._run import (
    CampaignRequest,
    create_campaign,
    list_campaigns,
    measure_campaign,
)
from microseg.activate._webhook_results import (
    ActivationStatus,
    DeliveryReport,
    PushResult,
    ResendResult,
)
from microseg.activate._webhooks import Sleep, Webhooks
from microseg.context import Context
from microseg.core.errors import NotFoundError, ParameterError
from microseg.core.text import did_you_mean
from microseg.core.time import AsOf
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.store import CampaignRepository
from microseg.traits.api import Traits

__all__ = ["Activate"]


class Activate:
    """The activation namespace of a workspace, over its segments."""

    def __init__(
        self,
        context: Context,
        profile: ProfileAssembler,
        traits: Traits,
        segments: Segments,
    ) -> None:
        self._context = context
        self._profile = profile
        self._traits = traits
        self._segments = segments

    # -- consent, reachability and exports (docs/activation.md) --------------------------------

    def audience(
        self,
        segment: str,
        *,
        channel: str | None = None,
        as_of: AsOf | None = None,
        ignore_consent: bool = False,
    ) -> Audience:
        """The members of ``segment`` at ``as_of`` who may be reached on ``channel``.

        Only customers who consented to the channel (``consent:`` in ``microseg.yaml``:
        the opt-in attribute as of ``as_of`` or a later unsubscribe/resubscribe event) and
        have one of its identifiers are kept; the result counts who was left out and why.
        ``ignore_consent`` keeps those without consent (still not the unreachable), and
        says so. Without a channel, every member is kept.

        Examples
        --------
        >>> audience = ws.activate.audience("vip", channel="email")  # doctest: +SKIP
        >>> audience.excluded                                          # doctest: +SKIP
        {'withdrawn': 3, 'no_consent': 41, 'unreachable': 2}
        """
        settings = self._context.config.consent
        if channel is not None:
            channel_consent(settings, channel)
        run = self._segments.evaluate([segment], as_of=as_of, save=False)
        return build_audience(
            self._context.store,
            settings,
            run.members(segment),
            segment=segment,
            version=run.versions[segment],
            moment=run.as_of,
            channel=channel,
            ignore_consent=ignore_consent,
        )

    def export(
        self,
        segment: str,
        *,
        to: str | Path,
        format: str | None = None,
        columns: Sequence[str] | None = None,
        channel: str | None = None,
        as_of: AsOf | None = None,
        delta: bool = False,
        ignore_consent: bool = False,
    ) -> ExportRecord:
        """Write the audience of ``segment`` to the file ``to`` and record the export.

        ``format``: ``csv``, ``parquet``, ``jsonl`` (from the suffix by default), or the
        ad-platform files ``google-ads`` / ``meta-ads`` (hashed identifiers only; channel
        ``ads`` unless another is given). ``columns`` adds attributes (as of ``as_of``)
        and identities. ``delta`` writes who entered and who left since the last export of
        the segment to the same file (a ``change`` column), and records the full list.
        The file is stamped (segment, version, as_of) and written atomically.

        Examples
        --------
        >>> ws.activate.export("vip", to="vip.csv", channel="email")  # doctest: +SKIP
        """
        store = self._context.store
        path = destination_of(to)
        fmt = format_for(path, format)
        chosen = list(dict.fromkeys(c.strip() for c in columns or () if c.strip()))
        if fmt in AD_FORMATS:
            if chosen:
                raise ParameterError(
                    f"--columns cannot be used with --format {fmt}: an ad-platform file "
                    "holds hashed identifiers only",
                    where="--columns",
                    hint="leave --columns out, or export csv/parquet/jsonl",
                )
            channel = channel or "ads"
        audience = self.audience(
            segment, channel=channel, as_of=as_of, ignore_consent=ignore_consent
        )
        table, changes = audience.members, None
        if delta:
            last = store.exports.last_to(segment, str(path))
            before = store.exports.members(last) if last is not None else []
            table, changes = self._delta_rows(audience, before)
        if fmt in AD_FORMATS:
            hashed_ids = ad_table(table, fmt, audience.identifiers)
            if delta:
                hashed_ids = hashed_ids.append_column("change", table.column("change"))
            table = hashed_ids
        elif chosen:
            table = self._with_columns(table, chosen, as_of)
        plan = ExportPlan(
            audience, table, path=path, fmt=fmt, delta=delta, changes=changes, columns=chosen
        )
        return write_export(store, plan, created_at=self._context.now())

    def exports(self, segment: str | None = None) -> list[ExportRecord]:
        """The exports log, newest first (of ``segment`` when given)."""
        rows = self._context.store.exports.rows(segment)
        return [ExportRecord.from_row(r) for r in rows]

    def export_file(self, export_id: int, *, within: Path) -> tuple[Path, ExportRecord]:
        """The file of export ``export_id`` and its record, when it is still the one that
        export wrote (no later export to the same file replaced it), in the folder
        ``within``, and still there; a :class:`NotFoundError` saying which otherwise."""
        records = self.exports()
        found = next((r for r in records if r.export_id == export_id), None)
        if found is None:
            raise NotFoundError(
                f"no export {export_id}",
                hint="the exports log lists them: `microseg export --list`, GET /api/exports",
            )
        later = [r.export_id for r in records
                 if r.destination == found.destination and r.export_id > export_id]  # fmt: skip
        if later:
            raise NotFoundError(
                f"export {export_id}'s file was replaced by export {max(later)} "
                "(the same file name)",
                hint=f"read export {max(later)}'s file instead",
            )
        path = Path(found.destination)
        if path.parent.resolve() != within.resolve():
            raise NotFoundError(
                f"export {export_id} was written to {path.name!r} outside the workspace's "
                f"{within.name}/ folder; only files written there are served",
                hint="read it where `microseg export` wrote it",
            )
        if not path.is_file():
            raise NotFoundError(f"the file of export {export_id} is gone", where=path.name)
        return path, found

    def _delta_rows(
        self, audience: Audience, before: list[str]
    ) -> tuple[pa.Table, tuple[int, int]]:
        members = audience.members
        now = set(members.column("customer_id").to_pylist())
        gone = set(before)
        entered = members.filter(
            pc.invert(pc.is_in(members.column("customer_id"), pa.array(list(gone), pa.string())))
        )
        left_ids = sorted(gone - now)
        left = pa.table({"customer_id": pa.array(left_ids, pa.string())})
        if audience.identifiers:
            looked_up = identifiers_of(
                self._context.store, ibis.memtable(left), audience.identifiers
            )
            left = looked_up.order_by("customer_id").to_pyarrow()
        left = left.select(members.column_names).cast(members.schema)
        rows = pa.concat_tables(
            [
                entered.append_column(
                    "change", pa.array(["entered"] * entered.num_rows, pa.string())
                ),
                left.append_column("change", pa.array(["left"] * left.num_rows, pa.string())),
            ]
        )
        return rows, (entered.num_rows, left.num_rows)

    def _with_columns(self, table: pa.Table, columns: list[str], as_of: AsOf | None) -> pa.Table:
        attributes = self._profile.attributes(as_of)
        store = self._context.store
        identities = store.table("identities")
        kinds = identities.select("id_type").distinct().to_pyarrow().column("id_type")
        kinds_known = sorted(str(k) for k in kinds.to_pylist() if k and k != "customer_id")
        known = [*(c for c in attributes.columns if c != "customer_id"), *kinds_known]
        for name in columns:
            if name not in known:
                raise ParameterError(
                    f"--columns {name!r}: not an attribute or an identity of this workspace"
                    + did_you_mean(name, known),
                    where="--columns",
                    hint="choose from " + ", ".join(known),
                )
        extra = [c for c in columns if c not in table.column_names]
        wanted = [c for c in extra if c in attributes.columns]
        base = ibis.memtable(table)
        joined = base
        if wanted:
            picked = attributes.select("customer_id", *wanted).rename(attr_id="customer_id")
            joined = joined.left_join(picked, joined.customer_id == picked.attr_id).drop("attr_id")
        looked = [c for c in extra if c not in wanted]
        if looked:
            joined = identifiers_of(store, joined, looked)
        order = ["change", "customer_id"] if "change" in table.column_names else ["customer_id"]
        ordered = joined.select(*table.column_names, *extra).order_by(order)
        result: pa.Table = store.ibis.to_pyarrow(ordered)
        return result

    # -- webhooks (docs/activation.md, Webhooks) ----------------------------------------------

    @property
    def _webhooks(self) -> Webhooks:
        return Webhooks(self._context, self._segments, self.audience)

    def push(
        self,
        segment: str,
        destination: str,
        *,
        channel: str | None = None,
        as_of: AsOf | None = None,
    ) -> PushResult:
        """Queue ``segment`` for the webhook ``destination`` (``destinations:`` in
        microseg.yaml): its whole audience the first time, then who entered and who left
        since the last push there. Nothing is posted until :meth:`deliver`.

        Examples
        --------
        >>> ws.activate.push("vip", "crm").batches                      # doctest: +SKIP
        >>> ws.activate.deliver().delivered                             # doctest: +SKIP
        """
        return self._webhooks.push(segment, destination, channel=channel, as_of=as_of)

    def deliver(
        self,
        destination: str | None = None,
        *,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> DeliveryReport:
        """Post the pending webhook batches that are due, signed, retried with backoff;
        delivered batches are never posted again, failed ones end dead (see
        :meth:`status`). ``sleep`` and ``rng`` replace the real wait and jitter (tests)."""
        return self._webhooks.deliver(destination, sleep=sleep, rng=rng)

    def status(self) -> ActivationStatus:
        """Per destination: delivered, pending and dead webhook batches, and why each dead
        one died."""
        return self._webhooks.status()

    def resend(
        self, batch_id: str | None = None, *, dead: bool = False, destination: str | None = None
    ) -> ResendResult:
        """Put a dead batch (or every dead one, ``dead=True``) back in the outbox for the
        next :meth:`deliver`."""
        return self._webhooks.resend(batch_id, dead=dead, destination=destination)

    # -- campaigns, holdouts and uplift (docs/activation.md) ----------------------------------

    def campaign_create(
        self,
        name: str,
        *,
        segment: str | None = None,
        audience: Sequence[str] | None = None,
        holdout: float | str = 0.1,
        channel: str = "email",
        as_of: AsOf | None = None,
        salt: str | None = None,
        to: str | Path | None = None,
    ) -> CampaignInfo:
        """Reserve a deterministic control group of ``holdout`` and store the campaign.

        The audience is ``segment``'s members at ``as_of`` (the send time; now by default,
        the snapshot is stored) who consented to ``channel`` and are reachable on it
        (:meth:`audience`), or the given ``audience`` ids as they are. A member is in control when
        sha256 of ``salt:customer_id`` (the salt defaults to ``campaign:NAME``), read as a
        number in [0, 1), is below ``holdout``: the same customer is on the same side at
        every run. ``to`` receives the treatment group, the customers to send to.

        >>> ws.activate.campaign_create("spring", segment="anime-buyers", holdout="10%")
        ... # doctest: +SKIP
        """
        return create_campaign(
            self._context,
            self._segments,
            CampaignRequest(name, segment, audience, holdout, channel, as_of, salt, to),
            self.audience,
        )

    def campaign_measure(
        self,
        name: str,
        *,
        outcome: str = "email_open",
        window: str = "14 days",
        by: Sequence[str] = (),
        cuped: bool = False,
    ) -> CampaignMeasurement:
        """The campaign's uplift on ``outcome`` events within ``window`` after the send.

        Per group: members, converters (at least one outcome event), rate and revenue per
        member; the absolute and relative uplift with 95% intervals and the p-value of the
        two-proportion test; with ``cuped``, the same adjusted by the pre-period outcome.
        ``by`` adds a row per segment (a segment name) or per micro-segment (grid
        dimensions such as ``gender`` or ``age:25,45``), members taken at the send.
        """
        return measure_campaign(
            self._context, self._segments, name, outcome, window, list(by), with_cuped=cuped
        )

    def campaigns(self) -> CampaignList:
        """Every stored campaign, the latest sent first."""
        return list_campaigns(self._context.store)

    def campaign_members(self, name: str, *, group: str = "treatment") -> ibis.Table:
        """The ``customer_id`` of a stored campaign's ``group``: ``treatment`` (those to
        send to) or ``control`` (those held out)."""
        if group not in ("treatment", "control"):
            raise ParameterError(
                f"no group {group!r} in a campaign", where="group", hint="treatment or control"
            )
        repo = CampaignRepository(self._context.store)
        known_campaign(repo, name)
        table = repo.assignments(name)
        return table.filter(table.group == group).select("customer_id")
