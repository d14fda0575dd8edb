"""The `afa` command: parse arguments, call one function of afa_cli/commands per command, print
what it returns through the views. A UserError, wherever a command raises it, is one error line."""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from omegaconf import OmegaConf
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from afa_cli.errors import UserError, no_room
from afa_cli.metrics import EVAL_BATCH_SIZE, registry
from afa_cli.runs import Run

if TYPE_CHECKING:
    from afa_cli.commands.evaluate import EvalResult
    from afa_cli.commands.suite import SuiteRequest
    from afa_cli.tune.report import TuneReport

console = Console()
err_console = Console(stderr=True)


class AfaGroup(TyperGroup):
    """afa's commands. A UserError, from a command's options, its checks or its work, ends the
    command as one error line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as err:
            _fail(str(err))


app = typer.Typer(cls=AfaGroup, add_completion=True, no_args_is_help=True,
                  pretty_exceptions_enable=False,
                  help="Experiment runner for AFA (Adversarial Feedback for Attention).")
OVERRIDES = typer.Argument(None, help="Hydra overrides: key=value, +key=value, group=option.",
                           show_default=False)
DEVICE = typer.Option("auto", "--device", help="Where the model scores: auto (the GPU when "
                                                "there is one), cpu or cuda.")
BATCH_SIZE = typer.Option(EVAL_BATCH_SIZE, "--batch-size", min=1, help="Texts scored at once.")
CONFIG_DIRS = typer.Option(None, "--config-dir",
                           help="A folder of extra config groups/options (repeatable).")


def main() -> None:
    """The `afa` command: `app`, with a write that fails for want of room (a full disk, at any
    point of any command) as one line instead of a traceback."""
    try:
        if not _completion_for_a_named_shell(sys.argv[1:]):
            app()
    except OSError as err:
        if not (why := no_room(err)):
            raise
        where = f"{err.filename}" if err.filename else "a file"
        err_console.print(f"[bold red]error:[/bold red] Cannot write {escape(where)}: {why}. Free "
                          "some space and run the command again (a stopped training continues "
                          "with afa train --resume RUN).", highlight=False, soft_wrap=True)
        sys.exit(2)


def _completion_for_a_named_shell(args: list[str]) -> bool:
    """`afa --show-completion zsh` / `--install-completion fish`: Typer's flags act for the shell
    they detect (the one afa runs under) and would ignore the one named."""
    if len(args) != 2 or args[0] not in ("--show-completion", "--install-completion"):
        return False
    from typer._completion_classes import completion_init
    from typer._completion_shared import Shells, get_completion_script, install

    shells = [shell.value for shell in Shells]
    if args[1] not in shells:
        _fail_now(f"{args[0]} {args[1]}: choose one of {', '.join(shells)} (or name none: the "
                  "shell afa runs under).")
    completion_init()
    if args[0] == "--show-completion":
        print(get_completion_script(prog_name="afa", complete_var="_AFA_COMPLETE", shell=args[1]))
    else:
        shell, path = install(shell=args[1], prog_name="afa", complete_var="_AFA_COMPLETE")
        print(f"{shell} completion installed in {path}; it takes effect in a new terminal.")
    return True


def _fail_now(message: str) -> None:
    """_fail outside a typer command."""
    _print_error(message)
    sys.exit(2)


def _fail(message: str, code: int = 2) -> None:
    _print_error(message)
    raise typer.Exit(code)


def _print_error(message: str) -> None:
    # escaped: a message may hold brackets (a YAML list, a path) that rich would read as markup
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False,
                      soft_wrap=True)


class StrictCommand(TyperCommand):
    """A command whose unknown --option is one error line naming the closest valid option.

    The parser lets unknown options through to the arguments, where they are refused before
    anything else is checked: a mistyped option is never read as an override or a sentence."""

    ignore_unknown_options = True

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        parsed, _, _ = self.make_parser(ctx).parse_args(args=list(args))
        params = self.get_params(ctx)
        arguments = [value for p in params if p.param_type_name == "argument"
                     for value in _as_tuple(parsed.get(p.name))]
        before_separator = args[:args.index("--")] if "--" in args else args  # -- ends the options
        unknown = next((a for a in arguments if a.startswith("-") and a != "-"
                        and a in before_separator), None)
        if unknown is not None:
            name = unknown.split("=", 1)[0]
            options = [o for p in params if p.param_type_name == "option"
                       for o in [*p.opts, *p.secondary_opts]]
            close = difflib.get_close_matches(name, options, n=1)
            raise UserError(f"no such option {name}; " + (
                f"did you mean {close[0]}?" if close else f"the options are {', '.join(options)}."))
        return super().parse_args(ctx, args)


def _as_tuple(value) -> tuple:
    """A parsed argument's values: a variadic argument gives a tuple, a single one a string."""
    return value if isinstance(value, tuple) else () if value is None else (value,)


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        console.print(f"afa {version('afa')}", highlight=False)
        raise typer.Exit()


@app.callback()
def options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print afa's version and exit."),
) -> None:
    """The options of `afa` itself, before the command."""


@app.command(cls=StrictCommand)
def train(
    overrides: Optional[list[str]] = OVERRIDES,
    cfg: bool = typer.Option(False, "--cfg", help="Print the resolved config and exit."),
    config_dirs: Optional[list[Path]] = CONFIG_DIRS,
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue an interrupted run."),
    run_dir: Optional[Path] = typer.Option(
        None, "--run-dir", help="The new run's folder, exactly (it must not exist); by default "
                                "<output_dir>/<dataset>/<model>/<time>[_<name>]."),
) -> None:
    """Fine-tune a classifier (with AFA unless afa=off); one new folder under outputs/ per run.
    Data-parallel under `torchrun --nproc_per_node N -m afa_cli train ...`."""
    from afa_cli.config import compose_config

    overrides = overrides or []
    named = next((o for o in overrides if o.lstrip("+").partition("=")[0] == "run_dir"), None)
    if named is not None:
        raise UserError(f"{named}: the run folder is an option, not a config key; give "
                        f"--run-dir {named.partition('=')[2] or 'PATH'}.")
    if resume is not None:
        if overrides or run_dir is not None:
            raise UserError("--resume continues a run in its own folder with its own config; "
                            "drop the overrides and --run-dir.")
        if not Run.is_run(resume):
            raise UserError(f"--resume {resume}: not an afa run folder (no {Run.CONFIG}).")
    composed = compose_config(overrides, config_dirs or []) if resume is None else None
    if cfg:
        if composed is None:
            raise UserError("--cfg prints a new run's config; it does not combine with --resume.")
        console.print(OmegaConf.to_yaml(composed), highlight=False, end="")
        return
    _quiet_libraries()
    from afa_cli.distributed import launched_as_main
    from afa_cli.commands.train import train as run_training
    from afa_cli.training.loop import Interrupted
    from afa_cli.training.setup import NewRun

    # Under torchrun, rank 0 speaks for all processes.
    speaks = launched_as_main()
    try:
        folder = run_training(composed, NewRun(overrides, config_dirs or [], run_dir), console,
                              resume_dir=resume)
    except Interrupted as stop:
        if speaks:
            err_console.print(str(stop), highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    if speaks:
        console.print(f"[green]done[/green]: {folder}")


@app.command("eval", cls=StrictCommand)
def eval_command(
    path: Path = typer.Argument(..., help="A run folder (its best checkpoint) or a checkpoint folder."),
    overrides: Optional[list[str]] = OVERRIDES,
    split: str = typer.Option("validation", "--split", help="Dataset split to score."),
    data: Optional[Path] = typer.Option(None, "--data", help="A labelled TSV/CSV/JSONL file instead."),
    text_col: Optional[str] = typer.Option(None, "--text-col"),
    label_col: Optional[str] = typer.Option(None, "--label-col"),
    predictions: Optional[Path] = typer.Option(None, "--predictions",
                                               help="Write each example's prediction (JSONL)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Score a seeded sample of N rows "
                                        "(default: every row of the split or file)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the report to this new file "
                                       "(default: a new eval_*.json in the run folder)."),
    allow_untrained_head: bool = typer.Option(
        False, "--allow-untrained-head",
        help="Score a model folder whose classification head was never trained."),
    suite: Optional[str] = typer.Option(
        None, "--suite", help="Run a suite of probes (transfer, robustness, faithfulness, all) "
                              "on one or more runs: afa eval RUN1 RUN2 ... --suite NAME."),
    baseline: Optional[str] = typer.Option(
        None, "--baseline", help="With --suite and several runs: the variant (an override such "
                                 "as afa=off, or a setting its runs kept at the default, such as "
                                 "afa.schedule=always) the others are compared with."),
    resume: Optional[list[Path]] = typer.Option(
        None, "--resume", help="With --suite: continue the report folder an interrupted "
                               "evaluation left (RUN/suites/NAME), one per run (repeatable)."),
    device: str = DEVICE,
    batch_size: int = BATCH_SIZE,
    config_dirs: Optional[list[Path]] = CONFIG_DIRS,
) -> None:
    """Score a checkpoint: accuracy, macro-F1, per-class scores, confusion, attention quality;
    or, with --suite, transfer, robustness and faithfulness probes over several runs."""
    runs_given, overrides = _runs_and_overrides(path, overrides or [])
    if suite is not None:
        _refuse_with_suite({"--split": split != "validation", "--data": data,
                            "--text-col": text_col, "--label-col": label_col,
                            "--predictions": predictions, "--limit": limit, "--out": out,
                            "--allow-untrained-head": allow_untrained_head})
        _quiet_libraries()
        from afa_cli.commands.suite import SuiteRequest

        _eval_suite(SuiteRequest(paths=runs_given, suite=suite, overrides=overrides,
                                 config_dirs=config_dirs or [], baseline=baseline, device=device,
                                 batch_size=batch_size, resume=resume or []))
        return
    _refuse_without_suite(runs_given, baseline, resume or [])
    _quiet_libraries()
    from afa_cli.commands.evaluate import EvalRequest, evaluate_checkpoint

    result = evaluate_checkpoint(EvalRequest(
        path=path, overrides=overrides, split=split, data_file=data, text_col=text_col,
        label_col=label_col, limit=limit, predictions_file=predictions, out=out,
        allow_untrained_head=allow_untrained_head, config_dirs=config_dirs or [],
        batch_size=batch_size, device=device), err_console)
    _print_evaluation(result, path)


def _runs_and_overrides(path: Path, args: list[str]) -> tuple[list[Path], list[str]]:
    """The runs afa eval is given, and its overrides. A run's folder may hold "=" (a sweep
    job's 000_afa=off_seed=1): an argument naming a folder is a run, anything else an override."""
    runs_given = [path, *(Path(a) for a in args if "=" not in a or Path(a).is_dir())]
    return runs_given, [a for a in args if "=" in a and not Path(a).is_dir()]


def _refuse_with_suite(options: dict[str, object]) -> None:
    """The first of afa eval's one-checkpoint options given (a true value) with --suite."""
    given = [option for option, value in options.items() if value]
    if given:
        raise UserError(f"{given[0]} does not combine with --suite: a suite's probes name their "
                        "own data, split and limit (see conf/suite/).")


def _refuse_without_suite(runs_given: list[Path], baseline: str | None,
                          resume: list[Path]) -> None:
    """What only a suite takes: a baseline, report folders to continue, several runs."""
    if baseline is not None:
        raise UserError("--baseline compares the variants of a suite: add --suite NAME.")
    if resume:
        raise UserError("--resume continues an interrupted suite's report: add --suite NAME "
                        "(the suite it was scored with).")
    if len(runs_given) > 1:
        raise UserError(f"{runs_given[1]}: afa eval scores one checkpoint; several runs take "
                        "--suite NAME (or give overrides as key=value).")


def _print_evaluation(result: EvalResult, path: Path) -> None:
    from afa_cli.commands.evaluate import report_tables
    from afa_cli.views.terminal import boxed_table

    report = result.report
    console.print(f"[bold]{escape(report['dataset'])}[/bold] {escape(report['split'])} "
                  f"({report['num_examples']} examples) — {escape(report['checkpoint'])}",
                  highlight=False)
    for table in report_tables(report):
        console.print(boxed_table(table))
    console.print(f"scored {report['num_examples']} of {report['rows_in_split']} rows",
                  highlight=False)
    if result.written is None:
        err_console.print(f"not written: {path} is not in an afa run folder; pass --out FILE to "
                          "keep the report.", highlight=False)
    else:
        console.print(f"written: {result.written}", highlight=False, soft_wrap=True)


def _eval_suite(request: SuiteRequest) -> None:
    from afa_cli.commands.suite import SuiteInterrupted, run_suite
    from afa_cli.evaluation.document import suite_document
    from afa_cli.views.terminal import render_terminal

    try:
        report = run_suite(request, err_console)
    except SuiteInterrupted as stop:
        err_console.print(escape(str(stop)), highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    # crop=False: off a terminal a table's rows are written whole (views.terminal.FittedTable)
    console.print(render_terminal(suite_document(report)), crop=False)


@app.command("predict", cls=StrictCommand)
def predict_command(
    path: Path = typer.Argument(..., help="A run folder (its best checkpoint) or a checkpoint folder."),
    file: str = typer.Option(..., "--file", help="The texts: .txt (one per line), .tsv/.csv/.jsonl "
                             "(a text column), or - for stdin (one per line)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the JSON lines to this new file "
                                       "(default: stdout)."),
    text_col: Optional[str] = typer.Option(
        None, "--text-col",
        help="A table's text column (default: the run's dataset.text_col, sentence or text)."),
    top_words: Optional[int] = typer.Option(None, "--top-words",
                                            help="Also give each text's K most attended words."),
    allow_untrained_head: bool = typer.Option(
        False, "--allow-untrained-head",
        help="Score a model folder whose classification head was never trained."),
    device: str = DEVICE,
    batch_size: int = BATCH_SIZE,
) -> None:
    """Label unlabelled texts: one JSON line per text (label, probabilities, top words), written
    batch by batch, so `... | afa predict RUN --file - | head` works."""
    _quiet_libraries()
    from afa_cli.commands.predict import PredictRequest, predict_texts

    request = PredictRequest(path=path, file=file, out=out, text_col=text_col,
                             top_words=top_words, allow_untrained_head=allow_untrained_head,
                             batch_size=batch_size, device=device)
    try:
        count = predict_texts(request, sys.stdin.buffer, sys.stdout, err_console)
    except BrokenPipeError:
        # The reader has what it wants (`| head`): stop without a traceback, with stdout on
        # /dev/null so that Python's flush at exit does not write into the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None  # 128 + SIGPIPE: what the shell reports for cat or grep
    if out is not None:
        err_console.print(f"written: {out} ({count} texts)", highlight=False, soft_wrap=True)


@app.command("log", cls=StrictCommand)
def log_command(
    runs: list[Path] = typer.Argument(..., help="Run folders.", show_default=False),
    to: str = typer.Option(..., "--to", help="The tracker: tensorboard, mlflow or wandb (an "
                           "option of the logger group; several: '\\[tensorboard,mlflow]')."),
    experiment: Optional[str] = typer.Option(
        None, "--experiment", help="The MLflow experiment / W&B project (default: the run's "
                                   "logger.experiment, else afa)."),
    config_dirs: Optional[list[Path]] = CONFIG_DIRS,
) -> None:
    """Replay runs' metrics.jsonl into a tracker, to compare runs trained before it was set up."""
    from afa_cli.commands.log import replay

    for line in replay(runs, to, experiment, config_dirs or []):
        console.print(escape(line), highlight=False, soft_wrap=True)


@app.command(cls=StrictCommand)
def tune(
    overrides: Optional[list[str]] = typer.Argument(
        None, show_default=False,
        help="+tune=NAME (a search space in conf/tune/ or a --config-dir folder) and overrides "
             "every trial gets (train=quick, dataset=mr, seed=1, logger=mlflow)."),
    trials: Optional[int] = typer.Option(None, "--trials", help="Trainings in the whole search "
                                         "(with --resume: raise it to run more)."),
    objective: Optional[list[str]] = typer.Option(
        None, "--objective", help="What to optimise at the best checkpoint, in its better "
                                  "direction: a validation metric (default accuracy) or "
                                  "SUITE/PROBE, the probe's headline number scored with the suite "
                                  "after each trial (e.g. transfer/imdb_cad); twice: a Pareto "
                                  "front."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Trials run at once (the cores are split)."),
    name: Optional[str] = typer.Option(None, "--name", help="Appended to the tune folder name."),
    config_dirs: Optional[list[Path]] = CONFIG_DIRS,
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue a tune folder's study."),
    pruner: Optional[str] = typer.Option(None, "--pruner", help="median (default with one "
                                         "objective) or none."),
    prune_startup: Optional[int] = typer.Option(
        None, "--prune-startup", help="Trials that complete before any is pruned (default 5)."),
    prune_warmup: Optional[int] = typer.Option(
        None, "--prune-warmup", help="Training steps before a trial can be pruned (default 0)."),
    sampler_seed: Optional[int] = typer.Option(None, "--sampler-seed",
                                               help="Seed of the TPE sampler."),
    storage: Optional[str] = typer.Option(
        None, "--storage", help="Keep the study where several workers share it: "
                                "postgresql://USER@HOST/DB, mysql+pymysql://..., sqlite:///PATH "
                                "or journal:///PATH (a file on a shared file system)."),
    join: bool = typer.Option(False, "--join", help="Run trials for the --storage study of this "
                                                    "--name (created if absent)."),
) -> None:
    """Search hyperparameters with Optuna: one afa train process and run folder per trial."""
    from afa_cli.commands.tune import tune as run_tune
    from afa_cli.sweep.executor import SweepInterrupted
    from afa_cli.tune.launch import PrunerOptions

    pruning = PrunerOptions(kind=pruner, startup_trials=prune_startup, warmup_steps=prune_warmup)
    try:
        report = run_tune(overrides or [], trials=trials, objectives=objective, parallel=jobs,
                          name=name, config_dirs=config_dirs or [], resume=resume,
                          pruner=pruning, sampler_seed=sampler_seed, console=console,
                          storage=storage, join=join)
    except SweepInterrupted as stop:
        err_console.print(str(stop), highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    _print_tune_report(report)
    running = report.counts.get("running", 0)
    if running:  # a search workers share: this one ended, others still train
        console.print(f"{running} trial{'s' if running > 1 else ''} still running in other "
                      "workers; the last worker to end reports the whole study.", highlight=False,
                      soft_wrap=True)
    if not report.best and not running:
        _fail("No trial completed: nothing to reproduce."
              + (f" {report.failed_line()}" if report.failed else ""), code=1)
    if report.failed:
        _fail(report.failed_line(), code=1)


def _print_tune_report(report: TuneReport) -> None:
    """The search's trials by state, its best trials (the Pareto front of two objectives) with
    their commands, its notes and its files."""
    counts = ", ".join(f"{n} {state}" for state, n in report.counts.items())
    console.print(f"[bold]{report.folder}[/bold] ({counts})", highlight=False)
    if len(report.objectives) > 1 and report.best:
        console.print(f"Pareto front ({len(report.best)} trial"
                      f"{'s' if len(report.best) > 1 else ''}):", highlight=False)
    for best in report.best:
        values = ", ".join(f"{o.key} {o.metric.format(best.values[o.key])}"
                           for o in report.objectives)
        title = "trial" if len(report.objectives) > 1 else "best trial"
        console.print(f"{title} {best.number}: {values}", highlight=False)
        console.print(f"  {escape(best.command)}", highlight=False, soft_wrap=True)
    for note in report.notes:
        err_console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    console.print("written: " + ", ".join(str(path) for path in report.files), highlight=False,
                  soft_wrap=True)


@app.command("inspect-attention", cls=StrictCommand)
def inspect_attention_command(
    sentences: Optional[list[str]] = typer.Argument(None, help="Sentences to inspect.",
                                                    show_default=False),
    checkpoint: Path = typer.Option(..., "--checkpoint",
                                    help="A run folder (its best checkpoint) or a checkpoint folder."),
    compare: Optional[Path] = typer.Option(None, "--compare",
                                           help="A second run or checkpoint, shown side by side."),
    file: Optional[Path] = typer.Option(None, "--file", help="Also read sentences, one per line."),
    dataset: Optional[str] = typer.Option(None, "--dataset",
                                          help="Summarise a dataset split instead (sst2, mr, ...)."),
    split: str = typer.Option("validation", "--split", help="With --dataset: the split."),
    layer: Optional[int] = typer.Option(None, "--layer",
                                        help="Layer (0-based, -1 = last). Default: the run's afa.layer."),
    head: Optional[int] = typer.Option(None, "--head", help="One head. Default: mean of heads."),
    method: str = typer.Option("cls", "--method",
                               help="cls: the query token's attention row (what AFA trains); "
                                    "rollout: attention rollout through the layers."),
    all_layers: bool = typer.Option(False, "--all-layers", help="Show every layer (sentences)."),
    top_k: int = typer.Option(5, "--top-k", help="Most attended words listed per sentence."),
    examples: int = typer.Option(8, "--examples", help="With --dataset: sentences shown."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML page."),
    png: Optional[Path] = typer.Option(None, "--png", help="Write a PNG figure."),
    json_file: Optional[Path] = typer.Option(None, "--json", help="Write the numbers as JSON."),
    device: str = DEVICE,
    batch_size: int = BATCH_SIZE,
) -> None:
    """Show where a model looks, per sentence or over a dataset split, beside a second model."""
    _quiet_libraries()
    from afa_cli.commands.inspect import InspectRequest, inspect_attention, terminal_report
    from afa_cli.inspect.inspected import AttentionSpec

    report, written = inspect_attention(InspectRequest(
        checkpoint=checkpoint, compare=compare, sentences=list(sentences or []), file=file,
        dataset=dataset, split=split, spec=AttentionSpec(method=method, layer=layer, head=head),
        all_layers=all_layers, top_k=top_k, examples=examples, html=html, png=png,
        json=json_file, device=device, batch_size=batch_size))
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    console.print(terminal_report(report), crop=False)  # tables' rows whole off a terminal
    for path in written:
        console.print(f"written: {path}", highlight=False)


@app.command("report", cls=StrictCommand)
def report_command(
    paths: list[Path] = typer.Argument(..., show_default=False,
                                       help="Run folders, sweep folders (their done jobs) or "
                                            "folders of runs (a folder's NOTES.md leads)."),
    baseline: Optional[str] = typer.Option(
        None, "--baseline", help="The variants the others are paired with, an override such as "
                                 "afa=off (the default when a variant has it), or a setting their "
                                 "runs kept at the default, such as afa.schedule=always."),
    html: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML page."),
    md: Optional[Path] = typer.Option(None, "--md", help="Write Markdown, each figure a PNG "
                                                         "beside it (<stem>_<figure>.png)."),
) -> None:
    """A study a person can read: variants, paired tests, suites, plots, commands, environment."""
    from afa_cli.commands.report import ReportRequest, make_report
    from afa_cli.views.terminal import render_terminal

    document, written = make_report(ReportRequest(paths=paths, baseline=baseline, html=html,
                                                  md=md))
    console.print(render_terminal(document), crop=False)  # tables' rows whole off a terminal
    for path in written:
        console.print(f"written: {path}", highlight=False, soft_wrap=True)


@app.command(cls=StrictCommand)
def sweep(
    overrides: Optional[list[str]] = typer.Argument(
        None, show_default=False,
        help="Overrides in Hydra's grammar: a=1,2,3, range(1,4), choice(x,y), 'afa=glob(*)'; "
             "+sweep=NAME adds a preset from conf/sweep/ or a --config-dir folder; "
             "hydra/launcher=NAME (submitit_slurm, submitit_local, joblib) runs the jobs "
             "through a Hydra launcher."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Jobs run at once (the cores are split)."),
    name: Optional[str] = typer.Option(None, "--name", help="Appended to the sweep folder name."),
    config_dirs: Optional[list[Path]] = CONFIG_DIRS,
    resume: Optional[Path] = typer.Option(None, "--resume",
                                          help="Run a sweep folder's unfinished and failed jobs."),
    summarize: Optional[Path] = typer.Option(None, "--summarize",
                                             help="Only (re)write a sweep folder's summary."),
    metric: str = typer.Option(registry.DEFAULT_RUN_METRIC, "--metric", help="The metric summary.png plots."),
    baseline: Optional[str] = typer.Option(
        None, "--baseline", help="KEY=VALUE of a swept key (e.g. afa=off): every other group's "
                                 "paired difference to it, with CI and p-value."),
) -> None:
    """Run a grid of trainings, one process and run folder per job, then summarize them."""
    from afa_cli.commands.sweep import sweep as run_sweep, sweep_tables
    from afa_cli.sweep.executor import SweepInterrupted
    from afa_cli.sweep.summary import STD_NOTE

    try:
        report = run_sweep(overrides or [], parallel=jobs, name=name,
                           config_dirs=config_dirs or [], resume=resume, summarize_dir=summarize,
                           metric=metric, console=console, baseline=baseline)
    except SweepInterrupted as stop:
        err_console.print(str(stop), highlight=False)
        raise typer.Exit(130) from None
    console.print(f"[bold]{report.sweep_dir}[/bold] ({STD_NOTE})", highlight=False)
    for table in sweep_tables(report):
        console.print(table, crop=False)
    console.print("written: " + ", ".join(str(path) for path in report.files), highlight=False)
    if report.live_pid:
        err_console.print(f"note: {report.in_progress_line()}", highlight=False, soft_wrap=True)
    if report.failed:
        _fail(report.not_done_line(), code=1)
