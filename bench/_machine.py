"""Describe the machine a benchmark ran on, for the committed results."""

from __future__ import annotations

import os
import platform
from typing import Any


def describe() -> dict[str, Any]:
    import duckdb
    import ibis

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            total_kib = int(info.readline().split()[1])
            memory_gib = round(total_kib / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "ibis": ibis.__version__,
    }


def summary(machine: dict[str, Any]) -> str:
    """One line of :func:`describe`, for a results table's caption."""
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Python {machine['python']}, DuckDB {machine['duckdb']}"
    )
