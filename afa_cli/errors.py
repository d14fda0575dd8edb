"""The one exception type the CLI turns into a single error line and a non-zero exit, and the
write failures that are the machine's state rather than a fault of afa (a full disk)."""

from __future__ import annotations

import errno
import re


class UserError(Exception):
    """Bad input from the user: the message says what is wrong and how to fix it."""


NO_ROOM = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
           errno.EFBIG: "the file size limit (ulimit -f) is reached"}


def no_room(err: BaseException) -> str | None:
    """Why a write failed for want of room, or None when err is not such a failure. Writers in
    Rust (safetensors) raise their own type, with the OS error in the message."""
    if isinstance(err, OSError):
        return NO_ROOM.get(err.errno)
    found = re.search(r"\(os error (\d+)\)", str(err))
    return NO_ROOM.get(int(found.group(1))) if found else None
