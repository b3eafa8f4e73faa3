"""Scene cuts, measured (docs/results.md): a video with hard cuts made by joining clips of
different sources, reconstructed with ``--cuts auto`` (each shot encoded on its own) and
``--cuts off`` (one causal stream), per model.

For each model and mode: the whole clip's PSNR, the mean PSNR of the 8 frames after each cut,
and whether decoding the saved latents gives reconstruct's frames. Writes ``--out`` (JSON) and
a PNG of per-frame PSNR beside it.

    python scripts/shot_cuts.py --videos ../shared/data/videos --models fast-4x fast-16x \\
        --out docs/results/cuts.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import torch
import torch.nn.functional as F

from bootvid.data import detect_cuts, read_frames, write_video
from bootvid.eval import decode_file, encode_file, reconstruct_file
from bootvid.train.rundir import load_tokenizer

AFTER = 8  # frames after a cut that the figure averages


def joined_video(folder: str, names: list[str], frames: int, size: tuple[int, int],
                 path: str) -> list[int]:
    """The first ``frames`` frames of each clip, resized to ``size`` (H, W), one after the
    other, written losslessly; returns the true cuts."""
    parts = []
    for name in names:
        f = read_frames(os.path.join(folder, name), 0, frames)
        x = F.interpolate(f.permute(0, 3, 1, 2).float(), size=size, mode="bilinear",
                          antialias=True)
        parts.append(x.round().clamp(0, 255).byte().permute(0, 2, 3, 1))
    write_video(path, torch.cat(parts), 24, codec="ffv1")
    return [frames * k for k in range(1, len(names))]


def after_cuts(per_frame: list[float], cuts: list[int]) -> float:
    vals = [per_frame[c + k] for c in cuts for k in range(AFTER)]
    return sum(vals) / len(vals)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", default="../shared/data/videos")
    p.add_argument("--clips", nargs="+", default=["box.mp4", "tree.avi", "cup.mp4",
                                                  "vtest.avi"])
    p.add_argument("--frames", type=int, default=48, help="frames per clip")
    p.add_argument("--height", type=int, default=144)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--models", nargs="+", default=["fast-4x", "fast-16x"])
    p.add_argument("--out", required=True)
    a = p.parse_args()
    tmp = tempfile.mkdtemp()
    src = os.path.join(tmp, "joined.mkv")
    truth = joined_video(a.videos, a.clips, a.frames, (a.height, a.width), src)
    found = detect_cuts(src)
    print(f"true cuts {truth}, detected {found}")
    res = {"clips": a.clips, "frames_per_clip": a.frames, "size": [a.width, a.height],
           "true_cuts": truth, "detected_cuts": found, "after_frames": AFTER, "models": {}}
    for m in a.models:
        tok, what = load_tokenizer(m)
        row = {"model": what, "temporal_compression": tok.temporal_compression}
        for mode in ("auto", "off"):
            r = reconstruct_file(tok, src, os.path.join(tmp, f"{m}-{mode}.mkv"), codec="ffv1",
                                 cuts=mode)
            e = encode_file(tok, src, os.path.join(tmp, "z.safetensors"), cuts=mode)
            decode_file(tok, os.path.join(tmp, "z.safetensors"), os.path.join(tmp, "d.mkv"),
                        codec="ffv1")
            n = r["frames"]
            diff = int((read_frames(os.path.join(tmp, f"{m}-{mode}.mkv"), 0, n).int()
                        - read_frames(os.path.join(tmp, "d.mkv"), 0, n).int()).abs().max())
            row[mode] = {"psnr": r["psnr"], "ssim": r["ssim"],
                         "psnr_after_cuts": after_cuts(r["psnr_per_frame"], truth),
                         "cuts": r["cuts"], "latent_frames": e["latent_shape"][1],
                         "decode_vs_reconstruct_max_abs": diff,
                         "psnr_per_frame": r["psnr_per_frame"]}
            print(f"{m} cuts {mode}: clip {r['psnr']:.2f} dB, 8 frames after cuts "
                  f"{row[mode]['psnr_after_cuts']:.2f} dB, latents {e['latent_shape'][1]}, "
                  f"decode vs reconstruct max |diff| {diff}")
        res["models"][m] = row
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(a.models), 1, figsize=(9, 2.6 * len(a.models)), squeeze=False)
    for ax, (m, row) in zip(axes[:, 0], res["models"].items()):
        for mode, style in (("off", "-"), ("auto", "-")):
            ax.plot(row[mode]["psnr_per_frame"], style, lw=1,
                    label=f"--cuts {mode} ({row[mode]['psnr']:.2f} dB)")
        for c in truth:
            ax.axvline(c, color="0.5", ls=":", lw=0.8)
        ax.set_title(f"{m} ({row['temporal_compression']}x): per-frame PSNR, dotted: cuts",
                     fontsize=9)
        ax.set_ylabel("PSNR dB")
        ax.legend(fontsize=7, loc="lower right")
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    fig.savefig(os.path.splitext(a.out)[0] + ".png", dpi=100)


if __name__ == "__main__":
    main()
