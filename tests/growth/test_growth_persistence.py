"""Saving and loading grown tokenizers: the config records the growth history and
from_pretrained rebuilds the same nested model."""

from __future__ import annotations

import json

import pytest
import torch
from grow_helpers import make_base, make_grown, make_video

from bootvid.growth import GrownTokenizer, from_config
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer, read_config


def test_round_trip_16x(tmp_path):
    tok = make_grown(make_grown(make_base(seed=3, norm_center=False), seed=4),
                     seed=5, mixing="channel_scale", norm_center=True)
    tok.save_pretrained(tmp_path)
    history = json.loads((tmp_path / "config.json").read_text())["growth"]
    assert [s["mixing"] for s in history] == ["position_scale_shift", "channel_scale"]
    assert read_config(tmp_path) == tok.config
    loaded = VideoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, GrownTokenizer) and not loaded.training
    assert loaded.config == tok.config and loaded.temporal_compression == 16
    assert isinstance(loaded.lower, GrownTokenizer) and type(loaded.lower.lower) is VideoTokenizer
    assert loaded.state_dict().keys() == tok.state_dict().keys()
    for k, v in tok.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    x = make_video(18)
    with torch.no_grad():
        a, pa = tok(x)
        b, pb = loaded(x)
    assert torch.equal(a, b) and torch.equal(pa.mean, pb.mean) and torch.equal(pa.logvar, pb.logvar)
    # Loading rebuilds a model ready for the next stage: lower frozen, new stage trainable.
    new = {id(p) for p in loaded.trainable_parameters()}
    assert all(p.requires_grad == (id(p) in new) for p in loaded.parameters())


def test_from_config_and_errors():
    cfg = TokenizerConfig.preset("tiny", growth=[{"factor": 2, "mixing": "none"}])
    assert cfg.temporal_compression == 8
    tok = from_config(cfg)
    assert isinstance(tok, GrownTokenizer) and tok.mixing == "none"
    with pytest.raises(ValueError, match="grown 1 time"):
        VideoTokenizer(cfg)
    with pytest.raises(ValueError, match=r"growth\[0\] must be a dict with an integer factor"):
        TokenizerConfig.preset("tiny", growth=[{"mixing": "none"}])
    with pytest.raises(ValueError, match="unknown field"):
        from_config(TokenizerConfig.preset("tiny", growth=[{"factor": 2, "width": 3}]))
    with pytest.raises(ValueError, match="mixing must be one of"):
        from_config(TokenizerConfig.preset("tiny", growth=[{"factor": 2, "mixing": "x"}]))


def test_grown_class_loader(tmp_path):
    tok8 = make_grown(make_base(), seed=1)
    tok8.save_pretrained(tmp_path / "g")
    assert isinstance(GrownTokenizer.from_pretrained(tmp_path / "g"), GrownTokenizer)
    make_base().save_pretrained(tmp_path / "plain")
    with pytest.raises(ValueError, match="never grown .*VideoTokenizer.from_pretrained"):
        GrownTokenizer.from_pretrained(tmp_path / "plain")
