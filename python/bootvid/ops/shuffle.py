"""Causal space/time-to-depth and back."""

from __future__ import annotations

import torch

from . import _checks, reference
from ._common import kernel_for

# Front modes of the compiled ops (csrc/include/bootvid/math.h, enum Front).
_FRONT_NONE, _FRONT_REPLICATE, _FRONT_ZEROS = 0, 1, 2


def pixel_unshuffle_3d(x: torch.Tensor, factors, causal: bool = True) -> torch.Tensor:
    """``(B, C, T, H, W) -> (B, C*ft*fh*fw, T', H/fh, W/fw)``.

    When ``causal``, ``ft - 1`` copies of the first frame go in front, so ``1 + ft*k`` frames
    become ``1 + k``; otherwise T must be a multiple of ft. Output channel
    ``c*(ft*fh*fw) + (it*fh*fw + ih*fw + iw)``, the sub-pixel order of ``F.pixel_shuffle``.
    """
    ft, fh, fw = _checks.unshuffle_args(x, factors, causal)
    if kernel_for(x):
        front = _FRONT_REPLICATE if causal else _FRONT_NONE
        return torch.ops.bootvid.space_to_depth_3d(x, [ft, fh, fw], front)
    return reference.pixel_unshuffle_3d(x, (ft, fh, fw), causal)


def pixel_shuffle_3d(x: torch.Tensor, factors, causal: bool = True) -> torch.Tensor:
    """The exact inverse of ``pixel_unshuffle_3d``: depth back to time and space, dropping
    the first ``ft - 1`` frames when ``causal``."""
    ft, fh, fw = _checks.shuffle_args(x, factors)
    if kernel_for(x):
        front = _FRONT_ZEROS if causal else _FRONT_NONE
        return torch.ops.bootvid.depth_to_space_3d(x, [ft, fh, fw], front)
    return reference.pixel_shuffle_3d(x, (ft, fh, fw), causal)
