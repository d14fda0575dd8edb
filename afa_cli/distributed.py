"""Where a training process runs: its device and, under `torchrun` or `accelerate launch`, its
place among the data-parallel processes (torch.distributed: gloo on CPU, nccl on GPU).

One process without a launcher is the same code with world_size 1: every collective below is
then a no-op, so the training loop has a single path."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist

from afa_cli.errors import UserError

T = TypeVar("T")


@dataclass
class Context:
    rank: int
    world_size: int
    local_world_size: int  # the processes on this machine, which share its cores
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, indices: list[int]) -> list[int]:
        """This process's share of a global batch: every world_size-th row from its rank, so
        that a length-grouped batch gives every process rows of the same length. Every process
        must take every step, so one left without a row (a last batch smaller than world_size)
        takes the batch's last row."""
        return indices[self.rank::self.world_size] or indices[-1:]

    def gather_rows(self, rows: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Every process's rows [n_r, ...] concatenated in rank order [Σ n_r, ...], and where
        this process's rows start in it. The shares may differ in size by one row."""
        if not self.is_distributed:
            return rows, 0
        sizes = [torch.zeros(1, dtype=torch.long, device=self.device) for _ in range(self.world_size)]
        dist.all_gather(sizes, torch.tensor([rows.shape[0]], device=self.device))
        sizes = [int(s.item()) for s in sizes]
        padded = torch.zeros((max(sizes), *rows.shape[1:]), dtype=rows.dtype, device=self.device)
        padded[: rows.shape[0]] = rows
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        gathered = torch.cat([part[:size] for part, size in zip(parts, sizes)])
        return gathered.to(rows.device), sum(sizes[: self.rank])

    def gather_objects(self, value: T) -> list[T]:
        """[value of rank 0, value of rank 1, ...] on every process."""
        if not self.is_distributed:
            return [value]
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over processes of each value (the same keys on every process)."""
        if not self.is_distributed:
            return values
        keys = sorted(values)
        stacked = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(stacked)
        return {k: float(v) / self.world_size for k, v in zip(keys, stacked.tolist())}

    def any(self, flag: bool) -> bool:
        """True on every process when it is True on one (a stop request, for instance)."""
        return any(self.gather_objects(flag)) if self.is_distributed else flag

    def on_main(self, make: Callable[[], T]) -> T:
        """`make()` run by rank 0 only and its result given to every process; a UserError it
        raises is raised on every process, so that none is left waiting."""
        outcome: list[Any] = [None]
        if self.is_main:
            try:
                outcome = [("ok", make())]
            except UserError as err:
                outcome = [("error", str(err))]
        if self.is_distributed:
            dist.broadcast_object_list(outcome, src=0)
        kind, value = outcome[0]
        if kind == "error":
            raise UserError(value)
        return value

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module the training forward passes go through: DistributedDataParallel averages
        the gradients over processes during backward. Buffers are synced once, not at every
        forward pass, so that a forward pass needs no collective and evaluation may run on
        uneven shares."""
        if not self.is_distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                                         forward_sync_buffers=False)

    def close(self) -> None:
        if self.is_distributed and dist.is_initialized():
            # gloo aborts a process whose peer hangs up first: leave together
            dist.barrier()
            dist.destroy_process_group()


ONE_PROCESS = Context(rank=0, world_size=1, local_world_size=1, device=torch.device("cpu"))


def device_name(device: torch.device) -> str:
    """The device as a run's summary records it: cpu, or cuda:N and the GPU's name."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def launched_as_main() -> bool:
    """Whether this is rank 0 (or the only process) of a launch, before any setup."""
    return int(os.environ.get("RANK", "0")) == 0


def setup(device: str) -> Context:
    """The context of this process, from the variables torchrun / accelerate launch set."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    chosen = resolve_device(device, local_rank)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    enable_tf32(chosen)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    return Context(rank, world_size, local_world_size, chosen)


def resolve_device(device: str, local_rank: int = 0, option: str = "train.device=") -> torch.device:
    """A device setting (auto, cpu or cuda) for one process; `option` names it in the error.
    A choice only: whoever sets the device up enables what it needs (enable_tf32)."""
    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"{option}{device}: choose auto, cpu or cuda.")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError(f"{option}cuda but torch sees no CUDA device; "
                        f"use {option}cpu (or auto).")
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def enable_tf32(device: torch.device) -> None:
    """On a CUDA device, fp32 means TF32 tensor-core matmuls (the Trainer's tf32=True): fp32's
    range with a 10-bit mantissa, more than bf16's 7, many times the throughput of plain fp32
    matmuls. Called where training and scoring set their device up."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
