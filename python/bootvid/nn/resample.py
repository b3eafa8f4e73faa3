"""Down- and upsampling in space and (causally) in time, with optional parameter-free shortcuts."""

from __future__ import annotations

import torch
from torch import nn

from .. import ops
from .conv import CausalConv3d
from .stream import StreamState


def space_time_to_channel_mean(x: torch.Tensor, factors: tuple[int, int, int], out_channels: int,
                               first: bool) -> torch.Tensor:
    """Parameter-free downsampling (DC-AE's residual path, Wan 2.2's AvgDown3D): causal
    space/time-to-depth, then the mean of each group of consecutive channels, down to
    ``out_channels``. On the first chunk the first frame is replicated in front, as the
    strided causal conv beside it pads, so ``1 + ft*k`` frames give ``1 + k``."""
    y = ops.pixel_unshuffle_3d(x, factors, causal=first)
    B, C, T, H, W = y.shape
    return y.view(B, out_channels, C // out_channels, T, H, W).mean(dim=2)


def channel_to_space_time_repeat(x: torch.Tensor, factors: tuple[int, int, int],
                                 out_channels: int, first: bool) -> torch.Tensor:
    """Parameter-free upsampling (DC-AE, Wan 2.2's DupUp3D): repeat each channel up to
    ``out_channels * ft*fh*fw`` channels, then causal depth-to-space."""
    r = out_channels * factors[0] * factors[1] * factors[2] // x.shape[1]
    return ops.pixel_shuffle_3d(x.repeat_interleave(r, dim=1), factors, causal=first)


def check_shortcut(in_channels: int, out_channels: int, volume: int, where: str) -> None:
    """The shortcut's channel rule: down, ``in * volume`` sub-pixel channels are averaged in
    equal groups to ``out``; up, ``out * volume`` channels are filled by repeating ``in``."""
    down = where == "Downsample"
    wide, narrow = (in_channels * volume, out_channels) if down else (out_channels * volume,
                                                                        in_channels)
    if wide % narrow:
        raise ValueError(f"{where}: a parameter-free shortcut from {in_channels} to "
                         f"{out_channels} channels over {volume} sub-pixels needs {narrow} to "
                         f"divide {wide} (channel counts such as 64 and 128 work)")


class Downsample(nn.Module):
    """A strided causal 3x3x3 conv: ``(1 + ft*k, H, W) -> (1 + k, H/fs, W/fs)``.

    MagViT-v2 replaces average pooling by strided convs, so the model learns what to keep.
    ``shortcut=True`` adds :func:`space_time_to_channel_mean` of the input to the conv's output
    (DC-AE): the block then starts near a plain average and the conv learns a residual.
    Streaming needs the first chunk to hold ``1 + ft*m`` frames and later ones multiples of
    ``ft`` (the stride phase must line up with the whole clip's).
    """

    def __init__(self, channels: int, out_channels: int | None = None, temporal: int = 1,
                 spatial: int = 2, pad_mode: str = "replicate", shortcut: bool = False) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.temporal, self.spatial = temporal, spatial
        self.factors = (temporal, spatial, spatial)
        self.out_channels, self.shortcut = out_channels, shortcut
        if shortcut:
            check_shortcut(channels, out_channels, temporal * spatial * spatial, "Downsample")
        kt = 3 if temporal <= 3 else temporal
        self.conv = CausalConv3d(channels, out_channels, (kt, 3, 3),
                                 stride=(temporal, spatial, spatial), padding=(1, 1),
                                 pad_mode=pad_mode)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        if not self.shortcut:
            return self.conv(x, state)
        first = state is None or state.is_first(self)
        skip = space_time_to_channel_mean(x, self.factors, self.out_channels, first)
        y = self.conv(x, state)
        if state is not None:
            state.mark_seen(self)
        return y.add_(skip)

    def extra_repr(self) -> str:
        return f"temporal={self.temporal}, spatial={self.spatial}, shortcut={self.shortcut}"


class Upsample(nn.Module):
    """Causal conv to ``C * ft * fs * fs`` channels, then depth-to-space (``pixel_shuffle_3d``).

    Sub-pixel upsampling has no checkerboard of transposed convs and no fixed interpolation.
    In time it is causal: low-rate frame ``t`` becomes frames ``ft*(t-1)+1 .. ft*t`` and the
    first frame only itself (the ``ft - 1`` extra frames in front are dropped), so
    ``1 + k -> 1 + ft*k``. Later stream chunks keep all their frames (the drop happens once,
    at the clip's start). ``shortcut=True`` adds :func:`channel_to_space_time_repeat` of the
    input (DC-AE): nearest-neighbour upsampling in time and space, input channels spread over
    the sub-pixels when there are more of them than output channels.
    """

    def __init__(self, channels: int, out_channels: int | None = None, temporal: int = 1,
                 spatial: int = 2, pad_mode: str = "replicate", shortcut: bool = False) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.temporal, self.spatial = temporal, spatial
        self.factors = (temporal, spatial, spatial)
        self.out_channels, self.shortcut = out_channels, shortcut
        if shortcut:
            check_shortcut(channels, out_channels, temporal * spatial * spatial, "Upsample")
        self.conv = CausalConv3d(channels, out_channels * temporal * spatial * spatial, 3,
                                 pad_mode=pad_mode)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        first = state is None or state.is_first(self)
        h = self.conv(x, state)
        if self.shortcut:  # repeat, then (below) the one depth-to-space of both paths
            h = h.add_(x.repeat_interleave(h.shape[1] // x.shape[1], dim=1))
        if state is not None:
            state.mark_seen(self)
        return ops.pixel_shuffle_3d(h, self.factors, causal=first)

    def extra_repr(self) -> str:
        return f"temporal={self.temporal}, spatial={self.spatial}, shortcut={self.shortcut}"
