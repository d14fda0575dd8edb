"""Datasets: find them (explicit path, AFA_DATA_DIR, hub), read them, tokenise them into words and
pieces, and batch them by length. Knows nothing of training."""

from __future__ import annotations

import bisect
import csv
import difflib
import hashlib
import json
import os
import random
import sys
from dataclasses import dataclass
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape

from afa_cli import files
from afa_cli.errors import UserError, no_room
from afa_cli.paths import shown_path
from afa_cli.progress import NoProgress, WorkProgress

FILE_SUFFIXES = (".tsv", ".csv", ".jsonl")
CACHE_DIR = Path(os.environ.get("AFA_CACHE_DIR", Path.home() / ".cache" / "afa"))
TOKENISE_CHUNK = 2000  # texts per tokenizer call: progress between calls, no slower

# TSV fields are never quoted and sentences contain quote characters.
csv.field_size_limit(sys.maxsize)


@dataclass
class Split:
    texts: list[str]
    labels: list[int]
    source: str  # where the rows came from, for logs and errors
    pair_ids: list[str] | None = None  # dataset.pair_col's values, when the dataset has one


# ---------------------------------------------------------------------------------------------
# Resolution: explicit path, then $AFA_DATA_DIR/<local_dir>/, then the hub.
# ---------------------------------------------------------------------------------------------

def load_split(dcfg, split: str) -> Split:
    """Rows of one split ('train', 'validation', ...) of the dataset described by dcfg."""
    tried = []
    folder = _local_folder(dcfg, tried)
    if folder is not None:
        return _local_split(dcfg, folder, split)
    try:
        return _hub_split(dcfg, split)
    except UserError:  # the hub copy was found: what is wrong with it is the line to give
        raise
    except Exception as err:  # datasets raises many types when offline or the id is wrong
        tried.append(f"hub id '{dcfg.hub_id}' ({type(err).__name__})")
    raise UserError(
        f"Dataset '{dcfg.name}' not found. Tried: {'; '.join(tried)}. Fix: pass dataset.path=FILE_OR_DIR, "
        f"set AFA_DATA_DIR to a folder holding '{dcfg.local_dir}/', or go online for the hub."
    )


def _local_folder(dcfg, tried: list[str]) -> Path | None:
    if dcfg.path:
        path = Path(dcfg.path).expanduser()
        if path.exists():
            return path
        raise UserError(f"dataset.path={dcfg.path} does not exist.")
    tried.append("dataset.path (not set)")
    data_dir = os.environ.get("AFA_DATA_DIR")
    if data_dir:
        folder = Path(data_dir).expanduser() / dcfg.local_dir
        if folder.is_dir():
            return folder
        tried.append(f"$AFA_DATA_DIR/{dcfg.local_dir} ({folder} missing)")
    else:
        tried.append("$AFA_DATA_DIR (not set)")
    return None


def _split_file(folder: Path, stem: str) -> Path | None:
    for suffix in FILE_SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def _local_split(dcfg, path: Path, split: str) -> Split:
    """A single file is the training data; a folder holds one file per split. Without a
    validation file, validation is carved from train (and train is what remains)."""
    stems = dict(dcfg.local_splits)
    if path.is_file():
        train_file, validation_file, split_file = path, None, None
    else:
        train_file = _split_file(path, stems.get("train", "train"))
        validation_file = _split_file(path, stems.get("validation", "validation"))
        split_file = _split_file(path, stems.get(split, split))
    if split in ("train", "validation") and validation_file is None:
        if train_file is None:
            raise _no_split(dcfg, path, split)
        rows = read_labelled_file(train_file, dcfg.text_col, dcfg.label_col, dcfg.label_names)
        return carve_validation(rows, split, dcfg.val_fraction, dcfg.split_seed)
    if split_file is None:
        raise _no_split(dcfg, path, split)
    return read_labelled_file(split_file, dcfg.text_col, dcfg.label_col, dcfg.label_names,
                              dcfg.get("pair_col"))


def _no_split(dcfg, folder: Path, split: str) -> UserError:
    """The splits a dataset folder has, named as afa names them (validation is carved from
    train where there is no validation file)."""
    names = {stem: name for name, stem in dict(dcfg.local_splits).items()}
    found = sorted({names.get(f.stem, f.stem) for f in folder.iterdir()
                    if f.is_file() and f.suffix.lower() in FILE_SUFFIXES})
    if "train" in found and "validation" not in found:
        found.append("validation")
    if not found:
        return UserError(f"Dataset '{dcfg.name}': {folder} holds no data file "
                         f"({', '.join(FILE_SUFFIXES)}).")
    closest = difflib.get_close_matches(split, found, n=1) or found
    return UserError(f"Dataset '{dcfg.name}' has no '{split}' split in {folder}; its splits: "
                     f"{', '.join(found)} (afa eval: --split {closest[0]}).")


def carve_validation(rows: Split, split: str, fraction: float, seed: int) -> Split:
    """A seeded, reproducible validation split taken from the training rows (and train without it)."""
    order = list(range(len(rows.texts)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(order) * fraction))
    chosen = sorted(order[:n_val] if split == "validation" else order[n_val:])
    return Split(
        [rows.texts[i] for i in chosen],
        [rows.labels[i] for i in chosen],
        f"{rows.source} ({split}: {len(chosen)} rows carved with seed {seed})",
    )


def subsample(rows: Split, limit: int | None, seed: int) -> Split:
    """A seeded subset of `limit` rows: the same rows for every run seed, so seeds vary training."""
    if limit is None or limit >= len(rows.texts):
        return rows
    if rows.pair_ids is not None:  # whole pairs: a sample never splits one
        return _subsample_pairs(rows, limit, seed)
    keep = sorted(random.Random(seed).sample(range(len(rows.texts)), limit))
    return Split([rows.texts[i] for i in keep], [rows.labels[i] for i in keep],
                 f"{rows.source} ({limit} rows)")


def training_rows(cfg, load: Callable[..., Split] | None = None) -> Split:
    """The rows a run with this config trains on: its dataset's train split (read by `load`,
    default load_split), sampled by train.max_train_samples."""
    return subsample((load or load_split)(cfg.dataset, "train"), cfg.train.max_train_samples,
                     cfg.dataset.split_seed)


def _subsample_pairs(rows: Split, limit: int, seed: int) -> Split:
    pairs = [pair for pair in dict.fromkeys(rows.pair_ids) if pair]  # "": a row of no pair
    chosen = set(random.Random(seed).sample(pairs, min(len(pairs), max(1, limit // 2))))
    keep = [i for i, pair in enumerate(rows.pair_ids) if pair in chosen]
    return Split([rows.texts[i] for i in keep], [rows.labels[i] for i in keep],
                 f"{rows.source} ({len(chosen)} pairs)", [rows.pair_ids[i] for i in keep])


def _hub_split(dcfg, split: str) -> Split:
    import datasets

    hub_splits = dict(dcfg.hub_splits)
    carve = split in ("train", "validation") and "validation" not in hub_splits
    name = "train" if carve else split
    if name not in hub_splits:
        raise UserError(f"Dataset '{dcfg.name}' has no '{split}' split on the hub.")
    ds = datasets.load_dataset(dcfg.hub_id, dcfg.hub_config, split=hub_splits[name])
    # .get: a run's saved config from before these keys has neither
    text_col = dcfg.get("hub_text_col") or dcfg.text_col
    label_col = dcfg.get("hub_label_col") or dcfg.label_col
    for key, column in (("hub_text_col", text_col), ("hub_label_col", label_col)):
        if column not in ds.column_names:
            raise UserError(f"The hub dataset {dcfg.hub_id} has no column '{column}' (columns: "
                            f"{', '.join(ds.column_names)}); set dataset.{key}.")
    rows = Split(list(ds[text_col]), _labels(list(ds[label_col]), dcfg.label_names), dcfg.hub_id)
    check_rows(rows)
    return carve_validation(rows, split, dcfg.val_fraction, dcfg.split_seed) if carve else rows


# ---------------------------------------------------------------------------------------------
# Files: TSV / CSV / JSONL, labels as integers or label names.
# ---------------------------------------------------------------------------------------------

def read_labelled_file(path: Path, text_col: str, label_col: str, label_names,
                       pair_col: str | None = None) -> Split:
    """Rows of a labelled file (and the pairs pair_col makes); stops with the count and first
    line of bad rows."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"Data file {path} is a folder; name a .tsv, .csv or .jsonl file in it.")
    if not path.is_file():
        raise UserError(f"Data file {path} does not exist.")
    records = list(file_records(path))
    if not records:
        raise UserError(f"{path} holds no rows.")
    first = records[0][1]
    for col in (text_col, label_col, *([pair_col] if pair_col else [])):
        if col not in first:
            raise UserError(
                f"{path} has no column '{col}' (columns: {', '.join(first)}); "
                f"set --text-col/--label-col or dataset.text_col/dataset.label_col/"
                f"dataset.pair_col."
            )
    texts = [str(r.get(text_col) or "").strip() for _, r in records]
    raw_labels = [r.get(label_col) for _, r in records]
    pair_ids = ([("" if r.get(pair_col) is None else str(r.get(pair_col))) for _, r in records]
                if pair_col else None)
    rows = Split(texts, _labels(raw_labels, label_names), shown_path(path), pair_ids)
    check_rows(rows, [line for line, _ in records], raw_labels, label_names)
    return rows


def file_records(path: Path):
    """(line number, dict) per data row."""
    suffix = path.suffix.lower()
    _check_utf8(path)
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if suffix == ".jsonl":
            for line_no, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield line_no, json.loads(line)
                    except json.JSONDecodeError as err:
                        raise UserError(f"{path}:{line_no} is not valid JSON ({err.msg}).") from None
            return
        if suffix == ".tsv":
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        elif suffix == ".csv":
            reader = csv.DictReader(handle)
        else:
            raise UserError(f"{path}: unsupported file type '{suffix}'; use .tsv, .csv or .jsonl.")
        for row in reader:
            if None in row:  # DictReader's key for the fields beyond the header's
                raise UserError(f"{path}:{reader.line_num} has {len(reader.fieldnames) + len(row[None])} "
                                f"fields, the header {len(reader.fieldnames)}: a stray "
                                f"{'tab' if suffix == '.tsv' else 'comma'} in a text? Fix that row "
                                f"(or quote the text{'' if suffix == '.csv' else ' in a .csv'}).")
            yield reader.line_num, row


def _check_utf8(path: Path) -> None:
    with path.open("rb") as handle:
        for _ in utf8_lines(handle, path):
            pass


def _labels(raw, label_names) -> list[int]:
    """Integer labels from integers or (case-insensitive) label names; -1 for unreadable ones."""
    by_name = {str(n).lower(): i for i, n in enumerate(label_names)}
    labels = []
    for value in raw:
        text = str(value).strip().lower() if value is not None else ""
        if text in by_name:
            labels.append(by_name[text])
        else:
            try:
                number = float(text)
            except ValueError:
                number = float("nan")
            labels.append(int(number) if number.is_integer() else -1)  # 1.7 is no class
    return [label if 0 <= label < len(label_names) else -1 for label in labels]


def check_rows(rows: Split, line_numbers: list[int] | None = None, raw_labels: list | None = None,
               label_names=()) -> None:
    """Refuse empty texts and out-of-range labels before any training starts; with the labels as
    the file holds them, name the first bad one and the valid ones."""
    lines = line_numbers or list(range(1, len(rows.texts) + 1))
    bad_text = [lines[i] for i, t in enumerate(rows.texts) if not t]
    bad_label = [lines[i] for i, y in enumerate(rows.labels) if y < 0]
    problems = []
    if bad_text:
        problems.append(f"{len(bad_text)} rows with an empty text (first at line {bad_text[0]})")
    if bad_label:
        found = ""
        if raw_labels is not None:
            value = raw_labels[lines.index(bad_label[0])]
            found = (f": found {'nothing' if value in (None, '') else repr(str(value))}, valid "
                     f"labels are 0-{len(label_names) - 1} or {', '.join(map(str, label_names))}")
        problems.append(f"{len(bad_label)} rows with a missing or out-of-range label "
                        f"(first at line {bad_label[0]}){found}")
    if problems:
        raise UserError(f"{rows.source}: {'; '.join(problems)}. Fix or remove those rows.")


def training_set_warnings(labels: list[int], label_names, batch_size: int) -> list[str]:
    """What makes a training set unable to teach a classifier much, said before training."""
    warnings = []
    missing = [str(name) for i, name in enumerate(label_names) if i not in set(labels)]
    if missing:
        warnings.append(f"the training rows hold no example of {', '.join(missing)}: the model "
                        "cannot learn to predict it")
    if len(labels) < batch_size:
        warnings.append(f"{len(labels)} training rows, fewer than one batch ({batch_size})")
    return warnings


# ---------------------------------------------------------------------------------------------
# Words and pieces.
# ---------------------------------------------------------------------------------------------

def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the whitespace-separated words of text."""
    spans, start = [], None
    for i, ch in enumerate(text):
        if ch.isspace():
            if start is not None:
                spans.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


def token_word_ids(text: str, offsets, special_mask) -> list[int]:
    """Word index of each token, -1 for special tokens.

    Uses character offsets rather than word_ids(), which is all zeros for Llama-style
    tokenizers; a byte-level piece whose offset starts on the preceding space is assigned to
    the word its first non-space character belongs to."""
    spans = word_spans(text)
    starts = [s for s, _ in spans]
    ids = []
    for (start, end), special in zip(offsets, special_mask):
        while start < end and text[start].isspace():
            start += 1
        if special or start >= end:
            ids.append(-1)
            continue
        word = bisect.bisect_right(starts, start) - 1
        ids.append(word if word >= 0 and start < spans[word][1] else -1)
    return ids


@dataclass
class Encoded:
    """A tokenised split: pieces, the word each piece belongs to, labels."""

    input_ids: list[list[int]]
    word_ids: list[list[int]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def encode(texts: list[str], labels: list[int], tokenizer, max_length: int,
           progress: WorkProgress = NoProgress(), cached: bool = True) -> Encoded:
    """Tokenise once; cached on disk by tokenizer, max length and content (unless `cached` is
    false: texts scored once, such as an attack's variants). `progress` shows the tokenising
    into the cache, which takes a while for a large split."""
    if not cached:
        return Encoded(*_tokenise(texts, tokenizer, max_length, NoProgress()), list(labels))
    key = hashlib.sha1()
    key.update(f"{tokenizer.name_or_path}|{len(tokenizer)}|{max_length}|".encode())
    for text in texts:
        key.update(text.encode())
        key.update(b"\0")
    cache = CACHE_DIR / "tokenized" / f"{key.hexdigest()}.pt"
    if cache.is_file():
        input_ids, word_ids = torch.load(cache)
        return Encoded(input_ids, word_ids, list(labels))
    with progress:
        input_ids, word_ids = _tokenise(texts, tokenizer, max_length, progress)
    failed = files.write_cache(cache, lambda tmp: files.torch_save((input_ids, word_ids), tmp))
    if failed is not None:
        _warn_cache_not_written(failed)
    return Encoded(input_ids, word_ids, list(labels))


_CACHE_WARNED: set[Path] = set()


def _warn_cache_not_written(err: OSError) -> None:
    """The tokenised cache only saves time: a cache that cannot be written (a full disk, a
    read-only folder) is one warning, once per process, and the work goes on without it."""
    if CACHE_DIR in _CACHE_WARNED:
        return
    _CACHE_WARNED.add(CACHE_DIR)
    why = no_room(err) or (err.strerror or str(err)).lower()
    Console(stderr=True).print(
        f"[yellow]warning:[/yellow] cannot write the tokenised cache {escape(str(err.filename))}: "
        f"{why}; going on without it (free some space, or set AFA_CACHE_DIR to a folder with "
        "room).", highlight=False, soft_wrap=True)


def _tokenise(texts: list[str], tokenizer, max_length: int,
              progress: WorkProgress) -> tuple[list[list[int]], list[list[int]]]:
    input_ids, word_ids = [], []
    for start in range(0, len(texts), TOKENISE_CHUNK):
        chunk = list(texts[start:start + TOKENISE_CHUNK])
        enc = tokenizer(chunk, truncation=True, max_length=max_length,
                        return_offsets_mapping=True, return_special_tokens_mask=True)
        input_ids += enc["input_ids"]
        word_ids += [token_word_ids(text, offsets, special) for text, offsets, special
                     in zip(chunk, enc["offset_mapping"], enc["special_tokens_mask"])]
        progress.advance(len(chunk))
    return input_ids, word_ids


# ---------------------------------------------------------------------------------------------
# Batching: length-grouped for training, length-sorted for evaluation, padded to the batch.
# ---------------------------------------------------------------------------------------------

def train_batches(lengths: list[int], batch_size: int, seed: int, epoch: int,
                  pool: int) -> list[list[int]]:
    """Shuffled batches of similar length; a pure function of (seed, epoch) so resume can replay it."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool_size = batch_size * pool
    batches = []
    for p in range(0, len(order), pool_size):
        chunk = sorted(order[p:p + pool_size], key=lambda i: lengths[i])
        batches.extend(chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def eval_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[b:b + batch_size] for b in range(0, len(order), batch_size)]


def collate(data: Encoded, indices: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors for one batch.

    input_ids, attention_mask, word_ids: [B, T] (word_ids = -1 on specials and padding)
    labels, num_words: [B]"""
    width = max(len(data.input_ids[i]) for i in indices)
    batch = len(indices)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, width), dtype=torch.long)
    word_ids = torch.full((batch, width), -1, dtype=torch.long)
    for row, i in enumerate(indices):
        n = len(data.input_ids[i])
        input_ids[row, :n] = torch.tensor(data.input_ids[i])
        attention_mask[row, :n] = 1
        word_ids[row, :n] = torch.tensor(data.word_ids[i])
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "word_ids": word_ids,
        "num_words": (word_ids.max(dim=1).values + 1).clamp(min=0),
        "labels": torch.tensor([data.labels[i] for i in indices], dtype=torch.long),
    }


def utf8_lines(stream: Iterable[bytes], source: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its line ending) of each line of a byte stream read as UTF-8,
    one line at a time (stdin included), a byte-order mark at its start ignored. A line that is
    not UTF-8 stops with its line and byte, as a data file does."""
    offset = 0  # bytes before this line, for the byte number of an error
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UserError(f"{source}: line {number} (byte {offset + err.start}, "
                            f"0x{raw[err.start]:02x}) is not UTF-8; save the file as "
                            "UTF-8.") from None
        offset += len(raw)
        yield number, (text.removeprefix("\ufeff") if number == 1 else text).rstrip("\r\n")
