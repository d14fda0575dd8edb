"""A run's evaluation reports: afa eval's eval_<dataset>_<split>[_<checkpoint>][-N].json, and
afa eval --suite's suites/<suite>[-N]/ folders, each with its SuiteRunReport (suite_report.py)."""

from __future__ import annotations

import json
from pathlib import Path

from afa_cli import files
from afa_cli.errors import UserError
from afa_cli.runs.checkpoints import BEST
from afa_cli.runs.json_files import write_json, write_new_json
from afa_cli.runs.suite_report import SuiteRunReport


class EvaluationReports:
    """Run's eval reports and suites/ folder."""

    SUITES = "suites"              # suites/<suite>[-N]/: one evaluation with a suite each
    SUITE_REPORT = "report.json"   # ... its numbers; beside it, each attack's CSV
    SUITE_COMPARISON = "comparison"  # ... and .json/.md: the runs it was compared with
    path: Path  # the run folder

    def write_eval_report(self, dataset: str, split: str, checkpoint: str,
                          payload: dict) -> Path:
        """eval_<dataset>_<split>.json for the best checkpoint (eval_..._<checkpoint>.json for
        another), with -2, -3, ... when an earlier evaluation holds the name: reports of
        different evaluations (other overrides, another file of the same name) never replace
        each other."""
        stem = f"eval_{dataset}_{split}" + ("" if checkpoint == BEST else f"_{checkpoint}")
        return write_new_json(self.path, stem, payload)

    def new_suite_report(self, report: SuiteRunReport) -> Path:
        """suites/<suite>/ for the first evaluation with a suite, suites/<suite>-2/, -3, ...
        for later ones, created here (two evaluations at once get two folders) with its first
        report.json: both or neither, so that a report that cannot be written (a full disk)
        leaves no empty folder behind."""
        parent = self.path / self.SUITES
        created: list[Path] = []
        try:
            created = files.make_folders(parent)
            for attempt in range(1, 10_000):
                folder = parent / (report.suite if attempt == 1
                                   else f"{report.suite}-{attempt}")
                try:
                    folder.mkdir()
                    break
                except FileExistsError:
                    continue
            else:
                raise UserError(f"{parent} holds 10,000 evaluations with suite {report.suite}; "
                                "move some away.")
            created.insert(0, folder)
            self.write_suite_report(folder, report)
        except BaseException as err:
            files.remove_folders(created)
            if (failure := files.room_error(parent, err)) is not None:
                raise failure from None
            raise
        return folder

    @classmethod
    def write_suite_report(cls, folder: Path, report: SuiteRunReport,
                           then: str = files.AGAIN) -> None:
        """Over the folder's report.json, whole or not at all; `then` ends the line of a write
        that failed for want of room."""
        write_json(Path(folder) / cls.SUITE_REPORT, report.to_dict(), then=then)

    @classmethod
    def suite_report(cls, folder: Path) -> SuiteRunReport | None:
        """A suite folder's report; None when there is none (or it is not a suite report)."""
        try:
            payload = json.loads((Path(folder) / cls.SUITE_REPORT).read_text(encoding="utf-8"))
            return SuiteRunReport.from_dict(payload)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def suite_reports(self) -> dict[str, Path]:
        """The latest complete report of each suite the run was evaluated with
        (suites/<suite>[-N]/); one an interrupted evaluation left (or one that does not read)
        is not."""
        reports: dict[str, tuple[int, Path]] = {}
        for report in (self.path / self.SUITES).glob(f"*/{self.SUITE_REPORT}"):
            read = self.suite_report(report.parent)
            if read is None or not read.complete:
                continue
            suite, _, number = report.parent.name.rpartition("-")
            suite, order = (suite, int(number)) if number.isdigit() and suite else \
                (report.parent.name, 1)
            if order >= reports.get(suite, (0, report))[0]:
                reports[suite] = (order, report)
        return {suite: path for suite, (_, path) in sorted(reports.items())}
