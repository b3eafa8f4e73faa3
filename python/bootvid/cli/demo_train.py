"""``bootvid demo --train``: ProMAG's progressive training in a few minutes, on synthetic clips.

Trains the tiny preset's 4x tokenizer, grows it to 8x (only the new stage trains) and to 16x,
each for a share of ``--minutes``, at a small size, and evaluates each model on the same
held-out synthetic clip before and after its stage, so the growth stages can be seen to learn.
The runs are ordinary training runs (``bootvid train`` / ``grow`` write the same directories).
"""

from __future__ import annotations

import os

import torch

#: Shares of the budget: the 4x base gets half (the grown stages build on it).
STAGE_SHARES = (("4x", 0.5), ("8x", 0.25), ("16x", 0.25))


def _config(minutes: float, size: int, seed: int, grow: bool):
    from ..train import TrainConfig

    over = {"data.path": None, "data.size": size, "data.frames": 17, "data.num_workers": 0,
            "run.max_minutes": minutes, "run.max_steps": 10**6, "run.seed": seed,
            "run.batch_size": 2, "run.checkpoint_every": 50, "run.preview_every": 10**6,
            "run.log_every": 5, "run.device": "cpu", "optim.warmup_steps": 10}
    if grow:
        over["loss.gan"] = 0.0
    return TrainConfig.for_preset("tiny").merged(over)


def _psnr(tok, clip: torch.Tensor) -> float:
    from ..eval.metrics import psnr
    from ..eval.protocol import reconstruct_frames

    return psnr(clip, reconstruct_frames(tok.eval(), clip))


def run_train_demo(out: str = "bootvid-demo/train", minutes: float = 4.0, size: int = 32,
                   seed: int = 0) -> list[dict]:
    """Train 4x -> 8x -> 16x for ``minutes`` in all; returns one row per stage."""
    from ..data import SyntheticVideoDataset
    from ..tokenizer.video import video_to_frames
    from ..train import Trainer
    from ..train.rundir import load_tokenizer

    if minutes <= 0:
        raise ValueError(f"--minutes must be > 0, got {minutes}")
    if size < 16 or size % 8:
        raise ValueError(f"--size must be a multiple of 8, at least 16, got {size}")
    held_out = video_to_frames(SyntheticVideoDataset(33, size, seed=seed + 7919)[0][None])
    print(f"bootvid demo --train: tiny preset, synthetic clips 17x{size}x{size}, {minutes:g} min "
          f"in all (4x {STAGE_SHARES[0][1]:.0%}, grown 8x and 16x {STAGE_SHARES[1][1]:.0%} each); "
          f"runs in {out}")
    rows, lower_dir = [], None
    for name, share in STAGE_SHARES:
        run_dir = os.path.join(out, name)
        if os.path.exists(run_dir):
            raise FileExistsError(f"{run_dir} exists; give another --out (the demo starts fresh)")
        trainer = Trainer(_config(minutes * share, size, seed, lower_dir is not None), run_dir,
                          grow_from=lower_dir)
        # The stage's start: random weights (4x), or the freshly grown model (its new stage
        # starts close to passing the lower model's latents through).
        before = _psnr(trainer.tok, held_out)
        trainer.tok.train()
        result = trainer.run()
        if result.stopped == "interrupted":
            raise KeyboardInterrupt(f"stopped during the {name} stage")
        tok, _ = load_tokenizer(run_dir)
        after = _psnr(tok, held_out)
        rows.append({"model": name, "steps": result.step, "minutes": minutes * share,
                     "psnr_before": before, "psnr_after": after,
                     "l1": result.last.get("l1")})
        lower_dir = run_dir
    print()
    print(f"{'stage':<6} {'steps':>6} {'min':>5} {'PSNR before':>12} {'PSNR after':>11} "
          f"{'last l1':>8}")
    for r in rows:
        l1 = f"{r['l1']:.4f}" if r["l1"] is not None else "-"
        print(f"{r['model']:<6} {r['steps']:>6} {r['minutes']:>5.1f} {r['psnr_before']:>12.2f} "
              f"{r['psnr_after']:>11.2f} {l1:>8}")
    print("PSNR in dB on a held-out synthetic clip (33 frames); 'before' is the stage's start: "
          "random weights for 4x, the freshly grown model for 8x and 16x")
    return rows
