"""bootvid.data.video_io: probing, exact frame reads with seeking, atomic writes, discovery."""

from __future__ import annotations

import os
import wave
from fractions import Fraction

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from bootvid.data import (VIDEO_EXTENSIONS, VideoReadError, find_videos, probe_video,  # noqa: E402
                          read_frames, write_video)
from bootvid.data import video_io  # noqa: E402


@pytest.fixture(scope="module")
def videos(tmp_path_factory, make_video_file, reference_frames):
    """40-frame files with a keyframe every 8 frames, and their frames decoded from the start."""
    d = tmp_path_factory.mktemp("videos")
    out = {}
    for name, codec in (("h264.mp4", "libx264"), ("mpeg4.avi", "mpeg4"), ("h264.mkv", "libx264")):
        path = make_video_file(d / name, codec=codec, gop_size=8)
        out[name] = (path, reference_frames(path))
    return out


@pytest.mark.parametrize("name", ["h264.mp4", "mpeg4.avi", "h264.mkv"])
def test_read_frames_equals_decoding_from_the_beginning(videos, name):
    path, ref = videos[name]
    assert len(ref) == 40
    for start in (0, 1, 7, 8, 9, 17, 26, 35):
        got = read_frames(path, start, 5)
        assert got.dtype == torch.uint8 and got.shape == (5, 48, 64, 3)
        np.testing.assert_array_equal(got.numpy(), ref[start:start + 5], err_msg=f"start {start}")


def test_read_frames_seeks_instead_of_decoding_everything(videos, monkeypatch):
    # With the decode-from-the-beginning path disabled, reads past the first keyframe must
    # still work: they came from a seek.
    def no_fallback(*args):
        raise AssertionError("read_frames fell back to decoding from the beginning")

    monkeypatch.setattr(video_io, "_read_from_beginning", no_fallback)
    for name in ("h264.mp4", "mpeg4.avi", "h264.mkv"):
        path, ref = videos[name]
        for start in (9, 16, 30):
            np.testing.assert_array_equal(read_frames(path, start, 3).numpy(),
                                          ref[start:start + 3])


def test_decoded_frames_are_the_requested_source_frames(videos, make_frames):
    # Independent of PyAV's own counting: each decoded frame is closest to its source frame.
    source = make_frames(40).astype(np.float32)
    got = read_frames(videos["h264.mp4"][0], 13, 6, stride=4).numpy().astype(np.float32)
    nearest = [int(np.abs(source - f).mean(axis=(1, 2, 3)).argmin()) for f in got]
    assert nearest == [13, 17, 21, 25, 29, 33]


def test_stride_and_start_near_the_end(videos):
    path, ref = videos["h264.mp4"]
    np.testing.assert_array_equal(read_frames(path, 30, 4, stride=3).numpy(), ref[30:40:3])
    np.testing.assert_array_equal(read_frames(path, 39, 1).numpy(), ref[39:40])
    np.testing.assert_array_equal(read_frames(path, 2, 3, stride=7).numpy(), ref[2:17:7])


def test_too_short_request_names_file_and_counts(videos):
    path, _ = videos["h264.mp4"]
    with pytest.raises(VideoReadError, match=r"has 40 frames.*needs 42") as info:
        read_frames(path, 35, 3, stride=3)
    assert path in str(info.value) and info.value.frames_available == 40
    with pytest.raises(VideoReadError, match="has 40 frames"):
        read_frames(path, 40, 1)


@pytest.mark.parametrize("bad", [dict(start=-1), dict(count=0), dict(stride=0),
                                 dict(start=1.5)])
def test_read_frames_rejects_bad_arguments(videos, bad):
    args = dict(start=0, count=1, stride=1) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        read_frames(videos["h264.mp4"][0], **args)


def test_timestamp_gaps_fall_back_to_counting(tmp_path, reference_frames):
    # A file whose pts jump (dropped frames, like avi "repeat" chunks): frame indices are
    # decoding order, so the seeking reader must not trust the timestamps here.
    path = str(tmp_path / "gaps.mkv")
    with av.open(path, "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.gop_size = 4
        stream.codec_context.time_base = Fraction(1, 25)
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 8, np.uint8), "rgb24")
            frame.pts, frame.time_base = i + (5 if i >= 10 else 0), Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    ref = reference_frames(path)
    assert len(ref) == 30
    for start in (5, 12, 20):
        np.testing.assert_array_equal(read_frames(path, start, 4).numpy(), ref[start:start + 4])


@pytest.mark.parametrize("codec,pixel_format,ext", [("ffv1", "gray", "mkv"),
                                                     ("png", "rgba", "mov")])
def test_other_pixel_formats_come_back_as_rgb(tmp_path, make_frames, codec, pixel_format, ext):
    path = str(tmp_path / f"clip.{ext}")
    frames = make_frames(6)
    write_video(path, frames, fps=10, codec=codec, pixel_format=pixel_format)
    got = read_frames(path, 2, 3)
    assert got.shape == (3, 48, 64, 3) and got.dtype == torch.uint8
    if pixel_format == "gray":
        assert torch.equal(got[..., 0], got[..., 1]) and torch.equal(got[..., 0], got[..., 2])
        assert got.float().std() > 10  # not a blank frame
    else:  # lossless png: the alpha channel is dropped, the colours are exact
        np.testing.assert_array_equal(got.numpy(), frames[2:5])


def test_probe(videos, tmp_path):
    info = probe_video(videos["h264.mp4"][0])
    assert (info.frames, info.fps, info.width, info.height) == (40, 25.0, 64, 48)
    assert not info.frames_estimated
    mkv = probe_video(videos["h264.mkv"][0])  # mkv stores no frame count: packets counted
    assert mkv.frames_estimated and (mkv.frames, mkv.fps) == (40, 25.0)

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(VideoReadError, match="junk.mp4"):
        probe_video(junk)
    audio = tmp_path / "audio.wav"
    with wave.open(str(audio), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    with pytest.raises(VideoReadError, match="audio.wav.*no video stream"):
        probe_video(audio)
    with pytest.raises(FileNotFoundError):
        probe_video(tmp_path / "missing.mp4")


def test_write_video_odd_size_pads_by_replicating(tmp_path, make_frames, reference_frames):
    frames = make_frames(5, 47, 63)
    path = str(tmp_path / "odd.mp4")
    old_umask = os.umask(0o022)
    try:
        assert write_video(path, torch.from_numpy(frames), fps=25) == "libx264"
    finally:
        os.umask(old_umask)
    assert os.stat(path).st_mode & 0o777 == 0o644  # like open(), not mkstemp's 0600
    back = reference_frames(path).astype(np.int16)
    assert back.shape == (5, 48, 64, 3)  # padded by one row and one column
    assert np.abs(back[:, :47, :63] - frames).mean() < 6  # the picture itself is there
    # The added row / column repeat the last ones (up to coding error).
    assert np.abs(back[:, 47] - back[:, 46]).mean() < 6
    assert np.abs(back[:, :, 63] - back[:, :, 62]).mean() < 6

    exact = str(tmp_path / "odd444.mp4")
    write_video(exact, frames, fps=25, pixel_format="yuv444p")
    assert reference_frames(exact).shape == (5, 47, 63, 3)


@pytest.mark.parametrize("codec,ext", [("mpeg4", "avi"), ("vp9", "webm"), ("mjpeg", "avi"),
                                       ("h264", "mkv")])
def test_write_video_codecs_round_trip(tmp_path, make_frames, reference_frames, codec, ext):
    frames = make_frames(4)
    path = str(tmp_path / f"clip.{ext}")
    write_video(path, frames, fps=12.5, codec=codec, crf=5)
    back = reference_frames(path)
    assert back.shape == frames.shape
    assert np.abs(back.astype(np.int16) - frames).mean() < 8
    assert abs(probe_video(path).fps - 12.5) < 1e-6


def test_write_video_failures_leave_no_file(tmp_path, make_frames):
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        write_video(tmp_path / "a.mp4", make_frames(3)[..., :2], fps=25)
    with pytest.raises(TypeError, match="uint8"):
        write_video(tmp_path / "a.mp4", make_frames(3).astype(np.float32), fps=25)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "a.mp4", make_frames(3), fps=0)
    assert os.listdir(tmp_path) == []

    # A failure while encoding (here an option the encoder rejects), after the temporary file
    # exists: it is removed, and an existing file under the target name is left untouched.
    target = tmp_path / "b.mp4"
    target.write_bytes(b"old contents")
    with pytest.raises(ValueError, match="b.mp4.*no-such-preset"):
        write_video(target, make_frames(3), fps=25, options={"preset": "no-such-preset"})
    assert sorted(os.listdir(tmp_path)) == ["b.mp4"]
    assert target.read_bytes() == b"old contents"


def test_find_videos(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ("z.mp4", "a.AVI", "b/deep/c.webm", "b/notes.txt", "b/.partial.mp4",
                 ".hidden/x.mp4", "b/d.mkv"):
        (tmp_path / name).write_bytes(b"")
    found = find_videos(tmp_path)
    rel = [os.path.relpath(p, tmp_path) for p in found]
    assert rel == ["a.AVI", "b/d.mkv", "b/deep/c.webm", "z.mp4"]
    # Files named directly are taken whatever their extension; duplicates dropped.
    direct = find_videos([tmp_path / "b" / "notes.txt", tmp_path / "b", tmp_path / "b" / "d.mkv"])
    assert [os.path.relpath(p, tmp_path) for p in direct] == ["b/notes.txt", "b/d.mkv",
                                                               "b/deep/c.webm"]
    assert find_videos(tmp_path, extensions=["webm"]) == [str(tmp_path / "b/deep/c.webm")]
    assert ".mp4" in VIDEO_EXTENSIONS and all(e == e.lower() for e in VIDEO_EXTENSIONS)

    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_videos([tmp_path, tmp_path / "nowhere"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"empty.*\.mp4"):
        find_videos(empty)
