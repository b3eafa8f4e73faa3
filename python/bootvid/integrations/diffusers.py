"""A bootvid tokenizer as a diffusers video autoencoder (``pip install bootvid[diffusers]``).

:class:`AutoencoderBootvid` follows the conventions of diffusers' video VAEs (``AutoencoderKLWan``,
``AutoencoderKLLTXVideo``, ``AutoencoderKLCogVideoX``): ``encode(x).latent_dist`` with
``sample()`` / ``mode()``, ``decode(z).sample``, ``enable_tiling()`` / ``enable_slicing()``,
``save_pretrained`` / ``from_pretrained`` and latent statistics in its config
(``scaling_factor`` / ``shift_factor``, per-channel ``latents_mean`` / ``latents_std``).
Underneath, bootvid's streaming (chunked in time, equal to the whole clip) and exact spatial
tiling (no seams: each convolution is tiled, not the image) do the work, so decoding gives the
same frames as the bootvid API::

    vae = AutoencoderBootvid.from_pretrained("checkpoints/fast-16x",
                                             latent_stats="latents/16x/latents.json")
    z = vae.encode(video).latent_dist.sample()          # video: (B, 3, T, H, W) in [-1, 1]
    z = (z - vae.config.shift_factor) * vae.config.scaling_factor
    frames = vae.decode(z / vae.config.scaling_factor + vae.config.shift_factor).sample

``from_pretrained`` takes a bootvid model directory (``save_pretrained``, a training run or a
shipped model's name) or a directory this class saved; only local files are read.
"""

from __future__ import annotations

import json
import os

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_outputs import AutoencoderKLOutput

#: Frames per streamed encoder chunk and latent frames per decoder chunk: memory of a chunk,
#: results equal to the whole clip at once.
CHUNK_FRAMES = 16
CHUNK_LATENTS = 4
#: Tile side in pixels once ``enable_tiling()`` is called without sizes.
DEFAULT_TILE = 256


def _stats(path: str | os.PathLike | None, channels: int) -> dict:
    """Latent statistics from a ``latents.json`` that ``bootvid latents`` wrote (per-channel
    mean / std of posterior means over the clips): per channel, and pooled into diffusers'
    scalar ``shift_factor`` / ``scaling_factor`` (``(z - shift) * scale`` has zero mean, unit
    variance)."""
    if path is None:
        return {"scaling_factor": 1.0, "shift_factor": 0.0, "latents_mean": None,
                "latents_std": None}
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    mean, std = index.get("mean"), index.get("std")
    if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == channels):
        raise ValueError(f"{path}: expected per-channel 'mean' and 'std' of {channels} latent "
                         "channels (the latents.json of `bootvid latents` with this model)")
    m = torch.tensor(mean, dtype=torch.float64)
    s = torch.tensor(std, dtype=torch.float64)
    shift = float(m.mean())
    pooled = float((s.square() + (m - shift).square()).mean().sqrt())  # std of all channels
    return {"scaling_factor": 1.0 / pooled, "shift_factor": shift, "latents_mean": mean,
            "latents_std": std}


class AutoencoderBootvid(ModelMixin, ConfigMixin):
    """A bootvid causal video tokenizer (4x, 8x or 16x in time, 8x in space) with diffusers'
    autoencoder interface. ``tokenizer_config``: the bootvid ``TokenizerConfig`` as a dict
    (growth stages included)."""

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(self, tokenizer_config: dict, scaling_factor: float = 1.0,
                 shift_factor: float = 0.0, latents_mean: list[float] | None = None,
                 latents_std: list[float] | None = None) -> None:
        super().__init__()
        from ..growth import from_config
        from ..tokenizer import TokenizerConfig

        self.tokenizer = from_config(TokenizerConfig.from_dict(tokenizer_config))
        self.use_slicing = False
        self.use_tiling = False
        self.tile_size: int | None = None

    # ---- what pipelines read ------------------------------------------------------------------

    @property
    def temporal_compression_ratio(self) -> int:
        return self.tokenizer.temporal_compression

    @property
    def spatial_compression_ratio(self) -> int:
        return self.tokenizer.spatial_compression

    @property
    def latent_channels(self) -> int:
        return self.tokenizer.latent_channels

    def num_latent_frames(self, num_frames: int) -> int:
        """Latent frames of a clip of ``num_frames`` frames (``1 + (T - 1) // r`` rounded up)."""
        return self.tokenizer.latent_frames(num_frames)

    # ---- tiling and slicing -------------------------------------------------------------------

    def enable_tiling(self, tile_sample_min_height: int | None = None,
                      tile_sample_min_width: int | None = None,
                      tile_sample_stride_height: float | None = None,
                      tile_sample_stride_width: float | None = None) -> None:
        """Compute every convolution in spatial tiles of at most this many pixels a side (the
        smaller of the two sizes given; default 256). bootvid's tiling is exact (no seams, no
        blending), so the strides of diffusers' overlapping tiles are accepted and unused."""
        sizes = [s for s in (tile_sample_min_height, tile_sample_min_width) if s]
        self.tile_size = int(min(sizes)) if sizes else DEFAULT_TILE
        self.use_tiling = True

    def disable_tiling(self) -> None:
        self.use_tiling = False
        self.tile_size = None

    def enable_slicing(self) -> None:
        """Encode and decode a batch one video at a time (less memory, same results)."""
        self.use_slicing = True

    def disable_slicing(self) -> None:
        self.use_slicing = False

    # ---- encode / decode ----------------------------------------------------------------------

    def _tile(self) -> int | None:
        return self.tile_size if self.use_tiling else None

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        post = self.tokenizer.encode(x, chunk_frames=CHUNK_FRAMES, tile_size=self._tile())
        return torch.cat([post.mean, post.logvar], dim=1)

    def encode(self, x: torch.Tensor, return_dict: bool = True):
        """Posterior of ``x`` ``(B, 3, T, H, W)`` in [-1, 1], any ``T``: ``.latent_dist`` has
        ``sample()``, ``mode()`` and ``kl()``; latents are ``(B, C, 1 + ceil((T-1)/r), H/8,
        W/8)``."""
        if self.use_slicing and x.shape[0] > 1:
            moments = torch.cat([self._encode(v) for v in x.split(1)])
        else:
            moments = self._encode(x)
        dist = DiagonalGaussianDistribution(moments)
        if not return_dict:
            return (dist,)
        return AutoencoderKLOutput(latent_dist=dist)

    def _decode(self, z: torch.Tensor, num_frames: int | None) -> torch.Tensor:
        x = self.tokenizer.decode(z, num_frames=num_frames, chunk_latents=CHUNK_LATENTS,
                                  tile_size=self._tile())
        return x.clamp(-1, 1)

    def decode(self, z: torch.Tensor, return_dict: bool = True, num_frames: int | None = None):
        """Video ``(B, 3, T, H, W)`` in [-1, 1] from latents ``z``: ``T = 1 + r (T' - 1)``, or
        ``num_frames`` (the encoded clip's length, dropping the frames encoding padded)."""
        if self.use_slicing and z.shape[0] > 1:
            x = torch.cat([self._decode(v, num_frames) for v in z.split(1)])
        else:
            x = self._decode(z, num_frames)
        if not return_dict:
            return (x,)
        return DecoderOutput(sample=x)

    def forward(self, sample: torch.Tensor, sample_posterior: bool = False,
                return_dict: bool = True, generator: torch.Generator | None = None):
        dist = self.encode(sample).latent_dist
        z = dist.sample(generator=generator) if sample_posterior else dist.mode()
        return self.decode(z, return_dict=return_dict, num_frames=sample.shape[2])

    # ---- loading ------------------------------------------------------------------------------

    @classmethod
    def from_bootvid(cls, model: str | os.PathLike | None = None,
                     latent_stats: str | os.PathLike | None = None,
                     torch_dtype: torch.dtype | None = None) -> "AutoencoderBootvid":
        """A bootvid model (directory, training run or shipped name; None: the default shipped
        model) with ``latent_stats`` from ``bootvid latents``' ``latents.json``."""
        from ..train.rundir import load_tokenizer

        tok, _ = load_tokenizer(model)
        vae = cls(tokenizer_config=tok.config.to_dict(), **_stats(latent_stats,
                                                                   tok.latent_channels))
        vae.tokenizer.load_state_dict(tok.state_dict())
        return (vae if torch_dtype is None else vae.to(torch_dtype)).eval()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args,
                        latent_stats: str | os.PathLike | None = None, **kwargs):
        """A directory this class saved (diffusers format), or a bootvid model: a
        ``save_pretrained`` directory, a training run or a shipped model's name. Local files
        only."""
        path = os.fspath(pretrained_model_name_or_path)
        if kwargs.get("subfolder"):  # e.g. a pipeline directory's "vae"
            path = os.path.join(path, kwargs.pop("subfolder"))
        if not _is_diffusers_dir(path):
            unused = sorted(set(kwargs) - {"torch_dtype", "local_files_only",
                                           "low_cpu_mem_usage"})
            if unused:
                raise ValueError(f"from_pretrained: {', '.join(unused)} not supported for a "
                                 f"bootvid model directory ({path})")
            return cls.from_bootvid(path, latent_stats, kwargs.get("torch_dtype"))
        if latent_stats is not None:
            raise ValueError("latent_stats: this directory's config already has its statistics")
        kwargs.setdefault("local_files_only", True)
        kwargs.setdefault("low_cpu_mem_usage", False)  # (that path needs accelerate)
        return super().from_pretrained(path, *args, **kwargs)


def _is_diffusers_dir(path: str) -> bool:
    config = os.path.join(path, "config.json")
    if not os.path.isfile(config):
        return False
    with open(config, encoding="utf-8") as f:
        return "_class_name" in json.load(f)
