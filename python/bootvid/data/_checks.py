"""Argument checks shared by the datasets and transforms; messages name their caller."""

from __future__ import annotations

import operator


def positive_int(owner: str, name: str, value) -> int:
    """``value`` as an int >= 1 (bools refused), else ValueError
    ``"{owner}: {name} must be a positive integer, got {value!r}"``."""
    try:
        v = operator.index(value)
    except TypeError:
        v = None
    if v is None or isinstance(value, bool) or v < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return v


def integer(owner: str, name: str, value) -> int:
    """``operator.index(value)``, else ValueError
    ``"{owner}: {name} must be an integer, got {value!r}"``."""
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{owner}: {name} must be an integer, got {value!r}") from None
