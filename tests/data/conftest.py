"""Small generated videos for the bootvid.data tests (no real footage needed)."""

from __future__ import annotations

import numpy as np
import pytest


def moving_frames(frames: int = 40, height: int = 48, width: int = 64) -> np.ndarray:
    """uint8 (T, H, W, 3) frames that all differ: a drifting red gradient, a bright green bar
    moving down, and a blue level that rises with the frame index (so a decoded frame can be
    told apart from its neighbours even after lossy coding)."""
    t = np.arange(frames).reshape(-1, 1, 1)
    y = np.arange(height).reshape(1, -1, 1)
    x = np.arange(width).reshape(1, 1, -1)
    out = np.zeros((frames, height, width, 3), np.uint8)
    out[..., 0] = (x * 4 + t * 9) % 256
    out[..., 1] = np.where(np.abs(y - (t * 2) % height) <= 1, 255, 40)
    out[..., 2] = (t * 6) % 256
    return out


@pytest.fixture(scope="session")
def make_frames():
    return moving_frames


@pytest.fixture(scope="session")
def make_video_file():
    """``make_video_file(path, frames=40, codec="libx264", gop_size=8, **write_video_kwargs)``
    writes ``moving_frames`` and returns the path."""
    from bootvid.data import write_video

    def make(path, frames: int = 40, codec: str = "libx264", gop_size: int = 8,
             height: int = 48, width: int = 64, **kwargs):
        write_video(path, moving_frames(frames, height, width), fps=25, codec=codec,
                    gop_size=gop_size, **kwargs)
        return str(path)

    return make


def decode_all(path) -> np.ndarray:
    """The reference: every frame, decoded from the beginning with plain PyAV."""
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="session")
def reference_frames():
    return decode_all
