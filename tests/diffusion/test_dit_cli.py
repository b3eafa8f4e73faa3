"""bootvid latents, bootvid dit train / sample / budget from the command line."""

from __future__ import annotations

import json
import os

import pytest
import torch

from bootvid.cli.main import main

pytest.importorskip("av")


def test_latents_train_sample(tokenizer_dir, video_folder, tmp_path, capsys):
    lat, run = tmp_path / "lat", tmp_path / "dit"
    with pytest.warns(UserWarning, match="shorter than one clip"):
        assert main(["latents", "--model", tokenizer_dir, "--data", video_folder, "--out",
                     str(lat), "--clip-frames", "9", "--size", "32", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "4 clips from 4 videos" in out and "classes: cats, dogs" in out
    # a second call resumes: nothing left to encode
    assert main(["latents", "--model", tokenizer_dir, "--data", video_folder, "--out", str(lat),
                 "--clip-frames", "9", "--size", "32", "--no-progress"]) == 0
    assert "0 encoded here, 4 already cached" in capsys.readouterr().out

    assert main(["dit", "train", "--latents", str(lat), "--preset", "test", "--max-steps", "3",
                 "--batch-size", "2", "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    assert "stopped at step 3 (max_steps)" in capsys.readouterr().out
    assert main(["dit", "train", "--out", str(run), "--resume", "--max-steps", "4",
                 "--no-progress"]) == 0
    assert "stopped at step 4" in capsys.readouterr().out

    video = tmp_path / "s" / "sample.mkv"
    args = ["dit", "sample", "--model", str(run), "--frames", "9", "--steps", "2", "--label",
            "dogs", "--cfg", "2", "--seed", "1", "--no-progress", "--codec", "ffv1"]
    assert main(args + [str(video)]) == 0  # the tokenizer comes from the DiT's metadata
    assert f"decoding with the model {tokenizer_dir}" in capsys.readouterr().out
    from bootvid.data import probe_video, read_frames

    assert probe_video(video).frames == 9 and (tmp_path / "s" / "sample.png").exists()
    # the same seed samples the same clip (in another process too: ffv1 is lossless and,
    # unlike libx264, writes the same bytes every time)
    again = tmp_path / "s" / "again.mkv"
    assert main(args + ["--sampler", "euler", str(again)]) == 0
    assert torch.equal(read_frames(video, 0, 9), read_frames(again, 0, 9))
    other = tmp_path / "s" / "other.mkv"
    assert main(args + ["--seed", "2", str(other)]) == 0  # the last --seed wins
    assert not torch.equal(read_frames(video, 0, 9), read_frames(other, 0, 9))


def test_sample_errors(tokenizer_dir, cache_factory, tmp_path, capsys):
    from bootvid.diffusion import DiTTrainer

    from test_dit_train import _config

    root = cache_factory(n=2, labels=[0, 1], classes=("a", "b"))
    run = DiTTrainer(_config(root, max_steps=1), tmp_path / "run", progress=False).run().run_dir
    base = ["dit", "sample", "--model", run, "--steps", "1", "--no-progress"]
    # the cache was not made by this tokenizer (fingerprint differs)
    assert main(base + ["--tokenizer", tokenizer_dir, "--frames", "5", str(tmp_path / "a.mp4")]) == 2
    assert "trained on latents of the tokenizer" in capsys.readouterr().err
    assert main(base + ["--label", "zebra", "--frames", "5", str(tmp_path / "a.mp4")]) == 2
    assert "unknown class 'zebra'; classes: a, b" in capsys.readouterr().err
    assert main(["dit", "sample", "--model", str(tmp_path / "nope"), "--frames", "5",
                 str(tmp_path / "a.mp4")]) == 2
    assert "DiT model not found" in capsys.readouterr().err
    assert not (tmp_path / "a.mp4").exists()


def test_frames_must_fit_the_tokenizer(tokenizer_dir, video_folder, tmp_path, capsys):
    from bootvid.diffusion.sampling import sample_video
    from bootvid.diffusion.dit import DiT, dit_config
    from bootvid.tokenizer import VideoTokenizer
    from bootvid.tokenizer.persistence import model_fingerprint

    tok = VideoTokenizer.from_pretrained(tokenizer_dir)
    meta = {"tokenizer_fingerprint": model_fingerprint(tok), "size": 32}
    dit = DiT(dit_config("test", in_channels=16))
    with pytest.raises(ValueError, match=r"decodes 1 \+ k\*4 frames, got 8; use e.g. 9"):
        sample_video(dit, meta, tok, 8)
    frames = sample_video(dit, meta, tok, 5, steps=1)
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == torch.uint8


def test_budget_shows_the_saving_of_16x(capsys):
    from bootvid import pretrained

    assert main(["dit", "budget", "--frames", "129", "--size", "256", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {r["tokenizer"]: r for r in rows}
    four, _, sixteen = pretrained.SHIPPED  # the default: the shipped family
    assert by[four]["latent_shape"][1] == 33 and by[sixteen]["latent_shape"][1] == 9
    assert by[four]["dit_tokens"] == 33 * 16 * 16
    # 16x: the same frames in 9 / 33 of the tokens, and more than 3x fewer FLOPs
    assert by[four]["dit_gflops"] > 3 * by[sixteen]["dit_gflops"]
    assert main(["dit", "budget", "--frames", "33", "--size", "128"]) == 0
    table = capsys.readouterr().out
    assert sixteen in table and "DiT tokens" in table
