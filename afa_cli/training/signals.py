"""Ctrl-C, and the SIGTERM that torchrun, SLURM or kill send before they stop a process: the
loop finishes its step, saves checkpoints/last and stops, so that --resume can continue."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Set by a sweep for its jobs: the process id of the sweep that started them.
PARENT_PID_VARIABLE = "AFA_STOP_WITH_PARENT"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def stop_with_parent() -> None:
    """In a sweep job: a SIGTERM (so a checkpoints/last and a clean stop) as soon as the sweep
    process dies, however it dies, even by kill -9, so that no job trains on as an orphan that a
    later `afa sweep --resume` would not know of. Linux only: elsewhere a job outlives a killed
    sweep, and the sweep's resume refuses to touch a job whose run is still locked."""
    parent = os.environ.get(PARENT_PID_VARIABLE)
    if parent is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # the sweep died before the request above
        os.kill(os.getpid(), signal.SIGTERM)


class StopSignals:
    """`with StopSignals() as stop:` ... `stop.requested` turns true on a stop signal."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _request(self, signum, frame) -> None:
        self.requested = True

    def __enter__(self) -> "StopSignals":
        self._previous = {sig: signal.signal(sig, self._request) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> bool:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
