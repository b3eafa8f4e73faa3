"""Held-out PSNR against training compute: points taken while an arm trains (a trainer hook)
or afterwards from a run's kept checkpoints (a base trained in several separate runs)."""

from __future__ import annotations

import copy
import glob
import json
import os
import re

from ..fileio import atomic_write_text

CURVE_FILE = "heldout_curve.json"


def doubling_steps(steps: int, points: int) -> list[int]:
    """``points`` steps at doublings of compute ending at ``steps``: 1/2^(points-1) .. 1."""
    return sorted({max(1, round(steps / 2 ** k)) for k in range(points)})


def read_curve(run_dir: str) -> list[dict]:
    path = os.path.join(run_dir, CURVE_FILE)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _ema_copy(trainer):
    """The weights ``bootvid eval --model RUN`` would use had the run stopped now."""
    shadow = copy.deepcopy(trainer.tok)
    if trainer.ema is not None:
        trainer.ema.copy_to(shadow)
    return shadow.eval()


class CurveHook:
    """Trainer hook: at the given steps, the EMA model's held-out PSNR / SSIM (the fixed
    protocol, shots between hard cuts encoded on their own as ``bootvid eval`` does) with the
    run's training FLOPs and seconds so far, kept in ``<run>/`` as
    ``heldout_curve.json`` (a resumed run adds to it). Evaluation is not training time: the
    loop's clock and FLOP count leave hooks out."""

    def __init__(self, steps: list[int], videos: list[str], frames: int, size: int,
                 log=print) -> None:
        self.steps, self.videos, self.frames, self.size, self.log = (set(steps), videos, frames,
                                                                     size, log)

    def __call__(self, trainer, step: int) -> None:
        if step not in self.steps:
            return
        if trainer.dist.is_main:
            self._evaluate(trainer, step)
        trainer.dist.barrier()  # the other processes wait here, not in a collective

    def _evaluate(self, trainer, step: int) -> None:
        from ..eval.protocol import evaluate

        points = [p for p in read_curve(trainer.run_dir) if p["step"] != step]
        res = evaluate(_ema_copy(trainer), self.videos, self.frames, self.size, cuts="auto")
        points.append({"step": step, "train_flops": trainer.train_flops,
                       "train_seconds": trainer.train_seconds, "psnr": res["psnr"],
                       "ssim": res["ssim"]})
        points.sort(key=lambda p: p["step"])
        atomic_write_text(os.path.join(trainer.run_dir, CURVE_FILE),
                          json.dumps(points, indent=1) + "\n")
        self.log(f"experiment: step {step}: held-out {float(res['psnr']):.2f} dB")


def checkpoint_curve(run_dir: str, videos: list[str], frames: int, size: int,
                     points: int | None = None, log=print) -> list[dict]:
    """Held-out PSNR of the EMA weights of a run's kept checkpoints (``points``: only those
    nearest to doublings of the last one's step). Checkpoints written before FLOPs were counted
    get them from the step count at the rate of the counted ones (items are a low-discrepancy
    mix, so FLOPs grow with steps at a steady rate)."""
    import torch

    from ..eval.protocol import evaluate
    from ..growth import from_config
    from ..tokenizer import TokenizerConfig

    found = sorted((int(re.search(r"step_(\d+)\.pt$", p).group(1)), p)
                   for p in glob.glob(os.path.join(run_dir, "checkpoints", "step_*.pt")))
    if not found:
        raise FileNotFoundError(f"{run_dir} has no kept checkpoints for a curve")
    if points:
        wanted = doubling_steps(found[-1][0], points)
        keep = {min(found, key=lambda f: abs(f[0] - w))[0] for w in wanted}
        found = [f for f in found if f[0] in keep]
    rate = None
    out, tok = [], None
    for step, path in reversed(found):  # newest first: its FLOP rate serves older ones
        state = torch.load(path, map_location="cpu", weights_only=True)
        if tok is None:
            tok = from_config(TokenizerConfig.from_dict(state["tokenizer_config"])).eval()
        weights = dict(state["model"])
        if state.get("ema") is not None:
            weights.update(state["ema"]["shadow"])
        tok.load_state_dict(weights)
        flops = state.get("train_flops")
        if flops is not None and rate is None and step:
            rate = flops / step
        res = evaluate(tok, videos, frames, size, cuts="auto")
        out.append({"step": step, "train_flops": flops if flops is not None else
                    (rate * step if rate is not None else None),
                    "flops_estimated": flops is None,
                    "train_seconds": float(state.get("train_seconds", 0.0)),
                    "psnr": res["psnr"], "ssim": res["ssim"]})
        log(f"{run_dir} step {step}: held-out {float(res['psnr']):.2f} dB")
    return sorted(out, key=lambda p: p["step"])
