"""Writing still images (previews, frame grids)."""

from __future__ import annotations

import os
import warnings

import torch

from ..fileio import atomic_write


def save_png(image: torch.Tensor, path: str | os.PathLike) -> bool:
    """Write a uint8 ``(H, W, 3)`` image as PNG with Pillow (atomically: temporary name, then
    rename); returns False, with a warning, when Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError:
        warnings.warn("writing PNG images needs Pillow (pip install pillow); skipped",
                      stacklevel=2)
        return False
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    array = image.cpu().numpy()
    atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))
    return True
