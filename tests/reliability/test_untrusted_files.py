"""Files bootvid reads may come from anyone: weights load from safetensors (or, for training
checkpoints, ``torch.load(weights_only=True)``), never through pickle, and paths read from
files stay where they belong."""

from __future__ import annotations

import json
import os
import re

import pytest

import bootvid

PACKAGE = os.path.dirname(bootvid.__file__)


def _sources():
    for root, _, names in os.walk(PACKAGE, followlinks=True):
        for n in names:
            if n.endswith(".py"):
                path = os.path.join(root, n)
                with open(path, encoding="utf-8") as f:
                    yield path, f.read()


def test_nothing_is_unpickled():
    found = []
    for path, text in _sources():
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                found.append(f"{path}: {m.group(0)}")
        if re.search(r"^\s*import pickle|pickle\.loads?\(|import dill|joblib\.load", text, re.M):
            found.append(f"{path}: pickle")
    assert not found, found
    assert sum(1 for _ in _sources()) > 30  # the scan saw the package


def test_a_pickled_checkpoint_is_refused(tmp_path):
    """A training checkpoint holding an arbitrary object (what a malicious file would carry)
    is not loaded: the trainer falls back to no checkpoint and says so."""
    import torch

    from bootvid.train import checkpoint as ckpt

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = ckpt.checkpoint_path(str(tmp_path), 1)
    os.makedirs(os.path.dirname(path))
    torch.save({"step": 1, "x": Payload()}, path)
    with pytest.warns(UserWarning, match="cannot be read"):
        assert ckpt.load_latest_checkpoint(str(tmp_path)) is None
    assert not (tmp_path / "pwned").exists()


def test_an_edited_latent_index_cannot_read_outside_the_cache(tmp_path):
    from dit_helpers import make_cache, structured_latents

    from bootvid.diffusion import LatentCacheError, LatentDataset

    root = make_cache(tmp_path / "cache", structured_latents(2))
    index_path = os.path.join(root, "latents.json")
    with open(index_path) as f:
        index = json.load(f)
    index["shards"][0]["file"] = "../../secret.safetensors"
    with open(index_path, "w") as f:
        json.dump(index, f)
    with pytest.raises(LatentCacheError, match="lies outside the cache directory"):
        LatentDataset(root)


def test_a_dit_loads_from_safetensors_and_json_only(tmp_path):
    from bootvid.diffusion import DiT, dit_config

    DiT(dit_config("test", in_channels=4)).save_pretrained(tmp_path / "m")
    assert sorted(os.listdir(tmp_path / "m")) == ["config.json", "model.safetensors"]
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x80\x04not safetensors")
    with pytest.raises((ValueError, OSError)):
        DiT.from_pretrained(tmp_path / "m")
