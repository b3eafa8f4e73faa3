"""The training loop the tokenizer trainer and the DiT trainer share.

Everything a long run needs and that does not depend on the model: one process or many
(torchrun), steps as pure functions of the seed and clip indices (exact resume), gradient
accumulation, warmup + cosine learning rate by steps or by wall-clock budget, skipped
non-finite steps, EMA, atomic checkpoints, JSONL/TensorBoard logs, a progress bar and a clean
stop on SIGINT/SIGTERM (checkpoint and model written). A subclass builds the model, the
optimizer and the losses, and implements :meth:`TrainingLoop.forward_backward`,
:meth:`state_dict` / :meth:`_load_state` and :meth:`save_models`.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, default_collate

from . import checkpoint as ckpt
from .config import ConfigError
from .distributed import DistContext, init_distributed
from .sampler import IndexedDataset, StepSampler
from .schedule import lr_factor


def _leave_stop_signals_to_the_main_process(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGINT / SIGTERM. A kill of the whole
    process group (Ctrl-C in a terminal, ``pkill -f``, a job scheduler) reaches them too, and a
    worker dying first made the main process fail before its handler could save; now the main
    process alone finishes its step, saves, and shuts the workers down."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


@dataclass
class TrainResult:
    run_dir: str
    step: int
    stopped: str  # "max_steps", "max_minutes" or "interrupted"
    model_dir: str | None = None
    ema_dir: str | None = None
    last: dict = field(default_factory=dict)  # the last logged scalars


def resolve_device(name: str, dist_ctx: DistContext) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{dist_ctx.local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"run.device: {name} requested but no CUDA GPU is available; use "
                          "--device cpu")
    return torch.device(name)


class TrainingLoop:
    """Base of the trainers. ``config`` has ``run`` and ``optim`` sections (see
    :class:`~bootvid.train.config.RunConfig`, :class:`~bootvid.train.config.OptimConfig`),
    ``data.num_workers`` and ``to_yaml()``.

    A subclass's ``__init__`` calls :meth:`_setup_run` first, builds ``self.model`` (what
    trains), ``self.named_trainable``, ``self.dataset``, ``self.optimizer`` and ``self.ema``
    and then :meth:`_finish_setup`.
    """

    #: Written into the run directory at the start of a new run.
    config_file = "train_config.yaml"
    #: Scalars the progress bar shows when logged.
    postfix_keys: tuple[str, ...] = ("loss",)

    def _setup_run(self, config, run_dir, resume: bool, progress: bool, hooks) -> dict | None:
        """Processes, device and precision; the checkpoint to resume from (None: a new run)."""
        self.config = config
        self.run_dir = os.fspath(run_dir)
        self.progress = progress
        self.hooks = list(hooks)
        self.dist = init_distributed("cuda" if config.run.device.startswith("cuda") or (
            config.run.device == "auto" and torch.cuda.is_available()) else "cpu")
        self.device = resolve_device(config.run.device, self.dist)
        prec = config.run.precision
        self.bf16 = prec == "bf16" or (prec == "auto" and self.device.type == "cuda")
        self.step = 0
        self.train_seconds = 0.0
        self.train_flops = 0.0  # counted by _micro_step_flops (0 where a trainer does not)
        self.bad_steps = 0
        self.lr_scale = 1.0  # lowered by each restore after non-finite steps
        self.recoveries = 0
        self.rewarm_from = None  # the step a fresh optimizer took over (a packed checkpoint)
        self.logger = None
        return self._resume_state() if resume else self._check_new_run_dir()

    def _finish_setup(self, state: dict | None) -> None:
        """Create the run directory (a new run) or restore the checkpoint (a resumed one)."""
        from .logger import RunLogger

        if state is None:
            self._create_run_dir()
        else:
            self._load_state(state)
        self.logger = RunLogger(self.run_dir) if self.dist.is_main else None
        if self.logger is not None and state is not None and state.get("optimizer") is None:
            self.logger.event(self.step, (
                f"resumed from a packed checkpoint (step {self.step}, weights in "
                f"{state.get('packed', {}).get('dtype', '?')}, no optimizer state): fresh "
                f"optimizer, learning rate re-warmed over {self.config.optim.warmup_steps} steps"))

    # ---- run directory ----------------------------------------------------------------------

    def _resume_state(self) -> dict:
        if not ckpt.list_checkpoints(self.run_dir):
            raise FileNotFoundError(f"--resume: {self.run_dir} has no checkpoint to resume "
                                    f"from (expected {ckpt.CHECKPOINT_DIR}/step_*.pt)")
        if self.dist.is_main:
            ckpt.remove_partial_writes(self.run_dir)
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
        from ..fileio import atomic_write_text

        if self.dist.is_main:
            os.makedirs(self.run_dir, exist_ok=True)
            atomic_write_text(os.path.join(self.run_dir, self.config_file), self.config.to_yaml())
        self.dist.barrier()

    # ---- what a subclass provides -----------------------------------------------------------

    def forward_backward(self, indices: list[int], batch, scale: float = 1.0,
                         sync: bool = True) -> tuple[dict[str, float], object]:
        """Backpropagate the loss of one micro-batch times ``scale``; returns the loss terms
        (``"loss"`` among them) and what :meth:`_preview` shows."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        raise NotImplementedError

    def _load_state(self, state: dict) -> None:
        """Restore what :meth:`loop_state` saved (subclasses extend it). A packed checkpoint
        (:func:`~bootvid.train.checkpoint.pack_state`) has no optimizer state: the optimizer
        starts afresh and the learning rate is re-warmed over ``optim.warmup_steps``, since
        Adam's first steps without its moment estimates are large."""
        if state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.rewarm_from = state.get("rewarm_from")
        else:
            self.rewarm_from = int(state["step"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        # (checkpoints written before FLOPs were counted: recounted from the steps' items)
        self.train_flops = (float(state["train_flops"]) if "train_flops" in state else
                            sum(self._micro_step_flops(m)
                                for m in range(self.step * self.config.optim.grad_accum)))
        self.bad_steps = int(state.get("bad_steps", 0))
        self.lr_scale = float(state.get("lr_scale", 1.0))
        self.recoveries = int(state.get("recoveries", 0))
        torch.set_rng_state(state["rng"]["torch"])

    def loop_state(self) -> dict:
        """The loop's part of a checkpoint."""
        from .. import __version__

        return {"bootvid_version": __version__, "step": self.step,
                "train_seconds": self.train_seconds, "train_flops": self.train_flops,
                "bad_steps": self.bad_steps,
                "lr_scale": self.lr_scale, "recoveries": self.recoveries,
                "rewarm_from": self.rewarm_from,
                "optimizer": self.optimizer.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "rng": {"torch": torch.get_rng_state()}}

    def save_models(self) -> tuple[str, str | None]:
        raise NotImplementedError

    def _micro_step_flops(self, micro_step: int) -> float:
        """Training FLOPs of global micro-step ``micro_step`` (all processes' items); 0: not
        counted (the default)."""
        return 0.0

    def _micro_step_of(self, index: int) -> int:
        """The global micro-step a dataset index belongs to (see :class:`StepSampler`)."""
        return index // (self.config.run.batch_size * self.dist.world_size)

    def _load_model_state(self, state: dict) -> None:
        """Load a checkpoint's model weights into the model being trained."""
        raise NotImplementedError

    def _preview(self, batch, out) -> None:
        """Write a preview image of the last step (default: none)."""

    def _progress_label(self) -> str:
        return "train"

    def _start_message(self) -> str:
        return f"start; world size {self.dist.world_size}; device {self.device}; bf16 {self.bf16}"

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        """Every optimizer whose gradients a step accumulates (zeroed together)."""
        return [self.optimizer]

    def _set_extra_lr(self, factor: float) -> None:
        """Scale other optimizers' rates by the schedule's ``factor`` (default: none)."""

    def _after_optimizer_step(self) -> None:
        """Step other optimizers after the model's (default: none)."""

    # ---- one step ---------------------------------------------------------------------------

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _set_lr(self) -> float:
        """The learning rate of this step (warmup + cosine, see :func:`lr_factor`)."""
        o, r = self.config.optim, self.config.run
        frac = self.train_seconds / (r.max_minutes * 60) if r.max_minutes else None
        factor = self.lr_scale * lr_factor(self.step, o.warmup_steps, r.max_steps,
                                           o.min_lr_ratio, frac)
        if self.rewarm_from is not None and o.warmup_steps:
            factor *= min(1.0, (self.step - self.rewarm_from + 1) / o.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = o.lr * factor
        self._set_extra_lr(factor)
        return o.lr * factor

    def _zero_grad(self) -> None:
        for opt in self._optimizers():
            opt.zero_grad(set_to_none=True)

    def _optimizer_step(self) -> float:
        """Clip, check and apply the accumulated gradients; returns the gradient norm
        (non-finite: the step is skipped)."""
        params = [p for _, p in self.named_trainable]
        clip = self.config.optim.grad_clip
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf")))
        if not math.isfinite(norm):  # a non-finite loss gives one too: skip the step
            self.bad_steps += 1
            self._zero_grad()
            if self.logger is not None:
                self.logger.event(self.step, f"non-finite gradient (norm {norm}): step skipped "
                                  f"({self.bad_steps} in a row)")
            return norm
        self.bad_steps = 0
        self.optimizer.step()
        self._after_optimizer_step()
        self._zero_grad()
        if self.ema is not None:
            self.ema.update()
        return norm

    def _recover(self) -> None:
        """After ``run.max_bad_steps`` skipped steps in a row: restore the newest checkpoint
        (weights, optimizer, EMA, step) and lower the learning rate; FloatingPointError when
        restores are used up or there is no checkpoint (the checkpoints stay intact)."""
        r = self.config.run
        found = ckpt.load_latest_checkpoint(self.run_dir)
        if found is None or self.recoveries >= r.max_recoveries:
            why = ("no checkpoint to restore yet" if found is None
                   else f"{self.recoveries} restores (run.max_recoveries) did not help")
            raise FloatingPointError(
                f"{self.bad_steps} consecutive steps with a non-finite loss or gradient (step "
                f"{self.step}) and {why}; lower optim.lr or check the data. The checkpoints in "
                f"{self.run_dir} are intact")
        seconds, flops, lr_scale, recoveries, bad = (self.train_seconds, self.train_flops,
                                                     self.lr_scale, self.recoveries,
                                                     self.bad_steps)
        state = found[1]
        self._load_model_state(state)
        self._load_state(state)
        # Time and compute spent count against the budget; the learning rate stays lowered.
        self.train_seconds, self.train_flops = seconds, flops
        self.lr_scale = lr_scale * r.nan_lr_factor
        self.recoveries = recoveries + 1
        self.bad_steps = 0
        if self.logger is not None:
            self.logger.event(self.step, f"{bad} non-finite steps in a row: restored the "
                              f"checkpoint of step {self.step}, learning rate x{self.lr_scale:g} "
                              f"(restore {self.recoveries} of {r.max_recoveries})")

    # ---- the loop ---------------------------------------------------------------------------

    @staticmethod
    def _collate(items: list) -> list:
        """A micro-batch as a list of ``(indices, batch)`` groups, each one forward pass (the
        tokenizer trainer groups clips by length; here: one group)."""
        return [default_collate(items)]

    def _loader(self) -> DataLoader:
        r = self.config.run
        sampler = StepSampler(r.batch_size, self.dist.rank, self.dist.world_size,
                              start=self.step * self.config.optim.grad_accum)
        return DataLoader(IndexedDataset(self.dataset), batch_size=r.batch_size, sampler=sampler,
                          num_workers=self.config.data.num_workers, collate_fn=self._collate,
                          worker_init_fn=_leave_stop_signals_to_the_main_process,
                          pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(0), persistent_workers=False)

    def save_checkpoint(self) -> None:
        if self.dist.is_main:
            ckpt.save_checkpoint(self.run_dir, self.step, self.state_dict(),
                                 self.config.run.keep_checkpoints)
        self.dist.barrier()

    def _progress_bar(self):
        if not (self.dist.is_main and self.progress):
            return None
        from tqdm.auto import tqdm

        r = self.config.run
        if r.max_minutes:  # the budget, not max_steps, ends the run: show its progress
            total = round(r.max_minutes * 60)
            # (a resumed run may have spent more than a smaller new budget: tqdm's bar format
            # fails on initial > total)
            return tqdm(total=total, initial=min(round(self.train_seconds), total),
                        unit="s", dynamic_ncols=True, desc=self._progress_label(),
                        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}"
                                   "{postfix}]")
        return tqdm(total=r.max_steps, initial=self.step, unit="step", dynamic_ncols=True,
                    desc=self._progress_label())

    def _budget_spent(self) -> bool:
        """Whether the run has trained its whole --max-minutes budget (resumes included)."""
        m = self.config.run.max_minutes
        return m is not None and self.train_seconds >= m * 60

    def run(self) -> TrainResult:
        r, accum = self.config.run, self.config.optim.grad_accum
        stop_signal: list[int] = []
        handlers = self._install_signal_handlers(stop_signal)
        clips_per_step = r.batch_size * accum * self.dist.world_size
        bar = self._progress_bar()
        if self.logger is not None:
            self.logger.event(self.step, self._start_message())
        if self._budget_spent():
            msg = (f"the run has already trained {self.train_seconds / 60:.2f} minutes, the whole "
                   f"--max-minutes budget ({r.max_minutes:g}): nothing to train; give a larger "
                   "budget to continue")
            if self.dist.is_main:
                print(f"bootvid: {msg}", file=sys.stderr)
            if self.logger is not None:
                self.logger.event(self.step, msg)
        it = iter(self._loader())
        stopped, last, sums, n_sum = "max_steps", {}, {}, 0
        batch = out = None
        try:
            while self.step < r.max_steps:
                if self.dist.any(self._budget_spent() or bool(stop_signal), self.device):
                    # A signal wins over the budget: whoever sent it wants the run stopped
                    # (bootvid experiment stops on "interrupted" and continues next time).
                    stopped = "interrupted" if stop_signal else "max_minutes"
                    break
                t0 = time.perf_counter()
                complete = True
                micro_steps = []
                for m in range(accum):
                    try:
                        groups = next(it)
                    except Exception:
                        if not stop_signal:
                            raise
                        complete = False  # the data stopped while the run was stopping
                        break
                    # Each group's loss is a mean over its items: weighting it by its share
                    # makes the micro-batch's loss the mean over all of its items.
                    items = sum(len(indices) for indices, _ in groups)
                    micro_steps.append(self._micro_step_of(int(groups[0][0][0])))
                    for n, (indices, batch) in enumerate(groups):
                        share = len(indices) / items / accum
                        terms, out = self.forward_backward(
                            indices.tolist(), batch, share,
                            sync=m == accum - 1 and n == len(groups) - 1)
                        for k, v in terms.items():
                            sums[k] = sums.get(k, 0.0) + v * share
                if not complete:  # drop the partial gradient: the checkpoint is at a step
                    self._zero_grad()
                    stopped = "interrupted"
                    break
                lr = self._set_lr()
                gn = self._optimizer_step()
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                dt = time.perf_counter() - t0
                # (counted outside the step's time: the first count of a length builds a meta
                # copy of the model)
                self.train_flops += sum(self._micro_step_flops(m) for m in micro_steps)
                if self.bad_steps >= r.max_bad_steps:
                    self.train_seconds += dt
                    self._recover()  # back to the last checkpoint's step and data
                    it = iter(self._loader())
                    sums, n_sum = {}, 0
                    continue
                self.step += 1
                n_sum += 1
                self.train_seconds += dt
                if self.step % r.log_every == 0 or self.step == r.max_steps:
                    scal = self.dist.mean({k: v / n_sum for k, v in sums.items()}, self.device)
                    scal.update(lr=lr, grad_norm=gn, clips_per_s=clips_per_step / dt,
                                train_seconds=self.train_seconds)
                    if self.train_flops:
                        scal["train_flops"] = self.train_flops
                    last, sums, n_sum = scal, {}, 0
                    if self.logger is not None:
                        self.logger.log(self.step, scal)
                    if bar is not None:
                        bar.set_postfix({"step": self.step, **{
                            k: f"{scal[k]:.4g}" for k in (*self.postfix_keys, "clips_per_s")
                            if k in scal}})
                if bar is not None:
                    bar.update(min(dt, bar.total - bar.n) if r.max_minutes else 1)
                if self.dist.is_main and self.step % r.preview_every == 0:
                    self._preview(batch, out)
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
        # Decided together: a slower rank may already see the file rank 0 is writing, skip
        # save_checkpoint's barrier and pair its next barrier with the wrong one.
        if self.dist.any(not saved or saved[-1][0] != self.step, self.device):
            self.save_checkpoint()
        if self.dist.is_main and batch is not None:
            self._preview(batch, out)
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
