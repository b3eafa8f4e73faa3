"""Several datasets as one: items drawn from each by weight, and a share of them as images.

Which source an item comes from, and whether it is a single frame, are the two coordinates of
a low-discrepancy sequence of the index: each source's share over any run of n items is within about
1/n of its weight (random draws would be off by ~1/sqrt(n)), items of one batch spread over
the sources, and every item is still a pure function of ``(seed, index)``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ._base import EndlessClipDataset
from ._checks import integer, positive_int
from .seeding import _splitmix64, item_generator

_OWNER = "MixedDataset"
_MIX_STREAM = 0x4D4958  # item_generator stream of the index into the chosen source ("MIX")
# Steps of Roberts' R2 sequence (1/p and 1/p^2, p the plastic number): low-discrepancy as a
# pair, so the source and the image choice do not lock into a common pattern (as golden ratio
# and sqrt 2 steps do: both are near whole numbers every 5 items).
_PLASTIC = 1.324717957244746
_SOURCE_STEP = 1 / _PLASTIC
_IMAGE_STEP = 1 / _PLASTIC**2


class MixedDataset(EndlessClipDataset):
    """Items from ``sources`` (datasets of clips, e.g. :class:`VideoFolderDataset`,
    :class:`StillMotionDataset`, :class:`SyntheticVideoDataset`) in proportion to ``weights``
    (default equal), each item a random item of its source; a share ``image_ratio`` of the
    items are single frames, from the same sources made 1 frame long (``with_frames(1)``):
    images train the spatial path at a fraction of a clip's cost.

    Items therefore differ in length; :func:`bootvid.data.collate_by_length` batches them
    (``DataLoader(mixed, batch_size=8, collate_fn=collate_by_length)``: a list of
    ``(positions, clips)`` groups per batch). Read items in index order (no ``shuffle``): the
    sequences spread sources and images evenly over consecutive items, so batches stay
    balanced; items are random draws from their sources anyway.
    ``names`` label the sources in :meth:`describe` (previews). Item ``i`` is a deterministic
    function of ``(seed, i)`` and the sources' own seeds.
    """

    def __init__(self, sources: Sequence, weights: Sequence[float] | None = None,
                 image_ratio: float = 0.0, names: Sequence[str] | None = None,
                 length: int = 100_000, seed: int = 0) -> None:
        self.sources = list(sources)
        if not self.sources:
            raise ValueError(f"{_OWNER}: no sources given")
        weights = [1.0] * len(self.sources) if weights is None else list(weights)
        if len(weights) != len(self.sources):
            raise ValueError(f"{_OWNER}: {len(weights)} weights for {len(self.sources)} sources")
        for k, w in enumerate(weights):
            try:
                ok = math.isfinite(float(w)) and float(w) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"{_OWNER}: the weight of source {k} must be a number > 0 "
                                 f"(leave a source out instead of weighting it 0), got {w!r}")
        total = float(sum(weights))
        self.weights = [float(w) / total for w in weights]
        self._edges = torch.tensor(self.weights, dtype=torch.float64).cumsum(0).tolist()
        try:
            ok = 0.0 <= float(image_ratio) < 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{_OWNER}: image_ratio is the share of single-frame items, in "
                             f"[0, 1), got {image_ratio!r}")
        self.image_ratio = float(image_ratio)
        self.images = ([s.with_frames(1) for s in self.sources] if self.image_ratio > 0
                       else None)
        self.names = (list(names) if names is not None
                      else [type(s).__name__ for s in self.sources])
        if len(self.names) != len(self.sources):
            raise ValueError(f"{_OWNER}: {len(self.names)} names for {len(self.sources)} sources")
        self.length = positive_int(_OWNER, "length", length)
        self.seed = integer(_OWNER, "seed", seed)
        # Per-seed phases of the two sequences.
        z = _splitmix64(self.seed & ((1 << 64) - 1))
        self._phase = ((z >> 11) / 2.0**53, (_splitmix64(z) >> 11) / 2.0**53)

    def __repr__(self) -> str:
        parts = ", ".join(f"{n} {w:.2f}" for n, w in zip(self.names, self.weights))
        return (f"{_OWNER}({parts}; image_ratio={self.image_ratio}, length={self.length}, "
                f"seed={self.seed})")

    def with_frames(self, frames: int) -> "MixedDataset":
        """The same mix with clips of ``frames`` frames (images stay single frames)."""
        return MixedDataset([s.with_frames(frames) for s in self.sources], self.weights,
                            self.image_ratio, self.names, self.length, self.seed)

    def describe(self, index: int) -> tuple[int, bool]:
        """``(source, is_image)`` of item ``index``."""
        i = self._item_index(index)
        u = (self._phase[0] + i * _SOURCE_STEP) % 1.0
        source = next((k for k, e in enumerate(self._edges) if u < e), len(self._edges) - 1)
        image = self.image_ratio > 0 and (self._phase[1] + i * _IMAGE_STEP) % 1.0 < \
            self.image_ratio
        return source, image

    def item_frames(self, index: int) -> int:
        source, image = self.describe(index)
        return 1 if image else self.sources[source].frames

    def __getitem__(self, index: int) -> torch.Tensor:
        source, image = self.describe(index)
        g = item_generator(self.seed, self._item_index(index), _MIX_STREAM)
        j = int(torch.randint(0, 2**62, (), generator=g))
        return (self.images if image else self.sources)[source][j]


def collate_by_length(items: list) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """DataLoader collate for clips of different lengths (``(3, T, H, W)`` tensors, or
    ``(index, clip)`` pairs): a list of ``(indices, clips)`` groups, one per length, shortest
    first (so the longest clips, the whole model's work, come last). For bare tensors the
    indices are their positions in the batch."""
    groups: dict[int, list] = {}
    for position, item in enumerate(items):
        index, clip = (position, item) if isinstance(item, torch.Tensor) else item
        groups.setdefault(clip.shape[1], []).append((index, clip))
    return [(torch.tensor([i for i, _ in g]), torch.stack([c for _, c in g]))
            for _, g in sorted(groups.items())]
