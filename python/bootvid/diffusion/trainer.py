"""The DiT trainer behind ``bootvid dit train``: rectified flow on a latent cache.

It runs the tokenizer trainer's loop (:class:`~bootvid.train.loop.TrainingLoop`: torchrun
DDP, exact resume, EMA, bf16 autocast, atomic checkpoints, logs, ``--max-minutes``, clean
stop on signals). Every random draw of a step (noise, time, label dropout) comes from the
clip's index, so resumed and multi-process runs match an uninterrupted single process.
"""

from __future__ import annotations

import os

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from ..data.seeding import item_generator
from ..train.ema import EMA
from ..train.loop import TrainingLoop, TrainResult
from .config import DiTTrainConfig
from .dit import DiT, DiTConfig, dit_config
from .flow import flow_loss, logit_normal_time
from .latents import LatentDataset

MODEL_DIR, EMA_DIR = "model", "model_ema"
_FLOW_STREAM = 0x464C4F57  # "FLOW": item_generator stream of the per-clip draws


class DiTTrainer(TrainingLoop):
    """Trains a DiT on the latent cache ``config.data.latents`` (or ``dataset``, a
    :class:`LatentDataset`). ``run_dir`` receives ``dit_config.yaml``, checkpoints, logs and
    the final ``model/`` and ``model_ema/`` (``DiT.save_pretrained``, with the cache's
    tokenizer, latent shape and normalisation in their metadata, which sampling needs)."""

    config_file = "dit_config.yaml"
    postfix_keys = ("loss",)

    def __init__(self, config: DiTTrainConfig, run_dir: str | os.PathLike, *,
                 resume: bool = False, dataset: Dataset | None = None, progress: bool = True,
                 hooks=()) -> None:
        # Input paths absolute and checked before anything runs (the saved config then works
        # from any directory).
        config = config.with_resolved_paths(resume)
        state = self._setup_run(config, run_dir, resume, progress, hooks)
        if dataset is None:
            if not config.data.latents:
                from ..train.config import ConfigError

                raise ConfigError("data.latents: no latent cache given; make one with `bootvid "
                                  "latents` and pass --latents DIR")
            dataset = LatentDataset(config.data.latents, seed=config.run.seed)
        self.dataset = dataset
        torch.manual_seed(config.run.seed)  # the initial weights (every process alike)
        if state is not None:
            cfg = DiTConfig.from_dict(state["dit_config"])
        else:
            cfg = dit_config(config.model.preset, **config.model.overrides,
                             in_channels=dataset.latent_shape[0],
                             num_classes=dataset.num_classes)
        if cfg.in_channels != dataset.latent_shape[0]:
            raise ValueError(f"the run's DiT takes {cfg.in_channels}-channel latents, the cache "
                             f"has {dataset.latent_shape[0]}")
        self.model = DiT(cfg)
        if state is not None:
            self.model.load_state_dict(state["model"])
        self.model.to(self.device).train()
        self.named_trainable = list(self.model.named_parameters())
        self.step_module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = DistributedDataParallel(self.model, device_ids=ids)
        o = config.optim
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=o.lr,
                                           betas=tuple(o.betas), weight_decay=o.weight_decay)
        self.ema = EMA(self.named_trainable, o.ema_decay) if o.ema_decay else None
        self._finish_setup(state)

    # ---- one step ---------------------------------------------------------------------------

    def _draws(self, indices: list[int], z: torch.Tensor, y: torch.Tensor):
        """Noise, time and (dropped) labels per clip, from the clip's index alone."""
        f, seed = self.config.flow, self.config.run.seed
        noise, times, labels = [], [], []
        for i, label in zip(indices, y.tolist()):
            g = item_generator(seed, i, _FLOW_STREAM)
            noise.append(torch.randn(z.shape[1:], generator=g))
            times.append(logit_normal_time(1, f.time_mean, f.time_std, generator=g))
            drop = bool(torch.rand((), generator=g) < f.label_dropout)
            labels.append(self.model.null_label if drop else label)
        labels_t = None
        if self.model.null_label is not None:
            labels_t = torch.tensor(labels, device=self.device)
        return (torch.stack(noise).to(self.device), torch.cat(times).to(self.device), labels_t)

    def forward_backward(self, indices: list[int], batch, scale: float = 1.0,
                         sync: bool = True) -> tuple[dict[str, float], None]:
        import contextlib

        z, y = batch
        z = z.to(self.device, non_blocking=True)
        noise, t, labels = self._draws(indices, z, y)
        no_sync = (self.step_module.no_sync if self.dist.enabled and not sync
                   else contextlib.nullcontext)
        with no_sync():
            with self._autocast():
                loss = flow_loss(self.step_module, z, noise, t, labels)
            (loss * scale).backward()
        return {"loss": float(loss.detach())}, None

    # ---- state ------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {**self.loop_state(), "dit_config": self.model.config.to_dict(),
                "train_config": self.config.to_dict(),
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()}}

    def _load_model_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])

    def model_metadata(self) -> dict:
        """What sampling needs besides the weights: the cache's tokenizer and latent scale."""
        index = getattr(self.dataset, "index", {})
        keys = ("tokenizer", "tokenizer_fingerprint", "temporal_compression",
                "spatial_compression", "clip_frames", "size", "latent_shape", "classes", "mean",
                "std")
        meta = {k: index[k] for k in keys if k in index}
        meta.update(step=self.step, train_seconds=round(self.train_seconds, 1))
        return meta

    def save_models(self) -> tuple[str, str | None]:
        model_dir = os.path.join(self.run_dir, MODEL_DIR)
        ema_dir = os.path.join(self.run_dir, EMA_DIR) if self.ema is not None else None
        if self.dist.is_main:
            meta = self.model_metadata()
            self.model.save_pretrained(model_dir, metadata=meta)
            if self.ema is not None:
                shadow = DiT(self.model.config)
                shadow.load_state_dict(self.model.state_dict())
                self.ema.copy_to(shadow)
                shadow.save_pretrained(ema_dir, metadata=meta)
        self.dist.barrier()
        return model_dir, ema_dir

    def _progress_label(self) -> str:
        return "dit"

    def _start_message(self) -> str:
        return (f"start: DiT {self.model.num_parameters():,} parameters on latents "
                f"{tuple(self.dataset.latent_shape)} ({len(self.dataset)} clips); world size "
                f"{self.dist.world_size}; device {self.device}; bf16 {self.bf16}")


__all__ = ["DiTTrainer", "TrainResult", "MODEL_DIR", "EMA_DIR"]
