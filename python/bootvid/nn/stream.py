"""Per-layer state of a streaming (chunk-by-chunk) pass through a causal model."""

from __future__ import annotations

import torch
from torch import nn


class StreamState:
    """The caches that let a causal model process a video in consecutive time chunks and give
    exactly the whole-clip result.

    Every layer that looks back in time (a causal conv) keeps the last frames it saw here,
    keyed by the module itself, and layers whose behaviour differs on the first chunk (causal
    time alignment, causal depth-to-space) ask :meth:`is_first`. One state belongs to one
    pass over one video: start a new one for the next video. Passing ``state=None`` to a
    layer means "this call holds the whole clip" (no cache is read or kept).
    """

    def __init__(self) -> None:
        self._caches: dict[nn.Module, torch.Tensor] = {}
        self._seen: set[nn.Module] = set()
        self._children: dict[nn.Module, StreamState] = {}

    def cache(self, module: nn.Module) -> torch.Tensor | None:
        """The frames ``module`` kept from the previous chunk (None on the first chunk)."""
        return self._caches.get(module)

    def set_cache(self, module: nn.Module, cache: torch.Tensor) -> None:
        self._caches[module] = cache

    def is_first(self, module: nn.Module) -> bool:
        """Whether ``module`` has not processed a chunk of this stream yet."""
        return module not in self._seen

    def mark_seen(self, module: nn.Module) -> None:
        self._seen.add(module)

    def child(self, owner: nn.Module) -> "StreamState":
        """A separate state for a second stream that ``owner`` runs through shared layers
        (a grown encoder's subsampled branch): kept here, so it lives and ends with this one."""
        if owner not in self._children:
            self._children[owner] = StreamState()
        return self._children[owner]

    @property
    def children(self) -> list["StreamState"]:
        return list(self._children.values())

    def nbytes(self) -> int:
        """Memory held by the caches, child states included (what streaming costs beyond one
        chunk's activations)."""
        return (sum(c.numel() * c.element_size() for c in self._caches.values())
                + sum(child.nbytes() for child in self._children.values()))

    def __len__(self) -> int:
        return len(self._caches)
