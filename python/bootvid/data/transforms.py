"""Spatial augmentation of decoded clips: uint8 frames ``(T, H, W, 3)`` in, the tokenizer's
float ``(3, T, size, size)`` in [-1, 1] out.

Both functions crop first and resize only the crop: the same as resizing the whole frame and
cropping (up to the rounding of the crop window to whole source pixels), at a fraction of the
cost for large videos. Every frame of a clip gets the same crop and flip, so motion is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import positive_int


def _check_frames(frames, name: str) -> torch.Tensor:
    x = torch.as_tensor(frames)
    if x.dim() != 4 or x.shape[-1] != 3 or 0 in x.shape:
        raise ValueError(f"{name}: expected frames of shape (T, H, W, 3), got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        raise TypeError(f"{name}: expected uint8 frames (0..255), got {x.dtype}")
    return x


def _crop_resize(x: torch.Tensor, top: int, left: int, side: int, size: int,
                 flip: bool) -> torch.Tensor:
    """Crop ``side x side`` at (top, left) from uint8 (T, H, W, 3), resize to ``size``, flip,
    and return float (3, T, size, size) in [-1, 1]."""
    crop = x[:, top:top + side, left:left + side, :].permute(0, 3, 1, 2).float()  # (T, 3, s, s)
    if side != size:
        # Antialiased when shrinking, so fine textures do not alias into moire.
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True,
                             align_corners=False)
    if flip:
        crop = crop.flip(-1)
    # Bilinear (triangle) weights are non-negative, so values stay in range; clamp rounding.
    return (crop / 127.5 - 1.0).clamp_(-1.0, 1.0).permute(1, 0, 2, 3).contiguous()


def random_resized_crop(frames, size: int, scale_range: tuple[float, float] = (1.0, 1.25),
                        hflip: bool = False,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """A random ``size x size`` crop of a clip, as float ``(3, T, size, size)`` in [-1, 1].

    Equivalent to resizing the frames so the shorter side is ``size * s``, ``s`` uniform in
    ``scale_range`` (>= 1 zooms in; 1 keeps the whole shorter side), then cropping ``size x
    size`` at a uniform position, then flipping horizontally with probability 0.5 when
    ``hflip``. All randomness comes from ``generator``, so a seeded generator gives the same
    crop again."""
    name = "random_resized_crop"
    x = _check_frames(frames, name)
    size = positive_int(name, "size", size)
    lo, hi = (float(v) for v in scale_range)
    if not 1.0 <= lo <= hi:
        # Below 1 the rescaled shorter side would be smaller than the crop.
        raise ValueError(f"{name}: scale_range must be (low, high) with 1 <= low <= high, got "
                         f"{tuple(scale_range)}")
    _, h, w, _ = x.shape
    s = lo + (hi - lo) * torch.rand((), generator=generator).item()
    # A size-by-size crop of the rescaled frame is a (size / scale)-pixel square of the source,
    # with scale = size * s / min(h, w).
    side = max(1, min(h, w, round(min(h, w) / s)))
    top = int(torch.randint(0, h - side + 1, (), generator=generator))
    left = int(torch.randint(0, w - side + 1, (), generator=generator))
    flip = bool(hflip) and bool(torch.rand((), generator=generator) < 0.5)
    return _crop_resize(x, top, left, side, size, flip)


def center_crop_resize(frames, size: int) -> torch.Tensor:
    """The deterministic evaluation view: the shorter side resized to ``size`` and the centre
    ``size x size`` kept, as float ``(3, T, size, size)`` in [-1, 1]."""
    name = "center_crop_resize"
    x = _check_frames(frames, name)
    size = positive_int(name, "size", size)
    _, h, w, _ = x.shape
    side = min(h, w)
    return _crop_resize(x, (h - side) // 2, (w - side) // 2, side, size, False)
