"""Shared fixtures: the real development data, real (truncated) models, real runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import copy
import importlib.metadata

import pytest
import torch
from filelock import FileLock

from afa_cli.errors import UserError
from afa_cli.evaluation.wordnet import find_wordnet
from afa_cli.runs import Run

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = os.environ.get("AFA_DATA_DIR")
HAS_DATA = bool(DATA_DIR) and (Path(DATA_DIR) / "sst2" / "train.tsv").is_file()
needs_data = pytest.mark.skipif(not HAS_DATA, reason="AFA_DATA_DIR with sst2/ not set (make test sets it)")


def _has_wordnet() -> bool:
    try:
        find_wordnet()
    except UserError:
        return False
    return True


# The synonym attack's WordNet: make install installs Debian's wordnet-base where it can.
needs_wordnet = pytest.mark.skipif(not _has_wordnet(), reason=(
    "WordNet is not installed: apt-get install wordnet-base (make install does, as root)"))


# A truncated real MiniLM on a few hundred real SST-2 rows: seconds per run on 2 cores.
TINY = ["model.num_layers=1", "train.max_train_samples=300", "train.max_eval_samples=100",
        "train.batch_size=16", "train.eval_every=10", "train.log_every=5", "afa.warmup_steps=2",
        "train.num_threads=1"]


def run_afa(*args: str, cwd: Path | None = None, check: bool = True,
            timeout: int = 600) -> subprocess.CompletedProcess:
    """The real `afa` command in a subprocess (what users type)."""
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    result = subprocess.run([sys.executable, "-m", "afa_cli", *args], cwd=cwd or ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"afa {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def afa_here(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """`afa` in this process, for a command that trains nothing (one refused, a scoring, a
    report): the same app, output and one-line errors as run_afa, without a new process
    importing torch and transformers again, most of such a subprocess's time. An error that is
    not one line fails the test with its traceback; check: so does any non-zero exit."""
    from typer.testing import CliRunner

    from afa_cli.cli import app

    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if check and result.exit_code != 0:
        raise AssertionError(f"afa {' '.join(args)} failed ({result.exit_code}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def run_afa_past_a_file_size_limit(limit: int, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The real `afa` command where no file may grow past `limit` bytes (ulimit -f): writes past
    it fail (EFBIG) as they do on a full disk. `env`: extra environment variables."""
    import resource
    import signal

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process

    return subprocess.run([sys.executable, "-m", "afa_cli", *args], cwd=ROOT,
                          env=dict(os.environ, TOKENIZERS_PARALLELISM="false", **env),
                          preexec_fn=small_disk, capture_output=True, text=True, timeout=600)


def written_report(output: str) -> dict:
    """The JSON report whose path a command printed as `written: PATH` (a run's reports never
    replace each other, so tests sharing a run must read the one their command wrote)."""
    path, = [line.removeprefix("written: ") for line in output.splitlines()
             if line.startswith("written: ")]
    return json.loads(Path(path).read_text())


@contextmanager
def another_writer(run_dir: Path):
    """A live process holding a run's lock, as a training would; yields that process."""
    holder = subprocess.Popen([sys.executable, "-c", f"""
import time
from afa_cli.runs import Run
Run({str(run_dir)!r}).lock()
print("locked", flush=True)
time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def only_run_dir(output_dir: Path) -> Path:
    runs = [p.parent for p in Path(output_dir).rglob("config.yaml") if p.parent.name != "best"]
    assert len(runs) == 1, runs
    return runs[0]


# Under pytest-xdist (make test: two worker processes) each worker is a session of its own; the
# tiny runs are trained once for all of them, into the folder the workers share.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    torch.set_num_threads(1)  # two workers share two cores
TINY_RUNS = ("off", "default")


def _shared_tmp(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if WORKER else base


def trained_once(tmp_path_factory, name: str, *overrides: str) -> Path:
    """A finished run of these overrides, trained once per test session for every worker."""
    run_dir = _shared_tmp(tmp_path_factory) / "trained_once" / name
    run_dir.parent.mkdir(exist_ok=True)
    with FileLock(str(run_dir) + ".lock"):
        if not Run(run_dir).finished:
            shutil.rmtree(run_dir, ignore_errors=True)  # a run an earlier worker left unfinished
            run_afa("train", *overrides, "--run-dir", str(run_dir))
    return run_dir


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    """Two finished runs of the same seed: plain fine-tuning and AFA."""
    if not HAS_DATA:
        pytest.skip("AFA_DATA_DIR with sst2/ not set")
    # The second worker asks for the runs in the other order, so that two workers train one each.
    order = TINY_RUNS[::-1] if WORKER and WORKER[-1] in "13579" else TINY_RUNS
    runs = {afa: trained_once(tmp_path_factory, f"tiny_{afa}", *TINY, f"afa={afa}", "seed=1")
            for afa in order}
    return {afa: runs[afa] for afa in TINY_RUNS}


def pytest_collection_modifyitems(items):
    """Tests on the trained tiny runs are slow too; slow tests go first, so that two workers
    finish together instead of one waiting on a long test started last."""
    for item in items:
        if "tiny_runs" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def eager_copy(model):
    """The same weights on transformers' eager attention, which returns every layer's full
    weights: the reference afa's attention kernel is checked against."""
    from transformers import AutoModelForSequenceClassification

    eager = AutoModelForSequenceClassification.from_config(
        copy.deepcopy(model.config), attn_implementation="eager")
    eager.load_state_dict(model.state_dict())
    return eager.train(model.training)


def has_distribution(name: str) -> bool:
    """Whether an optional package (a model wheel, an extra) is installed."""
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.fixture
def tf32_off():
    """TF32 matmuls off for a test, then as they were (monkeypatch cannot restore these flags:
    torch computes them on read)."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
