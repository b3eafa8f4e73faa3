"""The trained tokenizers shipped with bootvid (``checkpoints/`` in the repository, installed as
``bootvid/checkpoints``): a 4x model and its ProMAG growth to 8x and 16x, fast preset.

``load_pretrained("fast-16x")`` returns one; the command line takes the names wherever it takes
a model directory, and uses :data:`DEFAULT_MODEL` when ``--model`` is omitted. The 8x and 16x
directories store only their growth stage and load the lower model from the directory next to
them. See ``checkpoints/README.md`` (the model card) for training data, budget and figures.
"""

from __future__ import annotations

import os

#: Shipped models, lowest compression first.
SHIPPED = ("fast-4x", "fast-8x", "fast-16x")
#: What ``bootvid reconstruct`` / ``encode`` / ``eval`` use when ``--model`` is omitted.
DEFAULT_MODEL = "fast-4x"
#: The names for help texts and messages.
SHIPPED_LIST = ", ".join(SHIPPED)


def checkpoints_root() -> str | None:
    """The folder holding the shipped models: the installed package's ``checkpoints/``, else
    the repository's (running from a checkout); None when neither exists."""
    here = os.path.dirname(os.path.realpath(__file__))
    for root in (os.path.join(here, "checkpoints"),
                 os.path.join(os.path.dirname(os.path.dirname(here)), "checkpoints")):
        if os.path.isfile(os.path.join(root, DEFAULT_MODEL, "config.json")):
            return root
    return None


def pretrained_dir(name: str) -> str:
    """The directory of the shipped model ``name`` (one of :data:`SHIPPED`)."""
    if name not in SHIPPED:
        raise ValueError(f"no shipped model named {name!r}; shipped models: {', '.join(SHIPPED)}")
    root = checkpoints_root()
    if root is None or not os.path.isdir(os.path.join(root, name)):
        raise FileNotFoundError(
            f"the shipped model {name!r} is not installed (looked for bootvid/checkpoints/{name} "
            f"next to the package and checkpoints/{name} in the repository); reinstall bootvid "
            "from a full clone (`pip install .`) or give --model DIR")
    return os.path.join(root, name)


def load_pretrained(name: str = DEFAULT_MODEL, device=None, dtype=None):
    """The shipped tokenizer ``name`` (weights are stored in bfloat16; ``dtype`` defaults to
    float32, in which the model card's figures were measured)."""
    import torch

    from .tokenizer import VideoTokenizer

    return VideoTokenizer.from_pretrained(pretrained_dir(name), device=device,
                                          dtype=dtype or torch.float32)


__all__ = ["SHIPPED", "DEFAULT_MODEL", "SHIPPED_LIST", "checkpoints_root", "pretrained_dir",
           "load_pretrained"]
