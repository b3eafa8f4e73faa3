"""Does bf16 autocast train a tokenizer on the CPU like fp32? Same seed, same data, same steps.

Trains one model twice with ``bootvid.train.Trainer`` (``run.precision`` fp32, then bf16; the
conv weight gradients of bf16 are taken in fp32, see ``bootvid/ops/_registration.py``) on
bootvid's deterministic synthetic clips, logs every step, and compares the final smoothed loss
(mean of the last ``--window`` steps). Writes ``OUT/bf16_vs_fp32.json`` and a plot.

    python scripts/bf16_loss_curve.py --out runs/bf16-check --steps 300

Model and clips are small by default (``fast`` preset at 8 base channels, 2 clips of
17x32x32) so that the bf16 run finishes on CPUs that emulate bf16 (AVX2: tens of times slower
than fp32); ``--preset`` / ``--size`` / ``--base-channels`` change them.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def train(out: str, precision: str, a) -> list[float]:
    from bootvid.train import TrainConfig, Trainer

    # 8 groups: divides the narrower levels (24 channels at base 8)
    overrides = ({"base_channels": a.base_channels, "norm_groups": 8} if a.base_channels
                 else {})
    cfg = TrainConfig.for_preset(a.preset).merged({
        "model.overrides": overrides, "data.frames": 17, "data.size": a.size,
        "data.num_workers": 0, "run.batch_size": a.batch, "run.max_steps": a.steps,
        "run.checkpoint_every": a.steps, "run.log_every": 1, "run.preview_every": 10 ** 9,
        "run.precision": precision, "run.device": "cpu", "run.seed": a.seed, "loss.gan": 0.0})
    run = os.path.join(out, precision)
    t0 = time.time()
    Trainer(cfg, run, progress=True).run()
    print(f"{precision}: {a.steps} steps in {time.time() - t0:.0f} s")
    with open(os.path.join(run, "log.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r["loss"] for r in rows if "loss" in r]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/bf16-check")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--preset", default="fast")
    p.add_argument("--base-channels", type=int, default=8)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    curves = {prec: train(a.out, prec, a) for prec in ("fp32", "bf16")}
    final = {k: sum(v[-a.window:]) / len(v[-a.window:]) for k, v in curves.items()}
    rel = abs(final["bf16"] - final["fp32"]) / final["fp32"]
    result = {"steps": a.steps, "window": a.window, "preset": a.preset,
              "base_channels": a.base_channels, "size": a.size, "batch": a.batch,
              "final_smoothed_loss": final, "relative_difference": rel,
              "within_3_percent": rel <= 0.03, "curves": curves}
    with open(os.path.join(a.out, "bf16_vs_fp32.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for k, v in curves.items():
        ax.plot(range(1, len(v) + 1), v, label=f"{k} (last {a.window}: {final[k]:.4f})", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (L1 + KL)")
    ax.set_yscale("log")
    ax.set_title(f"bf16 autocast vs fp32 on CPU, same seed: {100 * rel:.1f}% apart")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "bf16_vs_fp32.png"), dpi=100)
    print(json.dumps({k: v for k, v in result.items() if k != "curves"}, indent=1))


if __name__ == "__main__":
    main()
