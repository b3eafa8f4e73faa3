"""Training configs: YAML <-> dataclasses, and clear errors before any work starts."""

from __future__ import annotations

import os

import pytest

from bootvid.train import ConfigError, TrainConfig

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(CONFIGS) if n.endswith(".yaml")))
def test_shipped_configs_load(name):
    cfg = TrainConfig.from_yaml(os.path.join(CONFIGS, name))
    tok = cfg.tokenizer_config()
    if "direct16x" in name:
        assert tok.temporal_compression == 16
    elif "direct8x" in name:
        assert tok.temporal_compression == 8
    else:
        assert tok.temporal_compression == 4
    if "grow" in name:  # the paper's growth stages train with L1 + KL only
        assert cfg.loss.gan == 0


def test_yaml_round_trip(tmp_path):
    cfg = TrainConfig.for_preset("small").merged({"optim.lr": 5e-4, "data.path": "videos"})
    p = tmp_path / "c.yaml"
    p.write_text(cfg.to_yaml())
    back = TrainConfig.from_yaml(p)
    assert back == cfg
    assert back.optim.betas == (0.0, 0.99)  # MagViT-v2's Adam betas by default


def test_scientific_notation_strings_are_numbers(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim:\n  lr: 1e-4\nloss:\n  kl: 1e-6\n")  # YAML 1.1 reads these as strings
    cfg = TrainConfig.from_yaml(p)
    assert cfg.optim.lr == 1e-4 and cfg.loss.kl == 1e-6


@pytest.mark.parametrize("text, match", [
    ("optim:\n  learning_rate: 0.1\n", r"unknown key\(s\) \['optim.learning_rate'\]"),
    ("optimizer:\n  lr: 0.1\n", r"unknown key\(s\) \['optimizer'\]"),
    ("optim:\n  lr: fast\n", r"optim.lr: expected a number, got 'fast'"),
    ("optim:\n  lr: 3\n", r"optim.lr: must be in \(0, 1\)"),
    ("run:\n  batch_size: 0\n", r"run.batch_size: must be >= 1"),
    ("run:\n  batch_size: 2.5\n", r"run.batch_size: expected an integer"),
    ("data:\n  hflip: maybe\n", r"data.hflip: expected true or false"),
    ("loss:\n  gan_loss: wasserstein\n", r"loss.gan_loss: choose one of"),
    ("loss:\n  perceptual: 0.1\n", r"loss.lpips_path: .*local LPIPS-VGG weights"),
    ("model:\n  preset: huge\n", r"model.preset: unknown preset 'huge'"),
    ("model:\n  temporal_compression: 32\n", r"model.temporal_compression: must be 4"),
    ("model:\n  overrides: {latent_chanels: 8}\n", r"model.overrides: .*unknown field"),
    ("grow:\n  mixing: concat\n", r"grow.mixing: choose one of"),
    ("run: 5\n", r"run: expected a mapping"),
    ("- a\n- b\n", r"expected a mapping"),
    ("optim:\n  lr: [1\n", r"not valid YAML"),
])
def test_bad_configs_name_key_and_rule(tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        TrainConfig.from_yaml(p)
    assert str(p) in str(e.value)  # the file is named


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="training config not found"):
        TrainConfig.from_yaml(tmp_path / "nope.yaml")


def test_frames_must_fit_the_compression():
    cfg = TrainConfig.for_preset("tiny").merged({"data.frames": 16})
    with pytest.raises(ConfigError, match=r"1 \+ k\*4 frames, got 16; use e.g. 17"):
        cfg.check_frames(4)
    cfg.merged({"data.frames": 33}).check_frames(16)


def test_merged_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown config key 'run.steps'"):
        TrainConfig().merged({"run.steps": 3})


def test_empty_file_gives_defaults(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("")
    assert TrainConfig.from_yaml(p) == TrainConfig()


@pytest.mark.parametrize("preset", ["tiny", "fast", "small", "base"])
def test_shipped_preset_config_matches_the_preset_defaults(preset):
    assert TrainConfig.from_yaml(os.path.join(CONFIGS, f"{preset}.yaml")) == \
        TrainConfig.for_preset(preset)
