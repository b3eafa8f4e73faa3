"""Learning-rate schedule: linear warmup, then cosine decay to ``min_lr_ratio * lr``."""

from __future__ import annotations

import math


def lr_factor(step: int, warmup_steps: int, max_steps: int, min_lr_ratio: float,
              time_fraction: float = 0.0) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    The cosine runs over the steps after warmup, or over the wall-clock budget when that is
    further along (``time_fraction``: the share of ``--max-minutes`` used), so a run stopped by
    its time budget still ends at the low learning rate.
    """
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, max((step - warmup_steps) / span, time_fraction))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
