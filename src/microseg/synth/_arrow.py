"""Vectorised helpers: sampling from per-row distributions and building Arrow columns fast."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

Arr = npt.NDArray[Any]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def draw_rows(rng: np.random.Generator, probs: Arr, rows: Arr) -> Arr:
    """Draw one category per row from ``probs[rows]`` (rows of a 2-D probability table)."""
    cum = np.asarray(np.cumsum(probs, axis=1), dtype=np.float64)
    cum[:, -1] = 1.0
    u = np.asarray(rng.random(rows.shape[0]))
    return np.asarray((u[:, None] >= cum[rows]).sum(axis=1), dtype=np.int64)


def draw(rng: np.random.Generator, probs: Sequence[float] | Arr, n: int) -> Arr:
    """Draw ``n`` categories from one probability vector."""
    p = np.asarray(probs, dtype=np.float64)
    cum = np.cumsum(p / p.sum())
    cum[-1] = 1.0
    return np.searchsorted(cum, rng.random(n), side="right").astype(np.int64)


def repeat_index(counts: Arr) -> tuple[Arr, Arr]:
    """Return (owner, rank): for ``counts[i]`` items of owner ``i``, each item's owner and rank."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.shape[0]), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(owner.shape[0]) - starts[owner]
    return owner, rank


def segmented_cumsum(values: Arr, owner: Arr, n_owners: int) -> Arr:
    """Cumulative sum of ``values`` restarting at each owner (``owner`` must be sorted)."""
    cs = np.cumsum(values)
    counts = np.bincount(owner, minlength=n_owners)
    ends = np.cumsum(counts)
    base = np.concatenate([[0.0], cs])[ends - counts]
    return np.asarray(cs - base[owner])


def _fixed(parts: list[Arr], n: int, valid: Arr | None = None) -> pa.Array:
    """String array whose rows are the concatenated byte columns ``parts`` (nulls where not
    ``valid``)."""
    width = sum(p.shape[1] for p in parts)
    if n * width >= 2**31:
        raise OverflowError("string column too large for one chunk")
    buf = np.empty((n, width), dtype=np.uint8)
    col = 0
    for p in parts:
        buf[:, col : col + p.shape[1]] = p
        col += p.shape[1]
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(width)
    bitmap, nulls = None, 0
    if valid is not None and not bool(np.all(valid)):
        bitmap = pa.py_buffer(np.packbits(np.asarray(valid, dtype=bool), bitorder="little"))
        nulls = int(n - np.count_nonzero(valid))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf), bitmap, nulls)


def _text(text: str, n: int) -> Arr:
    raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.broadcast_to(raw, (n, raw.shape[0]))


def decimal_ids(
    prefix: str, numbers: Arr, width: int, suffix: str = "", valid: Arr | None = None
) -> pa.Array:
    """Strings ``prefix + zero-padded number + suffix`` (e.g. ``C00000001``), null where not
    ``valid``."""
    nums = np.asarray(numbers, dtype=np.int64)
    n = nums.shape[0]
    digits = np.empty((n, width), dtype=np.uint8)
    rest = nums.copy()
    for j in range(width - 1, -1, -1):
        digits[:, j] = rest % 10 + 48
        rest //= 10
    return _fixed([_text(prefix, n), digits, _text(suffix, n)], n, valid)


def hex_ids(prefix: str, values: Arr) -> pa.Array:
    """Strings ``prefix + 16 hex digits`` of unsigned 64-bit ``values``."""
    vals = np.asarray(values, dtype=np.uint64)
    n = vals.shape[0]
    digits = np.empty((n, 16), dtype=np.uint8)
    for j in range(16):
        shift = np.uint64(4 * (15 - j))
        digits[:, j] = _HEX[((vals >> shift) & np.uint64(15)).astype(np.int64)]
    return _fixed([_text(prefix, n), digits], n)


def splitmix64(values: Arr) -> Arr:
    """Bijective 64-bit mix (SplitMix64 finaliser), used to derive unique opaque ids."""
    x = np.asarray(values, dtype=np.uint64).copy()
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def take_names(names: Sequence[str], codes: Arr) -> pa.Array:
    """String column from integer ``codes`` into ``names``; negative codes become null."""
    codes = np.asarray(codes, dtype=np.int64)
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes), mask=mask if mask.any() else None)
    return pa.array(list(names), type=pa.string()).take(idx)


def take_rows(values: pa.Array, index: Arr, valid: Arr | None = None) -> pa.Array:
    """``values.take(index)`` with rows where ``valid`` is False set to null."""
    idx_np = np.asarray(index, dtype=np.int64)
    mask = None if valid is None or bool(np.all(valid)) else ~np.asarray(valid, dtype=bool)
    if mask is not None:
        idx_np = np.where(mask, 0, idx_np)
    return values.take(pa.array(idx_np, mask=mask))


def float_column(values: Arr) -> pa.Array:
    """float64 column, NaN as null."""
    arr = np.asarray(values, dtype=np.float64)
    mask = np.isnan(arr)
    return pa.array(arr, type=pa.float64(), mask=mask if mask.any() else None)


def int_column(values: Arr, valid: Arr, type_: pa.DataType) -> pa.Array:
    """Integer column with nulls where ``valid`` is False."""
    mask = ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(values), type=type_, mask=mask if mask.any() else None)


def list_column(names: Sequence[str], hot: Arr) -> pa.Array:
    """list<string> column from a boolean (rows x names) multi-hot matrix."""
    _, cols = np.nonzero(hot)
    offsets = np.concatenate([[0], np.cumsum(hot.sum(axis=1))]).astype(np.int32)
    values = take_names(names, cols)
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values)
