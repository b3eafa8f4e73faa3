"""``bootvid experiment promag``: ProMAG's claims, reproduced at small scale with bootvid's own
trainer and evaluation, at equal wall-clock budgets.

With ``M`` minutes per stage: the 4x tokenizer (M), grown to 8x (M) and 16x (M); direct 8x
(2M) and 16x (3M) from scratch; "direct extension" 8x (M) and 16x (2M) initialised from the
4x model; the mixing ablation (grown 8x with each other mixing variant, M each) and the custom
RMS norm in the growth stage (M). Every model is evaluated with ``bootvid eval``'s protocol on
held-out frames (:mod:`bootvid.experiment.split`); the observation compares the 4x model on
2x / 4x subsampled clips with the direct 8x / 16x models on full-rate clips.

The experiment resumes: finished runs are skipped, interrupted ones continue from their last
checkpoint.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from ..fileio import atomic_write_text
from ..growth import DEFAULT_MIXING, MIXING_MODES


@dataclass(frozen=True)
class RunSpec:
    name: str
    budget: float  # in units of the per-stage minutes M
    group: str
    temporal_compression: int = 4
    grow_from: str | None = None
    init_from: str | None = None
    mixing: str | None = None
    norm_center: bool | None = None


def plan(ablations: bool = True) -> list[RunSpec]:
    """The runs, parents first."""
    runs = [
        RunSpec("4x", 1, "promag"),
        RunSpec("grown8x", 1, "promag", grow_from="4x"),
        RunSpec("grown16x", 1, "promag", grow_from="grown8x"),
        RunSpec("direct8x", 2, "direct", temporal_compression=8),
        RunSpec("direct16x", 3, "direct", temporal_compression=16),
        RunSpec("ext8x", 1, "extension", temporal_compression=8, init_from="4x"),
        RunSpec("ext16x", 2, "extension", temporal_compression=16, init_from="4x"),
    ]
    if ablations:
        runs += [RunSpec(f"grown8x-{m}", 1, "ablation", grow_from="4x", mixing=m)
                 for m in MIXING_MODES if m != DEFAULT_MIXING]
        runs.append(RunSpec("grown8x-rmsnorm", 1, "ablation", grow_from="4x", norm_center=False))
    return runs


@dataclass
class ExperimentSettings:
    data: str
    out: str
    preset: str = "tiny"
    minutes: float = 10.0
    size: int = 64
    frames: int = 17
    eval_frames: int = 33
    eval_size: int = 128
    observation_frames: int = 17
    seed: int = 0
    ablations: bool = True
    model_overrides: dict | None = None  # TokenizerConfig fields (tests use a smaller model)
    #: A folder of photos trained on beside the videos' training part (StillMotionDataset),
    #: equal weights; None: the videos only. Evaluation stays on the videos' held-out part.
    stills: str | None = None
    #: Share of single-frame items (images) in training.
    image_ratio: float = 0.0


def data_description(s: ExperimentSettings) -> str:
    """What the experiment's models train on, for its report."""
    what = "the training part (first frames) of each video"
    if s.stills:
        what = f"{what} and camera motion over the photos in {s.stills} (equal weights)"
    if s.image_ratio:
        what += f"; {100 * s.image_ratio:g}% of the items single frames"
    return what


def _config(s: ExperimentSettings, spec: RunSpec, data_dir: str):
    from ..train import TrainConfig

    data = ({"data.sources": [{"kind": "videos", "path": data_dir, "weight": 1.0},
                              {"kind": "stills", "path": s.stills, "weight": 1.0}],
             "data.path": None} if s.stills else {"data.path": data_dir})
    over = {**data, "data.image_ratio": s.image_ratio, "data.size": s.size,
            "data.frames": s.frames,
            "run.max_minutes": spec.budget * s.minutes, "run.max_steps": 10**6,
            "run.seed": s.seed, "model.temporal_compression": spec.temporal_compression}
    if s.model_overrides:
        over["model.overrides"] = dict(s.model_overrides)
    if spec.grow_from:  # growth stages: L1 + KL (paper, Stage II)
        over["loss.gan"] = 0.0
        over["grow.mixing"] = spec.mixing or DEFAULT_MIXING
        over["grow.norm_center"] = spec.norm_center
    if spec.init_from:
        over["model.init_from"] = os.path.join(s.out, "runs", spec.init_from)
    return TrainConfig.for_preset(s.preset).merged(over)


def _progress(run_dir: str) -> tuple[int, float] | None:
    """(step, training seconds) of a run's newest checkpoint, None without one."""
    import torch

    from ..train.checkpoint import list_checkpoints

    found = list_checkpoints(run_dir)
    if not found:
        return None
    state = torch.load(found[-1][1], map_location="cpu", weights_only=True)
    return int(state["step"]), float(state["train_seconds"])


def train_all(s: ExperimentSettings, data_dir: str, log=print) -> dict[str, dict]:
    """Train every planned run until it has used its budget (an interrupted run continues
    from its last checkpoint); returns ``{name: {steps, train_minutes, ...}}``. An interrupt
    (Ctrl-C, SIGTERM) stops the whole experiment after the current run's checkpoint."""
    from ..train import Trainer
    from ..train.rundir import EMA_DIR

    info = {}
    for spec in plan(s.ablations):
        run_dir = os.path.join(s.out, "runs", spec.name)
        budget = spec.budget * s.minutes * 60
        prog = _progress(run_dir)
        done = (prog is not None and prog[1] >= budget
                and os.path.isdir(os.path.join(run_dir, EMA_DIR)))
        if not done:
            resume = prog is not None
            log(f"experiment: {'resuming' if resume else 'training'} {spec.name} "
                f"({spec.budget * s.minutes:g} min)")
            grow_from = (os.path.join(s.out, "runs", spec.grow_from)
                         if spec.grow_from and not resume else None)
            result = Trainer(_config(s, spec, data_dir), run_dir, grow_from=grow_from,
                             resume=resume).run()
            if result.stopped == "interrupted":
                raise KeyboardInterrupt(f"experiment interrupted during {spec.name} (step "
                                        f"{result.step}, checkpoint written); run the same "
                                        "command again to continue")
            prog = _progress(run_dir)
        info[spec.name] = {"steps": prog[0], "train_minutes": round(prog[1] / 60, 2),
                           "budget_minutes": spec.budget * s.minutes, "group": spec.group}
    return info


def evaluate_all(s: ExperimentSettings, heldout: list[str], log=print) -> dict:
    """Every run's EMA model on the held-out files; the observation on subsampled clips."""
    from ..data import probe_video
    from ..eval.protocol import evaluate
    from ..train.rundir import load_tokenizer

    evals, models = {}, {}
    for spec in plan(s.ablations):
        tok, _ = load_tokenizer(os.path.join(s.out, "runs", spec.name))
        models[spec.name] = tok
        evals[spec.name] = evaluate(tok, heldout, s.eval_frames, s.eval_size,
                                    model_name=spec.name)
        log(f"experiment: {spec.name}: {evals[spec.name]['psnr']:.2f} dB held-out PSNR")
    obs = []
    F = s.observation_frames
    for stride in (2, 4):
        vids = [v for v in heldout if probe_video(v).frames >= 1 + (F - 1) * stride]
        if not vids:
            continue
        sub = evaluate(models["4x"], vids, F, s.eval_size, model_name="4x", stride=stride)
        direct = evaluate(models[f"direct{4 * stride}x"], vids, F, s.eval_size,
                          model_name=f"direct{4 * stride}x")
        obs.append({"stride": stride, "videos": vids, "frames": F,
                    "4x_on_subsampled_psnr": sub["psnr"],
                    f"direct{4 * stride}x_psnr": direct["psnr"],
                    "4x_on_subsampled": sub, "direct": direct})
    return {"evals": evals, "observation": obs}


def claim_lines(evals: dict, observation: list[dict]) -> list[str]:
    """The paper's claims as PSNR differences (positive: the claim holds at this budget)."""
    def psnr(name):
        return float(evals[name]["psnr"]) if name in evals else None

    out = ["| claim | comparison | PSNR difference dB | paper's aim |", "|---|---|---|---|"]
    pairs = [("growing beats direct training, 8x", "grown8x", "direct8x", ">= +1"),
             ("growing beats direct training, 16x", "grown16x", "direct16x", ">= +1.5"),
             ("growing beats direct extension, 8x", "grown8x", "ext8x", "> 0"),
             ("growing beats direct extension, 16x", "grown16x", "ext16x", "> 0")]
    pairs += [(f"ablation: the default stage vs {n[len('grown8x-'):]}", "grown8x", n, "-")
              for n in evals if n.startswith("grown8x-")]
    for claim, a, b, aim in pairs:
        if psnr(a) is not None and psnr(b) is not None:
            out.append(f"| {claim} | {a} - {b} | {psnr(a) - psnr(b):+.2f} | {aim} |")
    for o in observation:
        d = next(k for k in o if k.startswith("direct") and k.endswith("_psnr"))
        diff = float(o["4x_on_subsampled_psnr"]) - float(o[d])
        out.append(f"| 4x on {o['stride']}x-subsampled video beats {d[:-5]} | 4x(sub) - {d[:-5]} "
                   f"| {diff:+.2f} | > 0 |")
    return out


def write_report(s: ExperimentSettings, split, info: dict, results: dict, command: str) -> str:
    """``results.json``, ``results.md`` and plots under ``s.out``; returns the markdown."""
    from ..eval.plots import plot_comparison, plot_means, plot_psnr_per_frame

    evals = results["evals"]
    lines = [f"# ProMAG at small scale: {s.preset} preset, {s.minutes:g} min per stage", "",
             f"Command: `{command}`", "",
             f"Training data: {data_description(s)}.", "",
             f"Held-out evaluation: first {s.eval_frames} frames at {s.eval_size}x{s.eval_size} "
             "of the held-out part (last frames) of each video, never trained on:", ""]
    lines += [f"- {os.path.basename(v.heldout_file)} (from {v.source}: frames {v.train_frames}"
              f"..{v.frames - 1} of {v.frames})" for v in split]
    lines += ["", "| model | group | temporal | minutes | steps | PSNR dB | SSIM |",
              "|---|---|---|---|---|---|---|"]
    for name, e in evals.items():
        i = info[name]
        lines.append(f"| {name} | {i['group']} | {e['temporal_compression']}x | "
                     f"{i['train_minutes']:g} | {i['steps']} | {float(e['psnr']):.2f} | "
                     f"{e['ssim']:.4f} |")
    lines += ["", "Minutes: training time of the run itself; grown and extended models also "
              "build on the 4x model's budget (equal totals: 4x -> 8x -> 16x = M, 2M, 3M).", ""]
    for o in results["observation"]:
        d = next(k for k in o if k.startswith("direct") and k.endswith("_psnr"))
        lines.append(f"Observation, stride {o['stride']} ({o['frames']} frames, "
                     f"{len(o['videos'])} videos): 4x on {o['stride']}x-subsampled clips "
                     f"{float(o['4x_on_subsampled_psnr']):.2f} dB vs {d[:-5]} on full clips "
                     f"{float(o[d]):.2f} dB")
    lines += ["", *claim_lines(evals, results["observation"])]
    os.makedirs(os.path.join(s.out, "plots"), exist_ok=True)
    plot_comparison(list(evals.values()), os.path.join(s.out, "plots", "psnr_by_model.png"))
    plot_means(list(evals.values()), os.path.join(s.out, "plots", "psnr_mean.png"),
               [info[n]["group"] for n in evals])
    for name in ("4x", "grown8x", "grown16x", "direct8x", "direct16x"):
        if name in evals:
            plot_psnr_per_frame(evals[name], os.path.join(s.out, "plots", f"frames_{name}.png"))
    lines += ["", "![mean PSNR per model](plots/psnr_mean.png)", "",
              "![PSNR by model and video](plots/psnr_by_model.png)", ""]
    md = "\n".join(lines) + "\n"
    atomic_write_text(os.path.join(s.out, "results.md"), md)
    atomic_write_text(os.path.join(s.out, "results.json"), json.dumps(
        {"command": command, "settings": vars(s), "runs": info, **results}, indent=2) + "\n")
    return md


def split_data(s: ExperimentSettings):
    """The experiment's time split of ``s.data`` under ``s.out/data`` (reused when it exists):
    what ``bootvid experiment split`` writes, so the held-out figures can be re-measured."""
    from .split import prepare_split

    return prepare_split(s.data, os.path.join(s.out, "data"),
                         heldout_frames=max(s.eval_frames, 1 + (s.observation_frames - 1) * 2),
                         short_side=max(s.eval_size, s.size))


def run_experiment(s: ExperimentSettings, command: str = "", log=print) -> str:
    start = time.time()
    if s.stills and not os.path.exists(s.stills):
        raise FileNotFoundError(f"--stills: {s.stills!r} does not exist")
    split = split_data(s)
    data_dir = os.path.join(s.out, "data", "train")
    info = train_all(s, data_dir, log)
    results = evaluate_all(s, [v.heldout_file for v in split], log)
    md = write_report(s, split, info, results, command)
    log(f"experiment: done in {(time.time() - start) / 60:.1f} min; {s.out}/results.md")
    return md
