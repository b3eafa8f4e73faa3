"""Conversions between uint8 frames and the tokenizer's float video tensors."""

from __future__ import annotations

import torch


def frames_to_video(frames, device: str | torch.device | None = None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 frames ``(T, H, W, 3)`` (or a batch ``(B, T, H, W, 3)``; tensor or numpy array)
    to a float video ``(B, 3, T, H, W)`` in [-1, 1], the tokenizer's input convention."""
    x = torch.as_tensor(frames)
    if x.dim() == 4:
        x = x.unsqueeze(0)
    if x.dim() != 5 or x.shape[-1] not in (1, 3):
        raise ValueError(f"frames_to_video: expected frames of shape (T, H, W, 3) or "
                         f"(B, T, H, W, 3), got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        raise TypeError(f"frames_to_video: expected uint8 frames (0..255), got {x.dtype}")
    x = x.to(device=device).permute(0, 4, 1, 2, 3).to(dtype)
    return (x / 127.5 - 1.0).contiguous()


def video_to_frames(video: torch.Tensor) -> torch.Tensor:
    """A float video ``(B, 3, T, H, W)`` (or ``(3, T, H, W)``) in [-1, 1] to uint8 frames
    ``(T, H, W, 3)`` for batch size 1 / a single clip, else ``(B, T, H, W, 3)``; values outside
    [-1, 1] are clipped."""
    if not isinstance(video, torch.Tensor) or video.dim() not in (4, 5):
        raise ValueError("video_to_frames: expected a (B, 3, T, H, W) or (3, T, H, W) tensor, got "
                         f"{getattr(video, 'shape', type(video).__name__)}")
    v = video.unsqueeze(0) if video.dim() == 4 else video
    x = ((v.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    x = x.permute(0, 2, 3, 4, 1).cpu().contiguous()
    return x[0] if x.shape[0] == 1 else x


def synthetic_video(frames: int, size: int) -> torch.Tensor:
    """A ``(1, 3, frames, size, size)`` RGB clip in [-1, 1]: coloured waves drifting over time.
    A smooth, deterministic input for demos and benchmarks (random noise would be atypical)."""
    t = torch.arange(frames, dtype=torch.float32).view(1, 1, frames, 1, 1)
    yy = torch.linspace(-1, 1, size).view(1, 1, 1, size, 1)
    xx = torch.linspace(-1, 1, size).view(1, 1, 1, 1, size)
    c = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1, 1)
    return (torch.sin(3 * xx * c + 0.2 * t) * torch.cos(2 * yy + 0.1 * t * c)).contiguous()


def comparison_grid(video: torch.Tensor, recon: torch.Tensor, max_frames: int = 8) -> torch.Tensor:
    """uint8 image ``(3*H, t*W, 3)`` comparing the first clip of two float videos ``(B, 3, T, H,
    W)`` in [-1, 1]: ``t <= max_frames`` evenly spaced frames of ``video`` on the top row, of
    ``recon`` below, and their absolute difference at the bottom (black: equal)."""
    T = video.shape[2]
    idx = torch.linspace(0, T - 1, min(T, max_frames)).round().long()
    a, b = video[:1, :, idx].float(), recon[:1, :, idx].float().clamp(-1, 1)
    err = (a - b).abs() * 2 - 1  # |difference| in [0, 2] on the same [-1, 1] scale
    rows = [video_to_frames(v) for v in (a, b, err)]
    return torch.cat([torch.cat(list(r.reshape(-1, *r.shape[-3:])), dim=1) for r in rows], dim=0)
