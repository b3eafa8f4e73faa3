"""Data pipeline: time to make one synthetic training clip (it must not starve a training step).

``extra_info``: suite, frames, size, shape, dtype, device, ms_per_clip, threads.
``BOOTVID_BENCH_QUICK=1`` runs fewer rounds.
Run: ``pytest benchmarks/test_data.py --benchmark-json=data.json``.
"""

from __future__ import annotations

import os

import torch

from bootvid.data import SyntheticVideoDataset

QUICK = os.environ.get("BOOTVID_BENCH_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
# The run's target device (the clips are made on the host CPU to feed it): the row goes in the
# report's section of that device.
DEVICE = os.environ.get("BOOTVID_BENCH_DEVICE", "cpu").strip() or "cpu"


def test_synthetic_clip(benchmark):
    ds = SyntheticVideoDataset(frames=17, size=64)
    index = iter(range(10**6))
    benchmark.group = "data/synthetic"
    benchmark.pedantic(lambda: ds[next(index)], rounds=5 if QUICK else 30, iterations=1,
                       warmup_rounds=1)
    benchmark.extra_info.update(suite="data", frames=17, size="64x64", shape=[3, 17, 64, 64],
                                dtype="float32", device=str(DEVICE), host="cpu", quick=QUICK,
                                ms_per_clip=round(benchmark.stats.stats.median * 1e3, 2),
                                threads=torch.get_num_threads())
