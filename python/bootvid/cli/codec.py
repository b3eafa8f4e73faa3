"""``bootvid reconstruct``, ``bootvid encode`` and ``bootvid decode``: video files through a
tokenizer, streamed in chunks (memory does not grow with the video's length)."""

from __future__ import annotations

import argparse

from .. import pretrained


def add_codec_arguments(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--model", metavar="DIR",
                   help="a save_pretrained directory, a training run (its EMA model) or a shipped "
                        f"model ({pretrained.SHIPPED_LIST}); default: "
                        + ("the shipped model the latents were encoded with" if command == "decode"
                           else f"the shipped {pretrained.DEFAULT_MODEL}"))
    if command == "reconstruct":
        p.add_argument("input", metavar="IN_VIDEO")
        p.add_argument("output", metavar="OUT_VIDEO", help="e.g. out.mp4 (container from the "
                                                           "extension)")
        p.add_argument("--json", metavar="OUT.json",
                       help="write the whole clip's PSNR / SSIM, per frame too, as JSON")
        p.add_argument("--side-by-side", action="store_true",
                       help="write the input and the reconstruction next to each other")
    elif command == "encode":
        p.add_argument("input", metavar="IN_VIDEO")
        p.add_argument("output", metavar="OUT.safetensors")
    else:
        p.add_argument("input", metavar="IN.safetensors")
        p.add_argument("output", metavar="OUT_VIDEO")
    if command != "decode":
        p.add_argument("--chunk-frames", type=int, default=16,
                       help="frames per streamed chunk (default 16)")
        p.add_argument("--size", type=int,
                       help="resize the shorter side to S first (default: the input's size)")
        p.add_argument("--max-frames", type=int, help="only the first N frames")
    else:
        p.add_argument("--chunk-latents", type=int, default=4,
                       help="latent frames per decoded chunk (default 4)")
    if command != "encode":
        p.add_argument("--codec", default="libx264",
                       help="video codec of the output (default libx264; ffv1 is lossless)")
        p.add_argument("--pixel-format", dest="pixel_format",
                       help="pixel format of the output (default: yuv420p where the codec has "
                            "it, which needs even sizes; yuv444p keeps odd sizes exact)")
    if command in ("reconstruct", "encode"):
        p.add_argument("--cuts", choices=["auto", "off"], default="auto",
                       help="auto (default): find hard cuts and encode each shot on its own, "
                            "so no latent frame blends two shots; off: one causal stream")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_codec(args: argparse.Namespace) -> int:
    from ..eval import codec
    from ..train.rundir import load_tokenizer

    if args.command == "decode" and args.model is None:
        tok, what = _shipped_model_of(args.input, args.device)
    else:
        tok, what = load_tokenizer(args.model, device=args.device)
    print(f"bootvid: {args.command} with the {what} ({tok.temporal_compression}x temporal, "
          f"{tok.spatial_compression}x spatial)")
    progress = not args.no_progress
    print(_plan(args, tok))
    if args.command == "reconstruct":
        r = codec.reconstruct_file(tok, args.input, args.output, args.chunk_frames, args.size,
                                   args.side_by_side, args.codec, progress, args.max_frames,
                                   args.pixel_format, log=print, cuts=args.cuts)
    elif args.command == "encode":
        r = codec.encode_file(tok, args.input, args.output, args.chunk_frames, args.size,
                              progress, args.max_frames, log=print, cuts=args.cuts)
    else:
        r = codec.decode_file(tok, args.input, args.output, args.chunk_latents, args.codec,
                              progress, args.pixel_format, log=print)
    print(f"bootvid: wrote {args.output}: {r['frames']} frames at {r['fps']:.3g} fps, "
          f"{_size_written(r)}")
    if r.get("cuts"):
        print(f"bootvid: {len(r['cuts']) + 1} shots, each encoded on its own (cuts before "
              f"frames {', '.join(map(str, r['cuts']))})")
    if args.command == "reconstruct":
        print(_quality_line(r))
        if args.json:
            from .evaluate import _write_json

            _write_json({"model": what, "output": args.output, **r}, args.json)
            print(f"bootvid: wrote {args.json}")
    return 0


def _plan(args: argparse.Namespace, tok) -> str:
    """What is about to happen: frames and sizes, before the long work starts."""
    from ..eval import codec

    if args.command == "decode":
        meta = codec.read_latents_meta(args.input)
        return (f"bootvid: decoding {meta['frames']} frames of {meta['width']}x{meta['height']} "
                f"from {args.input}")
    from ..data import probe_video

    info = probe_video(args.input)
    frames = min(info.frames, args.max_frames or info.frames)
    h, w = codec.output_size(info.height, info.width, args.size)
    s = tok.spatial_compression
    pad = (f" (padded to {w + -w % s}x{h + -h % s} for the model, cropped back)"
           if (h % s or w % s) else "")
    resized = f", resized from {info.width}x{info.height}" if (h, w) != (info.height,
                                                                      info.width) else ""
    return (f"bootvid: {args.command} {frames} frames of {w}x{h}{resized}{pad} at "
            f"{info.fps:.3g} fps, in chunks of {args.chunk_frames} frames")


def _quality_line(r: dict) -> str:
    """Whole-clip PSNR / SSIM and the worst frame."""
    per = r["psnr_per_frame"]
    finite = [(v, i) for i, v in enumerate(per) if v != "inf"]
    worst = (f"; worst frame {min(finite)[1]}: {min(finite)[0]:.2f} dB" if finite else "")
    ssim = f", SSIM {r['ssim']:.4f}" if r["ssim"] is not None else ""
    psnr = "inf (identical)" if r["psnr"] == "inf" else f"{r['psnr']:.2f} dB"
    return f"bootvid: whole clip ({len(per)} frames): PSNR {psnr}{ssim}{worst}"


def _size_written(r: dict) -> str:
    """``width x height`` of what was written, saying when the codec made it larger."""
    if "latent_shape" in r:
        return f"{r['width']}x{r['height']} encoded, latents {tuple(r['latent_shape'])}"
    w, h = r.get("written_size") or (r["width"], r["height"])
    if (w, h) == (r["width"], r["height"]):
        return f"{w}x{h}"
    return (f"{w}x{h} ({r['width']}x{r['height']} frames, the last column / row repeated: "
            f"{r.get('codec', 'the codec')} in a 4:2:0 pixel format needs even sizes; "
            "--pixel-format yuv444p keeps them exact)")


def _shipped_model_of(latents: str, device: str):
    """The shipped model whose fingerprint the latents file records (decode without --model).

    The shipped family is one chain (16x grown on 8x grown on 4x): loading the top model loads
    all three, so each is compared without reading any weights twice."""
    from .. import pretrained
    from ..eval.codec import read_latents
    from ..tokenizer.persistence import model_fingerprint
    from ..train.rundir import load_tokenizer

    _, meta = read_latents(latents)
    tok, _ = load_tokenizer(pretrained.SHIPPED[-1], device=device)
    for name in reversed(pretrained.SHIPPED):
        if model_fingerprint(tok) == meta.get("model_fingerprint"):
            return tok, f"shipped model {name} ({pretrained.pretrained_dir(name)})"
        tok = getattr(tok, "lower", None)
        if tok is None:
            break
    raise ValueError(f"{latents} was not encoded by a shipped model ({meta.get('temporal_compression')}x "
                     f"temporal, fingerprint {meta.get('model_fingerprint')}); give the model "
                     "that encoded it with --model DIR")
