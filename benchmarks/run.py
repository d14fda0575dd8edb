"""make bench: whole-run speed on this machine, into docs/bench.json and docs/bench.md (on a
CUDA machine: docs/bench_gpu.json and docs/bench_gpu.md).

On the same model, rows, (global) batch size, max length and steps everywhere:
1. examples/s of afa's plain loop (afa=off) against transformers.Trainer, at each side's defaults
   and at each side's best settings (the faster of fp32 and bf16; the Trainer length-grouped,
   with SDPA and fused AdamW; on CUDA also torch.compile on both sides);
2. an AFA step (policy gradient from step 0) against a plain step: whole runs, and the two timed
   on the same batches in one process (benchmarks/steps.py), which the target is judged on;
3. evaluation examples/s (`afa eval`) against Trainer.predict, and the peak memory of each;
4. torch.profiler's top operations of afa's plain and AFA steps;
5. on the CPU, the plain loop as 2 data-parallel processes (torchrun, 1 thread each) against 1."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

from afa_cli.metrics.registry import ACCURACY
from afa_cli.runs import Run

ROOT = Path(__file__).resolve().parent.parent
CUDA = torch.cuda.is_available()
COMMON = ["dataset=sst2", "model=minilm", "train.max_train_samples=3200", "train.batch_size=32",
          "train.epochs=1", "train.eval_every=1000000", "train.log_every=20",
          f"train.num_threads={os.cpu_count() if CUDA else 2}", "seed=1"]
AFA_STEP = ["afa=default", "afa.warmup_steps=0"]
BF16 = ["train.precision=bf16"]
COMPILE_AFA, COMPILE_TRAINER = ["train.compile=true"], ["--compile"]


@dataclass
class Variant:
    side: str               # "afa" (afa train + afa eval), "trainer" or "torchrun"
    args: list[str]         # overrides (and, for the Trainer, its flags)
    note: str


VARIANTS = {
    "afa": Variant("afa", ["afa=off"], "afa's plain loop at its defaults (fp32)"),
    "afa_bf16": Variant("afa", ["afa=off", *BF16], "bf16 autocast"),
    "afa_step": Variant("afa", AFA_STEP, "an AFA step (fp32)"),
    "afa_step_bf16": Variant("afa", [*AFA_STEP, *BF16], "an AFA step (bf16)"),
    "trainer": Variant("trainer", ["afa=off"], "the Trainer at its defaults (random batches, fp32)"),
    "trainer_grouped": Variant("trainer", ["afa=off", "--group-by-length"], "length-grouped"),
    "trainer_grouped_bf16": Variant("trainer", ["afa=off", "--group-by-length", *BF16],
                                    "length-grouped, bf16"),
}
if CUDA:  # on a 2-core CPU one trial compiled for over a minute for no faster step (README)
    VARIANTS |= {
        "afa_compile": Variant("afa", ["afa=off", *COMPILE_AFA], "torch.compile, CUDA graphs"),
        "afa_bf16_compile": Variant("afa", ["afa=off", *BF16, *COMPILE_AFA], "bf16, compiled"),
        "trainer_grouped_compile": Variant("trainer", ["afa=off", "--group-by-length", *COMPILE_TRAINER],
                                           "length-grouped, torch_compile"),
        "trainer_grouped_bf16_compile": Variant(
            "trainer", ["afa=off", "--group-by-length", *BF16, *COMPILE_TRAINER],
            "length-grouped, bf16, torch_compile"),
    }
else:
    VARIANTS["afa_2proc"] = Variant("torchrun", ["afa=off", "train.num_threads=1"],
                                    "2 data-parallel processes, 1 thread each")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--master_port", "29533"]
# The targets of the speed issue, as ratios measured in one run.
TARGETS = {
    "cpu": {"plain_vs_trainer_best": 1.3, "afa_step_vs_plain": 1.2, "eval_vs_predict": 1.5},
    "cuda": {"plain_vs_trainer_best": 2.0, "afa_step_vs_plain": 1.25, "eval_vs_predict": 1.0},
}


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


def measure(name: str, variant: Variant, work: Path, common: list[str] = COMMON) -> dict:
    """One variant's whole run (`common`: the shared setup, smaller in the tests)."""
    if variant.side == "trainer":
        stdout, wall, rss = run_measured([sys.executable, "-m", "benchmarks.hf_trainer",
                                          str(work / name), *common, *variant.args])
        result = json.loads(stdout.strip().splitlines()[-1])
        result.update(train_peak_rss_mib=rss, wall_seconds=wall)
        return result
    run_dir = work / name
    launcher = TORCHRUN if variant.side == "torchrun" else [sys.executable]
    _, wall, train_rss = run_measured([*launcher, "-m", "afa_cli", "train", *common, *variant.args,
                                       "--run-dir", str(run_dir)])
    summary = Run(run_dir).summary()
    stdout, _, eval_rss = run_measured([sys.executable, "-m", "afa_cli", "eval", str(run_dir)])
    written, = [line.removeprefix("written: ") for line in stdout.splitlines()
                if line.startswith("written: ")]
    report = json.loads(Path(written).read_text())
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


def steps(overrides: list[str]) -> dict:
    stdout, _, _ = run_measured([sys.executable, "-m", "benchmarks.steps", *COMMON, *overrides])
    return json.loads(stdout.strip().splitlines()[-1])


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": torch.cuda.get_device_name() if CUDA else None,
            "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "load_average_at_start": os.getloadavg()[0]}


def fastest(variants: dict, side: str) -> str:
    """The name of one side's fastest training variant (its best settings)."""
    names = [n for n, v in VARIANTS.items() if v.side == side and "step" not in n]
    return max(names, key=lambda n: variants[n]["train_examples_per_s"])


def ratios(v: dict) -> dict:
    afa_best, trainer_best = fastest(v, "afa"), fastest(v, "trainer")
    afa_step = "afa_step_bf16" if "bf16" in afa_best else "afa_step"
    plain = "afa_bf16" if "bf16" in afa_best else "afa"
    trainer_same_precision = "trainer_grouped_bf16" if "bf16" in afa_best else "trainer_grouped"
    return {
        "afa_best": afa_best, "trainer_best": trainer_best,
        "plain_vs_trainer_best": v[afa_best]["train_examples_per_s"] / v[trainer_best]["train_examples_per_s"],
        "plain_vs_trainer_defaults": v["afa"]["train_examples_per_s"] / v["trainer"]["train_examples_per_s"],
        "afa_step_vs_plain_whole_runs": v[afa_step]["seconds_per_step"] / v[plain]["seconds_per_step"],
        "eval_vs_predict": v[afa_best]["eval_examples_per_s"] / v[trainer_same_precision]["eval_examples_per_s"],
        "bf16_vs_fp32_plain": v["afa_bf16"]["train_examples_per_s"] / v["afa"]["train_examples_per_s"],
        **({"two_processes_vs_one": v["afa_2proc"]["train_examples_per_s"] / v["afa"]["train_examples_per_s"]}
           if "afa_2proc" in v else {}),
    }


def main() -> None:
    console = Console()
    results = {"machine": machine(), "setup": COMMON, "variants": {}}
    work = Path(tempfile.mkdtemp(prefix="afa_bench_"))
    try:
        for name, variant in VARIANTS.items():
            console.print(f"running {name}: {variant.note} ...")
            results["variants"][name] = measure(name, variant, work)
            console.print(f"  {results['variants'][name]['train_examples_per_s']:.1f} train ex/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["ratios"] = ratios(results["variants"])
    console.print("timing and profiling plain and AFA steps on the same batches ...")
    results["steps"] = steps([*AFA_STEP, *(BF16 if "bf16" in results["ratios"]["afa_best"] else [])])
    results["ratios"]["afa_step_vs_plain"] = results["steps"]["afa_step_vs_plain"]
    results["targets"] = TARGETS["cuda" if CUDA else "cpu"]
    stem = "bench_gpu" if CUDA else "bench"
    docs = ROOT / "docs"
    results["history"] = history(docs / f"{stem}.json", results)
    (docs / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (docs / f"{stem}.md").write_text(markdown(results, stem))
    console.print(markdown(results, stem))


KEPT_RUNS = 6


def history(previous_file: Path, results: dict) -> list[dict]:
    """The ratios of this run and of the earlier runs the previous file kept, newest first: one
    run on a shared machine is one draw of its noise."""
    earlier = []
    if previous_file.is_file():
        previous = json.loads(previous_file.read_text())
        earlier = previous.get("history") or []
    this = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": results["machine"]["cpu"],
            "gpu": results["machine"].get("gpu"), "commit": _commit(), **results["ratios"]}
    return [this, *earlier][:KEPT_RUNS]


def _commit() -> str | None:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                           text=True)
    return found.stdout.strip() or None


def _cell(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(results: dict, stem: str) -> str:
    m, r, t = results["machine"], results["ratios"], results["targets"]
    where = f"{m['gpu']} (CUDA), {m['cores']} CPU cores" if m.get("gpu") else f"{m['cpu']}, {m['cores']} cores"
    lines = [
        "# make bench", "",
        f"Machine: {where}, Python {m['python']}, torch {m['torch']} "
        f"(load average {m['load_average_at_start']:.2f} at start).",
        f"Setup: `{' '.join(results['setup'])}`; the Trainer runs the same rows with "
        "`DataCollatorWithPadding`, the model as transformers loads it (SDPA) and fused AdamW.", "",
        "| variant | settings | train ex/s | s/step | eval ex/s | val acc | train RSS MiB | eval RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, v in results["variants"].items():
        lines.append(f"| {name} | {VARIANTS[name].note} | {v['train_examples_per_s']:.1f} | "
                     f"{_cell(v.get('seconds_per_step'), 3)} | {v['eval_examples_per_s']:.1f} | "
                     f"{v['accuracy']:.4f} | {v['train_peak_rss_mib']} | {_cell(v.get('eval_peak_rss_mib'))} |")

    def verdict(key: str, higher_is_better: bool = True) -> str:
        met = r[key] >= t[key] if higher_is_better else r[key] <= t[key]
        return f"**{r[key]:.2f}×** (target {'≥' if higher_is_better else '≤'} {t[key]}×: {'met' if met else 'missed'})"

    lines += [
        "",
        f"- afa's plain loop against the Trainer, each at its best ({r['afa_best']} against "
        f"{r['trainer_best']}): {verdict('plain_vs_trainer_best')}.",
        f"- At each side's defaults (afa against trainer): {r['plain_vs_trainer_defaults']:.2f}×.",
        f"- AFA step against a plain step, at afa's best precision, on the same "
        f"{results['steps']['steps']} batches in one process ({results['steps']['afa_step_ms']:.0f} "
        f"against {results['steps']['plain_step_ms']:.0f} ms): {verdict('afa_step_vs_plain', False)}; "
        f"in the whole runs above: {r['afa_step_vs_plain_whole_runs']:.2f}×.",
        f"- `afa eval` against `Trainer.predict`, same precision: {verdict('eval_vs_predict')}.",
        f"- bf16 autocast against fp32, afa's plain loop: {r['bf16_vs_fp32_plain']:.2f}×.",
    ]
    if "two_processes_vs_one" in r:
        lines.append(f"- 2 data-parallel processes (torchrun, gloo, 1 thread each) against 1 process "
                     f"(2 threads), plain loop: {r['two_processes_vs_one']:.2f}×; the train RSS of "
                     "afa_2proc is that of its largest process.")
    for name, prof in results["steps"]["profiles"].items():
        lines += ["", f"Top operations of afa's {name.replace('_', ' ')} ({prof['clock']} time, "
                      f"{prof['step_ms']:.0f} ms a step under the profiler):", "",
                  "| operation | ms / step | share | calls / step |", "|---|---|---|---|"]
        lines += [f"| `{op['name']}` | {op['self_ms_per_step']:.1f} | {op['share']:.1%} | "
                  f"{op['calls_per_step']:g} |" for op in prof["ops"]]
    lines += ["", "The target ratios in this and earlier runs on this kind of machine (newest first):", "",
              "| date | commit | machine | plain / Trainer, best | defaults | AFA step / plain | "
              "eval / predict | bf16 / fp32 |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {h['date']} | {h['commit']} | {h['gpu'] or h['cpu']} | {h['plain_vs_trainer_best']:.2f}× | "
              f"{h['plain_vs_trainer_defaults']:.2f}× | {h['afa_step_vs_plain']:.2f}× | "
              f"{h['eval_vs_predict']:.2f}× | {h['bf16_vs_fp32_plain']:.2f}× |" for h in results["history"]]
    lines += ["", f"Generated by `make bench` (benchmarks/run.py); numbers from docs/{stem}.json.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
