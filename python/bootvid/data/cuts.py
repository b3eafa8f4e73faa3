"""Hard cuts between shots, found by a small detector of our own.

Each frame is reduced to a 32x32 thumbnail (area average, so noise, grain and small motion
average out); the score of frame ``t`` is the mean absolute difference of its thumbnail from
frame ``t - 1``'s, in 8-bit RGB units. Frame ``t`` starts a new shot when its score is both
above ``threshold`` (an absolute floor: a cut changes the picture) and ``ratio`` times the
median score of the frames before it in its shot (an outlier: fast motion raises every score,
a cut raises one), at least ``min_shot`` frames after the previous cut (so a flash of a few
frames makes at most one cut, not two). The file is decoded once for detection, before
encoding. Like
PySceneDetect's adaptive detector, without its dependencies; measured in docs/results.md.
Dissolves and fades are not hard cuts and are not found.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from collections.abc import Iterator

import torch
import torch.nn.functional as F

THUMBNAIL = 32


class CutDetector:
    """Online: :meth:`push` uint8 chunks ``(n, H, W, 3)`` in order; it returns the indices (in
    the whole video) of the frames in them that start a new shot. ``scores`` keeps every
    frame's score (the first frame's is 0)."""

    def __init__(self, threshold: float = 20.0, ratio: float = 4.0, min_shot: int = 4,
                 window: int = 24) -> None:
        self.threshold, self.ratio, self.min_shot, self.window = threshold, ratio, min_shot, window
        self.scores: list[float] = []
        self.cuts: list[int] = []
        self._prev: torch.Tensor | None = None
        self._recent: list[float] = []

    @staticmethod
    def thumbnails(frames: torch.Tensor) -> torch.Tensor:
        # a few frames at a time: a 4K chunk in float would take gigabytes
        return torch.cat([F.adaptive_avg_pool2d(f.permute(0, 3, 1, 2).float(), THUMBNAIL)
                          for f in frames.split(4)])

    def push(self, frames: torch.Tensor) -> list[int]:
        found = []
        for thumb in self.thumbnails(frames):
            t = len(self.scores)
            score = 0.0 if self._prev is None else float((thumb - self._prev).abs().mean())
            self._prev = thumb
            self.scores.append(score)
            if t == 0:
                continue
            since = t - (self.cuts[-1] if self.cuts else 0)
            typical = (sorted(self._recent)[len(self._recent) // 2] if self._recent else 0.0)
            if (score > self.threshold and score > self.ratio * typical
                    and since >= self.min_shot):
                self.cuts.append(t)
                found.append(t)
                self._recent = []  # a new shot: its own motion level
                continue
            self._recent = (self._recent + [score])[-self.window:]
        return found


def detect_cuts(video: str | os.PathLike | torch.Tensor | Iterable[torch.Tensor],
                max_frames: int | None = None, **settings) -> list[int]:
    """Frame indices where a new shot starts, in a video file (decoded once, chunk by chunk),
    uint8 frames ``(T, H, W, 3)`` or an iterable of such chunks. ``settings``: see
    :class:`CutDetector`."""
    det = CutDetector(**settings)
    if isinstance(video, torch.Tensor):
        chunks: Iterable[torch.Tensor] = [video[:max_frames] if max_frames else video]
    elif isinstance(video, (str, os.PathLike)):
        from .video_io import iter_frames

        chunks = iter_frames(video, 64, max_frames)
    else:
        chunks = video
    for c in chunks:
        det.push(c)
    return det.cuts


def by_shot(chunks: Iterable[torch.Tensor], cuts: list[int]
            ) -> Iterator[tuple[int, torch.Tensor]]:
    """``(shot, frames)``: the chunks split where a new shot starts."""
    t = 0
    for chunk in chunks:
        i = 0
        while i < len(chunk):
            shot = sum(c <= t for c in cuts)
            stop = len(chunk) if shot == len(cuts) else min(len(chunk), i + cuts[shot] - t)
            yield shot, chunk[i:stop]
            t += stop - i
            i = stop
