"""Data-parallel training: the collectives on real gloo processes, and `afa train` under torchrun
against one process with the same global batch."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from afa_cli.afa.method import AFA, AFAConfig, Forward
from afa_cli.distributed import Context, enable_tf32, resolve_device
from afa_cli.errors import UserError
from afa_cli.runs import Run
from conftest import ROOT, TINY, afa_here, needs_data, run_afa


def context(rank: int, world_size: int) -> Context:
    return Context(rank, world_size, world_size, torch.device("cpu"))


def test_shards_split_a_batch_without_overlap_and_never_leave_a_process_empty():
    batch = list(range(7))
    shares = [context(r, 2).shard(batch) for r in range(2)]
    assert shares == [[0, 2, 4, 6], [1, 3, 5]]
    assert [context(r, 3).shard([9]) for r in range(3)] == [[9], [9], [9]]
    assert context(0, 1).shard(batch) == batch


def test_resolving_a_device_leaves_tf32_unchanged(tf32_off, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)   # a GPU, as torch would see it
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto", local_rank=3) == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cpu") == torch.device("cpu")
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


def test_tf32_is_enabled_for_a_cuda_device_only(tf32_off):
    enable_tf32(torch.device("cpu"))
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    enable_tf32(torch.device("cuda", 0))
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _collectives(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    ctx = context(rank, world_size)
    rows = torch.full((3 - rank, 2), float(rank))             # uneven shares: 3 rows and 2 rows
    gathered, start = ctx.gather_rows(rows)

    def fail_on_main():
        raise UserError("run_dir exists")

    try:
        ctx.on_main(fail_on_main)
        error = None
    except UserError as err:
        error = str(err)
    # D trains on every process's features: the same step everywhere, as one process would take
    afa = AFA(AFAConfig(), hidden_size=8, replacement_id=0, seed=5, gather_rows=ctx.gather_rows,
              rank=rank)
    original, masked = _features(rank)
    afa._rewards(Forward(torch.zeros(len(original), 2), original, None),
                 Forward(torch.zeros(len(masked), 2), masked, None), len(original), {})
    afa.update_discriminator()
    torch.save(afa.discriminator.state_dict(), Path(out_dir, f"d{rank}.pt"))
    result = {
        "gathered": gathered.tolist(), "start": start,
        "mean": ctx.mean({"a": float(rank), "b": 2.0}),
        "any": ctx.any(rank == 1), "none": ctx.any(False),
        "objects": ctx.gather_objects({"rank": rank}),
        "on_main": ctx.on_main(lambda: f"made by {ctx.rank}"),
        "error": error,
    }
    Path(out_dir, f"{rank}.json").write_text(json.dumps(result))
    ctx.close()
    # What this test checks is on disk. Leave without the interpreter's teardown, where gloo's
    # threads once aborted a process on CI (SIGABRT, "terminate called without an active
    # exception"); a real run's exit is the torchrun tests' to check, through `afa train`.
    os._exit(0)


def _features(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """D's inputs on one process: 3 - rank originals and as many masked copies, [n, 8] each."""
    generator = torch.Generator().manual_seed(rank)
    n = 3 - rank
    return torch.randn(n, 8, generator=generator), torch.randn(n, 8, generator=generator)


@pytest.mark.slow  # two processes, each importing torch and forming a process group
def test_collectives_on_two_gloo_processes(tmp_path):
    try:
        mp.spawn(_collectives, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    except mp.ProcessExitedException as died:  # say how far the processes got
        written = sorted(p.name for p in tmp_path.iterdir())
        raise AssertionError(f"{died}; written before it: {written}") from died
    results = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    one = AFA(AFAConfig(), hidden_size=8, replacement_id=0, seed=5)
    original, masked = (torch.cat(parts) for parts in zip(*map(_features, range(2))))
    one._d_features = (original, masked)
    one.update_discriminator()
    for rank in range(2):
        d = torch.load(tmp_path / f"d{rank}.pt")
        assert all(torch.allclose(v, d[k], atol=1e-6) for k, v in one.discriminator.state_dict().items())
    for rank, result in enumerate(results):
        assert result["gathered"] == [[0.0, 0.0]] * 3 + [[1.0, 1.0]] * 2
        assert result["start"] == (0 if rank == 0 else 3)
        assert result["mean"] == {"a": 0.5, "b": 2.0}
        assert result["any"] is True and result["none"] is False
        assert result["objects"] == [{"rank": 0}, {"rank": 1}]
        assert result["on_main"] == "made by 0"
        assert result["error"] == "run_dir exists"  # raised on rank 1 too: nobody is left waiting


@pytest.mark.slow
def test_cuda_device_without_a_gpu_is_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = afa_here("train", "train.device=cuda", f"output_dir={tmp_path}")
    assert result.returncode == 2
    assert "train.device=cuda but torch sees no CUDA device" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


# The full MiniLM on ~1k real SST-2 rows: a minute of 2 cores, enough for accuracy to move
# off the majority class, so that the comparison means something (3 of its 6 layers stay at the
# majority class).
DDP_RUN = ["train.max_train_samples=960", "train.max_eval_samples=200", "train.batch_size=32",
           "train.eval_every=15", "train.log_every=10", "train.warmup_ratio=0",
           "afa.warmup_steps=2", "train.num_threads=1", "seed=1"]
# Dropout and the masker's draws differ between 1 and 2 processes; the gradients of a step are
# the same global-batch mean. 0.03 is 6 of the 200 validation rows.
ACCURACY_TOLERANCE = 0.03


@pytest.mark.slow
@needs_data
def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run_afa("train", *DDP_RUN, "--run-dir", str(one))
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(_free_port()), "-m", "afa_cli", "train", *DDP_RUN,
         "--run-dir", str(two)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("done:") == 1                  # rank 0 speaks for both

    summaries = {name: json.loads((run / "summary.json").read_text()) for name, run in
                 (("one", one), ("two", two))}
    assert summaries["one"]["processes"] == 1 and summaries["two"]["processes"] == 2
    assert summaries["one"]["steps"] == summaries["two"]["steps"] == 30
    best = {name: s["best"]["metrics"]["accuracy"] for name, s in summaries.items()}
    # it learned: the majority class is 0.54 of these 200 rows, 0.58 is 8 rows past it
    assert best["one"] >= 0.58 and best["two"] >= 0.58, best
    assert abs(best["one"] - best["two"]) <= ACCURACY_TOLERANCE, best

    # one run folder, written once: every file a single process writes, no more
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert len((two / "train.log").read_text().splitlines()) == \
        len((one / "train.log").read_text().splitlines())
    assert "2 process(es)" in (two / "train.log").read_text()
    state = torch.load(two / "checkpoints" / "last" / "training_state.pt", weights_only=False)
    assert len(state["rng"]) == 2                                 # each process's random state
    train_rows = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()
                  if json.loads(line)["split"] == "train"]
    assert {"loss_d", "adv_std", "reward_mean"} <= set(train_rows[-1]["metrics"])

    # resuming needs as many processes as trained the run
    resumed = afa_here("train", "--resume", str(two))
    assert resumed.returncode == 2
    assert "trained by 2 process(es)" in resumed.stderr and "Traceback" not in resumed.stderr


def _torchrun(*args: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(_free_port()), "-m", "afa_cli", "train", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, **popen)


@pytest.mark.slow
@needs_data
def test_ctrl_c_under_torchrun_saves_last_and_resume_equals_uninterrupted(tmp_path):
    overrides = [*TINY, "train.max_train_samples=640", "train.eval_every=10", "seed=3"]
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    finished = _torchrun(*overrides, "--run-dir", str(straight))
    assert finished.wait(timeout=900) == 0, finished.communicate()[1][-3000:]

    proc = _torchrun(*overrides, "--run-dir", str(interrupted))
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if any(e.step >= 5 for e in Run(interrupted).events()):
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: every process gets it
            break
        time.sleep(0.05)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert f"torchrun --nproc_per_node 2 -m afa_cli train --resume {interrupted}" in stderr
    assert not (interrupted / "summary.json").exists()

    resumed = _torchrun("--resume", str(interrupted))
    assert resumed.wait(timeout=900) == 0, resumed.communicate()[1][-3000:]
    validation = lambda r: [e.metrics for e in Run(r).events() if e.split == "validation"]
    assert len(validation(straight)) == 4 and validation(straight) == validation(interrupted)
    last = lambda r: load_file(r / "checkpoints" / "last" / "model.safetensors")
    assert all(torch.equal(v, last(interrupted)[k]) for k, v in last(straight).items())
