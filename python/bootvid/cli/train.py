"""``bootvid train`` and ``bootvid grow``: config resolution (file, preset, flags, resume) and
the run summary."""

from __future__ import annotations

import argparse
import os
import time

# Flags that override config keys: (flag, dest, type, key, help). RUN_OVERRIDES are those of
# every training command (`bootvid train`, `grow`, `dit train`): the run and optim sections.
RUN_OVERRIDES = [
    ("--batch-size", "batch_size", int, "run.batch_size", "clips per process and micro-step"),
    ("--lr", "lr", float, "optim.lr", "peak learning rate"),
    ("--max-steps", "max_steps", int, "run.max_steps", "optimizer steps (also sets the schedule)"),
    ("--max-minutes", "max_minutes", float, "run.max_minutes",
     "stop cleanly after this much training time (whole run, resumes included)"),
    ("--checkpoint-every", "checkpoint_every", int, "run.checkpoint_every", "steps between checkpoints"),
    ("--keep-checkpoints", "keep_checkpoints", int, "run.keep_checkpoints",
     "checkpoints kept (the newest; keep more for a held-out curve afterwards)"),
    ("--warmup-steps", "warmup_steps", int, "optim.warmup_steps", "learning-rate warmup steps"),
    ("--device", "device", str, "run.device", "auto, cpu, cuda or cuda:N"),
    ("--workers", "workers", int, "data.num_workers", "DataLoader worker processes"),
    ("--precision", "precision", str, "run.precision", "auto (bf16 on GPU), fp32 or bf16"),
]
_OVERRIDES = [
    ("--data", "data", str, "data.path", "video folder or file, in place of the config's data "
     "(data.path or data.sources; with neither: synthetic videos)"),
    ("--image-ratio", "image_ratio", float, "data.image_ratio",
     "share of items that are single frames (images), e.g. 0.25"),
    ("--size", "size", int, "data.size", "training resolution (square crops)"),
    ("--frames", "frames", int, "data.frames", "frames per clip: 1 + k * temporal compression"),
    ("--seed", "seed", int, "run.seed", "seed of the clips, noise and initialisation"),
    *RUN_OVERRIDES,
]
# Keys a resumed run may change: how long and how often, not what is trained.
_RESUMABLE_CHANGES = {"run.max_steps", "run.max_minutes", "run.checkpoint_every",
                      "run.keep_checkpoints", "run.log_every", "run.preview_every",
                      "data.num_workers", "run.device"}


def add_train_arguments(p: argparse.ArgumentParser, grow: bool) -> None:
    if grow:
        p.add_argument("--from", dest="grow_from", metavar="DIR",
                       help="the trained tokenizer to grow: a run directory (its EMA model) or a "
                            "save_pretrained directory (not needed with --resume)")
    p.add_argument("--config", help="YAML training config (see configs/)")
    p.add_argument("--preset", help="tokenizer preset when no --config: tiny, fast, small or base "
                                    "(default tiny)")
    if not grow:
        p.add_argument("--temporal-compression", type=int, dest="temporal_compression",
                       help="4 (Stage I, default) or 8 / 16 (direct baselines)")
        p.add_argument("--init-from", dest="init_from", metavar="MODEL",
                       help="start from this saved model's weights (run or model directory), "
                            "fresh optimizer: continue a long training in a new run (its "
                            "training.json adds the model's compute), or extend 4x weights to "
                            "8x / 16x")
    p.add_argument("--out", help="run directory (default: runs/<name>-<time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_override_flags(p, _OVERRIDES)


def add_override_flags(p: argparse.ArgumentParser, table: list[tuple]) -> None:
    for flag, dest, typ, _, help_ in table:
        p.add_argument(flag, dest=dest, type=typ, help=help_)


def flag_values(args: argparse.Namespace, table: list[tuple]) -> dict:
    """``{"section.key": value}`` of the flags in ``table`` that were given."""
    return {key: getattr(args, dest) for _, dest, _, key, _ in table
            if getattr(args, dest) is not None}


def _flag_overrides(args: argparse.Namespace) -> dict:
    out = flag_values(args, _OVERRIDES)
    if "data.path" in out:  # --data replaces the config's data, whichever form it has
        out["data.sources"] = None
    if getattr(args, "temporal_compression", None) is not None:
        out["model.temporal_compression"] = args.temporal_compression
    if getattr(args, "init_from", None) is not None:
        out["model.init_from"] = args.init_from
    if args.preset is not None:
        out["model.preset"] = args.preset
    return out


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("overrides",):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def resolve_with_resume(args: argparse.Namespace, config_cls, config_file: str, default,
                        flags: dict):
    """``--config`` (else ``default()``) with the flags on top; a resumed run starts from the
    config saved in ``--out`` and may only change run-length settings."""
    from ..train import ConfigError

    if args.resume:
        if not args.out:
            raise ConfigError("--resume needs --out, the run directory to continue")
        saved_path = os.path.join(args.out, config_file)
        if not os.path.isfile(saved_path):
            raise FileNotFoundError(f"--resume: {args.out} is not a training run (no {config_file})")
        # Both resolved, so that a relative path and its absolute form compare equal.
        saved = config_cls.from_yaml(saved_path).with_resolved_paths(resume=True)
        given = config_cls.from_yaml(args.config) if args.config else saved
        cfg = given.merged(flags).with_resolved_paths(resume=True)
        a, b = _flatten(saved.to_dict()), _flatten(cfg.to_dict())
        changed = sorted(k for k in a if a[k] != b[k] and k not in _RESUMABLE_CHANGES)
        if changed:
            raise ConfigError(f"--resume: the run in {args.out} was started with other settings "
                              f"for {changed} (saved: {[a[k] for k in changed]}); a resumed run "
                              f"may only change {sorted(_RESUMABLE_CHANGES)}; start a new run "
                              "with another --out instead")
        return cfg
    cfg = config_cls.from_yaml(args.config) if args.config else default()
    return cfg.merged(flags)  # (the trainers resolve and check its input paths)


def resolve_config(args: argparse.Namespace, grow: bool):
    """The run's config: --config, else the preset's defaults (``grow``: without the GAN, as
    the paper's growth stages), then the flags (see :func:`resolve_with_resume`)."""
    from ..train import TrainConfig
    from ..train.rundir import CONFIG_FILE

    def default():
        cfg = TrainConfig.for_preset(args.preset or "tiny")
        return cfg.merged({"loss.gan": 0.0}) if grow else cfg

    return resolve_with_resume(args, TrainConfig, CONFIG_FILE, default, _flag_overrides(args))


def resume_after_elastic_restart(args: argparse.Namespace) -> None:
    """Under ``torchrun --max-restarts N``, workers restarted after a failure continue the run
    in ``--out`` from its last checkpoint (as ``--resume`` would) instead of refusing it."""
    from ..train.checkpoint import list_checkpoints

    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    if restarts and not args.resume and args.out and list_checkpoints(args.out):
        args.resume = True
        if os.environ.get("RANK", "0") == "0":
            print(f"bootvid: elastic restart {restarts}: resuming {args.out} from its last "
                  "checkpoint", flush=True)


def run_training(args: argparse.Namespace, grow: bool) -> int:
    from ..train import Trainer

    resume_after_elastic_restart(args)
    if grow and not args.resume and not args.grow_from:
        raise ValueError("bootvid grow needs --from DIR (the trained tokenizer to grow)")
    cfg = resolve_config(args, grow)
    if not args.out:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = (f"grow{cfg.grow.factor}x" if grow
                else f"{cfg.model.preset}-{cfg.model.temporal_compression}x")
        args.out = os.path.join("runs", f"{name}-{stamp}")
    trainer = Trainer(cfg, args.out, grow_from=None if args.resume else getattr(args, "grow_from", None),
                      resume=args.resume, progress=not args.no_progress)
    if trainer.dist.is_main:
        tok = trainer.tok
        print(f"bootvid: {tok.temporal_compression}x temporal / {tok.spatial_compression}x "
              f"spatial tokenizer, {trainer.source}; {tok.num_parameters():,} parameters, "
              f"{sum(p.numel() for _, p in trainer.named_trainable):,} trainable; data: "
              f"{trainer.dataset!r}; run directory {args.out}", flush=True)
    result = trainer.run()
    if trainer.dist.is_main:
        losses = ", ".join(f"{k} {v:.4g}" for k, v in result.last.items()
                           if k in ("loss", "l1", "kl", "g_loss", "d_loss"))
        print(f"bootvid: stopped at step {result.step} ({result.stopped}); {losses}\n"
              f"  model: {result.model_dir}\n  EMA model: {result.ema_dir}\n"
              f"  checkpoints, log.jsonl and previews/ in {result.run_dir}")
        if result.stopped != "max_steps":
            print(f"  continue with: bootvid {'grow' if grow else 'train'} --resume --out "
                  f"{result.run_dir} [--max-steps N | --max-minutes M]")
    from ..train.distributed import shutdown_distributed

    shutdown_distributed()
    return 0
