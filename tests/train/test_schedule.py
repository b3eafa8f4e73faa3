"""The learning-rate schedule: warmup and cosine, by steps or by the time budget."""

from __future__ import annotations

import pytest

from bootvid.train.schedule import WARMUP_TIME_SHARE, lr_factor


def test_step_schedule():
    f = [lr_factor(s, 4, 24, 0.1) for s in range(30)]
    assert f[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f[4] == pytest.approx(1.0) and f[14] == pytest.approx(0.55)  # half way down
    assert f[24:] == pytest.approx([0.1] * 6)
    assert all(a >= b for a, b in zip(f[3:], f[4:]))


def test_time_budget_ends_warmup_and_decays_by_time():
    # 1000 warmup steps would never end in a short timed run: time takes over
    assert lr_factor(10, 1000, 10**6, 0.1, time_fraction=WARMUP_TIME_SHARE / 2) == \
        pytest.approx(0.5)
    assert lr_factor(10, 1000, 10**6, 0.1, time_fraction=WARMUP_TIME_SHARE) == \
        pytest.approx(1.0)
    mid = WARMUP_TIME_SHARE + (1 - WARMUP_TIME_SHARE) / 2
    assert lr_factor(50, 1000, 10**6, 0.1, time_fraction=mid) == pytest.approx(0.55)
    assert lr_factor(60, 1000, 10**6, 0.1, time_fraction=1.0) == pytest.approx(0.1)
    # steps further along than time: steps win
    assert lr_factor(24, 4, 24, 0.1, time_fraction=0.1) == pytest.approx(0.1)
