"""The tokenizer's decoder: latent -> video."""

from __future__ import annotations

import torch
from torch import nn

from ..nn import (AdaptiveGroupNorm, CausalConv3d, GroupNormAct, Patchify, ResBlock,
                  StreamState, Upsample)
from .config import TokenizerConfig


class DecoderLevel(nn.Module):
    """Adaptive GroupNorm conditioned on the latent, ``num_res_blocks`` ResBlocks, then (except
    the finest level) depth-to-space upsampling to the next level.

    The upsampling conv already produces the next (finer) level's channel count times the
    sub-pixel factor, which costs half of producing this level's count at the 2x-channel
    levels, and the dense level's first ResBlock then needs no shortcut conv.
    """

    def __init__(self, in_channels: int, channels: int, cfg: TokenizerConfig,
                 temporal_up: int | None, out_channels: int | None = None,
                 spatial_up: int = 2) -> None:
        super().__init__()
        kw = dict(num_groups=cfg.norm_groups, eps=cfg.norm_eps, center=cfg.norm_center,
                  pad_mode=cfg.pad_mode)
        self.norm = AdaptiveGroupNorm(in_channels, cfg.latent_channels, cfg.norm_groups,
                                      cfg.norm_eps, cfg.norm_center, pad_mode=cfg.pad_mode)
        self.blocks = nn.ModuleList(
            ResBlock(in_channels if i == 0 else channels, channels, **kw)
            for i in range(cfg.num_res_blocks))
        self.up = (Upsample(channels, out_channels, temporal=temporal_up, spatial=spatial_up,
                            pad_mode=cfg.pad_mode, shortcut=cfg.resample_shortcut)
                   if temporal_up is not None else None)

    def forward(self, x: torch.Tensor, z: torch.Tensor,
                state: StreamState | None = None) -> torch.Tensor:
        x = self.norm(x, z, state)
        for block in self.blocks:
            x = block(x, state)
        return self.up(x, state) if self.up is not None else x


class Decoder(nn.Module):
    """MagViT-v2's decoder, the encoder's mirror: conv_in, ResBlocks, per level (coarsest
    first) [adaptive GroupNorm on the latent, ResBlocks, causal conv + depth-to-space], then
    norm + SiLU and a conv to RGB (to ``p * p`` values per pixel block, un-patchified, when
    ``patch_size > 1``). ``1 + k`` latent frames give ``1 + tc * k`` frames."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        ch = cfg.level_channels()
        c = ch[-1]
        kw = dict(num_groups=cfg.norm_groups, eps=cfg.norm_eps, center=cfg.norm_center,
                  pad_mode=cfg.pad_mode)
        self.conv_in = CausalConv3d(cfg.latent_channels, c, 3, pad_mode=cfg.pad_mode)
        self.mid = nn.ModuleList(ResBlock(c, c, **kw) for _ in range(cfg.num_mid_blocks))
        levels = []
        for i in reversed(range(len(ch))):
            tu = None if i == 0 else cfg.temporal_factors()[i - 1]
            su = 2 if i == 0 else cfg.spatial_factors()[i - 1]
            levels.append(DecoderLevel(c, ch[i], cfg, tu, ch[i - 1] if i > 0 else None, su))
            c = ch[i - 1] if i > 0 else ch[i]
        self.levels = nn.ModuleList(levels)  # coarsest first
        self.norm_out = GroupNormAct(c, cfg.norm_groups, cfg.norm_eps, cfg.norm_center, act="silu")
        self.conv_out = CausalConv3d(c, cfg.in_channels * cfg.patch_size ** 2, 3,
                                     pad_mode=cfg.pad_mode)
        self.patch = Patchify(cfg.patch_size, cfg.patch_method)

    def forward(self, z: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        h = self.conv_in(z, state)
        for block in self.mid:
            h = block(h, state)
        for level in self.levels:
            h = level(h, z, state)
        return self.patch.inverse(self.conv_out(self.norm_out(h), state))
