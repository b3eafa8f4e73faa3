"""A train / held-out split of a video folder that training never crosses.

Each video is cut in time: its first part becomes a training file, its last part a held-out
file (so every scene is evaluated, on frames no model was trained on). Both are written once,
resized so the shorter side is ``short_side`` (the experiment never needs more, and small
lossless files decode far faster than the originals during training).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

SPLIT_FILE = "split.json"


@dataclass
class SplitVideo:
    source: str
    frames: int  # frames decoded from the source (headers can over-count)
    train_file: str
    train_frames: int
    heldout_file: str
    heldout_frames: int


def _resize_short_side(frames, short_side: int):
    import torch.nn.functional as F

    x = frames.permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    scale = short_side / min(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).contiguous()


def prepare_split(paths, out_dir: str, heldout_frames: int, heldout_fraction: float = 0.2,
                  short_side: int = 128, min_train_frames: int = 17) -> list[SplitVideo]:
    """Cut every video under ``paths`` into ``out_dir/train/*.mkv`` (first frames) and
    ``out_dir/heldout/*.mkv`` (the last ``max(heldout_frames, fraction * frames)`` frames),
    lossless (FFV1), and record the split in ``out_dir/split.json``. Videos too short for
    both parts are left out with a note. An existing split is reused."""
    from ..data import VideoWriter, find_videos, iter_frames, probe_video

    record = os.path.join(out_dir, SPLIT_FILE)
    if os.path.isfile(record):
        with open(record, encoding="utf-8") as f:
            return [SplitVideo(**v) for v in json.load(f)["videos"]]
    split, skipped = [], []
    for i, src in enumerate(find_videos(paths)):
        total = sum(len(c) for c in iter_frames(src, 64))
        held = max(heldout_frames, round(heldout_fraction * total))
        if total - held < min_train_frames:
            skipped.append(f"{src}: {total} frames, too few for {held} held-out + "
                           f"{min_train_frames} training frames")
            continue
        stem = f"{i:02d}_{os.path.splitext(os.path.basename(src))[0]}"
        train = os.path.join(out_dir, "train", f"{stem}.mkv")
        heldout = os.path.join(out_dir, "heldout", f"{stem}.mkv")
        os.makedirs(os.path.dirname(train), exist_ok=True)
        os.makedirs(os.path.dirname(heldout), exist_ok=True)
        fps = probe_video(src).fps
        with VideoWriter(train, fps, codec="ffv1", pixel_format="yuv444p") as wt, \
                VideoWriter(heldout, fps, codec="ffv1", pixel_format="yuv444p") as wh:
            seen = 0
            for chunk in iter_frames(src, 64):
                chunk = _resize_short_side(chunk, short_side)
                cut = max(0, min(len(chunk), total - held - seen))
                if cut:
                    wt.write(chunk[:cut])
                if cut < len(chunk):
                    wh.write(chunk[cut:])
                seen += len(chunk)
        split.append(SplitVideo(src, total, train, total - held, heldout, held))
    if not split:
        raise ValueError(f"prepare_split: no video under {paths} is long enough to split: "
                         + "; ".join(skipped))
    os.makedirs(out_dir, exist_ok=True)
    with open(record, "w", encoding="utf-8") as f:
        json.dump({"videos": [asdict(v) for v in split], "skipped": skipped}, f, indent=2)
    return split
