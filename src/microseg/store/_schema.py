"""The canonical tables of a workspace store and the migrations that create them.

``customer_history`` grows one column per customer attribute as files bring
them (see :mod:`microseg.store._attributes`); everything else is fixed here.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ATTRIBUTE_SQL_TYPES",
    "EVENT_COLUMNS",
    "IDENTITY_TYPES",
    "MIGRATIONS",
    "PRODUCT_COLUMNS",
    "SCHEMA_VERSION",
]

#: Canonical event columns after identity resolution, with their store types.
EVENT_COLUMNS: Final[dict[str, str]] = {
    "event_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "timestamp": "TIMESTAMP",  # UTC, naive
    "type": "VARCHAR",
    "amount": "DOUBLE",
    "quantity": "BIGINT",
    "product_id": "VARCHAR",
    "category": "VARCHAR",
    "channel": "VARCHAR",
    "order_id": "VARCHAR",
    "campaign": "VARCHAR",
    "discount": "DOUBLE",
    "query": "VARCHAR",
    "properties": "JSON",
}

PRODUCT_COLUMNS: Final[dict[str, str]] = {
    "product_id": "VARCHAR",
    "category": "VARCHAR",
    "brand": "VARCHAR",
    "price": "DOUBLE",
    "tags": "VARCHAR[]",
    "properties": "JSON",
}

#: Identifiers that stitch one customer across channels, in order of precedence.
IDENTITY_TYPES: Final[tuple[str, ...]] = ("customer_id", "email", "phone", "anonymous_id")

#: Attribute types of the configuration and the store type that holds them.
ATTRIBUTE_SQL_TYPES: Final[dict[str, str]] = {
    "text": "VARCHAR",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "list": "VARCHAR[]",
}

_EVENTS_DDL = ", ".join(f'"{name}" {sql}' for name, sql in EVENT_COLUMNS.items())
_PRODUCTS_DDL = ", ".join(f'"{name}" {sql}' for name, sql in PRODUCT_COLUMNS.items())

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        """CREATE TABLE loads (
            load_id BIGINT, kind VARCHAR, sources VARCHAR[], started_at TIMESTAMP,
            finished_at TIMESTAMP, rows_read BIGINT, accepted BIGINT, duplicates BIGINT,
            rejected BIGINT, new_customers BIGINT, merged_customers BIGINT)""",
        """CREATE TABLE customer_registry (
            customer_id VARCHAR, first_seen TIMESTAMP, minted BOOLEAN,
            merged_into VARCHAR, load_id BIGINT)""",
        """CREATE TABLE customer_history (
            customer_id VARCHAR, valid_from TIMESTAMP, valid_to TIMESTAMP, load_id BIGINT)""",
        f"CREATE TABLE events ({_EVENTS_DDL}, load_id BIGINT)",
        f"CREATE TABLE products ({_PRODUCTS_DDL}, updated_at TIMESTAMP, load_id BIGINT)",
        """CREATE TABLE identities (
            id_type VARCHAR, id_value VARCHAR, customer_id VARCHAR,
            first_seen TIMESTAMP, load_id BIGINT)""",
        """CREATE TABLE merges (
            loser VARCHAR, survivor VARCHAR, via_type VARCHAR, via_value VARCHAR,
            merged_at TIMESTAMP, load_id BIGINT)""",
        """CREATE TABLE rejects (
            load_id BIGINT, kind VARCHAR, source VARCHAR, "row" BIGINT, line BIGINT,
            "column" VARCHAR, value VARCHAR, problem VARCHAR, reason VARCHAR, raw JSON,
            rejected_at TIMESTAMP)""",
    ),
    (
        """CREATE TABLE memberships (
            as_of TIMESTAMP, segment VARCHAR, version VARCHAR, customer_id VARCHAR)""",
        """CREATE TABLE segment_runs (
            as_of TIMESTAMP, segment VARCHAR, version VARCHAR, members BIGINT,
            customers BIGINT, evaluated_at TIMESTAMP)""",
    ),
    (
        """CREATE TABLE trait_values (
            as_of TIMESTAMP, customer_id VARCHAR, trait VARCHAR, number DOUBLE,
            text VARCHAR, flag BOOLEAN)""",
    ),
    ("CREATE TABLE trait_cuts (as_of TIMESTAMP, score VARCHAR, cuts DOUBLE[])",),
    (
        """CREATE TABLE value_fits (
            fit_id BIGINT, as_of TIMESTAMP, fitted_at TIMESTAMP, model VARCHAR, unit VARCHAR,
            customers BIGINT, fit JSON)""",
    ),
    (
        """CREATE TABLE discovery_runs (
            run_id BIGINT, as_of TIMESTAMP, created_at TIMESTAMP, method VARCHAR,
            customers BIGINT, clusters BIGINT, run JSON)""",
        """CREATE TABLE discovery_assignments (
            run_id BIGINT, customer_id VARCHAR, macro VARCHAR, cluster INTEGER)""",
    ),
    (
        # runs get a name (those stored before: run-<id>) and the assigner of new customers;
        # DuckDB refuses to commit an ALTER after an UPDATE of the same table: both first
        "ALTER TABLE discovery_runs ADD COLUMN name VARCHAR",
        "ALTER TABLE discovery_runs ADD COLUMN assigner JSON",
        "UPDATE discovery_runs SET name = 'run-' || CAST(run_id AS VARCHAR)",
    ),
    (
        # merges get an id, say whether what they moved was recorded (so that they can be
        # undone) and when they were undone; merge_moves records what each merge moved:
        #   event (key = event_id), identity (key = id_type, key2 = id_value),
        #   absorbed (key = a customer whose merged_into was the loser),
        #   closed_version / new_version (key = customer_id, at_time = valid_from, load_id)
        "ALTER TABLE merges ADD COLUMN merge_id BIGINT",
        "ALTER TABLE merges ADD COLUMN logged BOOLEAN",
        "ALTER TABLE merges ADD COLUMN unmerged_at TIMESTAMP",
        """UPDATE merges SET merge_id = n.merge_id, logged = false
        FROM (SELECT rowid AS rid, row_number() OVER (ORDER BY merged_at, load_id, loser)
              AS merge_id FROM merges) n
        WHERE merges.rowid = n.rid""",
        """CREATE TABLE merge_moves (
            merge_id BIGINT, what VARCHAR, key VARCHAR, key2 VARCHAR, at_time TIMESTAMP,
            load_id BIGINT)""",
        # identifiers that link no one: shared by too many customers, or undone by an unmerge
        """CREATE TABLE shared_identifiers (
            id_type VARCHAR, id_value VARCHAR, customers BIGINT, reason VARCHAR,
            load_id BIGINT, flagged_at TIMESTAMP)""",
    ),
    (
        # the keys of events' properties seen so far (rules' property names are checked
        # against them), kept up to date by every events load: see Store.note_property_keys
        "CREATE TABLE event_property_keys (key VARCHAR PRIMARY KEY, load_id BIGINT)",
        """INSERT INTO event_property_keys
        SELECT DISTINCT k, NULL FROM (SELECT unnest(json_keys(properties)) AS k FROM events
                                      WHERE json_type(properties) = 'OBJECT')""",
    ),
    (
        # the real-time path's entries and exits: when, who, which segment, and what caused
        # it (an event_id, 'expiry' or 'reconcile'); see docs/service.md
        """CREATE TABLE membership_log (
            changed_at TIMESTAMP, customer_id VARCHAR, segment VARCHAR, change VARCHAR,
            trigger VARCHAR)""",
    ),
    (
        # audience exports (docs/activation.md): what was sent where, when, to how many, a
        # hash of the member list; export_members keeps each export's full member list
        # (delta exports compare with the last one to the same destination)
        """CREATE TABLE exports (
            export_id BIGINT, segment VARCHAR, version VARCHAR, as_of TIMESTAMP,
            destination VARCHAR, format VARCHAR, channel VARCHAR, "rows" BIGINT,
            candidates BIGINT, excluded_withdrawn BIGINT, excluded_no_consent BIGINT,
            excluded_unreachable BIGINT, members BIGINT, members_sha256 VARCHAR,
            consent_ignored BOOLEAN, included_without_consent BIGINT, delta BOOLEAN,
            entered BIGINT, exited BIGINT, columns VARCHAR[], created_at TIMESTAMP)""",
        "CREATE TABLE export_members (export_id BIGINT, customer_id VARCHAR)",
    ),
    (
        # the webhook outbox (docs/activation.md, Webhooks): each batch with the exact body
        # it is posted with, its state (pending, delivered, dead) and attempts; the batches
        # parked after their last attempt; and the members last pushed to each destination
        # and segment (membership changes are computed against them)
        """CREATE TABLE webhook_batches (
            batch_id VARCHAR PRIMARY KEY, push_id VARCHAR, destination VARCHAR,
            segment VARCHAR, channel VARCHAR, kind VARCHAR, part INTEGER, parts INTEGER,
            as_of TIMESTAMP, created_at TIMESTAMP, records BIGINT, body VARCHAR,
            state VARCHAR, attempts INTEGER, last_status INTEGER, last_error VARCHAR,
            last_attempt_at TIMESTAMP, next_attempt_at TIMESTAMP, delivered_at TIMESTAMP)""",
        """CREATE TABLE webhook_dead_letters (
            batch_id VARCHAR, destination VARCHAR, died_at TIMESTAMP, attempts INTEGER,
            last_status INTEGER, reason VARCHAR, requeued_at TIMESTAMP)""",
        """CREATE TABLE webhook_pushed (
            destination VARCHAR, segment VARCHAR, customer_id VARCHAR, push_id VARCHAR,
            pushed_at TIMESTAMP)""",
    ),
    (
        # when stored trait values were computed, so that they are marked stale after a
        # later load (docs/governance.md, "Data quality and staleness")
        """CREATE TABLE trait_runs (
            as_of TIMESTAMP, computed_at TIMESTAMP, traits VARCHAR[], customers BIGINT)""",
    ),
    (
        # governance (docs/governance.md): each retention run, per table it trimmed; and
        # the tombstone of erased people: salted SHA-256 of their ids and identifiers,
        # never a clear value (the salt is the meta key erasure_salt)
        """CREATE TABLE retention_runs (
            run_id BIGINT, applied_at TIMESTAMP, table_name VARCHAR, action VARCHAR,
            period VARCHAR, cutoff TIMESTAMP, removed BIGINT, first_at TIMESTAMP,
            last_at TIMESTAMP, by_type JSON, archive VARCHAR)""",
        "CREATE TABLE forgotten (hash VARCHAR, kind VARCHAR, forgotten_at TIMESTAMP)",
    ),
    (
        # campaigns with a holdout (docs/activation.md): what was sent to whom and when; the
        # assignment keeps each audience member's side (treatment or control)
        """CREATE TABLE campaigns (
            name VARCHAR PRIMARY KEY, segment VARCHAR, version VARCHAR, audience VARCHAR,
            sent_at TIMESTAMP, holdout DOUBLE, salt VARCHAR, channel VARCHAR,
            members BIGINT, control BIGINT, created_at TIMESTAMP, target VARCHAR)""",
        """CREATE TABLE campaign_assignments (
            campaign VARCHAR, customer_id VARCHAR, "group" VARCHAR)""",
    ),
)

SCHEMA_VERSION: Final[int] = len(MIGRATIONS)
