"""Development only: keep finished runs' small files in docs/results/runs/, and render
docs/RESULTS.md and its pages with `afa report`. No number in them is typed by hand.

    python -m benchmarks.results collect SECTION RUN_OR_SWEEP_DIR...  # keep runs' small files
    python -m benchmarks.results render          # docs/results/<SECTION>.md and docs/RESULTS.md

`collect` copies what docs/results keeps of each run, or of each finished job of a sweep folder
(KEPT: its config, overrides and summary, and the latest report of each suite it was
evaluated with; no checkpoints), into docs/results/runs/<SECTION>/<run>/. `render` is, for every
section, `afa report docs/results/runs/<SECTION> --md docs/results/<SECTION>.md` (the section's
NOTES.md leads its page; its figures are docs/results/<SECTION>_<figure>.png); afa report never
writes over a file, so the section's previous page and figures are removed first. Then
docs/RESULTS.md, the index of the sections, is written again."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from omegaconf import OmegaConf

from afa_cli.commands.report import ReportRequest, make_report
from afa_cli.report.study import NOTES
from afa_cli.runs import Run, write_json
from afa_cli.sweep.state import SweepState

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "docs" / "results" / "runs"
# What docs/results keeps of a run: enough to label and tabulate it, no weights (and the latest
# report of each suite it was evaluated with).
KEPT = (Run.CONFIG, Run.OVERRIDES, Run.SUMMARY)
WRITTEN_TO = ("run_dir", "output_dir")  # config keys naming where the run was written


def collect(section: str, folders: list[str], store: Path = STORE) -> None:
    runs = []  # (run folder, the name it is kept under)
    for folder in map(Path, folders):
        if SweepState.is_sweep(folder):  # job names repeat across sweeps: prefix the sweep's
            runs += [(Run(job), f"{folder.name}__{job.name}") for job in sorted(folder.iterdir())
                     if Run.is_run(job)]
        else:
            runs.append((Run(folder), folder.name))
    for run, name in runs:
        if not run.finished:
            print(f"skipped {run.path}: unfinished run")
            continue
        target = store / section / name
        if Run(target).finished:
            if Run(target).summary() != run.summary():
                raise SystemExit(f"{target} already holds another run; remove it or collect "
                                 "into another section.")
            continue
        keep(run, target)


def keep(run: Run, target: Path) -> None:
    """Copy the files docs/results keeps of a run into target. The folders the run was
    written to (run_dir, output_dir) are kept relative to the run folder: kept results are
    committed, and one machine's absolute paths mean nothing on another."""
    target.mkdir(parents=True, exist_ok=True)
    cfg = run.saved_config()
    here = Path(cfg.get("run_dir") or run.path.resolve())
    for key in WRITTEN_TO:
        if cfg.get(key) and Path(cfg[key]).is_absolute():
            cfg[key] = os.path.relpath(cfg[key], here)
    OmegaConf.save(cfg, target / Run.CONFIG)
    OmegaConf.save(OmegaConf.create([_relative_override(o, here) for o in run.overrides()]),
                   target / Run.OVERRIDES)
    write_json(target / Run.SUMMARY, run.summary().to_dict())
    for suite, report in run.suite_reports().items():
        payload = json.loads(report.read_text(encoding="utf-8"))
        for key in ("run", "checkpoint"):  # where it was scored, relative as above
            if payload.get(key) and Path(payload[key]).is_absolute():
                payload[key] = os.path.relpath(payload[key], here)
        (target / Run.SUITES / suite).mkdir(parents=True, exist_ok=True)
        write_json(target / Run.SUITES / suite / Run.SUITE_REPORT, payload)


def _relative_override(override: str, here: Path) -> str:
    """output_dir=/abs/out relative to the run: see keep."""
    key, _, value = override.partition("=")
    path = Path(value.strip("'\""))
    if key.lstrip("+") in WRITTEN_TO and path.is_absolute():
        return f"{key}={os.path.relpath(path, here)}"
    return override


def render(store: Path = STORE, out_path: Path = ROOT / "docs" / "RESULTS.md") -> None:
    """Every section's page by afa report, over the previous one, and the index."""
    pages = store.parent
    index = [
        "# Results", "",
        "Each study below is a page rendered by `afa report` from the runs kept in "
        "`docs/results/runs/<study>/`",
        f"(each run's {', '.join(KEPT[:-1])} and {KEPT[-1]}, and its latest suite "
        "reports): `afa report docs/results/runs/<study> --md docs/results/<study>.md`, the "
        "study's NOTES.md first.",
        "Each page has the variants' validation scores at their best checkpoint (mean ± sample "
        "std over seeds), each variant paired with its baseline, every suite's probes and paired "
        "tests, plots, the commands and config differences that made each variant, and the "
        "environment. `python -m benchmarks.results render` renders them all again.", "",
    ]
    for section in sorted(p for p in store.iterdir() if p.is_dir()):
        page = pages / f"{section.name}.md"
        for old in (page, *pages.glob(f"{section.name}_*.png")):
            old.unlink(missing_ok=True)
        document, _ = make_report(ReportRequest([section], md=page))
        counts = document.subtitle.split("; ")[0]   # N runs in M variants (...)
        index += [f"## [{section.name}]({page.relative_to(out_path.parent).as_posix()})", "",
                  *([lead, ""] if (lead := _lead(section / NOTES)) else []), f"{counts}.", ""]
        print(f"wrote {page}")
    out_path.write_text("\n".join(index).rstrip("\n") + "\n", encoding="utf-8")
    print(f"wrote {out_path}")


def _lead(notes: Path) -> str:
    """The notes' first paragraph, to its last whole sentence."""
    if not notes.is_file():
        return ""
    lead = notes.read_text(encoding="utf-8").strip().split("\n\n")[0].strip()
    if lead.endswith("."):
        return lead
    end = max(lead.rfind(". "), lead.rfind(".\n"))
    return lead[: end + 1] if end > 0 else lead.rstrip(":") + "."


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "collect":
        collect(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:] == ["render"]:
        os.chdir(ROOT)   # the pages show the kept runs' paths relative to the repository
        render()
    else:
        raise SystemExit(__doc__)
