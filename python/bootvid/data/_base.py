"""The index space shared by the clip datasets."""

from __future__ import annotations

import operator

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
