"""Learning-rate schedule: linear warmup, then cosine decay to ``min_lr_ratio * lr``."""

from __future__ import annotations

import math

#: Under a wall-clock budget, warmup ends after this share of it at the latest, so short timed
#: runs reach the peak learning rate whatever ``warmup_steps`` says.
WARMUP_TIME_SHARE = 0.05


def lr_factor(step: int, warmup_steps: int, max_steps: int, min_lr_ratio: float,
              time_fraction: float | None = None) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    ``time_fraction``: the share of the ``--max-minutes`` budget used so far (None without a
    budget). The warmup and the cosine then advance by steps or by time, whichever is
    further along, so a run stopped by its budget still warms up and ends at the low rate.
    """
    warm = (step + 1) / warmup_steps if warmup_steps else 1.0
    if time_fraction is not None:
        warm = max(warm, time_fraction / WARMUP_TIME_SHARE)
    if warm < 1.0:
        return warm
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    if time_fraction is not None:
        progress = max(progress, (time_fraction - WARMUP_TIME_SHARE) / (1 - WARMUP_TIME_SHARE))
    progress = min(1.0, max(0.0, progress))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
