"""save_pretrained / from_pretrained: exact round trip and clear errors."""

from __future__ import annotations

import json
import os

import pytest
import torch
from tok_helpers import make_tokenizer, make_video

from bootvid.tokenizer import CheckpointError, TokenizerConfig, VideoTokenizer, read_config


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tok = make_tokenizer(seed=3, latent_channels=8, norm_center=False)
    d = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(d)
    return tok, d


def test_round_trip_same_outputs(saved):
    tok, d = saved
    assert sorted(os.listdir(d)) == ["config.json", "model.safetensors"]  # no temp files left
    loaded = VideoTokenizer.from_pretrained(d)
    assert loaded.config == tok.config and not loaded.training
    assert read_config(d) == tok.config
    x = make_video(6)
    with torch.no_grad():
        a, pa = tok(x)
        b, pb = loaded(x)
    assert torch.equal(a, b) and torch.equal(pa.mean, pb.mean) and torch.equal(pa.logvar, pb.logvar)
    for k, v in tok.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_round_trip_bf16_and_channels_last(tmp_path):
    tok = make_tokenizer(seed=4).to(torch.bfloat16).to(memory_format=torch.channels_last_3d)
    tok.save_pretrained(tmp_path)
    loaded = VideoTokenizer.from_pretrained(tmp_path)
    assert next(loaded.parameters()).dtype == torch.bfloat16
    for k, v in tok.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    as_fp32 = VideoTokenizer.from_pretrained(tmp_path, dtype=torch.float32)
    assert next(as_fp32.parameters()).dtype == torch.float32


def _copy(src, dst):
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        with open(os.path.join(src, name), "rb") as f, open(os.path.join(dst, name), "wb") as g:
            g.write(f.read())


def test_missing_files(saved, tmp_path):
    _, d = saved
    with pytest.raises(FileNotFoundError, match="tokenizer directory not found"):
        VideoTokenizer.from_pretrained(tmp_path / "nope")
    _copy(d, tmp_path / "a")
    os.remove(tmp_path / "a" / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        VideoTokenizer.from_pretrained(tmp_path / "a")
    _copy(d, tmp_path / "b")
    os.remove(tmp_path / "b" / "config.json")
    with pytest.raises(FileNotFoundError, match="config.json"):
        VideoTokenizer.from_pretrained(tmp_path / "b")


def test_corrupt_files(saved, tmp_path):
    _, d = saved
    _copy(d, tmp_path / "a")
    p = tmp_path / "a" / "model.safetensors"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a readable safetensors"):
        VideoTokenizer.from_pretrained(tmp_path / "a")
    p.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match=r"model\.safetensors"):
        VideoTokenizer.from_pretrained(tmp_path / "a")
    _copy(d, tmp_path / "b")
    (tmp_path / "b" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        VideoTokenizer.from_pretrained(tmp_path / "b")
    (tmp_path / "b" / "config.json").write_text(json.dumps({"base_channels": -1}))
    with pytest.raises(ValueError, match=r"config\.json: TokenizerConfig: base_channels"):
        VideoTokenizer.from_pretrained(tmp_path / "b")


def test_mismatched_shapes_name_file_and_tensor(saved, tmp_path):
    _, d = saved
    _copy(d, tmp_path / "a")
    cfg = read_config(d).to_dict()
    cfg["latent_channels"] = 16  # the saved model has 8: encoder.conv_out differs
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError,
                       match=r"model\.safetensors: tensor 'encoder\.conv_out\.weight' has shape "
                             r"\(16, 128, 1, 1, 1\).*expects \(32, 128, 1, 1, 1\)"):
        VideoTokenizer.from_pretrained(tmp_path / "a")
    cfg["latent_channels"] = 8
    cfg["num_mid_blocks"] = 2  # extra blocks: missing tensors
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"missing tensor\(s\) \['encoder\.mid\.1\."):
        VideoTokenizer.from_pretrained(tmp_path / "a")


def test_save_overwrites_atomically(tmp_path):
    a, b = make_tokenizer(seed=1), make_tokenizer(seed=2)
    a.save_pretrained(tmp_path)
    b.save_pretrained(tmp_path)
    loaded = VideoTokenizer.from_pretrained(tmp_path)
    assert torch.equal(loaded.encoder.conv_in.weight, b.encoder.conv_in.weight)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    assert TokenizerConfig.from_file(tmp_path / "config.json") == b.config
