"""Fixtures of the growth tests (helpers live in grow_helpers.py)."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

if importlib.util.find_spec("bootvid") is None:  # running from a source checkout
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

from grow_helpers import make_base, make_grown  # noqa: E402


@pytest.fixture(scope="module")
def tok4():
    return make_base()


@pytest.fixture(scope="module")
def tok8(tok4):
    return make_grown(tok4, seed=1)


@pytest.fixture(scope="module")
def tok16(tok8):
    return make_grown(tok8, seed=2)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These tensors are tiny: one intra-op thread is as fast when the machine is idle, and on a
    busy one it avoids OpenMP's barrier waits (seen making a 0.05 s step take 4 s)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
