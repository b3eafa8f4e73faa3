"""``bootvid data preview``: the items a training config feeds the trainer, as videos and one
labelled grid, to check crops, motion and mixing before a long run."""

from __future__ import annotations

import argparse
import os


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", required=True)
    pv = sub.add_parser(
        "preview", help="write what the trainer would see: an mp4 per clip, a PNG per image, "
                        "and a labelled grid",
        description="Builds the training data of --config (or --preset with --data) exactly "
                    "as `bootvid train` does and writes items --start .. --start+N-1 (the first "
                    "steps' items) to OUT: item_0000.mp4 per clip, item_0000.png per image "
                    "(data.image_ratio), and OUT/grid.png (one row per item, evenly spaced "
                    "frames, labelled with the source).")
    pv.add_argument("--config", help="YAML training config (see configs/)")
    pv.add_argument("--preset", help="with no --config: a preset's defaults (tiny, fast, ...)")
    pv.add_argument("--data", help="video folder or file, in place of the config's data")
    pv.add_argument("--size", type=int, help="training resolution (default: the config's)")
    pv.add_argument("--out", required=True, help="output folder")
    pv.add_argument("--items", type=int, default=8, help="how many items (default 8)")
    pv.add_argument("--start", type=int, default=0, help="first item index (default 0)")
    pv.add_argument("--columns", type=int, default=9,
                    help="frames per row of the grid (default 9)")
    pv.add_argument("--fps", type=float, default=8.0, help="frame rate of the mp4s (default 8)")


def run_data(args: argparse.Namespace) -> int:
    from ..train import TrainConfig, build_dataset

    for name in ("items", "columns"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.start < 0:
        raise ValueError(f"--start must be >= 0, got {args.start}")
    if args.config and args.preset:
        raise ValueError("give --config or --preset, not both")
    cfg = (TrainConfig.from_yaml(args.config) if args.config
           else TrainConfig.for_preset(args.preset or "tiny"))
    over = {}
    if args.data:
        over.update({"data.path": args.data, "data.sources": None})
    if args.size:
        over["data.size"] = args.size
    cfg = cfg.merged(over).with_resolved_paths()
    dataset = build_dataset(cfg)
    print(f"bootvid: {dataset!r}", flush=True)
    paths = write_preview(dataset, args.out, range(args.start, args.start + args.items),
                          args.columns, args.fps)
    print(f"bootvid: {len(paths) - 1} items and {paths[-1]} written")
    return 0


def _label(dataset, index: int, frames: int) -> str:
    describe = getattr(dataset, "describe", None)
    if describe is not None:
        source, image = describe(index)
        kind = dataset.names[source]
    else:
        kind = type(dataset).__name__
    what = "image" if frames == 1 else f"{frames} frames"
    return f"item {index}: {kind}, {what}"


def write_preview(dataset, out: str, indices, columns: int = 9, fps: float = 8.0) -> list[str]:
    """Write each item of ``dataset`` at ``indices`` (an mp4 per clip, a PNG per image) and
    ``out/grid.png``; returns the paths written, the grid last."""
    import torch
    from tqdm.auto import tqdm

    from ..data import write_video
    from ..data.images import save_png

    os.makedirs(out, exist_ok=True)
    rows, labels, written = [], [], []
    for i in tqdm(list(indices), desc="preview", unit="item"):
        clip = dataset[i]  # (3, T, H, W) in [-1, 1]
        frames = ((clip + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 3, 0)
        T = frames.shape[0]
        if T == 1:
            path = os.path.join(out, f"item_{i:04d}.png")
            save_png(frames[0], path)
        else:
            path = os.path.join(out, f"item_{i:04d}.mp4")
            write_video(path, frames, fps)
        written.append(path)
        pick = torch.linspace(0, T - 1, min(T, columns)).round().long()
        rows.append((frames[pick], T))
        labels.append(_label(dataset, i, T))
    grid = os.path.join(out, "grid.png")
    _save_grid(rows, labels, columns, grid)
    return written + [grid]


def _save_grid(rows, labels, columns: int, path: str) -> None:
    """One row per item (its frames left to right; an image fills the first cell), a label
    strip above each, cells upscaled to at least 96 px so small clips stay visible."""
    import torch
    import torch.nn.functional as F

    h, w = rows[0][0].shape[1:3]
    scale = max(1, -(-96 // max(h, w)))
    ch, cw, strip, gap = h * scale, w * scale, 14, 2
    width = columns * (cw + gap) - gap
    canvas = torch.full((len(rows) * (strip + ch + gap), width, 3), 255, dtype=torch.uint8)
    for r, (frames, _) in enumerate(rows):
        top = r * (strip + ch + gap) + strip
        big = F.interpolate(frames.permute(0, 3, 1, 2).float(), scale_factor=scale,
                            mode="nearest").round().byte().permute(0, 2, 3, 1)
        for c, frame in enumerate(big):
            left = c * (cw + gap)
            canvas[top:top + ch, left:left + cw] = frame
    try:
        from PIL import Image, ImageDraw
    except ImportError:  # save_png warns
        from ..data.images import save_png

        save_png(canvas, path)
        return
    img = Image.fromarray(canvas.numpy())
    draw = ImageDraw.Draw(img)
    for r, label in enumerate(labels):
        draw.text((2, r * (strip + ch + gap) + 1), label, fill=(0, 0, 0))
    from ..fileio import atomic_write

    atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))
