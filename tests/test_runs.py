"""The run folder's owner: creating, opening, every file it names, resolving checkpoints."""

import json
import math
import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from afa_cli.config import compose_config
from afa_cli.config.schema import Precision
from afa_cli.errors import UserError
from afa_cli.runs import BEST, LAST, Event, Run, RunSummary, release_locks, resolve
from afa_cli.tracking import backends
from conftest import another_writer


def cfg(**top):
    return OmegaConf.create({"output_dir": "out", "name": None,
                             "dataset": {"name": "sst2"}, "model": {"name": "minilm"}, **top})


def fake_checkpoint(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_create_names_a_new_folder_every_time_and_never_reuses_run_dir(tmp_path):
    first = Run.create(cfg(output_dir=str(tmp_path)))
    second = Run.create(cfg(output_dir=str(tmp_path), name="again"))
    assert first.path != second.path and first.path.parent == tmp_path / "sst2" / "minilm"
    assert second.path.name.endswith("_again")
    fixed = Run.create(cfg(), tmp_path / "fixed")
    assert fixed.path == tmp_path / "fixed" and fixed.path.is_dir()
    with pytest.raises(UserError, match="^--run-dir .*/fixed already exists; choose a new folder"):
        Run.create(cfg(), tmp_path / "fixed")


def test_config_overrides_and_config_dirs_round_trip(tmp_path):
    run = Run(tmp_path)
    assert not Run.is_run(tmp_path) and run.overrides() == [] and run.config_dirs() == []
    with pytest.raises(UserError, match="is it an afa run folder"):
        Run.open(tmp_path)
    run.write_config(cfg(seed=3), ["seed=3", "afa=mine"], [tmp_path / "my_conf"])
    opened = Run.open(tmp_path)
    assert opened.config().seed == 3
    assert opened.overrides() == ["seed=3", "afa=mine"]
    assert opened.config_dirs() == [(tmp_path / "my_conf").resolve()]


def test_an_older_runs_config_reads_on_todays_schema_and_a_bad_value_is_one_line(tmp_path):
    saved = OmegaConf.to_container(compose_config(["train=quick", "afa=attention"]),
                                   resolve=True)
    del saved["logger"], saved["train"]["save_every"], saved["dataset"]["hub_text_col"]
    saved["model"]["lora"] = {"r": 4, "target_modules": ["q"]}   # a LoRA model's own keys
    (tmp_path / Run.CONFIG).write_text(OmegaConf.to_yaml(OmegaConf.create(saved)))
    cfg = Run(tmp_path).config()
    assert cfg.logger.experiment == "afa" and backends.chosen(cfg.logger) == {}
    assert cfg.train.save_every is None and cfg.dataset.hub_text_col is None
    assert cfg.train.precision == Precision.fp32 and isinstance(cfg.train.precision, Precision)
    assert cfg.afa.policy == "attention" and cfg.model.lora.r == 4
    saved["train"]["batch_size"] = "many"
    (tmp_path / Run.CONFIG).write_text(OmegaConf.to_yaml(OmegaConf.create(saved)))
    with pytest.raises(UserError, match=r"config.yaml: Value 'many' of type 'str' could not be "
                                        r"converted to Integer; fix it, or restore it") as err:
        Run(tmp_path).config()
    assert "\n" not in str(err.value)


def test_events_append_in_order_with_nan_as_null(tmp_path):
    run = Run(tmp_path)
    assert run.events() == []
    run.append_event(5, 0, "train", {"loss": 0.5, "loss_pg": float("nan")})
    run.append_event(10, 0, "validation", {"accuracy": 0.8})
    assert [e.step for e in run.events()] == [5, 10]
    assert run.events("train")[0].metrics == {"loss": 0.5, "loss_pg": None}
    assert [e.metrics for e in run.events("validation")] == [{"accuracy": 0.8}]
    line = (tmp_path / Run.METRICS).read_text().splitlines()[0]
    assert "NaN" not in line and json.loads(line)["split"] == "train"


def test_summary_round_trips_and_reads_earlier_layouts(tmp_path):
    run = Run(tmp_path)
    assert run.summary() is None and not run.finished
    best = Event(10, 0, "validation", 1.0, {"accuracy": 0.9})
    run.write_summary(RunSummary(dataset="sst2", seed=1, steps=19, best=best, final=best,
                                 train_seconds=math.nan))
    summary = run.summary()
    assert run.finished and summary.best_metrics == {"accuracy": 0.9} and summary.steps == 19
    assert summary.train_seconds is None  # JSON has no NaN
    # written before RunSummary existed: an absolute run_dir, fewer keys
    (tmp_path / Run.SUMMARY).write_text(json.dumps(
        {"run_dir": "/elsewhere/run", "dataset": "mr", "best": {"step": 3, "metrics": {"accuracy": 1}}}))
    old = run.summary()
    assert old.dataset == "mr" and old.best.step == 3 and old.final is None and old.final_metrics == {}


def test_frequent_words_and_eval_reports(tmp_path):
    run = Run(tmp_path)
    assert run.frequent_words() is None
    run.write_frequent_words(["the", ","])
    assert run.frequent_words() == ["the", ","]


def test_eval_reports_never_replace_each_other(tmp_path):
    run = Run(tmp_path)
    first = run.write_eval_report("mr", "validation", BEST, {"n": 1})
    second = run.write_eval_report("mr", "validation", BEST, {"n": 2})
    of_last = run.write_eval_report("mr", "validation", LAST, {"n": 3})
    assert [first.name, second.name, of_last.name] == [
        "eval_mr_validation.json", "eval_mr_validation-2.json", "eval_mr_validation_last.json"]
    assert [json.loads(p.read_text())["n"] for p in (first, second, of_last)] == [1, 2, 3]
    assert not list(tmp_path.glob(".*.tmp"))


def test_resolve_a_run_its_checkpoints_and_a_loose_checkpoint(tmp_path):
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.write_config(cfg(), [])
    fake_checkpoint(run.checkpoint(BEST))
    fake_checkpoint(run.checkpoint(LAST))
    checkpoint, owner = resolve(run.path)
    assert checkpoint == run.checkpoint(BEST) and owner.path == run.path
    checkpoint, owner = resolve(run.checkpoint(LAST))
    assert checkpoint == run.checkpoint(LAST) and owner.path == run.path
    loose = fake_checkpoint(tmp_path / "loose")
    assert resolve(loose) == (loose, None)
    with pytest.raises(UserError, match="does not exist"):
        resolve(tmp_path / "missing")
    with pytest.raises(UserError, match="neither a checkpoint folder nor a run folder"):
        resolve(tmp_path)


def test_resumable_means_a_training_state_and_no_summary(tmp_path):
    run = Run(tmp_path)
    assert not run.resumable
    with pytest.raises(UserError, match="no last checkpoint"):
        run.training_state()
    fake_checkpoint(run.checkpoint(LAST))
    (run.checkpoint(LAST) / Run.TRAINING_STATE).write_bytes(b"")
    assert run.resumable
    run.write_summary(RunSummary(dataset="sst2"))
    assert not run.resumable


def test_events_after_a_checkpoint_are_set_aside_not_deleted(tmp_path):
    run = Run(tmp_path)
    assert run.event_count() == 0 and run.set_aside_events(0) is None
    for step in (1, 2, 3):
        run.append_event(step, 0, "train", {"loss": float(step)})
    with (tmp_path / Run.METRICS).open("a") as handle:
        handle.write('{"step": 4, "ep')  # a line a hard stop cut short
    assert run.event_count() == 4
    assert run.set_aside_events(4) is None
    aside = run.set_aside_events(1)
    assert [e.step for e in run.events()] == [1]
    assert aside.name == "metrics.after-1.jsonl" and aside.read_text().count("\n") == 2
    run.append_event(2, 0, "train", {"loss": 2.0})
    assert run.set_aside_events(1).name == "metrics.after-1-2.jsonl" and aside.is_file()


def test_a_failed_checkpoint_save_leaves_nothing_half_written(tmp_path):
    class FullDisk:
        def save_pretrained(self, folder, **kwargs):
            Path(folder).mkdir(parents=True)
            (Path(folder) / "model.safetensors").write_bytes(b"partial")
            raise OSError(28, "No space left on device")

    run = Run(tmp_path)
    with pytest.raises(UserError, match=r"Cannot save .*last: the disk is full. Free some "
                                        "space, then train again."):
        run.save_checkpoint(LAST, FullDisk(), tokenizer=None)
    assert not (tmp_path / Run.CHECKPOINTS).exists() or not any((tmp_path / Run.CHECKPOINTS).iterdir())


WRITES_PAST_A_LIMIT = """
import json, sys, torch
from pathlib import Path
from afa_cli import files
from afa_cli.errors import UserError
from afa_cli.runs import Run, write_json, write_new_json
folder = Path(sys.argv[1])
outcomes = {}
def attempt(name, write):
    try:
        write()
        outcomes[name] = "written"
    except UserError as err:
        outcomes[name] = str(err)
    except OSError as err:
        outcomes[name] = f"OSError {err.errno} {err.filename}"
attempt("json", lambda: write_json(folder / "new" / "deeper" / "big.json", {"x": "y" * 5000}))
attempt("numbered", lambda: write_new_json(folder, "report", {"x": "y" * 5000}))
attempt("stream", lambda: files.write_text(folder / "stream.jsonl", "z" * 5000))
attempt("torch", lambda: files.torch_save(torch.zeros(5000), folder / "state.pt"))
run = Run(folder)
run.append_event(1, 0, "train", {"loss": 1.0})
attempt("event", lambda: run.append_event(2, 0, "train", {"loss": "w" * 5000}))
outcomes["events"] = [e.step for e in run.events()]
outcomes["cache"] = str(files.write_cache(folder / "cache" / "x.pt",
                                          lambda tmp: files.torch_save(torch.zeros(5000), tmp)))
print(json.dumps(outcomes))
"""


def _file_size_limit() -> None:
    """4 kB per file: a write past it fails (EFBIG) as it would on a full disk."""
    import resource
    import signal

    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_writes_past_a_file_size_limit_are_one_line_naming_the_file_and_leave_nothing(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", WRITES_PAST_A_LIMIT, str(tmp_path)],
                            preexec_fn=_file_size_limit, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    limit = "the file size limit (ulimit -f) is reached. Free some space, then run the command again."
    assert outcomes["json"] == f"Cannot write {tmp_path / 'new' / 'deeper' / 'big.json'}: {limit}"
    assert outcomes["numbered"] == f"Cannot write {tmp_path / 'report.json'}: {limit}"
    assert outcomes["stream"] == f"Cannot write {tmp_path / 'stream.jsonl'}: {limit}"
    # torch's own writer says "unexpected pos"; the OSError behind it names the file
    assert outcomes["torch"] == f"OSError 27 {tmp_path / 'state.pt'}"
    assert outcomes["event"] == f"Cannot write {tmp_path / Run.METRICS}: {limit}"
    assert outcomes["events"] == [1]  # the line that did not fit is not left half-written
    assert outcomes["cache"] == f"[Errno 27] File too large: '{tmp_path / 'cache' / 'x.pt'}'"
    # no temporary file, no folder made for a file that was not written
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [Run.METRICS, "state.pt"], left  # state.pt: torch_save writes in place


def test_one_writer_at_a_time_and_a_dead_writers_lock_is_taken_over(tmp_path):
    run = Run(tmp_path)
    assert run.writer() is None
    with another_writer(tmp_path) as holder:
        assert run.writer() == holder.pid
        with pytest.raises(UserError, match=f"being written by process {holder.pid}"):
            run.lock()
    assert run.writer() is None  # the dead process's lock is gone
    run.lock()
    try:
        assert run.writer() is None  # this process's own lock is not another writer
        assert (tmp_path / Run.LOCK).read_text().strip() == str(os.getpid())
    finally:
        release_locks()


def test_damaged_run_files_are_one_line(tmp_path):
    run = Run(tmp_path)
    (tmp_path / Run.CONFIG).write_text("seed: [1\n")
    with pytest.raises(UserError, match=r"config.yaml is not valid YAML \(.* at line 2\); fix it"):
        run.config()
    fake_checkpoint(run.checkpoint(LAST))
    (run.checkpoint(LAST) / Run.TRAINING_STATE).write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(UserError, match="training_state.pt is damaged .*checkpoints/best"):
        run.training_state()


@pytest.mark.parametrize("option", ["--run-dir ", "output_dir="])
def test_a_run_folder_under_a_file_is_one_line_before_any_work(tmp_path, option):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    under_it = a_file / "runs"
    config = OmegaConf.create({"output_dir": str(under_it if option == "output_dir=" else
                                                 tmp_path / "out")})
    with pytest.raises(UserError, match=f"^{option}{under_it}: {a_file} is a file, not a "
                                        "folder; choose another path.$"):
        Run.check_new(config, under_it if option == "--run-dir " else None)
    assert a_file.read_text() == "mine"
