"""Writing every buyer's predictions to a file (``microseg clv predict --out``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, get_args

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from microseg.core.errors import OutputError, ParameterError

__all__ = ["PREDICTION_FORMATS", "PredictionFormat", "write_predictions"]

PredictionFormat = Literal["csv", "parquet", "json"]
#: The formats :func:`write_predictions` writes.
PREDICTION_FORMATS: tuple[str, ...] = get_args(PredictionFormat)


def write_predictions(table: pa.Table, path: Path, format: str = "csv") -> None:
    """Write ``table`` (one row per buyer) to ``path`` as CSV, Parquet or JSON lines.

    JSON lines write one object per row; values JSON has no type for (dates, times,
    decimals) are written as their text. An unknown format is a :class:`ParameterError`,
    a file that cannot be written an :class:`OutputError`.
    """
    if format not in PREDICTION_FORMATS:
        raise ParameterError(
            f"unknown format {format!r}: use {', '.join(PREDICTION_FORMATS)}", where="format"
        )
    try:
        if format == "csv":
            pa_csv.write_csv(table, path)
        elif format == "parquet":
            pq.write_table(table, path)
        else:
            lines = (json.dumps(row, default=str) for row in table.to_pylist())
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(
            f"cannot write the file: {exc.strerror or exc}",
            where=str(path),
            hint="check that the folder exists and can be written",
        ) from None
