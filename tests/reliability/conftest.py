"""The reliability suite reuses the trainer and DiT test helpers."""

from __future__ import annotations

import os
import sys

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in ("train", "diffusion"):
    path = os.path.join(_TESTS, sub)
    if path not in sys.path:
        sys.path.append(path)
