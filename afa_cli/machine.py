"""What this process may use of the machine, asked without importing torch: the orchestrating
commands (afa sweep, afa tune) split the cores between their jobs before any job starts."""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on (a SLURM allocation or taskset, not the whole machine)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
