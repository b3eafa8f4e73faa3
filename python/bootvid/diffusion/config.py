"""DiT training configuration: YAML mapped onto dataclasses, checked before any work starts.

The ``optim`` and ``run`` sections are the tokenizer trainer's (same keys, same meaning);
``model`` picks a DiT preset, ``data`` the latent cache, ``flow`` the rectified-flow settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from ..train.config import (ConfigError, OptimConfig, RunConfig, SectionedConfig,
                            check_optim_run)


@dataclass
class DiTModelConfig:
    preset: str = "tiny"
    #: DiTConfig fields that replace the preset's (e.g. depth, patch_size).
    overrides: dict = field(default_factory=dict)


@dataclass
class LatentDataConfig:
    #: A latent cache written by ``bootvid latents``.
    latents: Optional[str] = None
    num_workers: int = 0


@dataclass
class FlowConfig:
    #: Logit-normal training times: sigmoid(time_mean + time_std * N(0, 1)).
    time_mean: float = 0.0
    time_std: float = 1.0
    #: Share of labels replaced by the null label (classifier-free guidance); class caches only.
    label_dropout: float = 0.1


def _dit_optim() -> OptimConfig:
    return OptimConfig(lr=3e-4, betas=(0.9, 0.99), weight_decay=0.0, warmup_steps=100,
                       min_lr_ratio=0.1, grad_clip=1.0, ema_decay=0.999)


def _dit_run() -> RunConfig:
    return RunConfig(batch_size=8, max_steps=5000, checkpoint_every=500, preview_every=10 ** 9,
                     log_every=10)


@dataclass
class DiTTrainConfig(SectionedConfig):
    model: DiTModelConfig = field(default_factory=DiTModelConfig)
    data: LatentDataConfig = field(default_factory=LatentDataConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    optim: OptimConfig = field(default_factory=_dit_optim)
    run: RunConfig = field(default_factory=_dit_run)

    INPUT_PATHS = ("data.latents",)
    PATH_HINTS = {"data.latents": "make a latent cache with `bootvid latents`"}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        from .dit import DIT_PRESETS, dit_config

        def bad(key: str, msg: str) -> None:
            raise ConfigError(f"{key}: {msg}")

        if self.model.preset not in DIT_PRESETS:
            bad("model.preset", f"unknown DiT preset {self.model.preset!r}; choose one of "
                f"{sorted(DIT_PRESETS)}")
        for key in ("in_channels", "num_classes"):
            if key in self.model.overrides:
                bad("model.overrides", f"{key} comes from the latent cache; do not set it")
        try:
            dit_config(self.model.preset, **self.model.overrides)
        except (ValueError, TypeError) as e:
            bad("model.overrides", str(e))
        f = self.flow
        if not math.isfinite(f.time_mean):
            bad("flow.time_mean", f"must be finite, got {f.time_mean}")
        if not (f.time_std > 0 and math.isfinite(f.time_std)):
            bad("flow.time_std", f"must be > 0, got {f.time_std}")
        if not 0 <= f.label_dropout < 1:
            bad("flow.label_dropout", f"must be in [0, 1), got {f.label_dropout}")
        check_optim_run(self.optim, self.run, self.data.num_workers)


__all__ = ["DiTModelConfig", "DiTTrainConfig", "FlowConfig", "LatentDataConfig"]
