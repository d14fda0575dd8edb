from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from afa_cli.afa import masking
from afa_cli.afa.config import AFAConfig, Policy
from afa_cli.afa.method import AFA, Forward
from afa_cli.config import compose_config, group_options
from afa_cli.errors import UserError
from conftest import run_afa


def test_defaults_compose_every_group():
    cfg = compose_config([])
    assert (cfg.dataset.name, cfg.model.name, cfg.train.epochs) == ("sst2", "minilm", 1)
    assert cfg.afa.enabled and cfg.afa.policy == "complement" and cfg.afa.reward == "discriminator"
    assert cfg.afa.pg_weight == 0.1 and cfg.afa.mask_ratio == 0.15 and cfg.afa.warmup_steps == 50


def test_group_options_and_overrides():
    assert group_options("afa") == ["attention", "bare", "default", "divergence", "off", "random",
                                    "uniform"]
    assert set(group_options("dataset")) >= {"sst2", "mr", "cr", "sst5"}
    cfg = compose_config(["afa=uniform", "dataset=mr", "train=quick", "seed=3", "+extra.note=hi"])
    assert cfg.afa.policy == "uniform" and cfg.afa.masked_ce_weight == 1.0
    assert cfg.dataset.name == "mr" and cfg.train.max_train_samples == 8000 and cfg.seed == 3
    assert cfg.extra.note == "hi"
    assert compose_config(["afa=off"]).afa.enabled is False


@pytest.mark.parametrize("overrides, message", [
    (["dataset=imdb"], "Unknown dataset 'imdb'. Valid choices: advglue_sst2, cr, imdb_cad, mr, sst2, sst5, yelp."),
    (["train.lrate=1"], "Unknown config key 'train.lrate'. Valid keys under 'train': "),
    (["afa.mask_ratio=1.5"], "afa.mask_ratio must be in (0, 1]"),
    (["afa.policy=greedy"],
     "afa.policy must be one of complement, attention, uniform, got 'greedy'"),
    (["train.lr=abc"], "train.lr must be a number, got 'abc'"),
    (["seed=abc"], "seed must be an integer, got 'abc'"),
    (["train.batch_size=1.5"], "train.batch_size must be an integer, got 1.5"),
    (["afa.enabled=maybe"], "afa.enabled must be true or false, got 'maybe'"),
    (["train.batch_size=0"], "train.batch_size must be >= 1"),
    (["model.num_layers=0"], "model.num_layers must be >= 1"),
    (["dataset.label_names=[a]"], "dataset.label_names must have dataset.num_labels entries"),
    (["model=smollm2", "model.lora.r=x"], "model.lora.r must be an integer (or null), got 'x'"),
    (["model.lora.r=8"], "Unknown config key 'model.lora.r'. Valid keys under 'model': "),
])
def test_bad_overrides_are_one_clear_line(overrides, message):
    with pytest.raises(UserError) as err:
        compose_config(overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_user_config_dir_adds_options(tmp_path):
    (tmp_path / "dataset").mkdir()
    base = OmegaConf.to_container(compose_config([]).dataset)
    base.update(name="mydata", local_dir="mydata")
    OmegaConf.save(OmegaConf.create(base), tmp_path / "dataset" / "mydata.yaml")
    cfg = compose_config(["dataset=mydata"], [tmp_path])
    assert cfg.dataset.name == "mydata"
    with pytest.raises(UserError, match="Valid choices: .*mydata"):
        compose_config(["dataset=nothere"], [tmp_path])


def test_cli_cfg_prints_resolved_config_and_bad_key_exits_nonzero(tmp_path):
    shown = run_afa("train", "--cfg", "afa=off", "seed=7")
    printed = OmegaConf.create(shown.stdout)
    assert printed.seed == 7 and printed.afa.enabled is False
    bad = run_afa("train", "train.nope=1", f"output_dir={tmp_path}", check=False)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "Unknown config key 'train.nope'" in bad.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_option_composes_and_the_default_options_restate_nothing():
    for group in ("dataset", "model", "afa", "train"):
        for option in group_options(group):
            compose_config([f"{group}={option}"])
    cfg = compose_config([])
    assert OmegaConf.to_container(cfg.afa) == {**asdict(AFAConfig()), "enabled": True,
                                               "layer": -1, "collapse_entropy": 0.2}
    assert compose_config(["model=smollm2"]).model.lora.r == 8


def test_saved_config_reads_choices_as_strings(tmp_path):
    cfg = compose_config(["afa=attention"])
    assert cfg.afa.policy == "attention" and cfg.afa.policy is Policy.attention
    OmegaConf.save(cfg, tmp_path / "config.yaml", resolve=True)
    assert "policy: attention" in (tmp_path / "config.yaml").read_text()
    saved = OmegaConf.load(tmp_path / "config.yaml")
    assert AFAConfig(**{k: saved.afa[k] for k in asdict(AFAConfig())}).policy is Policy.attention


def test_user_options_get_the_schema_defaults_and_are_type_checked(tmp_path):
    (tmp_path / "afa").mkdir()
    (tmp_path / "afa" / "mine.yaml").write_text("policy: attention\nmask_ratio: 0.3\n")
    (tmp_path / "afa" / "bad.yaml").write_text("num_masks: many\n")
    cfg = compose_config(["afa=mine"], [tmp_path])
    assert cfg.afa.policy == "attention" and cfg.afa.mask_ratio == 0.3
    assert cfg.afa.enabled and cfg.afa.warmup_steps == AFAConfig().warmup_steps
    with pytest.raises(UserError, match=r"^Invalid config: afa.num_masks must be an integer, "
                                        r"got 'many' \(in afa/bad.yaml\)\.$"):
        compose_config(["afa=bad"], [tmp_path])


def test_sweep_presets_compose_as_an_added_node():
    assert compose_config(["+sweep=mask_ratio"]).sweep.grids[1] == "afa=off seed=1,2,3"


def test_an_unknown_choice_never_falls_through_to_another():
    with pytest.raises(ValueError, match="is not a valid Policy"):
        AFAConfig(policy="greedy")
    attention, num_words = torch.full((1, 2), 0.5), torch.tensor([2])
    with pytest.raises(ValueError, match="unknown mask policy"):
        masking.mask_policy(attention, num_words, "greedy")
    ids, words = torch.tensor([[5, 6]]), torch.tensor([[0, 1]])
    with pytest.raises(ValueError, match="unknown mask_with"):
        masking.apply_masks(ids, torch.ones_like(ids), words, torch.ones(1, 1, 2, dtype=torch.bool),
                            "blank", 0)
    afa = AFA(AFAConfig(reward="random"), hidden_size=4, replacement_id=0, seed=0)
    afa.cfg.reward = "lucky"
    forward = Forward(torch.zeros(1, 2), torch.zeros(1, 4), None)
    with pytest.raises(ValueError, match="unknown reward 'lucky'"):
        afa._rewards(forward, forward, 1, {})


def _readme_afa_defaults() -> dict[str, str]:
    """key -> default as the README's table of AFA keys states it."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("### AFA keys (`afa.*`)", 1)[1].split("\n## ", 1)[0]
    stated = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            keys = [k.strip(" `") for k in cells[0].split(",")]
            stated.update(zip(keys, [d.strip() for d in cells[1].split(",")], strict=True))
    return stated


def test_readme_states_the_schemas_afa_defaults():
    stated = _readme_afa_defaults()
    afa = compose_config([]).afa
    assert set(stated) == set(afa)
    for key, text in stated.items():
        value = afa[key]
        if isinstance(value, bool):
            assert text == str(value).lower(), key
        elif isinstance(value, (int, float)):
            assert float(text) == value, key
        else:
            assert text == str(value), key


@pytest.mark.parametrize("override, message", [
    ("sst2", "sst2 is not an override (key=value). Did you mean dataset=sst2?"),
    ("quick", "quick is not an override (key=value). Did you mean train=quick?"),
    ("nonsense", "nonsense is not an override (key=value). Write key=value, +key=value or group=option."),
    ("seed=1,2", "seed=1,2 lists several values: one run takes one value; run each with afa sweep seed=1,2"),
    ("name=a/b", "Invalid config: name must be one folder name: letters, digits and . _ = + -."),
    ("train.max_train_samples=0", "Invalid config: train.max_train_samples must be >= 1."),
    ("train.patience=0", "Invalid config: train.patience must be >= 1."),
    ("train.lr=1e-4)", "train.lr=1e-4) cannot be read (extraneous input ')' expecting <EOF>): "
                       "write key=value, and quote a value"),
    ("+seed=3", "+seed=... adds a key, and seed is already in the config: set it with seed=VALUE (no +)."),
])
def test_common_mistakes_get_their_fix(override, message):
    with pytest.raises(UserError) as err:
        compose_config([override])
    assert str(err.value).startswith(message)


def test_a_run_folder_given_as_an_override_suggests_resume(tmp_path):
    with pytest.raises(UserError, match=f"To continue a stopped run: afa train --resume {tmp_path}"):
        compose_config([str(tmp_path)])
