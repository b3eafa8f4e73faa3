"""Held-out PSNR against training minutes, from a training run's kept checkpoints.

For every ``checkpoints/step_*.pt`` of each run, the EMA weights of that step (the weights
``bootvid eval --model RUN`` would use had the run stopped there) are evaluated with the fixed
protocol (``bootvid.eval.protocol.evaluate``: first --frames frames, --size centre crop) on
the held-out videos; minutes are the run's training time at that step (the checkpoint's
``train_seconds``, what ``--max-minutes`` counts).
Writes ``--out`` (JSON) and a PNG beside it.

    python scripts/heldout_curve.py --runs runs/fast runs/tiny \\
        --videos runs/exp/data/heldout --out docs/results/fast_vs_tiny_curve.json

Keep the checkpoints (``run.keep_checkpoints``) of the runs you want a curve of.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re


def run_curve(run: str, videos: list[str], frames: int, size: int) -> dict:
    import torch

    from bootvid.eval.protocol import evaluate
    from bootvid.growth import from_config
    from bootvid.tokenizer import TokenizerConfig
    from bootvid.train import TrainConfig

    cfg = TrainConfig.from_yaml(os.path.join(run, "train_config.yaml"))
    points, tok = [], None
    for path in sorted(glob.glob(os.path.join(run, "checkpoints", "step_*.pt"))):
        step = int(re.search(r"step_(\d+)", path).group(1))
        state = torch.load(path, map_location="cpu", weights_only=True)
        if tok is None:  # the checkpoint knows the whole model, grown or not
            tok = from_config(TokenizerConfig.from_dict(state["tokenizer_config"])).eval()
        weights = dict(state["model"])
        if state.get("ema") is not None:
            weights.update(state["ema"]["shadow"])
        tok.load_state_dict(weights)
        res = evaluate(tok, videos, frames, size)
        # training time (excludes start-up and evaluation), as the run's budget counts it
        minutes = state.get("train_seconds", 0.0) / 60
        points.append({"step": step, "minutes": minutes, "psnr": res["psnr"],
                       "ssim": res["ssim"]})
        print(f"{run} step {step} ({minutes:.1f} min): PSNR {res['psnr']:.2f} dB, "
              f"SSIM {res['ssim']:.3f}")
    return {"run": run, "preset": cfg.model.preset, "points": points}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--videos", nargs="+", required=True)
    p.add_argument("--frames", type=int, default=33)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    from bootvid.data import find_videos

    videos = find_videos(a.videos)
    curves = [run_curve(r, videos, a.frames, a.size) for r in a.runs]
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump({"frames": a.frames, "size": a.size, "videos": videos, "curves": curves}, f,
                  indent=1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for c in curves:
        pts = [q for q in c["points"] if q["minutes"] is not None]
        ax.plot([q["minutes"] for q in pts], [q["psnr"] for q in pts], "o-",
                label=f"{c['preset']} ({os.path.basename(c['run'].rstrip('/'))})")
    ax.set_xlabel("training minutes")
    ax.set_ylabel(f"held-out PSNR (dB), {a.frames}x{a.size}x{a.size}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.splitext(a.out)[0] + ".png", dpi=100)


if __name__ == "__main__":
    main()
