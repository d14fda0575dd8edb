"""The reference a user would otherwise pick: transformers.Trainer on the same model, rows, batch
size, max length and steps as afa's plain loop, with the model as transformers loads it (SDPA
attention) and the Trainer's own optimizer (fused AdamW). Prints one JSON line.

    python -m benchmarks.hf_trainer OUT_DIR [--group-by-length] [--compile] OVERRIDES...

train.precision=bf16 among the overrides turns on the Trainer's bf16."""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer,
                          DataCollatorWithPadding, Trainer, TrainingArguments)
from transformers.utils import logging as hf_logging

from afa_cli.config import compose_config
from afa_cli.data import load_split, subsample
from afa_cli.models import resolve_source


class Rows(torch.utils.data.Dataset):
    def __init__(self, encodings, labels):
        self.encodings, self.labels = encodings, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.encodings["input_ids"][i],
                "attention_mask": self.encodings["attention_mask"][i], "labels": self.labels[i]}


def main(out_dir: str, flags: set[str], overrides: list[str]) -> None:
    hf_logging.set_verbosity_error()
    cfg = compose_config(overrides)
    tc = cfg.train
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(tc.num_threads)
    location = resolve_source(cfg.model.source)
    config = AutoConfig.from_pretrained(location, num_labels=len(cfg.dataset.label_names))
    if cfg.model.num_layers is not None:
        config.num_hidden_layers = min(cfg.model.num_layers, config.num_hidden_layers)
    model = AutoModelForSequenceClassification.from_pretrained(location, config=config)
    tokenizer = AutoTokenizer.from_pretrained(location)
    train = subsample(load_split(cfg.dataset, "train"), tc.max_train_samples, cfg.dataset.split_seed)
    val = subsample(load_split(cfg.dataset, "validation"), tc.max_eval_samples, cfg.dataset.split_seed)
    encode = lambda rows: Rows(tokenizer(rows.texts, truncation=True, max_length=cfg.model.max_length),
                               rows.labels)
    cuda = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=out_dir, per_device_train_batch_size=tc.batch_size,
        per_device_eval_batch_size=tc.batch_size * 2, num_train_epochs=tc.epochs,
        learning_rate=tc.lr, weight_decay=tc.weight_decay, warmup_steps=int(tc.warmup_ratio * (
            len(train.texts) // tc.batch_size)), max_grad_norm=tc.max_grad_norm,
        train_sampling_strategy="group_by_length" if "--group-by-length" in flags else "random",
        torch_compile="--compile" in flags, save_strategy="no", eval_strategy="no", report_to=[],
        logging_strategy="no", seed=cfg.seed, use_cpu=not cuda, disable_tqdm=True,
        dataloader_num_workers=0, bf16=tc.precision == "bf16", tf32=cuda or None)
    trainer = Trainer(model=model, args=args, train_dataset=encode(train),
                      data_collator=DataCollatorWithPadding(tokenizer))
    fit = trainer.train().metrics
    predictions = trainer.predict(encode(val))
    # predict() may batch by length too: score against the label order it returns
    accuracy = float((np.argmax(predictions.predictions, axis=1) == predictions.label_ids).mean())
    print(json.dumps({"train_examples_per_s": fit["train_samples_per_second"],
                      "train_seconds": fit["train_runtime"],
                      "eval_examples_per_s": predictions.metrics["test_samples_per_second"],
                      "accuracy": accuracy,
                      "peak_gpu_memory_mib": torch.cuda.max_memory_allocated() // 2**20 if cuda else None}))


if __name__ == "__main__":
    main(sys.argv[1], {a for a in sys.argv[2:] if a.startswith("--")},
         [a for a in sys.argv[2:] if not a.startswith("--")])
