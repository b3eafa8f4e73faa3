"""A tiny tokenizer, a labelled folder of synthetic videos and hand-made latent caches."""

from __future__ import annotations

import os

import pytest
import torch

from dit_helpers import make_cache, structured_latents
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


@pytest.fixture
def cache_factory(tmp_path):
    def make(n=8, shape=(4, 2, 4, 4), labels=None, classes=(), name="cache"):
        return make_cache(tmp_path / name, structured_latents(n, shape), labels, classes)

    return make
