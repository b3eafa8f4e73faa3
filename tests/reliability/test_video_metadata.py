"""Files whose frames are not to be taken as stored: rotation / mirror metadata (phones record
portrait video as landscape frames plus a display matrix) and variable frame rates."""

from __future__ import annotations

import numpy as np
import pytest

av = pytest.importorskip("av")

from helpers import moving_frames  # noqa: E402
from odd_videos import write_variable_rate, write_with_display_matrix  # noqa: E402

from bootvid.data import iter_frames, probe_video, read_frames  # noqa: E402

H, W, T = 32, 48, 12


def oriented_frames() -> np.ndarray:
    """Frames whose every orientation differs: coloured quadrants of unequal size and a level
    that rises with the frame index."""
    out = np.zeros((T, H, W, 3), np.uint8)
    out[:, :12, :20] = (230, 30, 30)      # top left: red
    out[:, :12, 20:] = (30, 230, 30)      # top right: green
    out[:, 12:, :20] = (30, 30, 230)      # bottom left: blue
    out[:, 12:, 20:] = (230, 230, 30)     # bottom right: yellow
    out[..., 2] += (np.arange(T) * 2).astype(np.uint8).reshape(-1, 1, 1)
    return out


def _close(a, b) -> bool:
    return a.shape == b.shape and float(np.abs(a.astype(int) - b.astype(int)).mean()) < 3


# (degrees counterclockwise, hflip, vflip) -> the frames as a player shows them.
ORIENTATIONS = [
    ((0, False, False), lambda f: f),
    ((90, False, False), lambda f: np.rot90(f, 1, axes=(1, 2))),
    ((180, False, False), lambda f: f[:, ::-1, ::-1]),
    ((-90, False, False), lambda f: np.rot90(f, -1, axes=(1, 2))),  # an iPhone portrait clip
    ((0, True, False), lambda f: f[:, :, ::-1]),
    ((0, False, True), lambda f: f[:, ::-1]),
    ((90, True, False), lambda f: np.rot90(f, 1, axes=(1, 2))[:, :, ::-1]),
    ((-90, True, False), lambda f: np.rot90(f, -1, axes=(1, 2))[:, :, ::-1]),
]


@pytest.mark.parametrize("orientation,shown", ORIENTATIONS,
                         ids=[f"rot{o[0]}{'-h' if o[1] else ''}{'-v' if o[2] else ''}"
                              for o, _ in ORIENTATIONS])
def test_frames_come_out_upright(tmp_path, orientation, shown):
    frames = oriented_frames()
    path = write_with_display_matrix(tmp_path / "clip.mp4", frames, *orientation)
    want = np.ascontiguousarray(shown(frames))
    info = probe_video(path)
    assert (info.height, info.width) == want.shape[1:3]
    degrees, hflip, vflip = orientation
    if not vflip:  # (a vertical flip reads as a half turn and a mirror: the next test)
        assert (info.rotation, info.mirrored) == (degrees % 360, hflip)
    whole = read_frames(path, 0, T).numpy()
    assert _close(whole, want)
    # Seeking (start > 0) and streaming give the same upright frames.
    assert _close(read_frames(path, 5, 4, stride=2).numpy(), want[5:12:2])
    assert _close(np.concatenate([c.numpy() for c in iter_frames(path, chunk_frames=5)]), want)
    # The test can fail: the stored frames differ from the shown ones unless nothing is set.
    if orientation != (0, False, False):
        assert not _close(whole, frames) or whole.shape != frames.shape


def test_a_vertical_flip_is_a_half_turn_and_a_mirror(tmp_path):
    frames = oriented_frames()
    path = write_with_display_matrix(tmp_path / "v.mp4", frames, 0, vflip=True)
    info = probe_video(path)
    assert (info.rotation, info.mirrored) == (180, True)


def test_rotated_video_through_the_dataset(tmp_path):
    from bootvid.data import VideoFolderDataset

    write_with_display_matrix(tmp_path / "portrait.mp4", oriented_frames(), -90)
    ds = VideoFolderDataset(tmp_path, frames=5, size=16, scale_range=(1.0, 1.0), hflip=False)
    clip = ds[0]
    assert clip.shape[-2:] == (16, 16) and clip.shape[1] == 5


# ---- variable frame rate ---------------------------------------------------------------------

def _decode_all(path) -> np.ndarray:
    """The reference: every frame, decoded from the beginning with plain PyAV."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_variable_frame_rate_gives_every_frame_in_order(tmp_path, ext):
    frames = moving_frames(30, 32, 48).numpy()
    gaps = [33 if i % 3 else 100 for i in range(30)]  # bursts and pauses, like a phone capture
    path = write_variable_rate(tmp_path / f"vfr{ext}", frames, gaps)
    ref = _decode_all(path)
    assert len(ref) == 30  # every frame is kept: nothing is dropped or duplicated
    info = probe_video(path)
    seconds = (sum(gaps[:-1]) + gaps[-2]) / 1000  # the last frame lasts as long as the one before
    assert info.frames == 30 and info.fps == pytest.approx(30 / seconds, rel=0.05)  # average
    # Timestamps do not name frame indices here: reads count frames instead of seeking.
    for start, count, stride in ((0, 30, 1), (7, 5, 3), (29, 1, 1), (13, 8, 2)):
        got = read_frames(path, start, count, stride).numpy()
        np.testing.assert_array_equal(got, ref[start:start + (count - 1) * stride + 1:stride])
    np.testing.assert_array_equal(
        np.concatenate([c.numpy() for c in iter_frames(path, chunk_frames=7)]), ref)


def test_an_odd_angle_is_rounded_to_a_quarter_turn_with_a_warning(tmp_path):
    frames = oriented_frames()
    path = write_with_display_matrix(tmp_path / "tilted.mp4", frames, 80)
    with pytest.warns(UserWarning, match=r"rotates by 80.0 degrees; frames are turned by 90"):
        info = probe_video(path)
    assert info.rotation == 90 and (info.height, info.width) == (W, H)
    assert read_frames(path, 0, 2).shape == (2, W, H, 3)


def test_the_rate_of_an_mkv_ignores_a_longer_audio_track(tmp_path):
    """mkv stores no frame count and often no video duration: the rate comes from the video
    packets' time span, not from the container's duration (which the audio can extend)."""
    frames = moving_frames(40, 32, 48).numpy()
    path = str(tmp_path / "with_audio.mkv")
    c = av.open(path, "w")
    v = c.add_stream("libx264", rate=25)
    v.width, v.height, v.pix_fmt = 48, 32, "yuv420p"
    a = c.add_stream("pcm_s16le", rate=8000, layout="mono")
    for f in frames:
        for p in v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
            c.mux(p)
    for p in v.encode():
        c.mux(p)
    samples = np.zeros((1, 8000 * 2), np.int16)  # 2 s of audio against 1.6 s of video
    af = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    af.sample_rate, af.pts = 8000, 0
    for p in a.encode(af):
        c.mux(p)
    for p in a.encode():
        c.mux(p)
    c.close()
    with av.open(path) as check:
        assert check.duration / 1e6 > 1.9  # the container's duration is the audio's
    info = probe_video(path)
    assert info.frames_estimated and (info.frames, info.fps) == (40, 25.0)


def test_a_folder_scan_decodes_nothing(tmp_path, monkeypatch):
    """The dataset needs counts and rates only: its scan skips the first-frame decode (the
    frames are turned upright when read), so a big folder is scanned at header speed."""
    from bootvid.data import VideoFolderDataset, video_io

    write_with_display_matrix(tmp_path / "portrait.mp4", oriented_frames(), -90)
    info = probe_video(tmp_path / "portrait.mp4", orientation=False)
    assert (info.height, info.width, info.rotation, info.mirrored) == (H, W, None, None)
    decoded = []
    real = video_io._file_orientation
    monkeypatch.setattr(video_io, "_file_orientation",
                        lambda *a: decoded.append(a[1]) or real(*a))
    ds = VideoFolderDataset(tmp_path, frames=5, size=16, scale_range=(1.0, 1.0), hflip=False)
    assert decoded == []
    assert ds[0].shape[1] == 5 and decoded  # reading the clip decides the orientation
