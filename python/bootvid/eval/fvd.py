"""Fréchet Video Distance with a local I3D detector (nothing is downloaded).

The detector is the TorchScript I3D that StyleGAN-V's and most recent papers' FVD code use
(``i3d_torchscript.pt``): called as ``detector(videos, rescale=False, resize=True,
return_features=True)`` on float videos ``(B, 3, T, H, W)`` in [-1, 1], it returns 400-d
features per clip. Give its path; bootvid never fetches it. TorchScript archives carry code:
load only a detector file you trust.

FVD compares feature statistics of sets of clips: with a handful of videos it is noisy and
biased (papers use thousands); the result states how many clips it used.
"""

from __future__ import annotations

import os

import torch


def load_detector(path: str | os.PathLike, device=None):
    """The TorchScript I3D detector at ``path`` (a clear error when it is missing)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"FVD detector not found: {path}. FVD needs a local TorchScript I3D detector, e.g. "
            "StyleGAN-V's i3d_torchscript.pt (called with rescale=False, resize=True, "
            "return_features=True); nothing is downloaded")
    import warnings

    try:
        with warnings.catch_warnings():  # torch 2.14 deprecates TorchScript; the detector is one
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(path, map_location=device or "cpu").eval()
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"{path}: not a TorchScript detector ({e})") from None


@torch.no_grad()
def detector_features(detector, frames: torch.Tensor) -> torch.Tensor:
    """Features ``(D,)`` of one uint8 clip ``(T, H, W, 3)``."""
    from ..tokenizer.video import frames_to_video

    dev = next(iter(detector.parameters()), torch.empty(0)).device
    x = frames_to_video(frames, device=dev)
    f = detector(x, rescale=False, resize=True, return_features=True)
    return f.reshape(-1).double().cpu()


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``(N, D)`` and ``(M, D)``:
    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)`` (float64, symmetric
    form, so no complex square roots)."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance: need two sets of >= 2 feature vectors of one size, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = torch.cov(a.T), torch.cov(b.T)
    w, v = torch.linalg.eigh(sa)
    root_a = (v * w.clamp(min=0).sqrt()) @ v.T
    mid = torch.linalg.eigvalsh(root_a @ sb @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + sa.trace() + sb.trace() - 2 * mid)
