"""Causal 3D convolution with a streaming cache."""

from __future__ import annotations

import torch

from . import _checks, reference
from ._common import autocast_dtype, kernel_for


def causal_conv3d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  stride=(1, 1, 1), padding=(0, 0), pad_mode: str = "replicate",
                  cache: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal 3D convolution of ``x`` (B, C, T, H, W); returns ``(y, new_cache)``.

    Time is padded in front only: with ``cache`` (the ``new_cache`` of the previous chunk)
    when given, else with ``kt - 1`` copies of the first frame (``pad_mode="replicate"``) or
    zeros; space is zero-padded by ``padding = (ph, pw)``. ``T`` frames give
    ``(T - 1) // st + 1`` outputs. Feeding a video in consecutive chunks (the first of
    ``1 + st*m`` frames, later ones multiples of ``st``) through the cache gives exactly the
    whole-video result. Under ``torch.autocast`` the inputs are cast to the autocast dtype.
    """
    # Types first: the autocast cast below would otherwise fail on a non-tensor with an
    # AttributeError instead of saying what was expected.
    _checks.tensor_types("causal_conv3d", x=x, weight=weight, bias=bias, cache=cache)
    dt = autocast_dtype(x)
    if dt is not None:
        x, weight = x.to(dt), weight.to(dt)
        bias = bias.to(dt) if bias is not None else None
        cache = cache.to(dt) if cache is not None else None
    stride, padding = _checks.causal_conv3d_args(x, weight, bias, stride, padding, pad_mode, cache)
    if kernel_for(x):
        y, new_cache = torch.ops.bootvid.causal_conv3d(x, weight, bias, list(stride), list(padding),
                                                       pad_mode, cache)
        return y, new_cache
    return reference.causal_conv3d(x, weight, bias, stride, padding, pad_mode, cache)
