"""Who writes a run: the .lock file its writing process holds, released however that process
ends."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from afa_cli.errors import UserError

_HELD_LOCKS: dict[Path, int] = {}  # run folder -> the open lock file this process holds


class WriterLock:
    """Run's .lock, which names the pid of the process writing the run."""

    LOCK = ".lock"
    path: Path  # the run folder

    def lock(self) -> None:
        """Mark the run as written by this process until release_locks() or the process's end,
        however it ends (the operating system drops the lock of a dead process, so a stale lock
        is simply taken over). A run another live process writes is a UserError naming it."""
        handle = os.open(self.path / self.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip()
            os.close(handle)
            raise UserError(f"{self.path} is being written by process {holder or '?'}; wait for "
                            f"it to end or stop it (kill {holder or 'PID'}) first.") from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        _HELD_LOCKS[self.path.resolve()] = handle

    def unlock(self) -> None:
        """Release this run's lock, when this process holds it."""
        handle = _HELD_LOCKS.pop(self.path.resolve(), None)
        if handle is not None:
            os.close(handle)

    def writer(self) -> int | None:
        """The pid of the live process writing the run, None when no process does."""
        path = self.path / self.LOCK
        if not path.is_file() or self.path.resolve() in _HELD_LOCKS:
            return None
        handle = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            return int(os.pread(handle, 64, 0).decode().strip() or 0) or None
        finally:
            os.close(handle)


def release_locks() -> None:
    """Release every run lock this process holds."""
    while _HELD_LOCKS:
        os.close(_HELD_LOCKS.popitem()[1])
