"""``bootvid train`` / ``bootvid grow`` from the command line (in process)."""

from __future__ import annotations

import os

import pytest
import torch

from bootvid.cli.main import main
from bootvid.tokenizer import VideoTokenizer, read_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SMALL = ["--size", "16", "--batch-size", "1", "--workers", "0", "--no-progress",
         "--checkpoint-every", "2"]


def test_train_then_grow_twice_on_synthetic_clips(tmp_path, capsys):
    out4, out8, out16 = (str(tmp_path / n) for n in ("t4", "t8", "t16"))
    assert main(["train", "--preset", "tiny", "--out", out4, "--max-steps", "2",
                 "--frames", "17", *SMALL]) == 0
    text = capsys.readouterr().out
    assert "stopped at step 2 (max_steps)" in text and "model_ema" in text
    assert main(["grow", "--from", out4, "--out", out8, "--max-steps", "2", "--frames", "17",
                 *SMALL]) == 0
    assert "grown from the EMA weights of the run" in capsys.readouterr().out
    assert main(["grow", "--from", out8, "--out", out16, "--max-steps", "2", "--frames", "17",
                 *SMALL]) == 0
    tok = VideoTokenizer.from_pretrained(os.path.join(out16, "model_ema"))
    assert tok.temporal_compression == 16
    assert [s["factor"] for s in read_config(os.path.join(out16, "model")).growth] == [2, 2]
    # the growth runs train without the GAN by default (paper: L1 + KL)
    assert "gan: 0.0" in open(os.path.join(out8, "train_config.yaml")).read()


def test_grow_without_data_warns_when_the_model_was_trained_on_videos(tmp_path):
    """A growth stage does not inherit its 4x model's data: without --data it would silently
    train on synthetic clips. The trainer warns (so the Python API does too) and logs it."""
    import json
    import warnings

    from bootvid.data import write_video

    videos = tmp_path / "videos"
    videos.mkdir()
    t = torch.arange(24).view(24, 1, 1, 1).float()
    write_video(videos / "clip.mp4", (127 + 100 * torch.sin(0.3 * t + torch.linspace(
        0, 6, 32).view(1, 1, 32, 1))).expand(24, 24, 32, 3).round().byte(), 24)
    out4 = str(tmp_path / "t4")
    assert main(["train", "--data", str(videos), "--out", out4, "--max-steps", "1",
                 "--frames", "9", *SMALL]) == 0
    grow = ["grow", "--from", out4, "--max-steps", "1", "--frames", "9", *SMALL]

    def data_warnings(args):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(args) == 0
        return [str(w.message) for w in caught if "no data given" in str(w.message)]

    out8 = tmp_path / "synthetic8x"
    (msg,) = data_warnings([*grow, "--out", str(out8)])
    assert "trains on synthetic clips" in msg and out4 in msg and "VideoFolderDataset" in msg
    events = [json.loads(line).get("event", "") for line in open(out8 / "log.jsonl")]
    assert any("no data given" in e for e in events), events
    assert not data_warnings([*grow, "--data", str(videos), "--out", str(tmp_path / "video8x")])
    # resuming the synthetic stage does not repeat it (the run's data is already settled)
    assert not data_warnings([*grow, "--out", str(out8), "--resume", "--max-steps", "2"])
    # a 4x model trained on synthetic clips grows on them without a warning
    synth4 = str(tmp_path / "s4")
    assert main(["train", "--out", synth4, "--max-steps", "1", "--frames", "9", *SMALL]) == 0
    assert not data_warnings(["grow", "--from", synth4, "--out", str(tmp_path / "s8"),
                              "--max-steps", "1", "--frames", "9", *SMALL])


def test_resume_extends_a_run_and_refuses_other_settings(tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["train", "--out", out, "--frames", "5", *SMALL]
    assert main([*args, "--max-steps", "2"]) == 0
    assert main([*args, "--max-steps", "3", "--resume"]) == 0
    assert "stopped at step 3" in capsys.readouterr().out
    assert main([*args, "--max-steps", "4", "--resume", "--lr", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "bootvid: error: --resume: the run in" in err and "optim.lr" in err
    assert "Traceback" not in err


def test_a_long_training_continues_from_its_saved_model_in_a_new_run(tmp_path):
    from bootvid.train.card import read_card

    first, second = str(tmp_path / "part1"), str(tmp_path / "part2")
    args = ["train", "--frames", "5", *SMALL]
    assert main([*args, "--out", first, "--max-steps", "2", "--keep-checkpoints", "5",
                 "--checkpoint-every", "1"]) == 0
    assert len(os.listdir(os.path.join(first, "checkpoints"))) == 2
    assert main([*args, "--out", second, "--max-steps", "3", "--init-from", first,
                 "--warmup-steps", "1"]) == 0
    card = read_card(os.path.join(second, "model_ema"))
    assert card["steps"] == 3 and card["cumulative"]["steps"] == 5
    assert card["source"].startswith("initialised from the EMA weights of the run")
    assert "optim:\n" in open(os.path.join(second, "train_config.yaml")).read()
    assert "warmup_steps: 1" in open(os.path.join(second, "train_config.yaml")).read()


@pytest.mark.parametrize("argv, match", [
    (["train", "--frames", "16"], "data.frames: a 4x tokenizer trains on clips of 1 + k*4"),
    (["train", "--preset", "huge"], "unknown preset 'huge'"),
    (["train", "--lr", "2"], "optim.lr: must be in (0, 1)"),
    (["train", "--config", "nope.yaml"], "training config not found: nope.yaml"),
    (["train", "--data", "/nonexistent/videos"], "/nonexistent/videos"),
    (["grow"], "bootvid grow needs --from DIR"),
    (["grow", "--from", "/nonexistent/run"], "model not found: /nonexistent/run"),
    (["train", "--resume"], "--resume needs --out"),
])
def test_bad_invocations_fail_clearly(tmp_path, capsys, argv, match):
    code = main([*argv, "--out", str(tmp_path / "r"), "--max-steps", "1"]
                if "--resume" not in argv else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert match in err, err
    assert "Traceback" not in err
    assert not os.path.exists(tmp_path / "r")  # refused before anything was written


def test_bad_config_file_names_the_file_and_key(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("optim:\n  lrate: 0.1\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "optim.lrate" in err
    assert not os.path.exists(tmp_path / "r")  # nothing started


def test_data_flag_replaces_the_configs_sources(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {preset: tiny}\ndata:\n  sources:\n"
                   "  - {kind: stills, path: /nonexistent/photos}\n")
    out = str(tmp_path / "r")
    # the config's missing folder is not read: --data (here synthetic is not expressible, so
    # a missing video folder) is what the run reads, and names itself in the error
    assert main(["train", "--config", str(cfg), "--data", "/nonexistent/videos", "--out", out,
                 "--max-steps", "1", *SMALL]) == 2
    err = capsys.readouterr().err
    assert "data.path: '/nonexistent/videos' does not exist" in err
    assert "photos" not in err
