"""Investigation for docs/results.md: does growth pay once the 4x base is trained longer?

Trains the 4x model for ``--base-steps`` on the experiment's training split, then, for
``--steps`` each, grows it to 8x (frozen base) and trains the direct extension to 8x from the
same weights (nothing frozen), and evaluates the three on the held-out split, like
``bootvid experiment promag`` (same settings and protocol; budgets in steps, not minutes, so
other work on the machine does not bias them; warmup 5% of the steps, then cosine).

    python scripts/longer_base.py --experiment runs/promag --out runs/longer-base \\
        --base-steps 250 --steps 130
"""

from __future__ import annotations

import argparse
import json
import os

from bootvid.eval.protocol import evaluate
from bootvid.experiment.promag import ExperimentSettings, RunSpec, _config, _progress
from bootvid.fileio import atomic_write_text
from bootvid.train import Trainer
from bootvid.train.rundir import load_tokenizer


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--experiment", default="runs/promag")
    p.add_argument("--out", default="runs/longer-base")
    p.add_argument("--base-steps", type=int, default=250)
    p.add_argument("--steps", type=int, default=130)
    a = p.parse_args()
    exp = json.load(open(os.path.join(a.experiment, "results.json"), encoding="utf-8"))
    s = ExperimentSettings(**{**exp["settings"], "out": a.out})
    data = os.path.join(a.experiment, "data")
    split = json.load(open(os.path.join(data, "split.json"), encoding="utf-8"))["videos"]
    heldout = [v["heldout_file"] for v in split]
    specs = [RunSpec("4x", 1, "promag"),
             RunSpec("grown8x", 1, "promag", grow_from="4x"),
             RunSpec("ext8x", 1, "extension", temporal_compression=8, init_from="4x")]
    results = {}
    for spec in specs:
        run_dir = os.path.join(a.out, "runs", spec.name)
        if _progress(run_dir) is None:
            grow_from = os.path.join(a.out, "runs", spec.grow_from) if spec.grow_from else None
            steps = a.base_steps if spec.name == "4x" else a.steps
            cfg = _config(s, spec, os.path.join(data, "train")).merged(
                {"run.max_minutes": None, "run.max_steps": steps,
                 "optim.warmup_steps": max(1, steps // 20)})
            Trainer(cfg, run_dir, grow_from=grow_from).run()
        steps, seconds = _progress(run_dir)
        tok, _ = load_tokenizer(run_dir)
        ev = evaluate(tok, heldout, s.eval_frames, s.eval_size, model_name=spec.name)
        results[spec.name] = {"steps": steps, "minutes": round(seconds / 60, 2),
                              "psnr": float(ev["psnr"]), "ssim": ev["ssim"], "eval": ev}
        print(f"{spec.name}: {steps} steps, {seconds / 60:.1f} min, {float(ev['psnr']):.2f} dB")
    atomic_write_text(os.path.join(a.out, "results.json"), json.dumps(
        {"base_steps": a.base_steps, "steps": a.steps, "runs": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
