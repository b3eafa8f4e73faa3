"""Held-out PSNR against training minutes, from a training run's kept checkpoints.

For every ``checkpoints/step_*.pt`` of each run, the EMA weights of that step (the weights
``bootvid eval --model RUN`` would use had the run stopped there) are evaluated with the fixed
protocol (``bootvid.eval.protocol.evaluate``: first --frames frames, --size centre crop) on
the held-out videos; minutes are the run's training time at that step (the checkpoint's
``train_seconds``, what ``--max-minutes`` counts).
Training FLOPs are the checkpoint's count (estimated from the step for checkpoints written before
FLOPs were counted). Writes ``--out`` (JSON) and a PNG beside it; the x axis is compute when
every point has it.

    python scripts/heldout_curve.py --runs runs/fast runs/tiny \\
        --videos runs/exp/data/heldout --out docs/results/fast_vs_tiny_curve.json

Keep the checkpoints (``run.keep_checkpoints``) of the runs you want a curve of.
"""

from __future__ import annotations

import argparse
import json
import os


def run_curve(run: str, videos: list[str], frames: int, size: int,
              points: int | None = None) -> dict:
    from bootvid.experiment.curves import checkpoint_curve
    from bootvid.train import TrainConfig

    cfg = TrainConfig.from_yaml(os.path.join(run, "train_config.yaml"))
    pts = checkpoint_curve(run, videos, frames, size, points)
    for q in pts:  # training time (excludes start-up and evaluation), as budgets count it
        q["minutes"] = q["train_seconds"] / 60
    return {"run": run, "preset": cfg.model.preset, "points": pts}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--videos", nargs="+", required=True)
    p.add_argument("--frames", type=int, default=33)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--out", required=True)
    p.add_argument("--points", type=int,
                   help="only the checkpoints nearest to this many doublings of the last step")
    a = p.parse_args()
    from bootvid.data import find_videos

    videos = find_videos(a.videos)
    curves = [run_curve(r, videos, a.frames, a.size, a.points) for r in a.runs]
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump({"frames": a.frames, "size": a.size, "videos": videos, "curves": curves}, f,
                  indent=1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    by_flops = all(q["train_flops"] for c in curves for q in c["points"])
    for c in curves:
        pts = c["points"]
        ax.plot([q["train_flops"] if by_flops else q["minutes"] for q in pts],
                [q["psnr"] for q in pts], "o-",
                label=f"{c['preset']} ({os.path.basename(c['run'].rstrip('/'))})")
    if by_flops:
        ax.set_xscale("log")
    ax.set_xlabel("training FLOPs" if by_flops else "training minutes")
    ax.set_ylabel(f"held-out PSNR (dB), {a.frames}x{a.size}x{a.size}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.splitext(a.out)[0] + ".png", dpi=100)


if __name__ == "__main__":
    main()
