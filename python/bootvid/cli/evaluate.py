"""``bootvid eval`` and ``bootvid compare``: the fixed evaluation protocol on the command line."""

from __future__ import annotations

import argparse
import json
import os

from .. import pretrained


def add_eval_arguments(p: argparse.ArgumentParser, compare: bool) -> None:
    from ..eval.protocol import DEFAULT_FRAMES, DEFAULT_SIZE

    if compare:
        p.add_argument("--models", nargs="+", required=True, metavar="DIR",
                       help="save_pretrained or training-run directories")
    else:
        p.add_argument("--model", metavar="DIR",
                       help="a save_pretrained directory, a training run (its EMA model) or a "
                            f"shipped model ({pretrained.SHIPPED_LIST}; default "
                            f"{pretrained.DEFAULT_MODEL})")
    p.add_argument("--videos", nargs="+", required=True, metavar="PATH",
                   help="video files or folders (searched recursively)")
    p.add_argument("--frames", type=_count_or("all"), default=DEFAULT_FRAMES,
                   help=f"first N frames of each video (default {DEFAULT_FRAMES}), or all "
                        "(whole videos, streamed)")
    p.add_argument("--size", type=_count_or("native"), default=DEFAULT_SIZE,
                   help=f"shorter side resized to S, centre S x S crop (default {DEFAULT_SIZE}), "
                        "or native (no resize or crop; padded for the model and cropped back)")
    p.add_argument("--stride", type=int, default=1,
                   help="take every N-th frame (a temporally subsampled video; default 1)")
    p.add_argument("--cuts", choices=["auto", "off"], default="auto",
                   help="auto (default): find hard cuts and encode each shot on its own; off: "
                        "one causal stream (the clips of the fixed protocol rarely have cuts)")
    p.add_argument("--json", metavar="OUT.json", help="write the results as JSON")
    p.add_argument("--plots", metavar="DIR", help="write PNG plots into DIR")
    p.add_argument("--lpips", metavar="WEIGHTS",
                   help="also report LPIPS-VGG, from this local weights file (the lpips "
                        "package's full state dict, or its lin weights with --lpips-backbone); "
                        "nothing is downloaded")
    p.add_argument("--lpips-backbone", metavar="VGG16",
                   help="torchvision vgg16 weights, when --lpips holds only the lin layers")
    p.add_argument("--fvd-detector", metavar="I3D.pt",
                   help="also report FVD, with this local TorchScript I3D detector (e.g. "
                        "StyleGAN-V's i3d_torchscript.pt); needs >= 2 videos")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")


def _count_or(word: str):
    """argparse type: a positive integer, or ``word`` (given as None)."""
    def parse(text: str) -> int | None:
        if text == word:
            return None
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected a positive integer or {word}, got "
                                             f"{text!r}")
        return value

    parse.__name__ = f"integer or {word}"
    return parse


def _write_json(obj, path: str) -> None:
    from ..fileio import atomic_write_text

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def _evaluate_model(model: str | None, videos: list[str], args, plots: str | None) -> dict:
    from ..eval.protocol import evaluate, format_psnr
    from ..train.rundir import load_tokenizer

    tok, what = load_tokenizer(model, device=args.device)
    label = model or pretrained.DEFAULT_MODEL
    print(f"bootvid: evaluating the {what}")
    on_video = None
    if plots:
        from ..eval.plots import save_frame_grid

        def on_video(res, ref, rec):
            name = os.path.splitext(os.path.basename(res.path))[0]
            save_frame_grid(ref, rec, os.path.join(plots, f"frames_{name}.png"),
                            title=f"{os.path.basename(res.path)} through {label} "
                                  f"({tok.temporal_compression}x): PSNR "
                                  f"{format_psnr(res.psnr).strip()} dB, SSIM {res.ssim:.3f}")

    lpips = None
    if args.lpips:
        from ..train.perceptual import LPIPS

        lpips = LPIPS.from_file(args.lpips, backbone=args.lpips_backbone).to(args.device)
    detector = None
    if args.fvd_detector:
        from ..eval.fvd import load_detector

        detector = load_detector(args.fvd_detector, args.device)
    return evaluate(tok, videos, args.frames, args.size, device=args.device,
                    model_name=label,
                    progress=True, on_video=on_video, lpips=lpips, fvd_detector=detector,
                    stride=args.stride, cuts=args.cuts)


def run_eval(args: argparse.Namespace) -> int:
    from ..data import find_videos
    from ..eval.protocol import format_table

    videos = find_videos(args.videos)
    summary = _evaluate_model(args.model, videos, args, args.plots)
    print(format_table(summary))
    if args.plots:
        from ..eval.plots import plot_psnr_per_frame

        plot_psnr_per_frame(summary, os.path.join(args.plots, "psnr_per_frame.png"))
        print(f"bootvid: plots in {args.plots}")
    if args.json:
        _write_json(summary, args.json)
        print(f"bootvid: results in {args.json}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from ..data import find_videos
    from ..eval.protocol import format_psnr, format_table

    videos = find_videos(args.videos)
    summaries = []
    for i, model in enumerate(args.models):
        plots = os.path.join(args.plots, f"model{i}") if args.plots else None
        summaries.append(_evaluate_model(model, videos, args, plots))
    for s in summaries:
        print(format_table(s), end="\n\n")
    w = max(len(s["model"]) for s in summaries)
    print(f"{'model':<{w}}  {'time':>5}  {'PSNR dB':>8}  {'SSIM':>6}")
    for s in summaries:
        print(f"{s['model']:<{w}}  {s['temporal_compression']:>4}x  {format_psnr(s['psnr'])}  "
              f"{s['ssim']:6.4f}")
    if args.plots:
        from ..eval.plots import plot_comparison

        plot_comparison(summaries, os.path.join(args.plots, "compare_psnr.png"))
        print(f"bootvid: plots in {args.plots}")
    if args.json:
        _write_json({"models": summaries}, args.json)
        print(f"bootvid: results in {args.json}")
    return 0
