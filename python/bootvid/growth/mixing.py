"""Cross-level feature mixing: branch B's features, normalised and modulated by branch A's.

ProMAG's "AdaNorm" (PAPER.md, Stage II): the frozen lower encoder's full-rate features (branch
B) are normalised and multiplied by an affine map of its features on the 2x-subsampled input
(branch A). The paper leaves open whether the map is per position or a pooled per-channel
vector, and whether it scales only or also shifts; every combination is a ``mixing`` mode, and
``"none"`` drops branch A (the plain "new blocks on a frozen base" baseline).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import ops
from ..nn import CausalConv3d, GroupNormAct, StreamState
from ..nn.tiling import current_tile_size, frame_by_frame

#: mode -> (modulation per position (else pooled over space, per channel), with shift)
MIXING_MODES: dict[str, tuple[bool, bool] | None] = {
    "position_scale_shift": (True, True),
    "position_scale": (True, False),
    "channel_scale_shift": (False, True),
    "channel_scale": (False, False),
    "none": None,
}
#: Provisional default until the ablation says otherwise: the most expressive mode (it can
#: represent every other one), and "AdaNorm" conventionally means scale and shift.
DEFAULT_MIXING = "position_scale_shift"


def check_mixing(mixing: object) -> str:
    if not isinstance(mixing, str) or mixing not in MIXING_MODES:
        raise ValueError(f"mixing must be one of {list(MIXING_MODES)} (per-position map or pooled "
                         f"per-channel vector, scale only or scale and shift, or 'none' for no "
                         f"branch A), got {mixing!r}")
    return mixing


def align_index(frames: int, cond_frames: int, factor: int, first: bool,
                device: torch.device) -> torch.Tensor:
    """Which branch-A frame each of branch B's ``frames`` reads (causal, like the decoder's
    adaptive norm): in the clip's first chunk ``1 + f*(n - 1)`` frames read ``ceil(t / f)``;
    a later chunk's ``f*n`` frames read ``t // f`` (each A frame repeated ``f`` times)."""
    expected = 1 + factor * (cond_frames - 1) if first else factor * cond_frames
    if frames != expected:
        raise ValueError(f"feature mixing: {cond_frames} branch-A frames must face {expected} "
                         f"branch-B frames in a {'first' if first else 'later'} chunk, got "
                         f"{frames}")
    t = torch.arange(frames, device=device)
    return (t + factor - 1) // factor if first else t // factor


class FeatureMixing(nn.Module):
    """``norm(b) * (1 + gamma(a)) [+ beta(a)]`` through ``bootvid.ops.adaptive_group_norm``.

    ``gamma``/``beta`` come from a 1x1x1 conv (the affine map) of branch A's features, or of
    their per-frame spatial mean for the pooled modes (pooling over space only keeps it
    causal). The map starts at zero, so a fresh stage sees plain normalised branch-B features
    and learns how much of branch A to mix in.
    """

    def __init__(self, channels: int, mixing: str, factor: int, num_groups: int, eps: float,
                 center: bool, pad_mode: str) -> None:
        super().__init__()
        per_position, shift = MIXING_MODES[check_mixing(mixing)]
        if mixing == "none":
            raise ValueError("FeatureMixing needs a mode with branch A; 'none' has no mixing")
        self.mixing, self.factor = mixing, factor
        self.per_position, self.shift = per_position, shift
        self.num_groups, self.eps, self.center = num_groups, eps, center
        self.affine = CausalConv3d(channels, channels * (2 if shift else 1), 1, pad_mode=pad_mode)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, b: torch.Tensor, a: torch.Tensor, first: bool,
                state: StreamState | None = None) -> torch.Tensor:
        if not self.per_position:
            a = a.mean(dim=(3, 4), keepdim=True)
        p = self.affine(a, state)
        gamma, beta = p.chunk(2, dim=1) if self.shift else (p, None)
        # Aligned in time here (cheap, at most branch A's size), so the op maps frames 1:1
        # whether this is the first chunk or a later one, and frame-by-frame tiling works.
        idx = align_index(b.shape[2], a.shape[2], self.factor, first, b.device)
        gamma = gamma.index_select(2, idx)
        beta = beta.index_select(2, idx) if beta is not None else None
        if current_tile_size() is not None:
            if beta is None:
                return frame_by_frame(self._modulate, b, gamma)
            return frame_by_frame(self._modulate, b, gamma, beta)
        return self._modulate(b, gamma, beta)

    def _modulate(self, x: torch.Tensor, gamma: torch.Tensor,
                  beta: torch.Tensor | None = None) -> torch.Tensor:
        return ops.adaptive_group_norm(x, gamma, beta, self.num_groups, self.eps, per_frame=True,
                                       center=self.center, act="none")

    def extra_repr(self) -> str:
        return f"mixing={self.mixing!r}, factor={self.factor}"


def plain_norm(channels: int, num_groups: int, eps: float, center: bool) -> GroupNormAct:
    """The ``"none"`` mode's norm: branch B normalised, nothing mixed in."""
    return GroupNormAct(channels, num_groups, eps, center, act="none", affine=False)
