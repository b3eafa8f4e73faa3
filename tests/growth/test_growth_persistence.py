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


def _family(tmp_path, dtype=None):
    """4x, 8x, 16x saved as a family: each grown model stores only its stage."""
    tok16 = make_grown(make_grown(make_base(seed=3), seed=4), seed=5, mixing="channel_scale")
    tok8, tok4 = tok16.lower, tok16.lower.lower
    tok4.save_pretrained(tmp_path / "4x", dtype=dtype)
    tok8.save_pretrained(tmp_path / "8x", dtype=dtype, lower=tmp_path / "4x")
    tok16.save_pretrained(tmp_path / "16x", dtype=dtype, lower=tmp_path / "8x")
    return tok4, tok8, tok16


def _files_bytes(d):
    return sum(p.stat().st_size for p in d.iterdir())


def test_stage_only_family_round_trip(tmp_path):
    from safetensors import safe_open

    tok4, tok8, tok16 = _family(tmp_path)
    with safe_open(str(tmp_path / "16x" / "model.safetensors"), "pt") as f:
        keys, meta = set(f.keys()), f.metadata()
    assert meta["lower"] == "../8x"
    assert not any(k.startswith(("encoder.lower.", "decoder.lower.")) for k in keys)
    assert keys == {n for n in tok16.state_dict() if ".lower." not in f".{n}"}
    # Each weight is stored once: the stage files are smaller than the whole 4x model.
    assert _files_bytes(tmp_path / "16x") < _files_bytes(tmp_path / "4x")
    loaded = VideoTokenizer.from_pretrained(tmp_path / "16x")
    assert loaded.config == tok16.config and loaded.temporal_compression == 16
    assert loaded.state_dict().keys() == tok16.state_dict().keys()
    for k, v in tok16.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    new = {id(p) for p in loaded.trainable_parameters()}
    assert all(p.requires_grad == (id(p) in new) for p in loaded.parameters())
    # The family moves as a whole (the lower model is named by a relative path).
    import shutil

    moved = tmp_path / "elsewhere"
    for name in ("4x", "8x", "16x"):
        shutil.copytree(tmp_path / name, moved / name)
    shutil.rmtree(tmp_path / "4x")
    again = VideoTokenizer.from_pretrained(moved / "16x")
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in tok16.state_dict().items())


def test_stage_only_bf16(tmp_path):
    tok4, tok8, tok16 = _family(tmp_path, dtype=torch.bfloat16)
    loaded = VideoTokenizer.from_pretrained(tmp_path / "8x")
    assert next(loaded.parameters()).dtype == torch.bfloat16
    as32 = VideoTokenizer.from_pretrained(tmp_path / "8x", dtype=torch.float32)
    for k, v in tok8.state_dict().items():
        assert torch.equal(v.to(torch.bfloat16).float(), as32.state_dict()[k]), k


def test_stage_only_errors(tmp_path):
    import shutil

    tok4, tok8, tok16 = _family(tmp_path)
    with pytest.raises(ValueError, match="grown tokenizers only"):
        tok4.save_pretrained(tmp_path / "x", lower=tmp_path / "4x")
    # A lower directory that holds other weights is refused at save time ...
    other8 = make_grown(make_base(seed=9), seed=1)
    with pytest.raises(ValueError, match="other weights than this model's lower"):
        other8.save_pretrained(tmp_path / "y", lower=tmp_path / "4x")
    with pytest.raises(ValueError, match="another config"):
        tok16.save_pretrained(tmp_path / "z", lower=tmp_path / "4x")
    # ... and at load time when it changed afterwards or is missing.
    make_base(seed=11).save_pretrained(tmp_path / "4x")
    with pytest.raises(ValueError, match="other weights than the ones this model was grown on"):
        VideoTokenizer.from_pretrained(tmp_path / "8x")
    shutil.rmtree(tmp_path / "4x")
    with pytest.raises(FileNotFoundError, match="lower model .*4x is missing"):
        VideoTokenizer.from_pretrained(tmp_path / "8x")
