"""The training loop, top to bottom: `Trainer.train` steps, logs, evaluates, checkpoints and stops;
`Trainer.train_step` is one optimizer step. training/setup.py builds a Trainer; the method's math
lives in afa_cli.afa, and this file only calls it."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from afa_cli import distributed
from afa_cli.data import Encoded, collate, train_batches
from afa_cli.metrics import registry
from afa_cli.models import AttendingClassifier
from afa_cli.runs import LAST, Run, RunSummary, VALIDATION, environment
from afa_cli.training.signals import StopSignals
from afa_cli.training.sinks import Sinks
from afa_cli.training.state import TrainingState
from afa_cli.training.validation import Validator
from afa_cli.training.window import MetricsWindow


# The metrics.jsonl lines a checkpoint's state follows: a resume sets the later ones aside.
METRICS_EVENTS = "metrics_events"


def clip_gradients(model: torch.nn.Module, max_norm: float) -> None:
    """torch's clip_grad_norm_, whose scaling by min(1, max_norm / (norm + 1e-6)) is skipped on
    the CPU when it is 1: there the norm is already on the host, and the multiply is a pass over
    every gradient (7 ms of a MiniLM step). On CUDA it always runs: reading the norm would wait
    for the GPU."""
    parameters = [p for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.get_total_norm([p.grad for p in parameters])
    if norm.device.type == "cpu" and float(norm) + 1e-6 <= max_norm:
        return
    torch.nn.utils.clip_grads_with_norm_(parameters, max_norm, norm)


def on_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict:
    """A collated batch on the training device (on CUDA through pinned memory, a copy the host
    does not wait for), with `word_slots`: its word width, a host int the device needn't be
    asked for."""
    pinned = device.type == "cuda"
    return {**{k: (v.pin_memory() if pinned else v).to(device, non_blocking=True)
               for k, v in batch.items()},
            "word_slots": max(int(batch["num_words"].max()), 1)}


class Interrupted(Exception):
    """A stop signal during training: checkpoints/last is saved and the run can be resumed."""

    def __init__(self, run_dir: Path, step: int, processes: int):
        command = "afa train" if processes == 1 else \
            f"torchrun --nproc_per_node {processes} -m afa_cli train"
        super().__init__(f"Interrupted at step {step}; checkpoints/last saved. "
                         f"Resume with: {command} --resume {run_dir}")
        self.run_dir = run_dir


class Trainer:
    # Keyword-only: thirteen parts given by position are easily given in the wrong order.
    def __init__(self, *, cfg: DictConfig, ctx: distributed.Context, run: Run,
                 log: logging.Logger, model, tokenizer, net: AttendingClassifier,
                 train_data: Encoded, state: TrainingState, sinks: Sinks, validator: Validator,
                 window: MetricsWindow, total_steps: int):
        self.cfg, self.tc, self.ctx, self.run, self.log = cfg, cfg.train, ctx, run, log
        self.model, self.tokenizer, self.net, self.train_data = model, tokenizer, net, train_data
        self.state, self.progress, self.afa = state, state.progress, state.afa
        self.sinks, self.validator, self.window = sinks, validator, window
        self.total_steps = total_steps  # train.max_steps, else epochs × batches per epoch
        self.save_every = cfg.train.save_every or cfg.train.eval_every
        self.saved_step = state.progress.step  # checkpoints/last already holds this step

    def train(self) -> Path:
        tc, progress = self.tc, self.progress
        # Patience is judged at the periodic evaluations (an epoch-end one counts at the next).
        out_of_patience = False
        with StopSignals() as stop, self.sinks:
            while progress.step < self.total_steps and not progress.done:
                batches = train_batches(self.train_data.lengths(), tc.batch_size, self.cfg.seed,
                                        progress.epoch, tc.length_group_pool)
                while (progress.batch_in_epoch < len(batches)
                       and progress.step < self.total_steps):
                    global_batch = batches[progress.batch_in_epoch]
                    start = time.perf_counter()
                    stats = self.train_step(self.ctx.shard(global_batch))
                    progress.advance(len(global_batch), time.perf_counter() - start)
                    self.window.add(stats, len(global_batch))
                    self.sinks.step(progress.step)
                    if progress.step % tc.log_every == 0:
                        self.log_window()
                    if progress.step % tc.eval_every == 0:
                        self.validator()
                        out_of_patience = self.validator.out_of_patience
                    if progress.step % self.save_every == 0:
                        self.save_last()  # a hard stop then loses at most save_every steps
                    if self.ctx.any(stop.requested):
                        self.interrupt()
                    if out_of_patience:
                        break
                if out_of_patience:
                    self.sinks.note(f"stopped early at step {progress.step} of "
                                    f"{self.total_steps}: {self.stop_reason()}")
                    progress.done = True
                elif progress.step % tc.eval_every != 0:
                    self.validator()  # epoch end, unless that step was just evaluated
                progress.next_epoch()
            return self.finish()  # before the sinks close: a tracker keeps summary.json too

    def train_step(self, rows: list[int]) -> dict[str, float | torch.Tensor]:
        """One optimizer step on this process's rows of a global batch; the step's statistics
        (left on the device, so that the host queues the next step without waiting)."""
        batch = on_device(collate(self.train_data, rows, self.tokenizer.pad_token_id),
                          self.ctx.device)
        original = self.net(batch["input_ids"], batch["attention_mask"], True)
        loss_cls = F.cross_entropy(original.logits, batch["labels"])           # [] mean over B
        loss, stats = loss_cls, {}
        if self.afa is not None and self.afa.active(self.progress.step):
            afa_loss, stats = self.afa.target_loss(self.net, batch, original, self.progress.step)
            if afa_loss is not None:
                loss = loss + afa_loss
        optimizer, scheduler = self.state.optimizer, self.state.scheduler
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(self.model, self.tc.max_grad_norm)
        optimizer.step()
        scheduler.step()
        if self.afa is not None:
            stats.update(self.afa.update_discriminator())
        stats.update({registry.LOSS.key: loss.detach(), registry.LOSS_CLS.key: loss_cls.detach(),
                      registry.LR.key: scheduler.get_last_lr()[0]})
        return stats

    def log_window(self) -> None:
        means, warning = self.window.close(self.ctx)
        self.sinks.train(self.progress.step, self.progress.epoch, means)
        if warning:
            self.sinks.warn(warning)

    def save_last(self) -> None:
        state = self.state.state_dict()  # collective: every process takes part
        if self.ctx.is_main:
            state[METRICS_EVENTS] = self.run.event_count()
            self.run.save_checkpoint(LAST, self.model, self.tokenizer, state)
        self.saved_step = self.progress.step

    def interrupt(self) -> None:
        if self.saved_step != self.progress.step:  # a periodic save of this step holds it all
            self.save_last()
        self.log.info("interrupted at step %d", self.progress.step)
        raise Interrupted(self.run.path, self.progress.step, self.ctx.world_size)

    def finish(self) -> Path:
        progress = self.progress
        progress.done = True
        self.save_last()
        if self.ctx.is_main:
            self.run.write_summary(self.summary())
        self.log.info("finished: best validation %s %s at step %d",
                      self.validator.best_metric.key,
                      self.validator.best_metric.format(progress.best_value), progress.best_step)
        return self.run.path

    def stop_reason(self) -> str | None:
        """Why training ended before train.max_steps (or its epochs), None when it did not."""
        if self.progress.step >= self.total_steps:
            return None
        return (f"{self.progress.evals_without_improvement} evaluations without a better "
                f"validation {self.validator.best_metric.key} (train.patience="
                f"{self.validator.patience}; train.patience=null trains every step)")

    def summary(self) -> RunSummary:
        """Best and final validation metrics, speed, seed, versions, commit."""
        progress, cfg = self.progress, self.cfg
        evaluations = self.run.events(VALIDATION)
        stop_reason = self.stop_reason()
        return RunSummary(
            dataset=cfg.dataset.name, model=cfg.model.name, afa_enabled=bool(cfg.afa.enabled),
            seed=cfg.seed, steps=progress.step, stopped_early=stop_reason is not None,
            stop_reason=stop_reason,
            best=next((e for e in evaluations if e.step == progress.best_step), None),
            final=evaluations[-1] if evaluations else None,
            train_seconds=progress.train_seconds,
            train_examples_per_s=progress.train_examples / max(progress.train_seconds, 1e-9),
            processes=self.ctx.world_size, device=distributed.device_name(self.ctx.device),
            **environment())
