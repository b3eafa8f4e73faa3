"""Procedural training clips: textured shapes moving over a panning, zooming textured
background. No files needed, unlimited and reproducible; for smoke tests, debugging and
pre-training where real footage is not at hand.

Each clip is rendered analytically for all frames at once (every pixel of every frame is a
closed-form function of its coordinates and time), so a 17x64x64 clip takes a few ms.
"""

from __future__ import annotations

import math
import operator

import torch

from ._base import EndlessClipDataset
from ._checks import integer, positive_int
from .seeding import item_generator


_OWNER = "SyntheticVideoDataset"


def _non_negative(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"SyntheticVideoDataset: {name} must be a finite number >= 0, "
                         f"got {value!r}")
    return v


class SyntheticVideoDataset(EndlessClipDataset):
    """Clips ``(3, frames, size, size)`` float32 in [-1, 1] of moving textured shapes.

    Each clip: a background (colour gradient plus two sinusoidal gratings) seen by a camera
    that pans by up to ``pan`` (fraction of the frame per frame) and zooms by up to ``zoom``
    (relative scale change per frame, in or out); ``num_shapes = (low, high)`` shapes (discs
    and rotated rectangles, flat, striped or checkered, two random colours each), drawn in
    order so later ones occlude earlier ones, each moving with a constant velocity of up to
    ``max_speed`` (fraction of the frame per frame) and a constant rotation (up to
    ``1.25 * max_speed`` radians per frame); optional
    Gaussian pixel noise of standard deviation ``noise``.

    Item ``i`` is a deterministic function of ``(seed, i)`` only, for any ``i >= 0``;
    ``len()`` is ``length`` (the epoch size a sampler sees).
    """

    def __init__(self, frames: int, size: int, length: int = 100_000, seed: int = 0,
                 num_shapes: tuple[int, int] = (1, 4), max_speed: float = 0.04,
                 pan: float = 0.03, zoom: float = 0.01, noise: float = 0.0):
        self.frames = positive_int(_OWNER, "frames", frames)
        self.size = positive_int(_OWNER, "size", size)
        self.length = positive_int(_OWNER, "length", length)
        self.seed = integer(_OWNER, "seed", seed)
        try:
            lo, hi = (operator.index(n) for n in num_shapes)
        except (TypeError, ValueError):
            lo, hi = -1, -2
        if not 0 <= lo <= hi:
            raise ValueError(f"SyntheticVideoDataset: num_shapes must be a pair of integers "
                             f"(low, high) with 0 <= low <= high, got {num_shapes!r}")
        self.num_shapes = (lo, hi)
        self.max_speed = _non_negative("max_speed", max_speed)
        self.pan = _non_negative("pan", pan)
        self.zoom = _non_negative("zoom", zoom)
        if self.zoom >= 1:
            raise ValueError(f"SyntheticVideoDataset: zoom is a relative scale change per "
                             f"frame and must be < 1, got {zoom!r}")
        self.noise = _non_negative("noise", noise)

    def __repr__(self) -> str:
        return (f"SyntheticVideoDataset(frames={self.frames}, size={self.size}, "
                f"length={self.length}, seed={self.seed}, num_shapes={self.num_shapes}, "
                f"max_speed={self.max_speed}, pan={self.pan}, zoom={self.zoom}, "
                f"noise={self.noise})")

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.render(item_generator(self.seed, self._item_index(index)))

    def render(self, g: torch.Generator) -> torch.Tensor:
        """One clip from the random stream ``g``."""
        T, S = self.frames, self.size
        t = torch.arange(T, dtype=torch.float32).view(T, 1, 1)
        pix = (torch.arange(S, dtype=torch.float32) + 0.5) / S - 0.5  # pixel centres, frame units
        px, py = pix.view(1, 1, S), pix.view(1, S, 1)

        def uniform(n: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(n, generator=g)

        # Camera: the background point seen by pixel p at time t is c_t + p / zoom_t.
        u = uniform(4).tolist()
        pan_speed, pan_dir = self.pan * u[0], 2 * math.pi * u[1]
        log_zoom = math.log1p(self.zoom * (2 * u[2] - 1))
        inv_zoom = torch.exp(-log_zoom * t)
        bx = pan_speed * math.cos(pan_dir) * t + px * inv_zoom  # (T, 1, S)
        by = pan_speed * math.sin(pan_dir) * t + py * inv_zoom  # (T, S, 1)

        base, grad_x, grad_y = uniform(3, -0.6, 0.6), uniform(3, -0.8, 0.8), uniform(3, -0.8, 0.8)
        video = (base.view(3, 1, 1, 1) + grad_x.view(3, 1, 1, 1) * bx.unsqueeze(0)
                 + grad_y.view(3, 1, 1, 1) * by.unsqueeze(0)).expand(3, T, S, S).clone()
        for _ in range(2):  # two gratings of 1.5-8 cycles per frame width
            w = uniform(4).tolist()
            freq, angle = 2 * math.pi * (1.5 + 6.5 * w[0]), math.pi * w[1]
            wave = torch.sin(freq * (math.cos(angle) * bx + math.sin(angle) * by)
                             + 2 * math.pi * w[2])
            video += uniform(3, 0.0, 0.25 * w[3] + 0.05).view(3, 1, 1, 1) * wave

        lo, hi = self.num_shapes
        n_shapes = int(torch.randint(lo, hi + 1, (), generator=g))
        for _ in range(n_shapes):
            video = self._draw_shape(video, g, t, px, py)

        if self.noise > 0:
            video += self.noise * torch.randn(video.shape, generator=g)
        return video.clamp_(-1.0, 1.0).contiguous()

    def _draw_shape(self, video, g, t, px, py):
        S = self.size
        s = torch.rand(11, generator=g).tolist()
        colors = 2 * torch.rand(2, 3, generator=g) - 1
        speed, direction = self.max_speed * s[0], 2 * math.pi * s[1]
        cx = s[2] - 0.5 + speed * math.cos(direction) * t  # (T, 1, 1) centre, frame units
        cy = s[3] - 0.5 + speed * math.sin(direction) * t
        # Rotation in step with the speed limit: 0.05 rad per frame at the default max_speed.
        spin = 1.25 * self.max_speed * (2 * s[5] - 1)
        theta = 2 * math.pi * s[4] + spin * t
        cos, sin = torch.cos(theta), torch.sin(theta)
        dx, dy = px - cx, py - cy  # (T, 1, S), (T, S, 1)
        lx, ly = cos * dx + sin * dy, cos * dy - sin * dx  # shape coordinates, (T, S, S)
        if s[6] < 0.5:  # disc
            radius = 0.06 + 0.16 * s[7]
            inside = radius - torch.sqrt(lx * lx + ly * ly)
            extent = radius
        else:  # rectangle
            half_w, half_h = 0.05 + 0.2 * s[7], 0.05 + 0.2 * s[8]
            inside = torch.minimum(half_w - lx.abs(), half_h - ly.abs())
            extent = min(half_w, half_h)
        # Signed distance -> coverage with a one-pixel soft edge (no staircase aliasing).
        alpha = (inside * S + 0.5).clamp_(0.0, 1.0)
        period = extent * (0.4 + 0.8 * s[9])
        if s[10] < 0.2:  # flat
            mix = None
        elif s[10] < 0.6:  # stripes
            mix = torch.sin(lx * (2 * math.pi / period))
        else:  # checker
            mix = torch.sin(lx * (2 * math.pi / period)) * torch.sin(ly * (2 * math.pi / period))
        c0, c1 = colors[0].view(3, 1, 1, 1), colors[1].view(3, 1, 1, 1)
        if mix is None:
            color = c0
        else:
            # tanh sharpens the sinusoid into bands while keeping edges smooth.
            color = c0 + (c1 - c0) * (0.5 + 0.5 * torch.tanh(3.0 * mix)).unsqueeze(0)
        return video + alpha.unsqueeze(0) * (color - video)
