"""Fixtures shared by bootvid's tests (the helpers themselves are in helpers.py).

- ``layout``: each memory layout a video can come in (contiguous, channels_last_3d, strided).
- ``make_video``: ``make_video(B, C, T, H, W, layout=..., dtype=..., device=..., seed=...)``.
- CUDA: tests parametrized with ``helpers.DEVICES`` / ``helpers.DEVICE_DTYPES`` carry the
  ``cuda`` mark and skip unless a GPU and bootvid's CUDA kernels are there; fp32 convolutions
  on CUDA run without TF32 so they can be compared at fp32 tolerances.
- hypothesis: the ``bootvid`` profile (few examples, no deadline, derandomized so CI is
  reproducible); ``HYPOTHESIS_PROFILE=explore`` draws more, random examples.
- torch.compile caches in a fresh directory per session: inductor's on-disk caches do not key
  on a custom op's Python autograd formula, so a cache from an older checkout can replay a
  backward graph that calls the op with its old signature.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
import torch

_INDUCTOR_CACHE = tempfile.mkdtemp(prefix="bootvid-tests-inductor-")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = _INDUCTOR_CACHE


def pytest_unconfigure(config):
    shutil.rmtree(_INDUCTOR_CACHE, ignore_errors=True)

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "bootvid", max_examples=25, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    settings.register_profile(
        "explore", max_examples=200, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "bootvid"))
except ImportError:  # the property tests skip themselves
    pass


@pytest.fixture(params=["contiguous", "channels_last", "strided"])
def layout(request):
    return request.param


@pytest.fixture
def make_video():
    from helpers import video

    return video


@pytest.fixture(autouse=True)
def _no_tf32():
    """fp32 on CUDA means fp32 here: TF32 convolutions / matmuls would need bf16-like
    tolerances."""
    if not torch.cuda.is_available():
        yield
        return
    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old
