"""Ctrl-C, and the SIGTERM that torchrun, SLURM or kill send before they stop a process: the
loop finishes its step, saves checkpoints/last and stops, so that --resume can continue."""

from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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
