"""Reconstruction metrics on uint8 frames: PSNR and SSIM, computed the standard way.

Both take videos as uint8 tensors ``(T, H, W, 3)`` (what :func:`video_to_frames` and the video
reader give), so that every model is judged on what a viewer would see: the reconstruction is
quantised to 8 bits before it is compared.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DATA_RANGE = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def _pair(a: torch.Tensor, b: torch.Tensor, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    _check_pair(a, b, where)
    return a.double(), b.double()


def _check_pair(a: torch.Tensor, b: torch.Tensor, where: str) -> None:
    for name, v in (("a", a), ("b", b)):
        if not isinstance(v, torch.Tensor) or v.dtype != torch.uint8 or v.dim() != 4:
            raise ValueError(f"{where}: expected uint8 frames (T, H, W, C), got {name} = "
                             f"{getattr(v, 'dtype', type(v).__name__)} "
                             f"{tuple(getattr(v, 'shape', ()))}")
    if a.shape != b.shape:
        raise ValueError(f"{where}: the videos differ in shape: {tuple(a.shape)} vs "
                         f"{tuple(b.shape)}")


def psnr_per_frame(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each frame, ``(T,)`` float64; ``inf`` for identical frames."""
    x, y = _pair(a, b, "psnr_per_frame")
    mse = (x - y).square().flatten(1).mean(1)
    return 10 * torch.log10(DATA_RANGE ** 2 / mse)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB over all frames and pixels of the video (from the video's mean squared
    error, not the mean of per-frame PSNRs); ``inf`` for identical videos."""
    x, y = _pair(a, b, "psnr")
    mse = float((x - y).square().mean())
    return math.inf if mse == 0 else 10 * math.log10(DATA_RANGE ** 2 / mse)


def _gaussian_window(device) -> torch.Tensor:
    r = SSIM_WINDOW // 2
    t = torch.arange(-r, r + 1, dtype=torch.float64, device=device)
    g = torch.exp(-(t ** 2) / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    return g


def ssim_per_frame(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM of each frame, ``(T,)`` float64: Wang et al. (2004) with an 11x11 Gaussian window
    (sigma 1.5), K1 = 0.01, K2 = 0.03, data range 255, computed on each RGB channel and
    averaged, over the positions where the window fits the frame (as scikit-image's
    ``structural_similarity(gaussian_weights=True, use_sample_covariance=False)`` reports)."""
    x, y = _pair(a, b, "ssim_per_frame")
    T, H, W, C = x.shape
    if min(H, W) < SSIM_WINDOW:
        raise ValueError(f"ssim: frames must be at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {H}x{W}")
    g = _gaussian_window(x.device)
    x = x.permute(0, 3, 1, 2).reshape(T * C, 1, H, W)
    y = y.permute(0, 3, 1, 2).reshape(T * C, 1, H, W)

    def blur(v: torch.Tensor) -> torch.Tensor:  # separable "valid" Gaussian filter
        v = F.conv2d(v, g.view(1, 1, -1, 1))
        return F.conv2d(v, g.view(1, 1, 1, -1))

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (_K1 * DATA_RANGE) ** 2, (_K2 * DATA_RANGE) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).view(T, C).mean(1)


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM over the video's frames (see :func:`ssim_per_frame`)."""
    return float(ssim_per_frame(a, b).mean())


class QualityMeter:
    """Whole-clip quality of a video compared chunk by chunk (constant memory however long):
    PSNR from the clip's mean squared error (as :func:`psnr`), mean SSIM over frames, and both
    per frame. SSIM is left out (None) for frames smaller than its window."""

    def __init__(self) -> None:
        self.squared_error = 0.0
        self.values = 0
        self.psnr_per_frame: list[float] = []
        self.ssim_per_frame: list[float] = []

    def update(self, ref: torch.Tensor, rec: torch.Tensor) -> None:
        _check_pair(ref, rec, "QualityMeter")  # no float64 copy of the whole chunk
        for a, b in zip(ref.split(1), rec.split(1)):  # a frame at a time: 4K stays affordable
            d = (a.to(torch.int32) - b.to(torch.int32)).square().sum()
            self.squared_error += float(d)
            self.values += a.numel()
            self.psnr_per_frame += psnr_per_frame(a, b).tolist()
            if min(ref.shape[1:3]) >= SSIM_WINDOW:
                self.ssim_per_frame += ssim_per_frame(a, b).tolist()

    @property
    def frames(self) -> int:
        return len(self.psnr_per_frame)

    @property
    def psnr(self) -> float:
        if not self.values:
            raise ValueError("QualityMeter: no frames compared")
        mse = self.squared_error / self.values
        return math.inf if mse == 0 else 10 * math.log10(DATA_RANGE ** 2 / mse)

    @property
    def ssim(self) -> float | None:
        return (sum(self.ssim_per_frame) / len(self.ssim_per_frame)
                if self.ssim_per_frame else None)
