"""The 4x causal video tokenizer (ProMAG Stage I, MagViT-v2 architecture, KL latent)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from ..nn import spatial_tiling
from .config import TokenizerConfig
from .decoder import Decoder
from .encoder import Encoder
from .posterior import DiagonalGaussian
from .shots import latent_length


class TokenizerOutput(NamedTuple):
    """What ``VideoTokenizer.forward`` returns: unpack as ``recon, posterior = tok(x)``."""

    recon: torch.Tensor
    posterior: DiagonalGaussian


class VideoTokenizer(nn.Module):
    """Causal video autoencoder with a continuous (diagonal Gaussian) latent.

    Videos are float ``(B, 3, T, H, W)`` in [-1, 1] (see :func:`frames_to_video`). With the
    default config a clip of ``1 + 4k`` frames at ``H x W`` becomes ``(B, 16, 1 + k, H/8, W/8)``
    latents. Other frame counts are padded at the end (replicating the last frame) by
    :meth:`encode` and cut back by ``decode(z, num_frames=T)``; H and W must be multiples of 8.

    ``encode(x, chunk_frames=N)`` and ``decode(z, chunk_latents=M)`` stream time in chunks
    through every causal layer's cache and give the whole-clip result; memory then depends
    on the chunk, not the video length. Persistence follows diffusers' convention:
    ``save_pretrained(dir)`` writes ``config.json`` and ``model.safetensors``,
    ``VideoTokenizer.from_pretrained(dir)`` restores them.
    """

    def __init__(self, config: TokenizerConfig | str | None = None, **overrides: Any) -> None:
        super().__init__()
        if config is None:
            config = TokenizerConfig(**overrides)
        elif isinstance(config, str):
            config = TokenizerConfig.preset(config, **overrides)
        elif overrides:
            config = TokenizerConfig.from_dict({**config.to_dict(), **overrides})
        if not isinstance(config, TokenizerConfig):
            raise TypeError(f"config must be a TokenizerConfig or a preset name, got "
                            f"{type(config).__name__}")
        if config.growth:
            raise ValueError(f"this config describes a tokenizer grown {len(config.growth)} "
                             "time(s) (config.growth); build it with "
                             "bootvid.growth.from_config(config) or load it with "
                             "VideoTokenizer.from_pretrained")
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    # ---- geometry -----------------------------------------------------------------------

    @property
    def temporal_compression(self) -> int:
        return self.config.temporal_compression

    @property
    def spatial_compression(self) -> int:
        return self.config.spatial_compression

    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    def latent_frames(self, num_frames: int) -> int:
        """Latent frames for a clip of ``num_frames`` (``1 + ceil((T - 1) / tc)``)."""
        if not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f"num_frames must be a positive int, got {num_frames!r}")
        return latent_length(num_frames, self.temporal_compression)

    def num_frames(self, latent_frames: int) -> int:
        """Frames decoded from ``latent_frames`` latent frames (``1 + tc * (Tl - 1)``)."""
        return 1 + self.temporal_compression * (latent_frames - 1)

    def latent_shape(self, T: int, H: int, W: int) -> tuple[int, int, int, int]:
        """``(C, T', H', W')`` of the latent of a ``T x H x W`` clip."""
        self._check_spatial(H, W, "latent_shape")
        s = self.spatial_compression
        return (self.latent_channels, self.latent_frames(T), H // s, W // s)

    # ---- checks -------------------------------------------------------------------------

    def _check_spatial(self, H: int, W: int, where: str) -> None:
        s = self.spatial_compression
        if H % s or W % s or H < 1 or W < 1:
            raise ValueError(
                f"{where}: height and width must be positive multiples of {s} (the tokenizer's "
                f"spatial compression), got {H}x{W}; crop or pad the frames, e.g. to "
                f"{max(s, H // s * s)}x{max(s, W // s * s)}")

    def _check_video(self, x: torch.Tensor, where: str = "encode") -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{where}: expected a video tensor, got {type(x).__name__}")
        C = self.config.in_channels
        if x.dim() != 5:
            hint = (" (a single clip? add the batch dimension with x[None])" if x.dim() == 4
                    else "")
            raise ValueError(f"{where}: expected a video of shape (B, {C}, T, H, W), got a "
                             f"{x.dim()}-D tensor of shape {tuple(x.shape)}{hint}")
        if x.shape[1] != C:
            raise ValueError(f"{where}: expected {C} channels in dimension 1 of (B, C, T, H, W), "
                             f"got shape {tuple(x.shape)}"
                             + (" (channels last? use x.permute(0, 4, 1, 2, 3))"
                                if x.shape[-1] == C else ""))
        if not x.is_floating_point():
            raise TypeError(f"{where}: expected a float video in [-1, 1], got {x.dtype} (convert "
                            "uint8 frames with bootvid.tokenizer.frames_to_video)")
        if x.shape[2] < 1:
            raise ValueError(f"{where}: the video has no frames (shape {tuple(x.shape)})")
        self._check_spatial(x.shape[3], x.shape[4], where)

    def _check_latent(self, z: torch.Tensor, where: str = "decode") -> None:
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"{where}: expected a latent tensor, got {type(z).__name__}")
        C = self.latent_channels
        if z.dim() != 5 or z.shape[1] != C:
            raise ValueError(f"{where}: expected latents of shape (B, {C}, T, H, W), got "
                             f"{tuple(z.shape)}")
        if not z.is_floating_point():
            raise TypeError(f"{where}: expected float latents, got {z.dtype}")
        if z.shape[2] < 1:
            raise ValueError(f"{where}: the latent has no frames (shape {tuple(z.shape)})")

    # ---- encode / decode ----------------------------------------------------------------

    def _posterior(self, moments: torch.Tensor) -> DiagonalGaussian:
        from .streaming import check_fp16_overflow

        check_fp16_overflow(moments, "encode")  # before the log-variance clamp hides an inf
        return DiagonalGaussian(moments, logvar_min=self.config.logvar_min,
                                logvar_max=self.config.logvar_max)

    def pad_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Pad ``x`` at the end, replicating its last frame, to ``1 + tc*k`` frames."""
        T = x.shape[2]
        pad = self.num_frames(self.latent_frames(T)) - T
        if pad == 0:
            return x
        return torch.cat([x, x[:, :, -1:].expand(-1, -1, pad, -1, -1)], dim=2)

    def encode(self, x: torch.Tensor, chunk_frames: int | Sequence[int] | None = None,
               tile_size: int | None = None, cuts: Sequence[int] | None = None
               ) -> DiagonalGaussian:
        """Posterior over the latent of ``x`` (B, 3, T, H, W), any ``T >= 1``.

        ``cuts``: frame indices where a new shot starts (hard cuts); each shot is encoded as a
        video of its own and their latents concatenated in time (:mod:`bootvid.tokenizer.shots`),
        so no latent frame straddles a cut. Decode with the same ``cuts`` and ``num_frames``.

        ``chunk_frames`` streams the clip in chunks (see
        :func:`~bootvid.tokenizer.streaming.encode_chunk_sizes`: 16 means 17, 16, 16, ...
        frames) with the same result as the whole clip at once (None). ``tile_size`` computes
        every conv in exact spatial tiles of at most that many pixels a side (layer-wise
        tiling, no seams; see :func:`bootvid.nn.spatial_tiling`), for high resolutions.
        """
        self._check_video(x, "encode")
        if cuts:
            from .shots import shot_ranges

            posts = [self.encode(x[:, :, a:b], chunk_frames, tile_size)
                     for a, b in shot_ranges(x.shape[2], cuts)]
            return DiagonalGaussian(mean=torch.cat([p.mean for p in posts], 2),
                                    logvar=torch.cat([p.logvar for p in posts], 2),
                                    logvar_min=self.config.logvar_min,
                                    logvar_max=self.config.logvar_max)
        if chunk_frames is None:
            with spatial_tiling(tile_size):
                return self._posterior(self.encoder(self.pad_frames(x)))
        from .streaming import StreamEncoder

        enc = StreamEncoder(self, chunk_frames, tile_size)
        parts = [p for p in (enc.push(x), enc.finish()) if p is not None]
        if len(parts) == 1:
            return parts[0]
        return DiagonalGaussian(mean=torch.cat([p.mean for p in parts], 2),
                                logvar=torch.cat([p.logvar for p in parts], 2),
                                logvar_min=self.config.logvar_min,
                                logvar_max=self.config.logvar_max)

    def decode(self, z: torch.Tensor, num_frames: int | None = None,
               chunk_latents: int | None = None, tile_size: int | None = None,
               cuts: Sequence[int] | None = None) -> torch.Tensor:
        """Video ``(B, 3, T, H*8, W*8)`` from latents ``z`` (B, C, T', H, W).

        ``T = 1 + tc*(T' - 1)``, or ``num_frames`` when given (the length of the clip that was
        encoded: the frames ``encode`` padded are dropped). ``chunk_latents`` streams the
        latent in chunks of that many frames, with the same result. ``tile_size`` computes
        every conv in exact spatial tiles of at most that many pixels a side (no seams), for
        high resolutions: with ``chunk_latents=1``, 1024x1024 decodes in a few GB. ``cuts``
        (with ``num_frames``): the latent of shots that ``encode(x, cuts=...)`` made.
        """
        self._check_latent(z, "decode")
        if cuts:
            from .shots import latent_ranges, shot_ranges

            if num_frames is None:
                raise ValueError("decode: cuts need num_frames (the encoded clip's length)")
            lat = latent_ranges(num_frames, cuts, self.temporal_compression)
            if lat[-1][1] != z.shape[2]:
                raise ValueError(f"decode: {num_frames} frames with cuts {list(cuts)} encode to "
                                 f"{lat[-1][1]} latent frames, but z has {z.shape[2]}")
            return torch.cat([self.decode(z[:, :, la:lb], b - a, chunk_latents, tile_size)
                              for (la, lb), (a, b) in zip(lat, shot_ranges(num_frames, cuts))],
                             dim=2)
        Tl = z.shape[2]
        if num_frames is not None:
            if (not isinstance(num_frames, int) or num_frames < 1
                    or self.latent_frames(num_frames) != Tl):
                lo, hi = self.num_frames(Tl - 1) + 1 if Tl > 1 else 1, self.num_frames(Tl)
                raise ValueError(f"decode: {Tl} latent frames decode to {lo}..{hi} frames, but "
                                 f"num_frames={num_frames!r}")
        if chunk_latents is None:
            from .streaming import check_fp16_overflow

            with spatial_tiling(tile_size):
                x = self.decoder(z)
            check_fp16_overflow(x, "decode")
            return x[:, :, :num_frames] if num_frames is not None else x
        from .streaming import StreamDecoder

        return StreamDecoder(self, chunk_latents, num_frames, tile_size).push(z)

    def forward(self, x: torch.Tensor, sample_posterior: bool = False,
                generator: torch.Generator | None = None) -> TokenizerOutput:
        """Reconstruction (same length as ``x``) and posterior."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return TokenizerOutput(self.decode(z, num_frames=x.shape[2]), posterior)

    # ---- streaming ------------------------------------------------------------------------

    def stream_encoder(self, chunk_frames: int | Sequence[int] | None = None, **tiling):
        """A :class:`~bootvid.tokenizer.streaming.StreamEncoder` for frames arriving in pieces."""
        from .streaming import StreamEncoder

        return StreamEncoder(self, chunk_frames, **tiling)

    def stream_decoder(self, chunk_latents: int | None = None, num_frames: int | None = None,
                       **tiling):
        """A :class:`~bootvid.tokenizer.streaming.StreamDecoder` for latents arriving in pieces."""
        from .streaming import StreamDecoder

        return StreamDecoder(self, chunk_latents, num_frames, **tiling)

    # ---- persistence ----------------------------------------------------------------------

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None,
                        lower: str | os.PathLike | None = None) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (atomically);
        ``dtype`` stores the weights in that dtype, ``lower`` (grown models) stores only the
        new stage on top of the lower model saved in that directory (see
        :func:`bootvid.tokenizer.persistence.save_pretrained`)."""
        from .persistence import save_pretrained

        save_pretrained(self, directory, dtype=dtype, lower=lower)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device | None = None,
                        dtype: torch.dtype | None = None) -> "VideoTokenizer":
        """Rebuild a tokenizer saved by :meth:`save_pretrained` (in eval mode)."""
        from .persistence import load_pretrained

        return load_pretrained(cls, directory, device=device, dtype=dtype)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        c = self.config
        return (f"spatial={self.spatial_compression}x, temporal={self.temporal_compression}x, "
                f"latent_channels={c.latent_channels}, base_channels={c.base_channels}, "
                f"multipliers={c.channel_multipliers}")
