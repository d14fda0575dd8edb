"""Running a sweep's jobs as local processes, `parallel` at a time, the cores split between them.
Ctrl-C (or `kill`) tells the running jobs to stop; each saves its checkpoints/last for --resume."""

from __future__ import annotations

import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

from rich.console import Console

from afa_cli.machine import available_cores
from afa_cli.sweep.executor import SweepInterrupted, outcome_text
from afa_cli.sweep.runner import run_job
from afa_cli.sweep.state import JobState, SweepState


class LocalExecutor:
    def __init__(self, parallel: int, console: Console):
        self.parallel = parallel
        self.console = console

    def run(self, state: SweepState, jobs: list[JobState]) -> None:
        threads = max(1, available_cores() // self.parallel)
        stop = threading.Event()
        progress = threading.Lock()  # one finished-count and one output line at a time
        processes: list[subprocess.Popen] = []
        finished = 0

        def run_one(job: JobState) -> None:
            nonlocal finished
            if stop.is_set():
                return
            state.start_attempt(job)
            self.console.print(f"started {job.name}", highlight=False)
            state.record(job, run_job(state.folder, job, threads, state.config_paths,
                                      started=processes.append))
            with progress:
                finished += 1
                self.console.print(f"[{finished}/{len(jobs)}] {job.name} {outcome_text(job)}",
                                   highlight=False)

        previous_handler = signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
        try:
            with ThreadPoolExecutor(max_workers=self.parallel) as pool:
                futures = [pool.submit(run_one, job) for job in jobs]
                try:
                    for future in as_completed(futures):
                        future.result()
                except KeyboardInterrupt:
                    stop.set()
                    for process in list(processes):
                        if process.poll() is None:
                            process.send_signal(signal.SIGINT)
                    raise SweepInterrupted(f"Interrupted; finish the sweep with: "
                                           f"afa sweep --resume {state.folder}") from None
        finally:
            signal.signal(signal.SIGTERM, previous_handler)


def _stop_like_ctrl_c(signum, frame):
    """`kill` stops a sweep as Ctrl-C does: the jobs are told to stop, none is left orphaned."""
    raise KeyboardInterrupt
