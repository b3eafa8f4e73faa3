"""bootvid reconstruct / encode / decode: whole videos of any length, streamed."""

from __future__ import annotations

import os

import pytest
import torch

from bootvid.cli.main import main
from bootvid.data import probe_video, read_frames
from bootvid.eval import LatentMismatchError, decode_file, encode_file, reconstruct_file
from bootvid.tokenizer import VideoTokenizer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def tok(model_dir):
    return VideoTokenizer.from_pretrained(model_dir)


@pytest.mark.parametrize("T, H, W, fps", [(1, 48, 64, 12.0), (5, 48, 64, 25.0),
                                          (18, 50, 70, 30000 / 1001), (40, 64, 48, 8.0)])
def test_reconstruct_keeps_frames_size_and_fps(tok, video_file, tmp_path, T, H, W, fps):
    src = video_file(T, H, W, fps)
    dst = tmp_path / "out.mp4"
    r = reconstruct_file(tok, src, str(dst), chunk_frames=8)
    info = probe_video(dst)
    assert (r["frames"], info.frames, info.height, info.width) == (T, T, H, W)
    assert info.fps == pytest.approx(fps, rel=1e-3)
    assert [n for n in os.listdir(tmp_path) if n != "out.mp4"] == []  # no temporary left


def test_side_by_side_puts_the_input_on_the_left(tok, video_file, tmp_path):
    src = video_file(9, 48, 64)
    dst = tmp_path / "sbs.mkv"
    reconstruct_file(tok, src, str(dst), chunk_frames=4, side_by_side=True, codec="ffv1")
    out = read_frames(dst, 0, 9)
    assert out.shape == (9, 48, 128, 3)
    left = out[:, :, :64].float()
    torch.testing.assert_close(left, read_frames(src, 0, 9).float(), atol=6, rtol=0)


def test_resize_option(tok, video_file, tmp_path):
    src = video_file(5, 48, 64)
    r = reconstruct_file(tok, src, str(tmp_path / "o.mp4"), size=24)
    assert (r["height"], r["width"]) == (24, 32)


def test_encode_then_decode_equals_reconstruct(tok, video_file, tmp_path):
    src = video_file(23, 48, 64, seed=7)
    reconstruct_file(tok, src, str(tmp_path / "rec.mkv"), chunk_frames=8, codec="ffv1")
    e = encode_file(tok, src, str(tmp_path / "z.safetensors"), chunk_frames=8)
    assert e["latent_shape"] == (16, 1 + (23 - 1 + 3) // 4, 6, 8)
    d = decode_file(tok, str(tmp_path / "z.safetensors"), str(tmp_path / "dec.mkv"),
                    chunk_latents=3, codec="ffv1")
    assert d["frames"] == 23 and d["fps"] == pytest.approx(12.0)
    a = read_frames(tmp_path / "rec.mkv", 0, 23).int()
    b = read_frames(tmp_path / "dec.mkv", 0, 23).int()
    diff = (a - b).abs()
    assert diff.max() <= 2 and (diff > 0).float().mean() < 0.01  # float rounding only


def test_latents_metadata_is_read_alone(tok, video_file, tmp_path):
    from bootvid.eval.codec import read_latents, read_latents_meta

    z = tmp_path / "z.safetensors"
    encode_file(tok, video_file(9, 48, 64), str(z))
    assert read_latents_meta(str(z)) == read_latents(str(z))[1]
    assert read_latents_meta(str(z))["frames"] == "9"
    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match="not a bootvid latents file"):
        read_latents_meta(str(other))
    with pytest.raises(FileNotFoundError):
        read_latents_meta(str(tmp_path / "missing.safetensors"))


def test_decode_refuses_latents_of_another_model(tok, model_dir, other_model_dir, video_file,
                                                 tmp_path, capsys):
    src = video_file(9, 48, 64)
    z = tmp_path / "z.safetensors"
    encode_file(tok, src, str(z))
    other = VideoTokenizer.from_pretrained(other_model_dir)
    with pytest.raises(LatentMismatchError, match="encoded by another model"):
        decode_file(other, str(z), str(tmp_path / "x.mp4"))
    assert main(["decode", "--model", other_model_dir, str(z), str(tmp_path / "y.mp4"),
                 "--no-progress"]) == 2
    assert "encoded by another model" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "y.mp4").exists()
    # the same model in bf16 is the same model
    decode_file(tok.to(torch.bfloat16), str(z), str(tmp_path / "ok.mp4"))
    tok.float()
    assert (tmp_path / "ok.mp4").exists()


def test_reconstruct_streams_its_input(tok, video_file, tmp_path, monkeypatch):
    """Frames are read as the output is written: the lead of input over output stays bounded
    by a couple of chunks, however long the video (constant memory)."""
    import bootvid.data as data

    src = video_file(60, 32, 32, seed=8)
    pulled, leads = [0], []
    real_iter, real_writer = data.iter_frames, data.VideoWriter

    def counting_iter(*a, **k):
        for chunk in real_iter(*a, **k):
            pulled[0] += len(chunk)
            yield chunk

    class CountingWriter(real_writer):
        def write(self, frames):
            super().write(frames)
            leads.append(pulled[0] - self.frames_written)

    monkeypatch.setattr(data, "iter_frames", counting_iter)
    monkeypatch.setattr(data, "VideoWriter", CountingWriter)
    r = reconstruct_file(tok, src, str(tmp_path / "o.mp4"), chunk_frames=8)
    assert r["frames"] == 60 and len(leads) >= 6
    assert max(leads) <= 2 * 8 + 4


def test_cli_reconstruct_encode_decode(model_dir, video_file, tmp_path, capsys):
    src = video_file(13, 48, 64)
    assert main(["reconstruct", "--model", model_dir, src, str(tmp_path / "r.mp4"),
                 "--no-progress"]) == 0
    assert "13 frames" in capsys.readouterr().out
    assert main(["encode", "--model", model_dir, src, str(tmp_path / "z.safetensors"),
                 "--no-progress"]) == 0
    assert "latents (16, 4, 6, 8)" in capsys.readouterr().out
    assert main(["decode", "--model", model_dir, str(tmp_path / "z.safetensors"),
                 str(tmp_path / "d.mp4"), "--no-progress"]) == 0
    assert probe_video(tmp_path / "d.mp4").frames == 13
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert main(["reconstruct", "--model", model_dir, str(bad), str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and not (tmp_path / "o.mp4").exists()
    assert main(["decode", "--model", model_dir, str(src), str(tmp_path / "o.mp4")]) == 2
    assert "not a readable safetensors file" in capsys.readouterr().err


def test_sizes_are_width_x_height_and_the_size_written(tok, model_dir, video_file, tmp_path,
                                                       capsys):
    """A 33x25 output (odd sizes) is written 34x26 by yuv420p codecs, and the message says so;
    yuv444p keeps it exact."""
    src = video_file(5, 48, 64)
    r = reconstruct_file(tok, src, str(tmp_path / "a.mp4"), size=25)
    assert (r["width"], r["height"], r["written_size"]) == (33, 25, (34, 26))
    info = probe_video(tmp_path / "a.mp4")
    assert (info.width, info.height) == (34, 26)
    exact = reconstruct_file(tok, src, str(tmp_path / "b.mkv"), size=25, codec="ffv1",
                             pixel_format="yuv444p")
    assert exact["written_size"] == (33, 25)
    info = probe_video(tmp_path / "b.mkv")
    assert (info.width, info.height) == (33, 25)
    assert main(["reconstruct", "--model", model_dir, src, str(tmp_path / "c.mp4"), "--size",
                 "25", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "5 frames at 12 fps, 34x26 (33x25 frames" in out and "yuv444p" in out
    assert main(["reconstruct", "--model", model_dir, src, str(tmp_path / "d.mkv"), "--size",
                 "25", "--codec", "ffv1", "--pixel-format", "yuv444p", "--no-progress"]) == 0
    wrote = next(l for l in capsys.readouterr().out.splitlines() if "bootvid: wrote" in l)
    assert wrote.endswith("5 frames at 12 fps, 33x25")


def test_reconstruct_reports_the_whole_clips_quality(tok, model_dir, video_file, tmp_path,
                                                     capsys):
    import json

    from bootvid.eval.metrics import psnr, ssim
    from bootvid.eval.protocol import reconstruct_frames

    src = video_file(23, 48, 64, seed=3)
    r = reconstruct_file(tok, src, str(tmp_path / "r.mkv"), chunk_frames=8, codec="ffv1")
    ref = read_frames(src, 0, 23)
    rec = reconstruct_frames(tok, ref)  # the whole clip at once
    assert r["psnr"] == pytest.approx(psnr(ref, rec), abs=0.02)
    assert r["ssim"] == pytest.approx(ssim(ref, rec), abs=1e-3)
    assert len(r["psnr_per_frame"]) == len(r["ssim_per_frame"]) == 23
    # on the command line: an estimate after the first chunk, the figures, and --json
    out = tmp_path / "r.json"
    assert main(["reconstruct", "--model", model_dir, src, str(tmp_path / "c.mp4"),
                 "--chunk-frames", "8", "--json", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "reconstruct 23 frames of 64x48 at 12 fps" in text
    assert "should take about" in text
    assert "whole clip (23 frames): PSNR " in text
    saved = json.loads(out.read_text())
    assert saved["psnr"] == pytest.approx(r["psnr"], abs=0.01)
    assert len(saved["psnr_per_frame"]) == 23
    assert saved["written_size"] == [64, 48]
