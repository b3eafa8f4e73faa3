"""Hand-made latent caches for the DiT tests (and the reliability suite)."""

from __future__ import annotations

import json

import torch


def make_cache(out, clips: torch.Tensor, labels=None, classes=()) -> str:
    """A finished latent cache of ``clips`` [n, C, t, h, w] (one shard per clip), as
    ``bootvid latents`` would write it, without a tokenizer."""
    from bootvid.diffusion import latents as L

    n, C, t, h, w = clips.shape
    labels = list(labels) if labels is not None else None
    settings = {"format": L.FORMAT, "tokenizer": "none", "tokenizer_fingerprint": "0" * 16,
                "clip_frames": 1 + 4 * (t - 1), "size": 8 * h, "latent_shape": [C, t, h, w],
                "temporal_compression": 4, "spatial_compression": 8,
                "videos": [f"v{i}.mp4" for i in range(n)], "labels": labels,
                "classes": list(classes)}
    L._check_or_write_settings(str(out), settings)
    for i in range(n):
        L._write_shard(L.shard_path(str(out), i), [clips[i]], settings,
                       -1 if labels is None else labels[i], settings["videos"][i])
    L.finalize_cache(str(out))
    return str(out)


def structured_latents(n: int, shape=(4, 2, 4, 4), seed: int = 0) -> torch.Tensor:
    """``n`` latents with structure a small DiT can learn: smooth ramps times random scales."""
    g = torch.Generator().manual_seed(seed)
    C, t, h, w = shape
    ramp = torch.linspace(-1, 1, h).view(1, 1, h, 1) + torch.linspace(-1, 1, w).view(1, 1, 1, w)
    scale = torch.randn(n, C, 1, 1, 1, generator=g)
    return (scale * ramp.expand(C, t, h, w) + 0.5).contiguous()


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
