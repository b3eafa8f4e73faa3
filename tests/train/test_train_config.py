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


def _with_sources(sources, **data):
    return TrainConfig.for_preset("fast").merged(
        {"data.sources": sources, **{f"data.{k}": v for k, v in data.items()}})


def test_sources_get_a_default_weight_and_round_trip(tmp_path):
    cfg = _with_sources([{"kind": "stills", "path": "photos"}, {"kind": "synthetic"}],
                        image_ratio=0.25)
    assert cfg.data.sources == [{"kind": "stills", "path": "photos", "weight": 1.0},
                                {"kind": "synthetic", "weight": 1.0}]
    p = tmp_path / "c.yaml"
    p.write_text(cfg.to_yaml())
    assert TrainConfig.from_yaml(p) == cfg


@pytest.mark.parametrize("sources, extra, match", [
    ([{"kind": "films", "path": "x"}], {}, r"data.sources\[0\].kind: choose one of"),
    ([{"kind": "stills", "path": "x", "weight": 0}], {},
     r"data.sources\[0\].weight: must be a number > 0 \(to leave a source out, remove it\)"),
    ([{"kind": "stills", "path": "x"}, {"kind": "videos", "path": "v", "weight": -1}], {},
     r"data.sources\[1\].weight"),
    ([{"kind": "stills", "path": "x", "weight": "heavy"}], {}, r"data.sources\[0\].weight"),
    ([{"kind": "stills"}], {}, r"data.sources\[0\].path: a stills source needs a path"),
    ([{"kind": "synthetic", "path": "x"}], {}, r"synthetic clips read no files"),
    ([{"kind": "stills", "path": "x", "every": 2}], {}, r"unknown key\(s\) \['every'\]"),
    (["photos/"], {}, r"data.sources\[0\]: expected a mapping"),
    ([], {}, "data.sources: an empty list"),
    ([{"kind": "stills", "path": "x"}], {"path": "videos"}, "data.path and data.sources"),
    (None, {"image_ratio": 1.0}, r"data.image_ratio: the share of single-frame items"),
])
def test_bad_sources_name_the_entry_and_rule(sources, extra, match):
    with pytest.raises(ConfigError, match=match):
        _with_sources(sources, **extra)


def test_source_paths_are_resolved_and_checked(tmp_path, monkeypatch):
    from bootvid.train.config import ConfigPathError

    (tmp_path / "photos").mkdir()
    monkeypatch.chdir(tmp_path)
    cfg = _with_sources([{"kind": "stills", "path": "photos"}, {"kind": "synthetic"}])
    resolved = cfg.with_resolved_paths()
    assert resolved.data.sources[0]["path"] == str(tmp_path / "photos")
    assert "path" not in resolved.data.sources[1]
    missing = _with_sources([{"kind": "stills", "path": "photos"},
                             {"kind": "videos", "path": "clips"}])
    with pytest.raises(ConfigPathError, match=r"data.sources\[1\].path: 'clips' does not exist"):
        missing.with_resolved_paths()


def test_a_source_takes_a_list_of_paths_and_weights_written_as_strings(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path)
    cfg = _with_sources([{"kind": "videos", "path": ["a", "b"], "weight": "1e-1"}])
    assert cfg.data.sources[0]["weight"] == 0.1
    assert cfg.with_resolved_paths().data.sources[0]["path"] == [str(tmp_path / "a"),
                                                                str(tmp_path / "b")]
    with pytest.raises(ConfigError, match=r"a videos source needs a path.*got \[\]"):
        _with_sources([{"kind": "videos", "path": []}])
