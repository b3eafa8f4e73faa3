"""The tokenizer's hyper-parameters: a dataclass that round-trips through ``config.json``."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from ..nn.patch import PATCH_METHODS
from ..nn.resample import check_shortcut

CONFIG_NAME = "config.json"
_TYPE = "VideoTokenizer"

# name -> overrides of the defaults (the defaults are the "base" preset, MagViT-v2 sized).
_PRESETS: dict[str, dict[str, Any]] = {
    # Tests and CPU demos: 17x64x64 encode + decode in a fraction of a second.
    "tiny": dict(base_channels=32, channel_multipliers=(1, 2, 2, 4), num_res_blocks=1,
                 num_mid_blocks=1, norm_groups=8),
    # CPU training runs at 128x128.
    "small": dict(base_channels=64, channel_multipliers=(1, 2, 2, 4), num_res_blocks=1,
                  num_mid_blocks=1, norm_groups=32),
    # MagViT-v2's video tokenizer: 128 channels, (1, 2, 2, 4), 4 ResBlocks per level.
    "base": dict(),
    # CPU training at 64-128 px (and a light GPU model): a 4x4 Haar patch (no learned layer at
    # full resolution), one learned 2x spatial step, time halved twice (the second step at the
    # latent's spatial size), parameter-free shortcuts around every resampling conv.
    # Sized by measurement (BENCHMARKS.md): 48 channels at 1/4 resolution, 128 below;
    # 108 GFLOP per training step at 4x17x64x64, 0.19x tiny's.
    "fast": dict(patch_size=4, patch_method="haar", base_channels=16,
                 channel_multipliers=(3, 8, 8), temporal_downsample=(True, True),
                 spatial_downsample=(True, False), num_res_blocks=1, num_mid_blocks=0,
                 norm_groups=16, resample_shortcut=True),
}


# Temporal strides a downsample step may have (4 serves the direct 16x baseline).
TEMPORAL_FACTORS = (1, 2, 4)
PATCH_SIZES = (1, 2, 4)
# Direct baselines (trained from scratch, no growth): temporal strides per downsample step,
# with the time steps in the last levels as in MagViT-v2; by the number of steps.
_DIRECT_TEMPORAL = {3: {4: (1, 2, 2), 8: (2, 2, 2), 16: (2, 2, 4)},
                    2: {4: (2, 2), 8: (2, 4), 16: (4, 4)},
                    1: {4: (4,)}}


@dataclass
class TokenizerConfig:
    """Hyper-parameters of :class:`~bootvid.tokenizer.VideoTokenizer`.

    The encoder has one level per entry of ``channel_multipliers`` (``base_channels * m``
    channels, ``num_res_blocks`` ResBlocks each); between consecutive levels a strided conv
    halves H and W (where ``spatial_downsample`` says so, default every step), and also
    divides time by ``temporal_downsample``'s factor. So, unpatchified,
    ``spatial_compression = 2 ** (levels - 1)`` and ``temporal_compression`` is the product of
    the temporal factors: the defaults give 8x space and 4x time, with the time steps in the
    last levels as in MagViT-v2. The decoder mirrors the encoder.

    ``patch_size`` (1, 2 or 4) turns each ``p x p`` pixel block into channels before the
    first conv and back after the last (``patch_method``: ``"shuffle"``, plain space-to-depth,
    or ``"haar"``, an orthonormal Haar wavelet packet as in Cosmos and WF-VAE), so no learned
    layer runs at full resolution; ``spatial_downsample`` (one flag per step, default all
    True) lets a step halve time only. ``spatial_compression = patch_size * 2 ** (spatial
    steps)``. ``resample_shortcut`` adds parameter-free shortcuts around the resampling convs
    (space/time-to-channel + channel mean down, channel repeat + depth-to-space up: DC-AE's
    residual autoencoding), also in growth stages.

    ``norm_center=False`` selects ProMAG's RMS-only custom norm everywhere. ``growth`` is the
    history of ProMAG growth stages applied on top of this model (empty for a Stage I
    tokenizer): one ``{"factor", "mixing", "norm_center"}`` dict per stage, each multiplying
    ``temporal_compression`` by its factor; :func:`bootvid.growth.from_config` builds the model.
    """

    in_channels: int = 3
    latent_channels: int = 16
    base_channels: int = 128
    channel_multipliers: tuple[int, ...] = (1, 2, 2, 4)
    num_res_blocks: int = 4
    num_mid_blocks: int = 4
    temporal_downsample: tuple[bool, ...] = (False, True, True)
    spatial_downsample: tuple[bool, ...] = ()
    patch_size: int = 1
    patch_method: str = "shuffle"
    resample_shortcut: bool = False
    norm_groups: int = 32
    norm_center: bool = True
    norm_eps: float = 1e-6
    pad_mode: str = "replicate"
    logvar_min: float = -30.0
    logvar_max: float = 20.0
    growth: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.channel_multipliers = tuple(int(m) for m in self.channel_multipliers)
        # Flags (False / True: 1x / 2x) or temporal factors per step (1, 2 or 4).
        self.temporal_downsample = tuple(
            t if isinstance(t, bool) or not isinstance(t, (int, float)) else int(t)
            for t in self.temporal_downsample)
        self.spatial_downsample = tuple(self.spatial_downsample or ()) or (
            (True,) * len(self.temporal_downsample))
        self.growth = list(self.growth)
        self.validate()

    # ---- derived ------------------------------------------------------------------------

    @property
    def spatial_compression(self) -> int:
        return self.patch_size * 2 ** sum(bool(s) for s in self.spatial_downsample)

    def spatial_factors(self) -> list[int]:
        """The spatial stride of each downsample step (2 or 1)."""
        return [2 if s else 1 for s in self.spatial_downsample]

    def temporal_factors(self) -> list[int]:
        """The temporal stride of each downsample step (True counts as 2, False as 1)."""
        return [(2 if t else 1) if isinstance(t, bool) else t for t in self.temporal_downsample]

    @property
    def temporal_compression(self) -> int:
        tc = 1
        for f in self.temporal_factors():
            tc *= f
        for stage in self.growth:
            tc *= stage["factor"]
        return tc

    def level_channels(self) -> list[int]:
        return [self.base_channels * m for m in self.channel_multipliers]

    # ---- checks -------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field and the rule when the config is unusable."""
        def bad(msg: str) -> None:
            raise ValueError(f"TokenizerConfig: {msg}")

        for name in ("in_channels", "latent_channels", "base_channels", "num_res_blocks",
                     "norm_groups"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                bad(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.num_mid_blocks, int) or self.num_mid_blocks < 0:
            bad(f"num_mid_blocks must be an integer >= 0, got {self.num_mid_blocks!r}")
        if len(self.channel_multipliers) < 2 or min(self.channel_multipliers) < 1:
            bad("channel_multipliers needs at least two positive entries (one level per entry, "
                f"a 2x spatial downsample between levels), got {self.channel_multipliers}")
        if len(self.temporal_downsample) != len(self.channel_multipliers) - 1:
            bad(f"temporal_downsample has one flag per downsample step, i.e. "
                f"len(channel_multipliers) - 1 = {len(self.channel_multipliers) - 1} flags; got "
                f"{len(self.temporal_downsample)} ({self.temporal_downsample})")
        if len(self.spatial_downsample) != len(self.temporal_downsample) or not all(
                isinstance(s, bool) for s in self.spatial_downsample):
            bad(f"spatial_downsample has one flag (True: 2x, False: 1x) per downsample step, "
                f"i.e. {len(self.temporal_downsample)}; got {self.spatial_downsample}")
        if self.patch_size not in PATCH_SIZES or not isinstance(self.patch_size, int) \
                or isinstance(self.patch_size, bool):
            bad(f"patch_size must be one of {PATCH_SIZES}, got {self.patch_size!r}")
        if self.patch_method not in PATCH_METHODS:
            bad(f"patch_method must be one of {PATCH_METHODS}, got {self.patch_method!r}")
        if not isinstance(self.resample_shortcut, bool):
            bad(f"resample_shortcut must be true or false, got {self.resample_shortcut!r}")
        for t in self.temporal_downsample:
            if not (isinstance(t, bool) or t in TEMPORAL_FACTORS):
                bad(f"temporal_downsample entries are flags (True: 2x) or temporal factors in "
                    f"{TEMPORAL_FACTORS}, got {self.temporal_downsample}")
        for c in self.level_channels():
            if c % self.norm_groups:
                bad(f"every level's channel count must be divisible by norm_groups "
                    f"({self.norm_groups}); base_channels * multipliers = {self.level_channels()}")
        if self.resample_shortcut:
            ch, tf, sf = self.level_channels(), self.temporal_factors(), self.spatial_factors()
            for i in range(len(ch) - 1):
                # the encoder's Downsample; the decoder's mirror Upsample has the same rule
                try:
                    check_shortcut(ch[i], ch[i + 1], tf[i] * sf[i] * sf[i], "Downsample")
                except ValueError as e:
                    bad(f"resample_shortcut: step {i}: {e}")
        if not self.norm_eps > 0:
            bad(f"norm_eps must be > 0, got {self.norm_eps}")
        if self.pad_mode not in ("replicate", "zeros"):
            bad(f'pad_mode must be "replicate" or "zeros", got {self.pad_mode!r}')
        for i, stage in enumerate(self.growth):
            f = stage.get("factor") if isinstance(stage, dict) else None
            if isinstance(f, bool) or not isinstance(f, int) or f < 2:
                bad(f"growth[{i}] must be a dict with an integer factor >= 2 (one growth stage), "
                    f"got {stage!r}")
        if not self.logvar_min < self.logvar_max:
            bad(f"logvar_min ({self.logvar_min}) must be below logvar_max ({self.logvar_max})")

    # ---- presets and serialisation --------------------------------------------------------

    @classmethod
    def presets(cls) -> list[str]:
        return list(_PRESETS)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "TokenizerConfig":
        """``"tiny"`` (tests, CPU demos), ``"fast"`` (patchified, for CPU training at 64-128 px),
        ``"small"`` (CPU training at 128x128) or ``"base"`` (MagViT-v2: 128 channels,
        (1, 2, 2, 4), 4 ResBlocks per level); keyword arguments override single fields."""
        if name not in _PRESETS:
            raise ValueError(f"unknown tokenizer preset {name!r}; choose one of {list(_PRESETS)}")
        return cls(**{**_PRESETS[name], **overrides})

    @classmethod
    def direct(cls, name: str, temporal_compression: int, **overrides: Any) -> "TokenizerConfig":
        """A preset with more temporal downsampling, for 4x, 8x or 16x trained from scratch:
        the direct baselines ProMAG compares growth against. Strides per downsample step:
        4x (1, 2, 2), 8x (2, 2, 2), 16x (2, 2, 4). Initialise one from a trained 4x
        tokenizer with :func:`bootvid.tokenizer.init_from_lower` ("direct extension").
        Presets with two steps (``fast``): (2, 2), (2, 4), (4, 4)."""
        if name not in _PRESETS:
            raise ValueError(f"unknown tokenizer preset {name!r}; choose one of {list(_PRESETS)}")
        levels = overrides.get("channel_multipliers",
                               _PRESETS[name].get("channel_multipliers", cls.channel_multipliers))
        table = _DIRECT_TEMPORAL.get(len(levels) - 1, {})
        if temporal_compression not in table:
            raise ValueError(f"direct tokenizers compress time {sorted(table)} times with "
                             f"{len(levels) - 1} downsample steps, got temporal_compression="
                             f"{temporal_compression!r}")
        return cls.preset(name, **{"temporal_downsample": table[temporal_compression],
                                   **overrides})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channel_multipliers"] = list(self.channel_multipliers)
        d["temporal_downsample"] = list(self.temporal_downsample)
        d["spatial_downsample"] = list(self.spatial_downsample)
        from .. import __version__

        return {"_type": _TYPE, "_bootvid_version": __version__, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TokenizerConfig":
        if not isinstance(d, dict):
            raise ValueError(f"TokenizerConfig.from_dict expects a dict, got {type(d).__name__}")
        if d.get("_type", _TYPE) != _TYPE:
            raise ValueError(f"this config describes a {d['_type']!r}, not a {_TYPE}")
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in d.items() if not k.startswith("_")}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"TokenizerConfig: unknown field(s) {unknown}; known fields are "
                             f"{sorted(known)}")
        return cls(**fields)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "TokenizerConfig":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "TokenizerConfig":
        """Read a ``config.json``; errors name the file."""
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"tokenizer config not found: {path}") from None
        try:
            return cls.from_json(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None
