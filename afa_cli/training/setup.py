"""Everything a run needs before its first step, in the order that makes runs reproducible:
seed, data, model, optimizer and schedule, AFA, the run folder (or the state to resume)."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from omegaconf import DictConfig
from rich.console import Console
from torch.optim.lr_scheduler import LambdaLR

from afa_cli import distributed
from afa_cli.afa.config import AFAConfig, MaskWith
from afa_cli.afa.method import AFA
from afa_cli.data import encode, load_split, subsample, training_rows, training_set_warnings
from afa_cli.display import WorkProgress
from afa_cli.machine import available_cores
from afa_cli.errors import UserError
from afa_cli.lexicon import frequent_words
from afa_cli.metrics import registry
from afa_cli.models import AttendingClassifier, load_checkpoint, load_pretrained
from afa_cli.runs import BEST, LAST, Run, release_locks, silent_log
from afa_cli.training.loop import METRICS_EVENTS, Trainer
from afa_cli.training.sinks import run_sinks
from afa_cli.training.state import Progress, TrainingState, seed_everything
from afa_cli.training.validation import Validator
from afa_cli.training.window import MetricsWindow


COMPILED_PAD_MULTIPLE = 16


def compiled(runner: torch.nn.Module, compile_model: bool, device: torch.device) -> torch.nn.Module:
    """train.compile: the forward passes through torch.compile; on CUDA with CUDA graphs, which
    replay a step's kernels without launching each from the host."""
    if not compile_model:
        return runner
    return torch.compile(runner, mode="reduce-overhead" if device.type == "cuda" else None)


def afa_config(cfg: DictConfig) -> AFAConfig:
    return AFAConfig(**{f.name: cfg.afa[f.name] for f in fields(AFAConfig)})


def optimizer_and_schedule(model: torch.nn.Module, tc: DictConfig, total_steps: int):
    trainable = [p for p in model.parameters() if p.requires_grad]  # LoRA freezes the backbone
    no_decay = [p for p in trainable if p.ndim < 2]                  # biases and norms
    decay = [p for p in trainable if p.ndim >= 2]
    # fused: one kernel per step for all parameters (13% more examples/s in a one-thread step here)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, fused=True)
    scheduler = linear_warmup_then_decay(optimizer, int(tc.warmup_ratio * total_steps), total_steps)
    return optimizer, scheduler


def linear_warmup_then_decay(optimizer: torch.optim.Optimizer, warmup_steps: int,
                             total_steps: int) -> LambdaLR:
    """The learning rate rises linearly from 0 over warmup_steps, then falls linearly to 0 at
    total_steps: transformers' get_linear_schedule_with_warmup, whose import (its trainer
    utilities) took 1.7 s of every training process's start."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return LambdaLR(optimizer, factor)


def chosen_mask_with(mask_with: MaskWith, tokenizer) -> MaskWith:
    """afa.mask_with with auto settled for this tokenizer: its mask token, else its unknown
    token."""
    if mask_with != MaskWith.auto:
        return mask_with
    return MaskWith.mask if tokenizer.mask_token_id is not None else MaskWith.unk


def build_afa(cfg: DictConfig, model, tokenizer, ctx: distributed.Context) -> AFA | None:
    if not cfg.afa.enabled:
        return None
    replacement = {MaskWith.mask: tokenizer.mask_token_id, MaskWith.unk: tokenizer.unk_token_id,
                   MaskWith.drop: None}[cfg.afa.mask_with]
    if cfg.afa.mask_with != MaskWith.drop and replacement is None:
        raise UserError(f"The tokenizer has no {cfg.afa.mask_with} token; "
                        "set afa.mask_with=drop (or unk, when it has one).")
    return AFA(afa_config(cfg), model.config.hidden_size, replacement, cfg.seed, ctx.device,
               ctx.gather_rows, ctx.rank)


@dataclass(frozen=True)
class NewRun:
    """How a new run was asked for: what its folder records of the command, and where it goes."""
    overrides: list[str] = field(default_factory=list)
    config_dirs: list[Path] = field(default_factory=list)
    folder: Path | None = None  # afa train --run-dir; None: a new one under output_dir


def build_trainer(cfg: DictConfig, new: NewRun, console: Console, resume: Run | None,
                  resume_state: dict | None, ctx: distributed.Context) -> Trainer:
    tc = cfg.train
    set_up_process(cfg, ctx)

    label_names = list(cfg.dataset.label_names)
    train_rows = training_rows(cfg)
    val_rows = subsample(load_split(cfg.dataset, "validation"), tc.max_eval_samples,
                         cfg.dataset.split_seed)
    warnings = training_set_warnings(train_rows.labels, label_names, tc.batch_size)
    for warning in warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)

    console.print(f"loading model={cfg.model.name}", highlight=False)
    model, tokenizer = load_model(cfg, label_names, resume, ctx.device)
    train_data = encode(train_rows.texts, train_rows.labels, tokenizer, cfg.model.max_length,
                        WorkProgress(console, "tokenising train", len(train_rows.texts)))
    val_data = encode(val_rows.texts, val_rows.labels, tokenizer, cfg.model.max_length,
                      WorkProgress(console, "tokenising validation", len(val_rows.texts)))
    frequent = frequent_words(train_rows.texts)
    net = attending_net(cfg, model, ctx)

    # train.batch_size is the global batch: each of the world_size processes takes a share.
    # train.max_steps fixes the steps whatever the training set's size (epochs repeat).
    total_steps = tc.max_steps or math.ceil(len(train_data) / tc.batch_size) * tc.epochs
    optimizer, scheduler = optimizer_and_schedule(model, tc, total_steps)
    if cfg.afa.enabled:  # the run's config.yaml (written by open_run) records what auto chose
        cfg.afa.mask_with = chosen_mask_with(cfg.afa.mask_with, tokenizer)
    afa = build_afa(cfg, model, tokenizer, ctx)
    state = TrainingState(Progress(), optimizer, scheduler, afa, ctx)
    run = open_run(cfg, new, frequent, resume, resume_state, state, ctx)

    log = run.open_log() if ctx.is_main else silent_log()
    log.info("%s run %s: %d train / %d validation rows from %s, %d process(es) on %s",
             "resumed" if resume else "new", run.path, len(train_data), len(val_data),
             train_rows.source, ctx.world_size, ctx.device)
    console.print(f"run folder: {run.path}")
    for warning in warnings:
        log.warning(warning)

    sinks = run_sinks(ctx, run, cfg, log, console, total_steps, state.progress.step)

    def save_best() -> None:
        if ctx.is_main:
            run.save_checkpoint(BEST, model, tokenizer)

    validator = Validator(net, val_data, val_rows.texts, label_names, frequent, tc.batch_size * 2,
                          tokenizer.pad_token_id, tc.patience,
                          registry.get(tc.get("best_metric", registry.ACCURACY.key)),
                          state.progress, save_best, sinks, ctx)
    return Trainer(cfg=cfg, ctx=ctx, run=run, log=log, model=model, tokenizer=tokenizer, net=net,
                   train_data=train_data, state=state, sinks=sinks, validator=validator,
                   window=MetricsWindow(cfg.afa.collapse_entropy), total_steps=total_steps)


def set_up_process(cfg: DictConfig, ctx: distributed.Context) -> None:
    """This process's random seed and torch threads."""
    # Each process draws its own dropout; DDP starts every process from rank 0's weights.
    seed_everything(cfg.seed + ctx.rank)
    # Processes sharing a CPU split its cores rather than oversubscribe them.
    num_threads = cfg.train.num_threads
    torch.set_num_threads(num_threads if ctx.device.type == "cuda" else max(1, min(
        num_threads, available_cores() // ctx.local_world_size)))


def load_model(cfg: DictConfig, label_names: list[str], resume: Run | None,
               device: torch.device):
    """The model and tokenizer to train, the model on `device`: the resumed run's last
    checkpoint, else the pretrained backbone with a new head for the dataset's labels."""
    if resume is not None:
        model, tokenizer = load_checkpoint(resume.checkpoint(LAST))
    else:
        model, tokenizer = load_pretrained(cfg.model, label_names)
    model.to(device)
    return model, tokenizer


def attending_net(cfg: DictConfig, model, ctx: distributed.Context) -> AttendingClassifier:
    """The classifier training steps through: the policy layer's attention, at the training
    precision, through torch.compile when train.compile asks for it."""
    tc = cfg.train
    return AttendingClassifier(model, layer=cfg.afa.layer, precision=tc.precision,
                               runner=compiled(ctx.wrap(model), tc.get("compile", False),
                                               ctx.device),
                               pad_to_multiple_of=tc.get("pad_to_multiple_of")
                               or (COMPILED_PAD_MULTIPLE if tc.get("compile") else 1))


def open_run(cfg: DictConfig, new: NewRun, frequent: list[str], resume: Run | None,
             resume_state: dict | None, state: TrainingState, ctx: distributed.Context) -> Run:
    """A new run folder (the main process makes it, every process opens it), or the resumed
    run with its training state restored into `state`."""
    if resume is None:
        return Run(ctx.on_main(lambda: new_run(cfg, new, frequent).path))
    state.load_state_dict(resume_state, str(resume.path))
    if ctx.is_main and METRICS_EVENTS in resume_state:
        resume.set_aside_events(resume_state[METRICS_EVENTS])
    return resume


def new_run(cfg: DictConfig, new: NewRun, frequent: list[str]) -> Run:
    run = Run.create(cfg, new.folder)
    try:
        run.lock()
        run.write_config(cfg, new.overrides, new.config_dirs)
        run.write_frequent_words(frequent)
    except BaseException:  # a full disk: no run folder without its config is left behind
        release_locks()
        shutil.rmtree(run.path, ignore_errors=True)
        raise
    return run
