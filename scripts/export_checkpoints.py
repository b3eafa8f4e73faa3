"""Export the 4x, grown 8x and grown 16x models of a ``bootvid experiment promag`` run as a
shipped family (``checkpoints/PRESET-4x``, ``-8x``, ``-16x``: bf16 safetensors, the 8x and 16x
directories holding only their growth stage), measure what was written, and write the cards.
The previously shipped family is not removed: delete it yourself (and update
``bootvid.pretrained.SHIPPED``) when the new one replaces it.

    python scripts/export_checkpoints.py --experiment runs/promag-fast --out checkpoints

Each exported directory gets its training record (``training.json``: own and cumulative steps,
seconds and FLOPs) and a model card (``README.md``); ``OUT/eval.json`` holds the family's
figures and ``OUT/README.md`` a table of them. Figures are measured on the exported files as
users load them (bf16 weights, computed in float32): the experiment's held-out split (33
frames, 128x128, the protocol of ``bootvid eval``) and the synthetic clip of ``bootvid demo``.
``--check`` only re-measures the family and compares with ``OUT/eval.json`` (exit 1 when a
PSNR moved by more than 0.05 dB). From a clone, without the experiment's run, give it the
held-out split made again from the same videos:

    bootvid experiment split --data ../shared/data/videos --out runs/split
    python scripts/export_checkpoints.py --check --heldout runs/split/data/heldout
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys

import torch

from bootvid.cli.demo_models import demo_clip
from bootvid.eval.metrics import psnr, ssim
from bootvid.eval.protocol import evaluate, reconstruct_frames
from bootvid.fileio import atomic_write_text
from bootvid.tokenizer import VideoTokenizer
from bootvid.tokenizer.persistence import model_fingerprint
from bootvid.train.card import CARD_NAME, read_card
from bootvid.train.flops import format_flops
from bootvid.train.rundir import load_tokenizer, resolve_model_dir

#: Experiment arm of each member of a family, lowest compression first.
ARMS = {"4x": "4x", "8x": "grown8x", "16x": "grown16x"}
TOLERANCE_DB = 0.05


def arm_records(experiment: str) -> dict[str, dict]:
    """The experiment's records of the three arms (``EXPERIMENT/arms/NAME.json``)."""
    out = {}
    for arm in ARMS.values():
        path = os.path.join(experiment, "arms", f"{arm}.json")
        if not os.path.isfile(path):
            sys.exit(f"{path} is missing: run `bootvid experiment promag ... --arms {arm}` first")
        with open(path, encoding="utf-8") as f:
            out[arm] = json.load(f)
    return out


def arm_dir(experiment: str, record: dict) -> str:
    """Where the arm's run is: the experiment's ``runs/NAME``, or the ``--base`` model for 4x."""
    base = record["settings"].get("base")
    if record["name"] == "4x" and base:
        return base
    return os.path.join(experiment, "runs", record["name"])


def family(records: dict) -> dict[str, str]:
    """``{"fast-4x": "4x", "fast-8x": "grown8x", ...}`` for the experiment's preset."""
    preset = records["4x"]["settings"]["preset"]
    return {f"{preset}-{k}": arm for k, arm in ARMS.items()}


def export(experiment: str, out: str, records: dict) -> dict[str, str]:
    names = family(records)
    dirs = {arm: arm_dir(experiment, records[arm]) for arm in ARMS.values()}
    tok16, where = load_tokenizer(dirs["grown16x"])
    models = dict(zip(names, (tok16.lower.lower, tok16.lower, tok16)))
    for name, tok in models.items():  # the 16x run was grown on exactly these models
        run_model, _ = load_tokenizer(dirs[names[name]])
        if model_fingerprint(run_model) != model_fingerprint(tok):
            sys.exit(f"{dirs[names[name]]} is not the model grown16x was grown on")
    lower = None
    for name, tok in models.items():
        dst = os.path.join(out, name)
        tok.save_pretrained(dst, dtype=torch.bfloat16, lower=lower)
        shutil.copyfile(os.path.join(resolve_model_dir(dirs[names[name]])[0], CARD_NAME),
                        os.path.join(dst, CARD_NAME))
        lower = dst
    print(f"exported {', '.join(models)} from {where}")
    return names


def experiment_heldout(experiment: str) -> list[str]:
    """The held-out videos of the experiment's split (``EXPERIMENT/data/split.json``)."""
    with open(os.path.join(experiment, "data", "split.json"), encoding="utf-8") as f:
        return [v["heldout_file"] for v in json.load(f)["videos"]]


def folder_heldout(folder: str, expected: list[str]) -> list[str]:
    """The held-out videos in ``folder``, which must hold the files ``eval.json`` was measured
    on (by name): a split of other videos would not reproduce the figures."""
    names = [os.path.basename(p) for p in expected]
    missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        sys.exit(f"--heldout {folder}: {', '.join(missing)} missing; make the split with "
                 "`bootvid experiment split --data ../shared/data/videos --out SPLIT` and pass "
                 "SPLIT/data/heldout")
    return [os.path.join(folder, n) for n in names]


def measure(out: str, heldout: list[str], names) -> dict:
    ref, _, clip = demo_clip(33, 128)
    figures = {}
    for name in names:
        tok = VideoTokenizer.from_pretrained(os.path.join(out, name), dtype=torch.float32)
        ev = evaluate(tok, heldout, 33, 128, model_name=name, cuts="auto")
        rec = reconstruct_frames(tok, ref)
        figures[name] = {
            "temporal_compression": tok.temporal_compression,
            "parameters": tok.num_parameters(), "latent_channels": tok.latent_channels,
            "fingerprint": model_fingerprint(tok),
            "heldout": {"psnr": float(ev["psnr"]), "ssim": ev["ssim"],
                        "videos": {os.path.basename(v["path"]): float(v["psnr"])
                                   for v in ev["videos"]}},
            "synthetic": {"psnr": psnr(ref, rec), "ssim": ssim(ref, rec)}}
        print(f"{name}: held-out {figures[name]['heldout']['psnr']:.2f} dB, synthetic "
              f"{figures[name]['synthetic']['psnr']:.2f} dB")
    return {"heldout_files": heldout, "synthetic_clip": clip, "models": figures}


def _size_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)
               if f.endswith(".safetensors")) / 1e6


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} hours" if seconds >= 3600 else f"{seconds / 60:.0f} minutes"


def model_card(out: str, experiment: str, name: str, names: dict[str, str], records: dict,
               figures: dict) -> str:
    """The README of one exported model: what it is, how it was trained, what it scores."""
    f, rec = figures["models"][name], records[names[name]]
    card = read_card(os.path.join(out, name))
    cfg, cum = card["config"], card["cumulative"]
    members = list(names)
    lower = members[members.index(name) - 1] if members.index(name) else None
    stage = (f"one growth stage on `{lower}` (frozen; loaded from the directory next to this "
             f"one, so keep the family together)" if lower else "the base model of the family")
    per_video = ", ".join(f"{k.split('_', 1)[-1].rsplit('.', 1)[0]} {v:.2f}"
                          for k, v in f["heldout"]["videos"].items())
    return f"""# {name}

A causal video tokenizer: {f['temporal_compression']}x temporal and 8x8 spatial compression
to {f['latent_channels']} latent channels, {f['parameters'] / 1e6:.2f}M parameters
({_size_mb(os.path.join(out, name)):.1f} MB of bf16 weights in this directory), {stage}.
Load it with `VideoTokenizer.from_pretrained("checkpoints/{name}")`,
`bootvid.pretrained.load_pretrained("{name}")` or `--model {name}` on the command line.

## Held-out quality
`bootvid eval --model {name} --videos SPLIT/data/heldout`, SPLIT made by `bootvid experiment
split --data ../shared/data/videos --out SPLIT` (first 33 frames, 128x128; the held-out last
frames of each of the project's five clips, never trained on):
**{f['heldout']['psnr']:.2f} dB PSNR**, SSIM {f['heldout']['ssim']:.4f}
(the experiment's own fp32 figure: {float(rec['eval']['psnr']):.2f} dB). By clip: {per_video}.
`bootvid demo`'s synthetic clip: {f['synthetic']['psnr']:.2f} dB.

## Training
- Data: {rec['data']}; random crops of {cfg['frames']} frames at {cfg['size']}x{cfg['size']},
  batch {cfg['batch_size']}, fp32 on a 2-core CPU; loss L1 + {cfg['loss']['kl']:g} KL.
- This model: {card['steps']} steps, {format_flops(card['train_flops'])} of training compute,
  {_hours(card['train_seconds'])} here. With the models it builds on: {cum['steps']} steps,
  {format_flops(cum['train_flops'])}, {_hours(cum['train_seconds'])} (`training.json` has the
  whole record).
- From `bootvid experiment promag` ({rec['settings']['preset']} preset; see docs/results.md
  for the plan, curves and the comparison with direct training), exported by
  `python scripts/export_checkpoints.py --experiment {experiment} --out {out}`.

## Limits
- Trained on little data (above) in {cfg['size']}x{cfg['size']} crops: expect softened fine
  texture (faces, text, foliage) and smeared fast motion, more so at higher temporal
  compression.
- Any frame count works (1 + {f['temporal_compression']}k frames map to 1 + k latent frames;
  others are padded) and any size (padded to a multiple of 8 and cropped back by
  `bootvid reconstruct`); `--cuts auto` (the default) encodes each shot on its own.

Measured on {datetime.date.today().isoformat()}; `python scripts/export_checkpoints.py --check
--heldout SPLIT/data/heldout` re-measures every figure (tolerance {TOLERANCE_DB} dB).
"""


def family_card(out: str, experiment: str, names: dict[str, str], figures: dict) -> str:
    """``OUT/README.md``: the family at a glance; each model's own card has the details."""
    rows = []
    for name in names:
        f, card = figures["models"][name], read_card(os.path.join(out, name))
        rows.append(f"| [{name}]({name}/README.md) | {f['temporal_compression']}x8x8 | "
                    f"{f['parameters'] / 1e6:.2f}M | {_size_mb(os.path.join(out, name)):.1f} MB | "
                    f"{format_flops(card['cumulative']['train_flops'])} | "
                    f"{f['heldout']['psnr']:.2f} | {f['heldout']['ssim']:.4f} | "
                    f"{f['synthetic']['psnr']:.2f} |")
    total = sum(_size_mb(os.path.join(out, n)) for n in names)
    first = next(iter(names))
    return f"""# Shipped tokenizers: {', '.join(names)}

bootvid's default models (`--model` omitted: `{first}`). A 4x tokenizer and its ProMAG growth
to 8x and 16x (docs/results.md), exported by
`python scripts/export_checkpoints.py --experiment {experiment} --out {out}`; each directory's
README.md is its model card and `training.json` its training record.

| model | compression (T x H x W) | parameters | weights | training compute (cumulative) | held-out PSNR dB | SSIM | synthetic clip PSNR dB |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{total:.1f} MB of bf16 weights in all: the 8x and 16x directories store only their growth stage
and load the lower model from the directory next to them, so keep the three together.
Held-out: `bootvid eval`'s protocol (first 33 frames, 128x128) on the last frames of the
project's five clips, never trained on. To re-measure every figure from a clone:
`bootvid experiment split --data ../shared/data/videos --out SPLIT`, then
`python scripts/export_checkpoints.py --check --heldout SPLIT/data/heldout`.
"""


def read_eval(out: str) -> dict:
    with open(os.path.join(out, "eval.json"), encoding="utf-8") as f:
        return json.load(f)


def check(out: str, experiment: str, heldout_dir: str | None = None) -> int:
    saved = read_eval(out)
    if heldout_dir:  # (from a clone: no arm records needed)
        names = list(saved["models"])
        heldout = folder_heldout(heldout_dir, saved["heldout_files"])
    else:
        names = family(arm_records(experiment))
        heldout = experiment_heldout(experiment)
    now = measure(out, heldout, names)
    bad = 0
    for name in names:
        f = saved["models"][name]
        for part in ("heldout", "synthetic"):
            d = now["models"][name][part]["psnr"] - f[part]["psnr"]
            ok = abs(d) <= TOLERANCE_DB
            bad += not ok
            print(f"{name} {part}: {f[part]['psnr']:.3f} -> {now['models'][name][part]['psnr']:.3f}"
                  f" dB ({d:+.3f}) {'ok' if ok else 'CHANGED'}")
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="runs/promag-fast")
    p.add_argument("--out", default="checkpoints")
    p.add_argument("--check", action="store_true", help="only re-measure and compare")
    p.add_argument("--heldout", metavar="DIR",
                   help="with --check: the held-out videos (SPLIT/data/heldout of `bootvid "
                        "experiment split --data ../shared/data/videos --out SPLIT`) instead "
                        "of the experiment's")
    args = p.parse_args()
    if args.heldout and not args.check:
        p.error("--heldout is for --check (an export measures on the experiment's own split)")
    if args.check:
        return check(args.out, args.experiment, args.heldout)
    records = arm_records(args.experiment)
    names = export(args.experiment, args.out, records)
    figures = measure(args.out, experiment_heldout(args.experiment), names)
    for name in names:
        atomic_write_text(os.path.join(args.out, name, "README.md"),
                          model_card(args.out, args.experiment, name, names, records, figures))
    figures["command"] = " ".join(["python", *sys.argv])
    atomic_write_text(os.path.join(args.out, "eval.json"), json.dumps(figures, indent=2) + "\n")
    atomic_write_text(os.path.join(args.out, "README.md"),
                      family_card(args.out, args.experiment, names, figures))
    print(f"wrote {args.out}/eval.json, {args.out}/README.md and a model card in each of "
          f"{', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
