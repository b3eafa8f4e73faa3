"""The token-budget experiment of docs/results.md: a tiny DiT on 4x vs 16x latents.

For each shipped tokenizer (fast-4x, fast-16x): cache the latents of a video folder
(``bootvid latents``), train the same DiT preset for the same wall-clock minutes (``bootvid
dit train``), sample a clip (``bootvid dit sample``: OUT/sample-MODEL.mp4 and .png); then
write OUT/summary.json (tokens per clip, steps, steps per minute and its ratio). Re-running reuses
finished caches and runs (``--resume`` continues an interrupted run to its budget).

    python scripts/dit_e2e.py --data ../shared/data/videos --out runs/dit-e2e --minutes 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _run(argv: list[str]) -> None:
    from bootvid.cli.main import main

    print("$ bootvid " + " ".join(argv), flush=True)
    if main(argv) != 0:
        sys.exit(f"bootvid {argv[0]} failed")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=8.0, help="training minutes per DiT")
    p.add_argument("--clip-frames", type=int, default=65)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=50, help="sampling steps")
    p.add_argument("--models", nargs="+", default=["fast-4x", "fast-16x"])
    args = p.parse_args()

    from bootvid.diffusion import DiT
    from bootvid.diffusion.latents import read_index
    from bootvid.diffusion.sampling import token_budget
    from bootvid.train.rundir import tokenizer_architecture

    rows = []
    for model in args.models:
        lat = os.path.join(args.out, f"latents-{model}")
        run = os.path.join(args.out, f"dit-{model}")
        if not os.path.isfile(os.path.join(lat, "latents.json")):
            _run(["latents", "--model", model, "--data", args.data, "--out", lat,
                  "--clip-frames", str(args.clip_frames), "--size", str(args.size),
                  "--no-progress"])
        if not os.path.isdir(os.path.join(run, "model_ema")):
            resume = ["--resume"] if os.path.isdir(os.path.join(run, "checkpoints")) else []
            _run(["dit", "train", "--latents", lat, "--preset", args.preset, "--out", run,
                  "--max-minutes", str(args.minutes), "--max-steps", "100000",
                  "--batch-size", str(args.batch_size), "--device", "cpu", "--no-progress",
                  *resume])
        sample = os.path.join(args.out, f"sample-{model}.mp4")
        if not os.path.isfile(sample):
            _run(["dit", "sample", "--model", run, "--frames", str(args.clip_frames),
                  "--steps", str(args.steps), "--seed", "0", "--no-progress", sample])
        meta = DiT.read_metadata(os.path.join(run, "model_ema"))
        tok = tokenizer_architecture(model)
        budget = token_budget(tok, args.clip_frames, args.size, DiT.from_pretrained(
            os.path.join(run, "model_ema")).config)
        rows.append({"tokenizer": model, "clips": read_index(lat)["num_clips"], **budget,
                     "steps": meta["step"], "train_seconds": meta["train_seconds"],
                     "steps_per_minute": 60 * meta["step"] / meta["train_seconds"],
                     "sample": os.path.basename(sample),
                     "sample_png": os.path.basename(sample)[:-4] + ".png"})
    for r in rows:
        r["steps_per_minute_vs_first"] = r["steps_per_minute"] / rows[0]["steps_per_minute"]
    summary = {"command": "python " + " ".join(sys.argv), "clip_frames": args.clip_frames,
               "size": args.size, "preset": args.preset, "minutes": args.minutes,
               "batch_size": args.batch_size, "rows": rows}
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
    _plot_losses(args.out, [r["tokenizer"] for r in rows])


def _plot_losses(out: str, models: list[str]) -> None:
    """OUT/loss.png: training loss against training time, one curve per tokenizer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bootvid.diffusion import DiT
    from bootvid.train.logger import read_log

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for model in models:
        recs = [r for r in read_log(os.path.join(out, f"dit-{model}")) if "loss" in r]
        # The log times no record, so each is placed at its step's share of the run's training
        # time (step times are steady within a run).
        meta = DiT.read_metadata(os.path.join(out, f"dit-{model}", "model_ema"))
        minutes_per_step = meta["train_seconds"] / meta["step"] / 60
        ax.plot([r["step"] * minutes_per_step for r in recs], [r["loss"] for r in recs],
                marker=".", label=f"{model} latents ({meta['step']} steps)")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("flow-matching loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "loss.png"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
