"""Down- and upsampling in space and (causally) in time."""

from __future__ import annotations

import torch
from torch import nn

from .. import ops
from .conv import CausalConv3d
from .stream import StreamState


class Downsample(nn.Module):
    """A strided causal 3x3x3 conv: ``(1 + ft*k, H, W) -> (1 + k, H/fs, W/fs)``.

    MagViT-v2 replaces average pooling by strided convs, so the model learns what to keep.
    Streaming needs the first chunk to hold ``1 + ft*m`` frames and later ones multiples of
    ``ft`` (the stride phase must line up with the whole clip's).
    """

    def __init__(self, channels: int, out_channels: int | None = None, temporal: int = 1,
                 spatial: int = 2, pad_mode: str = "replicate") -> None:
        super().__init__()
        self.temporal, self.spatial = temporal, spatial
        kt = 3 if temporal <= 3 else temporal
        self.conv = CausalConv3d(channels, out_channels or channels, (kt, 3, 3),
                                 stride=(temporal, spatial, spatial), padding=(1, 1),
                                 pad_mode=pad_mode)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        return self.conv(x, state)

    def extra_repr(self) -> str:
        return f"temporal={self.temporal}, spatial={self.spatial}"


class Upsample(nn.Module):
    """Causal conv to ``C * ft * fs * fs`` channels, then depth-to-space (``pixel_shuffle_3d``).

    Sub-pixel upsampling has no checkerboard of transposed convs and no fixed interpolation.
    In time it is causal: low-rate frame ``t`` becomes frames ``ft*(t-1)+1 .. ft*t`` and the
    first frame only itself (the ``ft - 1`` extra frames in front are dropped), so
    ``1 + k -> 1 + ft*k``. Later stream chunks keep all their frames (the drop happens once,
    at the clip's start).
    """

    def __init__(self, channels: int, out_channels: int | None = None, temporal: int = 1,
                 spatial: int = 2, pad_mode: str = "replicate") -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.temporal, self.spatial = temporal, spatial
        self.factors = (temporal, spatial, spatial)
        self.conv = CausalConv3d(channels, out_channels * temporal * spatial * spatial, 3,
                                 pad_mode=pad_mode)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        first = state is None or state.is_first(self)
        h = self.conv(x, state)
        if state is not None:
            state.mark_seen(self)
        return ops.pixel_shuffle_3d(h, self.factors, causal=first)

    def extra_repr(self) -> str:
        return f"temporal={self.temporal}, spatial={self.spatial}"
