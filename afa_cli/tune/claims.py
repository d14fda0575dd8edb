"""Which search process runs which trial. A process claims each trial it runs, new or continued,
by holding the lock of <tune folder>/.claims/trial_NNN/ as a training holds its run's (flock: the
operating system drops it when the process ends, however it ends, and NFS shares it between
machines). A trial the study holds as RUNNING whose claim is free was left by a search process
that stopped (Ctrl-C, kill, a lost machine): --resume and --join continue it. One whose claim is
held is another worker's, and is left alone."""

from __future__ import annotations

import shutil
from pathlib import Path

from afa_cli.errors import UserError
from afa_cli.runs import Run
from afa_cli.tune.study import run_name

CLAIMS = ".claims"


def claim(folder: Path, number: int) -> bool:
    """Claim trial `number` for this process; False when another process holds it."""
    holder = _holder(folder, number)
    for _ in range(10):  # another process's release may remove .claims/ between the two steps
        try:
            holder.path.mkdir(parents=True, exist_ok=True)
            holder.lock()
            return True
        except FileNotFoundError:
            continue
        except UserError:
            return False
    return False


def is_claimed(folder: Path, number: int) -> bool:
    """Whether another live process holds the trial's claim."""
    return _holder(folder, number).writer() is not None


def release(folder: Path, number: int) -> None:
    """Give up the claim of a trial the study was told the end of (a stopped trial's claim goes
    with its process instead, for --resume to take)."""
    holder = _holder(folder, number)
    holder.unlock()
    shutil.rmtree(holder.path, ignore_errors=True)
    try:
        holder.path.parent.rmdir()  # the last claim out
    except OSError:
        pass


def _holder(folder: Path, number: int) -> Run:
    return Run(Path(folder) / CLAIMS / run_name(number))
