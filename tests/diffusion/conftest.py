"""A tiny tokenizer, a labelled folder of synthetic videos and hand-made latent caches."""

from __future__ import annotations

import json
import os

import pytest
import torch

from helpers import moving_frames


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    """A random-weight 4x tokenizer (8x spatial, 16 latent channels), ~2M parameters."""
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("tok") / "tok4"
    VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4)).save_pretrained(d)
    return str(d)


@pytest.fixture(scope="session")
def video_folder(tmp_path_factory):
    """data/cats/{a,b}.mkv and data/dogs/c.mkv (lossless, 40x48): classes cats and dogs;
    a: 20 frames, b: 13, c: 5 (shorter than one 9-frame clip)."""
    pytest.importorskip("av")
    from bootvid.data import write_video

    root = tmp_path_factory.mktemp("videos") / "data"
    for cls, name, T, seed in (("cats", "a", 20, 0), ("cats", "b", 13, 1), ("dogs", "c", 5, 2),
                               ("dogs", "d", 9, 3)):
        os.makedirs(root / cls, exist_ok=True)
        write_video(root / cls / f"{name}.mkv", moving_frames(T, 40, 48, seed), 12, codec="ffv1")
    return str(root)


def make_cache(out, clips: torch.Tensor, labels=None, classes=()) -> str:
    """A finished latent cache of ``clips`` [n, C, t, h, w] (one shard per clip), as
    ``bootvid latents`` would write it, without a tokenizer."""
    from bootvid.diffusion import latents as L

    n, C, t, h, w = clips.shape
    labels = list(labels) if labels is not None else None
    settings = {"format": L.FORMAT, "tokenizer": "none", "tokenizer_fingerprint": "0" * 16,
                "clip_frames": 1 + 4 * (t - 1), "size": 8 * h, "latent_shape": [C, t, h, w],
                "temporal_compression": 4, "spatial_compression": 8,
                "videos": [f"v{i}.mp4" for i in range(n)], "labels": labels,
                "classes": list(classes)}
    L._check_or_write_settings(str(out), settings)
    for i in range(n):
        L._write_shard(L.shard_path(str(out), i), [clips[i]], settings,
                       -1 if labels is None else labels[i], settings["videos"][i])
    L.finalize_cache(str(out))
    return str(out)


def structured_latents(n: int, shape=(4, 2, 4, 4), seed: int = 0) -> torch.Tensor:
    """``n`` latents with structure a small DiT can learn: smooth ramps times random scales."""
    g = torch.Generator().manual_seed(seed)
    C, t, h, w = shape
    ramp = torch.linspace(-1, 1, h).view(1, 1, h, 1) + torch.linspace(-1, 1, w).view(1, 1, 1, w)
    scale = torch.randn(n, C, 1, 1, 1, generator=g)
    return (scale * ramp.expand(C, t, h, w) + 0.5).contiguous()


@pytest.fixture
def cache_factory(tmp_path):
    def make(n=8, shape=(4, 2, 4, 4), labels=None, classes=(), name="cache"):
        return make_cache(tmp_path / name, structured_latents(n, shape), labels, classes)

    return make


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
