"""Patchifying: each ``p x p`` pixel block of every frame becomes ``p * p`` channels, and back.

Learned layers then start at ``1/p`` of the input resolution, which is where a video
autoencoder spends most of its compute otherwise (LTX-Video, Cosmos, WF-VAE). Frames are
patched independently, so patching is causal and streams and tiles exactly.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

from .. import ops

PATCH_METHODS = ("shuffle", "haar")


def haar_matrix(patch_size: int) -> torch.Tensor:
    """The orthonormal 2D Haar wavelet packet of a ``p x p`` block, ``(p*p, p*p)``.

    Row ``k`` is subband ``k``; columns are pixels in ``ih * p + iw`` order (the sub-pixel
    order of ``pixel_unshuffle_3d``). ``log2(p)`` levels of the 2x2 Haar step applied to every
    subband (a full packet, as Cosmos's patcher does); subband 0 is the block's mean times
    ``p``. Orthonormal, so the inverse is the transpose and the L2 norm of a video is kept.
    """
    if patch_size < 1 or patch_size & (patch_size - 1):
        raise ValueError(f"the Haar patch size must be a power of two, got {patch_size}")
    h2 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64) / math.sqrt(2)
    h1 = torch.ones(1, 1, dtype=torch.float64)
    for _ in range(int(math.log2(patch_size))):
        h1 = torch.kron(h1, h2)
    return torch.kron(h1, h1)  # rows and columns of the block: (ih, iw) -> ih * p + iw


class Patchify(nn.Module):
    """``(B, C, T, H, W) -> (B, C*p*p, T, H/p, W/p)``; :meth:`inverse` undoes it exactly.

    ``method="shuffle"`` is space-to-depth (``bootvid.ops.pixel_unshuffle_3d``); ``"haar"``
    also applies the orthonormal Haar packet of each block (:func:`haar_matrix`) to its pixels:
    the first of each input channel's ``p * p`` channels is the block mean (times ``p``), the
    others its differences at every scale.
    """

    def __init__(self, patch_size: int, method: str = "shuffle") -> None:
        super().__init__()
        if method not in PATCH_METHODS:
            raise ValueError(f"patch method must be one of {PATCH_METHODS}, got {method!r}")
        self.patch_size, self.method = patch_size, method
        if method == "haar" and patch_size > 1:
            self.register_buffer("basis", haar_matrix(patch_size).float(), persistent=False)
        else:
            self.basis = None

    def _mix(self, x: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
        # x: (B, C*q, T, H, W) with q = p*p sub-pixels per channel; mix the q of each channel.
        # In fp32 (float64 for float64) whatever autocast says: the inverse is the model's
        # last step, and bf16 sums of 16 sub-pixels would add visible rounding.
        B, Cq, T, H, W = x.shape
        q = basis.shape[0]
        dt = torch.float64 if x.dtype == torch.float64 else torch.float32
        off = (torch.autocast(x.device.type, enabled=False)
               if x.device.type in ("cpu", "cuda") else contextlib.nullcontext())
        with off:
            y = torch.matmul(basis.to(dt), x.reshape(B, Cq // q, q, T * H * W).to(dt))
        return y.reshape(B, Cq, T, H, W).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        if p == 1:
            return x
        y = ops.pixel_unshuffle_3d(x, (1, p, p), causal=False)
        return y if self.basis is None else self._mix(y, self.basis)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        if p == 1:
            return y
        if self.basis is not None:
            y = self._mix(y, self.basis.t())
        return ops.pixel_shuffle_3d(y, (1, p, p), causal=False)

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, method={self.method!r}"
