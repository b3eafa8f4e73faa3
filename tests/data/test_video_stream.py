"""bootvid.data.video_io streaming: iter_frames (chunked decoding) and VideoWriter (chunked,
atomic encoding)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from bootvid.data import (VideoReadError, VideoWriter, iter_frames, read_frames,  # noqa: E402
                          write_video)
from bootvid.data import video_io  # noqa: E402


@pytest.fixture(scope="module")
def videos(tmp_path_factory, make_video_file):
    """40-frame 48x64 files, keyframe every 8 frames."""
    d = tmp_path_factory.mktemp("stream")
    return {name: make_video_file(d / name, codec=codec, gop_size=8)
            for name, codec in (("h264.mp4", "libx264"), ("mpeg4.avi", "mpeg4"))}


def sizes(chunks) -> list[int]:
    return [len(c) for c in chunks]


@pytest.mark.parametrize("name", ["h264.mp4", "mpeg4.avi"])
def test_iter_frames_chunks_equal_read_frames(videos, reference_frames, name):
    path = videos[name]
    ref = read_frames(path, 0, 40).numpy()
    np.testing.assert_array_equal(ref, reference_frames(path))
    for chunk_frames, expected in ((16, [16, 16, 8]), (7, [7] * 5 + [5]), (40, [40]),
                                   (100, [40]), (1, [1] * 40)):
        chunks = list(iter_frames(path, chunk_frames=chunk_frames))
        assert sizes(chunks) == expected, chunk_frames
        assert all(c.dtype == torch.uint8 and c.shape[1:] == (48, 64, 3) for c in chunks)
        np.testing.assert_array_equal(torch.cat(chunks).numpy(), ref, err_msg=str(chunk_frames))


@pytest.mark.parametrize("name", ["h264.mp4", "mpeg4.avi"])
def test_iter_frames_max_frames(videos, name):
    path = videos[name]
    ref = read_frames(path, 0, 40).numpy()
    for chunk_frames, max_frames, expected in ((4, 10, [4, 4, 2]), (16, 16, [16]),
                                               (16, 17, [16, 1]), (16, 100, [16, 16, 8]),
                                               (8, 1, [1])):
        chunks = list(iter_frames(path, chunk_frames, max_frames=max_frames))
        assert sizes(chunks) == expected, (chunk_frames, max_frames)
        np.testing.assert_array_equal(torch.cat(chunks).numpy(), ref[:sum(expected)])


def test_iter_frames_decodes_one_chunk_at_a_time(videos, monkeypatch):
    decoded = []
    to_rgb = video_io._to_rgb
    monkeypatch.setattr(video_io, "_to_rgb",
                        lambda frame, *turn: decoded.append(1) or to_rgb(frame, *turn))
    it = iter_frames(videos["h264.mp4"], chunk_frames=5)
    assert decoded == []  # nothing decoded before the first chunk is asked for
    first = next(it)
    assert len(first) == 5 and len(decoded) == 5
    second = next(it)
    assert len(decoded) == 10
    assert first.data_ptr() != second.data_ptr()  # each chunk is its own tensor
    it.close()  # leaving early is fine


def test_iter_frames_errors(videos, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(VideoReadError, match="junk.mp4"):
        iter_frames(junk)  # raised on the call, before any iteration
    with pytest.raises(FileNotFoundError):
        iter_frames(tmp_path / "missing.mp4")
    for bad in (dict(chunk_frames=0), dict(chunk_frames=2.0), dict(chunk_frames=True),
                dict(max_frames=0), dict(max_frames=-3)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            iter_frames(videos["h264.mp4"], **bad)


def decode(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def write_in_pieces(writer: VideoWriter, frames: np.ndarray) -> None:
    """Chunks of uneven sizes, as tensors and arrays, single frames and an empty chunk."""
    writer.write(torch.from_numpy(frames[:3]))
    writer.write(frames[3])  # one (H, W, 3) frame
    writer.write(frames[4:4])  # nothing
    writer.write(frames[4:9])
    writer.write(torch.from_numpy(frames[9]))
    writer.write(frames[10:])


def test_video_writer_equals_write_video_lossless(tmp_path, make_frames):
    # Odd size: both pad it the same way; ffv1 is lossless, so the decoded frames are equal.
    frames = make_frames(12, 47, 63)
    whole, pieces = tmp_path / "whole.mkv", tmp_path / "pieces.mkv"
    assert write_video(whole, frames, fps=25, codec="ffv1") == "ffv1"
    with VideoWriter(pieces, fps=25, codec="ffv1") as writer:
        write_in_pieces(writer, frames)
        assert writer.frames_written == 12 and writer.codec == "ffv1"
    a, b = decode(whole), decode(pieces)
    assert a.shape == (12, 48, 64, 3)
    np.testing.assert_array_equal(a, b)
    assert sorted(os.listdir(tmp_path)) == ["pieces.mkv", "whole.mkv"]  # no temporary file

    exact = tmp_path / "exact.mkv"  # a chroma format without subsampling: exact frames back
    with VideoWriter(exact, fps=25, codec="ffv1", pixel_format="bgr0") as writer:
        write_in_pieces(writer, frames)
    np.testing.assert_array_equal(decode(exact), frames)


def test_video_writer_equals_write_video_h264(tmp_path, make_frames):
    frames = make_frames(20)
    whole, pieces = tmp_path / "whole.mp4", tmp_path / "pieces.mp4"
    write_video(whole, frames, fps=25, gop_size=8)
    with VideoWriter(pieces, fps=25, codec="h264", gop_size=8) as writer:
        for start in range(0, 20, 6):
            writer.write(torch.from_numpy(frames[start:start + 6]))
    assert writer.codec == "libx264" and writer.frames_written == 20
    a, b = decode(whole).astype(np.int16), decode(pieces).astype(np.int16)
    assert a.shape == b.shape == (20, 48, 64, 3)
    assert np.abs(a - b).mean() < 0.5
    assert np.abs(b - frames).mean() < 6


def test_video_writer_file_mode_and_replacing(tmp_path, make_frames):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"old contents")
    old_umask = os.umask(0o022)
    try:
        with VideoWriter(target, fps=25) as writer:
            writer.write(make_frames(3))
            assert target.read_bytes() == b"old contents"  # replaced only on close
            assert len(os.listdir(tmp_path)) == 2  # the hidden temporary file
    finally:
        os.umask(old_umask)
    assert os.stat(target).st_mode & 0o777 == 0o644
    assert decode(target).shape == (3, 48, 64, 3)
    assert os.listdir(tmp_path) == ["out.mp4"]
    writer.close()  # a second close does nothing


def test_exception_or_abort_leaves_no_file(tmp_path, make_frames):
    with pytest.raises(RuntimeError, match="stop"):
        with VideoWriter(tmp_path / "a.mp4", fps=25) as writer:
            writer.write(make_frames(4))
            raise RuntimeError("stop")
    assert os.listdir(tmp_path) == []

    writer = VideoWriter(tmp_path / "b.mkv", fps=25, codec="ffv1")
    writer.write(make_frames(4))
    writer.abort()
    assert os.listdir(tmp_path) == []
    writer.close()  # nothing to do after abort
    with pytest.raises(ValueError, match="closed"):
        writer.write(make_frames(1))
    assert os.listdir(tmp_path) == []


def test_existing_target_survives_failed_writes(tmp_path, make_frames):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"old contents")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(target, fps=25) as writer:
            writer.write(make_frames(4))
            raise KeyboardInterrupt
    # An encoder failure (an option it rejects) aborts the writer and names the file.
    with pytest.raises(ValueError, match="keep.mp4.*no-such-preset"):
        with VideoWriter(target, fps=25, options={"preset": "no-such-preset"}) as writer:
            writer.write(make_frames(2))
    assert os.listdir(tmp_path) == ["keep.mp4"]
    assert target.read_bytes() == b"old contents"


def test_frame_size_change(tmp_path, make_frames):
    writer = VideoWriter(tmp_path / "a.mkv", fps=25, codec="ffv1")
    writer.write(make_frames(2, 48, 64))
    with pytest.raises(ValueError, match=r"60x40 \(width x height\).*64x48"):
        writer.write(make_frames(2, 40, 60))
    with pytest.raises(ValueError, match=r"62x48.*64x48"):
        writer.write(make_frames(1, 48, 62)[0])
    with pytest.raises(ValueError, match=r"64x40.*64x48"):
        writer.write(make_frames(0, 40, 64))  # even an empty chunk must have the size
    writer.write(make_frames(1, 48, 64))  # the writer is still usable
    writer.close()
    assert decode(tmp_path / "a.mkv").shape == (3, 48, 64, 3)


def test_bad_frames_and_arguments(tmp_path, make_frames):
    with VideoWriter(tmp_path / "a.mkv", fps=25, codec="ffv1") as writer:
        with pytest.raises(ValueError, match=r"\(T, H, W, 3\) or \(H, W, 3\)"):
            writer.write(make_frames(2)[..., :2])
        with pytest.raises(TypeError, match="uint8"):
            writer.write(make_frames(2).astype(np.float32))
        writer.write(make_frames(1))
    for bad in (dict(fps=0), dict(fps=float("nan")), dict(codec="no-such-codec"),
                dict(codec="mpeg4", crf=40), dict(codec="ffv1", crf=3),
                dict(codec="mpeg4", pixel_format="gbrp16le")):
        with pytest.raises(ValueError):
            VideoWriter(tmp_path / "b.mp4", **(dict(fps=25) | bad))
    assert os.listdir(tmp_path) == ["a.mkv"]


def test_zero_frames(tmp_path):
    writer = VideoWriter(tmp_path / "empty.mp4", fps=25)
    with pytest.raises(ValueError, match="no frames written"):
        writer.close()
    with pytest.raises(ValueError, match="no frames written"):
        with VideoWriter(tmp_path / "empty.mp4", fps=25):
            pass
    assert os.listdir(tmp_path) == []


def test_streaming_copy(videos, tmp_path):
    # The reconstruct pattern: decode in chunks, write in chunks, constant memory.
    src, dst = videos["mpeg4.avi"], tmp_path / "copy.mkv"
    with VideoWriter(dst, fps=25, codec="ffv1", pixel_format="bgr0") as writer:
        for chunk in iter_frames(src, chunk_frames=6):
            writer.write(chunk)
    np.testing.assert_array_equal(decode(dst), read_frames(src, 0, 40).numpy())
