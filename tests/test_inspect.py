"""`afa inspect-attention` on two real tiny runs (plain fine-tuning and AFA, same seed)."""

import json
from html import escape
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from typer.testing import CliRunner

from afa_cli.afa.attention import word_attention
from afa_cli.cli import app
from afa_cli.config import compose_config
from afa_cli.data import collate, encode
from afa_cli.inspect import figure
from afa_cli.inspect.rollout import RolloutClassifier, attention_rollout
from afa_cli.lexicon import is_lexicon_word, sentiment_lexicon
from afa_cli.metrics.registry import SCORES, UNIFORM_REFERENCES
from afa_cli.models import AttendingClassifier, load_checkpoint, load_pretrained
from afa_cli.views import palette
from conftest import eager_copy, needs_data, written_report

pytestmark = needs_data

SCORE_KEYS = tuple(metric.key for metric in SCORES)
UNIFORM_KEYS = tuple(metric.key for metric in UNIFORM_REFERENCES)
SENTENCES = ["the movie was a total delight , funny and warm",
             'a dull , lifeless & <b>boring</b> "mess" at café prices']


def inspect(*args):
    return CliRunner().invoke(app, ["inspect-attention", *map(str, args)])


def succeed(*args):
    result = inspect(*args)
    assert result.exit_code == 0, result.output
    return result


def refuse(*args) -> str:
    """The single error line of a refused command."""
    result = inspect(*args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def inspect_json(tmp_path, *args) -> dict:
    out = tmp_path / f"report{len(list(tmp_path.glob('report*.json')))}.json"
    succeed(*args, "--json", out)
    return json.loads(out.read_text())


def trained_policy(checkpoint, texts, layer=-1, head=None):
    """Word attention as the training loop computes it: AttendingClassifier + word_attention."""
    model, tokenizer = load_checkpoint(checkpoint)
    data = encode(texts, [0] * len(texts), tokenizer, 128)
    batch = collate(data, list(range(len(texts))), tokenizer.pad_token_id)
    net = AttendingClassifier(model, layer=layer, head=head)
    with torch.inference_mode():
        out = net(batch["input_ids"], batch["attention_mask"], False)
        logits, token_attention = out.logits, out.token_attention
        words = word_attention(token_attention, batch["word_ids"])
    return torch.softmax(logits, -1).numpy(), [words[i, :n].numpy()
                                               for i, n in enumerate(batch["num_words"])]


# ---------------------------------------------------------------------------------------------
# Per sentence
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, layer, head", [([], -1, None),
                                                  (["--layer", "0", "--head", "3"], 0, 3)])
def test_weights_are_the_trained_policy_and_sum_to_one(tiny_runs, tmp_path, options, layer, head):
    report = inspect_json(tmp_path, *SENTENCES, "--checkpoint", tiny_runs["default"], *options)
    probs, expected = trained_policy(tiny_runs["default"] / "checkpoints" / "best", SENTENCES,
                                     layer, head)
    assert report["models"][0]["name"] == "AFA" and report["models"][0]["head"] == head
    for sentence, text, p, weights in zip(report["sentences"], SENTENCES, probs, expected):
        reading = sentence["readings"][0]
        assert sentence["words"] == text.split() and sentence["dropped_words"] == 0
        assert len(reading["weights"]) == len(text.split())
        assert sum(reading["weights"]) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(reading["weights"], weights, atol=1e-6)
        assert list(reading["probabilities"].values()) == pytest.approx(p.tolist(), abs=1e-6)
        assert reading["prediction"] == ["negative", "positive"][int(p.argmax())]


def test_one_head_differs_from_the_mean_of_heads(tiny_runs, tmp_path):
    mean = inspect_json(tmp_path, SENTENCES[0], "--checkpoint", tiny_runs["off"])
    one = inspect_json(tmp_path, SENTENCES[0], "--checkpoint", tiny_runs["off"], "--head", "0")
    assert not np.allclose(mean["sentences"][0]["readings"][0]["weights"],
                           one["sentences"][0]["readings"][0]["weights"], atol=1e-4)


def test_checkpoint_folder_reads_like_its_run_folder(tiny_runs, tmp_path):
    run = inspect_json(tmp_path, SENTENCES[0], "--checkpoint", tiny_runs["off"])
    folder = inspect_json(tmp_path, SENTENCES[0], "--checkpoint",
                          tiny_runs["off"] / "checkpoints" / "best")
    assert folder["models"][0]["name"] == "baseline"  # checkpoints/best knows its run
    assert folder["sentences"] == run["sentences"]


def test_terminal_shows_prediction_numbers_and_top_k(tiny_runs, tmp_path):
    out = tmp_path / "r.json"
    result = succeed(SENTENCES[0], "--checkpoint", tiny_runs["off"], "--top-k", "3", "--json", out)
    reading = json.loads(out.read_text())["sentences"][0]["readings"][0]
    words = SENTENCES[0].split()
    top = [words[i] for i in np.argsort(reading["weights"])[::-1][:3]]
    top_line = next(line for line in result.stdout.splitlines() if line.startswith("top-3 baseline:"))
    assert [part.split()[0] for part in top_line.removeprefix("top-3 baseline:").split("·")] == top
    assert f"baseline  {reading['prediction']}" in result.stdout
    assert f"{max(reading['weights']):.4f}" in result.stdout


def test_compare_reports_the_per_word_difference(tiny_runs, tmp_path):
    out = tmp_path / "compare.json"
    result = succeed(*SENTENCES, "--checkpoint", tiny_runs["off"], "--compare", tiny_runs["default"],
                     "--json", out)
    report = json.loads(out.read_text())
    assert [m["name"] for m in report["models"]] == ["baseline", "AFA"]
    assert [m["afa_enabled"] for m in report["models"]] == [False, True]
    _, afa = trained_policy(tiny_runs["default"] / "checkpoints" / "best", SENTENCES)
    _, baseline = trained_policy(tiny_runs["off"] / "checkpoints" / "best", SENTENCES)
    for sentence, a, b in zip(report["sentences"], baseline, afa):
        first, second = sentence["readings"]
        assert first["model"] == "baseline" and second["model"] == "AFA"
        assert first["prediction"] in ("negative", "positive")
        assert second["prediction"] in ("negative", "positive")
        np.testing.assert_allclose(sentence["difference"], b - a, atol=1e-6)
        np.testing.assert_allclose(sentence["difference"],
                                   np.subtract(second["weights"], first["weights"]), atol=1e-12)
        assert np.abs(sentence["difference"]).max() > 1e-4  # two different real models
    assert "Δ (AFA − baseline)" in result.stdout


def test_attention_rollout_multiplies_residual_attention():
    identity = torch.eye(4).expand(2, 3, 4, 4)
    assert torch.equal(attention_rollout([identity, identity]), torch.eye(4).expand(2, 4, 4))
    first = torch.softmax(torch.randn(2, 3, 4, 4), -1)
    second = torch.softmax(torch.randn(2, 3, 4, 4), -1)
    step = [(a.mean(1) + torch.eye(4)) / 2 for a in (first, second)]  # rows of A + I sum to 2
    torch.testing.assert_close(attention_rollout([first]), step[0])
    torch.testing.assert_close(attention_rollout([first, second]), step[1] @ step[0])


def test_rollout_classifier_reads_every_layer_up_to_the_chosen_one():
    cfg = compose_config(["model.num_layers=2"])
    model, tokenizer = load_pretrained(cfg.model, list(cfg.dataset.label_names))
    data = encode(SENTENCES, [0, 0], tokenizer, 128)
    batch = collate(data, [0, 1], tokenizer.pad_token_id)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.inference_mode():
        rollout = RolloutClassifier(model, layer=1)(ids, mask, False)
        logits, rolled = rollout.logits, rollout.token_attention
        plain = AttendingClassifier(model, layer=1)(ids, mask, False)
        plain_logits, last_layer = plain.logits, plain.token_attention
        attentions = eager_copy(model)(input_ids=ids, attention_mask=mask,
                                       output_attentions=True).attentions
    torch.testing.assert_close(logits, plain_logits)
    torch.testing.assert_close(rolled, attention_rollout(list(attentions))[:, 0])
    assert not torch.allclose(rolled, last_layer, atol=1e-3)


def test_rollout_of_one_layer_is_that_layers_word_attention(tiny_runs, tmp_path):
    # One layer: the rollout row is (a + e_query) / 2 and the query token is special, so the
    # word-level distribution equals the plain one; a check that rollout is wired to the same words.
    cls = inspect_json(tmp_path, SENTENCES[0], "--checkpoint", tiny_runs["off"])
    rollout = inspect_json(tmp_path, SENTENCES[0], "--checkpoint", tiny_runs["off"],
                           "--method", "rollout")
    assert rollout["models"][0]["method"] == "rollout"
    np.testing.assert_allclose(rollout["sentences"][0]["readings"][0]["weights"],
                               cls["sentences"][0]["readings"][0]["weights"], atol=1e-6)


def test_all_layers_gives_one_distribution_per_layer(tiny_runs, tmp_path):
    report = inspect_json(tmp_path, *SENTENCES, "--checkpoint", tiny_runs["off"], "--all-layers")
    for sentence in report["sentences"]:
        reading = sentence["readings"][0]
        assert len(reading["weights_by_layer"]) == 1  # the tiny runs keep one layer
        assert sum(reading["weights_by_layer"][0]) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(reading["weights_by_layer"][-1], reading["weights"])


def test_long_sentence_is_cut_to_the_max_length_with_a_warning(tiny_runs, tmp_path):
    text = " ".join(["remarkably"] * 150 + ["awful"] * 150)
    out = tmp_path / "long.json"
    result = succeed(text, "--checkpoint", tiny_runs["off"], "--json", out)
    assert "warning:" in result.stderr and "max length (128 tokens)" in result.stderr
    sentence = json.loads(out.read_text())["sentences"][0]
    shown = len(sentence["words"])
    assert 0 < shown < 300 and sentence["dropped_words"] == 300 - shown
    assert "awful" not in sentence["words"]
    assert sum(sentence["readings"][0]["weights"]) == pytest.approx(1.0, abs=1e-6)


def test_file_adds_one_sentence_per_line(tiny_runs, tmp_path):
    lines = tmp_path / "sentences.txt"
    lines.write_text("an utterly charming film\n\n  flat and tedious  \n", encoding="utf-8")
    report = inspect_json(tmp_path, SENTENCES[0], "--file", lines, "--checkpoint", tiny_runs["off"])
    assert [s["text"] for s in report["sentences"]] == [SENTENCES[0], "an utterly charming film",
                                                        "flat and tedious"]


# ---------------------------------------------------------------------------------------------
# HTML and PNG
# ---------------------------------------------------------------------------------------------

class PageParser(HTMLParser):
    """Collects the tags of a page and anything that would fetch another resource."""

    def __init__(self):
        super().__init__()
        self.tags, self.fetches = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.fetches += [f"{tag} {name}={value}" for name, value in attrs
                         if name in ("src", "href", "srcset", "data", "action")]
        if tag in ("script", "link", "img", "iframe", "object", "embed"):
            self.fetches.append(tag)


def assert_standalone(page: str) -> None:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    assert parser.tags[:4] == ["html", "head", "meta", "title"] and "style" in parser.tags
    assert parser.fetches == []
    assert "http:" not in page and "https:" not in page and "url(" not in page
    assert "@import" not in page


def test_html_page_holds_every_word_and_opens_standalone(tiny_runs, tmp_path):
    out = tmp_path / "page.html"
    succeed(*SENTENCES, "--checkpoint", tiny_runs["off"], "--compare", tiny_runs["default"],
            "--html", out)
    page = out.read_text(encoding="utf-8")
    assert_standalone(page)
    for text in SENTENCES:
        for word in text.split():
            assert f">{escape(word)}</span>" in page, word
    assert "<b>boring</b>" not in page  # the sentence's markup is shown, not rendered
    assert "Δ AFA − baseline" in page


def png_pixels(path):
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    return image


def has_colour(image, colour, tolerance=0.02) -> bool:
    return bool((np.abs(image[..., :3] - np.array(colour) / 255) < tolerance).all(axis=-1).any())


@pytest.mark.parametrize("options, rows", [([], 1), (["--compare", "COMPARE", "--all-layers"], 2)])
def test_png_decodes_with_the_expected_size(tiny_runs, tmp_path, options, rows):
    out = tmp_path / "figure.png"
    options = [tiny_runs["default"] if o == "COMPARE" else o for o in options]
    succeed(SENTENCES[0], "--checkpoint", tiny_runs["off"], *options, "--png", out)
    image = png_pixels(out)
    words = len(SENTENCES[0].split())
    width = max(figure.MIN_WIDTH, figure.LEFT + figure.CELL_WIDTH * words + figure.RIGHT)
    height = figure.TITLE + figure.CELL_HEIGHT * rows + figure.WORDS
    assert image.shape[:2] == (round(height * figure.DPI), round(width * figure.DPI))
    assert has_colour(image, palette.HEAT)  # each heatmap's strongest word


# ---------------------------------------------------------------------------------------------
# Per dataset
# ---------------------------------------------------------------------------------------------

def eval_report(run_dir):
    result = CliRunner().invoke(app, ["eval", str(run_dir)])
    assert result.exit_code == 0, result.output
    return written_report(result.stdout)


def test_dataset_mode_agrees_with_afa_eval(tiny_runs, tmp_path):
    out, html, png = tmp_path / "dataset.json", tmp_path / "dataset.html", tmp_path / "dataset.png"
    result = succeed("--dataset", "sst2", "--checkpoint", tiny_runs["off"], "--compare",
                     tiny_runs["default"], "--json", out, "--html", html, "--png", png)
    report = json.loads(out.read_text())
    for model, run in zip(report["models"], (tiny_runs["off"], tiny_runs["default"])):
        evaluated = eval_report(run)
        assert report["num_examples"] == evaluated["num_examples"] == 872  # the whole split
        for key in SCORE_KEYS + UNIFORM_KEYS:
            assert model["metrics"][key] == evaluated["metrics"][key], key
    assert "scores (as afa eval reports them)" in result.stdout

    for model in report["models"]:
        totals = [w["total"] for w in model["top_words"]]
        assert len(totals) == 20 and totals == sorted(totals, reverse=True)
    changes = report["largest_changes"]
    assert len(changes) == 20
    assert [abs(c["change"]) for c in changes] == sorted((abs(c["change"]) for c in changes),
                                                         reverse=True)
    for change in changes:
        assert change["change"] == pytest.approx(change["totals"]["AFA"] - change["totals"]["baseline"])
    frequent = set(json.loads((tiny_runs["off"] / "frequent_words.json").read_text())["words"])
    assert [c["frequent"] for c in changes] == [c["word"] in frequent for c in changes]
    assert [c["lexicon"] for c in changes] == [is_lexicon_word(c["word"], sentiment_lexicon())
                                               for c in changes]
    for example in report["examples"]:
        assert example["label"] in ("negative", "positive") and len(example["readings"]) == 2

    page = html.read_text(encoding="utf-8")
    assert_standalone(page)
    for change in changes:
        assert f"<td>{escape(change['word'])}" in page
    for key in SCORE_KEYS:
        assert f"<td>{key}</td>" in page
    assert png_pixels(png).shape[:2] == (round(figure.DATASET_SIZE[1] * figure.DPI),
                                         round(figure.DATASET_SIZE[0] * figure.DPI))


def test_dataset_mode_with_one_model(tiny_runs, tmp_path):
    report = inspect_json(tmp_path, "--dataset", "sst2", "--checkpoint", tiny_runs["off"],
                          "--examples", "2")
    assert len(report["examples"]) == 2 and "largest_changes" in report
    assert report["largest_changes"] == []  # one model: nothing to compare
    # Every sentence of two or more words hands out one unit of attention: the top words hold
    # part of it, never more.
    top = report["models"][0]["top_words"]
    assert 0 < sum(w["total"] for w in top) <= report["num_examples"]
    assert all(w["count"] >= 1 and w["total"] > 0 for w in top)


# ---------------------------------------------------------------------------------------------
# Bad input: one line, non-zero exit, nothing written
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["", "--checkpoint", "RUN"], "Sentence 1 is empty"),
    (["fine", "   ", "--checkpoint", "RUN"], "Sentence 2 is empty"),
    (["fine", "--checkpoint", "MISSING"], "does not exist"),
    (["--checkpoint", "RUN"], "Nothing to inspect"),
    (["fine", "--dataset", "sst2", "--checkpoint", "RUN"], "not both"),
    (["--file", "MISSING", "--checkpoint", "RUN"], "does not exist"),
    (["--file", "BLANK", "--checkpoint", "RUN"], "holds no sentences"),
    (["--file", "LATIN1", "--checkpoint", "RUN"], "line 2 (byte 8, 0xe9) is not UTF-8"),
    (["fine", "--checkpoint", "RUN", "--layer", "1"], "--layer 1 is out of range"),
    (["fine", "--checkpoint", "RUN", "--head", "12"], "--head 12 is out of range"),
    (["fine", "--checkpoint", "RUN", "--method", "gradient"], "choose one of cls, rollout"),
    (["fine", "--checkpoint", "RUN", "--method", "rollout", "--head", "0"], "does not combine"),
    (["--dataset", "sst2", "--checkpoint", "RUN", "--all-layers"], "does not combine"),
    (["--dataset", "imdbx", "--checkpoint", "RUN"], "Unknown dataset 'imdbx'"),
])
def test_bad_input_gets_one_clear_line(tiny_runs, tmp_path, args, message):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n", encoding="utf-8")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"fine\ncaf\xe9\n")
    paths = {"RUN": tiny_runs["off"], "MISSING": tmp_path / "nowhere", "BLANK": blank,
             "LATIN1": latin1}
    assert message in refuse(*[paths.get(a, a) for a in args])


def test_existing_output_is_refused_and_kept(tiny_runs, tmp_path):
    kept = tmp_path / "page.html"
    kept.write_text("keep me", encoding="utf-8")
    line = refuse("fine", "--checkpoint", tiny_runs["off"], "--html", kept,
                  "--png", tmp_path / "new.png", "--json", tmp_path / "new.json")
    assert "already exists" in line
    assert kept.read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


@pytest.mark.parametrize("mode", [["fine"], ["--dataset", "sst2"]])
@pytest.mark.parametrize("option", ["--html", "--png", "--json"])
def test_an_output_under_a_file_is_refused_before_any_scoring(tiny_runs, tmp_path, mode, option):
    afile = tmp_path / "afile"
    afile.write_text("keep me", encoding="utf-8")
    line = refuse(*mode, "--checkpoint", tiny_runs["off"], option, afile / f"p.{option[2:]}")
    assert f"{afile} is a file, not a folder" in line and line.startswith(f"error: {option} ")
    assert afile.read_text(encoding="utf-8") == "keep me"


def test_a_png_not_named_png_is_refused(tiny_runs, tmp_path):
    line = refuse("fine", "--checkpoint", tiny_runs["off"], "--png", tmp_path / "x.jpg")
    assert "written as a PNG image; name it x.png" in line and not (tmp_path / "x.jpg").exists()


def test_batch_size_and_device_change_no_number(tiny_runs, tmp_path):
    one_at_a_time = inspect_json(tmp_path, *SENTENCES, "--checkpoint", tiny_runs["off"],
                                 "--device", "cpu", "--batch-size", "1")
    together = inspect_json(tmp_path, *SENTENCES, "--checkpoint", tiny_runs["off"])
    for a, b in zip(one_at_a_time["sentences"], together["sentences"], strict=True):
        assert a["readings"][0]["weights"] == pytest.approx(b["readings"][0]["weights"], abs=1e-5)
