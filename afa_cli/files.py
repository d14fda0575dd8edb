"""Every file afa writes: written beside its name and renamed into place when complete, so that
no reader, and no later command, finds half a file; never over an existing file unless the
caller replaces it on purpose; and a write that fails for want of room (a full disk, a quota, a
file size limit) is one UserError naming the file, with the temporary file and the folders
made for it removed.

    with new_file(path) as tmp: writer(tmp)          # a library that writes to a path
    with open_new(path) as handle: handle.write(...)  # a stream (JSON lines, CSV, HTML)
    write_text(path, text, replace=True)             # whole text at once
    write_numbered(folder, stem, ".json", text)      # <stem>.json, else <stem>-2.json, ...
    torch_save(obj, path)                            # torch.save, its write errors as OSError
    write_cache(path, writer)                        # a cache: a failure returned, not raised
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from afa_cli.errors import UserError, no_room

AGAIN = "run the command again"


def room_error(path: str | Path, err: BaseException, then: str = AGAIN) -> UserError | None:
    """The one line for a write of `path` that failed for want of room; None for another
    failure. `then` ends the line; one that ends in a command to copy (after a colon, "continue
    with: afa ...") gets no period."""
    why = no_room(err)
    if why is None:
        return None
    return UserError(f"Cannot write {path}: {why}. Free some space, then {then}"
                     f"{'' if ': ' in then else '.'}")


def make_folders(folder: Path) -> list[Path]:
    """folder and its missing parents, created; returns the ones created here, deepest first,
    for remove_folders (on a failure, the ones made so far are removed)."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        remove_folders(missing)
        raise
    return missing


def remove_folders(created: list[Path]) -> None:
    """Remove the folders make_folders created, deepest first, as long as they are empty:
    whatever another process put there meanwhile stays."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


@contextmanager
def new_file(path: str | Path, *, replace: bool = False, then: str = AGAIN) -> Iterator[Path]:
    """A temporary path beside `path` for a writer to fill; when the block ends it becomes
    `path` (over an existing file only when `replace`, else that is one line). On any failure,
    Ctrl-C included, the temporary file and the folders made for it are removed; a failure for
    want of room is one UserError naming `path`, ending with `then`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    created: list[Path] = []
    try:
        created = make_folders(path.parent)
        yield tmp
        if replace:
            os.replace(tmp, path)
        elif not _published(tmp, path):
            raise UserError(f"{path} already exists; choose a new file name.")
    except BaseException as err:
        _remove(tmp)
        remove_folders(created)
        if (failure := room_error(path, err, then)) is not None:
            raise failure from None
        raise
    finally:
        _remove(tmp)  # after a hard link, the name it was written under


@contextmanager
def open_new(path: str | Path, mode: str = "w", *, replace: bool = False, then: str = AGAIN,
             **kwargs) -> Iterator[IO]:
    """A new file as an open handle (text in UTF-8 unless `mode` is binary), published whole when
    the block ends: see new_file."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with new_file(path, replace=replace, then=then) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_cache(path: Path, write: Callable[[Path], None]) -> OSError | None:
    """A file that only saves time later (a cache): `write(tmp)` fills a temporary file that
    then replaces `path`; a write that fails (a full disk, a read-only folder) leaves nothing
    behind, and its OSError is returned for the caller to warn about, not raised."""
    created: list[Path] = []
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        created = make_folders(path.parent)
        write(tmp)
        os.replace(tmp, path)
        return None
    except OSError as err:
        if err.filename in (None, str(tmp)):
            err.filename = str(path)
        return err
    finally:
        _remove(tmp)
        if not path.exists():
            remove_folders(created)


def write_text(path: str | Path, text: str, *, replace: bool = False, then: str = AGAIN) -> None:
    with open_new(path, replace=replace, then=then) as handle:
        handle.write(text)


def write_numbered(folder: Path, stem: str, suffix: str, text: str, then: str = AGAIN) -> Path:
    """folder/<stem><suffix>, or <stem>-2<suffix>, -3, ... whichever does not exist yet, written
    whole or not at all; two writers at once get two names."""
    first = folder / f"{stem}{suffix}"
    tmp = folder / f".{stem}{suffix}.{os.getpid()}.tmp"
    created: list[Path] = []
    try:
        created = make_folders(folder)
        tmp.write_text(text, encoding="utf-8")
        for attempt in range(1, 10_000):
            path = first if attempt == 1 else folder / f"{stem}-{attempt}{suffix}"
            if _published(tmp, path):
                return path
        raise UserError(f"{folder} holds 10,000 files named {stem}-N{suffix}; move some away.")
    except BaseException as err:
        remove_folders(created)
        if (failure := room_error(first, err, then)) is not None:
            raise failure from None
        raise
    finally:
        _remove(tmp)


def append_line(path: Path, line: str) -> None:
    """One line added to a log (metrics.jsonl): whole, or, when it cannot be written, not at
    all (the file is cut back to its previous end), as one line naming the file."""
    data = (line if line.endswith("\n") else line + "\n").encode("utf-8")
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        end = os.fstat(handle).st_size
        written = 0
        try:
            while written < len(data):
                written += os.write(handle, data[written:])
        except OSError as err:
            os.ftruncate(handle, end)
            if (failure := room_error(path, err)) is not None:
                raise failure from None
            raise
    finally:
        os.close(handle)


def torch_save(obj, path: str | Path) -> None:
    """torch.save into `path`. torch's own file writer reports a failed write as a RuntimeError
    with no errno ("unexpected pos"); written through a Python file, the OSError behind it (a full
    disk, a file size limit) is raised instead, naming the file."""
    import torch

    try:
        with open(path, "wb") as handle:
            recorder = _RecordingWriter(handle)
            try:
                torch.save(obj, recorder)
            except RuntimeError:
                if recorder.error is None:
                    raise
                raise recorder.error from None
    except OSError as err:
        err.filename = err.filename or str(path)
        raise


class _RecordingWriter:
    """A file's write and flush, remembering the OSError a write raised."""

    def __init__(self, handle: IO[bytes]):
        self.handle, self.error = handle, None

    def write(self, data) -> int:
        try:
            return self.handle.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.handle.flush()


def _published(tmp: Path, path: Path) -> bool:
    """A hard link publishes the finished file, and fails on an existing name."""
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
