import pytest
from omegaconf import OmegaConf

from afa_cli.config import compose_config, group_options
from afa_cli.errors import UserError
from conftest import run_afa


def test_defaults_compose_every_group():
    cfg = compose_config([])
    assert (cfg.dataset.name, cfg.model.name, cfg.train.epochs) == ("sst2", "minilm", 1)
    assert cfg.afa.enabled and cfg.afa.policy == "complement" and cfg.afa.reward == "discriminator"
    assert cfg.afa.pg_weight == 0.1 and cfg.afa.mask_ratio == 0.15 and cfg.afa.warmup_steps == 50


def test_group_options_and_overrides():
    assert group_options("afa") == ["attention", "default", "divergence", "off", "random", "uniform"]
    assert set(group_options("dataset")) >= {"sst2", "mr", "cr", "sst5"}
    cfg = compose_config(["afa=uniform", "dataset=mr", "train=quick", "seed=3", "+extra.note=hi"])
    assert cfg.afa.policy == "uniform" and cfg.afa.masked_ce_weight == 1.0
    assert cfg.dataset.name == "mr" and cfg.train.max_train_samples == 8000 and cfg.seed == 3
    assert cfg.extra.note == "hi"
    assert compose_config(["afa=off"]).afa.enabled is False


@pytest.mark.parametrize("overrides, message", [
    (["dataset=imdb"], "Unknown dataset 'imdb'. Valid choices: cr, mr, sst2, sst5."),
    (["train.lrate=1"], "Unknown config key 'train.lrate'. Valid keys under 'train': "),
    (["afa.mask_ratio=1.5"], "afa.mask_ratio must be in (0, 1]"),
    (["afa.policy=greedy"], "afa.policy must be one of complement, attention, uniform"),
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
    cfg = compose_config(["dataset=mydata"], config_dir=tmp_path)
    assert cfg.dataset.name == "mydata"
    with pytest.raises(UserError, match="Valid choices: .*mydata"):
        compose_config(["dataset=nothere"], config_dir=tmp_path)


def test_cli_cfg_prints_resolved_config_and_bad_key_exits_nonzero(tmp_path):
    shown = run_afa("train", "--cfg", "afa=off", "seed=7")
    printed = OmegaConf.create(shown.stdout)
    assert printed.seed == 7 and printed.afa.enabled is False
    bad = run_afa("train", "train.nope=1", f"output_dir={tmp_path}", check=False)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "Unknown config key 'train.nope'" in bad.stderr
    assert list(tmp_path.iterdir()) == []
