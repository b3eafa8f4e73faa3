"""Helpers of the tokenizer tests: seeded tiny-preset models, clips, max |diff|.

(A uniquely named module rather than conftest imports, so it never clashes with the
conftest.py of tests/.)
"""

from __future__ import annotations

import torch


def make_tokenizer(seed: int = 0, **overrides):
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(seed)
    return VideoTokenizer(TokenizerConfig.preset("tiny", **overrides)).eval()


def make_video(T: int, H: int = 16, W: int = 16, B: int = 1, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 3, T, H, W, generator=g) * 2 - 1


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()
