"""The workspace store: canonical tables in one DuckDB file (see docs/data-model.md)."""

from microseg.store._campaigns import CAMPAIGN_COLUMNS, CampaignRepository
from microseg.store._dialect import DuckDBDialect
from microseg.store._erase import SALT_KEY, ErasedRows, Person, tombstone_hash
from microseg.store._exports import ExportRepository
from microseg.store._outbox import OutboxRepository
from microseg.store._result import ResultTable
from microseg.store._retain import Expiry
from microseg.store._runs import RunRepository, RunRow
from microseg.store._schema import (
    ATTRIBUTE_SQL_TYPES,
    EVENT_COLUMNS,
    IDENTITY_TYPES,
    PRODUCT_COLUMNS,
    SCHEMA_VERSION,
)
from microseg.store._sql import ident, idents
from microseg.store._store import Generation, Store

__all__ = [
    "ATTRIBUTE_SQL_TYPES",
    "CAMPAIGN_COLUMNS",
    "EVENT_COLUMNS",
    "IDENTITY_TYPES",
    "PRODUCT_COLUMNS",
    "SALT_KEY",
    "SCHEMA_VERSION",
    "CampaignRepository",
    "DuckDBDialect",
    "ErasedRows",
    "Expiry",
    "ExportRepository",
    "Generation",
    "OutboxRepository",
    "Person",
    "ResultTable",
    "RunRepository",
    "RunRow",
    "Store",
    "ident",
    "idents",
    "tombstone_hash",
]
