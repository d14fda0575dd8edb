"""make bench: whole-run speed on this machine, written to docs/bench.json and docs/bench.md.

1. examples/s of afa's plain loop (afa=off) vs transformers.Trainer with dynamic padding;
2. time per step of afa=default (policy gradient on from step 0) vs afa=off;
3. evaluation examples/s and peak memory (RSS) of each;
each in fp32 and bf16 autocast; and 4. the plain loop as 2 data-parallel processes (torchrun, one
thread each) against 1 process. Same model, rows, (global) batch size, max length and steps
everywhere."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from afa_cli.metrics.registry import ACCURACY
from afa_cli.runs import VALIDATION, Run

ROOT = Path(__file__).resolve().parent.parent
COMMON = ["dataset=sst2", "model=minilm", "train.max_train_samples=3200", "train.batch_size=32",
          "train.epochs=1", "train.eval_every=1000000", "train.log_every=20", "train.num_threads=2",
          "seed=1"]
VARIANTS = {
    # name: (command kind, extra overrides)
    "afa_off": ("afa", ["afa=off"]),
    "afa_default": ("afa", ["afa=default", "afa.warmup_steps=0"]),
    "hf_trainer": ("trainer", ["afa=off"]),
    "afa_off_bf16": ("afa", ["afa=off", "train.precision=bf16"]),
    "afa_default_bf16": ("afa", ["afa=default", "afa.warmup_steps=0", "train.precision=bf16"]),
    "hf_trainer_bf16": ("trainer", ["afa=off", "train.precision=bf16"]),
    "afa_off_2proc": ("torchrun", ["afa=off", "train.num_threads=1"]),
}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--master_port", "29533"]
TARGET_VS_TRAINER = 1.2
TARGET_AFA_STEP_RATIO = 1.35


def run_measured(args: list[str]) -> tuple[str, float, int]:
    """(stdout, wall seconds, peak RSS in MiB) of one child process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=err, text=True,
                                env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
        _, status, usage = os.wait4(proc.pid, 0)  # per-child rusage: its own peak RSS
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"benchmark command failed: {' '.join(args)}\n{err.read()[-2000:]}")
        return out.read(), wall, int(usage.ru_maxrss / 1024)


def measure(name: str, kind: str, extra: list[str], work: Path) -> dict:
    overrides = COMMON + extra
    if kind == "trainer":
        stdout, wall, rss = run_measured([sys.executable, "-m", "benchmarks.hf_trainer",
                                          str(work / name), *overrides])
        result = json.loads(stdout.strip().splitlines()[-1])
        result.update(train_peak_rss_mib=rss, wall_seconds=wall)
        return result
    run_dir = work / name
    launcher = TORCHRUN if kind == "torchrun" else [sys.executable]
    _, wall, train_rss = run_measured([*launcher, "-m", "afa_cli", "train", *overrides,
                                       f"run_dir={run_dir}"])
    summary = Run(run_dir).summary()
    _, _, eval_rss = run_measured([sys.executable, "-m", "afa_cli", "eval", str(run_dir)])
    report = json.loads(Run(run_dir).eval_report_path("sst2", VALIDATION).read_text())
    return {
        "train_examples_per_s": summary.train_examples_per_s,
        "train_seconds": summary.train_seconds,
        "seconds_per_step": summary.train_seconds / summary.steps,
        "eval_examples_per_s": report["examples_per_s"],
        "accuracy": summary.final_metrics[ACCURACY.key],
        "train_peak_rss_mib": train_rss,
        "eval_peak_rss_mib": eval_rss,
        "wall_seconds": wall,
    }


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import torch

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform(),
            "load_average_at_start": os.getloadavg()[0]}


def main() -> None:
    console = Console()
    results = {"machine": machine(), "setup": COMMON, "variants": {}}
    work = Path(tempfile.mkdtemp(prefix="afa_bench_"))
    try:
        for name, (kind, extra) in VARIANTS.items():
            console.print(f"running {name} ...")
            results["variants"][name] = measure(name, kind, extra, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    v = results["variants"]
    results["ratios"] = {
        "afa_off_vs_trainer_fp32": v["afa_off"]["train_examples_per_s"] / v["hf_trainer"]["train_examples_per_s"],
        "afa_off_vs_trainer_bf16": v["afa_off_bf16"]["train_examples_per_s"] / v["hf_trainer_bf16"]["train_examples_per_s"],
        "afa_step_vs_off_fp32": v["afa_default"]["seconds_per_step"] / v["afa_off"]["seconds_per_step"],
        "afa_step_vs_off_bf16": v["afa_default_bf16"]["seconds_per_step"] / v["afa_off_bf16"]["seconds_per_step"],
        "bf16_speedup_off": v["afa_off_bf16"]["train_examples_per_s"] / v["afa_off"]["train_examples_per_s"],
        "two_processes_vs_one": v["afa_off_2proc"]["train_examples_per_s"] / v["afa_off"]["train_examples_per_s"],
    }
    results["targets"] = {"afa_off_vs_trainer": TARGET_VS_TRAINER, "afa_step_vs_off": TARGET_AFA_STEP_RATIO}
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    table = render(results)
    console.print(table)
    (docs / "bench.md").write_text(markdown(results))


def render(results: dict) -> Table:
    m = results["machine"]
    table = Table(title=f"afa bench — {m['cpu']}, {m['cores']} cores, torch {m['torch']}")
    for column in ("variant", "train ex/s", "s/step", "eval ex/s", "val acc", "train RSS MiB",
                   "eval RSS MiB"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, r in results["variants"].items():
        table.add_row(name, f"{r['train_examples_per_s']:.1f}", f"{r.get('seconds_per_step', float('nan')):.3f}",
                      f"{r['eval_examples_per_s']:.1f}", f"{r['accuracy']:.4f}",
                      str(r["train_peak_rss_mib"]), str(r.get("eval_peak_rss_mib", "-")))
    return table


def markdown(results: dict) -> str:
    m, r = results["machine"], results["ratios"]
    lines = [
        "# make bench", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, torch {m['torch']} "
        f"(load average {m['load_average_at_start']:.2f} at start).",
        f"Setup: `{' '.join(results['setup'])}`; the Trainer runs the same rows with "
        "`DataCollatorWithPadding` and length-grouped sampling.", "",
        "| variant | train ex/s | s/step | eval ex/s | val acc | train RSS MiB | eval RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, v in results["variants"].items():
        lines.append(f"| {name} | {v['train_examples_per_s']:.1f} | {v.get('seconds_per_step', float('nan')):.3f} | "
                     f"{v['eval_examples_per_s']:.1f} | {v['accuracy']:.4f} | {v['train_peak_rss_mib']} | "
                     f"{v.get('eval_peak_rss_mib', '-')} |")
    lines += [
        "",
        f"- afa plain loop vs Trainer: {r['afa_off_vs_trainer_fp32']:.2f}× (fp32), "
        f"{r['afa_off_vs_trainer_bf16']:.2f}× (bf16); target ≥ {TARGET_VS_TRAINER}×.",
        f"- AFA step vs plain step: {r['afa_step_vs_off_fp32']:.2f}× (fp32), "
        f"{r['afa_step_vs_off_bf16']:.2f}× (bf16); target ≤ {TARGET_AFA_STEP_RATIO}×.",
        f"- bf16 autocast vs fp32, plain loop: {r['bf16_speedup_off']:.2f}×.",
        f"- 2 data-parallel processes (torchrun, gloo, 1 thread each) vs 1 process (2 threads), "
        f"plain loop: {r['two_processes_vs_one']:.2f}×. The train RSS of afa_off_2proc is that of "
        "its largest process.", "",
        "Generated by `make bench` (benchmarks/run.py); numbers from docs/bench.json.", "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
