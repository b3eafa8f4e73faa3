"""The tokenizer's encoder: video -> latent moments (mean, log-variance)."""

from __future__ import annotations

import torch
from torch import nn

from ..nn import CausalConv3d, Downsample, GroupNormAct, Patchify, ResBlock, StreamState
from .config import TokenizerConfig


class EncoderLevel(nn.Module):
    """``num_res_blocks`` ResBlocks at one resolution, then (except the last level) a strided
    conv to the next one."""

    def __init__(self, in_channels: int, channels: int, cfg: TokenizerConfig,
                 temporal_down: int | None, spatial_down: int = 2,
                 out_channels: int | None = None) -> None:
        super().__init__()
        kw = dict(num_groups=cfg.norm_groups, eps=cfg.norm_eps, center=cfg.norm_center,
                  pad_mode=cfg.pad_mode)
        self.blocks = nn.ModuleList(
            ResBlock(in_channels if i == 0 else channels, channels, **kw)
            for i in range(cfg.num_res_blocks))
        self.down = (Downsample(channels, out_channels, temporal=temporal_down,
                                spatial=spatial_down, pad_mode=cfg.pad_mode,
                                shortcut=cfg.resample_shortcut)
                     if temporal_down is not None else None)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, state)
        return self.down(x, state) if self.down is not None else x


class Encoder(nn.Module):
    """MagViT-v2's encoder: conv_in, per level [ResBlocks, strided causal conv], final
    ResBlocks, norm + SiLU, 1x1x1 conv to ``2 * latent_channels`` (mean and log-variance).
    With ``patch_size > 1`` the video is patchified before conv_in.

    Causal throughout (causal convs, per-frame norms), so it streams exactly through a
    :class:`~bootvid.nn.StreamState`.
    """

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        ch = cfg.level_channels()
        self.patch = Patchify(cfg.patch_size, cfg.patch_method)
        p2 = cfg.patch_size ** 2
        self.conv_in = CausalConv3d(cfg.in_channels * p2, ch[0], 3, pad_mode=cfg.pad_mode)
        levels, c = [], ch[0]
        for i, ci in enumerate(ch):
            last = i == len(ch) - 1
            td = None if last else cfg.temporal_factors()[i]
            sd = None if last else cfg.spatial_factors()[i]
            # With shortcuts the strided conv already widens to the next level (its mean
            # shortcut needs the output count); without, the next level's first block does.
            out = ch[i + 1] if cfg.resample_shortcut and not last else None
            levels.append(EncoderLevel(c, ci, cfg, td, sd, out))
            c = out or ci
        self.levels = nn.ModuleList(levels)
        kw = dict(num_groups=cfg.norm_groups, eps=cfg.norm_eps, center=cfg.norm_center,
                  pad_mode=cfg.pad_mode)
        self.mid = nn.ModuleList(ResBlock(c, c, **kw) for _ in range(cfg.num_mid_blocks))
        self.norm_out = GroupNormAct(c, cfg.norm_groups, cfg.norm_eps, cfg.norm_center, act="silu")
        self.conv_out = CausalConv3d(c, 2 * cfg.latent_channels, 1, pad_mode=cfg.pad_mode)

    def features(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        """The input of the latent projection (norm + SiLU output): what growth stages use."""
        h = self.conv_in(self.patch(x), state)
        for level in self.levels:
            h = level(h, state)
        for block in self.mid:
            h = block(h, state)
        return self.norm_out(h)

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        return self.conv_out(self.features(x, state), state)
