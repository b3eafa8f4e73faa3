"""``grow``: a tokenizer with ``factor`` times the temporal compression, bootstrapped on a frozen
lower one (ProMAG Stage II/III), and its rebuilding from a config's growth history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch import nn

from ..tokenizer.config import TokenizerConfig
from ..tokenizer.model import VideoTokenizer
from .mixing import DEFAULT_MIXING, check_mixing
from .stages import GrownDecoder, GrownEncoder

#: Temporal growth factors per stage: the paper subsamples 2x (or 4x) in time.
GROWTH_FACTORS = (2, 4)


def _check_factor(factor: object) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int) or factor not in GROWTH_FACTORS:
        raise ValueError(f"factor must be one of {GROWTH_FACTORS} (the new stage multiplies the "
                         f"temporal compression by it), got {factor!r}")
    return factor


class GrownTokenizer(VideoTokenizer):
    """A :class:`VideoTokenizer` whose encoder and decoder wrap a frozen lower tokenizer's with
    one new growth stage; same API (encode/decode/forward, streaming, tiling, persistence).

    ``config`` is the lower config with this stage appended to ``growth``; only
    :meth:`trainable_parameters` (the new stage) should go to the optimizer. Build it with
    :func:`grow`, or :func:`from_config` for a saved growth history.
    """

    def __init__(self, lower: VideoTokenizer, factor: int = 2, mixing: str = DEFAULT_MIXING,
                 norm_center: bool | None = None) -> None:
        nn.Module.__init__(self)  # the encoder and decoder are built here, not from the config
        if not isinstance(lower, VideoTokenizer):
            raise TypeError(f"grow expects a VideoTokenizer (or a grown one) to build on, got "
                            f"{type(lower).__name__}")
        factor, mixing = _check_factor(factor), check_mixing(mixing)
        c = lower.config
        if norm_center is None:
            norm_center = c.norm_center
        if not isinstance(norm_center, bool):
            raise ValueError(f"norm_center must be True, False or None (the lower tokenizer's "
                             f"choice), got {norm_center!r}")
        lower.requires_grad_(False)
        stage = {"factor": factor, "mixing": mixing, "norm_center": norm_center}
        self.config = TokenizerConfig.from_dict({**c.to_dict(), "growth": [*c.growth, stage]})
        kw = dict(num_groups=c.norm_groups, eps=c.norm_eps, center=norm_center,
                  pad_mode=c.pad_mode)
        self.encoder = GrownEncoder(lower.encoder, factor, mixing, c.latent_channels, **kw,
                                    shortcut=c.resample_shortcut)
        self.decoder = GrownDecoder(lower.decoder, factor, self.encoder.channels,
                                    c.latent_channels, c.latent_channels, **kw,
                                    shortcut=c.resample_shortcut)
        ref = next(lower.parameters())  # the new stage joins the lower one's device and dtype
        for module in self.stage_modules():
            module.to(device=ref.device, dtype=ref.dtype)
        # Not a registered submodule: its encoder and decoder already are (state_dict keys
        # encoder.lower.* / decoder.lower.*), and a second path would duplicate them.
        self.__dict__["_lower"] = lower

    @property
    def lower(self) -> VideoTokenizer:
        """The frozen tokenizer this one was grown on (its modules are shared, not copied)."""
        return self.__dict__["_lower"]

    @property
    def growth_factor(self) -> int:
        return self.encoder.factor

    @property
    def mixing(self) -> str:
        return self.encoder.mixing

    def stage_modules(self) -> list[nn.Module]:
        return self.encoder.stage_modules() + self.decoder.stage_modules()

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The new stage's parameters (mixing map, new blocks, 1x1x1 convs): build the
        optimizer from these; the lower tokenizer stays frozen."""
        for module in self.stage_modules():
            yield from module.parameters()

    @classmethod
    def from_pretrained(cls, directory, device=None, dtype=None) -> "GrownTokenizer":
        """Rebuild a grown tokenizer saved by ``save_pretrained`` (``VideoTokenizer.from_pretrained``
        loads grown and plain checkpoints alike)."""
        from ..tokenizer.persistence import read_config

        config = read_config(directory)
        if not config.growth:
            raise ValueError(f"{directory} holds a tokenizer that was never grown "
                             f"({config.temporal_compression}x); load it with "
                             "VideoTokenizer.from_pretrained")
        return VideoTokenizer.from_pretrained(directory, device=device, dtype=dtype)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, growth={self.growth_factor}x on "
                f"{self.lower.temporal_compression}x, mixing={self.mixing!r}")


def grow(tok: VideoTokenizer, factor: int = 2, mixing: str = DEFAULT_MIXING,
         norm_center: bool | None = None) -> GrownTokenizer:
    """A tokenizer with ``factor`` times ``tok``'s temporal compression, same spatial compression
    and latent channels, bootstrapped on ``tok`` (ProMAG Stage II; applied again, Stage III).

    ``tok`` is frozen in place (``requires_grad=False``) and shared, not copied. ``mixing``
    chooses the cross-level feature mixing: ``"position_scale_shift"`` (default),
    ``"position_scale"``, ``"channel_scale_shift"``, ``"channel_scale"`` (pooled per-channel
    vector) or ``"none"`` (no subsampled branch). ``norm_center=False`` gives the new stage's
    norms ProMAG's RMS-only custom norm (None: as ``tok``). Grown models stream, tile, save and
    load like ``tok``: ``grow(grow(tok4))`` is a 16x tokenizer, ``1 + 16k`` frames -> ``1 + k``.
    """
    return GrownTokenizer(tok, factor, mixing, norm_center)


def from_config(config: TokenizerConfig) -> VideoTokenizer:
    """The (untrained) model a config describes: its base tokenizer grown by each recorded
    stage in turn. What ``VideoTokenizer.from_pretrained`` builds before loading weights."""
    if not isinstance(config, TokenizerConfig):
        raise TypeError(f"from_config expects a TokenizerConfig, got {type(config).__name__}")
    base: dict[str, Any] = {**config.to_dict(), "growth": []}
    tok = VideoTokenizer(TokenizerConfig.from_dict(base))
    for i, stage in enumerate(config.growth):
        unknown = sorted(set(stage) - {"factor", "mixing", "norm_center"})
        if unknown:
            raise ValueError(f"growth stage {i} has unknown field(s) {unknown}; known fields are "
                             "['factor', 'mixing', 'norm_center']")
        tok = grow(tok, stage["factor"], stage.get("mixing", DEFAULT_MIXING),
                   stage.get("norm_center"))
    return tok

