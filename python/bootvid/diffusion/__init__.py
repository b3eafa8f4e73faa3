"""Latent video diffusion on bootvid latents: latent caches, a DiT, rectified flow.

>>> from bootvid.diffusion import DiTTrainConfig, DiTTrainer
>>> cfg = DiTTrainConfig().merged({"data.latents": "latents/16x", "run.max_steps": 2000})
>>> DiTTrainer(cfg, "runs/dit16x").run()

The command line does the same: ``bootvid latents``, ``bootvid dit train / sample / budget``.
"""

from .config import DiTTrainConfig
from .dit import DIT_PRESETS, DiT, DiTConfig, dit_config, dit_flops
from .flow import flow_loss, sample
from .latents import LatentCacheError, LatentDataset, cache_latents, finalize_cache
from .sampling import load_dit, sample_video, token_budget
from .trainer import DiTTrainer

__all__ = ["DIT_PRESETS", "DiT", "DiTConfig", "DiTTrainConfig", "DiTTrainer", "LatentCacheError",
           "LatentDataset", "cache_latents", "dit_config", "dit_flops", "finalize_cache",
           "flow_loss", "load_dit", "sample", "sample_video", "token_budget"]
