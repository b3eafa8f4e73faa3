"""Training configuration: YAML files that map onto nested dataclasses.

``TrainConfig.from_yaml(path)`` reads a file like ``configs/tiny.yaml``; unknown keys and bad
values raise :class:`ConfigError` naming the key (``optim.lr``) and what is expected, before any
work starts. ``TrainConfig.for_preset("tiny")`` gives the defaults a preset ships with.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .. import pretrained

PRECISIONS = ("auto", "fp32", "bf16")


class ConfigError(ValueError):
    """A training config that cannot be used; the message names the key and the rule."""


class ConfigPathError(ConfigError, FileNotFoundError):
    """A path a config names does not exist (the message names the key)."""


@dataclass
class ModelConfig:
    """The tokenizer trained by ``bootvid train`` (``bootvid grow`` builds on ``--from``)."""

    preset: str = "tiny"
    #: 4 is ProMAG's Stage I; 8 and 16 train the direct baselines from scratch.
    temporal_compression: int = 4
    #: TokenizerConfig fields that replace the preset's (e.g. latent_channels, norm_center).
    overrides: dict = field(default_factory=dict)
    #: "Direct extension": initialise from a trained lower tokenizer (save_pretrained or run dir).
    init_from: Optional[str] = None


#: The kinds of ``data.sources``: a video folder, a folder of photos filmed by a moving
#: camera (StillMotionDataset), procedural clips (no path).
SOURCE_KINDS = ("videos", "stills", "synthetic")


@dataclass
class DataConfig:
    #: A folder (searched recursively) or a list of video files; None (and no ``sources``):
    #: synthetic videos.
    path: Union[str, list, None] = None
    #: Instead of ``path``: several sources sampled by weight per item, each
    #: ``{kind: videos | stills | synthetic, path: folder, file or a list, weight: 1.0}``.
    sources: Optional[list] = None
    #: The share of items that are single frames (images) from the same sources, trained as
    #: 1-frame videos in their own forward pass. The loss is a mean over items: an image
    #: weighs as much as a clip.
    image_ratio: float = 0.0
    #: Frames per training clip: 1 + k * temporal_compression (17 = 1 + 4*4 = 1 + 16*1).
    frames: int = 17
    size: int = 64
    frame_stride: int = 1
    scale_range: tuple = (1.0, 1.25)
    hflip: bool = True
    num_workers: int = 2


@dataclass
class LossConfig:
    l1: float = 1.0
    kl: float = 1e-6
    #: LPIPS weight; needs ``lpips_path`` (local LPIPS-VGG weights; nothing is downloaded).
    perceptual: float = 0.0
    lpips_path: Optional[str] = None
    lpips_backbone: Optional[str] = None
    #: GAN weight (0 disables the discriminator), from step ``gan_start`` on.
    gan: float = 0.0
    gan_start: int = 0
    gan_loss: str = "hinge"
    #: Scale the GAN term by ||grad L_rec|| / ||grad L_gan|| at the decoder's last layer (VQGAN).
    adaptive_gan_weight: bool = True
    lecam: float = 0.0
    disc_preset: str = "tiny"
    disc_lr: Optional[float] = None  # None: optim.lr


@dataclass
class OptimConfig:
    lr: float = 1e-4
    #: MagViT-v2: Adam with beta1 = 0, beta2 = 0.99.
    betas: tuple = (0.0, 0.99)
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    #: Cosine decay from lr to lr * min_lr_ratio at max_steps.
    min_lr_ratio: float = 0.1
    grad_clip: Optional[float] = 1.0
    #: EMA decay of the weights (None: no EMA).
    ema_decay: Optional[float] = 0.999
    grad_accum: int = 1


@dataclass
class RunConfig:
    #: Clips per process per micro-step (global batch = batch_size * processes * grad_accum).
    batch_size: int = 4
    max_steps: int = 2000
    #: Wall-clock training budget over the whole run (resumes included); stops cleanly.
    max_minutes: Optional[float] = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    preview_every: int = 500
    seed: int = 0
    device: str = "auto"
    #: auto: bf16 autocast on CUDA, fp32 on CPU.
    precision: str = "auto"
    #: After this many consecutive steps with a non-finite loss or gradient (each skipped),
    #: restore the last checkpoint and multiply the learning rate by ``nan_lr_factor``.
    max_bad_steps: int = 20
    nan_lr_factor: float = 0.5
    #: Give up (an error; the checkpoints stay intact) after this many restores.
    max_recoveries: int = 3


@dataclass
class GrowConfig:
    """The new stage ``bootvid grow`` adds (see :func:`bootvid.growth.grow`)."""

    factor: int = 2
    mixing: str = "position_scale_shift"
    norm_center: Optional[bool] = None
    #: Train the lower tokenizer's weights with the new stage (the frozen-vs-unfrozen
    #: ablation). ProMAG freezes them: False.
    train_lower: bool = False


class SectionedConfig:
    """YAML <-> nested dataclasses, shared by the training configs: ``from_dict`` /
    ``from_yaml`` check every key and value, ``merged`` applies ``{"section.key": value}``."""

    @classmethod
    def from_dict(cls, d: dict | None):
        return _build(cls, d or {}, "")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike):
        import yaml

        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                d = yaml.safe_load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"training config not found: {path}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from None
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    #: Keys naming files or folders the run reads (``data.path`` may be a list of them).
    #: Outputs are never named by a config: everything is written under the run directory.
    INPUT_PATHS: tuple[str, ...] = ()
    #: Input keys that may also name a shipped model (``fast-4x``) instead of a path.
    MODEL_NAME_KEYS: tuple[str, ...] = ()
    #: What to say, per key, after "does not exist".
    PATH_HINTS: dict[str, str] = {}

    def unused_paths(self, resume: bool) -> set[str]:
        """Input keys this run does not read (their paths are not checked)."""
        return set()

    def with_resolved_paths(self, resume: bool = False):
        """A copy whose input paths are absolute (``~`` expanded; relative ones are taken from
        the current directory) and checked to exist, except those this run does not read
        (see :meth:`unused_paths`; ``resume``: a resumed run): the run directory's saved config
        then names the same files wherever ``--resume`` is run from."""
        d = self.to_dict()
        unused = self.unused_paths(resume)
        for dotted in self.INPUT_PATHS:
            section, _, key = dotted.partition(".")
            value = d[section][key]
            if value is None:
                continue
            paths = [value] if isinstance(value, str) else list(value)
            resolved = [self._resolve_path(dotted, p, dotted in unused) for p in paths]
            d[section][key] = resolved[0] if isinstance(value, str) else resolved
        self._resolve_more_paths(d, unused)
        return type(self).from_dict(d)

    def _resolve_more_paths(self, d: dict, unused: set[str]) -> None:
        """Resolve input paths that INPUT_PATHS cannot name (inside lists) in ``d``."""

    def _resolve_path(self, dotted: str, path, unused: bool) -> str:
        """One input path, absolute and checked (see :meth:`with_resolved_paths`)."""
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{dotted}: expected a path, got {path!r}")
        full = os.path.abspath(os.path.expanduser(path))
        if not os.path.exists(full):
            # A local directory wins over a shipped model of the same name, as in
            # resolve_model_dir.
            if dotted in self.MODEL_NAME_KEYS and path in pretrained.SHIPPED:
                return path
            if not unused:
                where = ("" if os.path.isabs(path) else
                         f" (relative paths are taken from the current directory, "
                         f"{os.getcwd()})")
                hint = self.PATH_HINTS.get(dotted.split("[")[0], "")
                raise ConfigPathError(f"{dotted}: {path!r} does not exist{where}"
                                      + (f"; {hint}" if hint else ""))
        return full

    def merged(self, overrides: dict):
        """A copy with ``{"section.key": value}`` overrides applied (and validated)."""
        d = self.to_dict()
        for dotted, value in overrides.items():
            section, _, key = dotted.partition(".")
            if section not in d or key not in d[section]:
                raise ConfigError(f"unknown config key {dotted!r}")
            d[section][key] = value
        return type(self).from_dict(d)


def check_optim_run(o: OptimConfig, r: RunConfig, num_workers: int) -> None:
    """The checks of the ``optim`` and ``run`` sections (and ``data.num_workers``)."""
    def bad(key: str, msg: str) -> None:
        raise ConfigError(f"{key}: {msg}")

    for key, v, lo in (("data.num_workers", num_workers, 0),
                       ("optim.warmup_steps", o.warmup_steps, 0),
                       ("optim.grad_accum", o.grad_accum, 1),
                       ("run.batch_size", r.batch_size, 1), ("run.max_steps", r.max_steps, 1),
                       ("run.checkpoint_every", r.checkpoint_every, 1),
                       ("run.keep_checkpoints", r.keep_checkpoints, 1),
                       ("run.log_every", r.log_every, 1),
                       ("run.preview_every", r.preview_every, 1),
                       ("run.max_bad_steps", r.max_bad_steps, 1),
                       ("run.max_recoveries", r.max_recoveries, 0)):
        if v < lo:
            bad(key, f"must be >= {lo}, got {v}")
    if not 0 < o.lr < 1:
        bad("optim.lr", f"must be in (0, 1), got {o.lr}")
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        bad("optim.betas", f"must be [beta1, beta2] in [0, 1), got {o.betas}")
    if o.weight_decay < 0:
        bad("optim.weight_decay", f"must be >= 0, got {o.weight_decay}")
    if not 0 <= o.min_lr_ratio <= 1:
        bad("optim.min_lr_ratio", f"must be in [0, 1], got {o.min_lr_ratio}")
    if o.grad_clip is not None and o.grad_clip <= 0:
        bad("optim.grad_clip", f"must be > 0 or null (no clipping), got {o.grad_clip}")
    if o.ema_decay is not None and not 0 < o.ema_decay < 1:
        bad("optim.ema_decay", f"must be in (0, 1) or null (no EMA), got {o.ema_decay}")
    if r.max_minutes is not None and r.max_minutes <= 0:
        bad("run.max_minutes", f"must be > 0 or null, got {r.max_minutes}")
    if not 0 < r.nan_lr_factor <= 1:
        bad("run.nan_lr_factor", f"must be in (0, 1], got {r.nan_lr_factor}")
    if r.precision not in PRECISIONS:
        bad("run.precision", f"choose one of {PRECISIONS}, got {r.precision!r}")
    if not (r.device in ("auto", "cpu", "cuda") or r.device.startswith("cuda:")):
        bad("run.device", f"auto, cpu, cuda or cuda:N, got {r.device!r}")


@dataclass
class TrainConfig(SectionedConfig):
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    grow: GrowConfig = field(default_factory=GrowConfig)

    INPUT_PATHS = ("data.path", "model.init_from", "loss.lpips_path", "loss.lpips_backbone")
    MODEL_NAME_KEYS = ("model.init_from",)

    def unused_paths(self, resume: bool) -> set[str]:
        # A resumed run starts from its checkpoint, not from init_from; LPIPS weights are
        # read only with a perceptual loss.
        return ({"model.init_from"} if resume else set()) | (
            {"loss.lpips_path", "loss.lpips_backbone"} if self.loss.perceptual == 0 else set())

    def _resolve_more_paths(self, d: dict, unused: set[str]) -> None:
        for k, source in enumerate(d["data"]["sources"] or []):
            path = source.get("path") if isinstance(source, dict) else None
            if isinstance(path, list):
                source["path"] = [self._resolve_path(f"data.sources[{k}].path", p, False)
                                  for p in path]
            elif path is not None:
                source["path"] = self._resolve_path(f"data.sources[{k}].path", path, False)

    PATH_HINTS = {
        "data.sources": "a folder or file of videos (kind videos) or photos (kind stills); "
                        "configs/fast-mixed.yaml reads the project's photos and the split "
                        "`bootvid experiment split --data ../shared/data/videos --out "
                        "runs/split` writes. --data DIR replaces the sources with your videos",
        "model.init_from": "give a save_pretrained directory, a training run or a shipped "
                           f"model ({pretrained.SHIPPED_LIST})",
        "loss.lpips_path": "LPIPS-VGG weights are read from a local file (nothing is "
                           "downloaded); or set loss.perceptual: 0",
        "loss.lpips_backbone": "torchvision's vgg16 ImageNet weights, from a local file "
                               "(nothing is downloaded)"}

    def __post_init__(self) -> None:
        self.validate()

    # ---- construction -----------------------------------------------------------------------

    @classmethod
    def for_preset(cls, preset: str) -> "TrainConfig":
        """The defaults of a tokenizer preset (what ``configs/<preset>.yaml`` holds)."""
        from ..tokenizer.config import TokenizerConfig

        if preset not in TokenizerConfig.presets():
            raise ConfigError(f"model.preset: unknown preset {preset!r}; choose one of "
                              f"{TokenizerConfig.presets()}")
        return cls.from_dict(_PRESET_DEFAULTS[preset])

    # ---- checks -----------------------------------------------------------------------------

    def validate(self) -> None:
        from ..tokenizer.config import TokenizerConfig

        def bad(key: str, msg: str) -> None:
            raise ConfigError(f"{key}: {msg}")

        m, dt, ls, o, r, g = self.model, self.data, self.loss, self.optim, self.run, self.grow
        if m.preset not in TokenizerConfig.presets():
            bad("model.preset", f"unknown preset {m.preset!r}; choose one of "
                f"{TokenizerConfig.presets()}")
        if m.temporal_compression not in (4, 8, 16):
            bad("model.temporal_compression", f"must be 4 (Stage I) or 8 / 16 (direct "
                f"baselines), got {m.temporal_compression!r}")
        import dataclasses as dc

        known = {f.name for f in dc.fields(TokenizerConfig)} - {"growth", "temporal_downsample"}
        unknown = sorted(set(m.overrides) - known)
        if unknown:
            bad("model.overrides", f"unknown field(s) {unknown}; TokenizerConfig fields are "
                f"{sorted(known)}")
        try:
            self.tokenizer_config()
        except (ValueError, TypeError) as e:
            bad("model.overrides", str(e))
        check_optim_run(o, r, dt.num_workers)
        for key, v, lo in (("data.frames", dt.frames, 1), ("data.size", dt.size, 8),
                           ("data.frame_stride", dt.frame_stride, 1),
                           ("loss.gan_start", ls.gan_start, 0)):
            if v < lo:
                bad(key, f"must be >= {lo}, got {v}")
        _check_sources(dt)
        if len(dt.scale_range) != 2 or not 0 < dt.scale_range[0] <= dt.scale_range[1]:
            bad("data.scale_range", f"must be [lo, hi] with 0 < lo <= hi, got {dt.scale_range}")
        for key, v in (("loss.l1", ls.l1), ("loss.kl", ls.kl), ("loss.perceptual", ls.perceptual),
                       ("loss.gan", ls.gan), ("loss.lecam", ls.lecam)):
            if not (v >= 0 and math.isfinite(v)):
                bad(key, f"must be a finite weight >= 0, got {v}")
        if ls.perceptual > 0 and not ls.lpips_path:
            bad("loss.lpips_path", "loss.perceptual > 0 needs a local LPIPS-VGG weights file "
                "(nothing is downloaded): set loss.lpips_path, or loss.perceptual: 0")
        from .gan import GAN_LOSSES

        if ls.gan_loss not in GAN_LOSSES:
            bad("loss.gan_loss", f"choose one of {GAN_LOSSES}, got {ls.gan_loss!r}")
        if ls.disc_preset not in ("tiny", "small", "base"):
            bad("loss.disc_preset", f"choose tiny, small or base, got {ls.disc_preset!r}")
        if ls.disc_lr is not None and not (0 < ls.disc_lr < 1):
            bad("loss.disc_lr", f"must be in (0, 1), got {ls.disc_lr}")
        from ..growth import GROWTH_FACTORS, MIXING_MODES

        if g.factor not in GROWTH_FACTORS:
            bad("grow.factor", f"choose one of {GROWTH_FACTORS}, got {g.factor!r}")
        if g.mixing not in MIXING_MODES:
            bad("grow.mixing", f"choose one of {list(MIXING_MODES)}, got {g.mixing!r}")

    def tokenizer_config(self):
        """The :class:`TokenizerConfig` of the model ``bootvid train`` builds."""
        from ..tokenizer.config import TokenizerConfig

        m = self.model
        return TokenizerConfig.direct(m.preset, m.temporal_compression, **m.overrides)

    def check_frames(self, temporal_compression: int) -> None:
        """Clips must be ``1 + k * temporal_compression`` frames long (k >= 0)."""
        f = self.data.frames
        if (f - 1) % temporal_compression:
            k = max(1, round((f - 1) / temporal_compression))
            raise ConfigError(
                f"data.frames: a {temporal_compression}x tokenizer trains on clips of "
                f"1 + k*{temporal_compression} frames, got {f}; use e.g. "
                f"{1 + k * temporal_compression}")


def _check_sources(dt: DataConfig) -> None:
    """The checks of ``data.sources`` and ``data.image_ratio``; sources get their default
    weight (1.0) filled in."""
    if not (0 <= dt.image_ratio < 1):
        raise ConfigError(f"data.image_ratio: the share of single-frame items, in [0, 1), got "
                          f"{dt.image_ratio}")
    if dt.sources is None:
        return
    if dt.path is not None:
        raise ConfigError("data.path and data.sources: give one of them (a source "
                          "{kind: videos, path: ...} is what data.path means)")
    if not dt.sources:
        raise ConfigError("data.sources: an empty list; give at least one source, or null "
                          "(then data.path, or synthetic videos)")
    for k, source in enumerate(dt.sources):
        key = f"data.sources[{k}]"
        if not isinstance(source, dict):
            raise ConfigError(f"{key}: expected a mapping {{kind, path, weight}}, got "
                              f"{source!r}")
        unknown = sorted(set(source) - {"kind", "path", "weight"})
        if unknown:
            raise ConfigError(f"{key}: unknown key(s) {unknown}; a source has kind, path and "
                              "weight")
        kind = source.get("kind")
        if kind not in SOURCE_KINDS:
            raise ConfigError(f"{key}.kind: choose one of {SOURCE_KINDS}, got {kind!r}")
        path = source.get("path")
        if kind == "synthetic" and path is not None:
            raise ConfigError(f"{key}.path: synthetic clips read no files; leave path out")
        paths = path if isinstance(path, list) else [path]
        if kind != "synthetic" and not (paths and all(isinstance(p, str) and p for p in paths)):
            raise ConfigError(f"{key}.path: a {kind} source needs a path (a folder or file, or "
                              f"a list of them), got {path!r}")
        weight = source.setdefault("weight", 1.0)
        try:  # (YAML 1.1 reads 1e-1, without a dot, as a string)
            weight = float(weight) if not isinstance(weight, bool) else float("nan")
        except (TypeError, ValueError):
            weight = float("nan")
        if not (math.isfinite(weight) and weight > 0):
            raise ConfigError(f"{key}.weight: must be a number > 0 (to leave a source out, "
                              f"remove it), got {source['weight']!r}")
        source["weight"] = weight


# ---- presets --------------------------------------------------------------------------------

def _preset_defaults(preset: str, size: int, workers: int, gan_start: int, lr: float,
                     warmup: int, batch: int, steps: int, every: int, preview: int) -> dict:
    """What differs between the presets' training defaults; the rest is the dataclasses'."""
    return {"model": {"preset": preset},
            "data": {"frames": 17, "size": size, "num_workers": workers},
            "loss": {"gan": 0.1, "gan_start": gan_start, "lecam": 0.001, "disc_preset": preset},
            "optim": {"lr": lr, "warmup_steps": warmup},
            "run": {"batch_size": batch, "max_steps": steps, "checkpoint_every": every,
                    "preview_every": preview}}


_PRESET_DEFAULTS: dict[str, dict] = {
    # CPU: seconds per step at 17x64x64; the GAN joins late so short runs stay L1 + KL.
    "tiny": _preset_defaults("tiny", 64, 1, 2000, 3e-4, 100, 4, 3000, 100, 50),
    # CPU runs at 64-128 px (patchified): a short-run recipe, L1 + KL only (no GAN, no
    # perceptual loss at CPU budgets), Adam with momentum, a short warm-up, a fast EMA.
    "fast": {**_preset_defaults("fast", 64, 1, 0, 6e-4, 50, 4, 3000, 100, 100),
             "loss": {"gan": 0.0, "disc_preset": "tiny"},
             "optim": {"lr": 6e-4, "betas": (0.9, 0.99), "warmup_steps": 50,
                       "ema_decay": 0.995}},
    # CPU at 128x128 (hours), or a GPU.
    "small": _preset_defaults("small", 128, 2, 5000, 2e-4, 500, 4, 20000, 1000, 1000),
    # MagViT-v2 sized: GPUs.
    "base": _preset_defaults("base", 128, 6, 20000, 1e-4, 2000, 8, 200000, 2000, 2000),
}


# ---- dict <-> dataclass ---------------------------------------------------------------------

def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _build(cls: type, d: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "the config"
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got "
                          f"{type(d).__name__} ({d!r})")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {[prefix + k for k in unknown]} in {where}; known keys "
                          f"are {sorted(fields)}")
    kwargs = {}
    for name, value in d.items():
        kwargs[name] = _coerce(hints[name], value, prefix + name)
    if prefix:  # nested sections are validated by the top-level TrainConfig
        return cls(**kwargs)
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(str(e)) from None


def _coerce(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".")
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: a value is required, got null")
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{key}: {value!r} is none of the accepted types")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if tp in (tuple, list) or origin in (tuple, list):
        if isinstance(value, (list, tuple)):
            return tuple(value) if tp is tuple or origin is tuple else list(value)
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    return value
