"""The tokenizer trainer behind ``bootvid train`` and ``bootvid grow``.

One process or many (``torchrun``: DistributedDataParallel, NCCL on GPUs, gloo on CPU). Every
random draw of a step is a function of the seed and the clip indices (see
:class:`~bootvid.train.sampler.StepSampler`), so a run resumed from a checkpoint reaches the
same weights as an uninterrupted one, and N processes compute the gradient one process would
over the same global batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from ..data.mixed import collate_by_length
from ..data.seeding import item_generator
from ..tokenizer import TokenizerConfig, VideoTokenizer
from .config import ConfigError, TrainConfig
from .ema import EMA
from .loop import TrainingLoop, TrainResult
from .rundir import CONFIG_FILE, EMA_DIR, MODEL_DIR, load_tokenizer

# item_generator stream of the posterior noise ("NOISE"); datasets use small stream numbers.
_NOISE_STREAM = 0x4E4F495345


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
    """The training items the config describes: ``data.sources`` mixed by weight, a video
    folder (``data.path``) or synthetic videos; with ``data.image_ratio``, that share of the
    items single frames."""
    from .. import data

    d, seed = config.data, config.run.seed

    def videos(path):
        return data.VideoFolderDataset(path, frames=d.frames, size=d.size,
                                       frame_stride=d.frame_stride, seed=seed,
                                       scale_range=tuple(d.scale_range), hflip=d.hflip)

    builders = {"videos": videos,
                "stills": lambda path: data.StillMotionDataset(path, frames=d.frames,
                                                               size=d.size, seed=seed,
                                                               hflip=d.hflip),
                "synthetic": lambda path: data.SyntheticVideoDataset(frames=d.frames,
                                                                     size=d.size, seed=seed)}
    if d.sources:
        sources = [builders[s["kind"]](s.get("path")) for s in d.sources]
        names = [_source_name(s) for s in d.sources]
        return data.MixedDataset(sources, [s.get("weight", 1.0) for s in d.sources],
                                 d.image_ratio, names, seed=seed)
    kind = "synthetic" if d.path is None else "videos"
    single = builders[kind](d.path)
    if d.image_ratio > 0:
        return data.MixedDataset([single], image_ratio=d.image_ratio, names=[kind], seed=seed)
    return single


def _source_name(source: dict) -> str:
    """``stills (photos)``: the kind and the folder or file named (previews, logs)."""
    path = source.get("path")
    if path is None:
        return source["kind"]
    first = path[0] if isinstance(path, list) else path
    more = f" +{len(path) - 1}" if isinstance(path, list) and len(path) > 1 else ""
    return f"{source['kind']} ({os.path.basename(os.path.normpath(first))}{more})"


def _last_trainable_weight(module: nn.Module) -> nn.Parameter | None:
    """The decoder's last trainable weight: where the adaptive GAN weight compares gradients."""
    last = None
    for p in module.parameters():
        if p.requires_grad and p.dim() > 1:
            last = p
    return last


class Trainer(TrainingLoop):
    """Trains a tokenizer from scratch (Stage I or a direct baseline), or, with ``grow_from``,
    grows a trained one by ``config.grow.factor`` and trains only the new stage (the whole
    model with ``grow.train_lower``).

    ``run_dir`` receives the config, checkpoints, ``log.jsonl``, previews and the final
    ``model/`` and ``model_ema/``. ``resume=True`` continues the run in ``run_dir`` from its
    newest readable checkpoint (the model is rebuilt from the checkpoint: no ``grow_from``
    needed). ``dataset`` replaces the config's data, ``data.sources`` and ``data.image_ratio``
    included (tests, custom data). ``hooks`` are called as
    ``hook(trainer, step)`` after every optimizer step.
    """

    config_file = CONFIG_FILE
    postfix_keys = ("loss", "l1", "kl", "g_loss")
    #: Images (1-frame items) and clips are separate forward passes of one micro-batch.
    _collate = staticmethod(collate_by_length)

    def __init__(self, config: TrainConfig, run_dir: str | os.PathLike, *,
                 grow_from: str | os.PathLike | None = None, resume: bool = False,
                 dataset: Dataset | None = None, progress: bool = True, hooks=()) -> None:
        # Input paths absolute and checked before anything runs (the saved config then works
        # from any directory).
        config = config.with_resolved_paths(resume)
        state = self._setup_run(config, run_dir, resume, progress, hooks)
        bf16_warning = (self._check_cpu_bf16() if self.bf16 and self.device.type == "cpu"
                        else None)

        torch.manual_seed(config.run.seed)  # the initial weights (every process alike)
        self.tok, self.source = self._build_model(grow_from, state)
        config.check_frames(self.tok.temporal_compression)
        self.dataset = dataset if dataset is not None else build_dataset(config)
        data_warning = (self._data_mismatch(grow_from or config.model.init_from)
                        if state is None and dataset is None else None)
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
        self._flop_counter = None
        self._finish_setup(state)  # only now that the config is known to work
        if self.logger is not None:  # (the main process)
            for msg in (bf16_warning, data_warning):
                if msg:
                    self.logger.event(self.step, f"warning: {msg}")

    # ---- setup ------------------------------------------------------------------------------

    def _check_cpu_bf16(self) -> str | None:
        """bf16 autocast on the CPU: safe with bootvid's kernels, whose conv backward takes the
        weight gradient in fp32 (oneDNN's bf16 conv3d weight gradient returned NaN for some
        shapes: tests/test_ops_bf16_cpu.py); refused on the reference ops (plain F.conv3d);
        warned about on CPUs that emulate bf16, where it is far slower than fp32 (the warning
        is returned, for the run's log once it exists)."""
        from .. import ops

        if ops.reference_mode() or not ops.kernels_available():
            raise ConfigError("run.precision: bf16 training on CPU needs bootvid's compiled "
                              "kernels (the reference ops' plain F.conv3d bf16 backward can "
                              "return NaN weight gradients); use fp32, or build the kernels")
        if not ops.cpu_has_native_bf16():
            msg = ("run.precision bf16 on a CPU without native bf16 (avx512_bf16 / AMX): "
                   "oneDNN emulates it, many times slower than fp32; use fp32 here")
            warnings.warn(msg, stacklevel=3)
            return msg
        return None

    def _data_mismatch(self, start) -> str | None:
        """A run that starts from a trained model (a growth stage, ``model.init_from``) does
        not inherit that model's data: without data of its own it trains on synthetic clips.
        Warn (main process) when the model was trained on something else, as that is rarely
        what was meant; the message is returned for the run's log."""
        from ..data import SyntheticVideoDataset

        parent = self.lineage.get("parent") or {}
        lower = str(parent.get("data") or "")
        if (start is None or not isinstance(self.dataset, SyntheticVideoDataset) or not lower
                or lower.startswith("SyntheticVideoDataset")):  # (the card records repr(data))
            return None
        msg = (f"no data given (data.path / data.sources, or --data), so this run trains on "
               f"synthetic clips; {start}, the model it starts from, was trained on {lower}. "
               f"Pass that data to train on it.")
        if self.dist.is_main:
            warnings.warn(msg, stacklevel=3)
        return msg

    def _build_model(self, grow_from, state) -> tuple[VideoTokenizer, str]:
        """The model to train and where it came from; sets ``self.lineage`` (the source and the
        parent model's training record, for the model card)."""
        from .card import read_card
        from .rundir import resolve_model_dir

        tok, source, parent = self._model_and_parent(grow_from, state)
        if state is not None:
            # (checkpoints from before records: the parent, if any, is unknown)
            started = self.config.model.init_from or tok.config.growth
            self.lineage = state.get("lineage") or {
                "source": "trained from scratch" if not started else source,
                "parent": None, "has_parent": bool(started)}
        else:
            self.lineage = {"source": source, "has_parent": parent is not None,
                            "parent": read_card(resolve_model_dir(parent)[0]) if parent else None}
        return tok, source

    def _model_and_parent(self, grow_from, state):
        from ..growth import from_config, grow

        if state is not None:  # the checkpoint knows the whole model, grown or not
            tok = from_config(TokenizerConfig.from_dict(state["tokenizer_config"]))
            tok.load_state_dict(state["model"])
            if tok.config.growth:  # only the newest stage trains, or all of it
                tok.requires_grad_(self.config.grow.train_lower)
                for p in tok.trainable_parameters():
                    p.requires_grad_(True)
            return tok, f"resumed from step {state['step']}", None
        if grow_from is not None:
            g = self.config.grow
            lower, what = load_tokenizer(grow_from)
            tok = grow(lower, g.factor, g.mixing, g.norm_center)
            if g.train_lower:
                tok.requires_grad_(True)
                what = f"{what}, whose weights train too (grow.train_lower)"
            return tok, f"grown from the {what}", grow_from
        tok = VideoTokenizer(self.config.tokenizer_config())
        if self.config.model.init_from:
            from ..tokenizer import init_from_lower

            source, what = load_tokenizer(self.config.model.init_from)
            report = init_from_lower(tok, source)
            return (tok, f"initialised from the {what} ({report})",
                    self.config.model.init_from)
        return tok, "trained from scratch", None

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

    def _load_model_state(self, state: dict) -> None:
        self.tok.load_state_dict(state["model"])

    def _load_state(self, state: dict) -> None:
        super()._load_state(state)
        if self.disc_module is not None and state.get("disc") is not None:
            self.disc_module.load_state_dict(state["disc"])
            if state.get("disc_optimizer") is not None:  # (not in a packed checkpoint)
                self.disc_optimizer.load_state_dict(state["disc_optimizer"])
            if self.lecam is not None and state.get("lecam") is not None:
                self.lecam.load_state_dict(state["lecam"])

    def state_dict(self) -> dict:
        return {
            **self.loop_state(),
            "tokenizer_config": self.tok.config.to_dict(),
            "train_config": self.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.tok.state_dict().items()},
            "disc": self.disc_module.state_dict() if self.disc_module is not None else None,
            "disc_optimizer": (self.disc_optimizer.state_dict()
                               if self.disc_module is not None else None),
            "lecam": self.lecam.state_dict() if self.lecam is not None else None,
            "lineage": self.lineage,
        }

    def _micro_step_flops(self, micro_step: int) -> float:
        """FLOPs of the global micro-step's items (:mod:`bootvid.train.flops`), each item's
        length from the dataset (``item_frames``: images are 1 frame), at ``data.size``."""
        from .flops import FlopCounter

        if self._flop_counter is None:
            self._flop_counter = FlopCounter(self.tok, self.config.data.size)
        g = self.config.run.batch_size * self.dist.world_size
        frames_of = getattr(self.dataset, "item_frames", None)
        first = micro_step * g
        return self._flop_counter.items([frames_of(i) if frames_of else self.config.data.frames
                                         for i in range(first, first + g)])

    def training_card(self) -> dict:
        """This run's training record (:mod:`bootvid.train.card`), written beside its models."""
        from .card import make_card

        c = self.config
        return make_card(
            steps=self.step, train_seconds=self.train_seconds, train_flops=self.train_flops,
            source=self.lineage["source"], data=repr(self.dataset),
            config={"preset": c.model.preset, "temporal_compression":
                    self.tok.temporal_compression, "size": c.data.size, "frames": c.data.frames,
                    "batch_size": c.run.batch_size * self.dist.world_size * c.optim.grad_accum,
                    "lr": c.optim.lr, "seed": c.run.seed, "loss": dataclasses.asdict(c.loss)},
            parent=self.lineage["parent"], has_parent=self.lineage["has_parent"])

    # ---- one step ---------------------------------------------------------------------------

    def _noise(self, indices: list[int], x: torch.Tensor) -> torch.Tensor:
        """Posterior noise per clip, drawn from the clip's index: independent of how the
        global batch is split over processes and micro-steps."""
        shape = self.tok.latent_shape(*x.shape[2:])
        seed = self.config.run.seed
        return torch.stack([torch.randn(shape, generator=item_generator(seed, i, _NOISE_STREAM))
                            for i in indices]).to(self.device)

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
                with self._loss_net_autocast():
                    p = self.lpips(recon, x).float()
                loss = loss + ls.perceptual * p
                terms["lpips"] = p
            if self.gan_active():
                self.disc_module.requires_grad_(False)
                with self._loss_net_autocast():
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

    def _loss_net_autocast(self):
        """Autocast for the discriminator and LPIPS (plain torch convs): bf16 on GPUs only. On
        the CPU they run in fp32, away from oneDNN's bf16 conv3d weight gradient, which
        returned NaN for some shapes (bootvid's own conv takes that gradient in fp32)."""
        return self._autocast() if self.device.type != "cpu" else contextlib.nullcontext()

    def _g_loss(self, logits: torch.Tensor) -> torch.Tensor:
        from .gan import g_loss

        return g_loss(self.config.loss.gan_loss, logits.float())

    def _disc_backward(self, real: torch.Tensor, fake: torch.Tensor, scale: float,
                       sync: bool) -> dict[str, torch.Tensor]:
        from .gan import d_loss

        ls = self.config.loss
        no_sync = self.disc.no_sync if self.dist.enabled and not sync else contextlib.nullcontext
        with no_sync():
            with self._loss_net_autocast():  # one forward for both halves: one DDP reduction
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

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer] + ([self.disc_optimizer] if self.disc is not None else [])

    def _set_extra_lr(self, factor: float) -> None:
        if self.disc is not None:
            for group in self.disc_optimizer.param_groups:
                group["lr"] = (self.config.loss.disc_lr or self.config.optim.lr) * factor

    def _after_optimizer_step(self) -> None:
        if self.gan_active():
            self.disc_optimizer.step()

    # ---- the loop ---------------------------------------------------------------------------

    def save_models(self) -> tuple[str, str | None]:
        """``model/`` (trained weights) and ``model_ema/`` (their EMA) via save_pretrained."""
        model_dir = os.path.join(self.run_dir, MODEL_DIR)
        ema_dir = os.path.join(self.run_dir, EMA_DIR) if self.ema is not None else None
        if self.dist.is_main:
            from .card import write_card

            card = self.training_card()
            self.tok.save_pretrained(model_dir)
            write_card(model_dir, card)
            if self.ema is not None:
                import copy

                shadow = copy.deepcopy(self.tok)
                self.ema.copy_to(shadow)
                shadow.save_pretrained(ema_dir)
                write_card(ema_dir, card)
        self.dist.barrier()
        return model_dir, ema_dir

    def _preview(self, x: torch.Tensor, recon: torch.Tensor) -> None:
        path = os.path.join(self.run_dir, "previews", f"step_{self.step:08d}.png")
        from ..data.images import save_png
        from ..tokenizer.video import comparison_grid

        save_png(comparison_grid(x, recon), path)

    def _progress_label(self) -> str:
        return f"{self.tok.temporal_compression}x"

    def _start_message(self) -> str:
        return (f"start: {self.source}; {self.tok.num_parameters():,} parameters, "
                f"{sum(p.numel() for _, p in self.named_trainable):,} trainable; world size "
                f"{self.dist.world_size}; device {self.device}; bf16 {self.bf16}")
