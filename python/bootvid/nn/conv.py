"""Causal 3D convolution as a module, with streaming through :class:`StreamState`."""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import ops
from .stream import StreamState
from .tiling import current_tile_size, tiled_causal_conv3d


def _triple(v, name: str) -> tuple[int, int, int]:
    t = (v,) * 3 if isinstance(v, int) else tuple(int(i) for i in v)
    if len(t) != 3 or min(t) < 1:
        raise ValueError(f"{name} must be a positive int or (t, h, w) triple, got {v!r}")
    return t  # type: ignore[return-value]


class CausalConv3d(nn.Module):
    """A 3D conv that never looks at future frames.

    Time is padded in front only (``kt - 1`` copies of the first frame by default, the
    replicate-first choice of CogVideoX/Cosmos/VidTok), so output frame ``t`` depends on input
    frames ``<= t`` and a temporal stride ``s`` maps ``1 + s*k`` frames to ``1 + k``. Space is
    zero-padded to keep the size ("same" padding, ``k // 2``) unless ``padding`` is given.

    Given a :class:`StreamState`, the layer reads the previous chunk's last frames from it
    instead of padding and leaves its own for the next chunk, which is what makes chunked
    processing equal to whole-clip processing. Inside :func:`~bootvid.nn.spatial_tiling` the
    output is computed in exact spatial tiles (bounded working memory at high resolution).
    The conv itself is ``bootvid.ops.causal_conv3d``. Weights are ``(C_out, C_in, kt, kh, kw)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1,
                 padding=None, bias: bool = True, pad_mode: str = "replicate") -> None:
        super().__init__()
        k = _triple(kernel_size, "kernel_size")
        s = _triple(stride, "stride")
        if s[0] > k[0]:
            raise ValueError(f"temporal stride {s[0]} exceeds the temporal kernel size {k[0]}")
        if padding is None:
            padding = (k[1] // 2, k[2] // 2)
        if pad_mode not in ("replicate", "zeros"):
            raise ValueError(f'pad_mode must be "replicate" or "zeros", got {pad_mode!r}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = k, s, tuple(padding)
        self.pad_mode = pad_mode
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *k))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The default of nn.Conv3d (Kaiming-uniform with a = sqrt(5)).
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        cache = state.cache(self) if state is not None else None
        tile = current_tile_size()
        if tile is None:
            y, new_cache = ops.causal_conv3d(x, self.weight, self.bias, self.stride, self.padding,
                                             self.pad_mode, cache)
        else:
            y, new_cache = tiled_causal_conv3d(x, self.weight, self.bias, self.stride,
                                               self.padding, self.pad_mode, cache, tile)
        if state is not None:
            state.set_cache(self, new_cache)
            state.mark_seen(self)
        return y

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, pad_mode={self.pad_mode!r}, "
                f"bias={self.bias is not None}")
