"""Export the 4x, grown 8x and grown 16x models of a ``bootvid experiment promag`` run as the
shipped checkpoints (bf16 safetensors; the 8x and 16x directories hold only their growth
stage), evaluate what was written, and write the model card.

    python scripts/export_checkpoints.py --experiment runs/promag --out checkpoints

Figures are measured on the exported files as users load them (bf16 weights, computed in
float32): the experiment's held-out split (33 frames, 128x128) and the synthetic clip of
``bootvid demo``. ``--check`` only re-measures and compares with ``OUT/eval.json``
(exit 1 when a PSNR moved by more than 0.05 dB).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

import torch

from bootvid.cli.demo_models import demo_clip
from bootvid.eval.metrics import psnr, ssim
from bootvid.eval.protocol import evaluate, reconstruct_frames
from bootvid.fileio import atomic_write_text
from bootvid.tokenizer import VideoTokenizer
from bootvid.tokenizer.persistence import model_fingerprint
from bootvid.train.rundir import load_tokenizer

NAMES = {"tiny-4x": "4x", "tiny-8x": "grown8x", "tiny-16x": "grown16x"}
TOLERANCE_DB = 0.05


def export(experiment: str, out: str) -> None:
    runs = os.path.join(experiment, "runs")
    tok16, where = load_tokenizer(os.path.join(runs, "grown16x"))
    family = {"tiny-16x": tok16, "tiny-8x": tok16.lower, "tiny-4x": tok16.lower.lower}
    for name, tok in family.items():  # the 16x run was grown on exactly these models
        run_model, _ = load_tokenizer(os.path.join(runs, NAMES[name]))
        if model_fingerprint(run_model) != model_fingerprint(tok):
            sys.exit(f"{runs}/{NAMES[name]} is not the model grown16x was grown on")
    family["tiny-4x"].save_pretrained(os.path.join(out, "tiny-4x"), dtype=torch.bfloat16)
    family["tiny-8x"].save_pretrained(os.path.join(out, "tiny-8x"), dtype=torch.bfloat16,
                                      lower=os.path.join(out, "tiny-4x"))
    tok16.save_pretrained(os.path.join(out, "tiny-16x"), dtype=torch.bfloat16,
                          lower=os.path.join(out, "tiny-8x"))
    print(f"exported {', '.join(family)} from {where}")


def measure(out: str, experiment: str) -> dict:
    split = json.load(open(os.path.join(experiment, "data", "split.json"), encoding="utf-8"))
    heldout = [v["heldout_file"] for v in split["videos"]]
    ref, _, clip = demo_clip(33, 128)
    figures = {}
    for name in NAMES:
        tok = VideoTokenizer.from_pretrained(os.path.join(out, name), dtype=torch.float32)
        ev = evaluate(tok, heldout, 33, 128, model_name=name)
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


def _size_mb(out: str, name: str) -> float:
    d = os.path.join(out, name)
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)) / 1e6


def model_card(out: str, experiment: str, figures: dict) -> str:
    res = json.load(open(os.path.join(experiment, "results.json"), encoding="utf-8"))
    st, runs = res["settings"], res["runs"]
    rows = []
    for name, f in figures["models"].items():
        r = runs[NAMES[name]]
        fp32 = res["evals"][NAMES[name]]
        rows.append(f"| {name} | {f['temporal_compression']}x8x8 | "
                    f"{f['parameters'] / 1e6:.2f}M | {_size_mb(out, name):.1f} MB | "
                    f"{r['steps']} steps, {r['train_minutes']:g} min | "
                    f"{f['heldout']['psnr']:.2f} ({float(fp32['psnr']):.2f}) | "
                    f"{f['heldout']['ssim']:.4f} | {f['synthetic']['psnr']:.2f} |")
    total = sum(_size_mb(out, n) for n in NAMES)
    return f"""# Shipped tokenizers: tiny-4x, tiny-8x, tiny-16x

bootvid's default models (`--model` omitted: `tiny-4x`; `bootvid.pretrained.load_pretrained(name)`;
`VideoTokenizer.from_pretrained("checkpoints/tiny-16x")`). They are the 4x model and its ProMAG
growth to 8x and 16x from the run in `docs/results.md`, exported by
`python scripts/export_checkpoints.py --experiment {experiment} --out {out}`.

**They are small and briefly trained: a demonstration of the method and of the tooling, not
production tokenizers.** Expect blurry reconstructions (about 19 dB PSNR on real video).

| model | compression (T x H x W) | parameters | files | training (this stage) | held-out PSNR dB (fp32 run) | SSIM | synthetic clip PSNR dB |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Total size: {total:.1f} MB (weights in bfloat16; the 8x and 16x directories store only their
growth stage and load the lower model from the directory next to them, so keep the three
together).

- Architecture: the `tiny` preset (`TokenizerConfig.preset("tiny")`): causal 3D convolutions,
  8x8 spatial compression, {figures['models']['tiny-4x']['latent_channels']} latent
  channels; 8x and 16x each add one growth stage (mixing `position_scale_shift`, GroupNorm),
  the lower model frozen.
- Training data: the training part (first ~80% of the frames) of the five clips in the
  project's `../shared/data/videos` (Megamind.avi, box.mp4, cup.mp4, tree.avi, vtest.avi), random
  crops of 17 frames at {st['size']}x{st['size']}, batch 4, fp32 on a 2-core CPU; L1 + KL
  (+ GAN only after step 2000, never reached); {st['minutes']:g} minutes per stage.
- Evaluation: `bootvid eval`'s protocol (first 33 frames, shorter side to 128, centre crop,
  uint8) on the held-out last frames of each clip ({', '.join(os.path.basename(h) for h in figures['heldout_files'])}),
  never trained on; the figure in brackets is the experiment's own (fp32 weights). Synthetic
  clip: the one `bootvid demo` reconstructs ({figures['synthetic_clip']}, 33 frames, 128x128).
- Reproduce: `bootvid experiment split --data ../shared/data/videos --out /tmp/split` then
  `bootvid eval --model tiny-16x --videos /tmp/split/data/heldout` (33 frames, 128 px by
  default); `python scripts/export_checkpoints.py --experiment {experiment} --out {out} --check`
  re-measures every figure and fails on a change > {TOLERANCE_DB} dB; the test suite checks the
  synthetic-clip figures.
- Limits: trained for minutes on five clips at 64x64: colours and coarse structure survive,
  fine texture and fast motion do not; 16x blurs motion more than 4x. Any frame count works
  (1 + 4k / 8k / 16k frames map to 1 + k latents; others are padded), any size (padded to a
  multiple of 8 and cropped back by `bootvid reconstruct`).
- Measured on {datetime.date.today().isoformat()}; figures in `eval.json`.
"""


def check(out: str, experiment: str) -> int:
    saved = json.load(open(os.path.join(out, "eval.json"), encoding="utf-8"))
    now = measure(out, experiment)
    bad = 0
    for name, f in saved["models"].items():
        for part in ("heldout", "synthetic"):
            d = now["models"][name][part]["psnr"] - f[part]["psnr"]
            ok = abs(d) <= TOLERANCE_DB
            bad += not ok
            print(f"{name} {part}: {f[part]['psnr']:.3f} -> {now['models'][name][part]['psnr']:.3f}"
                  f" dB ({d:+.3f}) {'ok' if ok else 'CHANGED'}")
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="runs/promag")
    p.add_argument("--out", default="checkpoints")
    p.add_argument("--check", action="store_true", help="only re-measure and compare")
    args = p.parse_args()
    if args.check:
        return check(args.out, args.experiment)
    export(args.experiment, args.out)
    figures = measure(args.out, args.experiment)
    figures["command"] = " ".join(["python", *sys.argv])
    atomic_write_text(os.path.join(args.out, "eval.json"), json.dumps(figures, indent=2) + "\n")
    atomic_write_text(os.path.join(args.out, "README.md"),
                      model_card(args.out, args.experiment, figures))
    print(f"wrote {args.out}/eval.json and {args.out}/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
