"""Random clips from a collection of video files, for training.

Files are found and probed (headers only) once, at construction; unusable ones are skipped
with a warning rather than failing the run, and so are files that break later, while
training (a corrupt stretch, a file removed from a network share): the item falls through to
the next video, so an epoch does not crash on one bad file.
"""

from __future__ import annotations

import os
from typing import Iterable

import torch

from ._base import EndlessClipDataset, FileSkips
from ._checks import integer, positive_int
from .seeding import item_generator
from .transforms import random_resized_crop
from .video_io import VIDEO_EXTENSIONS, VideoInfo, VideoReadError, find_videos, probe_video, \
    read_frames


_OWNER = "VideoFolderDataset"


class VideoFolderDataset(FileSkips, EndlessClipDataset):
    """Clips ``(3, frames, size, size)`` float32 in [-1, 1] cut at random from video files.

    ``paths``: video files and/or folders (searched recursively for ``extensions``). A clip is
    ``frames`` frames taken every ``frame_stride``-th frame, so a video needs at least
    ``1 + (frames - 1) * frame_stride`` frames; then ``random_resized_crop`` to ``size`` with
    ``scale_range`` and (if ``hflip``) random horizontal flips.

    Item ``i`` is video ``i % len(videos)`` at a random start and crop, a deterministic
    function of ``(seed, i)`` (and the files): the same in every DataLoader worker and run.
    ``len()`` is ``length``, the epoch size a sampler sees; any index >= 0 works.

    Files that cannot be opened or are too short are left out at construction, with one
    warning each, and listed in ``skipped`` as ``(path, reason)``. A file that fails to
    decode later is warned about once, listed in ``skipped`` and never read again, and the
    item falls through to the next usable video (drawn from its own random stream, so the
    item is the same wherever it is computed, as long as the file fails for every clip; one
    that fails only in places gives different items before and after it is found out). A
    header that over-counts the frames is corrected from the decoder, keeping the starts that
    fit, so such items do not change either. With DataLoader workers this happens in
    each worker's copy of the dataset: the main process's ``skipped`` only lists what it saw
    itself. The dataset is plain data (no open files) and pickles for spawned workers.
    """

    def __init__(self, paths: str | os.PathLike | Iterable[str | os.PathLike], frames: int,
                 size: int, frame_stride: int = 1, length: int = 100_000, seed: int = 0,
                 scale_range: tuple[float, float] = (1.0, 1.25), hflip: bool = True,
                 extensions: Iterable[str] = VIDEO_EXTENSIONS):
        self.frames = positive_int(_OWNER, "frames", frames)
        self.size = positive_int(_OWNER, "size", size)
        self.frame_stride = positive_int(_OWNER, "frame_stride", frame_stride)
        self.length = positive_int(_OWNER, "length", length)
        self.seed = integer(_OWNER, "seed", seed)
        lo, hi = (float(v) for v in scale_range)
        if not 1.0 <= lo <= hi:
            raise ValueError(f"VideoFolderDataset: scale_range must be (low, high) with "
                             f"1 <= low <= high, got {tuple(scale_range)}")
        self.scale_range = (lo, hi)
        self.hflip = bool(hflip)
        self.frames_needed = 1 + (self.frames - 1) * self.frame_stride

        self.paths = ([os.fspath(paths)] if isinstance(paths, (str, os.PathLike))
                      else [os.fspath(p) for p in paths])
        files = find_videos(self.paths, extensions)
        self.videos: list[VideoInfo] = []
        self._init_skips()  # (_bad: indices into self.videos that failed at run time)
        self._frames_seen: dict[int, int] = {}  # frame counts learned by decoding
        for path in files:
            try:
                # Counts and rates only: the frames are turned upright when read.
                info = probe_video(path, orientation=False)
            except (VideoReadError, OSError) as e:
                self._skip(path, str(e))
                continue
            if info.frames < self.frames_needed:
                self._skip(path, f"has {info.frames} frames, fewer than the "
                                 f"{self.frames_needed} a clip needs ({self._clip_spec()})")
                continue
            self.videos.append(info)
        if not self.videos:
            raise self._none_usable(len(files), "video files",
                                    f"; a clip needs {self.frames_needed} frames "
                                    f"({self._clip_spec()})")

    def _frames_changed(self) -> None:
        self.frames_needed = 1 + (self.frames - 1) * self.frame_stride
        # Per-copy records (a shorter clip may still fit a video the other copy found short).
        self._frames_seen = dict(self._frames_seen)
        self._copy_skips()

    def _clip_spec(self) -> str:
        return f"frames={self.frames}, frame_stride={self.frame_stride}"

    def __repr__(self) -> str:
        return (f"VideoFolderDataset({len(self.videos) - len(self._bad)} videos, "
                f"{len(self.skipped)} skipped, frames={self.frames}, size={self.size}, "
                f"frame_stride={self.frame_stride}, length={self.length}, seed={self.seed})")

    def __getitem__(self, index: int) -> torch.Tensor:
        i = self._item_index(index)
        n = len(self.videos)
        for k in range(n):
            v = (i + k) % n
            if v in self._bad:
                continue
            # Stream k: a fall-through draws the same numbers whether or not this process
            # already knew the earlier videos were bad.
            g = item_generator(self.seed, i, k)
            try:
                clip = self._read_clip(v, g)
            except (VideoReadError, OSError) as e:
                self._bad.add(v)
                self._skip(self.videos[v].path, f"failed while training: {e}")
                continue
            return random_resized_crop(clip, self.size, self.scale_range, self.hflip, g)
        raise RuntimeError(f"VideoFolderDataset: all {n} videos failed to decode; the last "
                           f"reasons: {self.skipped[-3:]}")

    def _read_clip(self, v: int, g: torch.Generator) -> torch.Tensor:
        info, needed = self.videos[v], self.frames_needed
        start = int(torch.randint(0, info.frames - needed + 1, (), generator=g))
        seen = self._frames_seen.get(v)
        if seen is not None:
            start = self._fit(start, seen)
        try:
            return read_frames(info.path, start, self.frames, self.frame_stride)
        except VideoReadError as e:
            # The header over-counted (an estimated count, an avi with dropped frames): retry
            # once within the length decoding found.
            available = e.frames_available
            if seen is not None or available is None or available < needed:
                raise
            self._frames_seen[v] = available
            return read_frames(info.path, self._fit(start, available), self.frames,
                               self.frame_stride)

    def _fit(self, start: int, frames: int) -> int:
        """Wrap a start drawn for the probed frame count into a video of ``frames`` frames.

        Starts that fit are kept, so an item is the same whether or not this process has
        learned the real count yet; wrapping keeps the starts close to uniform."""
        return start % (frames - self.frames_needed + 1)
