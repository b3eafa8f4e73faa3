"""Fixtures of the tokenizer tests (helpers live in tok_helpers.py)."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

if importlib.util.find_spec("bootvid") is None:  # running from a source checkout
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

from tok_helpers import make_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def tok():
    """The seeded tiny-preset tokenizer (eval mode) most tests share."""
    return make_tokenizer()
