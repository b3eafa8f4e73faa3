"""The residual block shared by encoder and decoder."""

from __future__ import annotations

import torch
from torch import nn

from .conv import CausalConv3d
from .norm import GroupNormAct
from .stream import StreamState


class ResBlock(nn.Module):
    """``x + conv(act(norm(conv(act(norm(x))))))`` with causal 3x3x3 convs (MagViT-v2).

    Norms are per-frame GroupNorm (``center=False``: the RMS-only custom norm); a 1x1x1 conv
    maps the shortcut when the channel count changes. Everything is causal, so the block
    streams exactly through a :class:`StreamState`.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, num_groups: int = 32,
                 eps: float = 1e-6, center: bool = True, pad_mode: str = "replicate") -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = GroupNormAct(in_channels, num_groups, eps, center, act="silu")
        self.conv1 = CausalConv3d(in_channels, out_channels, 3, pad_mode=pad_mode)
        self.norm2 = GroupNormAct(out_channels, num_groups, eps, center, act="silu")
        self.conv2 = CausalConv3d(out_channels, out_channels, 3, pad_mode=pad_mode)
        self.shortcut = (CausalConv3d(in_channels, out_channels, 1, pad_mode=pad_mode)
                         if in_channels != out_channels else None)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        h = self.conv1(self.norm1(x), state)
        h = self.conv2(self.norm2(h), state)
        skip = x if self.shortcut is None else self.shortcut(x, state)
        # In place: the conv saves its input, not its output, for backward.
        return h.add_(skip)
