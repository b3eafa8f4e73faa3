"""The index space shared by the clip datasets."""

from __future__ import annotations

import copy
import operator
import warnings

from torch.utils.data import Dataset


class EndlessClipDataset(Dataset):
    """A dataset in which every index >= 0 is an item, each a function of ``(seed, index)``.

    ``len()`` is ``self.length``, the epoch size a sampler sees, but any larger index works
    too; so iteration (which would otherwise go on through ``__getitem__`` forever) covers one
    epoch of ``length`` items. Subclasses set ``length`` and start ``__getitem__`` with
    ``i = self._item_index(index)``.
    """

    length: int

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        return (self[i] for i in range(self.length))

    def with_frames(self, frames: int) -> "EndlessClipDataset":
        """A copy whose items are ``frames`` frames long (``with_frames(1)``: images), all else
        the same."""
        from ._checks import positive_int

        twin = copy.copy(self)
        twin.frames = positive_int(type(self).__name__, "frames", frames)
        twin._frames_changed()
        return twin

    def item_frames(self, index: int) -> int:
        """Frames of item ``index`` (for compute counts, without reading the item)."""
        return self.frames

    def _frames_changed(self) -> None:
        """Update what depends on ``self.frames`` in a copy made by :meth:`with_frames`."""

    def _item_index(self, index) -> int:
        """``index`` as an int >= 0; TypeError / IndexError naming the class otherwise."""
        owner = type(self).__name__
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"{owner}: index must be an integer, got "
                            f"{type(index).__name__}") from None
        if i < 0:
            raise IndexError(f"{owner}: index must be >= 0, got {i}")
        return i


class FileSkips:
    """What a file-backed dataset left out: ``skipped`` lists ``(path, reason)``, each path
    warned about once; ``_bad`` holds the indices of its files that failed at run time."""

    def _init_skips(self) -> None:
        self.skipped: list[tuple[str, str]] = []
        self._warned: set[str] = set()
        self._bad: set[int] = set()

    def _copy_skips(self) -> None:
        """Own records for a copy (see ``EndlessClipDataset.with_frames``)."""
        self.skipped, self._warned, self._bad = (list(self.skipped), set(self._warned),
                                                 set(self._bad))

    def _skip(self, path: str, reason: str) -> None:
        self.skipped.append((path, reason))
        if path not in self._warned:
            self._warned.add(path)
            warnings.warn(f"{type(self).__name__}: skipping {path}: {reason}", stacklevel=3)

    def _none_usable(self, found: int, what: str, need: str = "") -> ValueError:
        """The error for a dataset none of whose ``found`` files is usable."""
        reasons = "; ".join(f"{p}: {r}" for p, r in self.skipped[:3])
        more = f" (and {len(self.skipped) - 3} more)" if len(self.skipped) > 3 else ""
        return ValueError(f"{type(self).__name__}: none of the {found} {what} found in "
                          f"{self.paths} is usable{need}. Reasons: {reasons}{more}")
