"""Run directories: what ``bootvid train`` / ``bootvid grow`` write, and finding the model in
one.

A run directory holds ``train_config.yaml`` (the resolved config), ``checkpoints/``,
``log.jsonl``, ``previews/`` and, when training ends, ``model/`` (the trained weights) and
``model_ema/`` (their exponential moving average), both loadable with
``VideoTokenizer.from_pretrained``. Shipped models are named instead (:mod:`bootvid.pretrained`).
"""

from __future__ import annotations

import os

from ..tokenizer.config import CONFIG_NAME

CONFIG_FILE = "train_config.yaml"
MODEL_DIR = "model"
EMA_DIR = "model_ema"


def resolve_model_dir(path: str | os.PathLike | None) -> tuple[str, str]:
    """``(directory, description)`` of the model ``path`` names: a ``save_pretrained``
    directory as is, a run directory's EMA model (else its final model), or a shipped model's
    name (``fast-4x``, ``fast-8x``, ``fast-16x``; None: the default shipped model)."""
    from .. import pretrained

    if path is None or (os.fspath(path) in pretrained.SHIPPED and not os.path.exists(path)):
        name = pretrained.DEFAULT_MODEL if path is None else os.fspath(path)
        directory = pretrained.pretrained_dir(name)
        default = " (the default: no --model given)" if path is None else ""
        return directory, f"shipped model {name}{default} ({directory})"
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model not found: {path} (give a save_pretrained directory, a "
                                "bootvid training run directory or a shipped model: "
                                f"{', '.join(pretrained.SHIPPED)})")
    if os.path.isfile(os.path.join(path, CONFIG_NAME)):
        return path, f"model {path}"
    for sub, what in ((EMA_DIR, "EMA weights"), (MODEL_DIR, "final weights")):
        d = os.path.join(path, sub)
        if os.path.isfile(os.path.join(d, CONFIG_NAME)):
            return d, f"{what} of the run {path} ({d})"
    if os.path.isdir(os.path.join(path, "checkpoints")):
        raise FileNotFoundError(f"{path} is a training run that has not finished: it has no "
                                f"{MODEL_DIR}/ yet; resume it with --resume (training writes "
                                f"{MODEL_DIR}/ and {EMA_DIR}/ when it stops)")
    raise FileNotFoundError(f"{path} holds no model: expected {CONFIG_NAME} (a save_pretrained "
                            f"directory) or a run directory with {EMA_DIR}/ or {MODEL_DIR}/")


def load_tokenizer(path: str | os.PathLike | None, device=None, dtype=None):
    """The tokenizer at ``path`` (see :func:`resolve_model_dir`) and where it came from, in
    ``dtype`` (default float32, whatever dtype the weights were stored in)."""
    import torch

    from ..tokenizer import VideoTokenizer

    directory, what = resolve_model_dir(path)
    return (VideoTokenizer.from_pretrained(directory, device=device,
                                           dtype=dtype or torch.float32), what)


def tokenizer_architecture(path: str | os.PathLike | None):
    """The tokenizer ``path`` names (see :func:`resolve_model_dir`) built from its config
    alone, weights left random: for shapes and compression factors, without reading (and, for
    a stage-only grown model, fingerprinting) any weights file."""
    from ..growth import from_config
    from ..tokenizer.persistence import read_config

    return from_config(read_config(resolve_model_dir(path)[0]))
