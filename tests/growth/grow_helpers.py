"""Helpers of the growth tests: seeded tiny base tokenizers, grown models whose new stages are
not at their (partly zero) initialisation, clips, max |diff|.

(A uniquely named module, so it never clashes with the other test directories' helpers.)
"""

from __future__ import annotations

import torch


def make_base(seed: int = 0, **overrides):
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(seed)
    # The tiny preset at half width: the growth tests test wiring and exactness, not quality.
    overrides = {"base_channels": 16, "norm_groups": 4, **overrides}
    return VideoTokenizer(TokenizerConfig.preset("tiny", **overrides)).eval()


def perturb_stage(tok, seed: int) -> None:
    """Give the new stage's zero-initialised parameters (the mixing map) random values, so the
    tests see branch A actually modulating branch B."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tok.trainable_parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def make_grown(lower, seed: int = 1, perturb: bool = True, **kwargs):
    from bootvid import grow

    torch.manual_seed(seed)
    tok = grow(lower, **kwargs).eval()
    if perturb:
        perturb_stage(tok, seed)
    return tok


def make_video(T: int, H: int = 16, W: int = 16, B: int = 1, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 3, T, H, W, generator=g) * 2 - 1


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()
