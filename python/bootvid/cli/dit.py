"""``bootvid latents`` and ``bootvid dit train / sample / budget``: latent diffusion on bootvid
latents."""

from __future__ import annotations

import argparse
import json
import os
import time

from .. import pretrained
from .train import RUN_OVERRIDES, add_override_flags

# Flags of `bootvid dit train` that override config keys: (flag, dest, type, key, help).
_DIT_OVERRIDES = [
    ("--latents", "latents", str, "data.latents", "latent cache written by `bootvid latents`"),
    ("--preset", "preset", str, "model.preset", "DiT preset: test, tiny, small, base"),
    ("--seed", "seed", int, "run.seed", "seed of the noise, times and initialisation"),
    *RUN_OVERRIDES,
]


def add_latents_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR",
                   help="tokenizer: a save_pretrained directory, a training run or a shipped "
                        f"model ({pretrained.SHIPPED_LIST}); default the shipped "
                        f"{pretrained.DEFAULT_MODEL}")
    p.add_argument("--data", required=True, help="video folder (class = first sub-folder level)")
    p.add_argument("--out", required=True, help="cache directory (an unfinished one resumes)")
    p.add_argument("--clip-frames", type=int, default=33,
                   help="frames per clip: 1 + k * temporal compression (default 33)")
    p.add_argument("--size", type=int, default=128, help="square clip size (default 128)")
    p.add_argument("--cuts", choices=["auto", "off"], default="auto",
                   help="auto (default): clips start at each shot and never straddle a hard "
                        "cut; off: consecutive clips from the first frame")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_dit_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="dit_command", required=True)
    tr = sub.add_parser("train", help="train a DiT on a latent cache (rectified flow)",
                        description="Rectified-flow training of a DiT on cached latents; the "
                                    "flags override --config (YAML with model, data, flow, "
                                    "optim, run sections).")
    tr.add_argument("--config", help="YAML DiT training config")
    tr.add_argument("--out", help="run directory (default: runs/dit-<time>)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its last checkpoint")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_override_flags(tr, _DIT_OVERRIDES)

    sa = sub.add_parser("sample", help="sample a clip with a trained DiT and decode it",
                        description="Euler / Heun sampling of latents for --frames frames, "
                                    "decoded (streamed) by the tokenizer the latents came from; "
                                    "writes OUT.mp4 and OUT.png (a strip of frames).")
    sa.add_argument("--model", required=True, help="DiT run directory or saved DiT")
    sa.add_argument("--tokenizer", help="tokenizer (default: the one the DiT's latents came from)")
    sa.add_argument("--frames", type=int, required=True,
                    help="frames to sample: 1 + k * temporal compression")
    sa.add_argument("--size", type=int, help="frame size (default: the training size)")
    sa.add_argument("--label", help="class name or number (class-conditional DiTs)")
    sa.add_argument("--steps", type=int, default=50, help="sampling steps (default 50)")
    sa.add_argument("--cfg", type=float, default=1.0,
                    help="classifier-free guidance weight (default 1: none)")
    sa.add_argument("--sampler", default="euler", choices=("euler", "heun"))
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--fps", type=float, default=24.0, help="frame rate of the video (24)")
    sa.add_argument("--codec", default="libx264",
                    help="video codec (default libx264; ffv1 is lossless, e.g. OUT.mkv)")
    sa.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    sa.add_argument("--no-progress", action="store_true", help="no progress bar")
    sa.add_argument("output", metavar="OUT.mp4")

    bu = sub.add_parser("budget", help="latent tokens and DiT FLOPs of tokenizers for a clip",
                        description="Latent shape, DiT tokens and forward FLOPs per sample for "
                                    "each tokenizer: what a higher temporal compression saves.")
    bu.add_argument("--tokenizer", nargs="+", metavar="DIR",
                    help=f"tokenizers to compare (default: the shipped {pretrained.SHIPPED_LIST})")
    bu.add_argument("--frames", type=int, default=129, help="clip length (default 129)")
    bu.add_argument("--size", type=int, default=256, help="frame size (default 256)")
    bu.add_argument("--preset", default="small", help="DiT preset (default small)")
    bu.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run_latents(args: argparse.Namespace) -> int:
    from ..diffusion.latents import cache_latents, finalize_cache
    from ..train.distributed import init_distributed, shutdown_distributed
    from ..train.rundir import load_tokenizer

    dist = init_distributed("cuda" if args.device.startswith("cuda") else "cpu")
    device = args.device
    if device == "cuda":
        device = f"cuda:{dist.local_rank}"
    tok, what = load_tokenizer(args.model, device=device)
    if dist.is_main:
        print(f"bootvid: latents with the {what} ({tok.temporal_compression}x temporal, "
              f"{tok.spatial_compression}x spatial): clips of {args.clip_frames} frames at "
              f"{args.size}x{args.size} -> {tok.latent_shape(args.clip_frames, args.size, args.size)}",
              flush=True)
    # What `bootvid dit sample` loads by default: a shipped name, or an absolute path.
    ref = args.model or pretrained.DEFAULT_MODEL
    if os.path.exists(ref):
        ref = os.path.abspath(ref)
    t0 = time.perf_counter()
    counts = cache_latents(tok, args.data, args.out, args.clip_frames, args.size,
                           tokenizer_ref=ref, rank=dist.rank,
                           world_size=dist.world_size, progress=not args.no_progress,
                           cuts=args.cuts)
    dist.barrier()
    if dist.is_main:
        index = finalize_cache(args.out)
        classes = index["classes"]
        print(f"bootvid: {index['num_clips']} clips from {len(index['videos'])} videos "
              f"({counts['encoded']} encoded here, {counts['skipped']} already cached) in "
              f"{time.perf_counter() - t0:.0f} s; "
              f"{'classes: ' + ', '.join(classes) if classes else 'unconditional'}; "
              f"index {os.path.join(args.out, 'latents.json')}")
    shutdown_distributed()
    return 0


def run_dit(args: argparse.Namespace) -> int:
    if args.dit_command == "train":
        return _train(args)
    if args.dit_command == "sample":
        return _sample(args)
    return _budget(args)


def _train(args: argparse.Namespace) -> int:
    from ..diffusion import DiTTrainConfig, DiTTrainer
    from ..train.distributed import shutdown_distributed
    from .train import flag_values, resolve_with_resume, resume_after_elastic_restart

    flags = flag_values(args, _DIT_OVERRIDES)
    if not args.out:
        args.out = os.path.join("runs", f"dit-{time.strftime('%Y%m%d-%H%M%S')}")
    resume_after_elastic_restart(args)
    cfg = resolve_with_resume(args, DiTTrainConfig, DiTTrainer.config_file, DiTTrainConfig, flags)
    trainer = DiTTrainer(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if trainer.dist.is_main:
        ds = trainer.dataset
        print(f"bootvid: DiT ({cfg.model.preset}, {trainer.model.num_parameters():,} parameters, "
              f"patch {trainer.model.config.patch_size}) on {len(ds)} latent clips "
              f"{tuple(ds.latent_shape)}; run directory {args.out}", flush=True)
    result = trainer.run()
    if trainer.dist.is_main:
        loss = result.last.get("loss")
        print(f"bootvid: stopped at step {result.step} ({result.stopped})"
              f"{f'; loss {loss:.4g}' if loss is not None else ''}\n"
              f"  model: {result.model_dir}\n  EMA model: {result.ema_dir}")
        if result.stopped != "max_steps":
            print(f"  continue with: bootvid dit train --resume --out {result.run_dir} "
                  "[--max-steps N | --max-minutes M]")
    shutdown_distributed()
    return 0


def _sample(args: argparse.Namespace) -> int:
    from ..data import write_video
    from ..data.images import save_png
    from ..diffusion.sampling import frame_strip, label_index, load_dit, sample_video
    from ..train.rundir import load_tokenizer

    dit, meta, what = load_dit(args.model, device=args.device)
    label = label_index(meta, args.label)
    tok, tok_what = load_tokenizer(args.tokenizer or meta.get("tokenizer") or None,
                                   device=args.device)
    print(f"bootvid: sampling {args.frames} frames with the {what} ({args.steps} {args.sampler} "
          f"steps, cfg {args.cfg}, seed {args.seed}), decoding with the {tok_what}", flush=True)
    t0 = time.perf_counter()
    frames = sample_video(dit, meta, tok, args.frames, size=args.size, label=label,
                          steps=args.steps, cfg=args.cfg, method=args.sampler, seed=args.seed,
                          progress=not args.no_progress)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    write_video(args.output, frames, fps=args.fps, codec=args.codec)
    png = os.path.splitext(args.output)[0] + ".png"
    save_png(frame_strip(frames), png)
    print(f"bootvid: wrote {args.output} ({len(frames)} frames, {frames.shape[1]}x"
          f"{frames.shape[2]}) and {png} in {time.perf_counter() - t0:.1f} s")
    return 0


def _budget(args: argparse.Namespace) -> int:
    from ..diffusion.sampling import token_budget
    from ..train.rundir import tokenizer_architecture

    rows = []
    for ref in args.tokenizer or list(pretrained.SHIPPED):
        tok = tokenizer_architecture(ref)  # shapes only: no weights read
        rows.append({"tokenizer": ref, **token_budget(tok, args.frames, args.size, args.preset)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    base = rows[0]
    print(f"{args.frames} frames at {args.size}x{args.size}, DiT preset {args.preset} "
          f"(patch {tuple(base['patch_size'])})")
    head = (f"{'tokenizer':<16} {'compression':>11} {'latent C x T x H x W':>21} "
            f"{'DiT tokens':>10} {'GFLOPs':>9} {'vs first':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        shape = " x ".join(str(v) for v in r["latent_shape"])
        comp = f"{r['temporal_compression']}x{r['spatial_compression']}x{r['spatial_compression']}"
        print(f"{r['tokenizer']:<16} {comp:>11} {shape:>21} {r['dit_tokens']:>10} "
              f"{r['dit_gflops']:>9.1f} {base['dit_gflops'] / r['dit_gflops']:>7.2f}x")
    return 0
