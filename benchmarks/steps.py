"""afa's training steps inside one process, where machine noise cancels: a plain step and an AFA
step timed on the same batches (alternating, so that both see the same machine), and
torch.profiler's top operations of each. Prints one JSON line.

    python -m benchmarks.steps OVERRIDES...   # the run's overrides, AFA on (afa=default ...)

The plain step is the same trainer with AFA switched off for that step."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from torch.profiler import ProfilerActivity, profile

from afa_cli import distributed
from afa_cli.config import compose_config
from afa_cli.data import train_batches
from afa_cli.training.setup import NewRun, build_trainer

WARMUP_STEPS, TIMED_STEPS, PROFILED_STEPS, TOP = 3, 40, 10, 12


def timed(trainer, rows, cuda: bool) -> float:
    start = time.perf_counter()
    trainer.train_step(rows)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def top_operations(trainer, batches, cuda: bool) -> dict:
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for rows in batches:
            trainer.train_step(rows)
        if cuda:
            torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    clock = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, clock) > 0]
    total = sum(getattr(e, clock) for e in events)
    top = sorted(events, key=lambda e: getattr(e, clock), reverse=True)[:TOP]
    return {"clock": "device" if cuda else "cpu",
            "step_ms": 1000 * elapsed / len(batches),  # with the profiler's own overhead
            "ops": [{"name": e.key, "self_ms_per_step": getattr(e, clock) / 1000 / len(batches),
                     "share": getattr(e, clock) / total, "calls_per_step": e.count / len(batches)}
                    for e in top]}


def main(overrides: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="afa_steps_") as work:
        cfg = compose_config(overrides)
        ctx = distributed.setup(cfg.train.device)
        trainer = build_trainer(cfg, NewRun(folder=Path(work) / "run"), Console(quiet=True), None, None, ctx)
        afa, cuda = trainer.afa, ctx.device.type == "cuda"
        batches = train_batches(trainer.train_data.lengths(), cfg.train.batch_size, cfg.seed, 0,
                                cfg.train.length_group_pool)
        for rows in batches[:WARMUP_STEPS]:
            trainer.train_step(rows)
        plain, with_afa = [], []
        for rows in batches[WARMUP_STEPS:WARMUP_STEPS + TIMED_STEPS]:
            trainer.afa = None
            plain.append(timed(trainer, rows, cuda))
            trainer.afa = afa
            with_afa.append(timed(trainer, rows, cuda))
        profiled = batches[:PROFILED_STEPS]
        trainer.afa = None
        plain_ops = top_operations(trainer, profiled, cuda)
        trainer.afa = afa
        afa_ops = top_operations(trainer, profiled, cuda)
    print(json.dumps({
        "steps": TIMED_STEPS,
        "plain_step_ms": 1000 * statistics.median(plain),
        "afa_step_ms": 1000 * statistics.median(with_afa),
        "afa_step_vs_plain": statistics.median(a / p for a, p in zip(with_afa, plain)),
        "profiles": {"plain": plain_ops, "afa_step": afa_ops}}))


if __name__ == "__main__":
    main(sys.argv[1:])
