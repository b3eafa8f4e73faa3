"""bootvid.data.VideoFolderDataset: random clips from files, robust to bad files."""

from __future__ import annotations

import pickle
import shutil
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

pytest.importorskip("av")

from bootvid.data import VideoFolderDataset, folder, probe_video  # noqa: E402


@pytest.fixture(scope="module")
def good_dir(tmp_path_factory, make_video_file):
    """Two usable 40-frame videos (h264 mp4 and mpeg4 avi)."""
    d = tmp_path_factory.mktemp("good")
    make_video_file(d / "a.mp4", codec="libx264")
    (d / "sub").mkdir()
    make_video_file(d / "sub" / "b.avi", codec="mpeg4")
    (d / "notes.txt").write_text("not a video")
    return d


@pytest.fixture
def mixed_dir(tmp_path, good_dir, make_video_file):
    """The good videos plus a corrupt file and a too-short video."""
    shutil.copytree(good_dir, tmp_path, dirs_exist_ok=True)
    (tmp_path / "corrupt.mp4").write_bytes(
        np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes())
    make_video_file(tmp_path / "short.mp4", frames=5)
    return tmp_path


def _quiet(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the good folder gives no warning at all
        return VideoFolderDataset(**kwargs)


def test_items_have_the_clip_shape(good_dir):
    ds = _quiet(paths=good_dir, frames=8, size=32, length=10)
    assert len(ds) == 10 and len(ds.videos) == 2 and ds.skipped == []
    assert [v.path.rsplit("/", 1)[-1] for v in ds.videos] == ["a.mp4", "b.avi"]
    for i in (0, 1, 57):
        x = ds[i]
        assert x.shape == (3, 8, 32, 32) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1 and x.std() > 0.05
    assert "2 videos" in repr(ds) and "0 skipped" in repr(ds)


def test_same_seed_and_index_same_clip(good_dir):
    a = _quiet(paths=[good_dir], frames=6, size=24, seed=5)
    b = _quiet(paths=[good_dir], frames=6, size=24, seed=5)
    torch.manual_seed(0)
    first = a[3]
    torch.manual_seed(1)
    assert torch.equal(first, b[3])
    assert torch.equal(first, pickle.loads(pickle.dumps(a))[3])
    assert not torch.equal(a[3], a[5])  # same video (3 % 2 == 5 % 2), other start / crop
    assert not torch.equal(first, _quiet(paths=[good_dir], frames=6, size=24, seed=6)[3])


def test_frame_stride(good_dir):
    # The test videos' blue level rises by 6 per frame (see conftest.moving_frames): with
    # stride 3 a clip's blue mean rises by 18 / 127.5 per clip frame.
    ds = _quiet(paths=good_dir, frames=5, size=16, frame_stride=3, scale_range=(1.0, 1.0),
                hflip=False)
    assert ds.frames_needed == 13
    for i in range(4):
        blue = ds[i][2].mean(dim=(1, 2))
        np.testing.assert_allclose(blue.diff().numpy(), 18 / 127.5, atol=0.02)


def test_random_flip_and_scale_vary_between_items(good_dir):
    # One video, one start (frames=40 uses the whole video): items differ only by crop/flip.
    ds = _quiet(paths=good_dir / "a.mp4", frames=40, size=32, scale_range=(1.0, 1.4))
    items = [ds[i] for i in range(8)]
    assert len({round(x.sum().item(), 3) for x in items}) == 8
    # Red rises to the right in the test video unless the clip was mirrored.
    rising = {bool(x[0, 0, :, -4:].mean() > x[0, 0, :, :4].mean()) for x in items}
    assert rising == {True, False}
    plain = _quiet(paths=good_dir / "a.mp4", frames=40, size=32, hflip=False)
    assert all(plain[i][0, 0, :, -4:].mean() > plain[i][0, 0, :, :4].mean() for i in range(8))


def test_unusable_files_are_skipped_with_one_warning_each(mixed_dir):
    with pytest.warns(UserWarning) as record:
        ds = VideoFolderDataset(mixed_dir, frames=8, size=16)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2, messages
    assert any("corrupt.mp4" in m for m in messages)
    assert any("short.mp4" in m and "has 5 frames" in m and "8" in m for m in messages)
    assert sorted(p.rsplit("/", 1)[-1] for p, _ in ds.skipped) == ["corrupt.mp4", "short.mp4"]
    assert len(ds.videos) == 2 and "2 skipped" in repr(ds)
    assert ds[0].shape == (3, 8, 16, 16)


def test_only_unusable_files_is_a_clear_error(tmp_path, make_video_file):
    (tmp_path / "corrupt.avi").write_bytes(b"RIFF" + bytes(300))
    make_video_file(tmp_path / "short.mp4", frames=5)
    with pytest.warns(UserWarning), \
            pytest.raises(ValueError, match=r"none of the 2 video files.*needs 9 frames") as e:
        VideoFolderDataset(tmp_path, frames=5, size=16, frame_stride=2)
    assert "short.mp4" in str(e.value) and str(tmp_path) in str(e.value)


def test_file_broken_after_construction_falls_through(tmp_path, good_dir):
    shutil.copytree(good_dir, tmp_path, dirs_exist_ok=True)
    ds = _quiet(paths=tmp_path, frames=8, size=16)
    broken = tmp_path / "a.mp4"  # video 0: even indices
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 3])
    with pytest.warns(UserWarning, match="a.mp4") as record:
        x = ds[0]
    assert len(record) == 1 and x.shape == (3, 8, 16, 16)
    assert [p.rsplit("/", 1)[-1] for p, _ in ds.skipped] == ["a.mp4"]
    assert "1 videos" in repr(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning, the file is not tried again
        assert ds[2].shape == (3, 8, 16, 16)
    assert len(ds.skipped) == 1
    # A process that never saw the file work gives the same item (same fall-through stream).
    fresh = pickle.loads(pickle.dumps(ds))
    fresh._bad.clear()
    fresh._warned.clear()
    with pytest.warns(UserWarning):
        assert torch.equal(fresh[4], ds[4])

    (tmp_path / "sub" / "b.avi").unlink()
    with pytest.warns(UserWarning, match="b.avi"), pytest.raises(RuntimeError, match="all 2"):
        ds[1]


def test_wrong_header_frame_count_is_corrected(good_dir, monkeypatch):
    # A header that claims more frames than the file decodes to (an estimated count, or an
    # avi with dropped frames): clips still come from inside the real 40 frames.
    def inflated(path, **kwargs):
        info = probe_video(path, **kwargs)
        return info.__class__(**{**info.__dict__, "frames": 100})

    monkeypatch.setattr(folder, "probe_video", inflated)
    ds = _quiet(paths=good_dir / "a.mp4", frames=8, size=16, scale_range=(1.0, 1.0),
                hflip=False)
    assert ds.videos[0].frames == 100
    ds[0], ds[1], ds[2]
    assert ds._frames_seen == {0: 40}
    items = [ds[i] for i in range(12)]  # all made knowing the real count
    # The blue level tells the frames (6 per frame): the clip's first frame.
    starts = [round(((x[2].mean().item() + 1) * 127.5) / 6 - 3.5) for x in items]
    assert 0 <= min(starts) and max(starts) <= 32
    # Spread over the real range, not piled up at the last start (as clamping would).
    assert len(set(starts)) > 5 and starts.count(32) <= 3
    # Items do not depend on whether the process had already learned the real count.
    for i in range(12):
        fresh = _quiet(paths=good_dir / "a.mp4", frames=8, size=16, scale_range=(1.0, 1.0),
                       hflip=False)
        assert torch.equal(fresh[i], items[i]), i


def test_dataloader_with_workers(good_dir):
    ds = _quiet(paths=good_dir, frames=4, size=16, length=6)
    loader = DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context="fork")
    got = torch.cat(list(loader))
    assert torch.equal(got, torch.stack([ds[i] for i in range(6)]))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(frames=0), ValueError, "frames"), (dict(size=0), ValueError, "size"),
    (dict(frame_stride=0), ValueError, "frame_stride"),
    (dict(scale_range=(0.9, 1.0)), ValueError, "scale_range"),
    (dict(paths="/no/such/dir"), FileNotFoundError, "/no/such/dir")])
def test_bad_arguments(good_dir, kwargs, error, match):
    args = dict(paths=good_dir, frames=4, size=8) | kwargs
    with pytest.raises(error, match=match):
        VideoFolderDataset(**args)


def test_with_frames_gives_a_copy_with_its_own_clip_length_and_records(tmp_path, make_video_file):
    import warnings

    from bootvid.data import VideoFolderDataset

    make_video_file(tmp_path / "a.mp4", frames=20)
    clips = VideoFolderDataset(tmp_path, frames=9, size=16, frame_stride=2)
    images = clips.with_frames(1)
    assert (clips.frames, clips.frames_needed) == (9, 17)
    assert (images.frames, images.frames_needed) == (1, 1)
    assert images[5].shape == (3, 1, 16, 16) and clips[5].shape == (3, 9, 16, 16)
    images._bad.add(0)  # a failure the copy met is not the original's
    assert clips._bad == set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert clips[6].shape == (3, 9, 16, 16)
