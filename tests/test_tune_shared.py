"""afa tune across machines: --storage (a journal file, a real PostgreSQL server) and --join.
Bad storages and mismatched workers are one line (fast); two real `afa tune` workers started at
once share one study and its budget, each trial run once, and the search resumes (slow)."""

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from afa_cli.cli import app
from afa_cli.errors import UserError
from afa_cli.runs import Run, release_locks
from afa_cli.tune.claims import claim, is_claimed
from afa_cli.tune.launch import PrunerOptions, _take_over, start_tune
from afa_cli.tune.state import TuneState
from afa_cli.tune.storage import open_storage
from afa_cli.tune.study import ERROR, RETRIED, SURPLUS, counted, load_study, within_budget
from conftest import ROOT, TINY, needs_data
from test_tune import SPACE, config_dir_with_space, quiet

STUDY = "shared"


def journal(tmp_path: Path) -> str:
    return f"journal://{tmp_path / 'study.log'}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_binaries() -> Path | None:
    """The folder of initdb and postgres: on PATH, else where Debian's postgresql puts them."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def server_user() -> dict:
    """Popen's options to run PostgreSQL as a user other than root, which it refuses."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    pytest.skip("running as root with neither a postgres nor a nobody user to run PostgreSQL as")


@pytest.fixture(scope="module")
def postgres_server():
    """A PostgreSQL server of this module's own (initdb, then postgres on a free port), its URL
    without a database."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="afa[cluster]'s PostgreSQL driver is not installed")
    as_user = server_user()
    folder = Path(tempfile.mkdtemp(prefix="afa-postgres-"))  # pytest's tmp is root's alone
    if as_user:
        os.chown(folder, as_user["user"], as_user["group"])
    data = folder / "data"
    subprocess.run([binaries / "initdb", "-D", data, "-A", "trust", "-U", "afa", "--no-sync"],
                   cwd=folder, check=True, capture_output=True, **as_user)
    port = free_port()
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen(
            [binaries / "postgres", "-D", data, "-p", str(port), "-c", "fsync=off",
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={folder}"],
            cwd=folder, stdout=log, stderr=subprocess.STDOUT, **as_user)
    url = f"postgresql://afa@127.0.0.1:{port}"
    try:
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(f"{url}/postgres").close()
                break
            except psycopg.OperationalError:
                assert server.poll() is None and time.monotonic() < deadline, \
                    (folder / "server.log").read_text()
                time.sleep(0.2)
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # a fast shutdown
        server.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


# A PostgreSQL server is a process of its own (and initdb seconds of work): its tests are slow.
@pytest.fixture(params=["journal", pytest.param("postgresql", marks=pytest.mark.slow)])
def storage(request, tmp_path) -> str:
    """A --storage URL of each kind; a PostgreSQL one is a new database of its own."""
    if request.param == "journal":
        return journal(tmp_path)
    return new_database(request.getfixturevalue("postgres_server"))


def new_database(server: str) -> str:
    """The URL of a new, empty database on the server."""
    import psycopg

    database = f"afa_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {database}")
    return f"{server}/{database}"


def start(tmp_path: Path, storage: str, *overrides: str, join: bool = False, trials: int = 2):
    """A shared search created (or joined) as a worker would, without running a trial."""
    return start_tune(["+tune=tiny", f"output_dir={tmp_path / 'out'}", *overrides], trials,
                      ["accuracy"], 1, STUDY, [config_dir_with_space(tmp_path, SPACE)],
                      PrunerOptions(), None, quiet(), storage, join)


# ---- bad storages: one line, nothing written ----------------------------------------------------

@pytest.mark.parametrize("storage, message", [
    ("redis://host/0", "--storage redis://host/0: give postgresql://"),
    ("study.log", "--storage study.log: give postgresql://"),
    ("journal://{tmp}/a_file/study.log", "{tmp}/a_file is a file, not a folder"),
    ("journal://{tmp}/missing/study.log", "folder {tmp}/missing does not exist"),
    ("journal://{tmp}", "is a folder; give the journal file's path"),
    ("postgresql://afa:s3cret@127.0.0.1:{port}/afa",
     "--storage postgresql://afa:***@127.0.0.1:{port}/afa: cannot open the database: "
     "connection failed"),
    ("mysql://afa:s3cret@127.0.0.1:{port}/afa", "--storage mysql://afa:***@127.0.0.1:{port}/afa: "
                                                "no driver for mysql"),
])
def test_a_bad_storage_is_one_line_exit_2_and_writes_nothing(tmp_path, storage, message):
    (tmp_path / "a_file").write_text("")
    port = free_port()  # nothing listens there
    storage, message = (text.format(tmp=tmp_path, port=port) for text in (storage, message))
    if "postgresql" in storage:
        pytest.importorskip("psycopg", reason="afa[cluster]'s PostgreSQL driver is not installed")
    result = CliRunner().invoke(app, ["tune", "+tune=afa", "--trials", "2", "--storage", storage,
                                      f"output_dir={tmp_path / 'out'}"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr and "s3cret" not in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.parametrize("args, message", [
    (["+tune=afa", "--trials", "2", "--join"], "give --storage URL too"),
    (["--resume", "x", "--storage", "journal:///x.log"], "only --trials and --jobs may change"),
])
def test_join_needs_a_storage_and_resume_takes_none(args, message):
    result = CliRunner().invoke(app, ["tune", *args])
    assert result.exit_code == 2 and message in result.stderr, result.output


# ---- joining a study ----------------------------------------------------------------------------

def test_a_worker_set_up_otherwise_is_refused_in_one_line_before_any_trial(tmp_path, storage):
    first = start(tmp_path, storage)
    release_locks()
    tune_yaml = first.folder / TuneState.FILE
    out = f"output_dir={tmp_path / 'out'}"
    for overrides, trials, message in [
            (["seed=2"], 2, f"study 'shared' was set up with fixed overrides [{out!r}] "
                            f"({tune_yaml}), this worker with [{out!r}, 'seed=2']; give every "
                            "worker the command that started the study, with --join."),
            ([], 3, "set up with --trials 2 ("),
            (["afa.policy=attention"], 2, "study 'shared' searches afa.policy as "),
            (["afa.policy=attention"], 2, "this worker sets it; give every worker")]:
        with pytest.raises(UserError) as err:
            start(tmp_path, storage, *overrides, join=True, trials=trials)
        assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="Study 'shared' already exists in .*: add --join to "
                                        "run trials for it"):
        start(tmp_path, storage)
    # nothing was written by the refused workers: one tune folder, a study of no trials
    assert [p.name for p in (tmp_path / "out" / "tunes").iterdir()] == [first.folder.name]
    assert load_study(first.state).trials == []
    joined = start(tmp_path, storage, join=True)  # set up alike: it joins
    assert joined.folder == first.folder and joined.state.study_name == STUDY


def test_the_budget_holds_when_workers_ask_the_last_trial_at_once(tmp_path, storage):
    search = start(tmp_path, storage)
    release_locks()
    worker_a, worker_b = load_study(search.state), load_study(search.state)
    space = search.distributions
    first, second, third = worker_a.ask(space), worker_b.ask(space), worker_a.ask(space)
    assert [within_budget(worker_b, t, 2) for t in (first, second, third)] == [True, True, False]
    # the search that asked the surplus trial tells it failed, unrun, and uncounted
    assert search._claim(worker_b.ask(space)) is False
    surplus = load_study(search.state).trials[-1]
    assert surplus.state == TrialState.FAIL and surplus.user_attrs[SURPLUS]
    assert surplus.user_attrs[ERROR].startswith("not run")
    assert surplus not in counted(load_study(search.state))
    assert not (search.folder / ".claims").exists()  # its claim given back
    release_locks()


@pytest.mark.slow
def test_workers_opening_a_new_database_at_once_all_open_it(postgres_server):
    """Workers started together on an empty database each create Optuna's tables; those that
    lose that race open the tables the winner made instead of failing."""
    url, workers = new_database(postgres_server), 6
    at_once, failures = threading.Barrier(workers), []

    def open_it():
        at_once.wait()
        try:
            open_storage(url).engine.dispose()
        except UserError as err:
            failures.append(str(err))

    threads = [threading.Thread(target=open_it) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert open_storage(url).get_all_studies() == []


def holding_claims(folder: Path, numbers: list[int]) -> subprocess.Popen:
    """A live process that claims trials as a running worker does."""
    holder = subprocess.Popen([sys.executable, "-c", f"""
import time
from afa_cli.tune.claims import claim
assert all(claim({str(folder)!r}, n) for n in {numbers!r})
print("claimed", flush=True)
time.sleep(60)
"""], cwd=ROOT / "tests", stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "claimed"
    return holder


@pytest.fixture
def left_running(tmp_path, storage):
    """A shared study whose trial 0 a live worker runs and trial 1 a stopped one left."""
    search = start(tmp_path, storage, trials=3)
    release_locks()
    study = load_study(search.state)
    for _ in range(2):
        study.ask(search.distributions)
    holder = holding_claims(search.folder, [0])
    yield search
    holder.kill()
    holder.wait()


def test_resuming_takes_over_only_the_trials_of_stopped_workers(left_running):
    state = left_running.state
    study = load_study(state)
    assert is_claimed(state.folder, 0) and not claim(state.folder, 0)
    assert _take_over(state, study) == []  # trial 1 had no checkpoint: tried again
    live, stopped, retry = load_study(state).get_trials()
    assert live.state == TrialState.RUNNING and ERROR not in live.user_attrs
    assert stopped.state == TrialState.FAIL and stopped.user_attrs[RETRIED]
    assert retry.state == TrialState.WAITING
    assert load_study(state).ask(left_running.distributions).params == stopped.params
    release_locks()


# ---- real workers -------------------------------------------------------------------------------

@pytest.mark.slow
@needs_data
def test_two_workers_share_one_study_each_trial_runs_once_and_the_search_resumes(tmp_path,
                                                                                storage):
    config_dir = config_dir_with_space(tmp_path, SPACE)
    command = [sys.executable, "-m", "afa_cli", "tune", "+tune=tiny", *TINY,
               f"output_dir={tmp_path / 'out'}", "--trials", "3", "--config-dir", str(config_dir),
               "--storage", storage, "--name", STUDY, "--join"]
    workers = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
               for _ in range(2)]  # at once: one of them creates the study, the other joins it
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    folder, = (tmp_path / "out" / "tunes").iterdir()
    started = [Counter(int(n) for n in re.findall(r"^started trial (\d+):", out, re.MULTILINE))
               for out, _ in outputs]
    assert all(started), outputs  # both workers ran trials
    state = TuneState.read(folder)
    assert state.study_name == STUDY and state.storage == storage
    trials = counted(load_study(state))
    # the budget, across workers; each trial run exactly once, by one worker, in its own folder
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    assert sum(started, Counter()) == Counter(t.number for t in trials)
    for trial in trials:
        run = Run(folder / trial.user_attrs["run"])
        assert run.finished
        assert sum(line.startswith("$ ") for line in run.job_log.read_text().splitlines()) == 1
    surplus = [t for t in load_study(state).trials if t.user_attrs.get(SURPLUS)]
    assert not any((folder / f"trial_{t.number:03d}").exists() for t in surplus)
    best = load_study(state).best_trial
    assert any(f"best trial {best.number}:" in out for out, _ in outputs)
    assert not (folder / ".claims").exists()  # every claim given back

    result = subprocess.run([sys.executable, "-m", "afa_cli", "tune", "--resume", str(folder),
                             "--trials", "4"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = counted(load_study(state))
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    assert "3 of 4 trials done, 0 to continue" in result.stdout
    assert re.findall(r"^started trial (\d+):", result.stdout, re.MULTILINE) == [
        str(trials[-1].number)]
