"""Issue 17's comparison: tokenizers trained on different data, evaluated with `bootvid eval`'s
protocol (first 33 frames, shorter side to 128, centre crop) on the videos' held-out tails and
on the synthetic clip `bootvid demo` reconstructs (no photo or video in it).

    python scripts/data_variety.py --runs videos=runs/videos mixed=runs/mixed \\
        --heldout runs/split/data/heldout --out docs/results/data_variety.json

Writes the JSON (per model: training steps and minutes, per-video PSNR / SSIM, the means) and
a PNG beside it: one held-out frame per video, and the demo clip's, as each model
reconstructs it. The same figures come from `bootvid compare --models RUN... --videos DIR`.
"""

from __future__ import annotations

import argparse
import json
import os


def _demo_clip(path: str, frames: int = 33, size: int = 128) -> str:
    """`bootvid demo`'s synthetic clip, written losslessly so `bootvid eval` can read it."""
    from bootvid.data import write_video
    from bootvid.tokenizer import synthetic_video
    from bootvid.tokenizer.video import video_to_frames

    if not os.path.isfile(path):
        write_video(path, video_to_frames(synthetic_video(frames, size)), fps=25.0,
                    codec="ffv1", pixel_format="yuv444p")
    return path


def _run_info(run: str) -> dict:
    from bootvid.train.logger import read_log

    log = [r for r in read_log(run) if "loss" in r]
    import torch

    from bootvid.train.checkpoint import list_checkpoints

    found = list_checkpoints(run)
    state = torch.load(found[-1][1], map_location="cpu", weights_only=True)
    return {"steps": int(state["step"]), "train_minutes": float(state["train_seconds"]) / 60,
            "final_l1": log[-1]["l1"] if log else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", required=True, metavar="NAME=RUN")
    ap.add_argument("--heldout", required=True, help="folder of held-out videos")
    ap.add_argument("--out", required=True, help="JSON to write (a PNG goes beside it)")
    ap.add_argument("--frame", type=int, default=20, help="frame shown in the figure")
    ap.add_argument("--work", default="runs/data-variety",
                    help="where the demo clip is written (default runs/data-variety)")
    a = ap.parse_args()

    from bootvid.data import find_videos
    from bootvid.eval.protocol import evaluate_video
    from bootvid.train.rundir import load_tokenizer

    heldout = find_videos(a.heldout)
    os.makedirs(a.work, exist_ok=True)
    demo = _demo_clip(os.path.join(a.work, "demo_clip.mkv"))
    results, recons, refs = {}, {}, {}
    for spec in a.runs:
        name, _, run = spec.partition("=")
        tok, what = load_tokenizer(run)
        tok.eval()
        print(f"{name}: the {what}", flush=True)
        entry = {"run": run, **_run_info(run), "heldout": {}, "demo": None}
        for path in [*heldout, demo]:
            res, ref, rec = evaluate_video(tok, path)
            key = os.path.basename(path)
            refs[key] = ref
            recons[(name, key)] = rec
            row = {"psnr": res.psnr, "ssim": res.ssim}
            if path == demo:
                entry["demo"] = row
            else:
                entry["heldout"][key] = row
            print(f"  {key}: {res.psnr:.2f} dB, SSIM {res.ssim:.4f}", flush=True)
        n = len(entry["heldout"])
        entry["heldout_psnr"] = sum(r["psnr"] for r in entry["heldout"].values()) / n
        entry["heldout_ssim"] = sum(r["ssim"] for r in entry["heldout"].values()) / n
        results[name] = entry
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump({"protocol": "first 33 frames, shorter side to 128, centre crop; EMA weights",
                   "models": results}, f, indent=2)
    _figure(results, refs, recons, a.frame, os.path.splitext(a.out)[0] + ".png")
    print(f"wrote {a.out}")


def _figure(results: dict, refs: dict, recons: dict, frame: int, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    keys = list(refs)
    fig, axes = plt.subplots(len(keys), len(names) + 1,
                             figsize=(2.1 * (len(names) + 1), 2.25 * len(keys)))
    for r, key in enumerate(keys):
        axes[r, 0].imshow(refs[key][frame].numpy())
        axes[r, 0].set_title(f"input: {key[:18]}", fontsize=7)
        for c, name in enumerate(names, start=1):
            rec = recons[(name, key)]
            row = (results[name]["demo"] if key not in results[name]["heldout"]
                   else results[name]["heldout"][key])
            axes[r, c].imshow(rec[frame].numpy())
            axes[r, c].set_title(f"{name}: {row['psnr']:.1f} dB", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"frame {frame} of each held-out clip (last row: bootvid demo's synthetic "
                 "clip), reconstructed at 4x", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
