"""Per-item random streams: the same item in every process, DataLoader worker and run.

Python's ``hash()`` is salted per process and the global RNGs differ between workers, so
datasets seed a fresh ``torch.Generator`` from the item's coordinates instead.
"""

from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def item_generator(seed: int, index: int, stream: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` that depends only on ``(seed, index, stream)``; neighbouring
    values give unrelated streams (each is passed through the splitmix64 finaliser)."""
    z = _splitmix64(seed & _MASK64)
    z = _splitmix64(z ^ (index & _MASK64))
    if stream:
        z = _splitmix64(z ^ (stream & _MASK64))
    g = torch.Generator()
    g.manual_seed(z)
    return g
