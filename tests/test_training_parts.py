"""The training loop's parts on their own: progress, the logging window, validation
bookkeeping, sinks and stop signals."""

import math
import os
import signal

import pytest
import torch

from afa_cli.distributed import ONE_PROCESS
from afa_cli.metrics import registry
from afa_cli.training import validation
from afa_cli.training.setup import linear_warmup_then_decay
from afa_cli.training.signals import StopSignals
from afa_cli.training.sinks import MetricSink, Sinks
from afa_cli.training.state import Progress
from afa_cli.training.validation import Validator
from afa_cli.training.window import MetricsWindow, window_mean


def test_progress_advances_and_turns_epochs():
    progress = Progress()
    progress.advance(16, 0.5)
    progress.advance(8, 0.25)
    assert (progress.step, progress.batch_in_epoch, progress.train_examples) == (2, 2, 24)
    assert progress.train_seconds == 0.75
    progress.next_epoch()
    assert (progress.epoch, progress.batch_in_epoch, progress.step) == (1, 0, 2)


def test_window_means_ignore_undefined_steps_and_warn_on_collapse():
    assert math.isnan(window_mean([math.nan]))
    window = MetricsWindow(collapse_entropy=0.2)
    window.add({"loss": 1.0, "attn_entropy": 0.1, "loss_pg": math.nan}, 16)
    # a step's statistics may stay on the device as 0-dim tensors until the window closes
    window.add({"loss": torch.tensor(0.5), "attn_entropy": 0.2, "loss_pg": torch.tensor(2.0)}, 16)
    means, warning = window.close(ONE_PROCESS)
    assert means["loss"] == 0.75 and means["loss_pg"] == 2.0 and means["examples_per_s"] > 0
    assert warning.startswith("attention collapsing: normalised entropy 0.150 < 0.2")
    window.add({"loss": 1.0, "attn_entropy": 0.9}, 16)
    means, warning = window.close(ONE_PROCESS)
    assert means["loss"] == 1.0 and warning is None  # a new window


class Recorder(MetricSink):
    def __init__(self, calls, name):
        self.calls, self.name = calls, name

    def open(self):
        self.calls.append((self.name, "open"))

    def validation(self, step, epoch, metrics, improved):
        self.calls.append((self.name, step, improved))

    def close(self):
        self.calls.append((self.name, "close"))


def test_validator_keeps_the_best_and_counts_patience(monkeypatch):
    accuracies = iter([0.5, 0.7, 0.6, 0.7, 0.9])
    monkeypatch.setattr(validation, "evaluate",
                        lambda *args: ({"accuracy": next(accuracies)}, None))
    progress, saved, calls = Progress(), [], []
    validator = Validator(None, None, [], [], [], 8, 0, patience=2,
                          best_metric=registry.ACCURACY, progress=progress,
                          save_best=lambda: saved.append(progress.step),
                          sink=Recorder(calls, "sink"), ctx=ONE_PROCESS)
    for step in (0, 10, 20, 30):  # step 0 too: evaluating before training is allowed
        progress.step = step
        validator()
    assert saved == [0, 10] and progress.best_step == 10 and progress.best_value == 0.7
    assert validator.out_of_patience  # 0.6 and an equal 0.7 are not improvements
    assert calls == [("sink", 0, True), ("sink", 10, True), ("sink", 20, False), ("sink", 30, False)]
    progress.step = 40
    validator()
    assert not validator.out_of_patience and saved[-1] == 40


def test_sinks_are_called_in_order_and_closed_on_errors():
    calls = []
    with pytest.raises(RuntimeError):
        with Sinks([Recorder(calls, "a"), Recorder(calls, "b")]) as sinks:
            sinks.validation(3, 0, {}, False)
            raise RuntimeError
    assert calls == [("a", "open"), ("b", "open"), ("a", 3, False), ("b", 3, False),
                     ("a", "close"), ("b", "close")]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_stop_signals_are_requests_and_handlers_come_back(stop_signal):
    before = signal.getsignal(stop_signal)
    with StopSignals() as stop:
        assert not stop.requested
        os.kill(os.getpid(), stop_signal)
        assert stop.requested
    assert signal.getsignal(stop_signal) == before


def test_learning_rate_schedule_is_transformers_linear_warmup():
    from transformers import get_linear_schedule_with_warmup

    def rates(make):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        scheduler = make(optimizer)
        steps = []
        for _ in range(25):
            steps.append(scheduler.get_last_lr()[0])
            optimizer.step()
            scheduler.step()
        return steps

    for warmup, total in ((0, 20), (3, 20), (5, 5)):
        ours = rates(lambda o: linear_warmup_then_decay(o, warmup, total))
        assert ours == rates(lambda o: get_linear_schedule_with_warmup(o, warmup, total))


def test_a_lower_is_better_best_metric_keeps_the_lowest_and_nan_never_improves():
    assert registry.FREQUENT_MASS.improves(0.2, 0.3) and not registry.FREQUENT_MASS.improves(0.4, 0.3)
    assert registry.ACCURACY.improves(0.5, None) and not registry.ACCURACY.improves(float("nan"), None)


def test_a_batch_on_its_device_keeps_its_word_width_on_the_host():
    from afa_cli.data import Encoded, collate
    from afa_cli.training.loop import on_device

    data = Encoded([[101, 7, 8, 102], [101, 9, 102]], [[-1, 0, 1, -1], [-1, 0, -1]], [1, 0])
    host = collate(data, [0, 1], pad_id=0)
    batch = on_device(host, torch.device("cpu"))
    assert batch["word_slots"] == 2 and isinstance(batch["word_slots"], int)
    assert all(torch.equal(batch[k], host[k]) for k in host)


@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_clipping_equals_torchs_whether_or_not_it_scales(scale):
    from afa_cli.training.loop import clip_gradients

    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    theirs.load_state_dict(ours.state_dict())
    inputs = torch.randn(8, 4)
    for model in (ours, theirs):
        (model(inputs).sum() * scale).backward()
    clipped = torch.nn.utils.get_total_norm([p.grad for p in ours.parameters()]) > 1.0
    assert clipped == (scale == 100.0)
    clip_gradients(ours, 1.0)
    torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a.grad, b.grad)
