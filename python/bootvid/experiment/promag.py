"""``bootvid experiment promag``: ProMAG's claims, reproduced at small scale with bootvid's own
trainer and evaluation, at equal training compute.

Budgets are training FLOPs (:mod:`bootvid.train.flops`), converted to each arm's steps from its
own model's count per step, so a comparison means the same on any machine, under any load,
and on a GPU. With a base budget ``B`` and a stage budget ``S``:

=================  =====================================  ==========
arm                trains                                 total
=================  =====================================  ==========
4x                 B from scratch (or ``--base MODEL``)   B
grown8x            S: the growth stage on the frozen 4x   B + S
grown16x           S: a second stage on grown8x           B + 2S
direct8x           B + S from scratch                     B + S
direct16x          B + 2S from scratch                    B + 2S
ext8x              S from the 4x weights, all trainable   B + S
ext16x             2S from the 4x weights                 B + 2S
grown8x-none       S, no subsampled branch (ablation)     B + S
grown8x-lr1e-4     S at the paper's stage lr (``all``)    B + S
grown8x-seed1 ...  the 8x arms again with other seeds     B + S
=================  =====================================  ==========

Each arm is trained, evaluated (``bootvid eval``'s protocol on held-out frames, with a curve of
held-out PSNR at doublings of its compute) and written as ``OUT/arms/NAME.json``; the report
(``results.md``, ``results.json``, plots) is assembled from those files, its own and those of
other directories (``--include``), so arms can run on different days or machines (``--arms``).
The observation compares the 4x model on 2x / 4x subsampled clips with the direct 8x / 16x
models on full-rate clips. An interrupted arm continues from its last checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

from ..fileio import atomic_write_text
from ..growth import DEFAULT_MIXING, MIXING_MODES

#: Named stage budgets (training FLOPs). The fast preset's 4x step (4 items of 17x64x64, a
#: quarter of them single frames) is ~85 GFLOP: "small" is ~600 such steps.
NAMED_BUDGETS = {"smoke": 1e10, "small": 5e13, "medium": 2.5e14, "large": 1e15}
ARMS_DIR = "arms"


def parse_budget(text: str | float) -> float:
    """A budget in FLOPs: a number (``3e14``) or a name in :data:`NAMED_BUDGETS`."""
    if isinstance(text, str) and text in NAMED_BUDGETS:
        return NAMED_BUDGETS[text]
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        names = ", ".join(f"{k} ({v:.0e})" for k, v in NAMED_BUDGETS.items())
        raise ValueError(f"budget: give training FLOPs (e.g. 2.5e14) or a name: {names}; got "
                         f"{text!r}")
    return value


@dataclass(frozen=True)
class RunSpec:
    name: str
    group: str
    stages: float = 0.0  # own budget: this many stage budgets S ...
    bases: float = 0.0  # ... plus this many base budgets B
    temporal_compression: int = 4
    grow_from: str | None = None
    init_from: str | None = None
    mixing: str | None = None
    norm_center: bool | None = None
    lr: float | None = None  # peak learning rate (None: the preset's)
    train_lower: bool = False  # a grown arm whose lower model trains too (not frozen)
    seed: int = 0  # added to the experiment's seed

    def own_flops(self, base: float, stage: float) -> float:
        return self.bases * base + self.stages * stage


ABLATIONS = ("none", "default", "all")
PAPER_STAGE_LR = 1e-4


def plan(ablations: str = "default", seeds: int = 2) -> list[RunSpec]:
    """The arms, parents first. ``ablations``: ``none``, ``default`` (the growth stage without
    its subsampled branch) or ``all`` (every mixing variant, the custom RMS norm, the
    stage at the paper's learning rate and the stage with the base unfrozen);
    ``seeds``: how many seeds the grown and direct 8x arms get."""
    if ablations is True or ablations is False:  # the former boolean setting
        ablations = "all" if ablations else "none"
    if ablations not in ABLATIONS:
        raise ValueError(f"ablations: one of {', '.join(ABLATIONS)}, got {ablations!r}")
    runs = [
        RunSpec("4x", "promag", bases=1),
        RunSpec("grown8x", "promag", stages=1, temporal_compression=8, grow_from="4x"),
        RunSpec("grown16x", "promag", stages=1, temporal_compression=16, grow_from="grown8x"),
        RunSpec("direct8x", "direct", bases=1, stages=1, temporal_compression=8),
        RunSpec("direct16x", "direct", bases=1, stages=2, temporal_compression=16),
        RunSpec("ext8x", "extension", stages=1, temporal_compression=8, init_from="4x"),
        RunSpec("ext16x", "extension", stages=2, temporal_compression=16, init_from="4x"),
    ]
    if ablations != "none":
        modes = [m for m in MIXING_MODES if m != DEFAULT_MIXING]
        runs += [RunSpec(f"grown8x-{m}", "ablation", stages=1, temporal_compression=8,
                         grow_from="4x", mixing=m)
                 for m in (modes if ablations == "all" else ["none"])]
        if ablations == "all":
            runs.append(RunSpec("grown8x-rmsnorm", "ablation", stages=1, temporal_compression=8,
                                grow_from="4x", norm_center=False))
            # the paper's stage learning rate (our presets' is higher, tuned for the 4x model)
            runs.append(RunSpec("grown8x-lr1e-4", "ablation", stages=1,
                                temporal_compression=8, grow_from="4x", lr=PAPER_STAGE_LR))
            # the stage with the base unfrozen: growth's architecture, extension's training
            runs.append(RunSpec("grown8x-unfrozen", "ablation", stages=1,
                                temporal_compression=8, grow_from="4x", train_lower=True))
    for k in range(1, seeds):
        runs += [RunSpec(f"grown8x-seed{k}", "seed", stages=1, temporal_compression=8,
                         grow_from="4x", seed=k),
                 RunSpec(f"direct8x-seed{k}", "seed", bases=1, stages=1, temporal_compression=8,
                         seed=k)]
    return runs


@dataclass
class ExperimentSettings:
    data: str
    out: str
    preset: str = "tiny"
    #: S, the stage budget in training FLOPs.
    budget: float = NAMED_BUDGETS["small"]
    #: B, the 4x model's budget (None: S); ignored with ``base``.
    base_budget: float | None = None
    #: A 4x model trained elsewhere (a run or model directory with a training record) used as
    #: the 4x arm; B is its cumulative training FLOPs.
    base: str | None = None
    size: int = 64
    frames: int = 17
    batch_size: int | None = None  # None: the preset's
    eval_frames: int = 33
    eval_size: int = 128
    observation_frames: int = 17
    seed: int = 0
    ablations: str = "default"
    seeds: int = 2
    #: Train and evaluate only these arms (None: all); their parents must exist.
    arms: list[str] | None = None
    #: Other directories of arm results (``arms/*.json``) the report includes.
    include: list[str] = field(default_factory=list)
    curve_points: int = 6
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


def _specs(s: ExperimentSettings) -> dict[str, RunSpec]:
    return {r.name: r for r in plan(s.ablations, s.seeds)}


def _run_dir(s: ExperimentSettings, name: str) -> str:
    if name == "4x" and s.base:
        return s.base
    return os.path.join(s.out, "runs", name)


def _config(s: ExperimentSettings, spec: RunSpec, data_dir: str, steps: int = 1):
    from ..train import TrainConfig

    data = ({"data.sources": [{"kind": "videos", "path": data_dir, "weight": 1.0},
                              {"kind": "stills", "path": s.stills, "weight": 1.0}],
             "data.path": None} if s.stills else {"data.path": data_dir})
    over = {**data, "data.image_ratio": s.image_ratio, "data.size": s.size,
            "data.frames": s.frames, "run.max_minutes": None, "run.max_steps": int(steps),
            "run.seed": s.seed + spec.seed, "model.temporal_compression": spec.temporal_compression,
            "run.checkpoint_every": max(1, min(500, int(steps) // 8 or 1))}
    if s.batch_size:
        over["run.batch_size"] = s.batch_size
    if s.model_overrides:
        over["model.overrides"] = dict(s.model_overrides)
    # Every arm L1 + KL (the paper's growth stages; the FLOP count covers the tokenizer only,
    # so no arm may spend uncounted compute on a discriminator or LPIPS).
    over["loss.gan"] = 0.0
    over["loss.perceptual"] = 0.0
    if spec.grow_from:
        over["grow.mixing"] = spec.mixing or DEFAULT_MIXING
        over["grow.norm_center"] = spec.norm_center
        over["grow.train_lower"] = spec.train_lower
    if spec.init_from:
        over["model.init_from"] = _run_dir(s, spec.init_from)
    if spec.lr:
        over["optim.lr"] = spec.lr
    return TrainConfig.for_preset(s.preset).merged(over)


def _architecture(s: ExperimentSettings, spec: RunSpec, specs: dict[str, RunSpec]):
    """The arm's model with untrained weights (for its FLOP count)."""
    from ..growth import grow
    from ..tokenizer import VideoTokenizer

    if spec.grow_from:
        cfg = _config(s, spec, "(plan)")
        tok = grow(_architecture(s, specs[spec.grow_from], specs), cfg.grow.factor,
                   cfg.grow.mixing, cfg.grow.norm_center)
        return tok.requires_grad_(True) if spec.train_lower else tok
    planned = VideoTokenizer(_config(s, spec, "(plan)").tokenizer_config())
    if spec.name == "4x" and s.base:
        from ..train.rundir import tokenizer_architecture

        given = tokenizer_architecture(s.base)
        if given.config.to_dict() != planned.config.to_dict():
            raise ValueError(f"--base {s.base}: a {given.temporal_compression}x model that is not "
                             f"the 4x {s.preset} preset with these settings (--preset, "
                             "--size); the other arms would be planned and initialised for "
                             "another model")
        return given
    return planned


def step_flops(s: ExperimentSettings, spec: RunSpec, specs: dict[str, RunSpec],
               cache: dict | None = None) -> float:
    """Expected training FLOPs of one of the arm's steps: its batch at the settings' share of
    single-frame items. ``cache``: item counts by architecture, shared between arms."""
    from ..train.flops import FlopCounter

    cfg = _config(s, spec, "(plan)")
    tok = _architecture(s, spec, specs)
    # (what trains changes the count: a frozen lower model has no weight gradients)
    key = (tok.config.to_json(), sum(p.numel() for p in tok.parameters() if p.requires_grad))
    cache = {} if cache is None else cache
    if key not in cache:
        counter = FlopCounter(tok, s.size)
        cache[key] = ((1 - s.image_ratio) * counter.item(s.frames)
                      + s.image_ratio * counter.item(1))
    return cfg.run.batch_size * cfg.optim.grad_accum * cache[key]


def base_flops(s: ExperimentSettings) -> float:
    """B: the base budget, or the cumulative training FLOPs of the given base model."""
    if not s.base:
        return s.base_budget or s.budget
    from ..train.card import read_card
    from ..train.rundir import resolve_model_dir

    directory, _ = resolve_model_dir(s.base)
    card = read_card(directory)
    if not card or not card.get("cumulative", {}).get("train_flops"):
        raise ValueError(f"--base {s.base}: its model ({directory}) has no training record "
                         "with FLOPs (training.json, written by bootvid train); train or "
                         "continue it with this version of bootvid")
    return float(card["cumulative"]["train_flops"])


def base_digest(s: ExperimentSettings) -> str | None:
    """SHA-256 of the given base model's weight files: which base an arm record was made
    from, wherever that model has been moved or copied (``--base`` paths differ between
    machines and sessions)."""
    if not s.base:
        return None
    import glob
    import hashlib

    from ..train.rundir import resolve_model_dir

    h = hashlib.sha256()
    for f in sorted(glob.glob(os.path.join(resolve_model_dir(s.base)[0], "*.safetensors"))):
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def make_plan(s: ExperimentSettings) -> list[dict]:
    """Every arm's budget, steps and total compute, parents first (what is printed before
    anything trains)."""
    specs = _specs(s)
    unknown = sorted(set(s.arms or ()) - set(specs))
    if unknown:
        raise ValueError(f"--arms: unknown arm(s) {', '.join(unknown)}; the plan has "
                         f"{', '.join(specs)}")
    base, stage = base_flops(s), s.budget
    rows, cache = [], {}
    for spec in specs.values():
        own = spec.own_flops(base, stage)
        total = own
        parent = spec.grow_from or spec.init_from
        while parent:  # what the arm builds on counts towards its total
            p = specs[parent]
            total += p.own_flops(base, stage)
            parent = p.grow_from or p.init_from
        external = spec.name == "4x" and bool(s.base)
        per_step = step_flops(s, spec, specs, cache)
        rows.append({"name": spec.name, "group": spec.group, "spec": asdict(spec),
                     "own_flops": own, "total_flops": total, "step_flops": per_step,
                     "steps": 0 if external else max(1, round(own / per_step)),
                     "external": external,
                     "selected": s.arms is None or spec.name in s.arms})
    return rows


def format_plan(rows: list[dict], s: ExperimentSettings) -> str:
    from ..train.flops import format_flops

    w = max([18, *(len(r["name"]) for r in rows)])
    lines = [f"experiment plan: stage budget S = {format_flops(s.budget)}, base B = "
             f"{format_flops(base_flops(s))}" + (f" (the model {s.base})" if s.base else ""),
             f"  {'arm':<{w}} {'from':<10} {'own':>13} {'total':>13} {'steps':>7}  per step"]
    for r in rows:
        spec = r["spec"]
        src = spec["grow_from"] or spec["init_from"] or "scratch"
        steps = "given" if r["external"] else str(r["steps"])
        mark = "" if r["selected"] else "  (not in --arms)"
        lines.append(f"  {r['name']:<{w}} {src:<10} {format_flops(r['own_flops']):>13} "
                     f"{format_flops(r['total_flops']):>13} {steps:>7}  "
                     f"{format_flops(r['step_flops'])}{mark}")
    return "\n".join(lines)


def _progress(run_dir: str) -> int | None:
    """The step of a run's newest checkpoint (from its file name), None without one."""
    from ..train.checkpoint import list_checkpoints

    found = list_checkpoints(run_dir)
    return found[-1][0] if found else None


def train_arm(s: ExperimentSettings, row: dict, data_dir: str, heldout: list[str],
              log=print, parent_steps: int = 0) -> None:
    """Train one arm to its steps (continuing an interrupted run), recording its curve. An
    interrupt (Ctrl-C, SIGTERM) stops the experiment after the run's checkpoint."""
    from ..train import Trainer
    from ..train.rundir import EMA_DIR
    from .curves import CurveHook, doubling_steps

    spec = RunSpec(**row["spec"])
    run_dir = _run_dir(s, spec.name)
    prog = _progress(run_dir)
    resume = prog is not None
    if prog is not None and prog >= row["steps"] and os.path.isdir(
            os.path.join(run_dir, EMA_DIR)):
        return
    parent = spec.grow_from or spec.init_from
    if parent and not os.path.exists(_run_dir(s, parent)):
        raise FileNotFoundError(f"arm {spec.name} builds on {parent}, which has not been trained "
                                f"({_run_dir(s, parent)} does not exist): run --arms {parent} "
                                "first")
    if parent and not (parent == "4x" and s.base) and not resume and \
            (_progress(_run_dir(s, parent)) or 0) < parent_steps:
        raise RuntimeError(f"arm {spec.name} builds on {parent}, which has not finished its "
                           f"{parent_steps} steps: run --arms {parent} until it has")
    log(f"experiment: {'resuming' if resume else 'training'} {spec.name} ({row['steps']} steps)")
    hook = CurveHook(doubling_steps(row["steps"], s.curve_points), heldout, s.eval_frames,
                     s.eval_size, log)
    grow_from = _run_dir(s, spec.grow_from) if spec.grow_from and not resume else None
    result = Trainer(_config(s, spec, data_dir, row["steps"]), run_dir, grow_from=grow_from,
                     resume=resume, hooks=[hook]).run()
    if result.stopped == "interrupted":
        raise KeyboardInterrupt(f"experiment interrupted during {spec.name} (step "
                                f"{result.step}, checkpoint written); run the same command "
                                "again to continue")


def evaluate_arm(s: ExperimentSettings, row: dict, heldout: list[str], log=print) -> dict:
    """The arm's record (``arms/NAME.json``): plan, compute spent (own and cumulative, from the
    model's training record), held-out evaluation, curve, and the observation's evaluations."""
    from ..data import probe_video
    from ..eval.protocol import evaluate
    from ..train.card import read_card
    from ..train.rundir import load_tokenizer, resolve_model_dir
    from .curves import checkpoint_curve, read_curve

    name = row["name"]
    run_dir = _run_dir(s, name)
    tok, what = load_tokenizer(run_dir)
    card = read_card(resolve_model_dir(run_dir)[0]) or {}
    ev = evaluate(tok, heldout, s.eval_frames, s.eval_size, model_name=name, cuts="auto")
    log(f"experiment: {name}: {float(ev['psnr']):.2f} dB held-out PSNR")
    before = (card.get("cumulative", {}).get("train_flops", 0.0) - card.get("train_flops", 0.0))
    if row["external"]:
        curve = checkpoint_curve(run_dir, heldout, s.eval_frames, s.eval_size, s.curve_points,
                                 log) if os.path.isdir(os.path.join(run_dir, "checkpoints")) \
            else []
    else:
        curve = read_curve(run_dir)
        steps = card.get("steps")
        if steps and (not curve or curve[-1]["step"] != steps):  # (a kill during its eval)
            curve.append({"step": steps, "train_flops": card.get("train_flops"),
                          "train_seconds": card.get("train_seconds"), "psnr": ev["psnr"],
                          "ssim": ev["ssim"]})
    for p in curve:
        if p.get("train_flops") is not None:
            p["total_flops"] = before + p["train_flops"]
    obs = []
    F = s.observation_frames
    stride = {"4x": (2, 4), "direct8x": (2,), "direct16x": (4,)}.get(name, ())
    for k in stride:
        vids = [v for v in heldout if probe_video(v).frames >= 1 + (F - 1) * k]
        if vids:
            sub = name == "4x"
            obs.append({"stride": k, "videos": vids, "frames": F, "subsampled": sub,
                        "eval": evaluate(tok, vids, F, s.eval_size, model_name=name,
                                         stride=k if sub else 1)})
    return {"name": name, "group": row["group"], "spec": row["spec"], "model": what,
            "planned": {k: row[k] for k in ("own_flops", "total_flops", "step_flops", "steps")},
            "trained": {k: card.get(k) for k in ("steps", "train_seconds", "train_flops")},
            "cumulative": card.get("cumulative"), "data": data_description(s),
            "settings": {k: v for k, v in vars(s).items() if k not in ("arms", "include")},
            "base_digest": base_digest(s), "eval": ev, "curve": curve, "observation": obs}


def load_arms(directories: list[str]) -> dict[str, dict]:
    """Arm records from ``DIR/arms/*.json`` (or ``DIR/*.json``); a later directory's record of
    an arm replaces an earlier one's."""
    arms = {}
    for d in directories:
        sub = os.path.join(d, ARMS_DIR)
        d = sub if os.path.isdir(sub) else d
        if not os.path.isdir(d):
            raise FileNotFoundError(f"no arm results in {d}")
        for name in sorted(os.listdir(d)):
            if name.endswith(".json"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    rec = json.load(f)
                if isinstance(rec, dict) and "eval" in rec and "name" in rec:
                    arms[rec["name"]] = rec
    return arms


#: Settings that must agree for arm records to be compared in one report.
_COMPARABLE = ("preset", "budget", "base_budget", "base", "size", "frames", "batch_size",
               "eval_frames", "eval_size", "stills", "image_ratio", "data")


def _check_comparable(arms: dict[str, dict], log=print) -> None:
    """Refuse arm records made with settings that make their comparison meaningless. The base
    counts by its weights where both records know them (a moved base is the same base; a
    retrained or re-exported one at the same path is not), else by its path."""
    seen = []
    for name, a in arms.items():
        st = {k: a["settings"].get(k) for k in _COMPARABLE}
        digest = a.get("base_digest")
        for other, ost, odigest in seen:
            by_weights = bool(digest and odigest)
            diff = [k for k in _COMPARABLE
                    if st[k] != ost[k] and not (k == "base" and by_weights)]
            if by_weights and digest != odigest:
                diff.append("base (its weights)")
            if diff:
                raise ValueError(f"arm records disagree: {name} and {other} were made with "
                                 f"different {', '.join(diff)}; report them separately")
        seen.append((name, st, digest))


def claim_lines(arms: dict[str, dict]) -> list[str]:
    """The paper's claims as PSNR differences (positive: the claim holds at this budget)."""
    def psnr(name):
        return float(arms[name]["eval"]["psnr"]) if name in arms else None

    out = ["| claim | comparison | PSNR difference dB | paper's aim |", "|---|---|---|---|"]
    pairs = [("growing beats direct training, 8x", "grown8x", "direct8x", ">= +1"),
             ("growing beats direct training, 16x", "grown16x", "direct16x", ">= +1.5"),
             ("growing beats direct extension, 8x", "grown8x", "ext8x", "> 0"),
             ("growing beats direct extension, 16x", "grown16x", "ext16x", "> 0")]
    pairs += [(f"growing beats direct training, 8x, seed {n[len('grown8x-seed'):]}", n,
               f"direct8x-seed{n[len('grown8x-seed'):]}", ">= +1")
              for n in arms if n.startswith("grown8x-seed")]
    pairs += [(f"ablation: the default stage vs {n[len('grown8x-'):]}", "grown8x", n, "-")
              for n in arms if n.startswith("grown8x-") and not n.startswith("grown8x-seed")]
    for claim, a, b, aim in pairs:
        if psnr(a) is not None and psnr(b) is not None:
            out.append(f"| {claim} | {a} - {b} | {psnr(a) - psnr(b):+.2f} | {aim} |")
    if "4x" in arms:
        for o in arms["4x"].get("observation", []):
            d = f"direct{4 * o['stride']}x"
            other = next((x for x in arms.get(d, {}).get("observation", [])
                          if x["stride"] == o["stride"]), None)
            if other:
                diff = float(o["eval"]["psnr"]) - float(other["eval"]["psnr"])
                out.append(f"| 4x on {o['stride']}x-subsampled video beats {d} | 4x(sub) - {d} "
                           f"| {diff:+.2f} | > 0 |")
    return out


def write_report(out: str, arms: dict[str, dict], command: str, heldout: list[dict]) -> str:
    """``results.json``, ``results.md`` and plots under ``out`` from arm records; returns the
    markdown."""
    from ..eval.plots import plot_comparison, plot_curves, plot_means
    from ..train.flops import format_flops

    if not arms:
        raise ValueError("no arm results to report")
    first = next(iter(arms.values()))
    st = first["settings"]
    lines = [f"# ProMAG at small scale: {st['preset']} preset, equal training compute", "",
             f"Command: `{command}`", "",
             f"Training data: {first['data']}.", "",
             f"Held-out evaluation: first {st['eval_frames']} frames at "
             f"{st['eval_size']}x{st['eval_size']} of the held-out part (last frames) of each "
             "video, never trained on:", ""]
    lines += [f"- {os.path.basename(v['heldout_file'])} (from {v['source']}: frames "
              f"{v['train_frames']}..{v['frames'] - 1} of {v['frames']})" for v in heldout]
    lines += ["", "| arm | group | temporal | own compute | total compute | steps | minutes | "
              "PSNR dB | SSIM |", "|---|---|---|---|---|---|---|---|---|"]
    for name, a in arms.items():
        t, c = a["trained"], a.get("cumulative") or {}
        minutes = f"{t['train_seconds'] / 60:.1f}" if t.get("train_seconds") is not None else "-"
        own = format_flops(t["train_flops"]) if t.get("train_flops") else "-"
        total = format_flops(c["train_flops"]) if c.get("train_flops") else "-"
        lines.append(f"| {name} | {a['group']} | {a['eval']['temporal_compression']}x | {own} | "
                     f"{total} | {t.get('steps', '-')} | {minutes} | "
                     f"{float(a['eval']['psnr']):.2f} | {a['eval']['ssim']:.4f} |")
    lines += ["", "Compute: training FLOPs (model forward + backward, counted per item; see "
              "bootvid.train.flops). Own: the arm's training; total: with the models it builds "
              "on. Minutes: this machine's training time, for reference only.", ""]
    lines += [*claim_lines(arms), ""]
    plots = os.path.join(out, "plots")
    os.makedirs(plots, exist_ok=True)
    evals = [a["eval"] for a in arms.values()]
    plot_comparison(evals, os.path.join(plots, "psnr_by_model.png"))
    plot_means(evals, os.path.join(plots, "psnr_mean.png"), [a["group"] for a in arms.values()])
    curves = {n: a["curve"] for n, a in arms.items() if a.get("curve")}
    if curves:
        plot_curves(curves, os.path.join(plots, "curves.png"))
        lines += ["![held-out PSNR against total training compute](plots/curves.png)", ""]
    lines += ["![mean PSNR per model](plots/psnr_mean.png)", "",
              "![PSNR by model and video](plots/psnr_by_model.png)", ""]
    md = "\n".join(lines) + "\n"
    atomic_write_text(os.path.join(out, "results.md"), md)
    atomic_write_text(os.path.join(out, "results.json"), json.dumps(
        {"command": command, "arms": arms}, indent=2) + "\n")
    return md


def split_data(s: ExperimentSettings):
    """The experiment's time split of ``s.data`` under ``s.out/data`` (reused when it exists):
    what ``bootvid experiment split`` writes, so the held-out figures can be re-measured."""
    from .split import prepare_split

    return prepare_split(s.data, os.path.join(s.out, "data"),
                         heldout_frames=max(s.eval_frames, 1 + (s.observation_frames - 1) * 2),
                         short_side=max(s.eval_size, s.size))


def run_experiment(s: ExperimentSettings, command: str = "", log=print,
                   dry_run: bool = False) -> str:
    """Print the plan, train and evaluate the selected arms (``OUT/arms/NAME.json``), and write
    the report from every arm record found; returns the report's markdown (the plan alone with
    ``dry_run``)."""
    start = time.time()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError("bootvid experiment runs in one process (its budgets are planned "
                           "per process); train on several GPUs with bootvid train and pass "
                           "the model with --base")
    if s.stills and not os.path.exists(s.stills):
        raise FileNotFoundError(f"--stills: {s.stills!r} does not exist")
    rows = make_plan(s)
    text = format_plan(rows, s)
    log(text)
    if dry_run:
        return text
    split = split_data(s)
    data_dir = os.path.join(s.out, "data", "train")
    heldout = [v.heldout_file for v in split]
    arms_dir = os.path.join(s.out, ARMS_DIR)
    os.makedirs(arms_dir, exist_ok=True)
    for row in rows:
        if not row["selected"]:
            continue
        if not row["external"]:
            parent = row["spec"]["grow_from"] or row["spec"]["init_from"]
            train_arm(s, row, data_dir, heldout, log, parent_steps=next(
                (r["steps"] for r in rows if r["name"] == parent), 0))
        rec = evaluate_arm(s, row, heldout, log)
        atomic_write_text(os.path.join(arms_dir, f"{row['name']}.json"),
                          json.dumps(rec, indent=1) + "\n")
    arms = load_arms([*s.include, s.out])
    _check_comparable(arms, log)
    order = [r["name"] for r in rows]
    arms = {n: arms[n] for n in sorted(arms, key=lambda n: order.index(n) if n in order
                                       else len(order))}
    md = write_report(s.out, arms, command, [asdict(v) for v in split])
    log(f"experiment: done in {(time.time() - start) / 60:.1f} min; {s.out}/results.md")
    return md
