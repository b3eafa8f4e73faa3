"""Small models and videos for the evaluation tests."""

from __future__ import annotations

import pytest
import torch

from helpers import moving_frames

pytest.importorskip("av")

# ~2M parameters: encodes and decodes 64x64 clips in a fraction of a second.
TINY = dict(base_channels=16, norm_groups=4)


def _saved_tiny_model(tmp_path_factory, name: str, seed: int) -> str:
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(seed)
    d = tmp_path_factory.mktemp("models") / name
    VideoTokenizer(TokenizerConfig.preset("tiny", **TINY)).save_pretrained(d)
    return str(d)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return _saved_tiny_model(tmp_path_factory, "tok4", seed=0)


@pytest.fixture(scope="session")
def other_model_dir(tmp_path_factory):
    """Same architecture, other weights: latents of one must not decode with the other."""
    return _saved_tiny_model(tmp_path_factory, "other", seed=1)


@pytest.fixture(scope="session")
def video_file(tmp_path_factory):
    """Factory: make_video(T, H, W, fps=12, name=...) -> path of an h264 mp4."""
    from bootvid.data import write_video

    root = tmp_path_factory.mktemp("videos")

    def make(T: int, H: int = 48, W: int = 64, fps: float = 12.0, name: str | None = None,
             seed: int = 0) -> str:
        path = root / (name or f"v{T}_{H}x{W}_{fps:g}_{seed}.mp4")
        if not path.exists():
            write_video(path, moving_frames(T, H, W, seed), fps)
        return str(path)

    return make
