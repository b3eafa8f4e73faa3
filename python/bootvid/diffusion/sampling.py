"""From a trained DiT to video: sample latents with rectified flow, decode them (streamed) with
the tokenizer the latents came from; and the token budget of a tokenizer for a DiT."""

from __future__ import annotations

import os

import torch

from .dit import DiT, DiTConfig, dit_config, dit_flops


def load_dit(path: str | os.PathLike, device=None) -> tuple[DiT, dict, str]:
    """The DiT at ``path`` (a ``save_pretrained`` directory, or a ``bootvid dit train`` run:
    its EMA model, else its final one), its metadata and a description."""
    from .trainer import EMA_DIR, MODEL_DIR

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"DiT model not found: {path} (give the --out of `bootvid dit "
                                "train` or a model directory inside it)")
    candidates = [(path, f"DiT {path}")] + [
        (os.path.join(path, sub), f"{what} of the DiT run {path}")
        for sub, what in ((EMA_DIR, "EMA weights"), (MODEL_DIR, "final weights"))]
    for directory, what in candidates:
        if os.path.isfile(os.path.join(directory, "config.json")):
            dit = DiT.from_pretrained(directory, device=device).float().eval()
            return dit, DiT.read_metadata(directory), what
    raise FileNotFoundError(f"{path} holds no DiT: expected config.json (a saved model) or a run "
                            f"with {EMA_DIR}/ or {MODEL_DIR}/ (training writes them when it stops)")


def check_tokenizer(tokenizer, meta: dict) -> None:
    """Refuse a tokenizer other than the one whose latents the DiT learned."""
    from ..tokenizer.persistence import model_fingerprint

    want = meta.get("tokenizer_fingerprint")
    if want is None:
        return
    got = model_fingerprint(tokenizer)
    if got != want:
        raise ValueError(f"this DiT was trained on latents of the tokenizer "
                         f"{meta.get('tokenizer') or '?'} (fingerprint {want}), not on the one "
                         f"given (fingerprint {got}); pass that tokenizer with --tokenizer")


def label_index(meta: dict, label: str | int | None) -> int | None:
    """A class name or number -> the label index; None stays None (unconditional)."""
    classes = meta.get("classes") or []
    if label is None:
        return None
    if not classes:
        raise ValueError("--label: this DiT was trained without classes (its latents came from "
                         "videos directly in the data folder)")
    if str(label) in classes:
        return classes.index(str(label))
    try:
        i = int(label)
    except ValueError:
        i = -1
    if not 0 <= i < len(classes):
        raise ValueError(f"--label: unknown class {label!r}; classes: {', '.join(classes)}")
    return i


@torch.no_grad()
def sample_latents(dit: DiT, meta: dict, latent_shape: tuple[int, int, int, int], *,
                   label: int | None = None, steps: int = 50, cfg: float = 1.0,
                   method: str = "euler", seed: int = 0, progress: bool = False) -> torch.Tensor:
    """One latent ``[1, C, t, h, w]`` on the tokenizer's scale (the cache's normalisation
    undone). The noise comes from ``seed`` on the CPU: the same seed gives the same sample."""
    from .flow import sample

    device = next(dit.parameters()).device
    noise = torch.randn(1, *latent_shape, generator=torch.Generator().manual_seed(seed))
    y = None if label is None else torch.tensor([label], device=device)
    z = sample(dit, noise.to(device), steps=steps, y=y, cfg=cfg, method=method,
               progress=progress)
    C = latent_shape[0]
    mean = torch.tensor(meta.get("mean", [0.0] * C), device=device).view(1, C, 1, 1, 1)
    std = torch.tensor(meta.get("std", [1.0] * C), device=device).view(1, C, 1, 1, 1)
    return z * std + mean


def sample_video(dit: DiT, meta: dict, tokenizer, frames: int, *, size: int | None = None,
                 label: int | None = None, steps: int = 50, cfg: float = 1.0,
                 method: str = "euler", seed: int = 0, progress: bool = False) -> torch.Tensor:
    """A sampled clip of ``frames`` frames as uint8 ``(frames, H, W, 3)``; ``frames`` must be
    ``1 + k * temporal compression`` (the latent length is then ``1 + k``)."""
    from ..tokenizer.streaming import decode_latents
    from ..tokenizer.video import video_to_frames

    check_tokenizer(tokenizer, meta)
    tc = tokenizer.temporal_compression
    if not isinstance(frames, int) or frames < 1 or (frames - 1) % tc:
        k = max(1, round((frames - 1) / tc)) if isinstance(frames, int) else 2
        raise ValueError(f"--frames: a {tc}x tokenizer decodes 1 + k*{tc} frames, got "
                         f"{frames!r}; use e.g. {1 + k * tc}")
    size = size or meta.get("size")
    if size is None:
        raise ValueError("--size: the DiT's metadata does not record the training size; give it")
    shape = tokenizer.latent_shape(frames, size, size)
    if shape[1] % dit.config.patch_size[0]:
        raise ValueError(f"--frames {frames} gives {shape[1]} latent frames, not a multiple of "
                         f"the DiT's temporal patch {dit.config.patch_size[0]}")
    z = sample_latents(dit, meta, shape, label=label, steps=steps, cfg=cfg, method=method,
                       seed=seed, progress=progress)
    dtype = next(tokenizer.parameters()).dtype
    with torch.no_grad():
        video = decode_latents(tokenizer, z.to(dtype), num_frames=frames)
    return video_to_frames(video)


def frame_strip(frames: torch.Tensor, count: int = 8) -> torch.Tensor:
    """``count`` evenly spaced frames of uint8 ``(T, H, W, 3)`` side by side."""
    idx = torch.linspace(0, len(frames) - 1, min(count, len(frames))).round().long()
    return torch.cat(list(frames[idx]), dim=1)


def token_budget(tokenizer, frames: int, size: int,
                 dit: DiTConfig | str = "tiny") -> dict:
    """What a DiT sees of ``frames`` frames at ``size`` x ``size`` through ``tokenizer``:
    latent shape, latent positions, DiT tokens (after patching) and forward FLOPs."""
    cfg = dit_config(dit) if isinstance(dit, str) else dit
    C, t, h, w = tokenizer.latent_shape(frames, size, size)
    cfg = DiTConfig.from_dict({**cfg.to_dict(), "in_channels": C})
    pt, ph, pw = cfg.patch_size
    if t % pt or h % ph or w % pw:
        raise ValueError(f"latent {C}x{t}x{h}x{w} does not divide into patches {cfg.patch_size}")
    tokens = (t // pt) * (h // ph) * (w // pw)
    return {"frames": frames, "size": size,
            "temporal_compression": tokenizer.temporal_compression,
            "spatial_compression": tokenizer.spatial_compression,
            "latent_shape": [C, t, h, w], "latent_positions": t * h * w, "dit_tokens": tokens,
            "patch_size": list(cfg.patch_size), "dit_gflops": dit_flops(cfg, (C, t, h, w)) / 1e9}


__all__ = ["check_tokenizer", "frame_strip", "label_index", "load_dit", "sample_latents",
           "sample_video", "token_budget"]
