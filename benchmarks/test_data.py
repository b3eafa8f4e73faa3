"""Data pipeline: time to make one training clip (it must not starve a training step).

- ``test_synthetic_clip``: one SyntheticVideoDataset clip, 17x64x64.
- ``test_still_motion_clip``: one StillMotionDataset clip (camera motion over a photo, half
  of them with a moving cut-out) at 17x64x64 and 17x128x128, on one thread as in a DataLoader
  worker, from ../shared/data/stills when it is there (else generated 1920x1200 JPEGs). The
  report sets its items per second against the ``fast`` preset's training step of the same
  run (test_training.py).

``extra_info``: suite, frames, size, shape, dtype, device, ms_per_clip, items_per_s, threads.
``BOOTVID_BENCH_QUICK=1`` runs fewer rounds.
Run: ``pytest benchmarks/test_data.py --benchmark-json=data.json``.
"""

from __future__ import annotations

import os

import pytest
import torch

from bench_common import median_s
from bootvid.data import StillMotionDataset, SyntheticVideoDataset

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
    med = median_s(benchmark)
    if med is None:  # --benchmark-disable: the case ran once, untimed
        return
    benchmark.extra_info.update(suite="data", frames=17, size="64x64", shape=[3, 17, 64, 64],
                                dtype="float32", device=str(DEVICE), host="cpu", quick=QUICK,
                                ms_per_clip=round(med * 1e3, 2), threads=torch.get_num_threads())


STILLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                      "stills")


@pytest.fixture(scope="module")
def stills_folder(tmp_path_factory):
    """The project's photos, or generated photo-sized JPEGs where they are absent."""
    if os.path.isdir(STILLS):
        return os.path.normpath(STILLS), "../shared/data/stills"
    from PIL import Image

    d = tmp_path_factory.mktemp("stills")
    g = torch.Generator().manual_seed(0)
    for k in range(4):
        low = torch.rand(1, 3, 12, 20, generator=g)
        img = torch.nn.functional.interpolate(low, size=(1200, 1920), mode="bicubic")[0]
        img = img + 0.05 * torch.randn(img.shape, generator=g)
        arr = (img.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
        Image.fromarray(arr).save(d / f"{k}.jpg", quality=92)
    return str(d), "generated 1920x1200 JPEGs"


@pytest.mark.parametrize("size", [64, 128])
def test_still_motion_clip(benchmark, stills_folder, size):
    path, photos = stills_folder
    ds = StillMotionDataset(path, frames=17, size=size)
    index = iter(range(10**6))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker
    try:
        benchmark.group = "data/stills"
        benchmark.pedantic(lambda: ds[next(index)], rounds=8 if QUICK else 40, iterations=1,
                           warmup_rounds=1)
    finally:
        torch.set_num_threads(threads)
    med = median_s(benchmark)
    if med is None:  # --benchmark-disable: the case ran once, untimed
        return
    benchmark.extra_info.update(suite="data", dataset="StillMotionDataset", frames=17,
                                size=f"{size}x{size}", shape=[3, 17, size, size],
                                dtype="float32", device=str(DEVICE), host="cpu", quick=QUICK,
                                ms_per_clip=round(med * 1e3, 2), items_per_s=1 / med,
                                threads=1, photos=photos)
