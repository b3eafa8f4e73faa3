"""Bad input at the command line: one clear message (what is wrong, what is expected), exit
code 2, no traceback, and no output file left behind. Odd but valid videos (grayscale, alpha,
odd sizes) just work."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bootvid.cli.main import main

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from helpers import moving_frames

    from bootvid.data import write_video

    d = tmp_path_factory.mktemp("bad")
    write_video(d / "ok.mp4", moving_frames(20, 48, 64), 12)
    data = (d / "ok.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (d / "empty.mp4").write_bytes(b"")
    os.makedirs(d / "no_videos")
    (d / "no_videos" / "notes.txt").write_text("not a video")
    (d / "bad.yaml").write_text("run: {max_steps: -3}\n")
    (d / "unknown.yaml").write_text("run: {epochs: 3}\n")
    for name, pix_fmt, fmt, shape in (("gray.mkv", "gray", "gray", (42, 58)),
                                      ("alpha.mkv", "yuva420p", "rgba", (42, 58, 4))):
        c = av.open(str(d / name), "w")
        s = c.add_stream("ffv1", rate=12)
        s.width, s.height, s.pix_fmt = shape[1], shape[0], pix_fmt
        for i in range(9):
            frame = av.VideoFrame.from_ndarray(np.full(shape, 20 * i, np.uint8), format=fmt)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        c.close()
    return d


# (command with {d} for the files' folder and {o} for the output, expected message)
CASES = [
    ("reconstruct {d}/missing.mp4 {o}", "No such file or directory"),
    ("reconstruct {d}/junk.mp4 {o}", "cannot open video"),
    ("reconstruct {d}/empty.mp4 {o}", "cannot open video"),
    ("reconstruct {d}/truncated.mp4 {o}", "cannot open video"),
    ("reconstruct {d}/ok.mp4 {o} --max-frames 0", "max_frames must be an integer >= 1"),
    ("encode {d}/ok.mp4 {o} --size 0", "size must be a positive integer, got 0"),
    ("reconstruct {d}/ok.mp4 {o} --model {d}/no_videos", "holds no model: expected config.json"),
    ("reconstruct {d}/ok.mp4 {o} --model {d}/nowhere", "model not found"),
    ("decode {d}/ok.mp4 {o}", "not a readable safetensors file"),
    ("eval --videos {d}/no_videos", "no video files in folder"),
    ("latents --data {d}/no_videos --out {o}", "no video files in folder"),
    ("latents --data {d}/ok.mp4 --out {o} --clip-frames 8", "clips of 1 + k*4 frames, got 8"),
    ("train --config {d}/missing.yaml --out {o}", "training config not found"),
    ("train --config {d}/bad.yaml --out {o}", "run.max_steps: must be >= 1, got -3"),
    ("train --config {d}/unknown.yaml --out {o}", "unknown key(s) ['run.epochs']"),
    ("train --resume --out {o}", "is not a training run"),
    ("dit train --latents {d}/no_videos --out {o}", "is not a latent cache"),
    ("dit train --latents {d}/no_videos --out {o} --preset huge", "unknown DiT preset 'huge'"),
    ("dit sample --model {d}/no_videos --frames 9 {o}", "holds no DiT"),
]


@pytest.mark.parametrize("command,message", CASES, ids=[c[0].split(" {o}")[0] for c in CASES])
def test_bad_input_gives_one_clear_error(files, tmp_path, capsys, command, message):
    out = tmp_path / "out" / "result.mp4"
    argv = command.format(d=files, o=out).split() + (
        ["--no-progress"] if command.split()[0] in ("reconstruct", "encode", "latents") else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("bootvid: error: ") and message in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not out.exists()
    leftovers = [n for n in os.listdir(tmp_path) if n != "out"]
    assert not leftovers, leftovers


def test_debug_shows_the_traceback(files, tmp_path):
    with pytest.raises(ValueError, match="size must be a positive integer"):
        main(["--debug", "encode", str(files / "ok.mp4"), str(tmp_path / "z.safetensors"),
              "--size", "0"])


@pytest.mark.parametrize("name", ["gray.mkv", "alpha.mkv"])
def test_grayscale_alpha_and_odd_sized_videos_work(files, tmp_path, name):
    from bootvid.data import probe_video, read_frames

    out = tmp_path / "rec.mkv"
    assert main(["reconstruct", str(files / name), str(out), "--codec", "ffv1",
                 "--no-progress"]) == 0
    info = probe_video(out)
    assert (info.frames, info.height, info.width) == (9, 42, 58)  # odd size kept (padded inside)
    frames = read_frames(out, 0, 9)
    assert frames.shape == (9, 42, 58, 3)


def test_rotated_and_variable_rate_videos_come_out_as_players_show_them(tmp_path):
    """A portrait phone clip (landscape frames + a -90 degree display matrix) reconstructs
    upright; a variable-frame-rate clip keeps every frame, at its average rate."""
    from helpers import moving_frames
    from odd_videos import write_variable_rate, write_with_display_matrix

    from bootvid.data import probe_video

    frames = moving_frames(9, 24, 40).numpy()
    cases = [(write_with_display_matrix(tmp_path / "portrait.mp4", frames, -90), (9, 40, 24)),
             (write_variable_rate(tmp_path / "vfr.mkv", frames, [40, 40, 120] * 3), (9, 24, 40))]
    for src, (count, height, width) in cases:
        info = probe_video(src)
        assert (info.frames, info.height, info.width) == (count, height, width)
        out = tmp_path / f"rec-{os.path.basename(src)}.mkv"
        assert main(["reconstruct", src, str(out), "--codec", "ffv1", "--no-progress"]) == 0
        rec = probe_video(out)
        assert (rec.frames, rec.height, rec.width, rec.rotation) == (count, height, width, 0)
        assert rec.fps == pytest.approx(info.fps, rel=0.01)


def _tok():
    import torch

    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    return VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4))


@pytest.mark.parametrize("shape,dtype,error,message", [
    ((3, 5, 16, 16), "float32", ValueError, r"got a 4-D tensor .* add the batch dimension"),
    ((1, 5, 16, 16, 3), "float32", ValueError, r"expected 3 channels .*\(channels last\? use x.permute"),
    ((1, 3, 5, 16, 16), "uint8", TypeError, r"expected a float video in \[-1, 1\], got torch.uint8"),
    ((1, 3, 0, 16, 16), "float32", ValueError, r"the video has no frames"),
    ((1, 3, 5, 20, 16), "float32", ValueError, r"multiple"),
])
def test_python_api_says_what_is_wrong(shape, dtype, error, message):
    import torch

    x = torch.zeros(shape, dtype=getattr(torch, dtype))
    with pytest.raises(error, match=message):
        _tok().encode(x)


def test_latents_of_the_wrong_shape():
    import torch

    with pytest.raises(ValueError, match=r"expected latents of shape \(B, 16, T, H, W\)"):
        _tok().decode(torch.zeros(1, 8, 2, 2, 2))
    with pytest.raises(ValueError, match=r"2 latent frames decode to 2..5 frames, but num_frames=9"):
        _tok().decode(torch.zeros(1, 16, 2, 2, 2), num_frames=9)
