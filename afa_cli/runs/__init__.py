"""The run folder, the only code that names its files.

    <run>/config.yaml          the resolved config          overrides.yaml   what was typed
    <run>/config_dirs.yaml     --config-dir folders the config was composed with
    <run>/metrics.jsonl        one event per log / evaluation  train.log     the run's log
    <run>/summary.json         RunSummary, written when training ends
    <run>/frequent_words.json  the 100 most frequent training words (attention metrics)
    <run>/checkpoints/{best,last}/   Hugging Face folders; last/ adds training_state.pt
    <run>/eval_<dataset>_<split>[_<checkpoint>][-N].json   afa eval reports, never overwritten
    <run>/suites/<suite>[-N]/report.json   afa eval --suite, one folder per evaluation
                                           (comparison.json/.md: with several runs)
    <run>/job.log              a sweep job's output
    <run>/trackers.json        what identifies the run in each tracker it is logged to (MLflow's
                               run id and store, W&B's run id): a resume or afa log continues it
    <run>/.lock                the pid of the process writing the run

A folder is created once and never overwritten; every JSON file is swapped in atomically.

Run (folder.py) is the one owner every other module asks about these files; the parts of it that
handle metrics.jsonl (events.py), train.log (log.py), the eval and suite reports (reports.py),
the checkpoints (checkpoints.py) and the lock (locks.py) live in their own modules. Beside them:
the records (records.py), what a suite report holds (suite_report.py), JSON writing
(json_files.py) and the package versions and commit a summary records (provenance.py)."""

from afa_cli.runs.checkpoints import BEST, LAST
from afa_cli.runs.folder import Run, new_timestamped_dir, resolve
from afa_cli.runs.json_files import write_json, write_new_json
from afa_cli.runs.locks import release_locks
from afa_cli.runs.log import silent_log
from afa_cli.runs.provenance import environment
from afa_cli.runs.records import TRAIN, VALIDATION, Event, RunSummary
from afa_cli.runs.suite_report import ProbeRecord, SuiteRunReport

__all__ = ["BEST", "LAST", "TRAIN", "VALIDATION", "Event", "ProbeRecord", "Run", "RunSummary",
           "SuiteRunReport", "environment", "new_timestamped_dir", "release_locks", "resolve",
           "silent_log", "write_json", "write_new_json"]
