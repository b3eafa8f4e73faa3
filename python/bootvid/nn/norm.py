"""Group normalisation layers: plain (with affine and SiLU fused) and latent-conditioned."""

from __future__ import annotations

import torch
from torch import nn

from .. import ops
from .conv import CausalConv3d
from .stream import StreamState
from .tiling import current_tile_size, frame_by_frame


class GroupNormAct(nn.Module):
    """GroupNorm over each frame separately, then affine and (optionally) SiLU, in one op.

    Per-frame statistics keep the norm causal: a frame's output never depends on later frames,
    so streaming stays exact. ``center=False`` is ProMAG's custom norm (divide by the group RMS,
    no mean subtraction), which removes the corner spot artifacts GroupNorm causes when growing.
    """

    def __init__(self, channels: int, num_groups: int = 32, eps: float = 1e-6,
                 center: bool = True, act: str = "silu", affine: bool = True) -> None:
        super().__init__()
        if channels % num_groups:
            raise ValueError(f"GroupNormAct: {channels} channels do not split into "
                             f"{num_groups} groups")
        self.channels, self.num_groups, self.eps = channels, num_groups, eps
        self.center, self.act = center, act
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return ops.group_norm_act(x, self.num_groups, self.weight, self.bias, self.eps,
                                  per_frame=True, center=self.center, act=self.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if current_tile_size() is not None:  # high-resolution mode: bound the temporaries
            return frame_by_frame(self._norm, x)
        return self._norm(x)

    def extra_repr(self) -> str:
        return (f"{self.channels}, groups={self.num_groups}, eps={self.eps}, center={self.center}, "
                f"act={self.act!r}")


class AdaptiveGroupNorm(nn.Module):
    """MagViT-v2's decoder norm: ``norm(x) * (1 + gamma(z)) + beta(z)``, GN without affine.

    ``gamma`` and ``beta`` come from a causal 3x3x3 conv on the latent ``z`` at the latent's
    resolution, and are aligned to ``x`` (a decoder level ``r`` times denser in time and ``s``
    times in space) causally in time and by nearest neighbour in space inside
    ``bootvid.ops.adaptive_group_norm``, without being upsampled in memory. This re-injects the
    latent at every level, so the decoder does not have to carry it through all its layers.

    Streaming: the op's causal alignment assumes ``x`` starts at the clip's frame 0 (frame 0
    reads latent 0, frame ``t`` reads latent ``ceil(t / r)``). A later chunk of ``m`` latents
    decodes to ``r * m`` frames at this level whose global indices ``r*(l0-1)+1 ...`` read
    latents ``l0 + j // r``: each latent frame repeated ``r`` times. For such chunks the module
    expands gamma/beta in time (still at latent spatial size) and passes them with
    ``Tl == T``, which the op maps one-to-one.
    """

    def __init__(self, channels: int, cond_channels: int, num_groups: int = 32, eps: float = 1e-6,
                 center: bool = True, act: str = "none", pad_mode: str = "replicate") -> None:
        super().__init__()
        if channels % num_groups:
            raise ValueError(f"AdaptiveGroupNorm: {channels} channels do not split into "
                             f"{num_groups} groups")
        self.channels, self.num_groups, self.eps = channels, num_groups, eps
        self.center, self.act = center, act
        self.proj = CausalConv3d(cond_channels, 2 * channels, 3, pad_mode=pad_mode)

    def forward(self, x: torch.Tensor, z: torch.Tensor,
                state: StreamState | None = None) -> torch.Tensor:
        first = state is None or state.is_first(self)
        gamma, beta = self.proj(z, state).chunk(2, dim=1)
        T, Tl = x.shape[2], z.shape[2]
        if not first:
            if T % Tl:
                raise ValueError(f"AdaptiveGroupNorm: a later chunk of {Tl} latent frames must "
                                 f"decode to a multiple of {Tl} frames here, got {T}")
            r = T // Tl
            if r > 1:
                gamma = gamma.repeat_interleave(r, dim=2)
                beta = beta.repeat_interleave(r, dim=2)
        elif current_tile_size() is not None and Tl > 1:
            # frame by frame below: align in time here (cheap, at the latent's resolution)
            r = (T - 1) // (Tl - 1)
            idx = torch.div(torch.arange(T, device=z.device) + r - 1, r, rounding_mode="floor")
            gamma, beta = gamma.index_select(2, idx), beta.index_select(2, idx)
        if state is not None:
            state.mark_seen(self)
        if current_tile_size() is not None:
            return frame_by_frame(self._modulate, x, gamma, beta)
        return self._modulate(x, gamma, beta)

    def _modulate(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return ops.adaptive_group_norm(x, gamma, beta, self.num_groups, self.eps, per_frame=True,
                                       center=self.center, act=self.act)

    def extra_repr(self) -> str:
        return f"{self.channels}, groups={self.num_groups}, eps={self.eps}, center={self.center}"
