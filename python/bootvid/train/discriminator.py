"""A 3D StyleGAN-like discriminator for adversarial tokenizer training (MagViT-v2 style).

``Discriminator3d`` maps a clip ``(B, C, T, H, W)`` (or an image ``(B, C, H, W)``, taken as a
one-frame clip) to one logit per sample, shape ``(B,)``: convolutional residual blocks that
halve time (while T > 1) and space, then global average pooling and a small MLP. It is not
causal: the discriminator sees whole clips, so time is padded symmetrically.

No normalisation layers: batch statistics would make DDP ranks disagree, and StyleGAN-style
discriminators train well without them. Weights use He init for LeakyReLU(0.2) so the
initial logits are O(1) whatever the depth.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

NEGATIVE_SLOPE = 0.2

# name -> constructor overrides. Sized after the tokenizer presets of the same name (the
# discriminator gets half the tokenizer's base width: tokenizer tiny/small/base = 32/64/128).
DISCRIMINATOR_PRESETS: dict[str, dict] = {
    "tiny": dict(base_channels=16),
    "small": dict(base_channels=32),
    "base": dict(base_channels=64),
}


class BlurPool3d(nn.Module):
    """Anti-aliased downsampling: a fixed, normalised binomial blur, then striding.

    The filter is ``[1, 2, 1] (x) [1, 2, 1]`` in (H, W), times ``[1, 2, 1]`` in T when the
    time stride is 2, divided by its sum (so a constant input stays constant). It is applied
    depthwise after replicate padding of 1 on each blurred axis; replicate (not reflect)
    padding works for axes of length 1. A strided axis of length ``n`` becomes
    ``ceil(n / 2)``; in particular a single frame stays a single frame (the padded copies
    are equal, so the time taps just sum to 1), which lets images pass as T=1 clips.

    ``stride = (st, sh, sw)`` with each entry 1 or 2; a stride of 1 in space still blurs.
    """

    def __init__(self, channels: int, stride: tuple[int, int, int] = (2, 2, 2)) -> None:
        super().__init__()
        stride = tuple(int(s) for s in stride)
        if len(stride) != 3 or any(s not in (1, 2) for s in stride):
            raise ValueError(f"BlurPool3d stride must be 3 entries (t, h, w), each 1 or 2; "
                             f"got {stride}")
        self.channels, self.stride = channels, stride
        binomial = torch.tensor([1.0, 2.0, 1.0])
        time_taps = binomial if stride[0] == 2 else torch.ones(1)
        kernel = time_taps[:, None, None] * binomial[None, :, None] * binomial[None, None, :]
        kernel = kernel / kernel.sum()
        # Non-persistent: a constant, so checkpoints stay free of it and loads never miss it.
        self.register_buffer("kernel", kernel.expand(channels, 1, *kernel.shape).contiguous(),
                             persistent=False)
        pad_t = 1 if stride[0] == 2 else 0
        self._padding = (1, 1, 1, 1, pad_t, pad_t)  # F.pad order: W, H, T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.channels:
            raise ValueError(f"BlurPool3d expects (B, {self.channels}, T, H, W); "
                             f"got {tuple(x.shape)}")
        x = F.pad(x, self._padding, mode="replicate")
        return F.conv3d(x, self.kernel.to(x.dtype), stride=self.stride, groups=self.channels)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, stride={self.stride}"


class AvgDownsample3d(nn.Module):
    """Plain 2x average pooling (the ``blur=False`` ablation); time is pooled while T > 1.

    ``ceil_mode`` gives the same ``ceil(n / 2)`` sizes as ``BlurPool3d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = (2 if x.shape[2] > 1 else 1, 2, 2)
        return F.avg_pool3d(x, kernel, stride=kernel, ceil_mode=True)


def _downsample(channels: int, blur: bool) -> nn.Module:
    return BlurPool3d(channels, (2, 2, 2)) if blur else AvgDownsample3d()


def _conv3(in_channels: int, out_channels: int) -> nn.Conv3d:
    return nn.Conv3d(in_channels, out_channels, 3, padding=1)


class DiscriminatorBlock(nn.Module):
    """StyleGAN2 residual down block in 3D: ``(C_in, T, H, W) -> (C_out, ceil(T/2), H/2, W/2)``.

    Main path: conv 3x3x3, LeakyReLU, downsample, conv 3x3x3 (to ``out_channels``),
    LeakyReLU. Skip path: downsample, 1x1x1 conv without bias. Sum divided by sqrt(2) keeps
    the variance of the two (roughly independent) paths.
    """

    def __init__(self, in_channels: int, out_channels: int, blur: bool = True) -> None:
        super().__init__()
        self.conv1 = _conv3(in_channels, in_channels)
        self.down = _downsample(in_channels, blur)
        self.conv2 = _conv3(in_channels, out_channels)
        self.skip_down = _downsample(in_channels, blur)
        self.skip = nn.Conv3d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(x), NEGATIVE_SLOPE)
        h = F.leaky_relu(self.conv2(self.down(h)), NEGATIVE_SLOPE)
        return (h + self.skip(self.skip_down(x))) * (1.0 / math.sqrt(2.0))


class Discriminator3d(nn.Module):
    """MagViT-v2 / StyleGAN-like 3D discriminator returning one logit per clip, ``(B,)``.

    ``conv_in`` (3x3x3) and LeakyReLU, one ``DiscriminatorBlock`` per channel multiplier
    (width ``base_channels * m``; each halves H and W, and T while T > 1), then the head:
    conv 3x3x3, LeakyReLU, global average over (T, H, W), Linear, LeakyReLU, Linear -> 1.

    Accepts ``(B, C, T, H, W)`` with any T >= 1, or images ``(B, C, H, W)`` (as T = 1).
    Spatial sizes of 16 and up are the intended range (four halvings reach 1x1 at 16);
    smaller and odd sizes still run (each halving rounds up). ``blur=False`` swaps the
    anti-aliased ``BlurPool3d`` for plain average pooling.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 64,
                 channel_multipliers: tuple[int, ...] = (2, 4, 4, 4), blur: bool = True) -> None:
        super().__init__()
        if in_channels < 1 or base_channels < 1 or not channel_multipliers \
                or any(m < 1 for m in channel_multipliers):
            raise ValueError(
                f"Discriminator3d needs in_channels >= 1, base_channels >= 1 and a non-empty "
                f"channel_multipliers of positive ints; got in_channels={in_channels}, "
                f"base_channels={base_channels}, channel_multipliers={channel_multipliers}")
        self.in_channels = in_channels
        self.base_channels = base_channels
        self.channel_multipliers = tuple(channel_multipliers)
        self.blur = blur

        self.conv_in = _conv3(in_channels, base_channels)
        widths = [base_channels] + [base_channels * m for m in channel_multipliers]
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(c_in, c_out, blur) for c_in, c_out in zip(widths[:-1], widths[1:]))
        top = widths[-1]
        self.conv_out = _conv3(top, top)
        self.fc = nn.Linear(top, top)
        self.logit = nn.Linear(top, 1)
        self._init_weights()

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "Discriminator3d":
        """``"tiny"`` (base 16), ``"small"`` (base 32) or ``"base"`` (base 64), matching the
        tokenizer presets of the same name; ``overrides`` replace constructor arguments."""
        if name not in DISCRIMINATOR_PRESETS:
            raise ValueError(f"unknown discriminator preset {name!r}; "
                             f"choose one of {sorted(DISCRIMINATOR_PRESETS)}")
        return cls(**{**DISCRIMINATOR_PRESETS[name], **overrides})

    def _init_weights(self) -> None:
        # He init for layers followed by LeakyReLU keeps activations O(1) through the depth;
        # the skip 1x1 convs and the logit layer are linear (gain 1).
        linear_outputs = {id(block.skip) for block in self.blocks} | {id(self.logit)}
        for module in self.modules():
            if isinstance(module, (nn.Conv3d, nn.Linear)):
                if id(module) in linear_outputs:
                    nn.init.kaiming_normal_(module.weight, nonlinearity="linear")
                else:
                    nn.init.kaiming_normal_(module.weight, a=NEGATIVE_SLOPE,
                                            nonlinearity="leaky_relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,)`` for clips ``(B, C, T, H, W)`` or images ``(B, C, H, W)``."""
        if x.dim() == 4:
            x = x.unsqueeze(2)
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"Discriminator3d expects (B, {self.in_channels}, T, H, W) or "
                             f"(B, {self.in_channels}, H, W); got {tuple(x.shape)}")
        h = F.leaky_relu(self.conv_in(x), NEGATIVE_SLOPE)
        for block in self.blocks:
            h = block(h)
        h = F.leaky_relu(self.conv_out(h), NEGATIVE_SLOPE)
        h = h.mean(dim=(2, 3, 4))
        h = F.leaky_relu(self.fc(h), NEGATIVE_SLOPE)
        return self.logit(h).squeeze(1)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, base_channels={self.base_channels}, "
                f"channel_multipliers={self.channel_multipliers}, blur={self.blur}")
