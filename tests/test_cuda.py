"""The GPU path: training, exact resume, evaluation and prediction on CUDA, the attention kernel's
fused SDPA against eager attention, batches through pinned memory, and two processes over nccl.
Every test here needs a CUDA GPU and skips with that reason elsewhere (CI and the 2-core
development machines have none); `make bench` on a GPU machine runs the same code for speed."""

import json
import signal

import pytest
import torch

from afa_cli import models
from afa_cli.config import compose_config
from afa_cli.data import Encoded, collate
from afa_cli.training.loop import on_device
from conftest import TINY, eager_copy, needs_data, run_afa, written_report

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU: this machine has none")
needs_two_gpus = pytest.mark.skipif(torch.cuda.device_count() < 2,
                                    reason="needs two CUDA GPUs for nccl")
ON_GPU = [*TINY, "train.device=cuda"]


@needs_cuda
def test_fp32_on_cuda_multiplies_on_tf32_tensor_cores(tf32_off):
    from afa_cli import distributed

    assert distributed.setup("auto").device.type == "cuda"   # how training sets its device up
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


@needs_cuda
def test_batches_reach_the_gpu_through_pinned_memory():
    data = Encoded([[101, 7, 8, 102], [101, 9, 102]], [[-1, 0, 1, -1], [-1, 0, -1]], [1, 0])
    batch = on_device(collate(data, [0, 1], pad_id=0), torch.device("cuda"))
    torch.cuda.synchronize()
    assert all(v.is_cuda for k, v in batch.items() if k != "word_slots")
    assert batch["word_slots"] == 2


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_kernel_on_cuda_equals_eager_attention(precision, tf32_off):  # exact fp32 here
    model, tokenizer = models.load_pretrained(compose_config(["model.num_layers=2"]).model,
                                              ["negative", "positive"])
    model.eval().cuda()
    eager = eager_copy(model).cuda().eval()
    batch = tokenizer(["a gripping , well acted film", "dull"], padding=True, return_tensors="pt")
    net = models.AttendingClassifier(model, precision=precision)
    with torch.no_grad():
        out = net(batch["input_ids"], batch["attention_mask"], False)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            full = eager(**{k: v.cuda() for k, v in batch.items()}, output_attentions=True)
    tolerance = {"atol": 1e-4, "rtol": 1e-3} if precision == "fp32" else {"atol": 2e-2, "rtol": 2e-2}
    torch.testing.assert_close(out.logits, full.logits.float(), **tolerance)
    torch.testing.assert_close(out.token_attention, full.attentions[-1][:, :, 0].mean(dim=1).float(),
                               **tolerance)


@needs_cuda
@needs_data
@pytest.mark.slow
def test_training_on_cuda_resumes_and_scores_like_the_cpu(tmp_path):
    from test_train import STOPPED, start_training, wait_for_step

    on_gpu = [*STOPPED, "train.device=cuda"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    run_afa("train", *on_gpu, "--run-dir", str(straight))
    summary = json.loads((straight / "summary.json").read_text())
    proc = start_training(stopped, *on_gpu)
    wait_for_step(proc, stopped, 30)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=300) == 130
    state = torch.load(stopped / "checkpoints" / "last" / "training_state.pt", weights_only=False)
    assert state["rng"][0]["cuda"] is not None  # the CUDA random state travels with the run
    run_afa("train", "--resume", str(stopped))
    resumed = json.loads((stopped / "summary.json").read_text())
    # Atomics in some CUDA kernels allow float noise between the two, not a different run.
    assert resumed["steps"] == summary["steps"]
    assert abs(resumed["final"]["metrics"]["accuracy"] - summary["final"]["metrics"]["accuracy"]) <= 0.03
    gpu = written_report(run_afa("eval", str(straight), "--device", "cuda").stdout)
    cpu = written_report(run_afa("eval", str(straight), "--device", "cpu").stdout)
    assert abs(gpu["metrics"]["accuracy"] - cpu["metrics"]["accuracy"]) <= 0.02
    assert abs(gpu["metrics"]["accuracy"] - summary["best"]["metrics"]["accuracy"]) <= 0.02
    texts = tmp_path / "texts.txt"
    texts.write_text("a gripping , well acted film\ndull and far too long\n")
    on = {device: [json.loads(line) for line in run_afa(
        "predict", str(straight), "--file", str(texts), "--device", device).stdout.splitlines()]
        for device in ("cuda", "cpu")}
    assert [p["label"] for p in on["cuda"]] == [p["label"] for p in on["cpu"]]
    inspected = {}
    for device in ("cuda", "cpu"):
        out = tmp_path / f"inspect_{device}.json"
        run_afa("inspect-attention", "a gripping , well acted film", "--checkpoint", str(straight),
                "--device", device, "--json", str(out))
        inspected[device] = json.loads(out.read_text())["sentences"][0]["readings"][0]["weights"]
    assert inspected["cuda"] == pytest.approx(inspected["cpu"], abs=1e-3)


@needs_two_gpus
@needs_data
@pytest.mark.slow
def test_two_processes_over_nccl_train_one_run(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    run = tmp_path / "ddp"
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                    "-m", "afa_cli", "train", *ON_GPU, "--run-dir", str(run)], cwd=ROOT, check=True,
                   timeout=900)
    assert json.loads((run / "summary.json").read_text())["processes"] == 2
