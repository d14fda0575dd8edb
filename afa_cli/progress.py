"""Progress of long work as the library reports it: the work advances by units, and whoever
watches decides how that is shown (afa_cli/display.py draws it on a terminal or in a log)."""

from __future__ import annotations

from typing import Protocol


class WorkProgress(Protocol):
    """Progress over a known number of units of one piece of work, entered around the work:
    `with progress: ... progress.advance(k)`."""

    def __enter__(self) -> WorkProgress: ...

    def __exit__(self, *exc) -> bool: ...

    def advance(self, units: int = 1) -> None: ...


class NoProgress(WorkProgress):
    """For callers with nobody watching."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def advance(self, units: int = 1) -> None:
        pass
