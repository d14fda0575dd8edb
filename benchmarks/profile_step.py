"""torch.profiler over afa's training steps: the operations a step spends its time in. Prints one
JSON line: {"ops": [{"name", "self_ms_per_step", "share", "calls_per_step"}, ...], "step_ms"}.

    python -m benchmarks.profile_step OVERRIDES...

The steps are the run's own (build_trainer on the overrides), after a few unprofiled ones that
warm the allocator and kernel caches."""

from __future__ import annotations

import json
import sys
import tempfile
import time

import torch
from rich.console import Console
from torch.profiler import ProfilerActivity, profile

from afa_cli import distributed
from afa_cli.config import compose_config
from afa_cli.data import train_batches
from afa_cli.training.setup import build_trainer

WARMUP_STEPS, PROFILED_STEPS, TOP = 3, 10, 12


def main(overrides: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="afa_profile_") as work:
        cfg = compose_config([*overrides, f"run_dir={work}/run"])
        ctx = distributed.setup(cfg.train.device)
        trainer = build_trainer(cfg, [], [], Console(quiet=True), None, None, ctx)
        batches = train_batches(trainer.train_data.lengths(), cfg.train.batch_size, cfg.seed, 0,
                                cfg.train.length_group_pool)
        for rows in batches[:WARMUP_STEPS]:
            trainer.train_step(rows)
        cuda = ctx.device.type == "cuda"
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        start = time.perf_counter()
        with profile(activities=activities) as prof:
            for rows in batches[WARMUP_STEPS:WARMUP_STEPS + PROFILED_STEPS]:
                trainer.train_step(rows)
            if cuda:
                torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    device_time = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, device_time) > 0]
    total = sum(getattr(e, device_time) for e in events)
    top = sorted(events, key=lambda e: getattr(e, device_time), reverse=True)[:TOP]
    print(json.dumps({
        "clock": "device" if cuda else "cpu",
        "step_ms": 1000 * elapsed / PROFILED_STEPS,  # with the profiler's own overhead
        "ops": [{"name": e.key, "self_ms_per_step": getattr(e, device_time) / 1000 / PROFILED_STEPS,
                 "share": getattr(e, device_time) / total, "calls_per_step": e.count / PROFILED_STEPS}
                for e in top]}))


if __name__ == "__main__":
    main(sys.argv[1:])
