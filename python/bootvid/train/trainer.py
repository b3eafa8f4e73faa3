"""The tokenizer trainer behind ``bootvid train`` and ``bootvid grow``.

One process or many (``torchrun``: DistributedDataParallel, NCCL on GPUs, gloo on CPU). Every
random draw of a step is a function of the seed and the clip indices (see
:class:`~bootvid.train.sampler.StepSampler`), so a run resumed from a checkpoint reaches the
same weights as an uninterrupted one, and N processes compute the gradient one process would
over the same global batch.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from .. import __version__
from ..tokenizer import TokenizerConfig, VideoTokenizer
from . import checkpoint as ckpt
from .config import ConfigError, TrainConfig
from .distributed import DistContext, init_distributed
from .ema import EMA
from .logger import RunLogger
from .rundir import CONFIG_FILE, EMA_DIR, MODEL_DIR, load_tokenizer
from ..data.seeding import item_generator
from .sampler import IndexedDataset, StepSampler
from .schedule import lr_factor

# item_generator stream of the posterior noise ("NOISE"); datasets use small stream numbers.
_NOISE_STREAM = 0x4E4F495345


@dataclass
class TrainResult:
    run_dir: str
    step: int
    stopped: str  # "max_steps", "max_minutes" or "interrupted"
    model_dir: str | None = None
    ema_dir: str | None = None
    last: dict = field(default_factory=dict)  # the last logged scalars


class _Autoencode(nn.Module):
    """encode -> sample with given noise -> decode, as one module so DDP sees one forward."""

    def __init__(self, tok: VideoTokenizer) -> None:
        super().__init__()
        self.tok = tok

    def forward(self, x: torch.Tensor, noise: torch.Tensor):
        post = self.tok.encode(x)
        z = post.mean + post.std * noise.to(post.mean.dtype)
        return self.tok.decode(z, num_frames=x.shape[2]), post


def build_dataset(config: TrainConfig) -> Dataset:
    """The training clips the config describes: a video folder, or synthetic videos."""
    d, seed = config.data, config.run.seed
    if d.path is None:
        from ..data import SyntheticVideoDataset

        return SyntheticVideoDataset(frames=d.frames, size=d.size, seed=seed)
    from ..data import VideoFolderDataset

    return VideoFolderDataset(d.path, frames=d.frames, size=d.size, frame_stride=d.frame_stride,
                              seed=seed, scale_range=tuple(d.scale_range), hflip=d.hflip)


def _last_trainable_weight(module: nn.Module) -> nn.Parameter | None:
    """The decoder's last trainable weight: where the adaptive GAN weight compares gradients."""
    last = None
    for p in module.parameters():
        if p.requires_grad and p.dim() > 1:
            last = p
    return last


def _resolve_device(name: str, dist_ctx: DistContext) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{dist_ctx.local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"run.device: {name} requested but no CUDA GPU is available; use "
                          "--device cpu")
    return torch.device(name)


class Trainer:
    """Trains a tokenizer from scratch (Stage I or a direct baseline), or, with ``grow_from``,
    grows a trained one by ``config.grow.factor`` and trains only the new stage.

    ``run_dir`` receives the config, checkpoints, ``log.jsonl``, previews and the final
    ``model/`` and ``model_ema/``. ``resume=True`` continues the run in ``run_dir`` from its
    newest readable checkpoint (the model is rebuilt from the checkpoint: no ``grow_from``
    needed). ``dataset`` replaces the config's data (tests). ``hooks`` are called as
    ``hook(trainer, step)`` after every optimizer step.
    """

    def __init__(self, config: TrainConfig, run_dir: str | os.PathLike, *,
                 grow_from: str | os.PathLike | None = None, resume: bool = False,
                 dataset: Dataset | None = None, progress: bool = True, hooks=()) -> None:
        self.config = config
        self.run_dir = os.fspath(run_dir)
        self.progress = progress
        self.hooks = list(hooks)
        self.dist = init_distributed("cuda" if config.run.device.startswith("cuda") or (
            config.run.device == "auto" and torch.cuda.is_available()) else "cpu")
        self.device = _resolve_device(config.run.device, self.dist)
        prec = config.run.precision
        self.bf16 = prec == "bf16" or (prec == "auto" and self.device.type == "cuda")
        if self.bf16 and self.device.type == "cpu":
            # Reproduced with plain F.conv3d on torch 2.14.1: the oneDNN bf16 weight gradient
            # of some 3D convs (e.g. 32 channels, 64x64, 3 frames) holds NaNs or segfaults.
            raise ConfigError("run.precision: bf16 training on CPU is refused: PyTorch's CPU "
                              "(oneDNN) bf16 conv3d backward returns NaN weight gradients for "
                              "some shapes and can crash; use fp32 on CPU (bf16 is for GPUs)")

        state = self._resume_state() if resume else self._check_new_run_dir()
        torch.manual_seed(config.run.seed)  # the initial weights (every process alike)
        self.tok, self.source = self._build_model(grow_from, state)
        config.check_frames(self.tok.temporal_compression)
        self.dataset = dataset if dataset is not None else build_dataset(config)
        if state is None:  # only now that the config is known to work
            self._create_run_dir()
        self.tok.to(self.device).train()
        self.named_trainable = [(n, p) for n, p in self.tok.named_parameters() if p.requires_grad]
        if not self.named_trainable:
            raise ValueError("the model has no trainable parameter")
        self.step_module: nn.Module = _Autoencode(self.tok)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = DistributedDataParallel(self.step_module, device_ids=ids)

        o = config.optim
        self.optimizer = torch.optim.AdamW([p for _, p in self.named_trainable], lr=o.lr,
                                           betas=tuple(o.betas), weight_decay=o.weight_decay)
        self.ema = EMA(self.named_trainable, o.ema_decay) if o.ema_decay else None
        self._build_losses()

        self.step = 0
        self.train_seconds = 0.0
        self.bad_steps = 0
        if state is not None:
            self._load_state(state)
        self.logger = RunLogger(self.run_dir) if self.dist.is_main else None

    # ---- setup ------------------------------------------------------------------------------

    def _resume_state(self) -> dict:
        if not ckpt.list_checkpoints(self.run_dir):
            raise FileNotFoundError(f"--resume: {self.run_dir} has no checkpoint to resume "
                                    f"from (expected {ckpt.CHECKPOINT_DIR}/step_*.pt)")
        found = ckpt.load_latest_checkpoint(self.run_dir)
        if found is None:
            raise RuntimeError(f"--resume: no checkpoint in {self.run_dir} could be read")
        return found[1]

    def _check_new_run_dir(self) -> None:
        existing = ckpt.list_checkpoints(self.run_dir)
        if existing:
            raise FileExistsError(f"{self.run_dir} already holds a training run (checkpoints up "
                                  f"to step {existing[-1][0]}); continue it with --resume or "
                                  "choose another --out")

    def _create_run_dir(self) -> None:
        if self.dist.is_main:
            os.makedirs(self.run_dir, exist_ok=True)
            with open(os.path.join(self.run_dir, CONFIG_FILE), "w", encoding="utf-8") as f:
                f.write(self.config.to_yaml())
        self.dist.barrier()

    def _build_model(self, grow_from, state) -> tuple[VideoTokenizer, str]:
        from ..growth import from_config, grow

        if state is not None:  # the checkpoint knows the whole model, grown or not
            tok = from_config(TokenizerConfig.from_dict(state["tokenizer_config"]))
            tok.load_state_dict(state["model"])
            if tok.config.growth:  # only the newest stage trains
                tok.requires_grad_(False)
                for p in tok.trainable_parameters():
                    p.requires_grad_(True)
            return tok, f"resumed from step {state['step']}"
        if grow_from is not None:
            g = self.config.grow
            lower, what = load_tokenizer(grow_from)
            return grow(lower, g.factor, g.mixing, g.norm_center), f"grown from the {what}"
        tok = VideoTokenizer(self.config.tokenizer_config())
        if self.config.model.init_from:
            from ..tokenizer import init_from_lower

            source, what = load_tokenizer(self.config.model.init_from)
            report = init_from_lower(tok, source)
            return tok, f"initialised from the {what} ({report})"
        return tok, "trained from scratch"

    def _build_losses(self) -> None:
        ls = self.config.loss
        self.disc = self.disc_module = self.lecam = self.lpips = None
        if ls.gan > 0:
            from .discriminator import Discriminator3d
            from .gan import LeCAM

            self.disc_module = Discriminator3d.from_preset(ls.disc_preset).to(self.device).train()
            self.disc = (DistributedDataParallel(
                self.disc_module, device_ids=[self.device.index] if self.device.type == "cuda"
                else None) if self.dist.enabled else self.disc_module)
            o = self.config.optim
            self.disc_optimizer = torch.optim.AdamW(
                self.disc_module.parameters(), lr=ls.disc_lr or o.lr, betas=tuple(o.betas),
                weight_decay=o.weight_decay)
            self.lecam = LeCAM().to(self.device) if ls.lecam > 0 else None
            self.last_layer = (_last_trainable_weight(self.tok.decoder)
                               if ls.adaptive_gan_weight else None)
        if ls.perceptual > 0:
            from .perceptual import LPIPS

            self.lpips = LPIPS.from_file(ls.lpips_path, backbone=ls.lpips_backbone).to(self.device)

    def _load_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        if self.disc_module is not None and state.get("disc") is not None:
            self.disc_module.load_state_dict(state["disc"])
            self.disc_optimizer.load_state_dict(state["disc_optimizer"])
            if self.lecam is not None and state.get("lecam") is not None:
                self.lecam.load_state_dict(state["lecam"])
        self.step = int(state["step"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.bad_steps = int(state.get("bad_steps", 0))
        torch.set_rng_state(state["rng"]["torch"])

    def state_dict(self) -> dict:
        return {
            "bootvid_version": __version__,
            "step": self.step,
            "train_seconds": self.train_seconds,
            "bad_steps": self.bad_steps,
            "tokenizer_config": self.tok.config.to_dict(),
            "train_config": self.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.tok.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "disc": self.disc_module.state_dict() if self.disc_module is not None else None,
            "disc_optimizer": (self.disc_optimizer.state_dict()
                               if self.disc_module is not None else None),
            "lecam": self.lecam.state_dict() if self.lecam is not None else None,
            "rng": {"torch": torch.get_rng_state()},
        }

    # ---- one step ---------------------------------------------------------------------------

    def _noise(self, indices: list[int], x: torch.Tensor) -> torch.Tensor:
        """Posterior noise per clip, drawn from the clip's index: independent of how the
        global batch is split over processes and micro-steps."""
        shape = self.tok.latent_shape(*x.shape[2:])
        seed = self.config.run.seed
        return torch.stack([torch.randn(shape, generator=item_generator(seed, i, _NOISE_STREAM))
                            for i in indices]).to(self.device)

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def gan_active(self) -> bool:
        return self.disc is not None and self.step >= self.config.loss.gan_start

    def forward_backward(self, indices: list[int], x: torch.Tensor, scale: float = 1.0,
                         sync: bool = True) -> tuple[dict[str, float], torch.Tensor]:
        """Losses of one micro-batch, backpropagated (times ``scale``) into the trainable
        parameters (and the discriminator's, when the GAN is on). Returns the loss terms and
        the reconstruction."""
        ls = self.config.loss
        x = x.to(self.device, non_blocking=True)
        noise = self._noise(indices, x)
        no_sync = (self.step_module.no_sync if self.dist.enabled and not sync
                   else contextlib.nullcontext)
        terms: dict[str, torch.Tensor] = {}
        with no_sync():
            with self._autocast():
                recon, post = self.step_module(x, noise)
            recon = recon.float()
            rec = (recon - x).abs().mean()
            kl = post.kl().mean()
            loss = ls.l1 * rec + ls.kl * kl
            terms["l1"], terms["kl"] = rec, kl
            if self.lpips is not None:
                with self._autocast():
                    p = self.lpips(recon, x).float()
                loss = loss + ls.perceptual * p
                terms["lpips"] = p
            if self.gan_active():
                self.disc_module.requires_grad_(False)
                with self._autocast():
                    g = self._g_loss(self.disc_module(recon))
                self.disc_module.requires_grad_(True)
                w = torch.tensor(1.0, device=self.device)
                if self.last_layer is not None:
                    from .gan import adaptive_weight

                    w = adaptive_weight(ls.l1 * rec, g, self.last_layer)
                loss = loss + ls.gan * w * g
                terms["g_loss"], terms["gan_weight"] = g, w
            terms["loss"] = loss
            (loss * scale).backward()
        if self.gan_active():
            terms.update(self._disc_backward(x, recon.detach(), scale, sync))
        return {k: float(v.detach()) for k, v in terms.items()}, recon.detach()

    def _g_loss(self, logits: torch.Tensor) -> torch.Tensor:
        from .gan import g_loss

        return g_loss(self.config.loss.gan_loss, logits.float())

    def _disc_backward(self, real: torch.Tensor, fake: torch.Tensor, scale: float,
                       sync: bool) -> dict[str, torch.Tensor]:
        from .gan import d_loss

        ls = self.config.loss
        no_sync = self.disc.no_sync if self.dist.enabled and not sync else contextlib.nullcontext
        with no_sync():
            with self._autocast():  # one forward for both halves: one DDP reduction
                logits = self.disc(torch.cat([real, fake])).float()
            lr, lf = logits.chunk(2)
            d = d_loss(ls.gan_loss, lr, lf)
            total = d
            out = {"d_loss": d}
            if self.lecam is not None:
                pen = self.lecam.penalty(lr, lf)
                self.lecam.update(lr, lf)
                total = total + ls.lecam * pen
                out["lecam"] = pen
            (total * scale).backward()
        return out

    def _set_lr(self) -> float:
        """The learning rate of this step (warmup + cosine, see :func:`lr_factor`)."""
        o, r = self.config.optim, self.config.run
        frac = self.train_seconds / (r.max_minutes * 60) if r.max_minutes else None
        lr = o.lr * lr_factor(self.step, o.warmup_steps, r.max_steps, o.min_lr_ratio, frac)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.disc is not None:
            for group in self.disc_optimizer.param_groups:
                group["lr"] = (self.config.loss.disc_lr or o.lr) * lr / o.lr
        return lr

    def _optimizer_step(self) -> float:
        """Clip, check and apply the accumulated gradients; returns the gradient norm
        (non-finite: the step is skipped)."""
        params = [p for _, p in self.named_trainable]
        clip = self.config.optim.grad_clip
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))
        norm = float(norm)
        if not math.isfinite(norm):
            self.bad_steps += 1
            self.optimizer.zero_grad(set_to_none=True)
            if self.disc is not None:
                self.disc_optimizer.zero_grad(set_to_none=True)
            if self.bad_steps >= self.config.run.max_bad_steps:
                raise FloatingPointError(
                    f"{self.bad_steps} consecutive steps with a non-finite gradient (step "
                    f"{self.step}); lower optim.lr or check the data. The last checkpoint in "
                    f"{self.run_dir} is intact")
            return norm
        self.bad_steps = 0
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.gan_active():
            self.disc_optimizer.step()
        if self.disc is not None:
            self.disc_optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update()
        return norm

    # ---- the loop ---------------------------------------------------------------------------

    def _loader(self) -> DataLoader:
        r, d = self.config.run, self.config.data
        sampler = StepSampler(r.batch_size, self.dist.rank, self.dist.world_size,
                              start=self.step * self.config.optim.grad_accum)
        return DataLoader(IndexedDataset(self.dataset), batch_size=r.batch_size, sampler=sampler,
                          num_workers=d.num_workers, pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(0),
                          persistent_workers=False)

    def save_checkpoint(self) -> None:
        if self.dist.is_main:
            ckpt.save_checkpoint(self.run_dir, self.step, self.state_dict(),
                                 self.config.run.keep_checkpoints)
        self.dist.barrier()

    def save_models(self) -> tuple[str, str | None]:
        """``model/`` (trained weights) and ``model_ema/`` (their EMA) via save_pretrained."""
        model_dir = os.path.join(self.run_dir, MODEL_DIR)
        ema_dir = os.path.join(self.run_dir, EMA_DIR) if self.ema is not None else None
        if self.dist.is_main:
            self.tok.save_pretrained(model_dir)
            if self.ema is not None:
                import copy

                shadow = copy.deepcopy(self.tok)
                self.ema.copy_to(shadow)
                shadow.save_pretrained(ema_dir)
        self.dist.barrier()
        return model_dir, ema_dir

    def _preview(self, x: torch.Tensor, recon: torch.Tensor) -> None:
        path = os.path.join(self.run_dir, "previews", f"step_{self.step:08d}.png")
        from ..data.images import save_png
        from ..tokenizer.video import comparison_grid

        save_png(comparison_grid(x, recon), path)

    def run(self) -> TrainResult:
        r, accum = self.config.run, self.config.optim.grad_accum
        stop_signal: list[int] = []
        handlers = self._install_signal_handlers(stop_signal)
        clips_per_step = r.batch_size * accum * self.dist.world_size
        bar = None
        if self.dist.is_main and self.progress:
            from tqdm.auto import tqdm

            desc = f"{self.tok.temporal_compression}x"
            if r.max_minutes:  # the budget, not max_steps, ends the run: show its progress
                bar = tqdm(total=round(r.max_minutes * 60), initial=round(self.train_seconds),
                           unit="s", dynamic_ncols=True, desc=desc,
                           bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}"
                                      "{postfix}]")
            else:
                bar = tqdm(total=r.max_steps, initial=self.step, unit="step", dynamic_ncols=True,
                           desc=desc)
        if self.logger is not None:
            self.logger.event(self.step, f"start: {self.source}; {self.tok.num_parameters():,} "
                              f"parameters, {sum(p.numel() for _, p in self.named_trainable):,} "
                              f"trainable; world size {self.dist.world_size}; device "
                              f"{self.device}; bf16 {self.bf16}")
        it = iter(self._loader())
        stopped, last, sums, n_sum = "max_steps", {}, {}, 0
        x = recon = None
        try:
            while self.step < r.max_steps:
                over_time = (r.max_minutes is not None
                             and self.train_seconds >= r.max_minutes * 60)
                if self.dist.any(over_time or bool(stop_signal), self.device):
                    # A signal wins over the budget: whoever sent it wants the run stopped
                    # (bootvid experiment stops on "interrupted" and continues next time).
                    stopped = "interrupted" if stop_signal else "max_minutes"
                    break
                t0 = time.perf_counter()
                complete = True
                for m in range(accum):
                    try:
                        indices, x = next(it)
                    except Exception:
                        if not stop_signal:
                            raise
                        complete = False  # Ctrl-C reached the DataLoader workers too
                        break
                    terms, recon = self.forward_backward(indices.tolist(), x, 1.0 / accum,
                                                         sync=m == accum - 1)
                    for k, v in terms.items():
                        sums[k] = sums.get(k, 0.0) + v / accum
                if not complete:  # drop the partial gradient: the checkpoint is at a step
                    self.optimizer.zero_grad(set_to_none=True)
                    if self.disc is not None:
                        self.disc_optimizer.zero_grad(set_to_none=True)
                    stopped = "interrupted"
                    break
                lr = self._set_lr()
                gn = self._optimizer_step()
                self.step += 1
                n_sum += 1
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                dt = time.perf_counter() - t0
                self.train_seconds += dt
                if self.step % r.log_every == 0 or self.step == r.max_steps:
                    scal = self.dist.mean({k: v / n_sum for k, v in sums.items()}, self.device)
                    scal.update(lr=lr, grad_norm=gn,
                                clips_per_s=clips_per_step / dt)
                    last, sums, n_sum = scal, {}, 0
                    if self.logger is not None:
                        self.logger.log(self.step, scal)
                    if bar is not None:
                        bar.set_postfix({"step": self.step, **{
                            k: f"{scal[k]:.4g}" for k in ("loss", "l1", "kl", "g_loss",
                                                          "clips_per_s") if k in scal}})
                if bar is not None:
                    bar.update(min(dt, bar.total - bar.n) if r.max_minutes else 1)
                if self.dist.is_main and self.step % r.preview_every == 0:
                    self._preview(x, recon)
                if self.step % r.checkpoint_every == 0:
                    self.save_checkpoint()
                for hook in self.hooks:
                    hook(self, self.step)
        finally:
            if bar is not None:
                bar.close()
            for sig, h in handlers.items():
                signal.signal(sig, h)
            del it
        saved = ckpt.list_checkpoints(self.run_dir)
        if not saved or saved[-1][0] != self.step:
            self.save_checkpoint()
        if self.dist.is_main and x is not None:
            self._preview(x, recon)
        model_dir, ema_dir = self.save_models()
        if self.logger is not None:
            self.logger.event(self.step, f"stop ({stopped}): model in {model_dir}")
            self.logger.close()
        return TrainResult(self.run_dir, self.step, stopped, model_dir, ema_dir, last)

    def _install_signal_handlers(self, flag: list[int]) -> dict:
        """SIGINT/SIGTERM: finish the step, write a checkpoint and the model, then stop."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}

        def handler(signum, frame):
            if flag:  # a second signal: stop now
                raise KeyboardInterrupt
            flag.append(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
        return old
