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


def test_experiment_runs_every_arm_and_writes_the_report(tmp_path):
    from bootvid.experiment import ExperimentSettings, plan, run_experiment

    s = ExperimentSettings(data=_videos(tmp_path / "videos"), out=str(tmp_path / "exp"),
                           minutes=1e-5, size=16, eval_frames=9, eval_size=32,
                           observation_frames=5, model_overrides={"base_channels": 16,
                                                                  "norm_groups": 4})
    md = run_experiment(s, command="test", log=lambda m: None)
    res = json.loads((tmp_path / "exp" / "results.json").read_text())
    names = [r.name for r in plan()]
    assert list(res["evals"]) == names and len(names) == 12
    tc = {n: res["evals"][n]["temporal_compression"] for n in names}
    assert (tc["4x"], tc["grown8x"], tc["grown16x"], tc["direct16x"], tc["ext8x"]) == \
        (4, 8, 16, 16, 8)
    assert all(res["runs"][n]["steps"] >= 1 for n in names)
    assert [o["stride"] for o in res["observation"]] == [2, 4]
    for n in names:
        assert f"| {n} |" in md
    # The claims table: one row per comparison, differences computed from the evals.
    e = {n: float(res["evals"][n]["psnr"]) for n in names}
    row = next(l for l in md.splitlines() if l.startswith("| growing beats direct training, 8x"))
    assert f"{e['grown8x'] - e['direct8x']:+.2f}" in row
    assert sum(l.startswith("| ablation: the default stage vs ") for l in md.splitlines()) == 5
    assert (tmp_path / "exp" / "plots" / "psnr_by_model.png").stat().st_size > 1000
    assert (tmp_path / "exp" / "plots" / "psnr_mean.png").stat().st_size > 1000
    # a second call resumes: nothing is trained again
    before = {n: os.listdir(tmp_path / "exp" / "runs" / n / "checkpoints") for n in names}
    run_experiment(s, command="test", log=lambda m: None)
    assert before == {n: os.listdir(tmp_path / "exp" / "runs" / n / "checkpoints")
                      for n in names}


def test_an_interrupted_run_stops_the_experiment_and_resumes_to_its_budget(tmp_path,
                                                                            monkeypatch):
    """Ctrl-C in a run: the experiment stops (checkpoint written); running it again continues
    that run until its budget is used instead of taking the interrupted model as finished."""
    import signal

    from bootvid.experiment import ExperimentSettings, promag
    from bootvid.train import Trainer

    s = ExperimentSettings(data=_videos(tmp_path / "videos", n=1), out=str(tmp_path / "exp"),
                           # 12 s: well above one step even on a loaded 2-core machine
                           minutes=0.2, size=16, eval_frames=9, eval_size=32,
                           observation_frames=5, ablations=False,
                           model_overrides={"base_channels": 16, "norm_groups": 4})
    only_4x = [promag.RunSpec("4x", 1, "promag")]
    monkeypatch.setattr(promag, "plan", lambda ablations=True: only_4x)
    real_init = Trainer.__init__

    def interrupting_init(self, *a, **k):
        real_init(self, *a, **k)
        self.hooks.append(lambda t, step: step == 1 and os.kill(os.getpid(), signal.SIGINT))

    split_dir = os.path.join(s.out, "data")
    from bootvid.experiment.split import prepare_split

    prepare_split(s.data, split_dir, heldout_frames=9, short_side=32)
    data_dir = os.path.join(split_dir, "train")
    monkeypatch.setattr(Trainer, "__init__", interrupting_init)
    with pytest.raises(KeyboardInterrupt, match="run the same command again"):
        promag.train_all(s, data_dir, log=lambda m: None)
    assert promag._progress(os.path.join(s.out, "runs", "4x"))[0] == 1
    monkeypatch.setattr(Trainer, "__init__", real_init)
    info = promag.train_all(s, data_dir, log=lambda m: None)
    assert info["4x"]["train_minutes"] >= 0.2 - 1e-9 and info["4x"]["steps"] > 1


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
