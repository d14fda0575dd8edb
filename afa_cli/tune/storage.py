"""Where a study is kept when several `afa tune` workers share it (--storage): a database,
as the URL Optuna's RDB storage takes (postgresql://, mysql://, sqlite:///), or a journal file
(journal:///PATH, Optuna's JournalStorage: one append-only file on a file system every worker
shares). Opening one checks it: an unknown scheme, a missing database driver, a database that
does not answer (the URL's password masked) or a journal path that cannot be a file is one line,
and nothing is written."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from sqlalchemy.exc import IntegrityError, ProgrammingError

from afa_cli.errors import UserError

JOURNAL = "journal"
DATABASES = ("postgresql", "mysql", "sqlite")  # the URL's scheme before any +driver
CONNECT_TIMEOUT = 10  # seconds a database server has to answer
TABLE_RACE_ATTEMPTS = 5
DRIVERS = {"postgresql": "pip install 'psycopg[binary]' (part of afa[cluster])",
           "mysql": "pip install pymysql and write mysql+pymysql://"}
FORMS = ("postgresql://USER@HOST/DB, mysql+pymysql://USER@HOST/DB, sqlite:///PATH or "
         "journal:///PATH")


def normalize(url: str) -> str:
    """The URL as tune.yaml keeps it, checked: a relative journal or SQLite path is made
    absolute, so that --resume finds the study from any folder."""
    scheme = _scheme(url)
    if scheme == JOURNAL:
        return f"{JOURNAL}://{_journal_path(url)}"
    if scheme == "sqlite" and url.startswith("sqlite:///") and url[len("sqlite:///"):]:
        path = url[len("sqlite:///"):]
        if path != ":memory:" and not path.startswith("/"):
            return f"sqlite:///{Path(path).resolve()}"
    return url


def open_storage(url: str) -> BaseStorage:
    """The Optuna storage of a --storage URL (normalized), connected."""
    if _scheme(url) == JOURNAL:
        return JournalStorage(JournalFileBackend(str(_journal_path(url))))
    backend = _scheme(url)
    options = {} if backend == "sqlite" else {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}
    # postgresql:// with the driver afa[cluster] installs, psycopg (SQLAlchemy before 2.1 took
    # psycopg2); postgresql+DRIVER:// chooses another
    engine_url = re.sub(r"^postgresql://", "postgresql+psycopg://", url)
    try:
        return _open_database(engine_url, options)
    except ImportError as err:
        raise UserError(f"--storage {masked(url)}: no driver for {backend} "
                        f"({type(err.__cause__ or err).__name__}: {err.__cause__ or err}); "
                        f"{DRIVERS.get(backend, 'install its SQLAlchemy driver')}.") from None
    except Exception as err:  # noqa: BLE001 - SQLAlchemy's and the driver's many errors
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise UserError(f"--storage {masked(url)}: cannot open the database: "
                        f"{_hide_password(url, reason)}") from None


def _open_database(engine_url: str, options: dict) -> RDBStorage:
    """RDBStorage, which creates Optuna's tables in an empty database. Workers started together
    on one race to create them, and all but one fail on a name the winner has just taken; each
    of those opens the database again, finding the tables made."""
    for _ in range(TABLE_RACE_ATTEMPTS - 1):
        try:
            return RDBStorage(engine_url, engine_kwargs=options)
        except (IntegrityError, ProgrammingError):
            time.sleep(random.uniform(0.1, 0.5))  # apart, should a third worker be creating
    return RDBStorage(engine_url, engine_kwargs=options)


def masked(url: str) -> str:
    """The URL with its password, if any, as ***."""
    return _hide_password(url, url)


def _hide_password(url: str, text: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:  # e.g. a port that is not a number
        password = None
    return text.replace(f":{password}@", ":***@").replace(password, "***") if password else text


def _scheme(url: str) -> str:
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
    if scheme not in (JOURNAL, *DATABASES):
        raise UserError(f"--storage {masked(url)}: give {FORMS}.")
    return scheme


def _journal_path(url: str) -> Path:
    """journal:///abs/path (or journal://rel/path, from the working folder) as an absolute
    path, refused when it cannot be a file: a folder, or under a file or a missing folder."""
    path = Path(url[len(f"{JOURNAL}://"):])
    if not path.name:
        raise UserError(f"--storage {url}: give the journal file's path, journal:///PATH.")
    path = path.resolve()
    if path.is_dir():
        raise UserError(f"--storage {url}: {path} is a folder; give the journal file's path.")
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise UserError(f"--storage {url}: {above} is a file, not a folder.")
    if not path.parent.is_dir():
        raise UserError(f"--storage {url}: folder {path.parent} does not exist.")
    return path
