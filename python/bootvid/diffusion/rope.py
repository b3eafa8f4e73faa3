"""3D rotary position embedding (RoPE) for video tokens.

Each token has an integer position ``(t, h, w)`` on the patch grid. A head's ``head_dim``
channels are split into three even parts, one per axis:

- h and w each get ``2 * (head_dim // 6)`` channels,
- t gets the rest, ``head_dim - 4 * (head_dim // 6)`` (even when ``head_dim`` is even; t gets
  the largest share since latent grids are often longest in time).

So ``head_dim`` must be even and at least 6 (64 -> t 24, h 20, w 20; 16 -> 8, 4, 4). Within
the part of an axis with ``d`` channels, pair ``i`` rotates by ``pos * theta ** (-2i / d)``.

Channels are paired "rotate-half" style: channel ``j`` with channel ``j + head_dim // 2``; the
first ``d_t / 2`` pairs carry t, the next ``d_h / 2`` h, the last ``d_w / 2`` w. Any fixed
pairing is equivalent since q and k come from learned projections.

Angles are computed on the fly from the grid in fp32, so a grid never seen in training (a
longer clip, another resolution) just works, and bf16 q/k are rotated in fp32 and cast back.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """Channels of a head given to the (t, h, w) axes; raises ValueError when the head is too
    small or odd."""
    if head_dim < 6 or head_dim % 2:
        raise ValueError(f"3D RoPE needs an even head_dim >= 6 (two channels per axis at "
                         f"least), got {head_dim}")
    d_hw = 2 * (head_dim // 6)
    return head_dim - 2 * d_hw, d_hw, d_hw


def grid_positions(grid: tuple[int, int, int], device=None) -> Tensor:
    """``[N, 3]`` float32 ``(t, h, w)`` positions of a ``(T, H, W)`` token grid, in patchify's
    order (t-major, then h, then w)."""
    axes = [torch.arange(n, device=device, dtype=torch.float32) for n in grid]
    t, h, w = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([t.reshape(-1), h.reshape(-1), w.reshape(-1)], dim=-1)


def rope_cos_sin(positions: Tensor, head_dim: int, theta: float = 10000.0,
                 dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """``(cos, sin)``, each ``[1, 1, N, head_dim]``, for ``positions`` ``[N, 3]`` (any real
    values: integer grids, shifted or scaled ones)."""
    if positions.ndim != 2 or positions.shape[-1] != 3:
        raise ValueError(f"positions must be [N, 3] (t, h, w), got {tuple(positions.shape)}")
    pos = positions.to(torch.float32)
    angles = []
    for axis, d in enumerate(rope_split(head_dim)):
        i = torch.arange(0, d, 2, device=pos.device, dtype=torch.float32)
        freqs = theta ** (-i / d)  # d/2 frequencies, from 1 down to ~1/theta
        angles.append(pos[:, axis, None] * freqs)
    half = torch.cat(angles, dim=-1)  # [N, head_dim / 2]
    full = torch.cat([half, half], dim=-1)[None, None]  # channel j pairs with j + head_dim/2
    return full.cos().to(dtype), full.sin().to(dtype)


def rope_3d(grid: tuple[int, int, int], head_dim: int, theta: float = 10000.0,
            device=None, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """``(cos, sin)`` for a ``(T, H, W)`` token grid, shaped ``[1, 1, T*H*W, head_dim]`` to
    broadcast onto q/k of shape ``[B, heads, N, head_dim]``."""
    return rope_cos_sin(grid_positions(grid, device), head_dim, theta, dtype)


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` (``[..., N, head_dim]``) by the angles of ``cos``/``sin``; computed in fp32
    at least (bf16 would blur the position of far tokens) and returned in ``x``'s dtype."""
    xf = x.to(torch.promote_types(x.dtype, torch.float32))
    return (xf * cos + _rotate_half(xf) * sin).to(x.dtype)


__all__ = ["rope_split", "grid_positions", "rope_cos_sin", "rope_3d", "apply_rope"]
