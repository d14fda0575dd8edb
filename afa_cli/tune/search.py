"""Running a search: trials asked from the study, each one `afa train` process through the
sweep's job runner (runner.run_job), `parallel` at a time with the cores split between them.

One thread, the caller's, talks to the study: it asks (and claims what it asked: claims.py),
reports each new validation value of a running trial (read from its metrics.jsonl), prunes and
tells. The pool's threads only wait for their trial's process, so no two threads ever use the
storage at once. Other workers may run trials of the same study (a --storage they share): the
trials they ask are numbered apart, and one asked past --trials is told failed unrun.

A pruned trial is stopped as Ctrl-C stops a training (SIGINT: it saves checkpoints/last and
exits); Ctrl-C or `kill` of the search stops every running trial that way and leaves it RUNNING
in the study, for --resume to continue."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

import optuna
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.markup import escape

from afa_cli.machine import available_cores
from afa_cli.errors import UserError
from afa_cli.runs import VALIDATION, Run
from afa_cli.sweep.executor import SweepInterrupted
from afa_cli.sweep.grid import Job, check_jobs
from afa_cli.sweep.runner import INTERRUPTED_EXIT, run_job, score_with_suite
from afa_cli.sweep.state import DONE, FAILED, JobState, Outcome
from afa_cli.tune.claims import claim, release
from afa_cli.tune.objectives import Objective, suites_to_score
from afa_cli.tune.space import override
from afa_cli.tune.state import TuneState
from afa_cli.tune.study import (ERROR, RUN, SURPLUS, WALL_SECONDS, finished_count, may_ask,
                                reopen, run_name, within_budget)

POLL_SECONDS = 0.5  # how often running trials' metrics.jsonl are read


@dataclass
class RunningTrial:
    trial: optuna.Trial
    job: JobState
    reported: set[int] = field(default_factory=set)  # steps already reported to the study
    process: subprocess.Popen | None = None          # set by the pool thread once it runs
    future: Future | None = None                     # run_job's Outcome
    pruned_at: int | None = None                     # the step it was pruned at


class Search:
    def __init__(self, state: TuneState, study: Study, objectives: list[Objective],
                 continuing: list[FrozenTrial], parallel: int, console: Console):
        self.state, self.study, self.objectives = state, study, objectives
        self.continuing = continuing  # interrupted trials, to continue first
        self.parallel, self.console = parallel, console
        self.distributions = {param.key: param.spec.distribution for param in state.params}
        self.threads = max(1, available_cores() // parallel)  # as a sweep splits the cores

    @property
    def folder(self) -> Path:
        return self.state.folder

    def run(self) -> None:
        """Continue the interrupted trials and ask new ones until the study holds state.trials;
        returns when every trial started has ended."""
        waiting = list(self.continuing)
        running: list[RunningTrial] = []
        previous_handler = signal.signal(signal.SIGTERM, signal.default_int_handler)
        pool = ThreadPoolExecutor(max_workers=self.parallel)
        try:
            while True:
                while len(running) < self.parallel and (waiting or may_ask(self.study,
                                                                           self.state.trials)):
                    earlier = waiting.pop(0) if waiting else None
                    trial = (reopen(self.study, earlier) if earlier
                             else self.study.ask(self.distributions))
                    if earlier is None and not self._claim(trial):
                        continue
                    started = self._start(trial, earlier, pool)
                    if started is not None:
                        running.append(started)
                if not running:
                    return
                wait([r.future for r in running], timeout=POLL_SECONDS,
                     return_when=FIRST_COMPLETED)
                for trial in running:
                    self._watch(trial)
                for trial in [r for r in running if r.future.done()]:
                    running.remove(trial)
                    self._finish(trial)
        except KeyboardInterrupt:
            self._stop(running)
            raise SweepInterrupted(f"Interrupted; finish the search with: afa tune --resume "
                                   f"{self.state.folder}") from None
        except BaseException:
            _interrupt(running)  # no training outlives the search, whatever ended it
            raise
        finally:
            pool.shutdown(wait=True)
            signal.signal(signal.SIGTERM, previous_handler)

    def _claim(self, trial: optuna.Trial) -> bool:
        """Claim a trial just asked (a continued one was claimed when the search was resumed);
        False when it is not this process's to run: a worker resuming the study took it first,
        or it is over the --trials budget (told failed, and not counted)."""
        if not claim(self.folder, trial.number):
            return False
        if within_budget(self.study, trial, self.state.trials):
            return True
        trial.set_user_attr(SURPLUS, True)
        trial.set_user_attr(ERROR, "not run: other workers had asked the trials --trials allows")
        self._tell(trial, state=TrialState.FAIL)
        return False

    def _start(self, trial: optuna.Trial, earlier: FrozenTrial | None,
               pool: ThreadPoolExecutor) -> RunningTrial | None:
        """Compose and check the trial's config, then start its process (continuing the run of
        an `earlier` attempt); a trial whose config does not compose is told failed (None)."""
        name = run_name(trial.number)
        run = Run(self.state.folder / name)
        if earlier is not None and run.finished and all(
                objective.value(run) is not None for objective in self.objectives
                if objective.suite):
            # finished by hand (afa train --resume), or just before the search stopped
            self._tell_complete(trial, run, earlier.user_attrs.get(WALL_SECONDS))
            return None
        overrides = self.state.trial_overrides(trial.params)
        try:
            check_jobs([Job(name, overrides, {})], self.state.config_paths)
        except UserError as err:
            self._tell_failed(trial, str(err))
            return None
        trial.set_user_attr(RUN, name)
        job = JobState(name, overrides, {},
                       wall_seconds=earlier.user_attrs.get(WALL_SECONDS) if earlier else None)
        running = RunningTrial(trial, job,
                               reported=set(earlier.intermediate_values) if earlier else set())
        running.future = pool.submit(self._trial_work, job,
                                     lambda process: setattr(running, "process", process))
        shown = " ".join(override(k, _shown(v)) for k, v in trial.params.items())
        self.console.print(f"{'continued' if earlier else 'started'} trial {trial.number}: "
                           f"{escape(shown)}", highlight=False)
        return running

    def _trial_work(self, job: JobState, started: Callable[[subprocess.Popen], None]) -> Outcome:
        """In a pool thread: the trial's training (unless its run has finished), then the suites
        its objectives are scored with, each process handed to `started` for Ctrl-C to reach."""
        job_dir = self.folder / job.name
        outcome = (Outcome(DONE, 0, None, job.wall_seconds) if Run(job_dir).finished
                   else run_job(self.folder, job, self.threads, self.state.config_paths, started))
        for suite in suites_to_score(self.objectives):
            if outcome.status != DONE:
                break
            scored = score_with_suite(job_dir, suite, self.threads, self.state.config_paths,
                                      started)
            outcome = replace(scored, wall_seconds=(outcome.wall_seconds or 0.0)
                              + (scored.wall_seconds or 0.0))
        return outcome

    def _watch(self, running: RunningTrial) -> None:
        """Report the trial's new validation values; stop it when the pruner says so. Pruning
        reads the first objective of a one-objective study (Optuna prunes no other)."""
        if len(self.objectives) > 1 or running.pruned_at is not None:
            return
        try:
            events = Run(self.state.folder / running.job.name).events(VALIDATION)
        except ValueError:  # a line being written; read it whole at the next look
            return
        for step, value in self.objectives[0].curve(events):
            if step in running.reported:
                continue
            running.trial.report(value, step)
            running.reported.add(step)
            if running.trial.should_prune():
                running.pruned_at = step
                _interrupt([running])
                return

    def _finish(self, running: RunningTrial) -> None:
        """Tell the study how the trial ended and print its line."""
        trial, outcome = running.trial, _outcome(running.future)
        trial.set_user_attr(WALL_SECONDS, outcome.wall_seconds)
        run = Run(self.state.folder / running.job.name)
        if outcome.status == DONE:
            self._tell_complete(trial, run, outcome.wall_seconds)
        elif running.pruned_at is not None:
            self._tell(trial, state=TrialState.PRUNED)
            self._line(trial.number, f"[yellow]pruned[/yellow] at step {running.pruned_at}")
        else:
            error = (f"interrupted (exit {INTERRUPTED_EXIT}): its process was stopped"
                     if outcome.exit_code == INTERRUPTED_EXIT else outcome.error)
            self._tell_failed(trial, error)

    def _tell_complete(self, trial: optuna.Trial, run: Run, wall_seconds: float | None) -> None:
        values = [objective.value(run) for objective in self.objectives]
        missing = [o.key for o, value in zip(self.objectives, values) if value is None]
        if missing:
            self._tell_failed(trial, f"its run has no {missing[0]} at its best checkpoint")
            return
        self._tell(trial, values)
        shown = " ".join(f"{o.key}={o.metric.format(v)}" for o, v in zip(self.objectives, values))
        took = f" in {wall_seconds:.0f} s" if wall_seconds is not None else ""
        self._line(trial.number, f"{shown}{took}")

    def _tell_failed(self, trial: optuna.Trial, error: str) -> None:
        trial.set_user_attr(ERROR, error)
        self._tell(trial, state=TrialState.FAIL)
        self._line(trial.number, f"[red]failed[/red]: {escape(error)}")

    def _tell(self, trial: optuna.Trial, values=None, **state) -> None:
        """Tell the study how the trial ended; its claim goes with it."""
        self.study.tell(trial, values, **state)
        release(self.folder, trial.number)

    def _line(self, number: int, text: str) -> None:
        self.console.print(f"[{finished_count(self.study)}/{self.state.trials}] trial {number} "
                           f"{text}", highlight=False)

    def _stop(self, running: list[RunningTrial]) -> None:
        """Ctrl-C: every running trial is told to stop as Ctrl-C tells a training (it saves
        checkpoints/last); a trial that ended meanwhile is told, the others stay RUNNING."""
        _interrupt(running)
        for trial in running:
            outcome = _outcome(trial.future)  # waits for the process to save and exit
            if outcome.status == DONE or trial.pruned_at is not None:
                self._finish(trial)
            else:
                trial.trial.set_user_attr(WALL_SECONDS, outcome.wall_seconds)
                self.console.print(f"trial {trial.trial.number} interrupted: --resume "
                                   "continues it", highlight=False)


def _interrupt(running: list[RunningTrial]) -> None:
    """SIGINT to every running trial's process, as Ctrl-C in its terminal would send."""
    for trial in running:
        while trial.process is None and not trial.future.done():  # about to start
            time.sleep(0.05)
        if trial.process is not None and trial.process.poll() is None:
            trial.process.send_signal(signal.SIGINT)


def _outcome(future: Future) -> Outcome:
    try:
        return future.result()
    except Exception as err:  # noqa: BLE001 - the runner's own fault ends only this trial
        return Outcome(FAILED, None, f"{type(err).__name__}: {err}", None)


def _shown(value):
    """A float as 4 significant digits in a progress line (the override keeps all of them)."""
    return float(f"{value:.4g}") if isinstance(value, float) else value
