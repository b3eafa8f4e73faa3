"""Which clips each process trains on, as a pure function of the step: exact resume, and the
same global batch whatever the number of processes."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Dataset, Sampler


class StepSampler(Sampler[int]):
    """An endless stream of dataset indices for one process.

    Micro-step ``m`` trains on global indices ``[m*G, (m+1)*G)`` with ``G = batch_size *
    world_size``; rank ``r`` takes its contiguous slice ``[m*G + r*b, m*G + (r+1)*b)``. Datasets
    derive each clip from its index alone, so resuming at micro-step ``m`` (``start``) replays
    exactly what an uninterrupted run would have seen, and 2 processes x batch 2 see the same
    clips as 1 process x batch 4.
    """

    def __init__(self, batch_size: int, rank: int = 0, world_size: int = 1, start: int = 0) -> None:
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size or start < 0:
            raise ValueError(f"StepSampler: need batch_size >= 1, 0 <= rank < world_size, "
                             f"start >= 0; got {batch_size}, {rank}, {world_size}, {start}")
        self.batch_size, self.rank, self.world_size, self.start = batch_size, rank, world_size, start

    def indices(self, micro_step: int) -> list[int]:
        g = self.batch_size * self.world_size
        first = micro_step * g + self.rank * self.batch_size
        return list(range(first, first + self.batch_size))

    def __iter__(self) -> Iterator[int]:
        m = self.start
        while True:
            yield from self.indices(m)
            m += 1


class IndexedDataset(Dataset):
    """``(index, item)`` pairs: the trainer derives per-clip noise from the index."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return index, self.dataset[index]

