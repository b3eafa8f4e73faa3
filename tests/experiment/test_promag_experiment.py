"""``bootvid experiment promag`` end to end at a toy budget (one step per run)."""

from __future__ import annotations

import json
import os

import pytest
import torch

pytest.importorskip("av")
pytest.importorskip("matplotlib")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _videos(root, n=3, T=100, H=40, W=56):
    from bootvid.data import write_video

    root.mkdir()
    for i in range(n):
        t = torch.arange(T).view(T, 1, 1, 1).float()
        x = torch.linspace(0, 6, W).view(1, 1, W, 1)
        y = torch.linspace(0, 4, H).view(1, H, 1, 1)
        c = torch.tensor([0.0, 2.0, 4.0]).view(1, 1, 1, 3) + i
        v = (127 + 100 * torch.sin(x + y + 0.2 * t + c)).round().byte()
        write_video(root / f"clip{i}.mp4", v, 24)
    return str(root)


def test_split_keeps_training_and_heldout_frames_apart(tmp_path):
    from bootvid.data import probe_video, read_frames
    from bootvid.experiment import prepare_split

    data = _videos(tmp_path / "videos", n=1, T=60)
    split = prepare_split(data, str(tmp_path / "split"), heldout_frames=9, short_side=32)
    (v,) = split
    assert (v.frames, v.train_frames, v.heldout_frames) == (60, 48, 12)
    assert probe_video(v.train_file).frames == 48 and probe_video(v.heldout_file).frames == 12
    assert min(probe_video(v.train_file).height, probe_video(v.train_file).width) == 32
    # the held-out file starts where training stops: its first frame is source frame 48
    src = read_frames(os.path.join(data, "clip0.mp4"), 47, 2).float()
    held0 = read_frames(v.heldout_file, 0, 1).float()
    train_last = read_frames(v.train_file, 47, 1).float()
    small = torch.nn.functional.interpolate(src.permute(0, 3, 1, 2), size=held0.shape[1:3],
                                            mode="bilinear", antialias=True)
    small = small.permute(0, 2, 3, 1)
    assert (held0[0] - small[1]).abs().mean() < (held0[0] - small[0]).abs().mean()
    assert (train_last[0] - small[0]).abs().mean() < (train_last[0] - small[1]).abs().mean()
    # reused, not rewritten
    assert prepare_split(data, str(tmp_path / "split"), heldout_frames=9) == split


TINY = {"base_channels": 16, "norm_groups": 4}


def _settings(tmp_path, **kw):
    from bootvid.experiment import ExperimentSettings

    videos = tmp_path / "videos"
    data = str(videos) if videos.exists() else _videos(videos)
    base = dict(data=data, out=str(tmp_path / "exp"), budget=1.0,
                size=16, eval_frames=9, eval_size=32, observation_frames=5, curve_points=2,
                model_overrides=TINY)
    return ExperimentSettings(**{**base, **kw})


def test_budgets_are_flops_converted_to_each_arms_steps(tmp_path):
    from bootvid.experiment import ExperimentSettings
    from bootvid.experiment.promag import format_plan, make_plan, parse_budget

    s = ExperimentSettings(data="v", out=str(tmp_path), budget=2e11, base_budget=6e11,
                           size=16, frames=17, model_overrides=TINY, image_ratio=0.25)
    rows = {r["name"]: r for r in make_plan(s)}
    assert list(rows) == ["4x", "grown8x", "grown16x", "direct8x", "direct16x", "ext8x",
                          "ext16x", "grown8x-none", "grown8x-seed1", "direct8x-seed1"]
    own = {"4x": 6e11, "grown8x": 2e11, "grown16x": 2e11, "direct8x": 8e11, "direct16x": 1e12,
           "ext8x": 2e11, "ext16x": 4e11, "grown8x-none": 2e11}
    total = {"4x": 6e11, "grown8x": 8e11, "grown16x": 1e12, "direct8x": 8e11,
             "direct16x": 1e12, "ext8x": 8e11, "ext16x": 1e12}
    for name, r in rows.items():
        if name in own:
            assert r["own_flops"] == pytest.approx(own[name])
        if name in total:
            assert r["total_flops"] == pytest.approx(total[name])
        # steps x the arm's own FLOPs per step = its budget (to within one step)
        assert abs(r["steps"] * r["step_flops"] - r["own_flops"]) <= r["step_flops"] / 2 + 1
    # each arm's model is counted: the growth stage's step differs from the 4x step, and
    # the ablation without the subsampled branch costs less than the default stage
    assert rows["grown8x"]["step_flops"] != rows["4x"]["step_flops"]
    assert rows["grown8x-none"]["step_flops"] < rows["grown8x"]["step_flops"]
    text = format_plan(list(rows.values()), s)
    assert "stage budget S = 200.00 GFLOP" in text and "direct16x" in text
    # columns line up under long arm names too (where each row's "from" starts)
    wide = format_plan(make_plan(ExperimentSettings(
        data="v", out="o", ablations="all", model_overrides=TINY, size=16)), s).splitlines()[2:]
    assert len({len(ln) - len(ln[2:].split(" ", 1)[1].lstrip()) for ln in wide}) == 1, wide
    assert parse_budget("small") == 5e13 and parse_budget("3e14") == 3e14
    for bad in ("lots", "-1", "0", "nan"):
        with pytest.raises(ValueError, match="budget: give training FLOPs"):
            parse_budget(bad)
    with pytest.raises(ValueError, match="unknown arm"):
        make_plan(ExperimentSettings(data="v", out="o", arms=["grown32x"], model_overrides=TINY,
                                     size=16))


def test_experiment_runs_every_arm_and_writes_the_report(tmp_path):
    from bootvid.experiment import plan, run_experiment

    s = _settings(tmp_path)
    logged = []
    md = run_experiment(s, command="test", log=logged.append)
    assert logged[0].startswith("experiment plan")  # the plan first, before any training
    res = json.loads((tmp_path / "exp" / "results.json").read_text())
    names = [r.name for r in plan()]
    assert list(res["arms"]) == names and len(names) == 10
    assert sorted(os.listdir(tmp_path / "exp" / "arms")) == sorted(f"{n}.json" for n in names)
    tc = {n: res["arms"][n]["eval"]["temporal_compression"] for n in names}
    assert (tc["4x"], tc["grown8x"], tc["grown16x"], tc["direct16x"], tc["ext8x"]) == \
        (4, 8, 16, 16, 8)
    for n in names:
        a = res["arms"][n]
        assert a["trained"]["steps"] == 1 and a["trained"]["train_flops"] > 0
        assert a["curve"] and a["curve"][-1]["step"] == 1
        assert f"| {n} |" in md
    # totals count what an arm builds on: grown16x = 4x + grown8x + its own stage
    cum = {n: res["arms"][n]["cumulative"]["train_flops"] for n in names}
    own = {n: res["arms"][n]["trained"]["train_flops"] for n in names}
    assert cum["grown16x"] == pytest.approx(own["4x"] + own["grown8x"] + own["grown16x"])
    assert cum["ext8x"] == pytest.approx(own["4x"] + own["ext8x"])
    assert res["arms"]["grown16x"]["curve"][-1]["total_flops"] == pytest.approx(cum["grown16x"])
    # The claims table: one row per comparison, differences computed from the evals.
    e = {n: float(res["arms"][n]["eval"]["psnr"]) for n in names}
    lines = md.splitlines()
    row = next(l for l in lines if l.startswith("| growing beats direct training, 8x |"))
    assert f"{e['grown8x'] - e['direct8x']:+.2f}" in row
    row = next(l for l in lines if l.startswith("| growing beats direct training, 8x, seed 1"))
    assert f"{e['grown8x-seed1'] - e['direct8x-seed1']:+.2f}" in row
    assert sum(l.startswith("| ablation: the default stage vs ") for l in lines) == 1
    assert any(l.startswith("| 4x on 2x-subsampled video beats direct8x") for l in lines)
    for plot in ("psnr_by_model", "psnr_mean", "curves"):
        assert (tmp_path / "exp" / "plots" / f"{plot}.png").stat().st_size > 1000
    # a second call resumes: nothing is trained again
    before = {n: os.listdir(tmp_path / "exp" / "runs" / n / "checkpoints") for n in names}
    run_experiment(s, command="test", log=lambda m: None)
    assert before == {n: os.listdir(tmp_path / "exp" / "runs" / n / "checkpoints")
                      for n in names}


def test_arms_run_separately_and_the_report_assembles_them(tmp_path):
    from bootvid.experiment import run_experiment

    first = _settings(tmp_path, ablations="none", seeds=1, arms=["4x", "grown8x"])
    run_experiment(first, command="part 1", log=lambda m: None)
    assert sorted(os.listdir(tmp_path / "exp" / "arms")) == ["4x.json", "grown8x.json"]
    # an arm whose parent is missing: a clear error
    with pytest.raises(FileNotFoundError, match="builds on grown8x.*--arms grown8x"):
        run_experiment(_settings(tmp_path, out=str(tmp_path / "other"), ablations="none",
                                 seeds=1, arms=["grown16x"]), log=lambda m: None)
    # another directory, another day: direct8x alone, reported with the first run's arms
    second = _settings(tmp_path, out=str(tmp_path / "exp2"), ablations="none", seeds=1,
                       arms=["direct8x"], include=[str(tmp_path / "exp")])
    md = run_experiment(second, command="part 2", log=lambda m: None)
    res = json.loads((tmp_path / "exp2" / "results.json").read_text())
    assert list(res["arms"]) == ["4x", "grown8x", "direct8x"]
    assert "| growing beats direct training, 8x |" in md
    assert not (tmp_path / "exp2" / "runs" / "4x").exists()
    # the report alone, from both directories' records: nothing trains or evaluates
    from bootvid.cli.main import main

    cli = ["experiment", "promag", "--data", first.data, "--out", str(tmp_path / "report"),
           "--budget", "1", "--size", "16", "--eval-frames", "9", "--eval-size", "32",
           "--include", str(tmp_path / "exp"), str(tmp_path / "exp2")]
    assert main([*cli, "--report-only"]) == 0
    res = json.loads((tmp_path / "report" / "results.json").read_text())
    assert list(res["arms"]) == ["4x", "grown8x", "direct8x"]
    assert not (tmp_path / "report" / "runs").exists()
    assert not os.listdir(tmp_path / "report" / "arms")
    assert main([*cli, "--report-only", "--arms", "direct8x"]) == 2
    # records made with other settings are not compared
    other = _settings(tmp_path, out=str(tmp_path / "exp3"), ablations="none", seeds=1,
                      arms=["direct8x"], include=[str(tmp_path / "exp")], budget=2.0)
    with pytest.raises(ValueError, match="arm records disagree.*budget"):
        run_experiment(other, command="part 3", log=lambda m: None)


def test_a_trained_base_is_the_4x_arm_and_its_record_sets_B(tmp_path):
    from bootvid.experiment import run_experiment
    from bootvid.experiment.promag import base_digest, base_flops, make_plan
    from bootvid.tokenizer import VideoTokenizer
    from bootvid.train import Trainer
    from bootvid.train.card import read_card

    s0 = _settings(tmp_path, arms=["4x"], ablations="none", seeds=1)
    from bootvid.experiment.promag import _config, plan, split_data

    split_data(s0)
    base_run = tmp_path / "base"
    cfg = _config(s0, plan()[0], str(tmp_path / "exp" / "data" / "train"), steps=3)
    Trainer(cfg.merged({"run.checkpoint_every": 1, "run.keep_checkpoints": 10}), base_run,
            progress=False).run()
    card = read_card(base_run / "model_ema")
    s = _settings(tmp_path, base=str(base_run), budget=card["train_flops"] / 3,
                  ablations="none", seeds=1, arms=["4x", "grown8x"])
    assert base_flops(s) == card["cumulative"]["train_flops"]
    rows = {r["name"]: r for r in make_plan(s)}
    assert rows["4x"]["external"] and rows["direct8x"]["own_flops"] == pytest.approx(
        4 / 3 * card["train_flops"])
    md = run_experiment(s, command="test", log=lambda m: None)
    rec = json.loads((tmp_path / "exp" / "arms" / "4x.json").read_text())
    assert [p["step"] for p in rec["curve"]] == [2, 3]  # from the base run's checkpoints
    grown = json.loads((tmp_path / "exp" / "arms" / "grown8x.json").read_text())
    assert rec["base_digest"] == grown["base_digest"] == base_digest(s)
    assert len(base_digest(s)) == 64 and base_digest(_settings(tmp_path)) is None
    assert not (tmp_path / "exp" / "runs" / "4x").exists() and "| grown8x |" in md
    # a base that is not the planned 4x model: refused before anything trains
    with pytest.raises(ValueError, match="--base .* not the 4x tiny preset"):
        make_plan(_settings(tmp_path, base=str(base_run), model_overrides={
            "base_channels": 8, "norm_groups": 4}))
    # a base without a training record cannot set B
    plain = tmp_path / "plain"
    VideoTokenizer(cfg.tokenizer_config()).save_pretrained(plain)
    with pytest.raises(ValueError, match="no training record"):
        base_flops(_settings(tmp_path, base=str(plain)))


def test_an_interrupted_run_stops_the_experiment_and_resumes_to_its_budget(tmp_path,
                                                                            monkeypatch):
    """Ctrl-C in a run: the experiment stops (checkpoint written); running it again continues
    that run until its steps are done instead of taking the interrupted model as finished."""
    import signal

    from bootvid.experiment import promag
    from bootvid.train import Trainer

    s = _settings(tmp_path, ablations="none", seeds=1, arms=["4x"])
    (row,) = [r for r in promag.make_plan(s) if r["name"] == "4x"]
    s.base_budget = 3 * row["step_flops"]  # 3 steps
    real_init = Trainer.__init__

    def interrupting_init(self, *a, **k):
        real_init(self, *a, **k)
        self.hooks.append(lambda t, step: step == 1 and os.kill(os.getpid(), signal.SIGINT))

    monkeypatch.setattr(Trainer, "__init__", interrupting_init)
    with pytest.raises(KeyboardInterrupt, match="run the same command again"):
        promag.run_experiment(s, log=lambda m: None)
    assert promag._progress(os.path.join(s.out, "runs", "4x")) == 1
    monkeypatch.setattr(Trainer, "__init__", real_init)
    promag.run_experiment(s, log=lambda m: None)
    rec = json.loads((tmp_path / "exp" / "arms" / "4x.json").read_text())
    assert rec["trained"]["steps"] == 3


def test_split_command_writes_the_experiment_split(tmp_path, capsys):
    from bootvid.cli.main import main

    data = _videos(tmp_path / "videos", n=2, T=60)
    assert main(["experiment", "split", "--data", data, "--out", str(tmp_path / "s"),
                 "--eval-frames", "9", "--eval-size", "32", "--size", "16"]) == 0
    out = capsys.readouterr().out
    split = json.loads((tmp_path / "s" / "data" / "split.json").read_text())["videos"]
    assert len(split) == 2 and all(v["heldout_file"] in out for v in split)
    assert all(os.path.isfile(v["heldout_file"]) for v in split)


def test_stills_join_the_videos_training_part_and_the_report_says_so(tmp_path):
    from bootvid.experiment import ExperimentSettings, plan
    from bootvid.experiment.promag import _config, data_description

    s = ExperimentSettings(data="videos", out=str(tmp_path), stills="photos", image_ratio=0.25,
                           preset="fast")
    cfg = _config(s, plan()[0], "split/train")
    assert cfg.data.path is None and cfg.data.image_ratio == 0.25
    assert [(x["kind"], x["path"]) for x in cfg.data.sources] == [("videos", "split/train"),
                                                                 ("stills", "photos")]
    text = data_description(s)
    assert "photos" in text and "25% of the items single frames" in text
    plain = _config(ExperimentSettings(data="videos", out=str(tmp_path)), plan()[0], "d")
    assert plain.data.path == "d" and plain.data.sources is None
    assert data_description(ExperimentSettings(data="v", out="o")) == \
        "the training part (first frames) of each video"


def test_all_ablations_include_the_stage_at_the_papers_learning_rate(tmp_path):
    """The investigation a losing grown arm calls for: the growth stage at the paper's 1e-4
    (our presets' peak learning rate is higher); only that arm's learning rate changes."""
    from bootvid.experiment import ExperimentSettings, plan
    from bootvid.experiment.promag import _config

    assert "grown8x-lr1e-4" not in [r.name for r in plan("default")]
    specs = {r.name: r for r in plan("all")}
    s = ExperimentSettings(data="videos", out=str(tmp_path), preset="fast")
    slow, grown = (_config(s, specs[n], "d", steps=10) for n in ("grown8x-lr1e-4", "grown8x"))
    assert slow.optim.lr == 1e-4 and grown.optim.lr > 1e-4
    assert slow.merged({"optim.lr": grown.optim.lr}).to_dict() == grown.to_dict()


def test_all_ablations_include_the_stage_with_the_base_unfrozen(tmp_path):
    """The frozen-vs-unfrozen investigation: grown8x's architecture with the base's weights
    training too. Its steps cost more (the base's weight gradients), so it gets fewer."""
    from bootvid.experiment import plan
    from bootvid.experiment.promag import _config, make_plan

    assert "grown8x-unfrozen" not in [r.name for r in plan("default")]
    specs = {r.name: r for r in plan("all")}
    s = _settings(tmp_path, ablations="all", seeds=1)
    free, grown = (_config(s, specs[n], "d", steps=10) for n in ("grown8x-unfrozen", "grown8x"))
    assert free.grow.train_lower and not grown.grow.train_lower
    assert free.merged({"grow.train_lower": False}).to_dict() == grown.to_dict()
    rows = {r["name"]: r for r in make_plan(s)}
    assert rows["grown8x-unfrozen"]["own_flops"] == rows["grown8x"]["own_flops"]
    assert rows["grown8x-unfrozen"]["step_flops"] > 1.2 * rows["grown8x"]["step_flops"]
    s.budget = 20 * rows["grown8x"]["step_flops"]
    rows = {r["name"]: r for r in make_plan(s)}
    assert rows["grown8x-unfrozen"]["steps"] < rows["grown8x"]["steps"] == 20


def test_records_compare_their_base_by_its_weights_where_known():
    """A base moved to another path is the same base; one re-exported or retrained at the
    same path is not. Records from before the weights were recorded compare paths."""
    from bootvid.experiment.promag import _COMPARABLE, _check_comparable

    def rec(base, digest):
        return {"settings": {**{k: 1 for k in _COMPARABLE}, "base": base},
                **({"base_digest": digest} if digest else {})}

    _check_comparable({"a": rec("/old/base", "d1"), "b": rec("/new/base", "d1")})
    with pytest.raises(ValueError, match=r"b and a were made with different base \(its weights\)"):
        _check_comparable({"a": rec("/base", "d1"), "b": rec("/base", "d2")})
    with pytest.raises(ValueError, match="different base;"):
        _check_comparable({"a": rec("/old/base", None), "b": rec("/new/base", "d1")})
    # every pair counts, not only each against the first
    with pytest.raises(ValueError, match="c and b .*its weights"):
        _check_comparable({"a": rec("/base", None), "b": rec("/base", "d1"),
                           "c": rec("/base", "d2")})
