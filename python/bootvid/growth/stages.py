"""The new encoder and decoder stages of a grown tokenizer, wrapped around the frozen lower ones.

Encoder (``f`` = growth factor, ``tc`` = the lower tokenizer's temporal compression)::

    B: x       -> lower features (rate F/tc)     -> mix(B, A) -> ResBlock -> down f -+
    A: x[::f]  -> lower features (rate F/(f*tc)) -------------------------------- (+) -> 1x1x1

Decoder: 1x1x1 conv, ResBlock, causal depth-to-space upsample ``f`` (to the lower latent), then
the frozen lower decoder. "Features" of a level are the input of its latent projection: the
base encoder's norm + SiLU output, a grown encoder's branch sum.

Shortcuts (``resample_shortcut`` in the lower config): the encoder adds the ``f``-frame mean
of the lower features B to the new stage's output and the decoder adds the latent repeated
``f`` times to its upsampled output, while the stage's last learned convs (temporal down and
up) start at zero and its latent projection starts as the lower one's (halved when branch A
is added too): a fresh stage is then "average ``f`` lower latent frames / repeat them" and
learns a residual on top, instead of starting from noise.

Streaming: both branches run the same frozen layers over different streams, so branch A keeps
its own :class:`~bootvid.nn.StreamState` (a child of the caller's). The subsample keeps the clip's
frames ``0, f, 2f, ...``. The grown model's frame rule makes the first chunk ``1 + f*m`` frames
long (it starts at frame 0) and every later one a multiple of ``f`` (each starts at a frame
``1 (mod f)``, so it keeps its local frames ``f - 1, 2f - 1, ...``); the subsampled chunks then
obey the lower model's rule, and branch A streams exactly too.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn import CausalConv3d, Downsample, ResBlock, StreamState, Upsample
from ..nn.resample import channel_to_space_time_repeat, space_time_to_channel_mean
from ..tokenizer.encoder import Encoder
from .mixing import FeatureMixing, check_mixing, plain_norm


def branch_state(state: StreamState | None, owner: nn.Module) -> StreamState | None:
    """A separate stream state for ``owner``'s second pass of shared layers (branch A)."""
    return None if state is None else state.child(owner)


def encoder_features(encoder: nn.Module, x: torch.Tensor,
                     state: StreamState | None = None) -> torch.Tensor:
    """``encoder``'s output before its latent projection (its 1x1x1 ``conv_out``)."""
    if isinstance(encoder, GrownEncoder):
        return encoder.features(x, state)
    if not isinstance(encoder, Encoder):
        raise TypeError(f"cannot take features of a {type(encoder).__name__}; expected a "
                        "bootvid Encoder or GrownEncoder")
    return encoder.features(x, state)


def feature_channels(encoder: nn.Module) -> int:
    if isinstance(encoder, GrownEncoder):
        return encoder.channels
    return encoder.conv_out.in_channels


class GrownEncoder(nn.Module):
    """The frozen ``lower`` encoder plus one growth stage: ``f`` times the temporal compression."""

    def __init__(self, lower: nn.Module, factor: int, mixing: str, latent_channels: int,
                 num_groups: int, eps: float, center: bool, pad_mode: str,
                 shortcut: bool = False) -> None:
        super().__init__()
        self.lower = lower
        self.factor, self.mixing = factor, check_mixing(mixing)
        self.shortcut = shortcut
        c = self.channels = feature_channels(lower)
        kw = dict(num_groups=num_groups, eps=eps, center=center, pad_mode=pad_mode)
        self.mix = (plain_norm(c, num_groups, eps, center) if mixing == "none"
                    else FeatureMixing(c, mixing, factor, **kw))
        self.block = ResBlock(c, c, **kw)
        self.down = Downsample(c, temporal=factor, spatial=1, pad_mode=pad_mode)
        self.conv_out = CausalConv3d(c, 2 * latent_channels, 1, pad_mode=pad_mode)
        if shortcut:
            self._start_as_average(lower)

    @torch.no_grad()
    def _start_as_average(self, lower: nn.Module) -> None:
        nn.init.zeros_(self.down.conv.weight)
        nn.init.zeros_(self.down.conv.bias)
        src = lower.conv_out
        if src.weight.shape == self.conv_out.weight.shape:
            # h = mean_f(B) (+ A): both are lower features, so halve the map when A is added
            scale = 1.0 if self.mixing == "none" else 0.5
            self.conv_out.weight.copy_(src.weight * scale)
            self.conv_out.bias.copy_(src.bias)

    def stage_modules(self) -> list[nn.Module]:
        return [self.mix, self.block, self.down, self.conv_out]

    def _subsample(self, x: torch.Tensor, first: bool) -> torch.Tensor:
        T, f = x.shape[2], self.factor
        if (first and (T - 1) % f) or (not first and T % f):
            which = "first" if first else "later"
            raise ValueError(f"GrownEncoder: a {which} chunk of {T} frames breaks the frame rule "
                             f"(first chunk 1 + {f}*m frames, later chunks multiples of {f}), so "
                             f"the {f}x subsample would lose the clip's phase")
        return x[:, :, (0 if first else f - 1)::f]

    def features(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        first = state is None or state.is_first(self)
        xa = self._subsample(x, first)  # checks the frame rule even without branch A
        b = encoder_features(self.lower, x, state)
        if self.mixing == "none":
            h = self.down(self.block(self.mix(b), state), state)
        else:
            a = encoder_features(self.lower, xa, branch_state(state, self))
            h = self.down(self.block(self.mix(b, a, first, state), state), state)
            h = h + a
        if self.shortcut:
            h = h + space_time_to_channel_mean(b, (self.factor, 1, 1), self.channels, first)
        if state is not None:
            state.mark_seen(self)
        return h

    def forward(self, x: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        return self.conv_out(self.features(x, state), state)

    def extra_repr(self) -> str:
        return (f"factor={self.factor}, mixing={self.mixing!r}, channels={self.channels}, "
                f"shortcut={self.shortcut}")


class GrownDecoder(nn.Module):
    """One growth stage (1x1x1 conv, ResBlock, causal temporal upsample) before the frozen
    ``lower`` decoder: ``1 + k`` latents -> ``1 + f*k`` lower latents -> frames."""

    def __init__(self, lower: nn.Module, factor: int, channels: int, latent_channels: int,
                 lower_latent_channels: int, num_groups: int, eps: float, center: bool,
                 pad_mode: str, shortcut: bool = False) -> None:
        super().__init__()
        self.lower = lower
        self.factor = factor
        self.shortcut = shortcut and latent_channels == lower_latent_channels
        kw = dict(num_groups=num_groups, eps=eps, center=center, pad_mode=pad_mode)
        self.conv_in = CausalConv3d(latent_channels, channels, 1, pad_mode=pad_mode)
        self.block = ResBlock(channels, channels, **kw)
        self.up = Upsample(channels, lower_latent_channels, temporal=factor, spatial=1,
                           pad_mode=pad_mode)
        if self.shortcut:
            nn.init.zeros_(self.up.conv.weight)
            nn.init.zeros_(self.up.conv.bias)

    def stage_modules(self) -> list[nn.Module]:
        return [self.conv_in, self.block, self.up]

    def forward(self, z: torch.Tensor, state: StreamState | None = None) -> torch.Tensor:
        first = state is None or state.is_first(self)
        h = self.up(self.block(self.conv_in(z, state), state), state)
        if self.shortcut:
            h = h + channel_to_space_time_repeat(z, (self.factor, 1, 1), z.shape[1], first)
        if state is not None:
            state.mark_seen(self)
        return self.lower(h, state)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, shortcut={self.shortcut}"
