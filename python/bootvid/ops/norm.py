"""Fused group normalisation + activation, and its adaptive (modulated) form."""

from __future__ import annotations

import torch

from . import _checks, reference
from ._common import kernel_for


def group_norm_act(x: torch.Tensor, num_groups: int, weight: torch.Tensor | None = None,
                   bias: torch.Tensor | None = None, eps: float = 1e-6, per_frame: bool = True,
                   center: bool = True, act: str = "silu") -> torch.Tensor:
    """GroupNorm + affine + activation in one pass.

    Statistics per (sample, group) over (C/G, H, W) of each frame when ``per_frame`` (causal),
    else over (C/G, T, H, W). ``center=False`` is ProMAG's custom norm: no mean subtraction,
    ``x / sqrt(mean(x^2) + eps)``. ``act`` is ``"silu"`` or ``"none"``. Statistics are
    accumulated in float32 for low-precision inputs.
    """
    _checks.group_norm_act_args(x, num_groups, weight, bias, eps, act)
    if kernel_for(x):
        y, _, _ = torch.ops.bootvid.group_norm_act(x, num_groups, weight, bias, float(eps),
                                                   per_frame, center, act)
        return y
    return reference.group_norm_act(x, num_groups, weight, bias, eps, per_frame, center, act)


def adaptive_group_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor | None = None,
                        num_groups: int = 32, eps: float = 1e-6, per_frame: bool = True,
                        center: bool = True, act: str = "none") -> torch.Tensor:
    """``act(norm(x) * (1 + gamma) + beta)``, the cross-level feature-mixing op.

    ``gamma``/``beta`` are ``(B, C, Tl, Hl, Wl)`` and are aligned to x without materialising
    them: causally in time (x frame 0 reads frame 0, frame t > 0 reads ``ceil(t / r)`` where
    ``T = 1 + r * (Tl - 1)``; ``Tl = 1`` broadcasts) and by nearest neighbour in space
    (``H = s * Hl``; ``Hl = Wl = 1`` broadcasts). ``beta=None`` is scale-only modulation.
    """
    _checks.adaptive_group_norm_args(x, gamma, beta, num_groups, eps, act)
    if kernel_for(x):
        y, _, _ = torch.ops.bootvid.adaptive_group_norm(x, gamma, beta, num_groups, float(eps),
                                                        per_frame, center, act)
        return y
    return reference.adaptive_group_norm(x, gamma, beta, num_groups, eps, per_frame, center, act)
