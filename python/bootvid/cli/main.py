"""``bootvid`` command: entry point and sub-command dispatch."""

from __future__ import annotations

import argparse
import sys

from .. import pretrained


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bootvid", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="the shipped 4x/8x/16x tokenizers on a clip: table, side-by-side video, PNG",
        description="Reconstructs a clip (synthetic unless --video) with the shipped "
                    f"{pretrained.SHIPPED_LIST} tokenizers and prints compression, latent "
                    "tokens per second, PSNR, SSIM and speed; writes OUT/side_by_side.mp4, "
                    "OUT/comparison.png and OUT/demo.json. --train instead trains 4x -> 8x -> "
                    "16x on synthetic clips for a few minutes; --ops tours the C++/CUDA ops.")
    mode = demo.add_mutually_exclusive_group()
    mode.add_argument("--train", action="store_true",
                      help="progressive training of the tiny preset on synthetic clips")
    mode.add_argument("--ops", action="store_true",
                      help="the ops (kernels vs reference twins) and a random-weight tokenizer")
    demo.add_argument("--out", default="bootvid-demo", help="output folder (default bootvid-demo)")
    demo.add_argument("--video", help="reconstruct this video's first --frames frames instead")
    demo.add_argument("--models", nargs="+", metavar="MODEL",
                      help=f"models to compare (default: the shipped {pretrained.SHIPPED_LIST})")
    demo.add_argument("--minutes", type=float, default=4.0,
                      help="--train: minutes in all (default 4)")
    demo.add_argument("--frames", type=int,
                      help="clip length (default 33; --ops: 17)")
    demo.add_argument("--size", type=int,
                      help="frame height and width (default 128; --train: 32; --ops: 64)")
    demo.add_argument("--channels", type=int, default=64, help="--ops: feature channels (64)")
    demo.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    demo.add_argument("--preset", default="tiny",
                      help="--ops: preset of the random-weight tokenizer (tiny, fast, small, base)")
    from .train import add_train_arguments

    train = sub.add_parser("train", help="train a tokenizer from scratch (4x, or a direct 8x/16x "
                                         "baseline) from a config or preset, on videos or "
                                         "synthetic clips",
                           description="Train a tokenizer. `bootvid train --preset tiny --data "
                                       "DIR --out DIR` starts a run with the preset's defaults; "
                                       "flags override the config.")
    add_train_arguments(train, grow=False)
    grow = sub.add_parser("grow", help="grow a trained tokenizer by 2x in time (ProMAG) and train "
                                       "the new stage",
                          description="Grow a trained tokenizer (4x -> 8x -> 16x): the lower "
                                      "model is frozen, only the new stage trains.")
    add_train_arguments(grow, grow=True)

    pack = sub.add_parser(
        "pack", help="a run's newest checkpoint, small enough to carry or commit (no optimizer "
                     "state, bf16 weights), that --resume continues",
        description="Writes OUT: a run directory with RUN's newest checkpoint packed (optimizer "
                    "state left out, weights in bf16: about a quarter of the size) and RUN's "
                    "config, log and curves. `bootvid train --resume --out OUT` (or the "
                    "experiment command, with OUT as the arm's run directory) continues at the "
                    "same step, schedule and EMA, with a fresh optimizer whose learning rate "
                    "is re-warmed over optim.warmup_steps.")
    pack.add_argument("run", help="the run directory to pack")
    pack.add_argument("out", help="the new run directory (must not exist or be empty)")
    pack.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16",
                      help="precision of the stored weights (default bf16)")

    from .codec import add_codec_arguments
    from .evaluate import add_eval_arguments

    ev = sub.add_parser("eval", help="PSNR/SSIM of a tokenizer on videos, fixed protocol",
                        description="Fixed protocol: first --frames frames, shorter side to "
                                    "--size, centre crop, reconstruct, quantise to uint8, PSNR "
                                    "and SSIM.")
    add_eval_arguments(ev, compare=False)
    cmp = sub.add_parser("compare", help="eval several models on the same videos: one table "
                                         "and one plot")
    add_eval_arguments(cmp, compare=True)
    for name, help_ in (("reconstruct", "encode and decode a whole video (streamed), write it"),
                        ("encode", "video -> latents (.safetensors with metadata), streamed"),
                        ("decode", "latents written by bootvid encode -> video, streamed")):
        add_codec_arguments(sub.add_parser(name, help=help_), name)
    from .dit import add_dit_arguments, add_latents_arguments

    add_latents_arguments(sub.add_parser(
        "latents", help="encode a video folder into a latent cache for DiT training",
        description="Cuts every video into clips of --clip-frames frames at --size, encodes "
                    "them (streamed) and writes sharded safetensors with per-channel statistics "
                    "under --out; resumable; under torchrun each rank encodes its share."))
    add_dit_arguments(sub.add_parser(
        "dit", help="latent video diffusion: train / sample a DiT, token budget",
        description="A DiT (adaLN-Zero, 3D RoPE) trained with rectified flow on bootvid "
                    "latents."))
    from .data import add_data_arguments

    add_data_arguments(sub.add_parser(
        "data", help="training data tools: preview what a config feeds the trainer",
        description="`bootvid data preview --config CONFIG --out DIR`: the first items a "
                    "training config produces, as mp4s and a labelled PNG grid."))
    exp = sub.add_parser("experiment", help="reproduce the paper's claims at small scale")
    exp_sub = exp.add_subparsers(dest="experiment", required=True)
    pm = exp_sub.add_parser(
        "promag", help="4x -> grown 8x/16x vs direct 8x/16x at equal training compute",
        description="Trains the 4x model (or takes --base), grows it to 8x and 16x, trains the "
                    "direct baselines, extensions, ablation and second seeds for budgets in "
                    "training FLOPs (B for the 4x model, S per stage; direct 8x gets B + S, "
                    "direct 16x B + 2S), evaluates each on held-out frames with a curve of "
                    "PSNR against compute, and writes OUT/arms/NAME.json per arm and "
                    "results.md, results.json and plots from all of them. The plan is printed "
                    "first. Re-running continues an interrupted experiment.")
    pm.add_argument("--data", required=True, help="folder of videos (split in time: the last "
                                                  "part of each is held out)")
    pm.add_argument("--out", required=True, help="experiment directory")
    pm.add_argument("--preset", default="tiny", help="tokenizer preset (default tiny)")
    pm.add_argument("--budget", default="small",
                    help="S, training FLOPs per growth stage: a number (2.5e14) or smoke, "
                         "small (5e13, default), medium (2.5e14), large (1e15)")
    pm.add_argument("--base-budget", help="B, training FLOPs of the 4x model (default: S)")
    pm.add_argument("--base", metavar="MODEL",
                    help="a trained 4x model (run or model directory with its training.json) "
                         "as the 4x arm: B is its cumulative training FLOPs")
    pm.add_argument("--arms", help="comma-separated arms to train and evaluate now (default "
                                   "all); their parents must exist")
    pm.add_argument("--report-only", action="store_true",
                    help="train and evaluate nothing: write the report from the arm records "
                         "in OUT and --include")
    pm.add_argument("--include", nargs="+", default=[], metavar="DIR",
                    help="directories of arm results from earlier runs (DIR/arms/*.json) to "
                         "report with this run's")
    pm.add_argument("--ablations", choices=["none", "default", "all"], default="default",
                    help="default: the stage without its subsampled branch; all: every mixing "
                         "variant, the custom RMS norm, the stage at the paper's "
                         "learning rate (1e-4) and the stage with the base unfrozen")
    pm.add_argument("--no-ablations", action="store_const", const="none", dest="ablations",
                    help="same as --ablations none")
    pm.add_argument("--seeds", type=int, default=2,
                    help="seeds of the grown and direct 8x arms (default 2)")
    pm.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    pm.add_argument("--size", type=int, default=64, help="training resolution (default 64)")
    pm.add_argument("--batch-size", type=int, help="clips per step (default: the preset's)")
    pm.add_argument("--eval-size", type=int, default=128, help="eval resolution (default 128)")
    pm.add_argument("--eval-frames", type=int, default=33, help="eval frames (default 33)")
    pm.add_argument("--curve-points", type=int, default=6,
                    help="held-out evaluations per arm, at doublings of its compute (default 6)")
    pm.add_argument("--seed", type=int, default=0)
    pm.add_argument("--stills", metavar="DIR",
                    help="also train on camera motion over the photos in DIR (equal weight "
                         "with the videos; our runs use ../shared/data/stills); evaluation "
                         "stays on the videos' held-out frames")
    pm.add_argument("--image-ratio", type=float, default=0.0, dest="image_ratio",
                    help="share of training items that are single frames (default 0)")
    pm.add_argument("--minutes-per-stage", help=argparse.SUPPRESS)
    sp = exp_sub.add_parser(
        "split", help="write the experiment's time split of the data (to re-measure held-out "
                      "figures)",
        description="The train / held-out split `bootvid experiment promag` makes of --data, "
                    "written under OUT/data (FFV1): evaluate a model on OUT/data/heldout with "
                    "`bootvid eval --frames 33 --size 128`.")
    sp.add_argument("--data", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--size", type=int, default=64, help="training resolution (default 64)")
    sp.add_argument("--eval-size", type=int, default=128, help="eval resolution (default 128)")
    sp.add_argument("--eval-frames", type=int, default=33, help="eval frames (default 33)")
    return parser


def _demo(args: argparse.Namespace) -> int:
    if args.ops:
        from .demo import run_ops_demo, run_tokenizer_demo

        run_ops_demo(frames=args.frames or 17, size=args.size or 64, channels=args.channels,
                     device=args.device)
        run_tokenizer_demo(preset=args.preset, device=args.device)
    elif args.train:
        import os

        from .demo_train import run_train_demo

        run_train_demo(os.path.join(args.out, "train"), args.minutes, args.size or 32)
    else:
        from .demo_models import run_models_demo

        run_models_demo(args.out, args.frames or 33, args.size or 128, args.models, args.video,
                        args.device)
    return 0


def _pack(args) -> int:
    import os

    import torch

    from ..train.checkpoint import checkpoint_path, pack_run

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    step, path = pack_run(args.run, args.out, dtype)
    print(f"packed step {step} of {args.run}: {path}, {os.path.getsize(path) / 1e6:.1f} MB "
          f"(from {os.path.getsize(checkpoint_path(args.run, step)) / 1e6:.1f} MB). Continue "
          f"with --resume --out {args.out}: same step, schedule and EMA, fresh optimizer.")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        elif args.command == "eval":
            from .evaluate import run_eval

            return run_eval(args)
        elif args.command == "compare":
            from .evaluate import run_compare

            return run_compare(args)
        elif args.command in ("reconstruct", "encode", "decode"):
            from .codec import run_codec

            return run_codec(args)
        elif args.command == "experiment" and args.experiment == "split":
            from ..experiment import ExperimentSettings
            from ..experiment.promag import split_data

            split = split_data(ExperimentSettings(
                data=args.data, out=args.out, size=args.size, eval_frames=args.eval_frames,
                eval_size=args.eval_size))
            for v in split:
                print(f"{v.heldout_file}: frames {v.train_frames}..{v.frames - 1} of {v.source}")
            return 0
        elif args.command == "experiment":
            from ..experiment import ExperimentSettings, run_experiment
            from ..experiment.promag import parse_budget

            if args.minutes_per_stage is not None:
                raise ValueError("--minutes-per-stage is gone: budgets are training FLOPs now, "
                                 "the same on any machine (--budget, --base-budget; "
                                 "--dry-run prints the plan)")
            if args.report_only and args.arms:
                raise ValueError("--report-only trains and evaluates nothing: drop --arms")
            settings = ExperimentSettings(
                data=args.data, out=args.out, preset=args.preset,
                budget=parse_budget(args.budget),
                base_budget=parse_budget(args.base_budget) if args.base_budget else None,
                base=args.base, size=args.size, batch_size=args.batch_size,
                eval_frames=args.eval_frames, eval_size=args.eval_size, seed=args.seed,
                ablations=args.ablations, seeds=args.seeds, curve_points=args.curve_points,
                arms=([] if args.report_only else
                      [a.strip() for a in args.arms.split(",")] if args.arms else None),
                include=list(args.include), stills=args.stills, image_ratio=args.image_ratio)
            run_experiment(settings, command="bootvid " + " ".join(sys.argv[1:]),
                           dry_run=args.dry_run)
            return 0
        elif args.command == "pack":
            return _pack(args)
        elif args.command == "data":
            from .data import run_data

            return run_data(args)
        elif args.command == "latents":
            from .dit import run_latents

            return run_latents(args)
        elif args.command == "dit":
            from .dit import run_dit

            return run_dit(args)
        elif args.command in ("train", "grow"):
            from .train import run_training

            return run_training(args, grow=args.command == "grow")
        return 0
    except KeyboardInterrupt as e:
        print(f"bootvid: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, RuntimeError, ImportError, ArithmeticError) as e:
        if args.debug:
            raise
        print(f"bootvid: error: {_explained(e)}", file=sys.stderr)
        return 2


def _explained(e: BaseException) -> str:
    """The error's message, with what a distributed failure means in bootvid's terms."""
    text = str(e)
    if any(s in text for s in ("Connection reset by peer", "Connection closed by peer",
                               "NCCL communicator was aborted")):
        return ("another process of this torchrun job stopped (its error is above); its last "
                f"checkpoint is intact: rerun with --resume, or use torchrun --max-restarts N "
                f"to restart automatically. Details: {text}")
    return text


if __name__ == "__main__":
    sys.exit(main())
