"""The training loop, top to bottom: seed, data, model, optimizer, AFA, run folder, steps.
The method's math lives in afa_cli.afa; this file only calls it."""

from __future__ import annotations

import math
import random
import signal
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from rich.console import Console
from transformers import get_linear_schedule_with_warmup

from afa_cli import distributed, runs
from afa_cli.afa.method import AFA, AFAConfig, Forward
from afa_cli.data import collate, encode, load_split, subsample, train_batches
from afa_cli.display import TrainingDisplay
from afa_cli.errors import UserError
from afa_cli.evaluate import evaluate
from afa_cli.lexicon import frequent_words
from afa_cli.models import AttendingClassifier, load_checkpoint, load_pretrained


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """Ctrl-C during training: the last checkpoint is saved and the run can be resumed."""

    def __init__(self, run_dir: Path, step: int, processes: int):
        command = "afa train" if processes == 1 else \
            f"torchrun --nproc_per_node {processes} -m afa_cli train"
        super().__init__(f"Interrupted at step {step}; checkpoints/last saved. "
                         f"Resume with: {command} --resume {run_dir}")
        self.run_dir = run_dir


@dataclass
class Progress:
    """Where training stands; saved with checkpoints/last so that resume continues exactly."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_accuracy: float = -1.0
    best_step: int = -1
    evals_without_improvement: int = 0
    train_seconds: float = 0.0
    train_examples: int = 0
    done: bool = False


def afa_config(cfg: DictConfig) -> AFAConfig:
    return AFAConfig(**{f.name: cfg.afa[f.name] for f in fields(AFAConfig)})


def train(cfg: DictConfig, overrides: list[str], console: Console,
          resume_dir: Path | None = None) -> Path:
    """Train one run and return its folder. Under torchrun every process calls this; rank 0
    alone writes the run folder."""
    resume_state = None
    if resume_dir is not None:
        cfg = runs.Run.open(resume_dir).config()
        resume_state = runs.Run(resume_dir).training_state()
    tc = cfg.train
    ctx = distributed.setup(tc.device)
    try:
        run_dir = _train(cfg, overrides, console if ctx.is_main else Console(quiet=True),
                         resume_dir, resume_state, ctx)
    except (Interrupted, UserError):
        ctx.close()  # every process raises these together
        raise
    # Any other error leaves the process group to the launcher, which stops the other processes.
    ctx.close()
    return run_dir


def _train(cfg: DictConfig, overrides: list[str], console: Console, resume_dir: Path | None,
           resume_state: dict | None, ctx: distributed.Context) -> Path:
    tc = cfg.train
    device = ctx.device

    # ---- seeding: every source of randomness, in one place --------------------------------
    # Each process draws its own dropout; DDP starts every process from rank 0's weights.
    random.seed(cfg.seed + ctx.rank)
    np.random.seed(cfg.seed + ctx.rank)
    torch.manual_seed(cfg.seed + ctx.rank)
    # AFA's masker and discriminator seed their own generators from cfg.seed and the rank
    # (afa/method.py).
    # Processes sharing a CPU split its cores rather than oversubscribe them.
    torch.set_num_threads(tc.num_threads if device.type == "cuda" else max(1, min(
        tc.num_threads, distributed.available_cores() // ctx.local_world_size)))

    # ---- data -----------------------------------------------------------------------------
    label_names = list(cfg.dataset.label_names)
    train_rows = subsample(load_split(cfg.dataset, "train"), tc.max_train_samples,
                           cfg.dataset.split_seed)
    val_rows = subsample(load_split(cfg.dataset, "validation"), tc.max_eval_samples,
                         cfg.dataset.split_seed)

    # ---- model ----------------------------------------------------------------------------
    if resume_state is not None:
        model, tokenizer = load_checkpoint(runs.Run(resume_dir).checkpoint(runs.LAST))
    else:
        model, tokenizer = load_pretrained(cfg.model, label_names)
    model.to(device)
    pad_id = tokenizer.pad_token_id
    train_data = encode(train_rows.texts, train_rows.labels, tokenizer, cfg.model.max_length)
    val_data = encode(val_rows.texts, val_rows.labels, tokenizer, cfg.model.max_length)
    frequent = frequent_words(train_rows.texts)
    net = AttendingClassifier(model, layer=cfg.afa.layer, precision=tc.precision)
    net.runner = ctx.wrap(model)

    def forward(input_ids, attention_mask, train_mode) -> Forward:
        return Forward(*net(input_ids, attention_mask, train_mode))

    # ---- optimizer and schedule -----------------------------------------------------------
    # train.batch_size is the global batch: each of the world_size processes takes a share.
    steps_per_epoch = math.ceil(len(train_data) / tc.batch_size)
    total_steps = steps_per_epoch * tc.epochs
    trainable = [p for p in model.parameters() if p.requires_grad]  # LoRA freezes the backbone
    no_decay = [p for p in trainable if p.ndim < 2]                  # biases and norms
    decay = [p for p in trainable if p.ndim >= 2]
    # fused: one kernel per step for all parameters (13% more examples/s in a one-thread step here)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, fused=True)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(tc.warmup_ratio * total_steps), total_steps)

    # ---- AFA ------------------------------------------------------------------------------
    afa = None
    if cfg.afa.enabled:
        replacement = {"mask": tokenizer.mask_token_id, "unk": tokenizer.unk_token_id,
                       "drop": None}[cfg.afa.mask_with]
        if cfg.afa.mask_with != "drop" and replacement is None:
            raise UserError(f"The tokenizer has no {cfg.afa.mask_with} token; "
                                 "set afa.mask_with=unk or afa.mask_with=drop.")
        afa = AFA(afa_config(cfg), model.config.hidden_size, replacement, cfg.seed, device,
                  ctx.gather_rows, ctx.rank)

    # ---- run folder -----------------------------------------------------------------------
    progress = Progress()
    if resume_state is None:
        def new_run_dir() -> Path:
            run = runs.Run.create(cfg)
            run.write_config(cfg, overrides)
            run.write_frequent_words(frequent)
            return run.path
        run_dir = ctx.on_main(new_run_dir)
    else:
        run_dir = Path(resume_dir)
        rng_states = resume_state["rng"]
        if len(rng_states) != ctx.world_size:
            raise UserError(f"{run_dir} was trained by {len(rng_states)} process(es); resume it with "
                            f"as many (torchrun --nproc_per_node {len(rng_states)}).")
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        progress = Progress(**resume_state["progress"])
        if afa is not None:
            afa.load_state_dict(resume_state["afa"])
            afa.generator.set_state(rng_states[ctx.rank]["masker"])  # drawn for this share
        random.setstate(rng_states[ctx.rank]["python"])
        np.random.set_state(rng_states[ctx.rank]["numpy"])
        torch.set_rng_state(rng_states[ctx.rank]["torch"])
        if device.type == "cuda" and rng_states[ctx.rank]["cuda"] is not None:
            torch.cuda.set_rng_state(rng_states[ctx.rank]["cuda"], device)
    log = runs.Run(run_dir).open_log() if ctx.is_main else runs.silent_log()
    metrics_log = runs.Run(run_dir) if ctx.is_main else None
    log.info("%s run %s: %d train / %d validation rows from %s, %d process(es) on %s",
             "resumed" if resume_state else "new", run_dir, len(train_data), len(val_data),
             train_rows.source, ctx.world_size, device)
    console.print(f"run folder: {run_dir}")

    def save(which: str, state: dict | None = None) -> None:
        if ctx.is_main:
            runs.Run(run_dir).save_checkpoint(which, model, tokenizer, state)

    def training_state() -> dict:
        """Collective: every process's random state goes into rank 0's checkpoint."""
        rng = {"python": random.getstate(), "numpy": np.random.get_state(),
               "torch": torch.get_rng_state(),
               "masker": afa.generator.get_state() if afa is not None else None,
               "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
        return {
            "progress": vars(progress).copy(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "afa": afa.state_dict() if afa is not None else None,
            "rng": ctx.gather_objects(rng),
        }

    def run_evaluation() -> dict:
        # Every process scores a share and all of them get the same metrics, so they agree
        # on the best step and on early stopping.
        metrics, _ = evaluate(net, val_data, val_rows.texts, label_names, frequent,
                              tc.batch_size * 2, pad_id, ctx)
        improved = metrics["accuracy"] > progress.best_accuracy
        if improved:
            progress.best_accuracy, progress.best_step = metrics["accuracy"], progress.step
            progress.evals_without_improvement = 0
            save(runs.BEST)
        else:
            progress.evals_without_improvement += 1
        if metrics_log is not None:
            metrics_log.append_event(progress.step, progress.epoch, "validation", metrics)
        log.info("step %d validation %s", progress.step,
                 {k: v for k, v in metrics.items() if isinstance(v, float)})
        display.evaluation(progress.step, metrics, improved)
        return metrics

    # ---- the loop ---------------------------------------------------------------------------
    stop_requested = False

    def request_stop(signum, frame):
        nonlocal stop_requested
        stop_requested = True

    # Ctrl-C, and the SIGTERM that torchrun, SLURM or kill send before they stop a process:
    # finish the step, save checkpoints/last, exit so that --resume can continue.
    previous_handlers = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
    window: dict[str, list[float]] = {}
    window_start, window_examples = time.perf_counter(), 0
    out_of_patience = False
    try:
        with TrainingDisplay(console, total_steps, progress.step) as display:
            while progress.epoch < tc.epochs and not progress.done:
                batches = train_batches(train_data.lengths(), tc.batch_size, cfg.seed,
                                        progress.epoch, tc.length_group_pool)
                while progress.batch_in_epoch < len(batches):
                    step_start = time.perf_counter()
                    global_batch = batches[progress.batch_in_epoch]
                    batch = {k: v.to(device) for k, v in
                             collate(train_data, ctx.shard(global_batch), pad_id).items()}
                    original = forward(batch["input_ids"], batch["attention_mask"], True)
                    loss_cls = F.cross_entropy(original.logits, batch["labels"])       # [] mean over B
                    loss, stats = loss_cls, {}
                    if afa is not None:
                        afa_loss, stats = afa.target_loss(forward, batch, original, progress.step)
                        if afa_loss is not None:
                            loss = loss + afa_loss
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    if afa is not None:
                        stats.update(afa.update_discriminator())

                    progress.step += 1
                    progress.batch_in_epoch += 1
                    progress.train_seconds += time.perf_counter() - step_start
                    progress.train_examples += len(global_batch)
                    window_examples += len(global_batch)
                    stats.update(loss=loss.item(), loss_cls=loss_cls.item(),
                                 lr=scheduler.get_last_lr()[0])
                    for key, value in stats.items():
                        window.setdefault(key, []).append(value)
                    display.step(progress.step)

                    if progress.step % tc.log_every == 0:
                        means = ctx.mean({k: window_mean(v) for k, v in window.items()})
                        means["examples_per_s"] = window_examples / (time.perf_counter() - window_start)
                        if metrics_log is not None:
                            metrics_log.append_event(progress.step, progress.epoch, "train", means)
                        log.info("step %d train %s", progress.step, means)
                        display.log(progress.step, means)
                        entropy = means.get("attn_entropy", float("nan"))
                        if entropy < cfg.afa.collapse_entropy:
                            message = (f"attention collapsing: normalised entropy {entropy:.3f} < "
                                       f"{cfg.afa.collapse_entropy} (raise afa.entropy_weight or "
                                       "lower afa.pg_weight)")
                            log.warning(message)
                            display.warn(message)
                        window, window_start, window_examples = {}, time.perf_counter(), 0

                    if progress.step % tc.eval_every == 0:
                        run_evaluation()
                        out_of_patience = (tc.patience is not None
                                           and progress.evals_without_improvement >= tc.patience)
                    if ctx.any(stop_requested):
                        save(runs.LAST, training_state())
                        log.info("interrupted at step %d", progress.step)
                        raise Interrupted(run_dir, progress.step, ctx.world_size)
                    if out_of_patience:
                        break
                if out_of_patience:
                    log.info("early stop at step %d: %d evaluations without improvement",
                             progress.step, progress.evals_without_improvement)
                    progress.done = True
                elif progress.step % tc.eval_every != 0:
                    run_evaluation()  # epoch end, unless that step was just evaluated
                progress.epoch += 1
                progress.batch_in_epoch = 0
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)

    progress.done = True
    save(runs.LAST, training_state())
    if ctx.is_main:
        write_summary(run_dir, cfg, progress, ctx.world_size)
    log.info("finished: best validation accuracy %.4f at step %d", progress.best_accuracy,
             progress.best_step)
    return run_dir


def window_mean(values: list[float]) -> float:
    """Mean over a logging window, ignoring undefined steps (NaN when none is defined)."""
    defined = [v for v in values if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else float("nan")


def write_summary(run_dir: Path, cfg: DictConfig, progress: Progress, processes: int) -> None:
    """summary.json: best and final validation metrics, speed, seed, versions, commit."""
    run = runs.Run(run_dir)
    evaluations = run.events(runs.VALIDATION)
    run.write_summary(runs.RunSummary(
        dataset=cfg.dataset.name, model=cfg.model.name, afa_enabled=bool(cfg.afa.enabled),
        seed=cfg.seed, steps=progress.step,
        best=next((e for e in evaluations if e.step == progress.best_step), None),
        final=evaluations[-1] if evaluations else None,
        train_seconds=progress.train_seconds,
        train_examples_per_s=progress.train_examples / max(progress.train_seconds, 1e-9),
        processes=processes, **runs.environment()))
